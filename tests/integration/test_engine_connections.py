"""On a real engine, the runtime keeps its connections open: bringing containers up and down
through it does not open a socket per call.

The runtime talks to dockerd through a Unix socket proxy of this test's own that counts the
connections it accepts (as `ss` would count them on the engine's socket). docker-py keyed its
pools by the whole URL, so each container's own calls (create, start, inspect, kill, remove)
connected anew: the 51 calls below were 51 connections.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import NotFound
from controller.runtime.types import ContainerSpec
from tests.support.documents import IMAGE

pytestmark = pytest.mark.integration

ENGINE_SOCKET = "/var/run/docker.sock"
CONTAINERS = 10


class CountingProxy:
    """Accepts connections on `path` and pipes each, both ways, to the engine's socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.accepted = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._thread = threading.Thread(target=self._accept, daemon=True, name="proxy")
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(ENGINE_SOCKET)
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[CountingProxy]:
    p = CountingProxy(tmp_path / "engine.sock")
    yield p
    p.close()


def test_ten_containers_up_and_down_reuse_the_engine_connections(proxy: CountingProxy) -> None:
    runtime = DockerRuntime(f"unix://{proxy.path}", pool_size=4)
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
        client = docker.from_env()
        for cid in made:
            try:
                client.api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass

    calls = CONTAINERS * 5 + 1
    assert proxy.accepted <= 2, f"{proxy.accepted} connections for {calls} calls"
