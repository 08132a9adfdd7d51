"""Where the target response times come from: HAProxy is told to log each request as
`BACKEND TR` to the data plane's datagram socket, and the data plane reads them back per
target group (seconds), leaving out other backends and requests no target answered."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from controller.dataplane import Configuration, Forward, Listener, LoadBalancer
from controller.dataplane.haproxy_config import configuration_text
from controller.dataplane.request_log import RequestLog, parse
from controller.ecs.planners.task_state import stop_code


def test_haproxy_is_told_to_log_each_request_to_the_socket() -> None:
    config = Configuration(
        "127.0.0.1", {"front": LoadBalancer((Listener(8080, Forward((("web", 1),))),))}, {}
    )
    text = configuration_text(config, "/run/a.sock", "/run/requests.sock")
    lines = [line.strip() for line in text.splitlines()]
    assert "log /run/requests.sock format raw local0 info" in lines  # global
    assert "log global" in lines and "log-format '%b %Tr'" in lines  # defaults
    assert "log global" not in configuration_text(config, "/run/a.sock")


def test_a_logged_line_is_a_groups_response_time_in_seconds() -> None:
    assert parse("tg_web 12") == ("web", 0.012)
    assert parse("tg_web -1") is None  # no target answered (a fixed response, a failed connect)
    assert parse("lb_front_8080 0") is None  # no target group's backend
    assert parse("garbage") is None and parse("tg_web x") is None


def test_times_sent_to_the_socket_are_taken_once(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "requests.sock")
    log.open()
    log.open()  # idempotent
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as haproxy:
            for line in (b"tg_web 3\n", b"tg_api 250\n", b"tg_web -1\n", b"tg_web 7\n"):
                haproxy.sendto(line, str(log.path))
        got: dict[str, list[float]] = {}
        done = threading.Event()

        def taken() -> bool:
            for group, times in log.take().items():
                got.setdefault(group, []).extend(times)
            return sum(map(len, got.values())) == 3

        for _ in range(200):  # the reader thread takes each datagram as it comes
            if taken():
                done.set()
                break
            done.wait(0.01)
        assert got == {"web": [0.003, 0.007], "api": [0.25]}
        assert log.take() == {}
    finally:
        log.close()
    assert not log.path.exists()


def test_ecs_stop_codes() -> None:
    assert stop_code("Essential container in task exited") == "EssentialContainerExited"
    assert stop_code("CannotStartContainerError: app: exec failed") == "TaskFailedToStart"
    assert stop_code("Task failed to start: container app was never created") == "TaskFailedToStart"
    assert stop_code("Scaling activity initiated by (service web)") == "ServiceSchedulerInitiated"
    assert stop_code("Task failed container health checks") == "ServiceSchedulerInitiated"
