"""Scaling benchmark: how fast a target tracking policy answers CPU load, in one run.

An Auto Scaling group of instances limited to 0.1 vCPU serves a CGI script that spins the CPU,
behind a listener; a target tracking policy keeps their average CPU at 50%. The script sends
requests from a few threads and prints the seconds from the load's start to the first
scale-out and to the group's maximum in service, then from the load's end to the scale-in
back to the minimum, with the metrics period used. For scale: the same number of new
instances started straight through the Docker API takes the time printed alongside.

    python benchmarks/scaling.py [--period 1] [--max 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import docker
from common import IMAGE, Daemon, wait_until

from tests.support.documents import (
    dump,
    load_balancer_doc,
)
from tests.support.scaling import cpu_tracked_group


def manifests(name: str, port: int, maximum: int) -> str:
    return dump(
        *cpu_tracked_group(name, maximum, IMAGE), load_balancer_doc(name, port, target_group=name)
    )


def group(daemon: Daemon, name: str) -> dict[str, Any]:
    doc = json.loads(daemon.get("/v1/status"))
    return next(
        (r for r in doc["resources"] if (r["kind"], r["name"]) == ("AutoScalingGroup", name)), {}
    )


def raw_starts(client: docker.DockerClient, n: int) -> float:
    """n containers with the same limits created and started at once, for scale."""
    api, tag = client.api, uuid.uuid4().hex[:6]
    began = time.monotonic()
    ids = []
    for i in range(n):
        c = api.create_container(
            IMAGE,
            ["sleep", "60"],
            name=f"bench-raw-{tag}-{i}",
            host_config=api.create_host_config(nano_cpus=100_000_000, mem_limit="64m"),
        )
        api.start(c["Id"])
        ids.append(c["Id"])
    elapsed = time.monotonic() - began
    for cid in ids:
        api.remove_container(cid, force=True)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--period", type=float, default=1.0, help="--metrics-period of the daemon")
    ap.add_argument("--max", type=int, default=3, help="the group's maxSize")
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()

    client = docker.from_env()
    cluster, name = f"bench{uuid.uuid4().hex[:6]}", "burner"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    extra = ["--metrics-period", str(args.period), "--status-check-interval", str(args.period)]
    daemon = Daemon(root, cluster, 10, extra=extra)
    stop = threading.Event()
    try:
        daemon.write("svc.yaml", manifests(name, port, args.max))
        daemon.wait_ready()
        wait_until(lambda: group(daemon, name).get("inServiceCount") == 1, 60, "one instance")
        wait_until(
            lambda: any(
                t["state"] == "healthy"
                for r in json.loads(daemon.get("/v1/status"))["resources"]
                if (r["kind"], r["name"]) == ("TargetGroup", name)
                for t in r.get("targets", [])
            ),
            60,
            "a healthy target",
        )

        def load() -> None:
            deadline = time.monotonic() + 300
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/burn", timeout=5):
                        pass
                except OSError:
                    stop.wait(0.1)

        threads = [threading.Thread(target=load, daemon=True) for _ in range(args.threads)]
        began = time.monotonic()
        for t in threads:
            t.start()
        wait_until(lambda: group(daemon, name).get("desiredCapacity", 1) > 1, 120, "scale-out")
        first = time.monotonic() - began
        wait_until(lambda: group(daemon, name).get("inServiceCount") == args.max, 120, "max")
        reached = time.monotonic() - began
        stop.set()
        for t in threads:
            t.join(timeout=10)
        ended = time.monotonic()
        wait_until(lambda: group(daemon, name).get("inServiceCount") == 1, 300, "scale-in")
        back = time.monotonic() - ended
    finally:
        stop.set()
        daemon.stop()
        for c in client.api.containers(all=True, filters={"label": f"skiff.cluster={cluster}"}):
            client.api.remove_container(c["Id"], force=True)
        pid = root / "data" / "haproxy" / "haproxy.pid"
        if pid.exists():
            os.kill(int(pid.read_text().split()[0]), signal.SIGTERM)
    raw = raw_starts(client, args.max - 1)
    print(f"target tracking on CPU (target 50%), metrics period {args.period:g} s,")
    print(f"scale-out after 3 periods above, scale-in after 15 below; group 1..{args.max}")
    print(f"  load start -> first scale-out        {first:6.1f} s")
    print(f"  load start -> {args.max} InService            {reached:6.1f} s")
    print(f"  load end   -> back to 1 InService    {back:6.1f} s")
    print(f"  for scale: {args.max - 1} containers started straight through Docker: {raw:.2f} s")


if __name__ == "__main__":
    main()
