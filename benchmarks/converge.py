"""Converge benchmark: Skiff against raw Docker on the same engine, in the same run.

Prints, as ratios against raw Docker measured alongside:
  1. 0 -> 50 tasks of a one-container service through Skiff, versus the same 50 containers
     created and started directly through the Docker API with the same parallelism;
  2. the median time from killing a task's container (one that has run 11 s or more) to its
     replacement running;
  3. the daemon's CPU (share of one core) and RSS while idle for 30 s with 50 tasks up.

Targets (issue #2): Skiff within 1.15x of raw Docker, replacement under 1 s median, idle CPU
under 1% of a core, RSS under 150 MB. Nothing is asserted: the figures are printed.

    python benchmarks/converge.py [--tasks 50] [--parallelism 10] [--rounds 3] [--idle 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from common import COMMAND, IMAGE, Daemon, Starts, manifest, wait_until


def raw_round(client: docker.DockerClient, n: int, parallelism: int, tag: str) -> float:
    """n containers created and started straight through the Docker API, P at a time."""
    api = client.api
    labels = {"skiff-bench": tag}

    def one(i: int) -> str:
        c = api.create_container(
            IMAGE,
            COMMAND,
            name=f"bench-raw-{tag}-{i}",
            labels=labels,
            host_config=api.create_host_config(mem_reservation="16m"),
        )
        api.start(c["Id"])
        return str(c["Id"])

    started = time.monotonic()
    with ThreadPoolExecutor(parallelism) as pool:
        ids = list(pool.map(one, range(n)))
    elapsed = time.monotonic() - started
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(lambda cid: api.remove_container(cid, force=True), ids))
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--idle", type=float, default=30.0)
    args = ap.parse_args()

    client = docker.from_env()
    cluster = f"bench{uuid.uuid4().hex[:6]}"
    name = "bench"
    n = args.tasks
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    daemon = Daemon(root, cluster, args.parallelism)
    starts = Starts(client, f"skiff.cluster={cluster}")
    selector = {"label": [f"skiff.cluster={cluster}"]}
    try:
        daemon.write("svc.yaml", manifest(name, 0))
        daemon.wait_ready()
        skiff_times, raw_times = [], []
        for r in range(args.rounds):
            raw_times.append(raw_round(client, n, args.parallelism, f"{cluster}-{r}"))
            starts.drain()
            began = time.monotonic()
            daemon.write("svc.yaml", manifest(name, n))
            skiff_times.append(starts.wait(n)[-1][0] - began)
            if r < args.rounds - 1:
                daemon.write("svc.yaml", manifest(name, 0))
                wait_until(
                    lambda: not client.api.containers(filters={**selector, "status": ["running"]}),
                    120,
                    "scale-in to 0",
                )
        wait_until(lambda: daemon.service(name).get("steadyState"), 60, f"{n} steady tasks")

        # Replacement: kill a task's container, time until a new task container runs.
        latencies = []
        for _ in range(args.kills):
            # The oldest task, once it has run 11 s: a task dying sooner counts as failing to
            # start and is relaunched with a growing delay on purpose (Docker's restart policy
            # draws the same 10 s line).
            up = client.api.containers(filters={**selector, "status": ["running"]})
            oldest = min(up, key=lambda c: c["Created"])
            time.sleep(max(0.0, oldest["Created"] + 11 - time.time()))
            victim = oldest["Id"]
            starts.drain()
            began = time.monotonic()
            client.api.kill(victim)
            latencies.append(starts.wait(1)[0][0] - began)
            wait_until(lambda: daemon.service(name).get("steadyState"), 30, "steady after a kill")

        # Idle: 50 tasks up, nothing to do.
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        time.sleep(args.idle)  # measuring idleness is the point: nothing to wait for
        cpu = (daemon.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        rss = daemon.rss_mib()
    finally:
        starts.close()
        daemon.stop()
        for c in client.api.containers(all=True, filters=selector):
            client.api.remove_container(c["Id"], force=True)

    skiff_med, raw_med = statistics.median(skiff_times), statistics.median(raw_times)
    print(f"0 -> {n} tasks, parallelism {args.parallelism}, {args.rounds} rounds (median)")
    print(
        f"  raw Docker API   {raw_med:7.3f} s   rounds: {', '.join(f'{t:.3f}' for t in raw_times)}"
    )
    rounds = ", ".join(f"{t:.3f}" for t in skiff_times)
    print(f"  Skiff            {skiff_med:7.3f} s   rounds: {rounds}")
    print(f"  ratio Skiff/raw  {skiff_med / raw_med:7.3f}    (target <= 1.15)")
    print(f"kill -> replacement running, {args.kills} kills")
    median_ms, max_ms = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(f"  median {median_ms:7.1f} ms   max {max_ms:.1f} ms   (target < 1000 ms)")
    print(f"idle {args.idle:.0f} s with {n} tasks up")
    print(f"  CPU {cpu * 100:6.2f} % of a core   (target < 1 %)")
    print(f"  RSS {rss:6.1f} MiB          (target < 150 MB)")


if __name__ == "__main__":
    main()
