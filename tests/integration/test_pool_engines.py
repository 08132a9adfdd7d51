"""Placement, rolling updates and lost hosts on a pool of three real engines in two zones."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import IMAGE, dump, host_doc, service_doc, td_doc

pytestmark = pytest.mark.integration


def hosts_yaml(pool: dict[str, Any], **overrides: dict[str, Any]) -> str:
    """near (local) and a2 in zone-a, b1 in zone-b; `overrides` adds spec fields per host."""
    specs = {
        "near": ("unix:///var/run/docker.sock", "zone-a", "hdd"),
        "a2": (pool["a2"].engine.url, "zone-a", "ssd"),
        "b1": (pool["b1"].engine.url, "zone-b", "ssd"),
    }
    return dump(
        *(
            host_doc(name, url=url, zone=zone, attributes={"disk": disk}, **overrides.get(name, {}))
            for name, (url, zone, disk) in specs.items()
        )
    )


def service(
    name: str, count: int, *, env: str = "v1", spec: dict[str, Any] | None = None, mem: int = 16
) -> str:
    """A sleeping one-container service; `spec` adds fields to the Service's spec."""
    app = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
        "environment": [{"name": "VERSION", "value": env}],
        "memoryReservation": mem,
        "stopTimeout": 2,
    }
    return dump(
        td_doc(name, containerDefinitions=[app]),
        service_doc(name, taskDefinition=name, desiredCount=count, **(spec or {})),
    )


class Pool:
    def __init__(self, skiff: Skiff, pool: dict[str, Any]) -> None:
        self.skiff = skiff
        self.clients = {"near": skiff.docker, **{n: d.engine.client() for n, d in pool.items()}}

    def tasks(self, name: str, *, state: str = "running") -> dict[str, list[Any]]:
        label = [f"skiff.cluster={self.skiff.cluster}", f"skiff.name={name}"]
        out = {}
        for host, client in self.clients.items():
            try:
                found = client.containers.list(all=True, filters={"label": label})
            except Exception:
                found = []
            out[host] = [c for c in found if state == "any" or c.status == state]
        return out

    def counts(self, name: str) -> dict[str, int]:
        return {h: len(cs) for h, cs in self.tasks(name).items()}

    def states(self, name: str) -> list[str]:
        """The state of every task container on every engine: one cheap list call each."""
        label = [f"skiff.cluster={self.skiff.cluster}", f"skiff.name={name}"]
        out: list[str] = []
        for client in self.clients.values():
            out += [c["State"] for c in client.api.containers(all=True, filters={"label": label})]
        return out

    def counted(self, name: str, n: int) -> dict[str, int] | None:
        """Running tasks per host, once there are `n` in all."""
        counts = self.counts(name)
        return counts if sum(counts.values()) == n else None

    def cleanup(self) -> None:
        for client in self.clients.values():
            try:
                for c in client.containers.list(
                    all=True, filters={"label": [f"skiff.cluster={self.skiff.cluster}"]}
                ):
                    c.remove(force=True)
            except Exception:
                pass


@pytest.fixture
def world(skiff: Skiff, pool: dict[str, Any]) -> Any:
    w = Pool(skiff, pool)
    yield w
    skiff.stop()
    w.cleanup()


def test_a_service_spreads_over_zones_then_hosts(
    skiff: Skiff, pool: dict[str, Any], world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("hosts.yaml", hosts_yaml(pool))
    skiff.write("web.yaml", service(web, 4))
    skiff.start()
    counts = wait_for(lambda: world.counted(web, 4), 40, "4 tasks")
    assert counts["b1"] == 2 and counts["near"] == 1 and counts["a2"] == 1  # 2 per zone


def test_binpack_on_memory_fills_the_fullest_host(
    skiff: Skiff, pool: dict[str, Any], world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write(
        "hosts.yaml",
        hosts_yaml(
            pool,
            near={"capacity": {"memory": 4096}},
            a2={"capacity": {"memory": 1024}},
            b1={"capacity": {"memory": 2048}},
        ),
    )
    skiff.write(
        "web.yaml",
        service(web, 3, spec={"placementStrategy": [{"type": "binpack", "field": "memory"}]}),
    )
    skiff.start()
    wait_for(lambda: world.counts(web) == {"near": 0, "a2": 3, "b1": 0}, 40, "all three on a2")


def test_distinct_instance_and_member_of(skiff: Skiff, pool: dict[str, Any], world: Pool) -> None:
    one_each, ssd = skiff.name("each"), skiff.name("ssd")
    skiff.write("hosts.yaml", hosts_yaml(pool))
    skiff.write(
        "each.yaml",
        service(one_each, 3, spec={"placementConstraints": [{"type": "distinctInstance"}]}),
    )
    skiff.write(
        "ssd.yaml",
        service(
            ssd,
            4,
            spec={
                "placementConstraints": [
                    {"type": "memberOf", "expression": "attribute:disk == ssd"}
                ]
            },
        ),
    )
    skiff.start()
    wait_for(lambda: world.counts(one_each) == {"near": 1, "a2": 1, "b1": 1}, 40, "one per host")
    counts = wait_for(lambda: world.counted(ssd, 4), 40, "ssd tasks")
    assert counts["near"] == 0 and counts["a2"] == 2 and counts["b1"] == 2


def test_distinct_instance_places_the_tasks_that_fit_and_the_last_when_a_host_appears(
    skiff: Skiff, pool: dict[str, Any], world: Pool, second_engine: Any
) -> None:
    """ECS's behaviour: 4 tasks, one per instance, on 3 instances run 3; the 4th waits with a
    SERVICE_TASK_PLACEMENT_FAILURE event naming the constraint, and runs when a host appears."""
    web = skiff.name("web")
    skiff.write("hosts.yaml", hosts_yaml(pool))
    skiff.write(
        "web.yaml", service(web, 4, spec={"placementConstraints": [{"type": "distinctInstance"}]})
    )
    skiff.start()
    wait_for(lambda: world.counts(web) == {"near": 1, "a2": 1, "b1": 1}, 40, "one per host")

    def told() -> dict[str, Any] | None:
        """The steady state: 3 RUNNING, the 4th PROVISIONING, and the event. (A status taken
        right after the launches, before their containers are seen, has 0 running.)"""
        svc = skiff.resource("Service", web)
        events = [e for e in svc["events"] if e["action"] == "SERVICE_TASK_PLACEMENT_FAILURE"]
        steady = svc["pendingCount"] == 1 and svc["runningCount"] == 3
        return svc if events and steady else None

    svc = wait_for(told, 20, "3 running, 1 waiting and the placement failure event")
    assert svc["runningCount"] == 3
    (event,) = [e for e in svc["events"] if e["action"] == "SERVICE_TASK_PLACEMENT_FAILURE"]
    assert (
        "was unable to place a task because no container instance met all of its "
        in (event["reason"])
    )
    assert "distinctInstance: it already runs a task of this service" in event["reason"]
    fourth = host_doc(
        "far",
        url=second_engine.url,
        zone="zone-b",
        address="127.0.0.1",
        tls={
            "caCert": str(second_engine.certs / "ca.pem"),
            "clientCert": str(second_engine.certs / "cert.pem"),
            "clientKey": str(second_engine.certs / "key.pem"),
        },
    )
    skiff.write("hosts.yaml", dump(hosts_yaml(pool), fourth))
    far = second_engine.client()
    label = [f"skiff.cluster={skiff.cluster}", f"skiff.name={web}"]
    try:
        wait_for(
            lambda: len(far.containers.list(filters={"label": label})) == 1,
            40,
            "the 4th task on the new host",
        )
        wait_for(
            lambda: skiff.resource("Service", web)["runningCount"] == 4,
            20,
            "4 running, one per host",
        )
        assert world.counts(web) == {"near": 1, "a2": 1, "b1": 1}
    finally:
        skiff.stop()
        for c in far.containers.list(all=True, filters={"label": label}):
            c.remove(force=True)


def test_a_task_that_fits_nowhere_waits_with_a_reason_until_capacity_appears(
    skiff: Skiff, pool: dict[str, Any], world: Pool
) -> None:
    web = skiff.name("web")
    zone_b = {
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:zone == zone-b"}]
    }
    skiff.write("hosts.yaml", hosts_yaml(pool, b1={"capacity": {"memory": 64}}))
    skiff.write("web.yaml", service(web, 3, spec=zone_b, mem=32))
    skiff.start()
    wait_for(lambda: world.counts(web)["b1"] == 2, 40, "two tasks fit on b1")

    def settled() -> dict[str, Any] | None:
        svc = skiff.resource("Service", web)
        return svc if svc["runningCount"] == 2 and svc["pendingCount"] == 1 else None

    svc = wait_for(settled, 20, "two running and one waiting, with the reason")
    assert "unable to place 1 task(s)" in svc["message"]
    assert "b1: insufficient memory (0 of 32 MiB free)" in svc["message"]
    assert "near: memberOf 'attribute:zone == zone-b' does not hold" in svc["message"]
    (waiting,) = [t for t in svc["tasks"] if t["lastStatus"] == "PROVISIONING"]
    assert "b1: insufficient memory" in waiting["provisioningReason"]
    skiff.write("hosts.yaml", hosts_yaml(pool, b1={"capacity": {"memory": 96}}))
    wait_for(lambda: world.counts(web)["b1"] == 3, 40, "the third placed once capacity grew")


@pytest.mark.parametrize(("min_pct", "max_pct"), [(100, 200), (50, 100)])
def test_a_rolling_update_never_breaks_its_bounds(
    skiff: Skiff, pool: dict[str, Any], world: Pool, min_pct: int, max_pct: int
) -> None:
    web = skiff.name("web")
    config = {
        "deploymentConfiguration": {"minimumHealthyPercent": min_pct, "maximumPercent": max_pct}
    }
    skiff.write("hosts.yaml", hosts_yaml(pool))
    skiff.write("web.yaml", service(web, 6, env="v1", spec=config))
    skiff.start()
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 40, "6 steady tasks")

    ceiling, floor = 6 * max_pct // 100, math.ceil(6 * min_pct / 100)
    seen: list[tuple[int, int]] = []  # (running + created, running) at each poll
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 90
        while not done.is_set() and time.monotonic() < deadline:
            states = world.states(web)
            up = states.count("running")
            seen.append((up + states.count("created"), up))
            time.sleep(0.05)  # the watcher: Docker polled every 50 ms

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        skiff.write("web.yaml", service(web, 6, env="v2", spec=config))

        def rolled() -> bool:
            tasks = [c for cs in world.tasks(web).values() for c in cs]
            return len(tasks) == 6 and {c.labels["skiff.revision"] for c in tasks} == {f"{web}:2"}

        wait_for(rolled, 60, "all six on revision 2")
    finally:
        done.set()
        watcher.join(timeout=10)
    assert len(seen) > 10 and len(set(seen)) > 1  # the rollout happened while watched
    assert max(total for total, _ in seen) <= ceiling, seen
    assert min(up for _, up in seen) >= floor, seen


def test_a_stopped_engine_loses_its_tasks_to_the_others_and_leaves_no_duplicate(
    skiff: Skiff, pool: dict[str, Any], world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("hosts.yaml", hosts_yaml(pool))
    skiff.write("web.yaml", service(web, 4))
    skiff.start("--host-lost-after", "3")
    wait_for(
        lambda: sum(world.counts(web).values()) == 4 and world.counts(web)["b1"] == 2, 40, "4 tasks"
    )
    b1 = pool["b1"]
    b1.stop()  # live-restore: its two tasks keep running, unseen
    try:
        wait_for(
            lambda: world.counts(web)["near"] + world.counts(web)["a2"] == 4,
            40,
            "the lost host's tasks replaced in zone-a",
        )
    finally:
        b1.start()
    wait_for(lambda: world.counts(web)["b1"] == 0, 40, "the stale copies on b1 stopped")
    wait_for(lambda: sum(world.counts(web).values()) == 4, 20, "exactly four tasks")
    lost = [t for t in skiff.resource("Service", web)["tasks"] if t["host"] == "b1"]
    assert lost and {t["stoppedReason"] for t in lost} == {"Task lost: host b1 is unreachable"}
