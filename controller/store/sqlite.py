"""The embedded SQLite store: one file in the data directory, safe to share between threads.

It keeps task-definition revisions (immutable, with history), the last valid version of every
manifest resource (so a broken file after a restart still keeps what it described), the
decisions made about tasks (stop requested, why), the history of actions and hourly metric
averages (the load history predictive scaling forecasts from).

A write is one transaction, kept whole or not at all. When SQLite cannot carry one out for a
reason that may pass (the disk or its quota is full, an I/O error, a lock held by another
process, a read-only file), the transaction is rolled back and `StoreFailure` says why; the
caller retries later. The store tells its owner of the first failure and of the first write
that succeeds again (`watch`), and never logs or counts by itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from controller.store.records import (
    Activity,
    Deployment,
    EventRecord,
    InstanceRecord,
    Revision,
    TaskRecord,
    TemplateVersion,
)

EVENTS_KEPT = 20_000
SHARE_USAGE_KEPT = 604_800  # seconds: the longest shareDecaySeconds
_EVENT_COLUMNS = "id, at, kind, name, action, reason, message, detail"
TASK_DEFINITIONS, JOB_DEFINITIONS = "revisions", "job_definitions"  # tables of revisions


def _revisions(table: str) -> str:
    if table not in (TASK_DEFINITIONS, JOB_DEFINITIONS):
        raise ValueError(f"no revisions table {table!r}")
    return table


# SQLite's primary result codes for failures that may pass: what each is reported as.
_TRANSIENT = {13: "full", 10: "io", 14: "io", 5: "locked", 6: "locked", 8: "readonly"}
_TRANSIENT_WORDS = {  # errors raised without a code (older SQLite, or a wrapped connection)
    "database or disk is full": "full",
    "disk i/o error": "io",
    "database is locked": "locked",
    "attempt to write a readonly database": "readonly",
}


class StoreFailure(sqlite3.OperationalError):
    """The store could not carry out a call; a write's transaction was rolled back whole.

    `reason` is full, io, locked or readonly. Transient: the same call may succeed later.
    (An OperationalError still, so callers that catch SQLite's errors keep catching it.)"""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _transient_reason(exc: sqlite3.Error) -> str | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _TRANSIENT.get(code & 0xFF)
    text = str(exc).lower()
    return next((r for words, r in _TRANSIENT_WORDS.items() if words in text), None)


HOUR = 3600
METRIC_HOURS_KEPT = 15 * 24  # predictive scaling forecasts from up to 14 days of load history

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    family TEXT NOT NULL, number INTEGER NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL,
    status TEXT NOT NULL, registered_at REAL NOT NULL, deregistered_at REAL,
    PRIMARY KEY (family, number));
CREATE TABLE IF NOT EXISTS job_definitions (
    family TEXT NOT NULL, number INTEGER NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL,
    status TEXT NOT NULL, registered_at REAL NOT NULL, deregistered_at REAL,
    PRIMARY KEY (family, number));
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, document INTEGER NOT NULL,
    spec TEXT NOT NULL, labels TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, owner_kind TEXT NOT NULL, owner TEXT NOT NULL, revision TEXT NOT NULL,
    host TEXT NOT NULL, desired_status TEXT NOT NULL, created_at REAL NOT NULL,
    stopped_reason TEXT, stop_requested_at REAL);
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner_kind, owner);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY, service TEXT NOT NULL, revision TEXT NOT NULL, requested TEXT NOT NULL,
    status TEXT NOT NULL, rollout_state TEXT NOT NULL, reason TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, failed_tasks TEXT NOT NULL,
    quick_failures INTEGER NOT NULL, last_failure_at REAL, running INTEGER NOT NULL,
    pending INTEGER NOT NULL, config TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS deployments_service ON deployments (service, created_at);
CREATE TABLE IF NOT EXISTS template_versions (
    name TEXT NOT NULL, number INTEGER NOT NULL, data TEXT NOT NULL, data_hash TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (name, number));
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY, owner_kind TEXT NOT NULL, owner TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_owner ON instances (owner_kind, owner);
CREATE TABLE IF NOT EXISTS activities (
    activity_id TEXT PRIMARY KEY, owner TEXT NOT NULL, description TEXT NOT NULL,
    cause TEXT NOT NULL, status TEXT NOT NULL, start REAL NOT NULL, end_time REAL);
CREATE INDEX IF NOT EXISTS activities_owner ON activities (owner, start);
CREATE TABLE IF NOT EXISTS overrides (
    kind TEXT NOT NULL, name TEXT NOT NULL, base TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, queue TEXT NOT NULL, status TEXT NOT NULL, parent_id TEXT,
    created_at REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (queue, status, created_at);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent_id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS share_usage (
    queue TEXT NOT NULL, share TEXT NOT NULL, at REAL NOT NULL, vcpu_seconds REAL NOT NULL);
CREATE INDEX IF NOT EXISTS share_usage_at ON share_usage (at);
CREATE TABLE IF NOT EXISTS job_logs (
    job_id TEXT NOT NULL, attempt INTEGER NOT NULL, node INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, node));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    action TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_resource ON events (kind, name, id);
CREATE TABLE IF NOT EXISTS metric_hours (
    series TEXT NOT NULL, hour INTEGER NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (series, hour));
"""


class Store:
    def __init__(self, path: str, *, readonly: bool = False) -> None:
        """path ':memory:' gives a private in-memory store (tests, `skiff plan` without data)."""
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        uri = _readonly_uri(path) if readonly else path
        self.path = path
        self._db = sqlite3.connect(uri, uri=readonly, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._failing = False  # the last write failed; the next one that succeeds says so
        self._on_failure: Callable[[StoreFailure], None] = lambda failure: None
        self._on_recovered: Callable[[], None] = lambda: None
        if not readonly:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Columns added since a data directory was created."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(deployments)")}
        if "config" not in have:
            self._db.execute("ALTER TABLE deployments ADD COLUMN config TEXT NOT NULL DEFAULT ''")
        have = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        if "detail" not in have:
            self._db.execute("ALTER TABLE events ADD COLUMN detail TEXT NOT NULL DEFAULT ''")

    @classmethod
    def in_data_dir(cls, data_dir: str, *, readonly: bool = False) -> Store:
        return cls(os.path.join(data_dir, "skiff.db"), readonly=readonly)

    @classmethod
    def snapshot_of(cls, data_dir: str) -> Store:
        """A private in-memory copy of the store in data_dir (empty if there is none)."""
        copy = cls(":memory:")
        path = os.path.join(data_dir, "skiff.db")
        if os.path.exists(path):
            source = sqlite3.connect(_readonly_uri(path), uri=True)
            try:
                source.backup(copy._db)
            finally:
                source.close()
            copy._db.executescript(_SCHEMA)  # a data directory from an older Skiff
            copy._migrate()
        return copy

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def watch(
        self, on_failure: Callable[[StoreFailure], None], on_recovered: Callable[[], None]
    ) -> None:
        """`on_failure` hears of every write that failed, `on_recovered` of the first one that
        succeeds after a failure. Both are called outside the store's lock."""
        self._on_failure, self._on_recovered = on_failure, on_recovered

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed whole, or rolled back whole and StoreFailure raised
        when SQLite failed for a reason that may pass (any other error is raised as it is)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
        except StoreFailure:
            raise
        except sqlite3.Error as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            self._failing = True
            self._on_failure(failure)
            raise failure from exc
        if self._failing:
            self._failing = False
            self._on_recovered()

    def _rollback(self) -> None:
        """Undoes what the transaction did. SQLite rolls back by itself after some errors
        (SQLITE_FULL, SQLITE_IOERR, ...); a ROLLBACK then would only hide the first error."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the first error is the one to report

    def _failure(self, exc: sqlite3.Error) -> StoreFailure | None:
        reason = _transient_reason(exc)
        if reason is None:
            return None
        return StoreFailure(f"cannot write the store {self.path}: {exc}", reason)

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            reason = _transient_reason(exc)
            if reason is None:
                raise
            raise StoreFailure(f"cannot read the store {self.path}: {exc}", reason) from exc

    # --- task-definition (and job-definition) revisions ---------------------------------------
    def revisions(
        self, family: str | None = None, *, table: str = TASK_DEFINITIONS
    ) -> list[Revision]:
        """Revisions of task definitions, or (table=JOB_DEFINITIONS) of Batch job definitions."""
        sql = (
            "SELECT family, number, spec, spec_hash, status, registered_at, deregistered_at "
            f"FROM {_revisions(table)}"
        )
        rows = (
            self._rows(sql + " WHERE family = ? ORDER BY number", family)
            if family
            else self._rows(sql + " ORDER BY family, number")
        )
        return [Revision(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def revision(
        self, family: str, number: int, *, table: str = TASK_DEFINITIONS
    ) -> Revision | None:
        found = [r for r in self.revisions(family, table=table) if r.number == number]
        return found[0] if found else None

    def register_revision(
        self,
        family: str,
        spec: dict[str, Any],
        spec_hash: str,
        now: float,
        *,
        table: str = TASK_DEFINITIONS,
    ) -> Revision:
        """Adds family:N+1; older revisions stay ACTIVE, as in ECS, until deregistered."""
        name = _revisions(table)
        with self._tx() as db:
            (last,) = db.execute(
                f"SELECT COALESCE(MAX(number), 0) FROM {name} WHERE family = ?", (family,)
            ).fetchone()
            number = int(last) + 1
            db.execute(
                f"INSERT INTO {name} VALUES (?, ?, ?, ?, 'ACTIVE', ?, NULL)",
                (family, number, json.dumps(spec, sort_keys=True), spec_hash, now),
            )
        return Revision(family, number, spec, spec_hash, "ACTIVE", now)

    def deregister_family(self, family: str, now: float, *, table: str = TASK_DEFINITIONS) -> int:
        """Marks every ACTIVE revision of the family INACTIVE; returns how many changed."""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE {_revisions(table)} SET status = 'INACTIVE', deregistered_at = ? "
                "WHERE family = ? AND status = 'ACTIVE'",
                (now, family),
            )
            return cur.rowcount

    # --- last valid manifests ----------------------------------------------------------------
    def save_resource(
        self,
        kind: str,
        name: str,
        source: str,
        document: int,
        spec: dict[str, Any],
        labels: dict[str, str],
        now: float,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    name,
                    source,
                    document,
                    json.dumps(spec, sort_keys=True),
                    json.dumps(labels, sort_keys=True),
                    now,
                ),
            )

    def delete_resource(self, kind: str, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM resources WHERE kind = ? AND name = ?", (kind, name))

    def resources(self) -> list[tuple[str, str, str, int, dict[str, Any], dict[str, str]]]:
        rows = self._rows("SELECT kind, name, source, document, spec, labels FROM resources")
        return [(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5])) for r in rows]

    # --- task records --------------------------------------------------------------------------
    def put_tasks(self, records: list[TaskRecord]) -> None:
        with self._tx() as db:
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
        rows = self._rows(
            "SELECT task_id, owner_kind, owner, revision, host, desired_status, created_at, "
            "stopped_reason, stop_requested_at FROM tasks WHERE owner_kind = ? AND owner = ?",
            owner_kind,
            owner,
        )
        return {r[0]: TaskRecord(*r) for r in rows}

    def all_tasks(self) -> dict[str, TaskRecord]:
        rows = self._rows(
            "SELECT task_id, owner_kind, owner, revision, host, desired_status, created_at, "
            "stopped_reason, stop_requested_at FROM tasks"
        )
        return {r[0]: TaskRecord(*r) for r in rows}

    def delete_tasks(self, task_ids: list[str]) -> None:
        with self._tx() as db:
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

    # --- launch template versions -----------------------------------------------------------
    def template_versions(self, name: str) -> list[TemplateVersion]:
        rows = self._rows(
            "SELECT name, number, data, data_hash, created_at FROM template_versions "
            "WHERE name = ? ORDER BY number",
            name,
        )
        return [TemplateVersion(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def add_template_version(
        self, name: str, data: dict[str, Any], data_hash: str, now: float
    ) -> TemplateVersion:
        with self._tx() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(number), 0) FROM template_versions WHERE name = ?", (name,)
            ).fetchone()
            number = int(last) + 1
            db.execute(
                "INSERT INTO template_versions VALUES (?, ?, ?, ?, ?)",
                (name, number, json.dumps(data, sort_keys=True), data_hash, now),
            )
        return TemplateVersion(name, number, data, data_hash, now)

    # --- instances ------------------------------------------------------------------------------
    def put_instances(self, records: list[InstanceRecord]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?)",
                [
                    (r.instance_id, r.owner_kind, r.owner, json.dumps(dataclasses.asdict(r)))
                    for r in records
                ],
            )

    def instances(self, owner_kind: str, owner: str) -> dict[str, InstanceRecord]:
        rows = self._rows(
            "SELECT record FROM instances WHERE owner_kind = ? AND owner = ?", owner_kind, owner
        )
        return {r.instance_id: r for r in (InstanceRecord(**json.loads(row[0])) for row in rows)}

    def instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._rows("SELECT record FROM instances WHERE instance_id = ?", instance_id)
        return InstanceRecord(**json.loads(rows[0][0])) if rows else None

    def delete_instances(self, ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM instances WHERE instance_id = ?", [(i,) for i in ids])

    # --- scaling activities -----------------------------------------------------------------
    def put_activity(self, activity: Activity) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO activities VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    activity.activity_id,
                    activity.owner,
                    activity.description,
                    activity.cause,
                    activity.status,
                    activity.start,
                    activity.end,
                ),
            )

    def activities(self, owner: str, limit: int = 50) -> list[Activity]:
        rows = self._rows(
            "SELECT activity_id, owner, description, cause, status, start, end_time "
            "FROM activities WHERE owner = ? ORDER BY start DESC LIMIT ?",
            owner,
            limit,
        )
        return [Activity(*r) for r in rows]

    def end_activity(self, activity_id: str, status: str, end: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE activities SET status = ?, end_time = ? WHERE activity_id = ?",
                (status, end, activity_id),
            )

    def delete_activities(self, owner: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM activities WHERE owner = ?", (owner,))

    # --- API overrides ----------------------------------------------------------------------
    def override(self, kind: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """A change made through the API, and the manifest fingerprint it was made over."""
        rows = self._rows(
            "SELECT base, data FROM overrides WHERE kind = ? AND name = ?", kind, name
        )
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def put_override(self, kind: str, name: str, base: str, data: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?)",
                (kind, name, base, json.dumps(data, sort_keys=True)),
            )

    def delete_override(self, kind: str, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM overrides WHERE kind = ? AND name = ?", (kind, name))

    # --- Batch jobs ---------------------------------------------------------------------------
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
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        j["job_id"],
                        j["job_queue"],
                        j["status"],
                        j.get("parent_id"),
                        j["created_at"],
                        json.dumps(j, sort_keys=True),
                    )
                    for j in jobs
                ],
            )
            if usage:
                db.executemany("INSERT INTO share_usage VALUES (?, ?, ?, ?)", usage)
                oldest = max(at for _, _, at, _ in usage) - SHARE_USAGE_KEPT
                db.execute("DELETE FROM share_usage WHERE at < ?", (oldest,))
            return [_insert_event(db, e) for e in events]

    def share_usage(self, since: float) -> list[tuple[str, str, float, float]]:
        """(queue, share, at, vCPU-seconds) of the attempts that ended after `since`."""
        return [
            (q, sh, at, v)
            for q, sh, at, v in self._rows(
                "SELECT queue, share, at, vcpu_seconds FROM share_usage WHERE at >= ?", since
            )
        ]

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

    def job_counts(self) -> dict[tuple[str, str], int]:
        """How many jobs each (queue, status) holds; an array counts as its children."""
        rows = self._rows(
            "SELECT queue, status, COUNT(*) FROM jobs WHERE job_id NOT IN "
            "(SELECT parent_id FROM jobs WHERE parent_id IS NOT NULL) GROUP BY queue, status"
        )
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

    def instance_owners(self) -> set[tuple[str, str]]:
        return {
            (r[0], r[1]) for r in self._rows("SELECT DISTINCT owner_kind, owner FROM instances")
        }

    # --- history -------------------------------------------------------------------------------
    def add_event(self, event: EventRecord) -> int:
        """Appends an event; returns its id, which only grows (the event stream's cursor)."""
        with self._tx() as db:
            return _insert_event(db, event)

    def events(
        self, kind: str | None = None, name: str | None = None, limit: int = 20
    ) -> list[EventRecord]:
        """The last `limit` events, oldest first, of one resource (kind and name) or of all."""
        where, args = ("WHERE kind = ? AND name = ? ", [kind, name]) if kind and name else ("", [])
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events {where}ORDER BY id DESC LIMIT ?", *args, limit
        )
        return [EventRecord(*r[1:]) for r in reversed(rows)]

    def events_after(
        self, after: int, kind: str | None = None, name: str | None = None, limit: int = 500
    ) -> list[tuple[int, EventRecord]]:
        """Events with an id above `after`, oldest first, with their ids; kind and name filter."""
        where, args = "id > ?", list[Any]([after])
        for column, value in (("kind", kind), ("name", name)):
            if value:
                where, args = f"{where} AND {column} = ?", [*args, value]
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} ORDER BY id LIMIT ?", *args, limit
        )
        return [(r[0], EventRecord(*r[1:])) for r in rows]

    def last_event_id(self) -> int:
        rows = self._rows("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(rows[0][0])

    # --- hourly metric history ----------------------------------------------------------------
    def add_metric_sample(self, series: str, t: float, value: float) -> None:
        """Folds `value` into the average of the hour holding `t` (epoch seconds) and drops the
        series' hours more than METRIC_HOURS_KEPT before it."""
        if not math.isfinite(value):
            raise ValueError(f"metric sample for {series} is not a finite number: {value}")
        hour = _hour(t)
        with self._tx() as db:
            db.execute(
                "INSERT INTO metric_hours VALUES (?, ?, ?, 1) ON CONFLICT (series, hour) "
                "DO UPDATE SET sum = sum + excluded.sum, count = count + 1",
                (series, hour, value),
            )
            db.execute(
                "DELETE FROM metric_hours WHERE series = ? AND hour <= ?",
                (series, hour - METRIC_HOURS_KEPT * HOUR),
            )

    def metric_hours(self, series: str, since: float) -> list[tuple[int, float]]:
        """(hour start, average) of the series' hours from the one holding `since`, oldest first."""
        rows = self._rows(
            "SELECT hour, sum / count FROM metric_hours WHERE series = ? AND hour >= ? "
            "ORDER BY hour",
            series,
            _hour(since),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def prune_metric_hours(self, before: float) -> int:
        """Drops every series' hours that ended by `before`; returns how many went."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM metric_hours WHERE hour + ? <= ?", (HOUR, before))
            return cur.rowcount


def _hour(t: float) -> int:
    """The start (epoch seconds) of the hour holding `t`."""
    return int(t // HOUR) * HOUR


def _readonly_uri(path: str) -> str:
    """A read-only SQLite URI; the path is quoted so '#', '?' or '%' in it stay part of it."""
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"


def _insert_event(db: sqlite3.Connection, event: EventRecord) -> int:
    cur = db.execute(
        "INSERT INTO events (at, kind, name, action, reason, message, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event.at, event.kind, event.name, event.action, event.reason, event.message, event.detail),
    )
    event_id = cur.lastrowid or 0
    if event_id % 1000 == 0:
        db.execute("DELETE FROM events WHERE id <= ?", (event_id - EVENTS_KEPT,))
    return event_id
