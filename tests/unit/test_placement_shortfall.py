"""A placement constraint the pool cannot meet for every task, as ECS handles it: the tasks
that fit are placed, the rest wait PROVISIONING, and the service's events tell
SERVICE_TASK_PLACEMENT_FAILURE until a host that meets the constraint appears."""

from __future__ import annotations

import json
from pathlib import Path

from controller.runtime.fake import FakeRuntime
from tests.support.documents import container, host_doc, service_doc, td_doc, write
from tests.support.harness import Harness


def pool(root: Path, *names: str) -> None:
    write(root, "hosts.yaml", *(host_doc(n, url=f"unix:///{n}.sock", zone="zone-a") for n in names))


def running_per_engine(engines: dict[str, FakeRuntime]) -> dict[str, int]:
    return {n: sum(c.running for c in e.containers.values()) for n, e in engines.items()}


def placement_failures(h: Harness) -> list[dict[str, object]]:
    return [
        json.loads(e.detail)
        for _, e in h.store.events_after(0, "Service", "web")
        if e.action == "SERVICE_TASK_PLACEMENT_FAILURE"
    ]


def test_distinct_instance_with_four_tasks_on_three_hosts_places_three_and_says_why(
    tmp_path: Path,
) -> None:
    engines = {n: FakeRuntime(name=n) for n in ("a", "b", "c", "d")}
    h = Harness(tmp_path / "m", engines=engines)
    pool(h.root, "a", "b", "c")
    write(
        h.root,
        "web.yaml",
        td_doc(containerDefinitions=[container(image="skiff/busybox:latest")]),
        service_doc(desiredCount=4, placementConstraints=[{"type": "distinctInstance"}]),
    )
    h.load()
    assert not h.ctl.manifest_errors  # ECS accepts the service
    h.converge()
    assert running_per_engine(engines) == {"a": 1, "b": 1, "c": 1, "d": 0}
    st = h.status()
    assert (st["runningCount"], st["pendingCount"]) == (3, 1)
    (waiting,) = [t for t in st["tasks"] if t["lastStatus"] == "PROVISIONING"]  # type: ignore[attr-defined]
    assert "a: distinctInstance: it already runs a task of this service" in str(
        waiting["provisioningReason"]
    )
    for _ in range(3):  # the condition holds pass after pass: it is told once
        h.ctl.resync()
        h.ctl.run_until_idle()
    (event,) = placement_failures(h)
    assert event["eventType"] == "ERROR"
    assert event["eventName"] == "SERVICE_TASK_PLACEMENT_FAILURE"
    assert str(event["reason"]).startswith(
        "(service web) was unable to place a task because no container instance met all of "
        "its requirements (1 task(s) waiting): "
    )
    assert "c: distinctInstance: it already runs a task of this service" in str(event["reason"])

    pool(h.root, "a", "b", "c", "d")  # a fourth host appears
    h.load()
    h.converge()
    assert running_per_engine(engines) == {"a": 1, "b": 1, "c": 1, "d": 1}
    st = h.status()
    assert (st["runningCount"], st["pendingCount"], st["steadyState"]) == (4, 0, True)
    assert len(placement_failures(h)) == 1


def test_a_member_of_no_host_satisfies_is_accepted_and_waits_for_one(tmp_path: Path) -> None:
    engines = {n: FakeRuntime(name=n) for n in ("a", "b")}
    h = Harness(tmp_path / "m", engines=engines)
    write(
        h.root,
        "hosts.yaml",
        host_doc("a", url="unix:///a.sock", zone="zone-a", attributes={"disk": "hdd"}),
    )
    write(
        h.root,
        "web.yaml",
        td_doc(containerDefinitions=[container(image="skiff/busybox:latest")]),
        service_doc(
            desiredCount=2,
            placementConstraints=[{"type": "memberOf", "expression": "attribute:disk == ssd"}],
        ),
    )
    h.load()
    assert not h.ctl.manifest_errors
    h.converge()
    assert running_per_engine(engines) == {"a": 0, "b": 0}
    (event,) = placement_failures(h)
    assert "a: memberOf 'attribute:disk == ssd' does not hold" in str(event["reason"])
    assert "(2 task(s) waiting)" in str(event["reason"])
    write(
        h.root,
        "hosts.yaml",
        host_doc("a", url="unix:///a.sock", zone="zone-a", attributes={"disk": "hdd"}),
        host_doc("b", url="unix:///b.sock", zone="zone-b", attributes={"disk": "ssd"}),
    )
    h.load()
    h.converge()
    assert running_per_engine(engines) == {"a": 0, "b": 2}
