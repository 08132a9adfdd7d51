"""What AWS Batch needs from the runtime: logs, container addresses and user networks.

The fake is checked against the behaviour of a real dockerd (20.10) that these tests describe;
the backend's mapping of dockerd's answers is checked with a stub API (no engine needed).
"""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from controller.runtime import (
    Conflict,
    ContainerSpec,
    InvalidRequest,
    NotFound,
    PortBinding,
    StartFailed,
)
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.docker_responses import container_info as _container_info
from controller.runtime.fake import FakeRuntime
from controller.runtime.instrumented import InstrumentedRuntime
from controller.runtime.types import is_user_network, publishes_ports
from controller.telemetry import Metrics

IMAGE = "skiff/busybox:latest"


def spec(name: str, network_mode: str = "bridge", **kwargs: Any) -> ContainerSpec:
    return ContainerSpec(name=name, image=IMAGE, labels={}, network_mode=network_mode, **kwargs)


def started(fake: FakeRuntime, name: str, network_mode: str = "bridge") -> str:
    cid = fake.create(spec(name, network_mode))
    fake.start(cid)
    return cid


# --- the fake: logs -----------------------------------------------------------------------------


def test_logs_return_what_the_container_printed_and_tail_keeps_the_last_lines() -> None:
    fake = FakeRuntime()
    cid = started(fake, "job")
    assert fake.logs(cid) == ""
    fake.set_logs(cid, "one\ntwo\n")
    fake.append_logs(cid, "three\n")
    assert fake.logs(cid) == "one\ntwo\nthree\n"
    assert fake.logs(cid, tail=2) == "two\nthree\n"
    assert fake.logs(cid, tail=0) == ""  # as dockerd: tail=0 is no lines, not all of them
    fake.exit(cid, 1)
    assert fake.logs(cid) == "one\ntwo\nthree\n"  # an exited container keeps its output


def test_logs_of_a_removed_container_are_gone() -> None:
    fake = FakeRuntime()
    cid = started(fake, "job")
    fake.set_logs(cid, "bye\n")
    fake.remove(cid)
    with pytest.raises(NotFound):
        fake.logs(cid)
    with pytest.raises(NotFound):
        fake.set_logs(cid, "late\n")


# --- the fake: addresses ------------------------------------------------------------------------


def test_running_containers_get_distinct_deterministic_addresses_that_stop_releases() -> None:
    fake = FakeRuntime()
    fake.create_network("mnp", {})
    a = fake.create(spec("a", "mnp"))
    assert fake.inspect(a).ip_address == ""  # created: no endpoint yet
    fake.start(a)
    b = started(fake, "b")
    assert (fake.inspect(a).ip_address, fake.inspect(b).ip_address) == ("10.88.0.2", "10.88.0.3")
    fake.exit(a)
    fake.kill(b, "SIGKILL")
    assert fake.inspect(a).ip_address == fake.inspect(b).ip_address == ""


@pytest.mark.parametrize("mode", ["host", "none", "container:abc"])
def test_containers_without_a_network_of_their_own_have_no_address(mode: str) -> None:
    fake = FakeRuntime()
    assert fake.inspect(started(fake, "x", mode)).ip_address == ""


# --- the fake: networks -------------------------------------------------------------------------


def test_create_network_is_idempotent_and_remove_of_a_missing_one_is_fine() -> None:
    fake = FakeRuntime()
    first = fake.create_network("job-1", {"skiff.kind": "Job"})
    assert fake.create_network("job-1", {}) == first
    assert fake.networks["job-1"].labels == {"skiff.kind": "Job"}
    fake.remove_network("job-1")
    fake.remove_network("job-1")
    assert fake.networks == {}
    assert ("create_network", "job-1") in fake.writes()


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_networks_cannot_be_created(name: str) -> None:
    with pytest.raises(InvalidRequest):
        FakeRuntime().create_network(name, {})


def test_a_container_on_an_unknown_network_is_created_but_refused_at_start() -> None:
    fake = FakeRuntime()
    cid = fake.create(spec("lost", "nowhere"))
    with pytest.raises(StartFailed, match="network nowhere not found"):
        fake.start(cid)
    info = fake.inspect(cid)
    assert (info.state, info.exit_code, info.failed_to_start) == ("created", 128, True)


def test_a_network_with_a_running_container_cannot_be_removed_until_it_stops() -> None:
    fake = FakeRuntime()
    fake.create_network("mnp", {})
    cid = started(fake, "main", "mnp")
    with pytest.raises(Conflict, match="active endpoints"):
        fake.remove_network("mnp")
    fake.exit(cid)
    fake.remove_network("mnp")  # stopped containers do not hold it, as in Docker
    with pytest.raises(StartFailed):
        fake.start(cid)


def test_ports_are_published_on_a_user_network_as_on_the_default_bridge() -> None:
    fake = FakeRuntime()
    fake.create_network("mnp", {})
    cid = fake.create(spec("web", "mnp", ports=(PortBinding(8080),)))
    fake.start(cid)
    (binding,) = fake.inspect(cid).ports
    assert binding.host_port == 32768


def test_the_instrumented_runtime_counts_the_new_calls() -> None:
    fake = FakeRuntime()
    metrics = Metrics()
    runtime = InstrumentedRuntime(fake, "h1", metrics)
    runtime.create_network("n", {})
    with pytest.raises(NotFound):
        runtime.logs("gone")
    runtime.remove_network("n")
    value = metrics.registry.get_sample_value
    for operation, outcome in [
        ("create_network", "success"),
        ("logs", "NotFound"),
        ("remove_network", "success"),
    ]:
        labels = {"host": "h1", "operation": operation, "outcome": outcome}
        assert value("skiff_docker_api_calls_total", labels) == 1


# --- pure mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "user", "ports"),
    [
        ("bridge", False, True),
        ("default", False, True),
        ("host", False, False),
        ("none", False, False),
        ("container:abc", False, False),
        ("skiff-job-1", True, True),
    ],
)
def test_network_modes(mode: str, user: bool, ports: bool) -> None:
    assert (is_user_network(mode), publishes_ports(mode)) == (user, ports)


def inspected(mode: str, networks: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": "c1",
        "Name": "/x",
        "Config": {"Labels": {}, "Image": "i"},
        "State": {"Status": "running", "ExitCode": 0},
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": networks},
    }


def test_the_address_is_the_one_on_the_network_the_mode_names() -> None:
    networks = {"aaa": {"IPAddress": "172.19.0.2"}, "mnp": {"IPAddress": "172.18.0.5"}}
    assert _container_info(inspected("mnp", networks)).ip_address == "172.18.0.5"


def test_the_address_falls_back_to_the_first_network_that_has_one() -> None:
    networks = {"aaa": {"IPAddress": ""}, "bridge": {"IPAddress": "172.17.0.3"}}
    assert _container_info(inspected("default", networks)).ip_address == "172.17.0.3"


def test_a_stopped_or_host_mode_container_has_no_address() -> None:
    assert _container_info(inspected("mnp", {"mnp": {"IPAddress": ""}})).ip_address == ""
    assert _container_info(inspected("host", {"host": {"IPAddress": ""}})).ip_address == ""
    assert _container_info(inspected("container:abc", {})).ip_address == ""


def api_error(cls: type[docker.errors.APIError], status: int, explanation: str) -> Exception:
    response = requests.Response()
    response.status_code = status
    return cls(explanation, response=response, explanation=explanation)


class StubAPI:
    """Answers as dockerd 20.10 did when probed; `errors` maps a method to what it raises."""

    def __init__(self, errors: dict[str, Exception]) -> None:
        self.errors = errors
        self.calls: list[str] = []

    def _answer(self, method: str, result: Any = None) -> Any:
        self.calls.append(method)
        if method in self.errors:
            raise self.errors[method]
        return result

    def create_network(self, name: str, **kwargs: Any) -> Any:
        assert kwargs["check_duplicate"] is True  # else dockerd makes a second one, same name
        return self._answer("create_network", {"Id": "new"})

    def inspect_network(self, name: str) -> Any:
        return self._answer("inspect_network", {"Id": "existing"})

    def remove_network(self, name: str) -> Any:
        return self._answer("remove_network")

    def start(self, container: str) -> Any:
        return self._answer("start")

    def logs(self, container: str, **kwargs: Any) -> Any:
        assert (kwargs["stdout"], kwargs["stderr"], kwargs["stream"]) == (True, True, False)
        return self._answer("logs", f"tail={kwargs['tail']}\n".encode() + b"\xff")


def backend(errors: dict[str, Exception] | None = None) -> DockerRuntime:
    runtime = DockerRuntime("unix:///nonexistent.sock")  # connects lazily: never here
    runtime._api = StubAPI(errors or {})  # type: ignore[assignment]
    return runtime


def test_backend_logs_ask_for_both_streams_and_decode_with_replacement() -> None:
    assert backend().logs("c1") == "tail=all\n\ufffd"
    assert backend().logs("c1", tail=5) == "tail=5\n\ufffd"


def test_backend_reuses_a_network_that_exists() -> None:
    runtime = backend({"create_network": api_error(docker.errors.APIError, 409, "exists")})
    assert runtime.create_network("mnp", {}) == "existing"
    assert backend().create_network("mnp", {}) == "new"


def test_backend_remove_network_maps_active_endpoints_to_conflict_and_ignores_missing() -> None:
    busy = api_error(
        docker.errors.APIError, 403, "error while removing network: ... has active endpoints"
    )
    with pytest.raises(Conflict):
        backend({"remove_network": busy}).remove_network("mnp")
    missing = api_error(docker.errors.NotFound, 404, "network mnp not found")
    backend({"remove_network": missing}).remove_network("mnp")


@pytest.mark.parametrize("network", ["mnp", "image-net"])
def test_backend_start_on_a_missing_network_is_a_start_failure_not_a_missing_container(
    network: str,
) -> None:
    gone = api_error(docker.errors.NotFound, 404, f"network {network} not found")
    with pytest.raises(StartFailed, match=f"network {network} not found"):
        backend({"start": gone}).start("c1")
    no_container = api_error(docker.errors.NotFound, 404, "No such container: c1")
    with pytest.raises(NotFound):
        backend({"start": no_container}).start("c1")
