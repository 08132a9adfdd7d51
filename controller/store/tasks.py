"""Amazon ECS records: the decisions made about tasks (stop requested, why) and the
deployments of each service (their rollout state, the circuit breaker's counts); those of a
deleted service are removed once it has drained."""

from __future__ import annotations

import json
from collections.abc import Collection

from controller.store.connection import Connection
from controller.store.records import Deployment, TaskRecord


class Tasks(Connection):
    """ECS task records and service deployments.

    A service's task records are read at every look at the service (each resync, each event),
    a thousand rows for a thousand tasks, while they change only when a task is launched,
    stopped or pruned. So the records last read of each owner are kept, and any write to the
    tasks table forgets them: reads and writes both hold the connection's lock, so a kept set is
    never older than the table. That holds for the store whose writes these are: the daemon's,
    the only one that writes the file (`plan` and `down` read private snapshots). A read-only
    store could not see them, so it keeps nothing. The records are frozen: a caller gets its
    own dict of the shared records."""

    def __init__(self, path: str, *, readonly: bool = False) -> None:
        self._owners: dict[tuple[str, str], dict[str, TaskRecord]] = {}
        self._keep_owners = not readonly  # another process writes what a read-only store reads
        super().__init__(path, readonly=readonly)

    # --- task records --------------------------------------------------------------------------
    def _forget_owners(self) -> None:
        """Every kept set of records goes (called under the lock, by each write)."""
        self._owners = {}

    def put_tasks(self, records: list[TaskRecord]) -> None:
        with self._tx() as db:
            self._forget_owners()
            db.executemany(
                "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.task_id,
                        t.owner_kind,
                        t.owner,
                        t.revision,
                        t.host,
                        t.desired_status,
                        t.created_at,
                        t.stopped_reason,
                        t.stop_requested_at,
                    )
                    for t in records
                ],
            )

    def tasks(self, owner_kind: str, owner: str) -> dict[str, TaskRecord]:
        with self._lock:
            kept = self._owners.get((owner_kind, owner))
            if kept is None:
                rows = self._rows(
                    "SELECT task_id, owner_kind, owner, revision, host, desired_status, "
                    "created_at, stopped_reason, stop_requested_at FROM tasks "
                    "WHERE owner_kind = ? AND owner = ?",
                    owner_kind,
                    owner,
                )
                kept = {r[0]: TaskRecord(*r) for r in rows}
                if self._keep_owners:
                    self._owners[(owner_kind, owner)] = kept
            return dict(kept)

    def all_tasks(self) -> dict[str, TaskRecord]:
        rows = self._rows(
            "SELECT task_id, owner_kind, owner, revision, host, desired_status, created_at, "
            "stopped_reason, stop_requested_at FROM tasks"
        )
        return {r[0]: TaskRecord(*r) for r in rows}

    def task_records(self, task_ids: Collection[str]) -> dict[str, TaskRecord]:
        """The records of these tasks (those that have one), a few hundred ids per query."""
        ids, found = list(task_ids), {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._rows(
                "SELECT task_id, owner_kind, owner, revision, host, desired_status, created_at, "
                "stopped_reason, stop_requested_at FROM tasks "
                f"WHERE task_id IN ({', '.join('?' * len(chunk))})",
                *chunk,
            )
            found.update({r[0]: TaskRecord(*r) for r in rows})
        return found

    def delete_tasks(self, task_ids: list[str]) -> None:
        with self._tx() as db:
            self._forget_owners()
            db.executemany("DELETE FROM tasks WHERE task_id = ?", [(t,) for t in task_ids])

    # --- deployments ----------------------------------------------------------------------------
    def deployments(self, service: str) -> list[Deployment]:
        rows = self._rows(
            "SELECT id, revision, requested, status, rollout_state, reason, created_at, "
            "updated_at, failed_tasks, quick_failures, last_failure_at, running, pending, config "
            "FROM deployments "
            "WHERE service = ? ORDER BY created_at",
            service,
        )
        return [
            Deployment(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                tuple(json.loads(r[8])),
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
            )
            for r in rows
        ]

    def put_deployments(self, service: str, deployments: list[Deployment]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO deployments "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        d.id,
                        service,
                        d.revision,
                        d.requested,
                        d.status,
                        d.rollout_state,
                        d.reason,
                        d.created_at,
                        d.updated_at,
                        json.dumps(list(d.failed_tasks)),
                        d.quick_failures,
                        d.last_failure_at,
                        d.running,
                        d.pending,
                        d.config,
                    )
                    for d in deployments
                ],
            )

    def delete_deployments(self, service: str, ids: list[str] | None = None) -> None:
        """All of a service's deployments, or those of `ids`."""
        with self._tx() as db:
            if ids is None:
                db.execute("DELETE FROM deployments WHERE service = ?", (service,))
            else:
                db.executemany(
                    "DELETE FROM deployments WHERE service = ? AND id = ?",
                    [(service, i) for i in ids],
                )

    # --- deleted services -----------------------------------------------------------------------
    def service_record_owners(self) -> set[str]:
        """Services that have task records or deployments."""
        rows = self._rows(
            "SELECT owner FROM tasks WHERE owner_kind = 'Service' "
            "UNION SELECT service FROM deployments"
        )
        return {str(r[0]) for r in rows}

    def delete_service_records(self, service: str) -> int:
        """Removes the task records and deployments of a deleted service; returns how many
        rows went. Nothing goes while the store keeps a manifest of that name (the last valid
        version of a service whose file is invalid, or one created again meanwhile)."""
        absent = "NOT EXISTS (SELECT 1 FROM resources WHERE kind = 'Service' AND name = ?)"
        with self._tx() as db:
            self._forget_owners()
            tasks = db.execute(
                f"DELETE FROM tasks WHERE owner_kind = 'Service' AND owner = ? AND {absent}",
                (service, service),
            ).rowcount
            deployments = db.execute(
                f"DELETE FROM deployments WHERE service = ? AND {absent}", (service, service)
            ).rowcount
            return tasks + deployments
