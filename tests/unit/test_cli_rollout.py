"""`skiff rollout status`: the progress line and exit code of a service's PRIMARY deployment and
of a group's instance refresh, the --timeout durations it accepts, and the group's
`instanceRefresh` status (DescribeInstanceRefreshes' fields) through the whole controller."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from controller.cli.durations import duration
from controller.cli.rollout import refresh_progress, service_progress
from tests.support.harness import Harness
from tests.unit.test_fleet_engine import group, h, template

__all__ = ["h"]  # the fixture


def deployment(state: str, revision: str = "web:2", reason: str = "") -> dict[str, Any]:
    return {
        "status": "PRIMARY",
        "taskDefinition": revision,
        "rolloutState": state,
        "rolloutStateReason": reason,
    }


def task(revision: str, last: str = "RUNNING", health: str = "UNKNOWN") -> dict[str, Any]:
    return {
        "taskDefinition": revision,
        "lastStatus": last,
        "desiredStatus": "RUNNING",
        "healthStatus": health,
    }


def test_an_in_progress_deployment_says_new_started_healthy_and_old_left() -> None:
    doc = {
        "name": "web",
        "desiredCount": 3,
        "deployments": [deployment("IN_PROGRESS"), {"status": "ACTIVE"}],
        "tasks": [
            task("web:2", health="HEALTHY"),
            task("web:2", health="UNHEALTHY"),
            task("web:2", last="PENDING"),
            task("web:1"),
        ],
    }
    assert service_progress(doc) == (
        "Waiting for deployment web (web:2) rollout to finish: 2 of 3 new tasks running, "
        "1 healthy; 1 old task still running",
        None,
    )
    doc["tasks"] = [task("web:2"), task("web:1"), task("web:1")]  # no health checks: no count
    assert service_progress(doc)[0].endswith("1 of 3 new tasks running; 2 old tasks still running")


def test_completed_exits_0_and_failed_exits_1_with_the_reason() -> None:
    done = {"name": "web", "deployments": [deployment("COMPLETED")]}
    assert service_progress(done) == ('deployment "web" successfully rolled out (web:2)', 0)
    reason = "tasks failed to start; the deployment circuit breaker rolled back"
    failed = {"name": "web", "deployments": [deployment("FAILED", reason=reason)]}
    assert service_progress(failed) == (f'deployment "web" failed: {reason}', 1)
    assert service_progress({"name": "web", "deployments": []})[1] is None


def test_the_deployment_followed_failing_exits_1_though_a_rollback_is_primary() -> None:
    reason = "3 task(s) failed to reach a steady state (threshold 3)"
    rollback = deployment("IN_PROGRESS", "web:1") | {"id": "d-3"}
    failed = deployment("FAILED", reason=reason) | {"id": "d-2", "status": "ACTIVE"}
    doc = {"name": "web", "deployments": [rollback, failed]}
    assert service_progress(doc, "d-2") == (f'deployment "web" failed: {reason}', 1)
    assert service_progress(doc, "gone")[0].startswith("Waiting for deployment web (web:1)")


def test_a_refresh_ends_0_on_successful_and_1_on_failed() -> None:
    def doc(status: str, reason: str = "") -> dict[str, Any]:
        refresh = {
            "status": status,
            "percentageComplete": 50,
            "instancesToUpdate": 1,
            "statusReason": reason,
        }
        return {"name": "g", "launchTemplate": "web:2", "instanceRefresh": refresh}

    assert refresh_progress(doc("Successful")) == (
        'instance refresh of group "g" successful (web:2)',
        0,
    )
    assert refresh_progress(doc("Failed", "no capacity")) == (
        'instance refresh of group "g" failed: no capacity',
        1,
    )
    line, code = refresh_progress(doc("InProgress", "replacing"))
    assert code is None
    assert line == (
        "Waiting for instance refresh of group g: InProgress, 50% complete, "
        "1 instance(s) to update (replacing)"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5)],
)
def test_timeout_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "1x", "-3", "m5"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_a_group_reports_its_instance_refresh_as_aws_does(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    refresh = h.status("AutoScalingGroup", "web")["instanceRefresh"]
    assert refresh == {
        "status": "Successful",
        "percentageComplete": 100,
        "instancesToUpdate": 0,
        "statusReason": "every instance runs web:1",
    }
    h.write("lt.yaml", template("sleep 7200"))
    h.load()
    h.ctl.resync()
    h.ctl.run_until_idle()
    seen = [h.status("AutoScalingGroup", "web")["instanceRefresh"]]
    for _ in range(30):  # pass by pass, as a poller sees it
        h.clock.advance(1)
        h.ctl.resync()
        h.ctl.run_until_idle()
        seen.append(h.status("AutoScalingGroup", "web")["instanceRefresh"])
    first = seen[0]
    assert isinstance(first, dict)
    assert first["status"] == "InProgress"
    assert first["instancesToUpdate"] == 2 and first["percentageComplete"] == 0
    assert first["statusReason"].startswith("0 of 2 instance(s) InService and Healthy on web:2;")
    assert seen[-1]["status"] == "Successful"  # type: ignore[index]
    assert seen[-1]["statusReason"] == "every instance runs web:2"  # type: ignore[index]
    progress = [s["percentageComplete"] for s in seen]  # type: ignore[index]
    assert progress == sorted(progress)  # never goes back
    assert any(0 < p < 100 for p in progress)  # one at a time at 90%: half-way is seen
