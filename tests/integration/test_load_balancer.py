"""An application load balancer in front of services, on a real dockerd and a real HAProxy.

All traffic goes to the listener on 127.0.0.1; every request loop is bounded in count and time.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    IMAGE,
    dump,
    health_check,
    load_balancer_doc,
    service_doc,
    target_group_doc,
    td_doc,
)

pytestmark = pytest.mark.integration

# Serves its task id at /, a health file at /health, and /cgi-bin/slow after 3 s.
APP = (
    "mkdir -p /www/cgi-bin && echo $VERSION $SKIFF_TASK_ID > /www/index.html && "
    "echo ok > /www/health && "
    "printf '#!/bin/sh\nsleep 3\nprintf \"Content-Type: text/plain\\\\n\\\\nslow\\\\n\"\n' "
    "> /www/cgi-bin/slow && chmod +x /www/cgi-bin/slow && "
    "httpd -f -p 8080 -h /www & trap 'exit 0' TERM; wait"
)


def app(
    name: str,
    count: int,
    *,
    env: str = "v1",
    group: str | None = None,
    command: str = APP,
    health_path: str = "/health",
    service: dict[str, Any] | None = None,
) -> str:
    """Task definition and Service `name` of `count` tasks running `command`, behind target
    group `group` (default: `name`) checking `health_path`; `service` adds Service fields."""
    group = group or name
    web = {
        "name": "web",
        "image": IMAGE,
        "command": ["sh", "-c", command],
        "environment": [{"name": "VERSION", "value": env}],
        "memoryReservation": 16,
        "portMappings": [{"containerPort": 8080}],
        "stopTimeout": 5,
    }
    target = {"targetGroup": group, "containerName": "web", "containerPort": 8080}
    return dump(
        td_doc(name, containerDefinitions=[web]),
        service_doc(
            name, taskDefinition=name, desiredCount=count, loadBalancers=[target], **(service or {})
        ),
        target_group_doc(group, healthCheck=health_check(health_path), deregistrationDelay=10),
    )


def balancer(
    name: str, port: int, default_group: str, rules: list[dict[str, Any]] | None = None
) -> str:
    """Load balancer `name` with one listener on `port` forwarding to `default_group`, with
    `rules` first."""
    doc = load_balancer_doc(name, port, target_group=default_group)
    if rules:
        doc["spec"]["listeners"][0]["rules"] = rules
    return dump(doc)


def get(
    port: int, path: str = "/", host: str | None = None, timeout: float = 10
) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()


def serving(skiff: Skiff, service: str, count: int) -> bool:
    svc = skiff.resource("Service", service)
    return bool(svc.get("healthyCount") == count and svc.get("runningCount") == count)


def responders(port: int, n: int = 30) -> set[str]:
    return {get(port)[1].split()[-1] for _ in range(n)}


def test_a_three_task_service_behind_a_listener_gets_requests_on_every_task(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 3))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 3), 60, "3 tasks healthy behind the listener")
    tasks = {t["taskId"] for t in skiff.resource("Service", web)["tasks"]}
    assert responders(port) == tasks
    group = skiff.resource("TargetGroup", web)
    assert sorted(t["state"] for t in group["targets"]) == ["healthy"] * 3
    assert wait_for(
        lambda: skiff.metric("skiff_target_group_requests_total", target_group=web) >= 30,
        20,
        "request counts in the metrics",
    )


def test_path_and_host_rules_route_to_two_services(skiff: Skiff) -> None:
    web, api, port = skiff.name("web"), skiff.name("api"), free_port()
    rules = [
        {
            "priority": 10,
            "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
            "actions": [{"type": "forward", "targetGroup": api}],
        },
        {
            "priority": 20,
            "conditions": [{"field": "host-header", "values": ["admin.*"]}],
            "actions": [
                {
                    "type": "fixed-response",
                    "fixedResponseConfig": {"statusCode": "403", "messageBody": "no"},
                }
            ],
        },
    ]
    skiff.write("web.yaml", app(web, 1, env="web"))
    skiff.write(
        "api.yaml",
        app(
            api,
            1,
            env="api",
            command=APP.replace(
                "echo $VERSION $SKIFF_TASK_ID > /www/index.html",
                "mkdir -p /www/api && echo api > /www/api/index.html",
            ),
        ),
    )
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web, rules))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 1) and serving(skiff, api, 1), 60, "both services healthy")
    assert get(port, "/")[1].startswith("web ")
    assert get(port, "/api/") == (200, "api")
    assert get(port, "/", host="Admin.example.com") == (403, "no")


def test_a_rolling_deployment_under_steady_load_loses_no_request(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 3, env="v1"))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 3), 60, "3 healthy tasks")
    failures: list[Any] = []
    versions: list[str] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 120
        for _ in range(20000):  # bounded in count and time
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                status, body = get(port, timeout=5)
                versions.append(body.split()[0])
                if status != 200:
                    failures.append(status)
            except OSError as exc:
                failures.append(repr(exc))

    loader = threading.Thread(target=load)
    loader.start()
    try:
        skiff.write("web.yaml", app(web, 3, env="v2"))

        def rolled() -> bool:
            svc = skiff.resource("Service", web)
            return (
                svc["deployments"][0]["rolloutState"] == "COMPLETED"
                and svc["deployments"][0]["taskDefinition"] == f"{web}:2"
                and len(skiff.running(web)) == 3
            )

        wait_for(rolled, 120, "the deployment to complete")
        n = len(versions)
        wait_for(lambda: len(versions) > n + 50, 30, "more requests after the rollout")
    finally:
        stop.set()
        loader.join(timeout=30)
    assert failures == []
    assert len(versions) > 100
    assert versions[-1] == "v2" and "v1" in versions


def test_scale_in_drains_a_task_so_its_in_flight_request_completes(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 2))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 60, "2 healthy tasks")
    results: list[tuple[int, str]] = []
    slow = [
        threading.Thread(target=lambda: results.append(get(port, "/cgi-bin/slow")))
        for _ in range(2)
    ]
    for t in slow:
        t.start()  # round robin: one on each task
    time.sleep(0.5)  # both requests are in flight (the slow page takes 3 s): what the test is about
    skiff.write("web.yaml", app(web, 1))
    for t in slow:
        t.join(timeout=30)
    assert results == [(200, "slow"), (200, "slow")]
    wait_for(lambda: len(skiff.running(web)) == 1, 30, "scale-in to 1 done")
    reasons = [e["action"] for e in skiff.resource("TargetGroup", web).get("events", [])]
    assert "target.drain" in reasons and "target.deregister" in reasons


def test_a_task_failing_its_target_group_health_check_loses_traffic_and_is_replaced(
    skiff: Skiff,
) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 2))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 60, "2 healthy tasks")
    victim = skiff.running(web)[0]
    victim_task = victim.labels["skiff.task"]
    victim.exec_run(["rm", "/www/health"])

    def replaced() -> bool:
        tasks = skiff.resource("Service", web)["tasks"]
        gone = [
            t
            for t in tasks
            if t["taskId"] == victim_task
            and t["lastStatus"] in ("STOPPED", "DEACTIVATING", "STOPPING")
        ]
        return bool(gone) and serving(skiff, web, 2)

    wait_for(replaced, 90, "the unhealthy task replaced")
    assert victim_task not in responders(port, 20)
    stopped = next(t for t in skiff.resource("Service", web)["tasks"] if t["taskId"] == victim_task)
    assert stopped["stoppedReason"] == f"Task failed ELB health checks in (target-group {web})"


def test_haproxy_killed_is_restarted_by_the_daemon_with_the_same_routing(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 2))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 60, "2 healthy tasks")
    before = responders(port, 10)
    pid = int((skiff.data / "haproxy" / "haproxy.pid").read_text().split()[0])
    subprocess.run(["pkill", "-9", "-P", str(pid)])
    subprocess.run(["kill", f"-{signal.SIGKILL.value}", str(pid)])
    wait_for(lambda: responders(port, 10) == before, 40, "the same two tasks served again")


def test_a_listener_on_a_port_in_use_is_reported_and_the_others_keep_serving(skiff: Skiff) -> None:
    import socket

    web, good = skiff.name("web"), free_port()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    try:
        two = dump(load_balancer_doc(skiff.name("front"), good, busy, target_group=web))
        skiff.write("web.yaml", app(web, 1))
        skiff.write("lb.yaml", two)
        skiff.start()
        wait_for(lambda: serving(skiff, web, 1), 60, "the task healthy")
        lb = wait_for(
            lambda: (
                (r := skiff.resource("LoadBalancer", skiff.name("front")))["status"] == "ERROR"
                and r
            ),
            20,
            "the listener's error",
        )
        assert f"listener {busy}: port {busy} on 127.0.0.1 is already in use" in lb["message"]
        assert get(good)[0] == 200
    finally:
        taken.close()


def test_the_load_balancer_keeps_serving_across_a_daemon_restart(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 2))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 60, "2 healthy tasks")
    before = responders(port, 10)
    skiff.stop()
    assert responders(port, 10) == before  # HAProxy serves on while the daemon is away
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 30, "the restarted daemon sees them healthy")
    assert responders(port, 10) == before
    for op in ("create", "kill", "remove"):
        assert skiff.metric("skiff_docker_api_calls_total", operation=op) == 0, op


def load_until(port: int, stop: threading.Event, failures: list[Any], done: list[int]) -> None:
    """A bounded request loop: counts answers, keeps what failed."""
    deadline = time.monotonic() + 120
    for _ in range(20000):
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            status, _ = get(port, timeout=5)
            done.append(status)
            if status not in (200, 418):
                failures.append(status)
        except OSError as exc:
            failures.append(repr(exc))


def test_a_rules_change_reloads_haproxy_seamlessly_under_load(skiff: Skiff) -> None:
    web, port, front = skiff.name("web"), free_port(), skiff.name("front")
    skiff.write("web.yaml", app(web, 2))
    skiff.write("lb.yaml", balancer(front, port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 2), 60, "2 healthy tasks")
    failures: list[Any] = []
    done: list[int] = []
    stop = threading.Event()
    loader = threading.Thread(target=load_until, args=(port, stop, failures, done))
    loader.start()
    try:
        teapot = [
            {
                "priority": 1,
                "conditions": [{"field": "path-pattern", "values": ["/tea"]}],
                "actions": [
                    {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "418"}}
                ],
            }
        ]
        skiff.write("lb.yaml", balancer(front, port, web, teapot))
        wait_for(lambda: get(port, "/tea")[0] == 418, 30, "the new rule in force")
        n = len(done)
        wait_for(lambda: len(done) > n + 100, 30, "requests after the reload")
    finally:
        stop.set()
        loader.join(timeout=30)
    assert failures == [] and len(done) > 100
    assert skiff.metric("skiff_actions_total", kind="LoadBalancer", action="dataplane.reload") >= 1


def test_when_every_target_fails_its_checks_traffic_still_reaches_them(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    failing = app(web, 2, health_path="/missing", service={"healthCheckGracePeriodSeconds": 600})
    skiff.write("web.yaml", failing)
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 2, 40, "2 tasks running")
    wait_for(
        lambda: (
            len((g := skiff.resource("TargetGroup", web))["targets"]) == 2
            and all(t["state"] == "unhealthy" for t in g["targets"])
        ),
        60,
        "both targets unhealthy (initial ones get no traffic, as on ALB)",
    )
    answers = [get(port) for _ in range(10)]
    assert all(status == 200 for status, _ in answers)  # fail open, as ALB does
    assert len({body for _, body in answers}) == 2
