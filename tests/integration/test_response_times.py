"""The load balancer's per-request target response times (ELB's TargetResponseTime) on
/metrics, read from HAProxy's request log: while a listener is quiet each request through it
is one observation of its target group's histogram, also after a daemon restart, when the new
daemon adopts the HAProxy that kept serving; above its sampling rate 1 in N requests is logged
with weight N, and the histogram still counts every request (within sampling's error)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from controller.dataplane.haproxy_config import SAMPLING
from tests.integration.test_load_balancer import app, balancer, get, serving
from tests.support.daemon import Skiff, free_port, wait_for

pytestmark = pytest.mark.integration

COUNT = "skiff_target_group_response_time_seconds_count"
REQUESTS = "skiff_target_group_requests_total"


def requests(port: int, n: int) -> None:
    for _ in range(n):
        assert get(port)[0] == 200


def test_each_request_is_one_response_time_also_after_a_daemon_restart(skiff: Skiff) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 1))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 1), 60, "a healthy task")
    before = skiff.metric(COUNT, target_group=web)
    requests(port, 20)  # one after the other: far below the sampling rate
    wait_for(lambda: skiff.metric(COUNT, target_group=web) >= before + 20, 15, "20 more times")
    assert skiff.metric(COUNT, target_group=web) == before + 20
    fast = skiff.metric(f"{COUNT[:-6]}_bucket", target_group=web, le="0.1")
    assert fast >= 20  # busybox httpd answers a static file within milliseconds

    skiff.stop()
    skiff.start()  # HAProxy kept serving; the new daemon reads its log
    wait_for(lambda: serving(skiff, web, 1), 30, "the restarted daemon sees it healthy")
    requests(port, 10)
    wait_for(lambda: skiff.metric(COUNT, target_group=web) >= 10, 15, "the new daemon's times")


def figure(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, text
    return float(found.group(1))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs Debian's wrk")
def test_above_the_sampling_rate_the_weighted_count_is_the_requests_haproxy_counted(
    skiff: Skiff,
) -> None:
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", app(web, 1))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()
    wait_for(lambda: serving(skiff, web, 1), 60, "a healthy task")
    requests(port, 1)
    wait_for(lambda: skiff.metric(REQUESTS, target_group=web) >= 1, 15, "the first request")
    times, served = skiff.metric(COUNT, target_group=web), skiff.metric(REQUESTS, target_group=web)

    out = subprocess.run(
        ["wrk", "-t1", "-c8", "-d4s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    sent = int(figure(r"(\d+) requests in", out.stdout))
    rate = figure(r"Requests/sec:\s+([\d.]+)", out.stdout)
    assert rate > 2 * SAMPLING[0][0], out.stdout  # well above the first tier: sampled

    def counted() -> tuple[float, float]:
        return (
            skiff.metric(REQUESTS, target_group=web) - served,
            skiff.metric(COUNT, target_group=web) - times,
        )

    wait_for(lambda: counted()[0] >= sent, 30, f"HAProxy's count of the {sent} requests")
    # The same pass reports both; the reader may still hold the last lines: wait for them.
    wait_for(lambda: abs(counted()[1] - counted()[0]) <= 0.3 * counted()[0], 30, "the weights")
    requests_counted, weighted = counted()
    assert abs(weighted - requests_counted) <= 0.3 * requests_counted, (weighted, requests_counted)
