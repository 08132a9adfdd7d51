"""The API's bounds on its clients: a client that connects and then waits (or drips bytes)
cannot hold the daemon's threads and sockets. At most `max_connections` are served at once,
one more is answered 503 straight away, and a silent connection is dropped after the I/O
timeout. A request body is read only as long as Content-Length says, and never a negative one
(which would read until the client hangs up)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.auth import ApiOptions, access_for
from controller.api.server import ApiServer
from tests.unit.test_batch_engine import harness

TOKEN = "the-right-token-0123456789"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    h = harness(tmp_path)
    access = access_for("127.0.0.1:0", ApiOptions(env_token=TOKEN), str(tmp_path / "data"))
    server = ApiServer(
        "127.0.0.1:0",
        h.ctl,
        lambda: True,
        str(tmp_path),
        access,
        max_connections=3,
        io_timeout=0.5,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(api: ApiServer) -> socket.socket:
    host, port = api.address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def get_healthz(api: ApiServer) -> bytes:
    with connect(api) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        return answer(s)


def test_idle_clients_cannot_take_every_thread(api: ApiServer) -> None:
    idle = [connect(api) for _ in range(3)]
    for s in idle:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the end of its headers
    time.sleep(0.2)
    started = time.monotonic()
    busy = get_healthz(api)
    assert busy.startswith(b"HTTP/1.0 503"), busy[:80]
    assert b"Retry-After: 1" in busy
    assert time.monotonic() - started < 1  # answered at once, not after a wait
    for s in idle:  # each dropped once silent for the I/O timeout
        assert answer(s) == b""
        s.close()
    assert get_healthz(api).startswith(b"HTTP/1.0 200")


def test_a_negative_content_length_is_refused_not_read_to_the_end(api: ApiServer) -> None:
    with connect(api) as s:
        s.sendall(
            b"POST /v1/instances/i-1/stop HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}"
        )  # the connection stays open: read(-1) would wait for its end
        reply = answer(s)
    assert reply.startswith(b"HTTP/1.0 400"), reply[:80]
    assert b"Content-Length is negative" in reply
