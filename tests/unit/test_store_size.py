"""`skiff status` shows how big the store is (/v1/status's `store`, one line of the table, the
skiff_store_size_bytes gauge); `skiff run` takes the retention periods as durations; a data
directory from before retention gets its jobs' end times, so its old jobs are pruned too."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from controller.api.server import status_document
from controller.batch.planners.jobs import Job
from controller.catalog import CATALOG
from controller.cli.durations import positive_duration
from controller.cli.main import build_parser
from controller.cli.status_table import render_status
from controller.core.controller import Controller
from controller.core.settings import DEFAULTS
from controller.runtime.fake import FakeRuntime
from controller.store import Activity, Store
from controller.store.connection import WAL_KEPT
from controller.telemetry import Metrics
from tests.support.builders import T0, FakeClock


def daemon(store: Store) -> Controller:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock)
    return Controller(
        store, Metrics(), lambda n, s: fake, DEFAULTS, clock=clock, monotonic=clock, catalog=CATALOG
    )


def test_the_status_document_and_table_give_the_store_s_size_and_rows(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "skiff.db"))
    ctl = daemon(store)
    jobs = [Job(f"J{i}", "j", "q", "work:1", "SUCCEEDED", T0, stopped_at=T0) for i in range(1200)]
    store.put_jobs([j.to_record() for j in jobs])
    store.put_activity(Activity("a", "AutoScalingGroup/g", "d", "c", "Successful", T0, T0))
    doc = status_document(ctl, True, "m")
    on_disk = (tmp_path / "skiff.db").stat().st_size + (tmp_path / "skiff.db-wal").stat().st_size
    assert doc["store"]["bytes"] == on_disk > 0
    rows = doc["store"]["rows"]
    assert (rows["jobs"], rows["activities"], rows["tasks"], rows["jobLogs"]) == (1200, 1, 0, 0)
    json.dumps(doc)  # the API sends it as it is
    printed = render_status(doc)
    mib = on_disk / 1048576
    assert f"Store: {mib:.1f} MiB (jobs 1,200, activities 1, tasks 0)" in printed.splitlines()
    assert "Store:" not in render_status(doc, ages=False)  # --watch redraws on changes only


def test_the_store_size_gauge_is_exported_and_promtool_accepts_it(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "skiff.db"))
    ctl = daemon(store)
    size = ctl.metrics.registry.get_sample_value("skiff_store_size_bytes")
    assert size == store.size_bytes() > 0
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not installed"
    text = ctl.metrics.exposition()
    lines = [b for b in text.split(b"\n") if b"skiff_store_size_bytes" in b]
    assert lines[0].startswith(b"# HELP skiff_store_size_bytes ")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=b"\n".join(lines) + b"\n", capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * 86400.0), ("6w", 42 * 86400.0), ("1w2d", 9 * 86400.0), ("3600", 3600.0)]
    + [("12h", 43200.0), ("90s", 90.0), ("1.5d", 129600.0)],
)
def test_a_retention_period_is_seconds_or_a_duration_with_units(text: str, seconds: float) -> None:
    assert positive_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "0d", "7x", "7 d", "d", "inf", "nan", ""])
def test_a_retention_period_must_be_a_positive_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_duration(text)


def test_the_run_flags_default_to_aws_s_periods_and_refuse_bad_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--manifests", "m"])
    assert args.batch_job_retention == DEFAULTS.batch_job_retention == 7 * 86400
    assert args.activity_retention == DEFAULTS.activity_retention == 6 * 7 * 86400
    args = parser.parse_args(
        ["run", "--manifests", "m", "--batch-job-retention", "2d", "--activity-retention", "1w"]
    )
    assert (args.batch_job_retention, args.activity_retention) == (2 * 86400, 7 * 86400)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["run", "--manifests", "m", "--activity-retention", "-6w"])
    assert exit_.value.code == 2
    assert "--activity-retention" in capsys.readouterr().err


def test_jobs_of_a_store_from_before_retention_get_their_end_and_are_pruned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "skiff.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, queue TEXT NOT NULL, status TEXT NOT NULL, "
        "parent_id TEXT, created_at REAL NOT NULL, data TEXT NOT NULL)"
    )
    for job in (
        Job("done", "j", "q", "work:1", "SUCCEEDED", T0, stopped_at=T0 + 5),
        Job("queued", "j", "q", "work:1", "RUNNABLE", T0),
    ):
        record = job.to_record()
        old.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, NULL, ?, ?)",
            (job.job_id, "q", job.status, T0, json.dumps(record)),
        )
    old.commit()
    old.close()
    store = Store(str(path))
    assert store.prune_jobs(T0 + 5, 10) == 0  # it ended at T0 + 5, not before
    assert store.prune_jobs(T0 + 6, 10) == 1
    assert [r["job_id"] for r in store.jobs()] == ["queued"]


def test_the_write_ahead_log_is_cut_back_after_a_burst_of_writes(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "skiff.db"))
    burst = [
        Job(f"j{n}", "j", "q", "work:1", "SUCCEEDED", T0, parameters={"p": "x" * 4000})
        for n in range(2000)
    ]
    store.put_jobs([j.to_record() for j in burst])  # about 8 MiB in one transaction
    store.put_job_log("j0", 1, 0, "done")  # the next write starts the log again at its head
    assert (tmp_path / "skiff.db-wal").stat().st_size <= WAL_KEPT
