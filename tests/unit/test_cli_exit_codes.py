"""The CLI's exit codes and messages when the daemon is not there, or something else answers at
its address: 3 with a one-line hint (the address, where it came from, "is `skiff run`
running?"), never a traceback; 1 for what the daemon refused; 2 for usage."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.cli.api_client import api_address
from controller.cli.main import main
from tests.support.daemon import free_port

CLIENT_COMMANDS = [
    ["status"],
    ["get", "svc"],
    ["describe", "svc", "web"],
    ["rollout", "status", "svc/web"],
    ["events", "--no-follow"],
    ["batch", "list"],
    ["batch", "describe", "j-1"],
    ["asg", "set-desired", "web", "2"],
    ["instance", "stop", "i-1"],
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_TOKEN", "some-token-0123456789")
    monkeypatch.delenv("SKIFF_API", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def serve(answer: tuple[int, str, bytes]) -> Iterator[str]:
    """A web server on 127.0.0.1 that is not Skiff: every request gets `answer` (status,
    content type, body). Yields its HOST:PORT."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            code, ctype, body = answer
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def web_page() -> Iterator[str]:
    yield from serve((200, "text/html", b"<html><body>It works!</body></html>"))


@pytest.fixture
def html_404() -> Iterator[str]:
    yield from serve((404, "text/html", b"<html><body>Not Found</body></html>"))


@pytest.fixture
def other_json() -> Iterator[str]:
    yield from serve((200, "application/json", b'{"hello": "world"}'))


@pytest.fixture
def not_http() -> Iterator[str]:
    """A TCP port that answers with an SSH-like banner, then closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.mark.parametrize("argv", CLIENT_COMMANDS, ids=" ".join)
def test_no_daemon_exits_3_with_the_address_its_source_and_the_hint(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code, out, err = run(capsys, *argv, "--api", f"127.0.0.1:{port}")
    assert code == 3
    assert err == (
        f"skiff: cannot reach the daemon at http://127.0.0.1:{port} (--api): connection refused; "
        "is `skiff run` running?\n"
    )
    assert out == ""


def test_the_hint_says_the_address_came_from_the_environment_or_the_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("SKIFF_API", f"http://127.0.0.1:{port}")
    code, _, err = run(capsys, "status")
    assert code == 3
    assert f"at http://127.0.0.1:{port} ($SKIFF_API)" in err
    monkeypatch.delenv("SKIFF_API")
    assert api_address(None, {}) == ("http://127.0.0.1:9464", "the default")


@pytest.mark.parametrize("argv", CLIENT_COMMANDS, ids=" ".join)
def test_a_web_server_that_is_not_skiff_gets_a_clear_message_and_exit_3(
    argv: list[str], web_page: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv, "--api", web_page)
    assert code == 3, err
    assert err.startswith(
        f"skiff: http://{web_page} (--api) answered, but not as the Skiff API: HTTP 200 text/html"
    )
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("server", "what"),
    [
        ("html_404", "HTTP 404 text/html"),
        ("other_json", "JSON without"),
        ("not_http", "not HTTP"),
    ],
)
def test_other_answers_that_are_not_skiff_exit_3(
    server: str, what: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    address = request.getfixturevalue(server)
    code, _, err = run(capsys, "get", "svc", "--api", address)
    assert code == 3
    assert "answered, but not as the Skiff API: " + what in err
    assert "Traceback" not in err and "JSONDecodeError" not in err


def test_a_refusal_from_the_daemon_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    answer = (404, "application/json", b'{"message": "no Auto Scaling group named web"}')
    for address in serve(answer):
        code, _, err = run(capsys, "asg", "set-desired", "web", "2", "--api", address)
        assert (code, err) == (1, "skiff: no Auto Scaling group named web\n")


def test_an_address_that_is_not_one_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("https://127.0.0.1:9464", "127.0.0.1:http", "http://127.0.0.1:1/v1"):
        code, _, err = run(capsys, "status", "--api", bad)
        assert code == 1, bad
        assert err.startswith(f"skiff: --api {bad!r} is not an address")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["get"],
        ["status", "-o", "xml"],
        ["rollout", "status", "svc/w", "--timeout", "x"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--listen" not in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # --listen is run's alone
        main(["status", "--listen", "127.0.0.1:1"])
    assert exc.value.code == 2
