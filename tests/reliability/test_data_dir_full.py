"""Data directory full: the store (SQLite in the data directory, here a tmpfs of 8 MiB) cannot
be written while a scale-up is asked for.

Must show: Skiff reports it where a user looks (the service's status says the store cannot be
written and why; `skiff_store_write_failures_total` counts it; the log has `store.write_failed`),
keeps running (the API answers, the running tasks keep running, nothing is launched without its
record), corrupts nothing (`PRAGMA integrity_check` is ok afterwards, no resource or task record
is lost) and, once space returns, carries out the edit made while the disk was full.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from pathlib import Path

import pytest

from tests.reliability import support as S
from tests.support.daemon import Skiff, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RESYNC = 2.0
FULL_WINDOW = 5.0  # seconds the disk stays full once the failure is reported


def fill(directory: Path) -> Path:
    """Writes a file until the file system has no room left; returns it."""
    ballast = directory / "ballast"
    with open(ballast, "wb", buffering=0) as f:
        try:
            for _ in range(100_000):  # far more than the tmpfs holds
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    for size in (4096, 512, 1):  # the last partial blocks too
        try:
            with open(ballast, "ab", buffering=0) as f:
                for _ in range(1000):
                    f.write(b"\0" * size)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return ballast


def records(data: Path) -> tuple[set[tuple[str, str]], set[str], str]:
    """The store's resources and task ids, and its integrity check (the daemon is stopped)."""
    db = sqlite3.connect(data / "skiff.db")
    try:
        resources = {(k, n) for k, n in db.execute("SELECT kind, name FROM resources")}
        tasks = {t for (t,) in db.execute("SELECT task_id FROM tasks")}
        (check,) = db.execute("PRAGMA integrity_check").fetchone()
        return resources, tasks, str(check)
    finally:
        db.close()


def test_a_full_data_directory_is_reported_survived_and_recovered_from(
    small_tmpfs: Path, skiff: Skiff
) -> None:
    skiff.data = small_tmpfs
    name = skiff.name("full")
    skiff.write("svc.yaml", S.service(name, 2))
    skiff.start("--resync", str(RESYNC))
    wait_for(lambda: S.finished(skiff, skiff.docker, name, f"{name}:1", 2), 60, "2 tasks")
    running = {r["Id"] for r in S.live(S.containers(skiff.docker, skiff.cluster, name))}
    skiff.stop()
    resources_before, tasks_before, _ = records(small_tmpfs)
    skiff.start("--resync", str(RESYNC))
    wait_for(lambda: skiff.resource("Service", name).get("steadyState"), 30, "steady again")

    ballast = fill(small_tmpfs)
    skiff.write("svc.yaml", S.service(name, 4))  # a scale-up while the store cannot be written

    def reported() -> bool:
        svc = skiff.resource("Service", name)
        return (
            svc["status"] == "ERROR"
            and "full" in svc["message"]
            and skiff.metric("skiff_store_write_failures_total") >= 1
        )

    wait_for(reported, 20, "the full store reported in the service's status and metrics")
    failures = skiff.metric("skiff_store_write_failures_total")
    time.sleep(FULL_WINDOW)  # the deliberate window: the disk stays full, the daemon retries
    assert skiff.metric("skiff_store_write_failures_total") > failures, "retried with backoff"
    assert skiff.metric("skiff_store_writable") == 0
    # Still running: the API answers, the tasks run, nothing was launched without its record.
    assert skiff.get("/healthz") == b"ok\n"
    svc = skiff.resource("Service", name)
    assert svc["status"] == "ERROR" and "database or disk is full" in svc["message"]
    svc_message = svc["message"]
    alive = S.live(S.containers(skiff.docker, skiff.cluster, name))
    assert {r["Id"] for r in alive} == running
    assert all(r["State"] == "running" for r in alive)
    assert "store.write_failed" in skiff.log.read_text()
    failures = skiff.metric("skiff_store_write_failures_total")

    ballast.unlink()  # space returns
    returned = time.monotonic()
    wait_for(
        lambda: S.finished(skiff, skiff.docker, name, f"{name}:1", 4),
        30,
        "the scale-up carried out once space returned",
    )
    recovered = S.elapsed_since(returned)
    svc = skiff.resource("Service", name)
    assert (svc["status"], svc["message"]) == ("ACTIVE", "")
    assert skiff.metric("skiff_store_writable") == 1
    now_running = {r["Id"] for r in S.live(S.containers(skiff.docker, skiff.cluster, name))}
    assert running < now_running and len(now_running) == 4

    skiff.stop()
    resources, tasks, check = records(small_tmpfs)
    assert check == "ok"
    assert resources_before <= resources
    assert tasks_before <= tasks
    assert {
        r["Labels"]["skiff.task"] for r in S.live(S.containers(skiff.docker, skiff.cluster, name))
    } <= tasks
    saved = sqlite3.connect(small_tmpfs / "skiff.db").execute(
        "SELECT spec FROM resources WHERE kind = 'Service' AND name = ?", (name,)
    )
    assert '"desiredCount": 4' in saved.fetchone()[0], "the edit made while full was saved"
    print(
        f"store full for {FULL_WINDOW:.0f}+ s: the service reported ERROR {svc_message!r}; "
        f"{int(failures)} failed writes counted and rolled back; running tasks untouched; the "
        f"scale-up done {recovered} s after space returned; integrity_check {check}"
    )
