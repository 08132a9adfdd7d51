"""The one SQLite connection every repository of the store shares: the file, its schema and
the migrations of older data directories, write transactions and what a failed one reports.

The store is one file in the data directory, safe to share between threads. A write is one
transaction, kept whole or not at all. When SQLite cannot carry one out for a reason that may
pass (the disk or its quota is full, an I/O error, a lock held by another process, a read-only
file), the transaction is rolled back and `StoreFailure` says why; the caller retries later. The
store tells its owner of the first failure and of the first write that succeeds again (`watch`),
and never logs or counts by itself. The repositories (one module per domain) are mixins over
this connection, and `Store` combines them; they hold no state of their own, but for the task
records `Tasks` keeps between writes (see there).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

WAL_KEPT = 4 * 1024 * 1024  # bytes of write-ahead log kept after a checkpoint

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
CREATE INDEX IF NOT EXISTS activities_end ON activities (end_time);
CREATE TABLE IF NOT EXISTS overrides (
    kind TEXT NOT NULL, name TEXT NOT NULL, base TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, queue TEXT NOT NULL, status TEXT NOT NULL, parent_id TEXT,
    created_at REAL NOT NULL, data TEXT NOT NULL, ended_at REAL);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (queue, status, created_at);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent_id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
-- How many jobs each (queue, status) holds, an array counted as its children (a job with
-- children is not counted): kept by these triggers, so a count costs no scan of the history
-- (7 days of finished jobs). A job's parent never changes; a write is an UPSERT (a REPLACE
-- would delete without firing the delete trigger).
CREATE TABLE IF NOT EXISTS job_totals (
    queue TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, status));
CREATE TRIGGER IF NOT EXISTS job_totals_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_totals SELECT NEW.queue, NEW.status, 1
        WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE parent_id = NEW.job_id)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
    INSERT INTO job_totals SELECT queue, status, -1 FROM jobs
        WHERE job_id = NEW.parent_id
        AND (SELECT COUNT(*) FROM jobs WHERE parent_id = NEW.parent_id) = 1
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER IF NOT EXISTS job_totals_update AFTER UPDATE OF queue, status ON jobs
    WHEN (OLD.queue IS NOT NEW.queue OR OLD.status IS NOT NEW.status)
    AND NOT EXISTS (SELECT 1 FROM jobs WHERE parent_id = NEW.job_id) BEGIN
    INSERT INTO job_totals VALUES (OLD.queue, OLD.status, -1)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
    INSERT INTO job_totals VALUES (NEW.queue, NEW.status, 1)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER IF NOT EXISTS job_totals_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO job_totals SELECT OLD.queue, OLD.status, -1
        WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE parent_id = OLD.job_id)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
    INSERT INTO job_totals SELECT queue, status, 1 FROM jobs
        WHERE job_id = OLD.parent_id
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE parent_id = OLD.parent_id)
        ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n;
END;
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
CREATE TABLE IF NOT EXISTS told (
    kind TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL, news TEXT NOT NULL,
    PRIMARY KEY (kind, name, action));
CREATE TABLE IF NOT EXISTS metric_hours (
    series TEXT NOT NULL, hour INTEGER NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (series, hour));
"""


class Connection:
    """The shared connection, its lock and transactions; the base of every repository."""

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
            # A burst of writes (a prune of many jobs) grows the write-ahead log past its usual
            # size; the first checkpoint after it cuts the file back to this instead of
            # keeping the burst's size for good (about the 1,000 pages of an auto-checkpoint).
            self._db.execute(f"PRAGMA journal_size_limit={WAL_KEPT}")
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
        have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "ended_at" not in have:  # when a finished job ended: retention counts from it
            self._db.execute("ALTER TABLE jobs ADD COLUMN ended_at REAL")
            self._db.execute(
                "UPDATE jobs SET ended_at = COALESCE(json_extract(data, '$.stopped_at'), "
                "created_at) WHERE status IN ('SUCCEEDED', 'FAILED')"
            )
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_ended ON jobs (ended_at)")
        # The job totals, counted once at start: a data directory from before the triggers
        # has none, and a count made whole at every start cannot drift.
        with self._tx() as db:
            db.execute("DELETE FROM job_totals")
            db.execute(
                "INSERT INTO job_totals SELECT queue, status, COUNT(*) FROM jobs WHERE job_id "
                "NOT IN (SELECT parent_id FROM jobs WHERE parent_id IS NOT NULL) "
                "GROUP BY queue, status"
            )

    @classmethod
    def in_data_dir(cls, data_dir: str, *, readonly: bool = False) -> Self:
        return cls(os.path.join(data_dir, "skiff.db"), readonly=readonly)

    @classmethod
    def snapshot_of(cls, data_dir: str) -> Self:
        """A private in-memory copy of the store in data_dir (empty if there is none)."""
        copy = cls(":memory:")
        path = os.path.join(data_dir, "skiff.db")
        if os.path.exists(path):
            source = sqlite3.connect(_readonly_uri(path), uri=True)
            try:  # the copy is new: it has read no task records it keeps (tasks.py)
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


def _readonly_uri(path: str) -> str:
    """A read-only SQLite URI; the path is quoted so '#', '?' or '%' in it stay part of it."""
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
