"""AWS Batch records: jobs (arrays with their children), the fair-share usage of attempts that
ended, and the output of job containers, kept after the containers are removed; finished jobs
are pruned with their logs and events once their retention period has passed, and usage once
its queue's decay window has."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from controller.store.connection import Connection
from controller.store.events import insert_event
from controller.store.records import EventRecord

_FINAL = ("SUCCEEDED", "FAILED")
_UNFINISHED = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")  # by the status index


class Jobs(Connection):
    """Batch jobs, share usage and job logs."""

    def put_jobs(
        self,
        jobs: list[dict[str, Any]],
        events: Sequence[EventRecord] = (),
        usage: Sequence[tuple[str, str, float, float]] = (),
    ) -> list[int]:
        """Jobs as their records (Job.to_record()), with the events that tell their changes
        and the fair-share usage (queue, share, at, vCPU-seconds) of attempts that ended:
        written together, or not at all, so a submit never leaves half an array behind and no
        change is kept without its event, or counted twice. Returns the events' ids."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE "
                "SET queue = excluded.queue, status = excluded.status, data = excluded.data, "
                "ended_at = excluded.ended_at",
                [
                    (
                        j["job_id"],
                        j["job_queue"],
                        j["status"],
                        j.get("parent_id"),
                        j["created_at"],
                        json.dumps(j, sort_keys=True),
                        _ended_at(j),
                    )
                    for j in jobs
                ],
            )
            db.executemany("INSERT INTO share_usage VALUES (?, ?, ?, ?)", usage)
            return [insert_event(db, e) for e in events]

    def share_usage(self, since: float) -> list[tuple[str, str, float, float]]:
        """(queue, share, at, vCPU-seconds) of the attempts that ended after `since`."""
        return [
            (q, sh, at, v)
            for q, sh, at, v in self._rows(
                "SELECT queue, share, at, vcpu_seconds FROM share_usage WHERE at >= ?", since
            )
        ]

    def prune_share_usage(self, kept_since: Mapping[str, float], limit: int) -> int:
        """Deletes at most `limit` rows of usage no queue counts any more: of a queue in
        `kept_since`, those from before its time; of any other queue, all. Returns how many
        went. One short transaction."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM share_usage WHERE rowid IN (SELECT u.rowid FROM share_usage AS u "
                "LEFT JOIN json_each(?) AS k ON k.key = u.queue "
                "WHERE k.value IS NULL OR u.at < k.value LIMIT ?)",
                (json.dumps(dict(kept_since)), limit),
            )
            return cur.rowcount

    def jobs(
        self,
        *,
        queue: str | None = None,
        statuses: tuple[str, ...] = (),
        parent_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Job records, oldest first, by queue, statuses and parent when given."""
        where, args = [], []
        if queue is not None:
            where.append("queue = ?")
            args.append(queue)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(f"SELECT data FROM jobs{clause} ORDER BY created_at, job_id", *args)
        return [json.loads(r[0]) for r in rows]

    def job_texts(self, statuses: tuple[str, ...]) -> list[tuple[str, str]]:
        """(job id, record as stored JSON) of the jobs with these statuses, oldest first: for a
        reader that keeps what it parsed and parses again only the records whose text changed."""
        rows = self._rows(
            f"SELECT job_id, data FROM jobs WHERE status IN ({', '.join('?' * len(statuses))}) "
            "ORDER BY created_at, job_id",
            *statuses,
        )
        return [(str(i), str(d)) for i, d in rows]

    def job_counts(self) -> dict[tuple[str, str], int]:
        """How many jobs each (queue, status) holds; an array counts as its children. Kept
        by the store's triggers as jobs are written: no scan of the finished ones."""
        rows = self._rows("SELECT queue, status, n FROM job_totals WHERE n > 0")
        return {(q, st): n for q, st, n in rows}

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT data FROM jobs WHERE job_id = ?", job_id)
        return json.loads(rows[0][0]) if rows else None

    def put_job_log(
        self, job_id: str, attempt: int, node: int, text: str, *, replace: bool = True
    ) -> None:
        """A container's output, kept after the container is removed; replace=False keeps
        what is already there (a note that the output could not be read never hides it)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._tx() as db:
            db.execute(f"{verb} INTO job_logs VALUES (?, ?, ?, ?)", (job_id, attempt, node, text))

    def job_logs(self, job_id: str) -> list[tuple[int, int, str]]:
        """(attempt, node, text) of a job, in order."""
        rows = self._rows(
            "SELECT attempt, node, text FROM job_logs WHERE job_id = ? ORDER BY attempt, node",
            job_id,
        )
        return [(int(a), int(n), str(t)) for a, n, t in rows]

    def prune_jobs(self, ended_before: float, limit: int) -> int:
        """Deletes finished jobs that ended before `ended_before`, an array with all its
        children, with their logs and their events: about `limit` jobs (an array that
        crosses it goes whole); returns how many went. A finished job an unfinished one
        depends on (itself or, N_TO_N, one of its children) is kept until that job has moved
        on: nothing is left naming a job that is gone. One short transaction."""
        with self._tx() as db:
            waited = {
                str(dep).partition(":")[0]
                for (dep,) in db.execute(
                    "SELECT DISTINCT json_extract(d.value, '$.job_id') FROM jobs AS j, "
                    "json_each(j.data, '$.depends_on') AS d "
                    f"WHERE j.status IN ({', '.join('?' * len(_UNFINISHED))}) "
                    "AND json_extract(d.value, '$.job_id') IS NOT NULL",
                    _UNFINISHED,
                )
            }
            rows = db.execute(
                # The oldest first, through the index on ended_at (the unary + keeps SQLite
                # from walking the index of parents instead, which grows with the history).
                "SELECT job_id FROM jobs WHERE ended_at < ? AND +parent_id IS NULL "
                "AND +status IN (?, ?) ORDER BY ended_at LIMIT ?",
                (ended_before, *_FINAL, limit + len(waited)),
            ).fetchall()
            gone: list[str] = []
            for head in (r[0] for r in rows if r[0] not in waited):
                if len(gone) >= limit:  # a batch: `limit` rows, or one array whole
                    break
                children = db.execute("SELECT job_id FROM jobs WHERE parent_id = ?", (head,))
                gone += [head, *(r[0] for r in children)]
            each = [(i,) for i in gone]
            db.executemany("DELETE FROM job_logs WHERE job_id = ?", each)
            db.executemany("DELETE FROM events WHERE kind = 'Job' AND name = ?", each)
            db.executemany("DELETE FROM jobs WHERE job_id = ?", each)
            return len(gone)


def _ended_at(job: dict[str, Any]) -> float | None:
    """When a finished job ended (its stoppedAt; its creation if it has none), else None."""
    if job["status"] not in _FINAL:
        return None
    stopped = job.get("stopped_at")
    return float(stopped) if stopped is not None else float(job["created_at"])
