"""URLs and addresses that validated but failed at run time: Prometheus URLs, host URLs Docker
would read otherwise, TLS paths, host addresses, and the daemon's own flags; each is now refused
with its file, document and field (or by the daemon at start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.cli import main as cli
from controller.cli.main import main
from tests.support.documents import document, host_doc
from tests.unit.manifest_values_support import errors

# --- URLs -------------------------------------------------------------------------------------


def alarm(url: str) -> dict[str, Any]:
    metric = {"prometheusQuery": "sum(up)", "prometheusUrl": url}
    spec = {"metric": metric, "threshold": 1, "comparisonOperator": "LessThanThreshold"}
    return document("Alarm", "up", spec)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://prom.lan",
        "http://",
        "HTTP://prom.lan:9090",
        " http://prom.lan",
        "http://prom.lan:99999",
        "http://user:secret@prom.lan",
        "http://prom.lan/?x=1",
        "http://prom;lan",
    ],
)
def test_a_prometheus_url_is_http_or_https_with_a_host(tmp_path: Path, url: str) -> None:
    assert list(errors(tmp_path, alarm(url))) == ["1:spec.metric.prometheusUrl"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9090", "https://prom.lan/prometheus"])
def test_prometheus_urls_that_work_are_fine(tmp_path: Path, url: str) -> None:
    assert errors(tmp_path, alarm(url)) == {}


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """`skiff run` stops after reading its flags: no daemon starts."""
    monkeypatch.setattr(cli, "_run", lambda args: 0)


@pytest.mark.usefixtures("no_daemon")
def test_the_daemon_refuses_a_prometheus_url_flag_it_could_not_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--manifests", ".", "--prometheus-url", "file:///etc/passwd"])
    assert exit_.value.code == 2
    assert "--prometheus-url" in capsys.readouterr().err


@pytest.mark.usefixtures("no_daemon")
def test_the_daemon_refuses_a_listener_address_haproxy_would_misread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--manifests", ".", "--lb-address", "127.0.0.1\nglobal"])
    assert "--lb-address" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    [
        "TCP://10.0.0.5:2376",
        " tcp://10.0.0.5:2376",
        "t\tcp://10.0.0.5:2376",
        "tcp://10.0.0.5:2376\n",
        "unix:relative.sock",
        "unix:/var/run/docker.sock",
        "unix:",
        "unix://",
        "unix://var/run/docker.sock",
        "tcp://10.0.0.5:99999",
        "tcp://docker;1:2376",
        "tcp://user@10.0.0.5:2376",
        "ssh://me@host/path",
        "npipe:////./pipe/docker_engine",
    ],
)
def test_a_host_url_docker_would_read_otherwise_is_refused(tmp_path: Path, url: str) -> None:
    assert list(errors(tmp_path, host_doc("h1", url=url))) == ["1:spec.url"]


@pytest.mark.parametrize(
    "url",
    [
        "unix:///var/run/docker.sock",
        "tcp://10.0.0.5:2376",
        "tcp://[fd00::5]:2376",
        "ssh://me@docker-1.lan",
        "https://docker.lan:2376",
    ],
)
def test_host_urls_docker_reads_are_fine(tmp_path: Path, url: str) -> None:
    assert errors(tmp_path, host_doc("h1", url=url)) == {}


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ({"caCert": "certs/ca.pem"}, "spec.tls.caCert"),
        ({"caCert": "/etc/ca.pem\n"}, "spec.tls.caCert"),
        ({"clientCert": "/etc/cert.pem"}, "spec.tls"),
        ({"clientKey": "/etc/key.pem"}, "spec.tls"),
    ],
)
def test_tls_paths_are_absolute_and_a_certificate_needs_its_key(
    tmp_path: Path, tls: dict[str, str], field: str
) -> None:
    found = errors(tmp_path, host_doc("h1", url="tcp://10.0.0.5:2376", tls=tls))
    assert list(found) == [f"1:{field}"]


@pytest.mark.parametrize("address", ["10.0.0.5", "fd00::5", "[fd00::5]", "docker-1.lan"])
def test_a_host_address_is_an_ip_or_a_host_name(tmp_path: Path, address: str) -> None:
    assert errors(tmp_path, host_doc("h1", address=address)) == {}
