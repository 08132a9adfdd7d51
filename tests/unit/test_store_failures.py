"""The store when SQLite cannot write: a typed, transient StoreFailure, the transaction rolled
back whole (never left open, never half kept), and the store usable again once space returns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.store import Store, StoreFailure, TaskRecord
from tests.store_faults import FullDisk


def records(n: int, prefix: str = "t") -> list[TaskRecord]:
    return [
        TaskRecord(f"{prefix}{i:04d}" * 8, "Service", "web", "web:1", "local", "RUNNING", 1.0)
        for i in range(n)
    ]


def test_a_write_that_outgrows_the_disk_is_rolled_back_whole_and_reported_as_full(
    tmp_path: Path,
) -> None:
    store = Store.in_data_dir(str(tmp_path))
    store.put_tasks(records(3, "kept"))
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: a full disk
    with pytest.raises(StoreFailure) as failed:
        store.put_tasks(records(2000))  # fails inside the transaction, not at its COMMIT
    assert failed.value.reason == "full"
    assert "database or disk is full" in str(failed.value)
    assert str(tmp_path) in str(failed.value)
    assert sorted(store.all_tasks()) == sorted(r.task_id for r in records(3, "kept"))

    store._db.execute(f"PRAGMA max_page_count = {pages * 1000}")  # space returns
    store.put_tasks(records(2000))
    assert len(store.all_tasks()) == 2003
    assert store._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_commit_that_fails_leaves_no_transaction_open_and_keeps_nothing_of_it() -> None:
    store = Store(":memory:")
    disk = FullDisk.install(store)
    store.put_tasks(records(1, "kept"))
    disk.full = True
    with pytest.raises(StoreFailure):
        store.put_tasks(records(5))
    assert not store._db.in_transaction
    disk.full = False
    store.put_tasks(records(1, "after"))  # a new transaction begins: none was left open
    assert sorted(store.all_tasks()) == sorted(
        [*(r.task_id for r in records(1, "kept")), *(r.task_id for r in records(1, "after"))]
    )


def test_the_watcher_hears_of_each_failure_and_of_the_first_write_that_succeeds_again() -> None:
    store = Store(":memory:")
    disk = FullDisk.install(store)
    heard: list[str] = []
    store.watch(lambda f: heard.append(f"failed {f.reason}"), lambda: heard.append("recovered"))
    store.put_tasks(records(1))
    disk.full = True
    for _ in range(2):
        with pytest.raises(StoreFailure):
            store.delete_tasks([r.task_id for r in records(1)])
    disk.full = False
    store.delete_tasks([r.task_id for r in records(1)])
    store.put_tasks(records(1))
    assert heard == ["failed full", "failed full", "recovered"]


def test_a_store_failure_is_still_an_sqlite_operational_error() -> None:
    """Callers that caught SQLite's errors before (the CLI opening a data directory) still do."""
    store = Store(":memory:")
    FullDisk.install(store).full = True
    with pytest.raises(sqlite3.OperationalError):
        store.put_tasks(records(1))


def test_errors_that_will_not_pass_are_raised_as_they_are() -> None:
    store = Store(":memory:")
    with pytest.raises(sqlite3.OperationalError) as failed:
        store._rows("SELECT * FROM no_such_table")
    assert not isinstance(failed.value, StoreFailure)
    with pytest.raises(sqlite3.IntegrityError), store._tx() as db:
        db.execute("INSERT INTO tasks (task_id) VALUES ('x')")  # NOT NULL columns missing
    store.put_tasks(records(1))  # the failed transaction was rolled back
    assert len(store.all_tasks()) == 1
