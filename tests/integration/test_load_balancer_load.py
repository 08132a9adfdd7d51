"""The load balancer under load, on a real dockerd and a real HAProxy: a keep-alive target
(skiff/nginx) behind a listener takes wrk's load for 25 s without a failed request, its target
stays healthy and its task is not replaced, and a task launched meanwhile starts on a port
outside the ephemeral range the load's connections use.

All traffic goes to 127.0.0.1; the load is bounded in time (wrk -d).
"""

from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import threading
from typing import Any

import pytest

from controller.core.hosts import local_ephemeral_range
from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    dump,
    health_check,
    load_balancer_doc,
    service_doc,
    target_group_doc,
    td_doc,
)

pytestmark = pytest.mark.integration

TARGET = "skiff/nginx:latest"  # "200 ok" on 8080, keep-alive (scripts/build-images.sh)
LOAD_SECONDS = 25


def manifests(name: str, port: int, count: int) -> str:
    web = {
        "name": "web",
        "image": TARGET,
        "memoryReservation": 32,
        "portMappings": [{"containerPort": 8080}],
        "stopTimeout": 2,
    }
    target = {"targetGroup": name, "containerName": "web", "containerPort": 8080}
    return dump(
        td_doc(name, containerDefinitions=[web]),
        service_doc(name, desiredCount=count, loadBalancers=[target]),
        target_group_doc(name, healthCheck=health_check(None), deregistrationDelay=5),
        load_balancer_doc(name, port, target_group=name),
    )


def target_states(skiff: Skiff, group: str) -> dict[str, str]:
    targets: list[dict[str, Any]] = skiff.resource("TargetGroup", group).get("targets", [])
    return {t["taskId"]: t["state"] for t in targets}


def connections_opened(skiff: Skiff, group: str) -> int:
    """Connections HAProxy opened to the group's servers (its `connect` counter), read through
    its admin socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(skiff.data / "haproxy" / "haproxy.sock"))
        s.sendall(b"show stat\n")
        text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return sum(
        int(r["connect"] or 0)
        for r in rows
        if r["pxname"] == f"tg_{group}" and r["svname"] not in ("BACKEND", "FRONTEND")
    )


def host_port(container: Any) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    return int(next(b["HostPort"] for b in bindings if ":" not in b["HostIp"]))


def test_a_listener_under_load_keeps_serving_and_its_target_healthy(skiff: Skiff) -> None:
    name, port = skiff.name("load"), free_port()
    skiff.start()
    skiff.write("lb.yaml", manifests(name, port, 1))
    (task,) = wait_for(
        lambda: [t for t, s in target_states(skiff, name).items() if s == "healthy"],
        60,
        "a healthy target",
    )
    low, high = local_ephemeral_range() or (32768, 60999)
    assert not low <= host_port(skiff.running(name)[0]) <= high

    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # every state the target shows while the load runs
        while not done.is_set():
            try:
                seen.update(target_states(skiff, name).values())
            except OSError:
                pass
            done.wait(0.5)

    opened = connections_opened(skiff, name)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    load = subprocess.Popen(
        ["wrk", "-t2", "-c32", f"-d{LOAD_SECONDS}s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Meanwhile a second task starts, while the load's connections hold ephemeral ports.
        skiff.write("lb.yaml", manifests(name, port, 2))
        wait_for(lambda: len(skiff.running(name)) == 2, 40, "a second task to start under load")
        out, _ = load.communicate(timeout=LOAD_SECONDS + 30)
    finally:
        load.kill()
        done.set()
        watcher.join()

    assert "Socket errors" not in out and "Non-2xx" not in out, out
    served = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    # Connections to the target are kept and reused, not opened for each request (which
    # leaves a TIME_WAIT socket per request and exhausts the ephemeral ports).
    assert connections_opened(skiff, name) - opened < max(500, served // 100), served
    assert seen == {"healthy"} or seen == {"healthy", "initial"}, seen  # never unhealthy
    assert task in target_states(skiff, name)  # the same task, never replaced
    ports = [host_port(c) for c in skiff.running(name)]
    assert len(ports) == 2 and not any(low <= p <= high for p in ports)
    assert "failed ELB health checks" not in str(skiff.resource("Service", name)["events"])
