"""A Service on a real dockerd: converge, replace, scale, new revisions, deletion, bad input."""

from __future__ import annotations

import time
import urllib.request
from datetime import datetime
from typing import Any

import docker
import pytest

from controller.core.hosts import local_ephemeral_range
from tests.support.daemon import Skiff, wait_for
from tests.support.documents import HTTPD, IMAGE, dump, service_manifest, web_service_docs

pytestmark = pytest.mark.integration


def host_port(container: object) -> int:
    container.reload()  # type: ignore[attr-defined]
    bindings = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"]  # type: ignore[attr-defined]
    return int(bindings[0]["HostPort"])


def started(container: Any) -> datetime:
    return datetime.fromisoformat(container.attrs["State"]["StartedAt"][:26])


def finished(container: Any) -> datetime:
    return datetime.fromisoformat(container.attrs["State"]["FinishedAt"][:26])


def exited(container: Any) -> bool:
    container.reload()
    return bool(container.status == "exited")


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode().strip()


def test_a_five_task_service_converges_and_serves_on_dynamic_ports(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 5))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 5, 30, "5 running tasks")
    ports = {host_port(c) for c in skiff.running(web)}
    low, high = local_ephemeral_range() or (32768, 60999)  # the ports outgoing connections use
    assert len(ports) == 5 and not any(low <= p <= high for p in ports)
    assert {wait_for(lambda p=p: fetch(p), 10, "httpd") for p in ports} == {"v1"}
    svc = wait_for(lambda: (r := skiff.resource("Service", web))["runningCount"] == 5 and r, 10)
    assert (svc["desiredCount"], svc["taskDefinition"]) == (5, f"{web}:1")
    assert {t["lastStatus"] for t in svc["tasks"]} == {"RUNNING"}
    assert skiff.metric("skiff_service_running_tasks", service=web) == 5


def test_a_killed_task_container_is_replaced(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 3))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 3, 30, "3 running tasks")
    victim = skiff.running(web)[0]
    victim.kill()
    wait_for(
        lambda: (
            len(skiff.running(web)) == 3 and victim.id not in {c.id for c in skiff.running(web)}
        ),
        20,
        "a replacement task",
    )
    stopped = wait_for(
        lambda: [
            t for t in skiff.resource("Service", web)["tasks"] if t["lastStatus"] == "STOPPED"
        ],
        10,
        "the stopped task in status",
    )
    assert stopped[0]["stoppedReason"] == "Essential container in task exited"
    assert stopped[0]["desiredStatus"] == "STOPPED"


def test_scaling_5_to_2_to_6(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 5))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 5, 30, "5 running tasks")
    oldest = sorted(skiff.running(web), key=lambda c: c.attrs["Created"])[:2]
    skiff.write("web.yaml", service_manifest(web, 2))
    wait_for(lambda: len(skiff.running(web)) == 2, 30, "scale-in to 2")
    # Scale-in stops the newest tasks first: the two oldest remain.
    assert {c.id for c in skiff.running(web)} == {c.id for c in oldest}
    skiff.write("web.yaml", service_manifest(web, 6))
    wait_for(lambda: len(skiff.running(web)) == 6, 30, "scale-out to 6")
    wait_for(lambda: skiff.resource("Service", web)["runningCount"] == 6, 10, "status of 6")


def test_editing_the_task_definition_registers_revision_2_and_replaces_tasks(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 3, env="v1"))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 3, 30, "3 running tasks")
    skiff.write("web.yaml", service_manifest(web, 3, env="v2"))

    def all_v2() -> bool:
        tasks = skiff.running(web)
        return len(tasks) == 3 and {c.labels["skiff.revision"] for c in tasks} == {f"{web}:2"}

    wait_for(all_v2, 40, "every task on revision 2")
    assert {fetch(host_port(c)) for c in skiff.running(web)} == {"v2"}
    td = skiff.resource("TaskDefinition", web)
    assert [(r["revision"], r["status"]) for r in td["revisions"]] == [(1, "ACTIVE"), (2, "ACTIVE")]


def test_a_rollout_keeps_the_old_task_until_the_new_one_has_run_the_healthy_after_time(
    skiff: Skiff,
) -> None:
    """ECS counts a new task with no health check toward minimumHealthyPercent (100 here) only
    some time after it reached RUNNING (40 s; 6 s for this daemon): the old task runs until
    then, and is stopped then, not at some later resync."""
    web, after = skiff.name("web"), 6.0
    skiff.write("web.yaml", service_manifest(web, 1, env="v1"))
    skiff.start("--healthy-after-seconds", str(after))
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 40, "a steady service")
    (old,) = skiff.running(web)
    skiff.write("web.yaml", service_manifest(web, 1, env="v2"))
    (new,) = wait_for(
        lambda: [c for c in skiff.running(web) if c.id != old.id], 30, "the new task running"
    )
    wait_for(
        lambda: (
            (s := skiff.resource("Service", web))["runningCount"] == 2
            and s["healthyCount"] == 1
            and not s["steadyState"]
        ),
        after,
        "both tasks running, only the old one counted healthy",
    )
    wait_for(lambda: exited(old), 30, "the old task stopped")
    new.reload()
    waited = (finished(old) - started(new)).total_seconds()
    assert after <= waited < after + 5, f"the old task stopped {waited:.2f}s after the new started"
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 20, "steady on v2")
    assert [c.labels["skiff.revision"] for c in skiff.running(web)] == [f"{web}:2"]


def test_deleting_the_manifest_removes_every_container_it_owned(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 3))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 3, 30, "3 running tasks")
    (skiff.manifests / "web.yaml").unlink()
    wait_for(lambda: not skiff.containers(web, all=True), 30, "every container removed")
    wait_for(
        lambda: all(
            (r["kind"], r["name"]) != ("Service", web) for r in skiff.status()["resources"]
        ),
        10,
        "the service gone from status",
    )
    td = skiff.resource("TaskDefinition", web)
    assert (td["status"], [r["status"] for r in td["revisions"]]) == ("INACTIVE", ["INACTIVE"])


def test_an_invalid_manifest_beside_a_valid_one(skiff: Skiff) -> None:
    good, bad = skiff.name("good"), skiff.name("bad")
    skiff.write("good.yaml", service_manifest(good, 1))
    skiff.write("bad.yaml", service_manifest(bad, 2))
    skiff.start()
    wait_for(lambda: len(skiff.running(good)) == 1 and len(skiff.running(bad)) == 2, 30, "both up")
    bad_ids = {c.id for c in skiff.running(bad)}
    skiff.write("bad.yaml", service_manifest(bad, 7, service={"colour": "red"}))
    skiff.write("good.yaml", service_manifest(good, 3))
    wait_for(lambda: len(skiff.running(good)) == 3, 30, "the valid service still acted on")
    status = skiff.status()
    errors = status["errors"]
    assert any(
        e["file"] == "bad.yaml" and e["field"] == "spec.colour" and e["message"] == "unknown field"
        for e in errors
    )
    assert "spec.colour" in skiff.resource("Service", bad)["manifestError"]
    assert {c.id for c in skiff.running(bad)} == bad_ids  # the last valid version keeps running
    assert skiff.metric("skiff_manifest_errors", file="bad.yaml") == 1


def test_an_unmanaged_look_alike_container_is_left_alone(skiff: Skiff) -> None:
    web = skiff.name("web")
    client = docker.from_env()
    lookalike = client.containers.run(
        IMAGE,
        ["sleep", "300"],
        detach=True,
        name=f"skiff-{web}-web-lookalike",
        labels={
            "skiff.kind": "Service",
            "skiff.name": web,
            "skiff.task": "x" * 32,
            "skiff.container": "web",
            "skiff.revision": f"{web}:1",
        },
    )
    try:
        skiff.write("web.yaml", service_manifest(web, 2))
        skiff.start()
        wait_for(lambda: len(skiff.running(web)) == 2, 30, "2 running tasks")
        (skiff.manifests / "web.yaml").unlink()
        wait_for(lambda: not skiff.containers(web, all=True), 30, "managed containers removed")
        lookalike.reload()
        assert lookalike.status == "running"
    finally:
        lookalike.remove(force=True)


def test_a_task_failing_its_health_check_is_replaced(skiff: Skiff) -> None:
    web = skiff.name("web")
    health = {
        "command": ["CMD-SHELL", "test -f /www/index.html"],
        "interval": 5,
        "timeout": 2,
        "retries": 1,
    }
    skiff.write("web.yaml", service_manifest(web, 2, health=health))
    skiff.start()
    wait_for(lambda: skiff.resource("Service", web)["healthyCount"] == 2, 40, "2 healthy tasks")
    victim = skiff.running(web)[0]
    victim.exec_run(["rm", "/www/index.html"])

    def replaced() -> bool:
        svc = skiff.resource("Service", web)
        stopped = {
            t["taskId"][:12]: t["stoppedReason"]
            for t in svc["tasks"]
            if t["lastStatus"] == "STOPPED"
        }
        return (
            svc["healthyCount"] == 2
            and victim.id not in {c.id for c in skiff.running(web)}
            and victim.labels["skiff.task"][:12] in stopped
            and stopped[victim.labels["skiff.task"][:12]] == "Task failed container health checks"
        )

    wait_for(replaced, 60, "the unhealthy task stopped with its reason and replaced")


def test_a_revision_whose_container_exits_at_once_trips_the_breaker_and_rolls_back(
    skiff: Skiff,
) -> None:
    web = skiff.name("web")
    breaker = {
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    }
    skiff.write("web.yaml", service_manifest(web, 3, env="v1", service=breaker))
    skiff.start()
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 40, "a steady service")
    broken = web_service_docs(web, 3, env="v2", service=breaker)
    broken[0]["spec"]["containerDefinitions"][0]["command"] = ["sh", "-c", "exit 3; " + HTTPD]
    skiff.write("web.yaml", dump(*broken))

    def rolled_back() -> bool:
        deps = skiff.resource("Service", web)["deployments"]
        return (
            len(deps) == 3
            and deps[0]["taskDefinition"] == f"{web}:1"
            and deps[1]["rolloutState"] == "FAILED"
        )

    wait_for(rolled_back, 60, "the failed deployment rolled back")
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 30, "steady on revision 1")
    tasks = skiff.running(web)
    assert len(tasks) == 3 and {c.labels["skiff.revision"] for c in tasks} == {f"{web}:1"}
    failed = skiff.resource("Service", web)["deployments"][1]
    assert "task(s) failed to reach a steady state (threshold 3)" in failed["rolloutStateReason"]


STUCK_BOUNDS = {"deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 100}}


def test_a_100_100_deployment_keeps_the_old_task_and_says_why(skiff: Skiff) -> None:
    """ECS accepts 100/100 at desiredCount 1; its deployment cannot stop or start a task, so
    it stays IN_PROGRESS with the old task running, and the service's events say why."""
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 1, env="v1", service=STUCK_BOUNDS))
    skiff.start()
    (old,) = wait_for(lambda: skiff.running(web), 30, "the task of revision 1")
    assert not skiff.status()["errors"]
    skiff.write("web.yaml", service_manifest(web, 1, env="v2", service=STUCK_BOUNDS))

    def blocked() -> dict[str, Any] | None:
        svc = skiff.resource("Service", web)
        told = any(e["action"] == "deployment.blocked" for e in svc["events"])
        return svc if told and "unable to stop or start" in svc["message"] else None

    svc = wait_for(blocked, 30, "the blocked deployment's event")
    assert "was unable to stop or start tasks during a deployment" in svc["message"]
    primary = svc["deployments"][0]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (f"{web}:2", "IN_PROGRESS")
    assert [c.id for c in skiff.running(web)] == [old.id]
    assert fetch(host_port(old)) == "v1"


def test_an_invalid_service_does_not_follow_latest_to_a_new_revision(skiff: Skiff) -> None:
    """The last valid version of a Service runs the revision it resolved to, untouched, while
    its manifest is invalid; once fixed, it rolls out the newest."""
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2, env="v1"))
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 2, 30, "2 tasks of revision 1")
    before = {c.id for c in skiff.running(web)}
    skiff.write("web.yaml", service_manifest(web, 2, env="v2", service={"colour": "red"}))
    wait_for(
        lambda: len(skiff.resource("TaskDefinition", web)["revisions"]) == 2,
        30,
        "revision 2 registered",
    )
    registered = time.time()
    # Registration queues the service: a pass after it launches (executor first) and then
    # reports, so a status newer than the registration follows every launch it made.
    svc = wait_for(
        lambda: (s := skiff.resource("Service", web))["updatedAt"] >= registered and s,
        20,
        "a pass of the service after revision 2 was registered",
    )
    assert "spec.colour" in svc["manifestError"]
    assert "the revision of its last valid manifest" in svc["message"]
    assert svc["taskDefinition"] == f"{web}:1"
    assert {c.id for c in skiff.containers(web)} == before
    skiff.write("web.yaml", service_manifest(web, 2, env="v2"))

    def all_v2() -> bool:
        tasks = skiff.running(web)
        return len(tasks) == 2 and {c.labels["skiff.revision"] for c in tasks} == {f"{web}:2"}

    wait_for(all_v2, 40, "every task on revision 2 once the service is fixed")
