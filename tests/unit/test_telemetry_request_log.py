"""Where the target response times come from: HAProxy is told to log requests as
`BACKEND TR WEIGHT` to the data plane's datagram socket (every request while a listener is
quiet, 1 in N with weight N above SAMPLING's rates), and the data plane adds them up per target
group in a weighted histogram, leaving out other backends and requests no target answered."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from controller.dataplane import Configuration, Forward, Listener, LoadBalancer
from controller.dataplane.haproxy_config import SAMPLING, configuration_text
from controller.dataplane.request_log import RequestLog, parse
from controller.dataplane.response_times import BUCKETS, ResponseTimes, tally
from controller.dataplane.values import FixedResponse, Target, TargetGroup
from controller.ecs.planners.task_state import stop_code
from controller.telemetry import Metrics

CONFIG = Configuration(
    "127.0.0.1",
    {
        "front": LoadBalancer(
            (Listener(8080, Forward((("web", 1),))), Listener(8081, FixedResponse("404")))
        )
    },
    {"web": TargetGroup()},
    {"web": [Target("a" * 32, "127.0.0.1", 32768)]},
)
SAMPLE_LINES = [
    "http-request set-var(txn.skiff_w) int(1)",
    "http-request set-var(txn.skiff_w) int(16) if { fe_req_rate ge 200 }",
    "http-request set-var(txn.skiff_w) int(128) if { fe_req_rate ge 3200 }",
    "http-request set-log-level silent if { var(txn.skiff_w) -m int eq 16 }"
    " !{ rand(16) -m int eq 0 }",
    "http-request set-log-level silent if { var(txn.skiff_w) -m int eq 128 }"
    " !{ rand(128) -m int eq 0 }",
]


def frontends(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("frontend "):
            current = out[line.split()[1]] = []
        elif not line.startswith(" "):
            current = None
        elif current is not None:
            current.append(line.strip())
    return out


def test_haproxy_is_told_to_log_requests_with_their_weight_to_the_socket() -> None:
    text = configuration_text(CONFIG, "/run/a.sock", "/run/requests.sock")
    lines = [line.strip() for line in text.splitlines()]
    assert "log /run/requests.sock format raw local0 info" in lines  # global
    assert "log global" in lines  # defaults
    assert "log-format '%b %Tr %[var(txn.skiff_w)]'" in lines
    plain = configuration_text(CONFIG, "/run/a.sock")
    assert "log global" not in plain and "skiff_w" not in plain


def test_each_listener_samples_its_requests_by_its_own_rate_in_tiers() -> None:
    assert SAMPLING == ((200, 16), (3200, 128))
    fronts = frontends(configuration_text(CONFIG, "/run/a.sock", "/run/requests.sock"))
    assert set(fronts) == {"lb_front_8080", "lb_front_8081"}
    for lines in fronts.values():
        # first after bind: a fixed response or a redirect ends the rules, and is sampled too
        assert lines[1 : 1 + len(SAMPLE_LINES)] == SAMPLE_LINES
    assert not any("fe_req_rate" in line for line in frontends(configuration_text(CONFIG, "x")))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
def test_haproxy_accepts_the_sampling_rules(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(configuration_text(CONFIG, str(tmp_path / "a.sock"), str(tmp_path / "r.sock")))
    out = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr


def test_a_logged_line_is_a_groups_response_time_in_ms_and_its_weight() -> None:
    assert parse(b"tg_web 12 1\n") == ("web", 12, 1)
    assert parse(b"tg_web 12 128") == ("web", 12, 128)
    assert parse(b"tg_web -1 16") is None  # no target answered (a fixed response, a failed connect)
    assert parse(b"lb_front_8080 0 1") is None  # no target group's backend
    assert parse(b"lb_front_8080 -1 -") is None  # a connection closed before any request
    for garbage in (b"garbage", b"tg_web x 1", b"tg_web 12", b"tg_web 12 -", b"tg_web 12 0"):
        assert parse(garbage) is None, garbage
    names: dict[bytes, str | None] = {}
    assert parse(b"tg_api 3 16", names) == ("api", 3, 16)
    assert parse(b"tg_api 4 16", names) == ("api", 4, 16) and names == {b"tg_api": "api"}


def test_a_tally_adds_each_line_weight_times_to_its_bucket_count_and_sum() -> None:
    times = ResponseTimes()
    times.add(5)  # a bound belongs to its bucket (le: at most)
    times.add(6, 16)
    times.add(250, 128)
    times.add(90_000, 2)  # beyond every bound: +Inf's alone
    le = dict(zip([*BUCKETS, float("inf")], times.buckets, strict=True))
    assert le[0.005] == 1 and le[0.01] == 16 and le[0.25] == 128 and le[float("inf")] == 2
    assert sum(times.buckets) == times.count == 1 + 16 + 128 + 2
    assert times.sum_ms == 5 + 6 * 16 + 250 * 128 + 90_000 * 2
    assert times.sum == times.sum_ms / 1000
    assert tally((5, 1), (6, 16), (250, 128), (90_000, 2)) == times


def send(log: RequestLog, lines: list[bytes]) -> None:
    """As HAProxy does, one datagram per line (a blocking sender: none is dropped)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as haproxy:
        for line in lines:
            haproxy.sendto(line, str(log.path))


def take_until(log: RequestLog, count: int) -> dict[str, ResponseTimes]:
    """Takes until the tallies count `count` requests: the reader thread takes each datagram
    as it comes."""
    got: dict[str, ResponseTimes] = {}
    done = threading.Event()
    for _ in range(1000):
        for group, times in log.take().items():
            total = got.setdefault(group, ResponseTimes())
            for i, n in enumerate(times.buckets):
                total.buckets[i] += n
            total.count += times.count
            total.sum_ms += times.sum_ms
        if sum(t.count for t in got.values()) >= count:
            break
        done.wait(0.01)
    return got


def test_weighted_lines_sent_to_the_socket_are_tallied_and_taken_once(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "requests.sock")
    log.open()
    log.open()  # idempotent
    try:
        lines = [b"tg_web 3 1\n", b"tg_api 250 16\n", b"tg_web -1 1\n", b"tg_web 7 128\n"]
        send(log, [*lines, b"lb_front_8080 -1 -\n"])
        got = take_until(log, 1 + 16 + 128)
        assert got == {"web": tally((3, 1), (7, 128)), "api": tally((250, 16))}
        assert log.take() == {}
    finally:
        log.close()
    assert not log.path.exists()


def test_every_line_counts_however_many_come_between_takes(tmp_path: Path) -> None:
    # The reader used to keep 100,000 times between takes: the rest of a busy period was lost.
    log = RequestLog(tmp_path / "requests.sock")
    log.open()
    try:
        n = 120_000
        send(log, [b"tg_web 1 16", b"tg_web 40 16"] * (n // 2))
        got = take_until(log, 16 * n)
        assert got["web"].count == 16 * n
        assert got["web"].sum_ms == 16 * (n // 2) * (1 + 40)
    finally:
        log.close()


def exposition_lines(text: bytes, name: str) -> list[str]:
    return [
        line
        for line in text.decode().splitlines()
        if line.startswith(name) and "_created" not in line
    ]


def test_the_histogram_counts_requests_by_weight_and_is_shaped_as_a_prometheus_histogram() -> None:
    m = Metrics()
    hist = m.target_group_response_time
    name = "skiff_target_group_response_time_seconds"
    hist.add("web")  # a group without times yet: its series, at 0
    assert f'{name}_count{{target_group="web"}} 0.0' in m.exposition().decode()
    hist.add("web", tally((2, 1), (4, 16)))
    hist.add("web", tally((700, 128)))
    # The same samples a prometheus_client Histogram with the same buckets gives for the same
    # requests observed one by one: names, labels, le values, counts and sum.
    reference = CollectorRegistry()
    ref = Histogram(name, "x", ["target_group"], buckets=BUCKETS, registry=reference)
    for seconds, weight in ((0.002, 1), (0.004, 16), (0.7, 128)):
        for _ in range(weight):
            ref.labels("web").observe(seconds)
    ours = exposition_lines(m.exposition(), name)
    theirs = exposition_lines(generate_latest(reference), name)
    assert [re.sub(r"_sum(.*) .*", r"_sum\1", x) for x in ours if "#" not in x] == [
        re.sub(r"_sum(.*) .*", r"_sum\1", x) for x in theirs if "#" not in x
    ]
    assert f'{name}_count{{target_group="web"}} 145.0' in ours
    assert f'{name}_bucket{{le="0.005",target_group="web"}} 17.0' in ours
    total = next(x for x in ours if x.startswith(f"{name}_sum"))
    assert abs(float(total.split()[-1]) - (0.002 + 0.004 * 16 + 0.7 * 128)) < 1e-9
    hist.remove("web")
    assert f"{name}_count" not in m.exposition().decode()
    with pytest.raises(KeyError):
        hist.remove("web")


def test_ecs_stop_codes() -> None:
    assert stop_code("Essential container in task exited") == "EssentialContainerExited"
    assert stop_code("CannotStartContainerError: app: exec failed") == "TaskFailedToStart"
    assert stop_code("Task failed to start: container app was never created") == "TaskFailedToStart"
    assert stop_code("Scaling activity initiated by (service web)") == "ServiceSchedulerInitiated"
    assert stop_code("Task failed container health checks") == "ServiceSchedulerInitiated"
