"""What a multi-node Batch job needs from a real dockerd: two containers on one user network, the
second reaching the first by the address inspect reports, and both outputs read back as logs."""

from __future__ import annotations

import uuid

import docker
import docker.errors
import pytest

from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.types import ContainerSpec
from tests.support.daemon import wait_for
from tests.support.documents import IMAGE

pytestmark = pytest.mark.integration


def test_nodes_on_a_user_network_reach_each_other_by_ip_and_their_output_is_kept() -> None:
    backend = DockerRuntime()
    prefix = f"t{uuid.uuid4().hex[:6]}-mnp-"
    network = prefix + "net"
    labels = {"skiff.managed-by": "skiff", "skiff.kind": "Job", "skiff.name": prefix + "job"}
    made: list[str] = []
    try:
        network_id = backend.create_network(network, labels)
        assert backend.create_network(network, labels) == network_id  # reused, not a second one

        def node(name: str, script: str) -> str:
            cid = backend.create(
                ContainerSpec(
                    name=prefix + name,
                    image=IMAGE,
                    labels=labels,
                    command=("sh", "-c", script),
                    network_mode=network,
                )
            )
            made.append(cid)
            backend.start(cid)
            return cid

        main = node("main", "echo hello; sleep 30")
        main_ip = wait_for(lambda: backend.inspect(main).ip_address, 10, "the main node's IP")
        worker = node("worker", f"ping -c1 -W2 {main_ip} && echo reached")
        done = wait_for(
            lambda: (info := backend.inspect(worker)).exited and info, 20, "the worker to exit"
        )

        assert "reached" in backend.logs(worker), backend.logs(worker)
        assert done.exit_code == 0
        assert "hello" in wait_for(lambda: backend.logs(main), 10, "the main node's output")
        assert backend.logs(main, tail=1) == "hello\n"
        assert backend.inspect(worker).ip_address == ""  # an exited node holds no address

        for cid in made:
            backend.remove(cid)
        backend.remove_network(network)
        backend.remove_network(network)  # gone already: fine
    finally:
        client = docker.from_env()
        for cid in made:
            try:
                client.api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass
        try:
            client.api.remove_network(network)
        except docker.errors.NotFound:
            pass
        backend.close()
        client.close()
