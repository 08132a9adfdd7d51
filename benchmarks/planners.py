"""Planner microbenchmark: the pure service planner over thousands of tasks, on no engine.

`plan_service` takes what the controller has read (observed tasks, task records, launches in
flight, revisions, host slots) and returns a plan: it must run in time proportional to the
service's own tasks, and a pass after a change costs what changed. Cases, each the median of
--runs:

  1. steady: 5,000 RUNNING tasks of one service on one host, nothing to do;
  2. rolling: 5,000 tasks of web:1 while the service wants web:2 (a deployment's step);
  3. scale-up: 4,900 running, 5,000 wanted (placements on the host);
  4. three hosts: 1,000 RUNNING tasks spread over 3 hosts, and the same with 100 to place;
  5. linearity: the steady case at 1,250, 2,500 and 5,000 tasks, time per task.

Cases 1 to 3 are timed twice. "a pass" is what the daemon runs each time it looks at the
service: the service's task views are kept from its last pass (task_views.TaskViews), the
observer has regrouped its containers into new ObservedTask objects, and one task changed.
"first pass" has nothing kept: the daemon's first look after a start.

Goal (issue 23): plan_service over 5,000 tasks under 20 ms. Nothing is asserted: the figures
are printed, with whether each 5,000-task pass is under the goal.

    python benchmarks/planners.py [--tasks 5000] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's controller, not an installed one

from controller.core.observed import ObservedTask  # noqa: E402
from controller.core.placement import HostSlot  # noqa: E402
from controller.ecs.planners.service import ServiceDesired, plan_service  # noqa: E402
from controller.ecs.planners.service_plan import ServicePlan  # noqa: E402
from controller.ecs.planners.task_views import TaskViews  # noqa: E402
from tests.support.builders import T0, hosts, revision, running, td  # noqa: E402

GOAL_MS = 20.0
V1 = revision("web:1")
V2 = revision(
    "web:2",
    td(containerDefinitions=[{"name": "app", "image": "i", "memory": 64, "command": ["v2"]}]),
)
SPECS = {"web:1": V1.spec, "web:2": V2.spec}
NOW = T0 + 1000  # every task has been RUNNING long enough to count as healthy


def tasks(n: int, rev: str = "web:1", names: tuple[str, ...] = ("h1",)) -> list[ObservedTask]:
    return [running(f"t{i}", rev=rev, created=T0 + i, host=names[i % len(names)]) for i in range(n)]


def slots(names: tuple[str, ...] = ("h1",)) -> list[HostSlot]:
    """Hosts with room for every task of the cases (64 MiB each)."""
    return hosts(*names, cpu=1 << 30, memory=1 << 30)


def next_pass(observed: list[ObservedTask], changed: int) -> list[ObservedTask]:
    """The tasks as the next pass reads them: the observer groups its container snapshots
    into new ObservedTask objects, and task `changed` has a new snapshot (it turned healthy)."""
    out = [replace(t, containers=dict(t.containers)) for t in observed]
    t = out[changed]
    out[changed] = replace(
        t, containers={n: replace(c, health="healthy") for n, c in t.containers.items()}
    )
    return out


Case = Callable[[], ServicePlan]


def case(
    desired_count: int,
    observed: list[ObservedTask],
    wanted: str = "web:1",
    names: tuple[str, ...] = ("h1",),
    memo: TaskViews | None = None,
) -> Case:
    rev = V1 if wanted == "web:1" else V2
    desired = ServiceDesired("web", desired_count, rev)
    host_slots = slots(names)
    return lambda: plan_service(desired, observed, {}, [], SPECS, host_slots, now=NOW, memo=memo)


class Passes:
    """The daemon's passes over one service: its memo kept, each pass's tasks regrouped with
    one changed (the regrouping is the observer's work, done before the clock starts)."""

    def __init__(self, desired_count: int, observed: list[ObservedTask], wanted: str) -> None:
        self.args = desired_count, wanted
        self.observed, self.memo, self.turn = observed, TaskViews(), 0
        case(desired_count, observed, wanted, memo=self.memo)()  # the first pass

    def prepare(self) -> Case:
        self.turn += 1
        observed = next_pass(self.observed, self.turn % len(self.observed))
        count, wanted = self.args
        return case(count, observed, wanted, memo=self.memo)


def median_ms(prepare: Callable[[], Case], runs: int) -> float:
    """Median wall time of the calls `prepare` makes (it runs untimed); one warm-up first."""
    times = []
    for i in range(runs + 1):
        call = prepare()
        started = time.perf_counter()
        call()
        if i:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def same(run: Case) -> Callable[[], Case]:
    return lambda: run


def profile(run: Case) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile each 5,000-task pass")
    args = parser.parse_args()
    n = args.tasks
    three = ("h1", "h2", "h3")
    big = {
        f"steady, {n} tasks": (n, tasks(n), "web:1"),
        f"rolling, {n} tasks": (n, tasks(n), "web:2"),
        f"scale-up, {n - 100} -> {n} tasks": (n, tasks(n - 100), "web:1"),
    }
    small = {
        "steady, 1000 tasks on 3 hosts": case(1000, tasks(1000, names=three), names=three),
        "scale-up, 900 -> 1000 tasks on 3 hosts": case(1000, tasks(900, names=three), names=three),
    }
    print(f"plan_service, median of {args.runs} runs (goal: under {GOAL_MS:.0f} ms at {n} tasks)")
    print(f"  {'case':<40} {'a pass':>11} {'first pass':>11}")
    for name, (count, observed, wanted) in big.items():
        passes = Passes(count, observed, wanted)
        warm = median_ms(passes.prepare, args.runs)
        cold = median_ms(same(case(count, observed, wanted)), args.runs)
        verdict = "under" if warm < GOAL_MS else "OVER"
        print(f"  {name:<40} {warm:8.2f} ms {cold:8.2f} ms  {verdict} the goal")
        if args.profile:
            print(profile(passes.prepare()))
    for name, run in small.items():
        print(f"  {name:<40} {'':>11} {median_ms(same(run), args.runs):8.2f} ms")
    print("linearity (steady, a pass): time per task")
    for size in (n // 4, n // 2, n):
        ms = median_ms(Passes(size, tasks(size), "web:1").prepare, args.runs)
        print(f"  {size:>6} tasks {ms:8.2f} ms  {ms * 1000 / size:6.2f} us/task")


if __name__ == "__main__":
    main()
