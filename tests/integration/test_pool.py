"""Hosts, network modes and the shipped examples on a real dockerd."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import IMAGE, dump, host_doc, service_doc, service_manifest, td_doc

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "manifests"


def test_the_shipped_examples_converge(skiff: Skiff) -> None:
    for f in EXAMPLES.glob("*.yaml"):
        shutil.copy(f, skiff.manifests / f.name)
    skiff.start()
    for name, count in (("web", 3), ("worker", 2)):
        wait_for(
            lambda name=name, count=count: (
                skiff.resource("Service", name).get("steadyState")
                and skiff.resource("Service", name)["runningCount"] == count
            ),
            60,
            f"the example service {name}",
        )
    web = skiff.resource("Service", "web")
    wait_for(lambda: skiff.resource("Service", "web")["healthyCount"] == 3, 40, "healthy web tasks")
    assert web["taskDefinition"] == "web:1"
    # The example load balancer: a fixed response, and the tasks behind one address.
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=5) as r:
        assert r.read() == b"ok"
    bodies = set()
    for _ in range(9):
        with urllib.request.urlopen("http://127.0.0.1:8000/", timeout=5) as r:
            bodies.add(r.read().decode().strip())
    assert len(bodies) == 3 and all(b.startswith("hello from task") for b in bodies)
    # The example Auto Scaling group: two instances in service behind port 8001.
    wait_for(
        lambda: skiff.resource("AutoScalingGroup", "app")["inServiceCount"] == 2,
        40,
        "the example group in service",
    )

    def fleet_bodies() -> set[str]:
        seen = set()
        for _ in range(8):
            with urllib.request.urlopen("http://127.0.0.1:8001/", timeout=5) as r:
                seen.add(r.read().decode().strip())
        return seen

    bodies = wait_for(lambda: len(fleet_bodies()) == 2 and fleet_bodies(), 40, "both instances")
    assert all(b.startswith("hello from instance") for b in bodies)


def test_a_host_with_a_small_capacity_places_what_fits_and_says_why_not_the_rest(
    skiff: Skiff,
) -> None:
    web = skiff.name("web")
    skiff.write(
        "host.yaml",
        dump(host_doc("small", zone="zone-a", capacity={"cpu": 1024, "memory": 64})),
    )
    skiff.write("web.yaml", service_manifest(web, 6))  # 16 MiB each: four fit in 64 MiB
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 4, 30, "four tasks placed")
    svc = wait_for(
        lambda: (r := skiff.resource("Service", web))["message"] and r, 20, "the placement message"
    )
    assert svc["message"].startswith("unable to place 2 task(s)")
    assert "small: insufficient memory (0 of 16 MiB free)" in svc["message"]
    host = skiff.resource("Host", "small")
    assert (host["zone"], host["capacity"], host["allocated"]["memory"]) == (
        "zone-a",
        {"cpu": 1024, "memory": 64},
        64,
    )
    assert skiff.metric("skiff_host_memory_allocated_mib", host="small") == 64
    placed = [t for t in svc["tasks"] if t["lastStatus"] != "PROVISIONING"]
    assert all(t["host"] == "small" for t in placed)
    assert [t["lastStatus"] for t in svc["tasks"]].count("PROVISIONING") == 2


@pytest.mark.parametrize("mode", ["host", "none"])
def test_network_modes_host_and_none(skiff: Skiff, mode: str) -> None:
    name = skiff.name(mode)
    skiff.write(
        "svc.yaml",
        dump(
            td_doc(
                name,
                networkMode=mode,
                containerDefinitions=[
                    {
                        "name": "app",
                        "image": IMAGE,
                        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"],
                        "memory": 32,
                    }
                ],
            ),
            service_doc(name, desiredCount=1),
        ),
    )
    skiff.start(*(["--allow", "host-network"] if mode == "host" else []))
    (task,) = wait_for(lambda: skiff.running(name), 30, "the task")
    assert task.attrs["HostConfig"]["NetworkMode"] == mode
    assert task.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024
