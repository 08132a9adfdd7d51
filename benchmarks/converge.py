"""Converge benchmark: how Skiff's cost grows with the number of tasks, against raw Docker on the
same engines, in the same run. One table, a row per size N (--sizes):

  - 0 -> N tasks of a one-container service through Skiff, against the same N containers
    created and started straight through the Docker API with the same parallelism (median of
    --rounds each), and their ratio. With --first-apply every Skiff round is a new daemon
    started on an empty directory, then the manifest saved (a user's first apply); otherwise
    one daemon scales its service 0 -> N (and back to 0 between rounds).
  - engine calls per task: the daemon's skiff_docker_api_calls_total{operation} over the
    converges (to steady state), divided by N and the rounds;
  - kill -> replacement: median time from killing a task's container (one that has run 11 s
    or more) to its replacement running, over --kills kills; and, after each, what raw Docker
    needs for the same at the same moment, with nothing in between: one raw container killed
    and, as soon as its `die` event arrives and dockerd has let go of it (an inspect answers),
    another created and started, timed from the kill to the start's return. That is the floor
    under the kill time (Docker's own kill -> die, cleanup, create and start), which grows with
    the engine's load; and where each one's time goes:
    kill -> die, die -> the replacement created (the daemon's reaction and Docker's create),
    created -> started, on Docker's events for Skiff;
  - idle cost, over --idle seconds with the N tasks up and nothing to do: the daemon's CPU
    (share of one core), then the CPU of dockerd and containerd, and of the tasks' containerd
    shims, above a baseline: the same engines with the same N containers running, the daemon
    stopped (it leaves its tasks running), measured for as long right after; and the daemon's
    RSS.

With --engines 3 the tasks spread over this machine's dockerd and 2 more started here (removed
at the end); raw Docker spreads its containers over the same 3 engines, one after the other.
Nothing is asserted: the figures are printed.

    python benchmarks/converge.py [--sizes 50,200,500,1000] [--first-apply] [--engines 1]
        [--parallelism 10] [--rounds 3] [--kills 10] [--idle 60] [--daemon-arg=--flag=value]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from common import (
    COMMAND,
    IMAGE,
    CpuWindow,
    Daemon,
    Starts,
    calls_by_operation,
    engine_pids,
    hosts_yaml,
    main_dockerd_pid,
    manifest,
    remove_all,
    scrape,
    shim_pids,
    start_engines,
    wait_until,
)

from tests.support.documents import dump
from tests.support.engines import Dockerd

OPERATIONS = ("create", "start", "inspect", "stats", "list")  # columns; the rest is "other"
NAME = "bench"
Phases = tuple[float, float, float]  # seconds: kill -> die, die -> created, created -> started


@dataclass
class Row:
    n: int
    raw: list[float] = field(default_factory=list)
    skiff: list[float] = field(default_factory=list)
    calls: dict[str, float] = field(default_factory=dict)  # per task
    kills: list[float] = field(default_factory=list)
    raw_kills: list[float] = field(default_factory=list)  # kill -> die -> create + start, raw
    # each kill's phases, seconds, on Docker's events: kill -> die, die -> the replacement's
    # create (the daemon's reaction), create -> start
    phases: list[Phases] = field(default_factory=list)
    raw_phases: list[Phases] = field(default_factory=list)  # the same, raw
    daemon_cpu: float = 0.0
    engine_above: float = 0.0  # dockerd + containerd, above the baseline
    shims_above: float = 0.0
    rss: float = 0.0
    spread: list[int] = field(default_factory=list)  # tasks per engine, at steady state


class Bench:
    """The engines, their clients and the options, shared by every size."""

    def __init__(self, args: argparse.Namespace, extra: list[Dockerd]) -> None:
        self.args = args
        self.extra = extra
        self.clients = [docker.from_env(), *(d.engine.client() for d in extra)]
        self.engine_pids = engine_pids(
            [main_dockerd_pid(), *(d.proc.pid for d in extra if d.proc is not None)]
        )

    def text(self, n: int) -> str:
        """The manifest file: the service at n tasks, after the hosts when there are several."""
        return dump(hosts_yaml(self.extra), manifest(NAME, n)) if self.extra else manifest(NAME, n)

    def containers(self, selector: dict[str, Any], running: bool) -> list[dict[str, Any]]:
        filters = {**selector, **({"status": ["running"]} if running else {})}
        return [
            c
            for client in self.clients
            for c in client.api.containers(all=not running, filters=filters)
        ]

    def raw_round(self, n: int, tag: str) -> float:
        """n containers created and started straight through the Docker API, P at a time,
        the i-th on engine i mod E; then removed (untimed, a few at a time)."""
        labels = {"skiff-bench": tag}

        def one(i: int) -> None:
            api = self.clients[i % len(self.clients)].api
            c = api.create_container(
                IMAGE,
                COMMAND,
                name=f"bench-raw-{tag}-{i}",
                labels=labels,
                host_config=api.create_host_config(mem_reservation="16m"),
            )
            api.start(c["Id"])

        started = time.monotonic()
        with ThreadPoolExecutor(self.args.parallelism) as pool:
            list(pool.map(one, range(n)))
        elapsed = time.monotonic() - started
        # Removed four at a time: dockerd 20.10 deadlocked removing 1,000 of them ten at once.
        remove_all(self.clients, {"label": [f"skiff-bench={tag}"]})
        return elapsed

    def new_daemon(self, cluster: str, empty: bool) -> Daemon:
        """A daemon on a new directory: empty (a first apply), or holding the hosts and the
        service at 0."""
        root = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
        daemon = Daemon(root, cluster, self.args.parallelism, extra=self.args.daemon_arg)
        if not empty:
            daemon.write("svc.yaml", self.text(0))
        daemon.wait_ready()
        return daemon

    def size(self, n: int) -> Row:
        args, row = self.args, Row(n)
        cluster = f"bench{uuid.uuid4().hex[:6]}"
        selector = {"label": [f"skiff.cluster={cluster}"]}
        starts = Starts(self.clients, f"skiff.cluster={cluster}")
        patience = 120 + 1.0 * n  # seconds: generous, linear in the work
        daemon: Daemon | None = None
        calls: dict[str, float] = {}

        def steady() -> bool:
            try:
                return daemon is not None and bool(daemon.service(NAME).get("steadyState"))
            except OSError:  # a busy daemon answering late: not yet
                return False

        try:
            daemon = self.new_daemon(cluster, empty=args.first_apply)
            for r in range(args.rounds):
                if args.first_apply and r > 0:  # a new daemon on an empty directory
                    daemon.stop()
                    shutil.rmtree(daemon.root, ignore_errors=True)
                    self.remove(selector)
                    daemon = self.new_daemon(cluster, empty=True)
                row.raw.append(self.raw_round(n, f"{cluster}-{r}"))  # with no task running
                starts.drain()
                before = calls_by_operation(scrape(daemon))
                began = time.monotonic()
                daemon.write("svc.yaml", self.text(n))
                row.skiff.append(starts.wait(n, timeout=patience)[-1][0] - began)
                wait_until(steady, patience, f"{n} steady tasks")
                after = calls_by_operation(scrape(daemon))
                for op, count in after.items():
                    calls[op] = calls.get(op, 0.0) + count - before.get(op, 0.0)
                if r < args.rounds - 1 and not args.first_apply:
                    daemon.write("svc.yaml", self.text(0))
                    wait_until(
                        lambda: not self.containers(selector, running=True),
                        patience,
                        "scale-in to 0",
                    )
            row.calls = {op: c / (n * args.rounds) for op, c in calls.items() if c > 0}
            row.spread = [
                len(client.api.containers(filters={**selector, "status": ["running"]}))
                for client in self.clients
            ]
            row.kills, row.phases, row.raw_phases = self.kills(
                daemon, starts, selector, steady, cluster
            )
            row.raw_kills = [sum(p) for p in row.raw_phases]
            self.idle(daemon, selector, row)
        finally:
            starts.close()
            if daemon is not None:
                daemon.stop()
                shutil.rmtree(daemon.root, ignore_errors=True)
            self.remove(selector)
            self.remove({"name": [f"bench-raw-{cluster}-"]})  # a raw round cut short
        return row

    def kills(
        self, daemon: Daemon, starts: Starts, selector: dict[str, Any], steady: Any, cluster: str
    ) -> tuple[list[float], list[Phases], list[Phases]]:
        """Seconds from killing a task's container to its replacement running, per kill; each
        kill's phases on Docker's events (kill -> die, die -> the replacement created,
        created -> started); and the same phases of raw Docker doing it at once after, on that
        engine (raw_replacement)."""
        latencies, phases, floors = [], [], []
        label = f"skiff.cluster={cluster}"
        dies, creates = Starts(self.clients, label, "die"), Starts(self.clients, label, "create")
        try:
            for k in range(self.args.kills):
                # The oldest task, once it has run 11 s: a task dying sooner counts as failing
                # to start and is relaunched with a growing delay on purpose (Docker's restart
                # policy draws the same 10 s line).
                up = [
                    (client, c)
                    for client in self.clients
                    for c in client.api.containers(filters={**selector, "status": ["running"]})
                ]
                client, oldest = min(up, key=lambda e: e[1]["Created"])
                time.sleep(max(0.0, oldest["Created"] + 11 - time.time()))
                for stream in (starts, dies, creates):
                    stream.drain()
                began = time.monotonic()
                client.api.kill(oldest["Id"])
                started = starts.wait(1)[0][0]
                died, created = dies.wait(1)[0][0], creates.wait(1)[0][0]
                latencies.append(started - began)
                phases.append((died - began, created - died, started - created))
                wait_until(steady, 60, "steady after a kill")
                floors.append(self.raw_replacement(client, f"{cluster}-k{k}"))
        finally:
            dies.close()
            creates.close()
        return latencies, phases, floors

    def raw_replacement(self, client: docker.DockerClient, tag: str) -> Phases:
        """A raw container started (untimed); then, timed: it is killed and, once its `die`
        event arrives and an inspect of it answers, another is created and started straight
        through the Docker API. Both are removed (untimed). Seconds from the kill to the die,
        from the die to the new one created, of the start.

        The inspect is the barrier any replacement needs, and the daemon's own: dockerd sends
        `die` before it has cleaned up after the container, and until then it still lists it
        as running and holds its host ports and network; an inspect answers once it is done."""
        api = client.api

        def create(suffix: str) -> str:
            return str(
                api.create_container(
                    IMAGE,
                    COMMAND,
                    name=f"bench-raw-{tag}-{suffix}",
                    labels={"skiff-bench": tag},
                    host_config=api.create_host_config(mem_reservation="16m"),
                )["Id"]
            )

        old = create("old")
        api.start(old)
        events = api.events(decode=True, filters={"container": old, "event": "die"})
        try:
            began = time.monotonic()
            api.kill(old)
            next(iter(events))  # its die: bounded by the kill (SIGKILL)
            died = time.monotonic()
            api.inspect_container(old)  # answers once dockerd let go of it (ports, network)
            new = create("new")
            created = time.monotonic()
            api.start(new)
            started = time.monotonic()
        finally:
            events.close()
        for c in (old, new):
            api.remove_container(c, force=True)
        return died - began, created - died, started - created

    def idle(self, daemon: Daemon, selector: dict[str, Any], row: Row) -> None:
        """The idle windows: with the daemon, then without it (the baseline)."""
        assert daemon.proc is not None
        ids = {c["Id"] for c in self.containers(selector, running=True)}
        shims = shim_pids(ids)
        own, engine, tasks = (
            CpuWindow([daemon.proc.pid]),
            CpuWindow(self.engine_pids),
            CpuWindow(shims),
        )
        time.sleep(self.args.idle)  # measuring idleness is the point: nothing to wait for
        row.daemon_cpu, with_engine, with_shims = own.share(), engine.share(), tasks.share()
        row.rss = daemon.rss_mib()
        daemon.stop()  # its tasks keep running: the baseline has the same containers
        left = {c["Id"] for c in self.containers(selector, running=True)}
        if left != ids:
            print(f"  (note: {len(ids - left)} of {len(ids)} tasks stopped with the daemon)")
        time.sleep(5)  # the engine settles after the daemon's streams close
        engine, tasks = CpuWindow(self.engine_pids), CpuWindow(shims)
        time.sleep(self.args.idle)
        row.engine_above = with_engine - engine.share()
        row.shims_above = with_shims - tasks.share()

    def remove(self, selector: dict[str, Any]) -> None:
        remove_all(self.clients, selector)


def print_table(args: argparse.Namespace, rows: list[Row]) -> None:
    how = "first apply (daemon on an empty directory)" if args.first_apply else "scale 0 -> N"
    engines = "one engine" if args.engines == 1 else f"{args.engines} engines"
    print(
        f"0 -> N tasks, {how}, {engines}, parallelism {args.parallelism}, "
        f"medians of {args.rounds} rounds; {args.kills} kills; idle window {args.idle:g} s"
    )
    calls = " ".join(f"{op:>7}" for op in (*OPERATIONS, "other"))
    print(
        f"{'':>5} {'0 -> N, seconds':^23}  | {'engine calls per task':^47} | {'kill':^13} | "
        f"{'idle, % of a core':^31}  | {'RSS':>5}"
    )
    print(
        f"{'tasks':>5} {'raw':>7} {'Skiff':>7} {'ratio':>7}  | {calls} | {'ms':>6} {'raw':>6} | "
        f"{'daemon':>7} {'engine+':>7} {'shims+':>7} {'total':>7}  | {'MiB':>5}"
    )
    for row in rows:
        raw, skiff = statistics.median(row.raw), statistics.median(row.skiff)
        other = sum(v for op, v in row.calls.items() if op not in OPERATIONS)
        per = " ".join(f"{row.calls.get(op, 0.0):7.2f}" for op in OPERATIONS) + f" {other:7.2f}"
        total = row.daemon_cpu + row.engine_above + row.shims_above
        kill = statistics.median(row.kills) * 1000 if row.kills else float("nan")
        floor = statistics.median(row.raw_kills) * 1000 if row.raw_kills else float("nan")
        print(
            f"{row.n:>5} {raw:7.2f} {skiff:7.2f} {skiff / raw:7.3f}  | {per} | "
            f"{kill:6.0f} {floor:6.0f} | "
            f"{row.daemon_cpu * 100:7.2f} {row.engine_above * 100:7.2f} "
            f"{row.shims_above * 100:7.2f} {total * 100:7.2f}  | {row.rss:5.1f}"
        )
    for row in rows:
        rounds = "raw " + ", ".join(f"{t:.2f}" for t in row.raw)
        rounds += "; Skiff " + ", ".join(f"{t:.2f}" for t in row.skiff)
        others = ", ".join(
            f"{op} {v:.3f}" for op, v in sorted(row.calls.items()) if op not in OPERATIONS
        )
        spread = f"; tasks per engine {'/'.join(map(str, row.spread))}" if args.engines > 1 else ""
        print(f"  {row.n}: rounds {rounds}; other calls per task: {others or 'none'}{spread}")
        for who, phases in (("Skiff", row.phases), ("raw", row.raw_phases)):
            if phases:
                die, create, start = (
                    statistics.median(p) * 1000 for p in zip(*phases, strict=True)
                )
                print(
                    f"  {row.n}: a kill's phases, {who} (medians, ms): kill -> die {die:.0f}, "
                    f"die -> replacement created {create:.0f}, created -> started {start:.0f}"
                )
    print("  targets (issue 23): ratio <= 1.10, <= 3 calls per task brought up, kill < 500 ms,")
    print("  idle total < 1 % of a core and RSS < 150 MiB at 1,000 tasks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="50", help="task counts, comma-separated (50,200,500,1000)")
    ap.add_argument("--first-apply", action="store_true", help="each round a new daemon")
    ap.add_argument("--engines", type=int, default=1, help="engines on this machine (1 or more)")
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of each idle window")
    ap.add_argument(
        "--daemon-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="one more flag for the daemon, as --daemon-arg=--metrics-period=3600 (repeatable)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    root = Path(tempfile.mkdtemp(prefix="skiff-bench-engines-"))
    extra: list[Dockerd] = []
    rows = []
    try:
        extra = start_engines(root, args.engines - 1) if args.engines > 1 else []
        bench = Bench(args, extra)
        for n in sizes:
            rows.append(bench.size(n))
    finally:
        for d in extra:
            d.destroy()
        shutil.rmtree(root, ignore_errors=True)
        if rows:
            print_table(args, rows)


if __name__ == "__main__":
    main()
