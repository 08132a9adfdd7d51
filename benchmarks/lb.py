"""Load balancer benchmark: requests per second and p50/p99 latency through a Skiff listener
(HAProxy) in front of one task, against the same task straight on its published port, with
the same client (wrk, from Debian's package) in the same run; and the TIME_WAIT sockets each
path leaves (a balancer that reconnects for every request piles them up until the ephemeral
ports run out). The task is `skiff/nginx` (scripts/build-images.sh): a keep-alive server whose
own cost does not hide the balancer's. Nothing is asserted.

    python benchmarks/lb.py [--seconds 10] [--connections 32] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import docker
from common import Daemon, wait_until

from tests.support.daemon import free_port
from tests.support.documents import dump, load_balancer_doc, service_doc, target_group_doc, td_doc

TARGET = "skiff/nginx:latest"  # answers "200 ok" on 8080, keep-alive


def manifests(name: str, port: int) -> str:
    """Service `name` of one TARGET task behind target group and load balancer `name` (on
    `port`)."""
    web = {
        "name": "web",
        "image": TARGET,
        "memoryReservation": 32,
        "portMappings": [{"containerPort": 8080}],
        "stopTimeout": 2,
    }
    target = {"targetGroup": name, "containerName": "web", "containerPort": 8080}
    check = {"intervalSeconds": 5, "timeoutSeconds": 2, "healthyThresholdCount": 2}
    return dump(
        td_doc(name, containerDefinitions=[web]),
        service_doc(name, taskDefinition=name, desiredCount=1, loadBalancers=[target]),
        target_group_doc(name, healthCheck=check),
        load_balancer_doc(name, port, target_group=name),
    )


def time_wait() -> int:
    """TCP sockets in TIME_WAIT on this machine."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True, text=True)
    return len(out.stdout.splitlines())


def wrk(url: str, seconds: int, connections: int, threads: int) -> tuple[float, ...]:
    """(requests per second, p50 ms, p99 ms, TIME_WAIT sockets added)."""
    before = time_wait()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, pct("50"), pct("99"), float(time_wait() - before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    client = docker.from_env()
    cluster, name, port = f"bench{uuid.uuid4().hex[:6]}", "lbbench", free_port()
    root = Path(tempfile.mkdtemp(prefix="skiff-lb-"))
    daemon = Daemon(root, cluster, 4)
    try:
        daemon.write("svc.yaml", manifests(name, port))
        daemon.wait_ready()
        wait_until(lambda: daemon.service(name).get("healthyCount") == 1, 90, "a healthy target")
        (task,) = client.api.containers(filters={"label": [f"skiff.cluster={cluster}"]})
        direct = next(p["PublicPort"] for p in task["Ports"] if ":" not in p.get("IP", ""))
        through, straight = [], []
        for _ in range(args.rounds):  # interleaved, so both see the same machine
            through.append(
                wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections, args.threads)
            )
            straight.append(
                wrk(f"http://127.0.0.1:{direct}/", args.seconds, args.connections, args.threads)
            )
    finally:
        daemon.stop()
        pid = root / "data" / "haproxy" / "haproxy.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().split()[0]])
        for c in client.api.containers(all=True, filters={"label": [f"skiff.cluster={cluster}"]}):
            client.api.remove_container(c["Id"], force=True)

    def med(rows: list[tuple[float, ...]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    load = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s"
    print(f"{load}, {args.rounds} rounds (median), one task ({TARGET})")
    print(f"  {'':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'TIME_WAIT':>11}")
    for label, rows in (("through the listener", through), ("straight to the task", straight)):
        print(
            f"  {label:<24}{med(rows, 0):>10.0f}{med(rows, 1):>10.2f}{med(rows, 2):>10.2f}"
            f"{med(rows, 3):>11.0f}"
        )
    print(f"  {'ratio (listener/task)':<24}{med(through, 0) / med(straight, 0):>10.3f}")
    print(
        f"  {'added by the listener':<24}{'':>10}{med(through, 1) - med(straight, 1):>10.2f}"
        f"{med(through, 2) - med(straight, 2):>10.2f}"
    )


if __name__ == "__main__":
    main()
