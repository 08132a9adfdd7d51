"""Who may call the daemon's API: /v1 needs the bearer token and a Host that names the daemon
(a DNS rebinding page names its own domain); health, readiness and metrics stay open. The token
the daemon generates is private (0600) from its first byte and survives restarts."""

from __future__ import annotations

import json
import os
import socket
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.api.auth import (
    AccessError,
    ApiOptions,
    access_for,
    allowed_hosts,
    load_or_create_token,
)
from controller.api.server import ApiServer
from tests.support.harness import Harness
from tests.unit.test_batch_engine import harness

TOKEN = "the-right-token-0123456789"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Harness]]:
    """One API for the module (stopping one takes half a second); tests count jobs they add."""
    tmp_path = tmp_path_factory.mktemp("api")
    h = harness(tmp_path)
    access = access_for("127.0.0.1:0", ApiOptions(env_token=TOKEN), str(tmp_path / "data"))
    api = ApiServer("127.0.0.1:0", h.ctl, lambda: True, str(tmp_path), access)
    api.start()
    try:
        yield api, h
    finally:
        api.stop()


def call(
    api: ApiServer,
    path: str,
    *,
    token: str | None = None,
    host: str | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request, whatever its status."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if host:
        headers["Host"] = host
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(
        f"http://{api.address}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def message(body: bytes) -> str:
    return str(json.loads(body)["message"])


# --- the token ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/status", "/v1/batch/jobs", "/v1/events?follow=false", "/v1/nowhere"]
)
def test_a_v1_request_without_the_token_is_refused_with_how_to_get_it(
    daemon: tuple[ApiServer, Harness], path: str
) -> None:
    code, headers, body = call(daemon[0], path)
    assert code == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer TOKEN" in message(body)
    assert "SKIFF_TOKEN" in message(body) and "data directory" in message(body)


def test_a_wrong_token_is_refused(daemon: tuple[ApiServer, Harness]) -> None:
    code, headers, body = call(daemon[0], "/v1/status", token=TOKEN + "x")
    assert code == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert "not this daemon's" in message(body)


def test_the_right_token_gets_the_status(daemon: tuple[ApiServer, Harness]) -> None:
    code, _, body = call(daemon[0], "/v1/status", token=TOKEN)
    assert code == 200
    assert "resources" in json.loads(body)


def test_a_command_without_the_token_changes_nothing(daemon: tuple[ApiServer, Harness]) -> None:
    api, h = daemon
    before = len(h.store.jobs())
    code, _, _ = call(api, "/v1/batch/jobs", body={"jobQueue": "q", "jobDefinition": "work"})
    assert code == 401
    assert len(h.store.jobs()) == before
    code, _, body = call(
        api, "/v1/batch/jobs", token=TOKEN, body={"jobQueue": "q", "jobDefinition": "work"}
    )
    assert code == 200, body
    assert len(h.store.jobs()) == before + 1


# --- the Host check -------------------------------------------------------------------------------


def test_a_rebinding_page_cannot_submit_a_job_even_with_the_token(
    daemon: tuple[ApiServer, Harness],
) -> None:
    api, h = daemon
    before = len(h.store.jobs())
    job = {"jobQueue": "q", "jobDefinition": "work"}
    code, _, body = call(api, "/v1/batch/jobs", token=TOKEN, host="attacker.example", body=job)
    assert code == 421
    assert "attacker.example" in message(body) and "--api-host" in message(body)
    assert len(h.store.jobs()) == before
    code, _, _ = call(api, "/v1/status", token=TOKEN, host="attacker.example:9464")
    assert code == 421


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:1", "localhost:9464", "[::1]:80"])
def test_loopback_names_with_any_port_are_this_daemon_on_a_loopback_listen(
    daemon: tuple[ApiServer, Harness], host: str
) -> None:
    code, _, _ = call(daemon[0], "/v1/status", token=TOKEN, host=host)
    assert code == 200


@pytest.mark.parametrize("host", ["[::1]evil", "[::1]:80x", "localhost:x", "[::1", "localhost:1:2"])
def test_a_loopback_name_followed_by_anything_but_a_port_is_not_this_daemon(
    daemon: tuple[ApiServer, Harness], host: str
) -> None:
    assert call(daemon[0], "/v1/status", token=TOKEN, host=host)[0] == 421


def test_a_refused_host_is_shown_bounded_and_a_folded_one_not_at_all(
    daemon: tuple[ApiServer, Harness],
) -> None:
    """The refusal is logged too: a folded Host line would carry the next header with it
    (`Host: localhost` + `\\r\\n Authorization: Bearer TOKEN`), and a long one fills the log."""
    code, _, body = call(daemon[0], "/v1/status", token=TOKEN, host="a" * 5000 + ".example")
    assert code == 421 and len(message(body)) < 400 and "(5008 characters)" in message(body)
    host, port = daemon[0].address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(
            f"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n Authorization: Bearer {TOKEN}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 421")
    assert TOKEN[:8].encode() not in reply and b"(a malformed value)" in reply


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_readiness_and_metrics_stay_open(
    daemon: tuple[ApiServer, Harness], path: str
) -> None:
    assert call(daemon[0], path)[0] == 200
    assert call(daemon[0], path, host="prometheus.example:9464")[0] == 200


def test_the_names_a_listen_address_answers_to() -> None:
    loopback = {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("127.0.0.1:9464") == loopback
    assert allowed_hosts(":9464") == loopback  # the server binds 127.0.0.1 then
    assert allowed_hosts("0.0.0.0:9464", ("skiff.lan", "Box.Example.:9464")) == loopback | {
        "skiff.lan",
        "box.example",
    }
    assert allowed_hosts("192.168.1.5:9464") == {"192.168.1.5"}
    assert allowed_hosts("192.168.1.5:9464", ("skiff.lan",)) == {"192.168.1.5", "skiff.lan"}


# --- where the token comes from -------------------------------------------------------------------


def test_the_generated_token_is_private_from_its_first_byte_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    modes: list[int] = []
    real_write = os.write

    def write(fd: int, data: bytes) -> int:  # the file's mode when the token goes in
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    old = os.umask(0)  # even an operator's umask of 0 gives no one else a look
    try:
        first = access_for("127.0.0.1:9464", ApiOptions(), str(tmp_path)).token
    finally:
        os.umask(old)
    assert modes == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    again = access_for("127.0.0.1:9464", ApiOptions(), str(tmp_path)).token  # a restart
    assert again == first


def test_a_token_file_others_can_read_is_refused_with_what_to_do(tmp_path: Path) -> None:
    token = load_or_create_token(str(tmp_path))
    assert token
    (tmp_path / "token").chmod(0o644)
    with pytest.raises(AccessError, match=r"mode 0644.*delete it and restart"):
        access_for("127.0.0.1:9464", ApiOptions(), str(tmp_path))


def test_deleting_the_token_file_rotates_the_token(tmp_path: Path) -> None:
    first = load_or_create_token(str(tmp_path))
    (tmp_path / "token").unlink()
    assert load_or_create_token(str(tmp_path)) != first


def test_the_operator_s_token_wins_and_no_file_is_generated(tmp_path: Path) -> None:
    token_file = tmp_path / "secret"
    token_file.write_text("from-the-file-0123456789\n")
    both = ApiOptions(token_file=str(token_file), env_token="from-the-environment-0123")
    assert access_for("127.0.0.1:1", both, str(tmp_path / "d")).token == "from-the-file-0123456789"
    env = ApiOptions(env_token="from-the-environment-0123")
    assert access_for("127.0.0.1:1", env, str(tmp_path / "d")).token == "from-the-environment-0123"
    assert not (tmp_path / "d" / "token").exists()


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "192.168.1.5:9464", "skiff.lan:9464"])
def test_a_non_loopback_listen_needs_a_token_the_operator_chose(
    tmp_path: Path, listen: str
) -> None:
    with pytest.raises(AccessError, match=r"SKIFF_TOKEN.*--token-file"):
        access_for(listen, ApiOptions(), str(tmp_path))
    assert not (tmp_path / "token").exists()  # a generated token is not enough
    access = access_for(listen, ApiOptions(env_token="chosen-by-the-operator-01"), str(tmp_path))
    assert access.token == "chosen-by-the-operator-01"


@pytest.mark.parametrize(
    "token", ["short", "has a space in it 0123456789", "tab\tseparated-0123456"]
)
def test_a_weak_or_unsendable_operator_token_is_refused(tmp_path: Path, token: str) -> None:
    with pytest.raises(AccessError, match="SKIFF_TOKEN: a token is at least 16 printable"):
        access_for("127.0.0.1:1", ApiOptions(env_token=token), str(tmp_path))


def test_an_unreadable_token_file_is_refused_with_its_name(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(AccessError, match=f"--token-file {missing}: cannot read it"):
        access_for("127.0.0.1:1", ApiOptions(token_file=missing), str(tmp_path))
