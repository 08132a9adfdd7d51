"""Write access to a manifest must never become a command on HAProxy's runtime API.

Every field whose value reaches HAProxy's configuration or its runtime API gets hostile values
(a newline then `global` and a `lua-load`, `;`, `#`, quotes, a backslash, `%[`, a space, NUL,
100,000 characters). Forced past validation, through the load balancer sync, no runtime command
holds a `;` or a newline: a hostile value is reported and never written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from controller.dataplane.fake import FakeServer
from tests.unit.haproxy_injection_support import HOSTILE, hostile, lua_script
from tests.unit.test_lb_sync import BACKEND, FRONT, Harness, balancer, service


@pytest.fixture
def lua(tmp_path: Path) -> Path:
    return lua_script(tmp_path)


# --- the runtime API, through the sync ----------------------------------------------------------


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "m")  # the fake data plane takes every port for free


def no_separators(commands: list[str]) -> None:
    assert commands
    for line in commands:
        assert ";" not in line and "\n" not in line and "\r" not in line, line


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_host_address_forced_past_validation_never_reaches_the_runtime_api(
    h: Harness, tmp_path: Path, lua: Path, kind: str
) -> None:
    value = hostile(kind, lua)
    h.apply("lb.yaml", balancer(FRONT))
    for handle in h.ctl.hosts.values():
        handle.spec = handle.spec.model_copy(update={"address": value})

    h.apply("web.yaml", service(2))

    assert len(h.running()) == 2  # the service runs; its targets are left out
    assert h.registered() == []
    assert all(value not in c for c in h.dp.commands)
    assert value not in h.dp.config


def test_servers_with_hostile_names_are_never_named_in_a_command(h: Harness) -> None:
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(1))
    h.pass_checks()
    h.converge()
    h.dp.backends[BACKEND]["tx;del server tg_web/t1"] = FakeServer("127.0.0.1", 9, "check")
    h.dp.backends[BACKEND]["bx\nshow info"] = FakeServer("127.0.0.1", 9, "backup")

    h.converge()

    no_separators(h.dp.commands)
    assert len(h.registered()) == 1  # the service's own target is untouched
    status = h.status("TargetGroup", "web")
    assert "cannot be a HAProxy name" in str(status["message"])


def test_a_hostile_listener_address_is_reported_and_never_written(h: Harness) -> None:
    h.ctl.settings = dataclasses.replace(h.ctl.settings, lb_address="127.0.0.1\nglobal")

    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(1))

    assert not h.dp.running() and h.dp.config == ""
    status = h.status("LoadBalancer", "*")
    assert status["status"] == "ERROR"
    assert "cannot be written to HAProxy" in str(status["message"])


def test_commands_the_sync_sends_hold_no_separator(h: Harness) -> None:
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(2))
    h.pass_checks()
    h.converge()
    h.apply("web.yaml", service(0))
    no_separators(h.dp.commands)
