"""Resync benchmark: what one no-op pass over everything costs with 500 tasks on 3 engines.

Three engines: this machine's dockerd and two extra dockerd started here (each its own data
root, bridge and socket), removed at the end. Five services of 100 one-container busybox tasks
each (network mode none) spread over them, all converged. Then:

  1. the daemon, idle for --idle seconds (its default resync every 30 s, its metrics collection
     every 60 s): its CPU (share of one core) and RSS, and from its own histogram
     `skiff_reconcile_duration_seconds`, the time all keys' reconciles took per resync;
  2. in-process, with the daemon stopped, a Controller on the same data directory and the real
     DockerRuntime on the same three engines: the wall time of one resync (list the three
     engines, inspect what changed, queue every key) and of one pass that reconciles every key
     once on one worker (a no-op: every write operation must count 0), median of --passes;
     and where such a pass goes (cProfile: functions by own time, and controller code by
     cumulative time).

Goal (issue 12): the no-op pass under 200 ms. Nothing is asserted: the figures are printed.

    python benchmarks/resync.py [--tasks 500] [--services 5] [--idle 60] [--passes 7]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from common import HEALTHY_AFTER, IMAGE, Daemon, hosts_yaml, scrape, start_engines, wait_until

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's controller and test engines, not an installed one
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])

from controller.catalog import CATALOG, load_directory  # noqa: E402
from controller.cloudwatch.sync.collect import collect  # noqa: E402
from controller.core.controller import Controller  # noqa: E402
from controller.core.settings import Settings  # noqa: E402
from controller.daemon import docker_runtime  # noqa: E402
from controller.store import Store  # noqa: E402
from controller.telemetry import Metrics  # noqa: E402
from tests.support.documents import dump, service_doc, td_doc  # noqa: E402
from tests.support.engines import Dockerd  # noqa: E402

WRITES = ("create", "start", "restart", "kill", "remove", "remove_volume", "pull_image")


def services_yaml(prefix: str, services: int, tasks: int) -> str:
    """`services` services PREFIX0.. sharing `tasks` one-container tasks, network mode none."""
    app = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"],
        "memoryReservation": 6,
        "stopTimeout": 2,
    }
    docs = []
    for i in range(services):
        name = f"{prefix}{i}"
        docs.append(td_doc(name, networkMode="none", containerDefinitions=[app]))
        docs.append(service_doc(name, taskDefinition=name, desiredCount=tasks // services))
    return dump(*docs)


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    return sum(
        v
        for k, v in metrics.items()
        if k.split("{")[0] == name and all(f'{a}="{b}"' in k for a, b in labels.items())
    )


def per_kind(metrics: dict[str, float], name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k.split("{")[0] == name and (m := re.search(r'kind="([^"]+)"', k)):
            out[m[1]] = out.get(m[1], 0.0) + v
    return out


def steady(daemon: Daemon | None, names: list[str]) -> bool:
    """Every service steady; a slow answer (a busy machine) is a no for now."""
    try:
        return daemon is not None and all(daemon.service(n).get("steadyState") for n in names)
    except OSError:
        return False


def idle_figures(daemon: Daemon, seconds: float) -> dict[str, float]:
    before, cpu0, t0 = scrape(daemon), daemon.cpu_seconds(), time.monotonic()
    time.sleep(seconds)  # measuring idleness is the point: nothing to wait for
    after, cpu1, t1 = scrape(daemon), daemon.cpu_seconds(), time.monotonic()
    name = "skiff_reconcile_duration_seconds_sum"
    spent = {k: v - per_kind(before, name).get(k, 0.0) for k, v in per_kind(after, name).items()}
    lists = total(after, "skiff_docker_api_calls_total", operation="list") - total(
        before, "skiff_docker_api_calls_total", operation="list"
    )
    resyncs = max(1.0, lists / 3)  # one list per engine per resync
    keys = total(after, "skiff_reconcile_total") - total(before, "skiff_reconcile_total")
    return {
        "cpu": (cpu1 - cpu0) / (t1 - t0),
        "rss": daemon.rss_mib(),
        "resyncs": lists / 3,
        "per_resync": sum(spent.values()) / resyncs,
        "keys_per_resync": keys / resyncs,
        "service_per_resync": spent.get("Service", 0.0) / resyncs,
        "monitoring": spent.get("Monitoring", 0.0),
        "stats": total(after, "skiff_docker_api_calls_total", operation="stats")
        - total(before, "skiff_docker_api_calls_total", operation="stats"),
    }


def in_process(root: Path, cluster: str, passes: int) -> dict[str, Any]:
    """The daemon's controller in this process on the same data directory and engines, with
    the metrics collection (once a minute in the daemon) left out of the passes and timed
    once on its own."""
    store = Store.in_data_dir(str(root / "data"))
    metrics = Metrics()
    settings = Settings(
        cluster=cluster,
        dataplane_dir=str(root / "data" / "haproxy"),
        monitoring=False,
        healthy_after_seconds=HEALTHY_AFTER,  # as the daemon that made these tasks
    )
    ctl = Controller(store, metrics, docker_runtime, settings, catalog=CATALOG)
    try:
        ctl.restore()
        began = time.perf_counter()
        ctl.apply_manifests(load_directory(str(root / "manifests")))  # connect, list, inspect
        connect = time.perf_counter() - began
        began = time.perf_counter()
        ctl.enqueue_all()
        ctl.run_until_idle()
        first = time.perf_counter() - began
        resyncs, runs, keys = [], [], 0
        for _ in range(passes):
            t0 = time.perf_counter()
            ctl.resync()
            t1 = time.perf_counter()
            keys = ctl.run_until_idle()
            t2 = time.perf_counter()
            resyncs.append(t1 - t0)
            runs.append(t2 - t1)
        profile = cProfile.Profile()
        profile.enable()
        ctl.resync()
        ctl.run_until_idle()
        profile.disable()
        writes = sum(
            metrics.registry.get_sample_value(
                "skiff_docker_api_calls_total", {"host": h, "operation": op, "outcome": "success"}
            )
            or 0.0
            for h in ctl.hosts
            for op in WRITES
        )
        began = time.perf_counter()
        collect(ctl, time.time())  # docker stats of every running task, as once a minute
        collection = time.perf_counter() - began
        stats_calls = sum(
            metrics.registry.get_sample_value(
                "skiff_docker_api_calls_total", {"host": h, "operation": "stats", "outcome": o}
            )
            or 0.0
            for h in ctl.hosts
            for o in ("success", "Conflict", "EngineUnavailable", "NotFound")
        )
        return {
            "connect": connect,
            "first": first,
            "resync": statistics.median(resyncs),
            "pass": statistics.median(runs),
            "passes": runs,
            "keys": keys,
            "writes": writes,
            "tasks": len(ctl.observed_tasks()),
            "profile": profile,
            "collection": collection,
            "stats_calls": stats_calls,
        }
    finally:
        ctl.stop()
        store.close()


def print_profile(profile: cProfile.Profile) -> None:
    for order, title, only in (
        ("tottime", "own time, top 12", None),
        ("cumulative", "controller code by cumulative time, top 14", "controller"),
    ):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats(order)
        if only:
            stats.print_stats(only, 14)
        else:
            stats.print_stats(12)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"  profile of one resync + pass, {title}:")
        for line in lines[start : start + 16]:
            if line.strip():
                print("    " + line.replace(str(ROOT) + "/", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--services", type=int, default=5)
    ap.add_argument("--engines", type=int, default=2, help="extra dockerd besides this one")
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--passes", type=int, default=7)
    args = ap.parse_args()

    client = docker.from_env()
    cluster = f"bench{uuid.uuid4().hex[:6]}"
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-resync-"))
    engines: list[Dockerd] = []
    daemon: Daemon | None = None
    try:
        engines = start_engines(root, args.engines)
        daemon = Daemon(root, cluster, args.parallelism)
        (daemon.manifests / "hosts.yaml").write_text(hosts_yaml(engines))
        (daemon.manifests / "services.yaml").write_text(
            services_yaml("svc", args.services, args.tasks)
        )
        daemon.wait_ready()
        began = time.monotonic()
        names = [f"svc{i}" for i in range(args.services)]
        wait_until(lambda: steady(daemon, names), 900, f"{args.tasks} steady tasks")
        converged = time.monotonic() - began
        idle = idle_figures(daemon, args.idle)
        daemon.stop()
        daemon = None
        inproc = in_process(root, cluster, args.passes)
    finally:
        if daemon is not None:
            daemon.stop()
        ids = [
            c["Id"]
            for c in client.api.containers(
                all=True, filters={"label": [f"skiff.cluster={cluster}"]}
            )
        ]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda cid: client.api.remove_container(cid, force=True), ids))
        for d in engines:
            d.destroy()

    n = args.tasks
    print(f"{n} tasks in {args.services} services on {args.engines + 1} engines")
    print(f"  converged from nothing in {converged:.1f} s")
    print(f"daemon idle {args.idle:.0f} s (resync every 30 s, metrics every 60 s)")
    print(f"  CPU {idle['cpu'] * 100:6.2f} % of a core   RSS {idle['rss']:.1f} MiB")
    print(
        f"  {idle['resyncs']:.1f} resyncs; reconciles per resync: {idle['keys_per_resync']:.0f} "
        f"keys, {idle['per_resync'] * 1000:.1f} ms summed over them "
        f"(Services {idle['service_per_resync'] * 1000:.1f} ms)"
    )
    print(
        f"  metrics collection: {idle['stats']:.0f} docker stats calls in the window, "
        f"{idle['monitoring']:.1f} s of finished Monitoring passes"
    )
    print(f"in-process, real DockerRuntime, {inproc['tasks']} tasks observed")
    print(f"  connect (list + inspect every container)  {inproc['connect'] * 1000:8.1f} ms")
    print(f"  first pass                                {inproc['first'] * 1000:8.1f} ms")
    print(f"  resync (list 3 engines, queue every key)  {inproc['resync'] * 1000:8.1f} ms  median")
    runs = ", ".join(f"{t * 1000:.0f}" for t in inproc["passes"])
    print(
        f"  no-op pass, {inproc['keys']} keys, one worker  {inproc['pass'] * 1000:8.1f} ms  median "
        f"(passes: {runs} ms; goal < 200 ms)"
    )
    print(f"  Docker writes during the passes: {inproc['writes']:.0f}")
    print(
        f"  one metrics collection ({inproc['stats_calls']:.0f} docker stats, parallelism 10): "
        f"{inproc['collection']:.1f} s   (it runs every 60 s)"
    )
    print_profile(inproc["profile"])


if __name__ == "__main__":
    main()
