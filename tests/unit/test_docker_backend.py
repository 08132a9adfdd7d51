"""How the Docker backend reads what dockerd reports (no engine needed)."""

from __future__ import annotations

from controller.runtime.docker_backend import _container_info


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
