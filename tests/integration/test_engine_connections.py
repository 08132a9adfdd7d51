"""On a real engine, the runtime keeps its connections open: bringing containers up and down
through it does not open a socket per call.

The runtime talks to dockerd through a Unix socket proxy that counts the connections it
accepts (as `ss` would count them on the engine's socket). docker-py keyed its
pools by the whole URL, so each container's own calls (create, start, inspect, kill, remove)
connected anew: the 51 calls below were 51 connections.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import NotFound
from controller.runtime.teardown import remove_containers
from controller.runtime.types import ContainerSpec
from tests.support.documents import IMAGE
from tests.support.engine_proxy import EngineProxy

pytestmark = pytest.mark.integration

CONTAINERS = 10


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[EngineProxy]:
    p = EngineProxy(tmp_path / "engine.sock").start()
    yield p
    p.close()


def test_ten_containers_up_and_down_reuse_the_engine_connections(proxy: EngineProxy) -> None:
    runtime = DockerRuntime(proxy.url, pool_size=4)
    prefix = f"t{uuid.uuid4().hex[:6]}-conn-"
    labels = {"skiff.managed-by": "skiff", "skiff.kind": "Test", "skiff.name": prefix}
    made: list[str] = []
    try:
        for i in range(CONTAINERS):  # one at a time: a single connection can serve them all
            cid = runtime.create(
                ContainerSpec(
                    name=f"{prefix}{i}",
                    image=IMAGE,
                    labels=labels,
                    command=("sleep", "60"),
                    network_mode="none",
                    stop_timeout=1,
                )
            )
            made.append(cid)
            runtime.start(cid)
            assert runtime.inspect(cid).running
        for cid in made:
            runtime.kill(cid, "SIGKILL")
            runtime.remove(cid)
        with pytest.raises(NotFound):  # an answer of an error keeps the connection too
            runtime.inspect(made[0])
    finally:
        cleaner = DockerRuntime()
        remove_containers(cleaner, made)  # those removed already are reported, not raised
        cleaner.close()
        runtime.close()

    calls = CONTAINERS * 5 + 1
    assert proxy.connections <= 2, f"{proxy.connections} connections for {calls} calls"
