"""Soak: does the daemon stay the same size under churn? One hour by default (--minutes 3 in CI).

One daemon runs a service of --tasks-min to --tasks-max tasks and a Batch job queue, while
this script, for --minutes:
  - kills a random task's container every --kill-every seconds (one that has run 11 s or more:
    younger ones would be throttled as failing to start);
  - deploys a new revision (a new value of an environment variable) every --deploy-every s;
  - sets the service's desiredCount to another random value in the range every --scale-every s;
  - submits --jobs short Batch jobs (each `echo done`), paced evenly over the run (10,000 an
    hour by default), --concurrency of them running at once at most;
with Batch jobs and scaling activities kept --retention seconds (a sixth of the run by default,
so the daemon's retention pass, every tenth of that, applies many times within it), and every
--sample seconds reads the daemon's RSS (/proc/PID/status VmRSS), open file
descriptors (/proc/PID/fd), threads (/proc/PID/status Threads) and store size (skiff.db and
skiff.db-wal in its data directory), with the rows of jobs and of the history of actions in it
(/v1/status): jobs level off once retention applies; the history keeps its last 20,000 events,
so it levels off there.

It prints, for each of the four, the first and last values and the slope per hour, by least
squares over the second half of the run (the first half warms up), and what the churn did. The
goal (issue 23) is four flat lines once retention applies. Every wait is bounded; at the end
the daemon is stopped and every container of its cluster removed. Nothing is asserted.

    python benchmarks/soak.py [--minutes 60] [--sample S] [--jobs N] [--csv samples.csv]
        [--daemon-arg=--flag=value]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.error
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import docker
from batch import batch_manifest, submit
from common import (
    Daemon,
    manifest,
    open_fds,
    remove_all,
    scrape,
    status_field,
    wait_until,
)

NAME = "soak"
COLUMNS = (
    ("rss", "RSS (MiB)"),
    ("fds", "open file descriptors"),
    ("threads", "threads"),
    ("store", "store, db + wal (MiB)"),
    ("jobs", "  jobs in it (rows)"),
    ("events", "  history in it (rows)"),
)


@dataclass
class Churn:
    kills: int = 0
    deployments: int = 0
    scalings: int = 0
    submitted: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def sample(daemon: Daemon, t: float, last: dict[str, float] | None) -> dict[str, float]:
    """One sample; the rows of the store's growing tables from /v1/status (the last sample's
    when a busy daemon answers late)."""
    assert daemon.proc is not None
    pid = daemon.proc.pid
    store = sum(
        p.stat().st_size
        for p in (daemon.data / "skiff.db", daemon.data / "skiff.db-wal")
        if p.exists()
    )
    try:
        rows = daemon.status()["store"]["rows"]
        jobs, events = float(rows["jobs"]), float(rows["events"])
    except (OSError, ValueError, KeyError):
        jobs, events = (last["jobs"], last["events"]) if last else (math.nan, math.nan)
    return {
        "t": t,
        "rss": status_field(pid, "VmRSS") / 1024,
        "fds": open_fds(pid),
        "threads": status_field(pid, "Threads"),
        "store": store / 2**20,
        "jobs": jobs,
        "events": events,
    }


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return math.nan
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in points) / sxx * 3600


def submitter(
    daemon: Daemon, jobs: int, began: float, duration: float, stop: threading.Event, churn: Churn
) -> None:
    """Submits `jobs` jobs, the i-th at began + i * duration / jobs, until stopped."""
    for i in range(jobs):
        if stop.wait(max(0.0, began + i * duration / jobs - time.monotonic())):
            return
        try:
            submit(daemon)
            with churn.lock:
                churn.submitted += 1
        except (OSError, ValueError) as e:  # refused (HTTP errors are OSErrors), or a busy daemon
            with churn.lock:
                churn.refused += 1
                churn.reasons[refusal(e)] += 1


def refusal(e: Exception) -> str:
    """Why a submit failed, short: the HTTP status and the daemon's message, or the error."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}: {e.read(200).decode(errors='replace')}"
    return f"{type(e).__name__}: {e}"


def finished(daemon: Daemon) -> dict[str, float]:
    """Jobs ended so far, by status, from skiff_batch_jobs_finished_total."""
    out: dict[str, float] = {}
    for key, value in scrape(daemon).items():
        if key.startswith("skiff_batch_jobs_finished_total{"):
            status = key.split('status="', 1)[1].split('"', 1)[0]
            out[status] = out.get(status, 0.0) + value
    return out


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = docker.from_env()
        self.cluster = f"soak{uuid.uuid4().hex[:6]}"
        self.root = Path(tempfile.mkdtemp(prefix="skiff-soak-"))
        kept = [f"--{what}-retention={args.retention:g}" for what in ("batch-job", "activity")]
        self.daemon = Daemon(
            self.root, self.cluster, args.parallelism, extra=[*kept, *args.daemon_arg]
        )
        self.count = (args.tasks_min + args.tasks_max) // 2
        self.version = 1
        self.churn = Churn()
        self.samples: list[dict[str, float]] = []
        self.drained = 0.0  # seconds the jobs took to end after the run

    def last(self) -> dict[str, float] | None:
        return self.samples[-1] if self.samples else None

    def write_service(self) -> None:
        self.daemon.write("svc.yaml", manifest(NAME, self.count, f"v{self.version}"))

    def kill(self) -> None:
        labels = [f"skiff.cluster={self.cluster}", f"skiff.name={NAME}"]
        up = self.client.api.containers(filters={"label": labels, "status": ["running"]})
        old = [c for c in up if c["Created"] + 11 <= time.time()]
        if not old:
            return
        try:
            self.client.api.kill(random.choice(old)["Id"])
            self.churn.kills += 1
        except docker.errors.APIError:  # stopped meanwhile (a deployment or a scale-in)
            pass

    def deploy(self) -> None:
        self.version += 1
        self.write_service()
        self.churn.deployments += 1

    def scale(self) -> None:
        choices = [
            n for n in range(self.args.tasks_min, self.args.tasks_max + 1) if n != self.count
        ]
        if choices:
            self.count = random.choice(choices)
            self.write_service()
            self.churn.scalings += 1

    def run(self) -> None:
        args, daemon = self.args, self.daemon
        duration = args.minutes * 60
        daemon.write("batch.yaml", batch_manifest(args.concurrency))
        self.write_service()
        daemon.wait_ready()
        stop = threading.Event()
        began = time.monotonic()
        feeder = threading.Thread(
            target=submitter,
            args=(daemon, args.jobs, began, duration, stop, self.churn),
            daemon=True,
        )
        feeder.start()
        every = {"sample": args.sample, "kill": args.kill_every}
        every.update({"deploy": args.deploy_every, "scale": args.scale_every})
        actions = {"kill": self.kill, "deploy": self.deploy, "scale": self.scale}
        due = {what: began + (0 if what == "sample" else period) for what, period in every.items()}
        end = began + duration
        try:
            while (now := time.monotonic()) < end:
                for what in sorted(due, key=due.__getitem__):
                    if due[what] > now:
                        break
                    if what == "sample":
                        self.samples.append(sample(daemon, now - began, self.last()))
                    else:
                        actions[what]()
                    due[what] += every[what]
                time.sleep(max(0.0, min(min(due.values()), end) - time.monotonic()))
            self.samples.append(sample(daemon, time.monotonic() - began, self.last()))
        finally:
            stop.set()
            feeder.join(timeout=30)
        self.drained = self.drain()

    def drain(self) -> float:
        """Waits (at most --drain seconds) for the submitted jobs to end; the seconds it took."""
        began = time.monotonic()
        try:
            wait_until(
                lambda: sum(finished(self.daemon).values()) >= self.churn.submitted,
                self.args.drain,
                "the jobs to end",
            )
        except SystemExit:
            pass  # reported as unfinished
        return time.monotonic() - began

    def report(self) -> None:
        args, churn = self.args, self.churn
        ended = finished(self.daemon)
        done = sum(ended.values())
        labels = {"label": [f"skiff.cluster={self.cluster}"]}
        left = self.client.api.containers(all=True, filters=labels)
        running = [c for c in left if c["State"] == "running"]
        print(
            f"soak: {args.minutes:g} min; service of {args.tasks_min}-{args.tasks_max} tasks; "
            f"a kill every {args.kill_every:g} s, a deployment every {args.deploy_every:g} s, "
            f"a scaling every {args.scale_every:g} s; {args.jobs} jobs paced over the run, "
            f"{args.concurrency} at a time; jobs and activities kept {args.retention:g} s"
        )
        print(
            f"  churn: {churn.kills} kills, {churn.deployments} deployments, "
            f"{churn.scalings} scalings; jobs: {churn.submitted} submitted, {churn.refused} "
            f"refused, {ended.get('SUCCEEDED', 0):.0f} SUCCEEDED, {ended.get('FAILED', 0):.0f} "
            f"FAILED, {max(0.0, churn.submitted - done):.0f} unfinished "
            f"after {self.drained:.0f} s of drain"
        )
        for reason, n in churn.reasons.most_common():
            print(f"  refused {n}x: {reason}")
        print(
            f"  containers of the cluster at the end: {len(left)} ({len(running)} running; "
            f"desiredCount {self.count})"
        )
        half = args.minutes * 60 / 2
        print(
            f"  {len(self.samples)} samples every {args.sample:g} s; slope by least squares "
            f"over the second half ({sum(1 for s in self.samples if s['t'] >= half)} samples)"
        )
        print(f"  {'':<24} {'start':>9} {'end':>9} {'min':>9} {'max':>9} {'slope/hour':>11}")
        for key, title in COLUMNS:
            values = [s[key] for s in self.samples]
            slope = slope_per_hour([(s["t"], s[key]) for s in self.samples if s["t"] >= half])
            print(
                f"  {title:<24} {values[0]:9.2f} {values[-1]:9.2f} {min(values):9.2f} "
                f"{max(values):9.2f} {slope:+11.2f}"
            )

    def write_csv(self, path: str) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["t", *(k for k, _ in COLUMNS)])
            writer.writeheader()
            writer.writerows(self.samples)

    def cleanup(self) -> None:
        self.daemon.stop()
        remove_all(self.client, {"label": [f"skiff.cluster={self.cluster}"]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--sample", type=float, help="seconds between samples (default: 120 samples)")
    ap.add_argument("--tasks-min", type=int, default=5)
    ap.add_argument("--tasks-max", type=int, default=20)
    ap.add_argument("--kill-every", type=float, default=20.0)
    ap.add_argument("--deploy-every", type=float, default=60.0)
    ap.add_argument("--scale-every", type=float, default=45.0)
    ap.add_argument("--jobs", type=int, help="Batch jobs over the run (default: 10,000 an hour)")
    # 8 at once keeps up with 10,000 jobs an hour only on a quiet day on 2 cores: a soak whose
    # jobs pile up measures the backlog, not the daemon's growth.
    ap.add_argument("--concurrency", type=int, default=16, help="jobs running at once, at most")
    ap.add_argument("--parallelism", type=int, default=10, help="the daemon's Docker calls")
    ap.add_argument("--drain", type=float, default=120.0, help="seconds to let the jobs end")
    ap.add_argument("--retention", type=float, help="seconds jobs are kept (default: run / 6)")
    ap.add_argument("--csv", help="write every sample to this file")
    ap.add_argument(
        "--daemon-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="one more flag for the daemon, as --daemon-arg=--metrics-period=10 (repeatable)",
    )
    args = ap.parse_args()
    if args.sample is None:
        args.sample = max(2.0, args.minutes * 60 / 120)
    if args.retention is None:
        args.retention = max(60.0, args.minutes * 60 / 6)
    if args.jobs is None:
        args.jobs = round(10_000 * args.minutes / 60)

    soak = Soak(args)
    reported = False
    try:
        soak.run()
        soak.report()
        reported = True
        if args.csv:
            soak.write_csv(args.csv)
    finally:
        if not reported:
            print(f"the soak stopped early; the daemon's log: {soak.daemon.log}")
            print(soak.daemon.tail(20))
        soak.cleanup()
        if reported:
            shutil.rmtree(soak.root, ignore_errors=True)


if __name__ == "__main__":
    main()
