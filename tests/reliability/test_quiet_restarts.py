"""Restarts with nothing to do: ten SIGTERM-and-start cycles of a converged daemon.

Must show: zero Docker writes. Each daemon process counts its own Docker calls
(`skiff_docker_api_calls_total{host,operation,outcome}`) from zero; after it is ready, has
reconciled everything and has run a full resync, every write operation must read 0. Docker's
own event log over the whole series must hold no create, start, kill, die or destroy of the
cluster's containers, and the same containers must be running at the end.
"""

from __future__ import annotations

import time

import docker
import pytest

from tests.reliability import support as S
from tests.support.daemon import Skiff, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RESTARTS = 10
# The write operations of controller/runtime/instrumented.py.
WRITES = (
    "create",
    "start",
    "restart",
    "kill",
    "remove",
    "remove_volume",
    "create_network",
    "remove_network",
    "pull_image",
)
CHANGES = ("create", "start", "restart", "kill", "die", "stop", "destroy", "pause", "unpause")


def settled_after_resync(skiff: Skiff) -> bool:
    """Ready, every key reconciled once, then a full resync (a second list) reconciled too."""
    return (
        skiff.ready()
        and skiff.metric("skiff_docker_api_calls_total", operation="list") >= 2
        and skiff.metric("skiff_reconcile_total", kind="Service") >= 2
        and skiff.metric("skiff_workqueue_depth") == 0
        and bool(skiff.resource("Service", skiff.name("quiet")).get("steadyState"))
    )


def engine_changes(client: docker.DockerClient, cluster: str, since: float) -> list[str]:
    """Docker's events of the cluster's containers from `since` until now (a finite read)."""
    events = client.api.events(
        since=since,
        until=time.time(),
        filters={"type": "container", "label": f"skiff.cluster={cluster}"},
        decode=True,
    )
    return [f"{e.get('Action')} {e.get('id', '')[:12]}" for e in events]


def test_ten_quiet_restarts_of_a_converged_daemon_make_zero_docker_writes(skiff: Skiff) -> None:
    name = skiff.name("quiet")
    skiff.write("svc.yaml", S.service(name, 4))
    args = ("--resync", "1")
    skiff.start(*args)
    wait_for(lambda: skiff.resource("Service", name).get("steadyState"), 60, "a steady service")
    before = sorted(r["Id"] for r in S.containers(skiff.docker, skiff.cluster, name))
    skiff.stop()

    since = time.time()
    took = []
    for i in range(RESTARTS):
        began = time.monotonic()
        skiff.start(*args)
        wait_for(lambda: settled_after_resync(skiff), 30, f"restart {i}: ready and resynced")
        took.append(S.elapsed_since(began))
        writes = {
            op: skiff.metric("skiff_docker_api_calls_total", operation=op)
            for op in WRITES
            if skiff.metric("skiff_docker_api_calls_total", operation=op)
        }
        assert writes == {}, f"restart {i} wrote to Docker: {writes}"
        skiff.stop()

    changes = [
        e for e in engine_changes(skiff.docker, skiff.cluster, since) if e.split()[0] in CHANGES
    ]
    assert changes == [], f"Docker saw the cluster's containers change: {changes[:10]}"
    after = sorted(r["Id"] for r in S.containers(skiff.docker, skiff.cluster, name))
    assert after == before
    print(f"{RESTARTS} restarts, 0 writes; start to resynced {min(took)}-{max(took)} s")
