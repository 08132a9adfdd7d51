"""Rollout benchmark: a service of --tasks tasks (20 by default; the issue 23 size is 500) from
one revision to the next under ECS's default 100/200, through Skiff, against the same
replacement done by hand through the Docker API, in one run, under ECS's rule for when a new
task counts as healthy.

By hand means what a careful operator would script with the same parallelism, keeping every
old container until a new one counts as healthy, as minimumHealthyPercent 100 asks: start N
new containers; each time one of them counts as healthy, stop (SIGTERM) one old container.
Two cases, each timed by hand and through Skiff:
- no health check: a new container counts once it has been running --healthy-after seconds
  (ECS waits 40 s; Skiff runs with --healthy-after-seconds set to the same value);
- a container health check (`CMD true`, interval 5 s, ECS's smallest): it counts once Docker
  reports it healthy.
Both are timed from the change to the moment the last old container has exited with all new
ones started, on Docker's events (by hand: on the return of the wait for the exit). The by-hand
rounds run on an extra dockerd of their own on this machine (same binary, its own bridge), as
Skiff's N tasks stay up on the main engine meanwhile: 3N containers on one bridge would pass the
1,024 ports a Linux bridge takes at N = 500, and a dockerd 20.10 holding 1,000 containers has
twice hung on removals after a by-hand round; an engine of its own is destroyed whole after.
Nothing is asserted: the figures and their ratio are printed.

    python benchmarks/rollout.py [--tasks 20] [--parallelism 10] [--rounds 3] [--healthy-after 5]
        [--cases plain,checked]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import docker
from common import (
    COMMAND,
    IMAGE,
    Daemon,
    Starts,
    manifest,
    remove_all,
    start_engines,
    steady,
    wait_until,
)

# The container health check of the second case, as a manifest field and as Docker takes it.
CHECK = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}
DOCKER_CHECK = {"test": ["CMD", "true"], "interval": 5 * 10**9, "timeout": 2 * 10**9, "retries": 1}


def by_hand(
    client: docker.DockerClient,
    n: int,
    parallelism: int,
    tag: str,
    after: float,
    checked: bool,
) -> float:
    api = client.api
    label = {"skiff-bench": tag}

    def launch(i: int, version: str) -> tuple[str, float]:
        c = api.create_container(
            IMAGE,
            COMMAND,
            name=f"bench-{tag}-{version}-{i}",
            labels={**label, "skiff-bench-version": version},
            environment={"VERSION": version},
            host_config=api.create_host_config(mem_reservation="16m"),
            healthcheck=DOCKER_CHECK if checked else None,
        )
        api.start(c["Id"])
        return str(c["Id"]), time.monotonic()

    exits: list[float] = []

    def retire(cid: str) -> None:
        api.kill(cid, signal="SIGTERM")
        api.wait(cid, timeout=300)  # a dockerd busy with 1,000 containers answers late
        exits.append(time.monotonic())

    new_label = [f"skiff-bench={tag}", "skiff-bench-version=v2"]
    healthy = Starts(client, new_label, "health_status") if checked else None
    with ThreadPoolExecutor(parallelism) as pool:
        old = [cid for cid, _ in pool.map(lambda i: launch(i, "v1"), range(n))]
        began = time.monotonic()
        new = list(pool.map(lambda i: launch(i, "v2"), range(n)))
        retiring: list[Future[None]] = []
        left = list(old)
        for started in sorted(at for _, at in new):
            if healthy is not None:
                healthy.wait(1)  # the next new container Docker reports healthy
            else:
                time.sleep(max(0.0, started + after - time.monotonic()))  # the rule is a timer
            retiring.append(pool.submit(retire, left.pop()))
        for f in retiring:
            f.result()
        elapsed = max(exits) - began
    if healthy is not None:
        healthy.close()
    remove_all(client, {"label": [f"skiff-bench={tag}"]})  # untimed
    return elapsed


def patience(n: int) -> float:
    """Seconds to wait for n tasks' worth of work: generous, and linear in n."""
    return 180 + 1.0 * n


def through_skiff(
    client: docker.DockerClient, daemon: Daemon, text: str, name: str, n: int, revision: int
) -> float:
    cluster = daemon.cluster
    starts = Starts(client, [f"skiff.cluster={cluster}", f"skiff.revision={name}:{revision}"])
    dies = Starts(
        client, [f"skiff.cluster={cluster}", f"skiff.revision={name}:{revision - 1}"], "die"
    )
    try:
        began = time.monotonic()
        daemon.write("svc.yaml", text)
        last_start = starts.wait(n, timeout=patience(n))[-1][0]
        last_die = dies.wait(n, timeout=patience(n))[-1][0]
        return max(last_start, last_die) - began
    finally:
        starts.close()
        dies.close()


def service(name: str, n: int, revision: int, checked: bool) -> str:
    return manifest(name, n, f"v{revision}", health=CHECK if checked else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--healthy-after",
        type=float,
        default=5.0,
        help="seconds a new container with no health check runs before it counts (ECS: 40)",
    )
    ap.add_argument(
        "--cases",
        default="plain,checked",
        help="plain (no health check), checked (a container health check), or both: checked "
        "at 500 tasks is 100 health-check execs a second, more than 2 cores run alongside",
    )
    args = ap.parse_args()
    names = args.cases.split(",")
    if not names or any(c not in ("plain", "checked") for c in names):
        ap.error(f"--cases: {args.cases!r}: give plain, checked or plain,checked")
    cases = [c == "checked" for c in names]

    client = docker.from_env()
    cluster, name, n = f"bench{uuid.uuid4().hex[:6]}", "roll", args.tasks
    daemon = Daemon(
        Path(tempfile.mkdtemp(prefix="skiff-rollout-")),
        cluster,
        args.parallelism,
        extra=["--healthy-after-seconds", str(args.healthy_after)],
    )
    selector = {"label": [f"skiff.cluster={cluster}"]}

    def settled() -> bool:
        """The last revision written runs N tasks and nothing else runs: the daemon's own
        steadyState is its last pass's, which may come before it read the file."""
        up = client.api.containers(filters={**selector, "status": ["running"]})
        mine = [c for c in up if c["Labels"].get("skiff.revision") == f"{name}:{revision}"]
        return len(mine) == len(up) == n and steady(daemon, name)

    times: dict[tuple[bool, str], list[float]] = {}
    revision = 1
    root = Path(tempfile.mkdtemp(prefix="skiff-rollout-engine-"))
    hand_engines = []
    try:
        hand_engines = start_engines(root, 1)  # the by-hand rounds' own
        hand_client = hand_engines[0].engine.client()
        daemon.write("svc.yaml", service(name, n, revision, checked=cases[0]))
        daemon.wait_ready()
        for checked in cases:
            if checked and revision > 1:  # to the checked task definition, untimed
                revision += 1
                daemon.write("svc.yaml", service(name, n, revision, checked))
            wait_until(lambda: settled(), patience(n), f"{n} steady tasks of revision {revision}")
            for r in range(args.rounds):
                tag = f"{cluster}-{int(checked)}-{r}"
                hand = by_hand(hand_client, n, args.parallelism, tag, args.healthy_after, checked)
                times.setdefault((checked, "hand"), []).append(hand)
                revision += 1
                text = service(name, n, revision, checked)
                skiff = through_skiff(client, daemon, text, name, n, revision)
                times.setdefault((checked, "skiff"), []).append(skiff)
                wait_until(lambda: settled(), patience(n), f"revision {revision} steady")
    finally:
        try:
            daemon.stop()
        finally:
            remove_all(client, selector)
            for engine in hand_engines:
                engine.destroy()
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"rollout of {n} tasks, revision N -> N+1 under 100/200, parallelism {args.parallelism}, "
        f"{args.rounds} rounds (median)"
    )
    for checked, title in (
        (False, f"no health check, a new task counts {args.healthy_after:g} s after RUNNING"),
        (True, "container health check (CMD true, interval 5 s), counts once healthy"),
    ):
        if checked not in cases:
            continue
        print(f" {title}")
        medians = {}
        for who, label in (("hand", "by hand (Docker API)"), ("skiff", "Skiff")):
            runs = times[(checked, who)]
            medians[who] = statistics.median(runs)
            rounds = ", ".join(f"{t:.3f}" for t in runs)
            print(f"  {label:<20} {medians[who]:7.3f} s   rounds: {rounds}")
        print(f"  ratio Skiff/by hand  {medians['skiff'] / medians['hand']:7.3f}")


if __name__ == "__main__":
    main()
