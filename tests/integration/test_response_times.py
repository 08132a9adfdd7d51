"""The load balancer's per-request target response times (ELB's TargetResponseTime) on
/metrics, read from HAProxy's request log: each request through a listener is one observation
of its target group's histogram, also after a daemon restart, when the new daemon adopts the
HAProxy that kept serving."""

from __future__ import annotations

import pytest

from tests.integration.test_load_balancer import app, balancer, get, serving
from tests.support.daemon import Skiff, free_port, wait_for

pytestmark = pytest.mark.integration

COUNT = "skiff_target_group_response_time_seconds_count"


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
    requests(port, 20)
    wait_for(lambda: skiff.metric(COUNT, target_group=web) >= before + 20, 15, "20 more times")
    assert skiff.metric(COUNT, target_group=web) == before + 20
    fast = skiff.metric(f"{COUNT[:-6]}_bucket", target_group=web, le="0.1")
    assert fast >= 20  # busybox httpd answers a static file within milliseconds

    skiff.stop()
    skiff.start()  # HAProxy kept serving; the new daemon reads its log
    wait_for(lambda: serving(skiff, web, 1), 30, "the restarted daemon sees it healthy")
    requests(port, 10)
    wait_for(lambda: skiff.metric(COUNT, target_group=web) >= 10, 15, "the new daemon's times")
