"""Resync microbenchmark: what one look at a big, steady service costs the daemon, on no engine.

Every resync (30 s) the daemon looks at each service again, even when nothing changed: that is
what makes the loop level-triggered. At 1,000 tasks this look is a good part of an idle
daemon's CPU (issue 23's goal: idle under 1% of a core, daemon plus the engine work it causes).
This times that look: `sync_service` of one service of --tasks tasks, spread over three fake
engines, with the store in a file (SQLite in WAL mode, as the daemon's), once it has converged
and nothing changes. Printed: the CPU time of a look (this thread's, so that another process's
load on a busy machine is not counted), the median of --runs looks, and that cost as a share of
one core at one look per 30 s resync. Nothing is asserted.

    python benchmarks/sync.py [--tasks 1000] [--runs 21] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's controller, not an installed one

from controller.ecs.sync.service import sync_service  # noqa: E402
from controller.runtime.fake import FakeRuntime  # noqa: E402
from controller.store import Store  # noqa: E402
from tests.support.documents import container, dump, service_doc, td_doc  # noqa: E402
from tests.support.harness import Harness, hosts_yaml  # noqa: E402

RESYNC = 30.0  # seconds between two looks at a steady service (the daemon's --resync)


def converged(root: Path, tasks: int) -> Harness:
    engines = {n: FakeRuntime(name=n, memory_bytes=64 * 1024**3) for n in ("a", "b", "c")}
    h = Harness(root / "manifests", engines=engines, store=Store(str(root / "skiff.db")))
    h.write("hosts.yaml", hosts_yaml("a", "b", "c"))
    app = container("app", image="skiff/busybox:latest", command=["serve"])
    h.write(
        "web.yaml",
        dump(td_doc("web", containerDefinitions=[app]), service_doc("web", desiredCount=tasks)),
    )
    h.load()
    h.converge(rounds=60)
    running = len(h.running())
    if running != tasks:
        raise SystemExit(f"only {running} of {tasks} tasks ran on the fake engines")
    return h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--profile", action="store_true", help="cProfile five looks")
    args = parser.parse_args()
    # The launches' log lines are not what is measured.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="skiff-sync-") as tmp:
        h = converged(Path(tmp), args.tasks)
        try:
            for _ in range(3):  # warm: the task views are kept from the last look
                sync_service(h.ctl, "web")
            times = []
            for _ in range(args.runs):
                began = time.thread_time()
                sync_service(h.ctl, "web")
                times.append(time.thread_time() - began)
            ms = statistics.median(times) * 1000
            print(
                f"sync_service of a steady service of {args.tasks} tasks on 3 engines: "
                f"{ms:.1f} ms a look (median of {args.runs}; min {min(times) * 1000:.1f}, "
                f"max {max(times) * 1000:.1f}); at one look per {RESYNC:g} s resync: "
                f"{ms / 1000 / RESYNC * 100:.3f}% of a core"
            )
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(5):
                    sync_service(h.ctl, "web")
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
                print(out.getvalue())
        finally:
            h.ctl.stop()


if __name__ == "__main__":
    main()
