"""Rollout benchmark: a 20-task service from revision 1 to 2 under ECS's default 100/200,
through Skiff, against the same replacement done by hand through the Docker API, in one run.

By hand means what a careful operator would script with the same parallelism: start 20 new
containers, then stop (SIGTERM) and remove the 20 old ones. Both are timed from the change to
the moment the last old container has exited with all new ones started, on Docker's events.
Nothing is asserted: the figures and their ratio are printed.

    python benchmarks/rollout.py [--tasks 20] [--parallelism 10] [--rounds 3]
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


def by_hand(client: docker.DockerClient, n: int, parallelism: int, tag: str) -> float:
    api = client.api
    label = {"skiff-bench": tag}

    def launch(i: int, version: str) -> str:
        c = api.create_container(
            IMAGE,
            COMMAND,
            name=f"bench-{tag}-{version}-{i}",
            labels=label,
            environment={"VERSION": version},
            host_config=api.create_host_config(mem_reservation="16m"),
        )
        api.start(c["Id"])
        return str(c["Id"])

    with ThreadPoolExecutor(parallelism) as pool:
        old = list(pool.map(lambda i: launch(i, "v1"), range(n)))
        began = time.monotonic()
        new = list(pool.map(lambda i: launch(i, "v2"), range(n)))

        def retire(cid: str) -> None:
            api.kill(cid, signal="SIGTERM")
            api.wait(cid, timeout=30)
            api.remove_container(cid)

        list(pool.map(retire, old))
        elapsed = time.monotonic() - began
        list(pool.map(lambda cid: api.remove_container(cid, force=True), new))
    return elapsed


def through_skiff(
    client: docker.DockerClient, daemon: Daemon, name: str, n: int, version: str, cluster: str
) -> float:
    old_revision = f"{name}:{int(version[1:]) - 1}"
    new_revision = f"{name}:{version[1:]}"
    starts = Starts(client, [f"skiff.cluster={cluster}", f"skiff.revision={new_revision}"])
    dies = Starts(client, [f"skiff.cluster={cluster}", f"skiff.revision={old_revision}"], "die")
    try:
        began = time.monotonic()
        daemon.write(manifest(name, n, version))
        last_start = starts.wait(n)[-1][0]
        last_die = dies.wait(n)[-1][0]
        return max(last_start, last_die) - began
    finally:
        starts.close()
        dies.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    client = docker.from_env()
    cluster, name, n = f"bench{uuid.uuid4().hex[:6]}", "roll", args.tasks
    daemon = Daemon(Path(tempfile.mkdtemp(prefix="skiff-rollout-")), cluster, args.parallelism)
    selector = {"label": [f"skiff.cluster={cluster}"]}
    skiff_times, hand_times = [], []
    try:
        daemon.write(manifest(name, n, "v1"))
        daemon.wait_ready()
        wait_until(lambda: daemon.service(name).get("steadyState"), 120, f"{n} steady tasks")
        for r in range(args.rounds):
            hand_times.append(by_hand(client, n, args.parallelism, f"{cluster}-{r}"))
            skiff_times.append(through_skiff(client, daemon, name, n, f"v{r + 2}", cluster))
            wait_until(lambda: daemon.service(name).get("steadyState"), 120, "steady again")
    finally:
        daemon.stop()
        for c in client.api.containers(all=True, filters=selector):
            client.api.remove_container(c["Id"], force=True)

    skiff_med, hand_med = statistics.median(skiff_times), statistics.median(hand_times)
    print(
        f"rollout of {n} tasks, revision N -> N+1 under 100/200, parallelism {args.parallelism}, "
        f"{args.rounds} rounds (median)"
    )
    for label, median, times in (
        ("by hand (Docker API)", hand_med, hand_times),
        ("Skiff", skiff_med, skiff_times),
    ):
        rounds = ", ".join(f"{t:.3f}" for t in times)
        print(f"  {label:<20} {median:7.3f} s   rounds: {rounds}")
    print(f"  ratio Skiff/by hand  {skiff_med / hand_med:7.3f}")


if __name__ == "__main__":
    main()
