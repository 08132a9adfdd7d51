"""Metrics, alarms, scaling policies and scheduled actions on a real engine, with metrics
collected every second (`--metrics-period 1`).

The load comes from requests through a load balancer to instances whose CGI script burns CPU;
custom metrics come from a small Prometheus look-alike on 127.0.0.1 whose value the test sets.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.test_fleet import members, remove_root_volumes
from tests.integration.test_load_balancer import balancer
from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    IMAGE,
    alarm_doc,
    dump,
    instance_doc,
    scaling_policy_doc,
    scheduled_action_doc,
    service_manifest,
)
from tests.support.scaling import cpu_tracked_group

pytestmark = pytest.mark.integration

FAST = ("--metrics-period", "1", "--status-check-interval", "1")


@pytest.fixture
def local(skiff: Skiff) -> Iterator[Skiff]:
    yield skiff
    skiff.stop()
    skiff.cleanup()
    remove_root_volumes(skiff.docker)


def activities(skiff: Skiff, kind: str, name: str) -> list[dict[str, Any]]:
    return list(skiff.resource(kind, name).get("activities", []))


class Load:
    """Requests from a few threads to one URL until stopped (or a deadline): bounded."""

    def __init__(self, url: str, threads: int = 4, limit: float = 180.0) -> None:
        self.url, self.stop = url, threading.Event()
        self.deadline = time.monotonic() + limit
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.answered = 0
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                self.answered += 1
            except OSError:
                self.stop.wait(0.1)  # a refused or slow request: ease off, then go on

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def test_target_tracking_scales_out_under_cpu_load_and_back_in_when_it_stops(
    local: Skiff,
) -> None:
    skiff = local
    web, port = skiff.name("web"), free_port()
    skiff.write("web.yaml", dump(*cpu_tracked_group(web, 3)))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start(*FAST)
    wait_for(lambda: len(members(skiff, web)) == 1, 60, "one instance in service")
    wait_for(
        lambda: any(
            t["state"] == "healthy" for t in skiff.resource("TargetGroup", web).get("targets", [])
        ),
        60,
        "its target healthy",
    )
    began = time.monotonic()
    load = Load(f"http://127.0.0.1:{port}/cgi-bin/burn")
    try:
        wait_for(
            lambda: skiff.resource("AutoScalingGroup", web)["desiredCapacity"] > 1,
            60,
            "a scale-out",
        )
        first = time.monotonic() - began
        wait_for(lambda: len(members(skiff, web)) == 3, 90, "three instances in service")
        reached = time.monotonic() - began
    finally:
        load.end()
    print(f"load start -> first scale-out {first:.1f} s, -> 3 in service {reached:.1f} s")
    assert load.answered > 0
    out = activities(skiff, "AutoScalingGroup", web)
    scaling = [a for a in out if a["description"].startswith("Setting desired capacity")]
    assert scaling and "CPUUtilization" in scaling[-1]["cause"]
    # The load stops: after 15 quiet periods the group scales in, gradually, to its minimum.
    wait_for(
        lambda: skiff.resource("AutoScalingGroup", web)["desiredCapacity"] == 1,
        150,
        "scale-in to the minimum",
    )
    wait_for(lambda: len(members(skiff, web)) == 1, 60, "one instance left")


class Prometheus:
    """Answers /api/v1/query with the value the test sets (None: an error)."""

    def __init__(self) -> None:
        self.value: float | None = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.value is None:
                    body = {"status": "error", "errorType": "bad_data", "error": "no such metric"}
                    code = 400
                else:
                    sample = [time.time(), str(owner.value)]
                    result = [{"metric": {}, "value": sample}]
                    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
                    code = 200
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    p = Prometheus()
    yield p
    p.close()


def test_a_step_policy_on_a_prometheus_metric_scales_a_service_by_the_breach(
    skiff: Skiff, prometheus: Prometheus
) -> None:
    web = skiff.name("web")
    bounds = {"autoScaling": {"minCapacity": 1, "maxCapacity": 6}}
    skiff.write("web.yaml", service_manifest(web, 1, service=bounds))
    prometheus.value = None  # the query fails at first
    skiff.write(
        "scaling.yaml",
        dump(
            scaling_policy_doc(
                f"{web}-steps",
                {"service": web},
                policyType="StepScaling",
                stepScalingConfiguration={
                    "adjustmentType": "ChangeInCapacity",
                    "cooldown": 0,
                    "stepAdjustments": [
                        {
                            "metricIntervalLowerBound": 0,
                            "metricIntervalUpperBound": 20,
                            "scalingAdjustment": 1,
                        },
                        {"metricIntervalLowerBound": 20, "scalingAdjustment": 3},
                    ],
                },
            ),
            alarm_doc(
                f"{web}-backlog",
                {"prometheusQuery": "sum(queue_depth)", "prometheusUrl": prometheus.url},
                statistic="Maximum",
                period=2,
                evaluationPeriods=1,
                threshold=10,
                comparisonOperator="GreaterThanThreshold",
                alarmActions=[{"scalingPolicy": f"{web}-steps"}],
            ),
        ),
    )
    skiff.start(*FAST)
    wait_for(lambda: len(skiff.running(web)) == 1, 40, "one task")
    alarm = wait_for(
        lambda: (
            (a := skiff.resource("Alarm", f"{web}-backlog"))["status"] == "INSUFFICIENT_DATA"
            and "no such metric" in a["message"]
            and a
        ),
        30,
        "the alarm without data, saying why",
    )
    assert skiff.resource("Service", web)["desiredCount"] == 1  # no scaling on missing data
    prometheus.value = 35.0  # 25 over the threshold: the second step, +3
    wait_for(lambda: skiff.resource("Alarm", f"{web}-backlog")["status"] == "ALARM", 30, "ALARM")
    wait_for(lambda: skiff.resource("Service", web)["desiredCount"] == 4, 30, "desired 1 -> 4")
    prometheus.value = 0.0
    wait_for(lambda: skiff.resource("Alarm", f"{web}-backlog")["status"] == "OK", 30, "OK again")
    wait_for(lambda: len(skiff.running(web)) == 4, 60, "four tasks")
    causes = [a["cause"] for a in activities(skiff, "Service", web)]
    assert any(f"alarm {web}-backlog in ALARM" in c and "1 -> 4" in c for c in causes), causes
    assert alarm["message"]


def test_a_scheduled_action_sets_the_desired_count_at_its_time(skiff: Skiff) -> None:
    web = skiff.name("web")
    bounds = {"autoScaling": {"minCapacity": 1, "maxCapacity": 5}}
    skiff.write("web.yaml", service_manifest(web, 1, service=bounds))
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    skiff.write(
        "schedule.yaml",
        dump(
            scheduled_action_doc(
                f"{web}-morning",
                {"service": web},
                startTime=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                desiredCapacity=3,
            )
        ),
    )
    skiff.start(*FAST)
    wait_for(lambda: len(skiff.running(web)) == 1, 40, "one task")
    assert skiff.resource("Service", web)["desiredCount"] == 1
    wait_for(lambda: skiff.resource("Service", web)["desiredCount"] == 3, 30, "the action fired")
    fired = time.time()
    assert fired >= at.timestamp() - 1  # not before its time
    wait_for(lambda: len(skiff.running(web)) == 3, 40, "three tasks")
    causes = [a["cause"] for a in activities(skiff, "Service", web)]
    assert any(f"scheduled action {web}-morning" in c for c in causes), causes
    assert skiff.resource("ScheduledAction", f"{web}-morning")["status"] == "COMPLETED"


def test_an_alarm_on_a_failed_status_check_reboots_the_instance(local: Skiff) -> None:
    skiff = local
    box = skiff.name("box")
    skiff.write(
        "box.yaml",
        dump(
            instance_doc(
                box,
                launchTemplateData={
                    "imageId": IMAGE,
                    "instanceType": "custom",
                    "customInstanceType": {"vCpus": 0.25, "memoryMiB": 64},
                    "rootVolume": {"type": "instance-store", "mountPath": "/data"},
                    "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                    "healthCheck": {
                        "command": ["CMD-SHELL", "test ! -e /data/sick"],
                        "interval": 5,
                        "timeout": 2,
                        "retries": 1,
                    },
                },
            ),
            alarm_doc(
                f"{box}-impaired",
                {"metricName": "StatusCheckFailed", "instance": box},
                statistic="Maximum",
                period=2,
                evaluationPeriods=1,
                threshold=1,
                comparisonOperator="GreaterThanOrEqualToThreshold",
                alarmActions=[{"instanceAction": "reboot"}],
            ),
        ),
    )
    skiff.start(*FAST)
    wait_for(lambda: skiff.resource("Alarm", f"{box}-impaired")["status"] == "OK", 40, "OK")
    (c,) = skiff.running(box)
    started = c.attrs["State"]["StartedAt"]
    c.exec_run(["touch", "/data/sick"])  # its health check fails from now on: impaired

    def rebooted() -> bool:
        c.reload()
        return bool(c.attrs["State"]["StartedAt"] != started and c.status == "running")

    wait_for(rebooted, 40, "the instance rebooted")
    # The instance store is cleared by the reboot (126: the exec raced the restart).
    wait_for(lambda: c.exec_run(["test", "-e", "/data/sick"]).exit_code != 126, 10, "an exec")
    assert c.exec_run(["test", "-e", "/data/sick"]).exit_code == 1
    wait_for(lambda: skiff.resource("Alarm", f"{box}-impaired")["status"] == "OK", 40, "OK again")
    assert skiff.metric("skiff_actions_total", kind="Alarm", action="instance.reboot") >= 1
    (same,) = skiff.running(box)
    assert same.id == c.id  # the same instance, rebooted in place
