"""Fleet benchmark: an Auto Scaling group against raw Docker on the same engine, in the same run.

Prints, as ratios against raw Docker measured alongside:
  1. 0 -> N instances of a group (each a container with CPU and memory limits and a named
     `ebs` volume) until all N containers run, versus the same N volumes and containers
     created and started straight through the Docker API with the same parallelism; and until
     the group reports N InService;
  2. the median time from killing an instance's container to its replacement running, with
     the status-check interval used (EC2 health checks replace an impaired instance).

Nothing is asserted: the figures are printed.

    python benchmarks/fleet.py [--instances 20] [--parallelism 10] [--rounds 3] [--kills 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from common import COMMAND, IMAGE, Daemon, Starts, wait_until

from tests.support.documents import asg_doc, dump, launch_template_doc

VCPUS, MEMORY_MIB = 0.1, 32


def group_manifest(name: str, capacity: int) -> str:
    """Launch template and group `name` of `capacity` instances, each with a root volume."""
    template = launch_template_doc(
        name,
        imageId=IMAGE,
        instanceType="custom",
        customInstanceType={"vCpus": VCPUS, "memoryMiB": MEMORY_MIB},
        rootVolume={"type": "ebs", "mountPath": "/data"},
        command=COMMAND,
    )
    group = asg_doc(
        name,
        launchTemplate={"launchTemplateName": name},
        minSize=0,
        maxSize=max(capacity, 1),
        desiredCapacity=capacity,
        availabilityZones=["local"],
    )
    return dump(template, group)


def raw_round(client: docker.DockerClient, n: int, parallelism: int, tag: str) -> float:
    """n volumes and containers, limited as the instances are, created and started P at once."""
    api = client.api

    def one(i: int) -> str:
        volume = f"bench-raw-{tag}-{i}"
        api.create_volume(volume, labels={"skiff-bench": tag})
        c = api.create_container(
            IMAGE,
            COMMAND,
            name=f"bench-raw-{tag}-{i}",
            labels={"skiff-bench": tag},
            host_config=api.create_host_config(
                nano_cpus=int(VCPUS * 1e9),
                mem_limit=f"{MEMORY_MIB}m",
                binds={volume: {"bind": "/data", "mode": "rw"}},
            ),
        )
        api.start(c["Id"])
        return str(c["Id"])

    started = time.monotonic()
    with ThreadPoolExecutor(parallelism) as pool:
        ids = list(pool.map(one, range(n)))
    elapsed = time.monotonic() - started
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(lambda cid: api.remove_container(cid, force=True, v=True), ids))
    for v in api.volumes(filters={"label": f"skiff-bench={tag}"})["Volumes"] or []:
        api.remove_volume(v["Name"], force=True)
    return elapsed


def group(daemon: Daemon, name: str) -> dict[str, Any]:
    doc = json.loads(daemon.get("/v1/status"))
    return next(
        (r for r in doc["resources"] if r["kind"] == "AutoScalingGroup" and r["name"] == name),
        {},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--status-check-interval", type=float, default=5.0)
    args = ap.parse_args()

    client = docker.from_env()
    cluster = f"bench{uuid.uuid4().hex[:6]}"
    name, n = "fleet", args.instances
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    interval = ["--status-check-interval", str(args.status_check_interval)]
    daemon = Daemon(root, cluster, args.parallelism, extra=interval)
    starts = Starts(client, f"skiff.cluster={cluster}")
    selector = {"label": [f"skiff.cluster={cluster}"]}

    def running() -> list[dict[str, Any]]:
        return list(client.api.containers(filters={**selector, "status": ["running"]}))

    try:
        daemon.write("svc.yaml", group_manifest(name, 0))
        daemon.wait_ready()
        skiff_times, in_service_times, raw_times = [], [], []
        for r in range(args.rounds):
            raw_times.append(raw_round(client, n, args.parallelism, f"{cluster}-{r}"))
            starts.drain()
            began = time.monotonic()
            daemon.write("svc.yaml", group_manifest(name, n))
            skiff_times.append(starts.wait(n)[-1][0] - began)
            wait_until(lambda: group(daemon, name).get("inServiceCount") == n, 120, "InService")
            in_service_times.append(time.monotonic() - began)
            if r < args.rounds - 1:
                daemon.write("svc.yaml", group_manifest(name, 0))
                wait_until(lambda: not running(), 120, "scale-in to 0")

        latencies = []
        for _ in range(args.kills):
            victim = min(running(), key=lambda c: c["Created"])["Id"]
            starts.drain()
            began = time.monotonic()
            client.api.kill(victim)
            latencies.append(starts.wait(1)[0][0] - began)
            wait_until(lambda: group(daemon, name).get("inServiceCount") == n, 60, "InService")
    finally:
        starts.close()
        daemon.stop()
        for c in client.api.containers(all=True, filters=selector):
            client.api.remove_container(c["Id"], force=True)
            for m in c["Mounts"]:
                if m.get("Type") == "volume":
                    client.api.remove_volume(m["Name"], force=True)

    raw_med = statistics.median(raw_times)
    skiff_med, svc_med = statistics.median(skiff_times), statistics.median(in_service_times)
    print(f"0 -> {n} instances (ebs volume, CPU and memory limits), parallelism {args.parallelism}")
    print(f"  raw Docker API         {raw_med:7.3f} s   rounds: {_list(raw_times)}")
    print(f"  Skiff, all running     {skiff_med:7.3f} s   rounds: {_list(skiff_times)}")
    print(f"  Skiff, all InService   {svc_med:7.3f} s   rounds: {_list(in_service_times)}")
    print(f"  ratio running/raw      {skiff_med / raw_med:7.3f}")
    print(f"  ratio InService/raw    {svc_med / raw_med:7.3f}")
    print(
        f"kill -> replacement running, {args.kills} kills, "
        f"status checks every {args.status_check_interval:g} s"
    )
    median_ms, max_ms = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(f"  median {median_ms:7.1f} ms   max {max_ms:.1f} ms")


def _list(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


if __name__ == "__main__":
    main()
