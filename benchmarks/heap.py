"""Heap under churn, in process: does the daemon's own Python heap grow with the work it does?

The soak (soak.py) reads a real daemon's RSS, which mixes the daemon's objects with what the
allocator, SQLite's page cache and the Docker client hold. This isolates the first: one
Controller on fake engines, with a clock that moves 30 s a cycle, runs --cycles cycles of
churn, each submitting --jobs-per-cycle Batch jobs and letting them finish, killing a service
task every --kill-every cycles and deploying a new revision every --deploy-every, with Batch
jobs and scaling activities kept --retention seconds (so the retention pass prunes many times).
After --warm cycles it takes a tracemalloc snapshot, and another at the end, and prints the
growth of the traced heap per 1,000 jobs and per 100 replaced tasks, with the places that grew
most (the deepest frame in controller/). The fake engines' own records of what was done to them
(calls, the specs of removed containers) are dropped each cycle: they are the test double's,
not the daemon's. Nothing is asserted; no engine is needed.

    python benchmarks/heap.py [--warm 100] [--cycles 600] [--jobs-per-cycle 2] [--top 8]
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's controller, not an installed one

from controller.batch.sync.containers import JOB_LABEL  # noqa: E402
from controller.batch.sync.jobs import BATCH  # noqa: E402
from controller.core.retention import PASS as RETENTION  # noqa: E402
from controller.store import Store  # noqa: E402
from tests.support.documents import container, dump, service_doc, td_doc  # noqa: E402
from tests.support.harness import Harness  # noqa: E402
from tests.unit.test_batch_engine import batch_docs, send  # noqa: E402

TICK = 30.0  # seconds the clock moves each cycle


class Churn:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.args = args
        self.h = Harness(root / "manifests", store=Store(str(root / "skiff.db")))
        self.h.ctl.settings = replace(
            self.h.ctl.settings,
            batch_job_retention=args.retention,
            activity_retention=args.retention,
        )
        self.h.write("batch.yaml", dump(*batch_docs()))
        self.h.write("web.yaml", self.web(0))
        self.h.load()
        self.h.converge()
        self.jobs = self.kills = self.deployments = 0

    @staticmethod
    def web(version: int) -> str:
        app = container(
            "app",
            image="skiff/busybox:latest",
            command=["serve"],
            environment=[{"name": "VERSION", "value": str(version)}],
        )
        return dump(td_doc("web", containerDefinitions=[app]), service_doc("web", desiredCount=5))

    def cycle(self, i: int) -> None:
        h, args = self.h, self.args
        send(h, args.jobs_per_cycle)
        self.jobs += args.jobs_per_cycle
        h.ctl.queue.add(BATCH)
        h.converge()
        for c in list(h.fake.containers.values()):
            if c.running and JOB_LABEL in c.labels:
                h.fake.exit(c.id, 0)
        h.ctl.queue.add(BATCH)
        h.ctl.queue.add(RETENTION)
        if i % args.kill_every == 0 and (running := h.running()):
            h.fake.kill(running[0].id, "SIGKILL")
            self.kills += 1
        if i % args.deploy_every == args.deploy_every - 1:
            h.write("web.yaml", self.web(i))
            h.load()
            self.deployments += 1
        h.converge(rounds=60)
        h.clock.advance(TICK)
        for engine in h.all_engines():  # the test double's own log, not the daemon's
            engine.calls.clear()
            for cid in [c for c in engine.specs if c not in engine.containers]:
                del engine.specs[cid]


def _site(stat: tracemalloc.StatisticDiff) -> str:
    ours = [f for f in stat.traceback if str(ROOT / "controller") in f.filename]
    frame = ours[-1] if ours else stat.traceback[-1]
    return f"{Path(frame.filename).relative_to(ROOT) if ours else frame.filename}:{frame.lineno}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--warm", type=int, default=100, help="cycles before the first snapshot")
    ap.add_argument("--cycles", type=int, default=600, help="cycles between the snapshots")
    ap.add_argument("--jobs-per-cycle", type=int, default=2)
    ap.add_argument("--kill-every", type=int, default=10, help="cycles between task kills")
    ap.add_argument("--deploy-every", type=int, default=50, help="cycles between deployments")
    ap.add_argument("--retention", type=float, default=600.0, help="seconds jobs are kept")
    ap.add_argument("--top", type=int, default=8, help="places that grew most, printed")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="skiff-heap-") as tmp:
        churn = Churn(Path(tmp), args)
        try:
            began = time.monotonic()
            for i in range(args.warm):
                churn.cycle(i)
            gc.collect()
            tracemalloc.start(25)
            before = tracemalloc.take_snapshot()
            done = (churn.jobs, churn.kills, churn.deployments)
            for i in range(args.warm, args.warm + args.cycles):
                churn.cycle(i)
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            kept = len(churn.h.store.jobs())
        finally:
            churn.h.ctl.stop()
    jobs, kills, deployments = (
        n - d for n, d in zip((churn.jobs, churn.kills, churn.deployments), done, strict=True)
    )
    grown = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in grown) / 1024
    print(
        f"{args.cycles} cycles after {args.warm} to warm ({time.monotonic() - began:.0f} s): "
        f"{jobs} jobs run, {kills} tasks killed and replaced, {deployments} deployments; "
        f"{kept} jobs kept in the store at the end (retention {args.retention:g} s)"
    )
    print(
        f"traced heap: {total:+.1f} KiB; {total / max(jobs, 1) * 1000:+.1f} KiB per 1,000 jobs, "
        f"{total / max(kills, 1) * 100:+.1f} KiB per 100 replaced tasks (all growth counted "
        "against each)"
    )
    by_site: dict[str, list[int]] = {}
    for s in grown:
        sizes = by_site.setdefault(_site(s), [0, 0])
        sizes[0] += s.size_diff
        sizes[1] += s.count_diff
    print("grew most:")
    for site, (size, count) in sorted(by_site.items(), key=lambda e: -e[1][0])[: args.top]:
        print(f"  {size / 1024:+8.1f} KiB {count:+6d} blocks  {site}")


if __name__ == "__main__":
    main()
