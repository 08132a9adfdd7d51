"""The scaling pass through the whole controller across restarts, edits and failures: what
survives a daemon restart, what the loader refuses, capacity set through the API, by policies
and by the manifest, metrics that cannot be read, and what a review found.

Each test reads like an example from the AWS documentation and checks what a user would notice:
the desired capacity or count in status, the scaling activities and their causes, the alarms'
states and reasons. Time only moves when a test advances the clock; nothing sleeps. These tests
must not reach into the planners' arithmetic (tests/unit/test_scaling_policies_*.py,
test_alarms.py and test_schedule.py cover it) nor touch a real Docker engine or Prometheus
server.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from controller.autoscaling.sync import commands
from controller.catalog import load_directory
from tests.unit.scaling_engine_support import (
    PERIOD,
    SERVICE,
    SIMPLE_POLICY,
    STEP_POLICY,
    Scaling,
    cpu_policy,
    doc,
    high_cpu_alarm,
    running_group,
    scaling_harness,
    scheduled,
    service,
)
from tests.unit.test_fleet_engine import group


@pytest.fixture
def h(tmp_path: Path) -> Scaling:
    return scaling_harness(tmp_path)


# --- what survives a restart ---------------------------------------------------------------------

DB = doc(
    "Instance",
    "db",
    """\
    launchTemplate: {launchTemplateName: web}
    """,
)
REBOOT_ALARM = doc(
    "Alarm",
    "db-cpu",
    f"""\
    metric: {{metricName: CPUUtilization, instance: db}}
    period: {int(PERIOD)}
    evaluationPeriods: 2
    threshold: 90
    comparisonOperator: GreaterThanThreshold
    alarmActions: [{{instanceAction: reboot}}]
    """,
)


def test_an_alarm_in_alarm_does_not_run_its_instance_action_again_after_a_daemon_restart(
    h: Scaling,
) -> None:
    h.write("db.yaml", DB)
    h.apply("alarm.yaml", REBOOT_ALARM)
    h.busy(0.95)  # a runaway process: 95% of both vCPUs, and again after the reboot

    def reboots() -> int:
        return sum(e.action == "instance.reboot" for e in h.store.events("Alarm", "db-cpu"))

    h.tick(4)
    assert h.status("Alarm", "db-cpu")["status"] == "ALARM"
    assert reboots() == 1
    h.tick(8)  # an instance action runs on the transition only, not while the state lasts
    assert (h.status("Alarm", "db-cpu")["status"], reboots()) == ("ALARM", 1)

    h.restart()
    h.tick(8)
    assert h.status("Alarm", "db-cpu")["status"] == "ALARM"
    assert reboots() == 1


# --- what the loader refuses ---------------------------------------------------------------------


def test_a_policy_on_a_service_without_bounds_and_an_alarm_naming_no_policy_are_refused(
    tmp_path: Path,
) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "web.yaml").write_text(service(bounds=False))
    (root / "scaling.yaml").write_text(
        STEP_POLICY + "---\n" + high_cpu_alarm("service", "web-out", "web-in")
    )
    result = load_directory(str(root))
    assert {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors} == {
        "scaling.yaml#1:spec.target.service": "Service 'web' has no autoScaling "
        "{minCapacity, maxCapacity}: the bounds a policy or scheduled action keeps its "
        "desiredCount within",
        "scaling.yaml#2:spec.alarmActions.1.scalingPolicy": "no ScalingPolicy named 'web-in'",
    }
    assert set(result.resources) == {("TaskDefinition", "web"), ("Service", "web")}


# --- capacity set through the API, by policies and by the manifest ------------------------------


def test_set_desired_and_policies_hold_until_the_groups_manifest_is_next_edited(
    h: Scaling,
) -> None:
    running_group(h, 2, cpu_policy())
    h.busy(0.8)
    h.tick(4)
    assert h.group()["desiredCapacity"] == 4  # the policy's change
    h.busy(0.47)  # within the target's band: the policy leaves the capacity alone
    commands.set_desired_capacity(h.ctl, "web", 5)  # skiff asg set-desired web 5
    h.tick(2)
    st = h.group()
    assert (st["desiredCapacity"], st["inServiceCount"]) == (5, 5)
    assert "desiredCapacity 5 set since the manifest's last edit" in str(st["message"])

    h.load()  # the manifests are read again, unchanged: the API's capacity holds
    h.tick(2)
    assert h.group()["desiredCapacity"] == 5
    h.apply("policies.yaml", cpu_policy(target=60))  # so does an edit of the policy
    h.tick(2)
    assert h.group()["desiredCapacity"] == 5

    h.write("asg.yaml", group(3))  # an edit of the group's manifest wins
    h.load()
    h.tick(2)
    st = h.group()
    assert (st["desiredCapacity"], st["inServiceCount"]) == (3, 3)
    assert "set since the manifest's last edit" not in str(st["message"])


# --- metrics that cannot be read -----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def test_an_alarm_on_an_unreachable_prometheus_is_insufficient_data_and_scales_nothing(
    h: Scaling,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    alarm = doc(
        "Alarm",
        "queue-deep",
        f"""\
        metric:
          prometheusQuery: sum(job_queue_depth)
          prometheusUrl: {url}
        period: {int(PERIOD)}
        threshold: 100
        comparisonOperator: GreaterThanThreshold
        treatMissingData: breaching
        alarmActions: [{{scalingPolicy: add-one}}]
        """,
    )  # missing data would breach, but a metric that cannot be read is no data at all
    running_group(h, 2, SIMPLE_POLICY, alarm)
    h.tick(5)
    st = h.status("Alarm", "queue-deep")
    assert st["status"] == "INSUFFICIENT_DATA"
    assert str(st["message"]).startswith(f"Insufficient Data: Prometheus at {url} is unreachable:")
    assert st["metric"] == "prometheus 'sum(job_queue_depth)'"
    assert h.group()["desiredCapacity"] == 2
    assert h.causes() == []


# --- what a review found -------------------------------------------------------------------------


def test_a_scheduled_action_that_would_put_min_above_max_is_refused_and_scaling_goes_on(
    h: Scaling,
) -> None:
    action = scheduled("too-big", startTime='"2023-11-14T23:00:00Z"', minSize=8)
    running_group(h, 2, cpu_policy(), action)  # the group's maxSize is 6
    h.at("2023-11-14T23:00:00+00:00")
    sa = h.status("ScheduledAction", "too-big")
    assert sa["status"] == "ERROR" and "minSize 8 would exceed maxSize 6" in str(sa["message"])
    st = h.group()
    assert (st["minSize"], st["maxSize"], st["desiredCapacity"]) == (1, 6, 2)
    h.busy(0.8)  # the target tracking policy still works
    h.tick(4)
    assert h.group()["desiredCapacity"] == 4


def test_editing_an_alarm_keeps_its_state_and_does_not_run_its_action_again(h: Scaling) -> None:
    h.write("db.yaml", DB)
    h.apply("alarm.yaml", REBOOT_ALARM)
    h.busy(0.95)

    def reboots() -> int:
        return sum(e.action == "instance.reboot" for e in h.store.events("Alarm", "db-cpu"))

    h.tick(4)
    assert (h.status("Alarm", "db-cpu")["status"], reboots()) == ("ALARM", 1)
    h.apply("alarm.yaml", REBOOT_ALARM.replace("threshold: 90", "threshold: 91"))
    h.tick(4)
    assert (h.status("Alarm", "db-cpu")["status"], reboots()) == ("ALARM", 1)


def test_an_edit_of_a_groups_other_fields_keeps_the_capacity_set_since(h: Scaling) -> None:
    running_group(h, 2, cpu_policy())
    commands.set_desired_capacity(h.ctl, "web", 5)
    h.tick(2)
    h.write("asg.yaml", group(2, healthCheckGracePeriod=10))
    h.load()
    h.tick(2)
    assert h.group()["desiredCapacity"] == 5  # only an edit of min, max or desired resets it


def test_after_a_restart_an_alarm_held_in_alarm_does_not_scale_on_quiet_data(
    h: Scaling,
) -> None:
    h.write("web.yaml", SERVICE)
    h.apply("scaling.yaml", STEP_POLICY + "---\n" + high_cpu_alarm("service", "web-out"))
    h.tick(3)
    h.busy(0.8)
    h.tick(3)
    assert h.status("Alarm", "cpu-high")["status"] == "ALARM"
    scaled = h.status("Service", "web")["desiredCount"]
    h.busy(0.1)  # the load goes while the daemon is down
    h.restart()
    for _ in range(12):  # two minutes of quiet data after the restart
        h.tick()
    assert h.status("Service", "web")["desiredCount"] == scaled
    assert h.status("Alarm", "cpu-high")["status"] == "OK"
