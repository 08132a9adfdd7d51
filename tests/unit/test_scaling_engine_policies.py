"""The scaling pass through the whole controller, policy by policy: target tracking on
ASGAverageCPUUtilization, alarms running step and simple policies, and a scaling decision that
changes nothing saying why.

Each test reads like an example from the AWS documentation and checks what a user would notice:
the desired capacity or count in status, the scaling activities and their causes, the alarms'
states and reasons. Time only moves when a test advances the clock; nothing sleeps. These tests
must not reach into the planners' arithmetic (tests/unit/test_scaling_policies_*.py,
test_alarms.py and test_schedule.py cover it) nor touch a real Docker engine or Prometheus
server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.scaling_engine_support import (
    SERVICE,
    SIMPLE_POLICY,
    STEP_POLICY,
    Scaling,
    cpu_policy,
    doc,
    high_cpu_alarm,
    running_group,
    scaling_harness,
)
from tests.unit.test_fleet_engine import group


@pytest.fixture
def h(tmp_path: Path) -> Scaling:
    return scaling_harness(tmp_path)


# --- target tracking -----------------------------------------------------------------------------


def test_target_tracking_on_cpu_scales_out_in_proportion_after_three_busy_periods(
    h: Scaling,
) -> None:
    running_group(h, 2, cpu_policy())
    h.busy(0.8)  # 80% of each instance's 2 vCPUs, against a target of 50%
    h.tick(3)
    assert h.group()["desiredCapacity"] == 2  # two complete busy periods so far
    h.tick()
    st = h.group()
    assert (st["desiredCapacity"], st["inServiceCount"]) == (4, 4)  # ceil(2 x 80 / 50)
    (cause,) = h.causes()
    assert cause.startswith("policy cpu50: CPUUtilization 80.0 > target 50.0; desired 2 -> 4")


def test_target_tracking_scales_in_one_step_per_period_after_fifteen_idle_ones_down_to_min(
    h: Scaling,
) -> None:
    running_group(h, 4, cpu_policy())
    h.busy(0.47)  # between the low threshold (45) and the target (50): nothing to do
    h.tick(16)
    assert h.group()["desiredCapacity"] == 4
    assert "neither above target 50.0 for 3 periods nor below 45.0 for 15" in str(
        h.status("ScalingPolicy", "cpu50")["message"]
    )
    h.busy(0.0)
    seen = []
    for _ in range(20):
        h.tick()
        seen.append(h.group()["desiredCapacity"])
    # AWS's low alarm needs 15 datapoints below 45; then 10% (at least one) per scale-in.
    assert seen == [4] * 15 + [3, 2, 1, 1, 1]
    assert [c.split(" (gradually")[0] for c in h.causes()] == [
        f"policy cpu50: CPUUtilization 0.0 < 45.0 (0.9 x target 50.0) for 15 periods; "
        f"desired {n} -> {n - 1}"
        for n in (4, 3, 2)
    ]
    assert h.group()["inServiceCount"] == 1
    assert "desired 1 is at minSize 1; no change" in str(
        h.status("ScalingPolicy", "cpu50")["message"]
    )


def test_a_resync_within_the_period_does_not_take_a_second_scale_in_step(h: Scaling) -> None:
    running_group(h, 4, cpu_policy())
    h.busy(0.47)
    h.tick(16)
    h.busy(0.0)
    h.tick(16)  # the 16th idle period's pass takes the first step
    assert h.group()["desiredCapacity"] == 3
    h.clock.advance(3)  # the daemon's periodic resync happens to fall in this period
    h.ctl.resync()
    h.ctl.run_until_idle()
    h.settle()
    assert h.group()["desiredCapacity"] == 3


def test_two_target_tracking_policies_scale_out_if_either_asks_and_in_only_if_both_agree(
    h: Scaling,
) -> None:
    memory = doc(
        "ScalingPolicy",
        "mem50",
        """\
        target: {autoScalingGroup: web}
        policyType: TargetTrackingScaling
        targetTrackingConfiguration:
          predefinedMetric: ASGAverageMemoryUtilization
          targetValue: 50
          estimatedInstanceWarmup: 30
        """,
    )
    running_group(h, 2, cpu_policy(), memory)
    h.busy(cpu=0.8, memory=0.2)  # CPU asks for 4; memory alone would scale in
    h.tick(4)
    assert h.group()["desiredCapacity"] == 4
    assert h.causes()[-1].startswith("policy cpu50: CPUUtilization 80.0 > target 50.0")

    h.busy(cpu=0.0, memory=0.47)  # idle CPU, but memory above mem50's low threshold (45)
    h.tick(20)
    assert h.group()["desiredCapacity"] == 4  # mem50 vetoes cpu50's scale-in
    assert "< 45.0 (0.9 x target 50.0) for 15 periods; desired 4 -> 3" in str(
        h.status("ScalingPolicy", "cpu50")["message"]
    )
    assert "MemoryUtilization 47.0 is neither above target 50.0" in str(
        h.status("ScalingPolicy", "mem50")["message"]
    )
    h.busy(memory=0.2)
    h.tick(16)
    assert h.group()["desiredCapacity"] == 3  # both agree: one step in
    assert "< 45.0 (0.9 x target 50.0) for 15 periods; desired 4 -> 3" in h.causes()[-1]


# --- alarms running step and simple policies -----------------------------------------------------


def test_an_alarm_runs_its_step_policy_on_entering_alarm_and_again_each_minute_it_stays(
    h: Scaling,
) -> None:
    h.write("web.yaml", SERVICE)
    h.apply("scaling.yaml", STEP_POLICY + "---\n" + high_cpu_alarm("service", "web-out"))
    h.tick(3)
    assert h.status("Alarm", "cpu-high")["status"] == "OK"
    h.busy(0.8)  # 80% of the 0.5 vCPU each task reserves: 10 above the threshold
    counts = []
    for _ in range(10):
        h.tick()
        counts.append(h.status()["desiredCount"])
        assert len(h.running()) == counts[-1]
    # Two breaching periods put the alarm in ALARM; a minute later it is still there.
    assert counts == [2, 2, 3, 3, 3, 3, 3, 3, 4, 4]
    alarm = h.status("Alarm", "cpu-high")
    assert alarm["status"] == "ALARM"
    assert str(alarm["message"]).startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    assert [c.split("; desired")[0] for c in h.causes("Service", "web")] == [
        "alarm cpu-high in ALARM: CPUUtilization (service web) 80 > 70; policy web-out: "
        "metric 80.0 in step [70.0, 85.0) adds 1"
    ] * 2


def test_a_service_step_policy_counts_its_last_scale_out_during_the_cooldown(h: Scaling) -> None:
    h.write("web.yaml", SERVICE)
    policy = STEP_POLICY.replace("cooldown: 0", "cooldown: 300")
    h.apply("scaling.yaml", policy + "---\n" + high_cpu_alarm("service", "web-out"))
    h.tick(3)
    h.busy(0.8)
    h.tick(3)
    assert h.status()["desiredCount"] == 3
    # Application Auto Scaling: while the cooldown runs, the 1 task the alarm's first run
    # added counts toward the same step (+1) run again a minute later: nothing more to add.
    h.tick(12)
    assert h.status("Alarm", "cpu-high")["status"] == "ALARM"
    assert h.status()["desiredCount"] == 3
    # The policy's status and its history say why.
    why = (
        "policy web-out: metric 80.0 in step [70.0, 85.0); the 1 the last scale-out added count "
        "toward it while its cooldown runs, so it adds 1 to 2: computed desired 3 is not above "
        "desired 3, which already counts it; no change (current capacity 3, warming 0, computed "
        "desired 3, desired 3, minSize 1, maxSize 10)"
    )
    assert str(h.status("ScalingPolicy", "web-out")["message"]).endswith(why)
    assert [r.endswith(why) for r in no_change_events(h, "web-out")] == [True]


def test_simple_scaling_waits_out_its_300_second_cooldown_before_scaling_again(
    h: Scaling,
) -> None:
    running_group(h, 2, SIMPLE_POLICY, high_cpu_alarm("autoScalingGroup", "add-one"))
    h.busy(0.8)
    h.tick(3)
    assert h.group()["desiredCapacity"] == 3
    first = h.clock.now
    h.busy(0.2)
    h.tick(3)
    assert h.status("Alarm", "cpu-high")["status"] == "OK"
    h.busy(0.8)  # a second breach, 60 seconds into the cooldown
    h.tick(3)
    assert h.status("Alarm", "cpu-high")["status"] == "ALARM"
    while h.clock.now < first + 300:  # the cooldown: 300 s from the scaling activity
        assert h.group()["desiredCapacity"] == 3
        h.tick()
    h.tick(6)  # within a minute the alarm, still in ALARM, runs the policy again
    assert h.group()["desiredCapacity"] == 4
    assert [c.split("; desired")[0] for c in h.causes()] == [
        "alarm cpu-high in ALARM: CPUUtilization (autoScalingGroup web) 80 > 70; "
        "policy add-one: the policy adds 1"
    ] * 2


def test_an_instance_held_by_a_launch_hook_does_not_stop_the_scaling_pass(h: Scaling) -> None:
    hook = {
        "lifecycleHookName": "warm-up",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "heartbeatTimeout": 3600,
    }
    h.write("asg.yaml", group(1, lifecycleHooks=[hook]))
    h.write("web.yaml", SERVICE)
    h.apply(
        "policies.yaml",
        cpu_policy() + "---\n" + high_cpu_alarm("service", "web-out") + "---\n" + STEP_POLICY,
    )
    h.busy(0.8)
    h.tick(4)
    assert h.group()["instances"][0]["lifecycleState"] == "Pending:Wait"  # type: ignore[index]
    assert h.status("Alarm", "cpu-high")["status"] == "ALARM"
    assert h.status()["desiredCount"] == 3  # the alarm's step policy scaled the service out


# --- a scaling decision that changes nothing says why ---------------------------------------------

PLUS_10_PERCENT = doc(
    "ScalingPolicy",
    "web-out",
    """\
    target: {autoScalingGroup: web}
    policyType: StepScaling
    stepScalingConfiguration:
      adjustmentType: PercentChangeInCapacity
      minAdjustmentMagnitude: 1
      stepAdjustments:
        - {metricIntervalLowerBound: 0, scalingAdjustment: 10}
    """,
)


NO_CHANGE = "scaling.no_change"


def no_change_events(h: Scaling, policy: str) -> list[str]:
    """The reasons of the policy's no-change events kept in its history, oldest first."""
    return [e.reason for e in h.store.events("ScalingPolicy", policy) if e.action == NO_CHANGE]


def no_changes_logged(h: Scaling) -> float:
    """How many no-change evaluations of any policy the action log has logged."""
    value = h.ctl.metrics.registry.get_sample_value(
        "skiff_actions_total", {"kind": "ScalingPolicy", "action": NO_CHANGE}
    )
    return value or 0.0


def test_an_alarm_whose_step_policy_leaves_four_warming_instances_alone_says_why(
    h: Scaling,
) -> None:
    # The reproduction: 4 instances just launched, the default 300 s warm-up, an alarm
    # in ALARM and a +10% step with minAdjustmentMagnitude 1. AWS counts no warming instance
    # as current capacity: 10% of 0, raised to 1, is below the 4 already coming.
    h.write("asg.yaml", group(4))
    h.apply(
        "policies.yaml", PLUS_10_PERCENT + "---\n" + high_cpu_alarm("autoScalingGroup", "web-out")
    )
    launched = h.clock.now
    h.busy(0.8)
    states = []
    for _ in range(4):
        h.tick()
        states.append(h.status("Alarm", "cpu-high")["status"])
    assert states == ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "OK", "ALARM"]
    assert h.group()["desiredCapacity"] == 4
    st = h.status("ScalingPolicy", "web-out")
    message = str(st["message"])
    assert message == (
        "alarm cpu-high in ALARM: CPUUtilization (autoScalingGroup web) 80 > 70; policy web-out: "
        "metric 80.0 in step [70.0, +inf); the 4 still warming up are not current capacity, so "
        "it adds 10% of 0 = 0, raised to 1 (minAdjustmentMagnitude): computed desired 1 is not "
        "above desired 4, which already counts them; no change (current capacity 0, warming 4 "
        "within a 300 s warm-up, computed desired 1, desired 4, minSize 1, maxSize 6)"
    )
    evaluated = st["lastEvaluation"]
    assert evaluated == {
        "at": h.clock.now,
        "currentCapacity": 0,
        "warmingCapacity": 4,
        "pendingCapacity": 0,
        "computedDesired": 1,
        "desiredCapacity": 4,
        "minSize": 1,
        "maxSize": 6,
        "warmup": 300.0,
        "noChange": "below-coming",
    }
    assert no_change_events(h, "web-out") == [message]
    logged = no_changes_logged(h)

    # The alarm runs the policy again each minute with the same outcome: each run is logged
    # (at debug level) and shown in the status, but the history keeps the one event.
    h.tick(12)
    assert h.group()["desiredCapacity"] == 4
    assert no_changes_logged(h) == logged + 2
    again = h.status("ScalingPolicy", "web-out")["lastEvaluation"]
    assert again["at"] > evaluated["at"]  # type: ignore[index]
    assert no_change_events(h, "web-out") == [message]

    # Past the 300 s warm-up the same alarm adds 10% of 4, rounded up to 1; the next run, with
    # the new instance warming up, changes nothing again, for a reason worth a new event.
    for _ in range(40):
        h.tick()
        if h.group()["desiredCapacity"] != 4:
            break
    assert h.group()["desiredCapacity"] == 5
    assert h.clock.now - launched >= 300  # (the alarm runs it once a minute)
    assert h.causes()[-1].endswith(
        "policy web-out: metric 80.0 in step [70.0, +inf) adds 10% of 4 = 1; desired 4 -> 5"
    )
    h.tick(6)
    assert h.group()["desiredCapacity"] == 5
    later = no_change_events(h, "web-out")
    assert len(later) == 2 and later[0] == message
    assert later[1].endswith(
        "no change (current capacity 4, warming 1 within a 300 s warm-up, computed desired 5, "
        "desired 5, minSize 1, maxSize 6)"
    )
