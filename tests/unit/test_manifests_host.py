"""Host manifests: URL schemes, reach address, defaults, TLS, capacity minimums."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.manifests.host import HostSpec, check_host
from tests.support.documents import host_doc, write
from tests.unit.manifests_support import errors_at, load

# --- Host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reach"),
    [
        ("unix:///var/run/docker.sock", "127.0.0.1"),
        ("tcp://10.0.0.5:2376", "10.0.0.5"),
        ("tcp://docker-1.lan:2375", "docker-1.lan"),
        ("ssh://admin@box.lan", "box.lan"),
        ("ssh://admin@box.lan:2222", "box.lan"),
    ],
)
def test_host_url_schemes_and_default_reach_address(url: str, reach: str) -> None:
    spec = HostSpec.model_validate({"url": url})

    assert check_host(spec) == []
    assert spec.reach_address() == reach


def test_host_explicit_address_wins() -> None:
    spec = HostSpec.model_validate({"url": "unix:///run/docker.sock", "address": "192.168.1.9"})

    assert spec.reach_address() == "192.168.1.9"


def test_host_defaults() -> None:
    spec = HostSpec.model_validate({"url": "unix:///run/docker.sock"})

    assert (spec.zone, spec.tls, spec.attributes) == ("local", None, {})
    assert (spec.capacity.cpu, spec.capacity.memory) == (None, None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.lan", "url must start with unix://, tcp://, ssh://, http:// or https://"),
        (
            "/var/run/docker.sock",
            "url must start with unix://, tcp://, ssh://, http:// or https://",
        ),
        ("tcp://", "url has no host name"),
        ("ssh://", "url has no host name"),
    ],
)
def test_host_bad_url_is_reported_on_spec_url(tmp_path: Path, url: str, message: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", url=url))

    assert errors_at(load(tmp_path)) == {"hosts.yaml#1:spec.url": message}


def test_host_tls_with_tcp_is_accepted(tmp_path: Path) -> None:
    write(
        tmp_path,
        "hosts.yaml",
        host_doc("h1", url="tcp://10.0.0.5:2376", tls={"caCert": "/etc/ca.pem", "verify": True}),
    )

    result = load(tmp_path)

    assert result.errors == []
    tls = result.resources[("Host", "h1")].spec.tls
    assert (tls.ca_cert, tls.verify) == ("/etc/ca.pem", True)


@pytest.mark.parametrize("url", ["unix:///var/run/docker.sock", "ssh://me@box"])
def test_host_tls_without_tcp_is_rejected(tmp_path: Path, url: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", url=url, tls={"verify": False}))

    result = load(tmp_path)

    assert errors_at(result) == {
        "hosts.yaml#1:spec.tls": "tls applies only to tcp:// and https:// urls"
    }
    assert result.claimed == {("Host", "h1")}


@pytest.mark.parametrize(("capacity", "field"), [({"cpu": 64}, "cpu"), ({"memory": 32}, "memory")])
def test_host_capacity_has_minimums(tmp_path: Path, capacity: dict[str, int], field: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", capacity=capacity))

    assert list(errors_at(load(tmp_path))) == [f"hosts.yaml#1:spec.capacity.{field}"]
