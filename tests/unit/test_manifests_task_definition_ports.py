"""TaskDefinition network modes and port mappings: host and none modes, host ports that clash,
container port range.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.documents import container
from tests.unit.manifests_support import td, td_problems

HOST_PORT_AT = "containerDefinitions.0.portMappings.0.hostPort"
HOST_MODE_MESSAGE = "with networkMode host, hostPort must equal containerPort"


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            {"containerPort": 80, "hostPort": 8080},
            {HOST_PORT_AT: HOST_MODE_MESSAGE},
            id="different",
        ),
        pytest.param({"containerPort": 80, "hostPort": 80}, {}, id="equal"),
        pytest.param({"containerPort": 80}, {}, id="omitted"),
    ],
)
def test_host_network_mode_needs_host_port_equal_to_container_port(
    mapping: dict[str, int], expected: dict[str, str]
) -> None:
    assert td_problems(td(container(portMappings=[mapping]), networkMode="host")) == expected


def test_none_network_mode_refuses_port_mappings() -> None:
    problems = td_problems(
        td(
            container(portMappings=[{"containerPort": 80}, {"containerPort": 81}]),
            networkMode="none",
        )
    )

    assert problems == {
        "containerDefinitions.0.portMappings.0": "networkMode none has no ports to map",
        "containerDefinitions.0.portMappings.1": "networkMode none has no ports to map",
    }


def test_none_network_mode_without_ports_is_fine() -> None:
    assert td_problems(td(container(), networkMode="none")) == {}


def test_duplicate_static_host_port_is_rejected_naming_the_first_user() -> None:
    problems = td_problems(
        td(
            container("web", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
            container("api", portMappings=[{"containerPort": 81, "hostPort": 8080}]),
        )
    )

    assert problems == {
        "containerDefinitions.1.portMappings.0.hostPort": (
            "host port 8080/tcp is already used by web"
        )
    }


def test_duplicate_container_port_in_host_mode_is_rejected() -> None:
    problems = td_problems(
        td(
            container("a", portMappings=[{"containerPort": 80}]),
            container("b", portMappings=[{"containerPort": 80}]),
            networkMode="host",
        )
    )

    assert list(problems) == ["containerDefinitions.1.portMappings.0.hostPort"]


@pytest.mark.parametrize(
    "mappings",
    [
        pytest.param([{"containerPort": 80}, {"containerPort": 81}], id="dynamic-omitted"),
        pytest.param(
            [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81, "hostPort": 0}],
            id="dynamic-zero",
        ),
        pytest.param(
            [
                {"containerPort": 53, "hostPort": 53, "protocol": "tcp"},
                {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
            ],
            id="same-port-other-protocol",
        ),
    ],
)
def test_ports_that_do_not_clash_are_fine(mappings: list[dict[str, Any]]) -> None:
    assert td_problems(td(container(portMappings=mappings))) == {}


@pytest.mark.parametrize(("port", "ok"), [(0, False), (1, True), (65535, True), (65536, False)])
def test_container_port_range(port: int, ok: bool) -> None:
    problems = td_problems(td(container(portMappings=[{"containerPort": port}])))

    assert (problems == {}) is ok
    if not ok:
        assert list(problems) == ["containerDefinitions.0.portMappings.0.containerPort"]
