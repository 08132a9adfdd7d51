"""How the Docker backend reads what dockerd reports (no engine needed)."""

from __future__ import annotations

import pytest

from controller.runtime import EngineUnavailable, InvalidRequest, PortTaken, StartFailed
from controller.runtime.docker_errors import start_failure as _start_failure
from controller.runtime.docker_responses import container_info as _container_info


def test_the_ipv4_host_port_wins_when_docker_publishes_different_ones_per_family() -> None:
    data = {
        "Id": "c1",
        "Name": "/x",
        "Created": "2026-11-27T21:00:00.123456789Z",
        "Config": {"Labels": {}, "Image": "i"},
        "State": {"Status": "running", "ExitCode": 0, "StartedAt": "2026-11-27T21:00:01Z"},
        "NetworkSettings": {
            "Ports": {
                "8080/tcp": [
                    {"HostIp": "::", "HostPort": "35005"},
                    {"HostIp": "0.0.0.0", "HostPort": "35006"},
                ]
            }
        },
    }
    (binding,) = _container_info(data).ports
    assert (binding.container_port, binding.host_port) == (8080, 35006)


def test_a_created_container_reports_the_ports_it_asked_for() -> None:
    data = {
        "Id": "c2",
        "Name": "/y",
        "Created": "2026-11-27T21:00:00Z",
        "Config": {"Labels": {}, "Image": "i"},
        "State": {"Status": "created", "ExitCode": 0},
        "NetworkSettings": {"Ports": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "45123"}]}},
    }
    (binding,) = _container_info(data).ports
    assert binding.host_port == 45123


@pytest.mark.parametrize(
    "answer",
    [
        "driver failed programming external connectivity on endpoint x (abc): Bind for "
        "0.0.0.0:21000 failed: port is already allocated",
        "driver failed programming external connectivity on endpoint x (abc): Error starting "
        "userland proxy: listen tcp4 0.0.0.0:33011: bind: address already in use",
    ],
)
def test_a_published_port_held_elsewhere_is_a_port_conflict_not_an_engine_failure(
    answer: str,
) -> None:
    # dockerd answers 500, which would otherwise read as an engine that is failing.
    failure = _start_failure(EngineUnavailable(answer))
    assert isinstance(failure, PortTaken) and not failure.transient
    assert str(failure).startswith("CannotStartContainerError: ")


def test_other_start_failures_keep_their_meaning() -> None:
    assert type(_start_failure(InvalidRequest('exec: "nope": not found'))) is StartFailed
    assert type(_start_failure(EngineUnavailable("connection refused"))) is EngineUnavailable
