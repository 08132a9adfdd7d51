"""The scaling pass through the whole controller: alarms, scaling policies and scheduled actions
acting on Auto Scaling groups and services, on fake engines and a fixed clock.

Each test reads like an example from the AWS documentation (a target tracking policy on
ASGAverageCPUUtilization, a step policy run by an alarm, a scheduled action at 09:30 in Paris)
and checks what a user would notice: the desired capacity or count in status, the scaling
activities and their causes, the alarms' states and reasons. Time only moves when a test
advances the clock; nothing sleeps. These tests must not reach into the planners' arithmetic
(tests/unit/test_scaling_policies.py, test_alarms.py and test_schedule.py cover it) nor touch a
real Docker engine or Prometheus server.
"""

from __future__ import annotations

import socket
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.autoscaling.sync import commands
from controller.catalog import CATALOG, load_directory
from controller.core import labels as L
from controller.core.controller import Controller
from controller.core.periodic import PERIOD as MONITORING
from controller.core.settings import Settings
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics
from tests.support.builders import FakeClock
from tests.support.documents import container, dump, service_doc, td_doc
from tests.support.harness import Harness
from tests.unit.test_fleet_engine import ZONES, group, pool, template

PERIOD = 10.0  # seconds per metrics period: CloudWatch's minute, shortened
MIB = 1024 * 1024
SCALING_KINDS = ("Alarm", "ScalingPolicy", "ScheduledAction")


class Scaling(Harness):
    """The unit harness with a metrics period, and time that moves a period at a time."""

    def __init__(
        self,
        root: Path,
        *,
        clock: FakeClock,
        engines: dict[str, FakeRuntime],
        store: Store,
        period: float = PERIOD,
    ) -> None:
        self.period = period
        self.cpu, self.mem = 0.0, 0.0
        super().__init__(root, store=store, clock=clock, engines=engines)
        self.ctl.pool.shutdown()  # replaced by one with the metrics period, as the daemon's
        self.ctl = self.controller()

    def controller(self) -> Controller:
        return Controller(
            self.store,
            Metrics(),
            lambda name, spec: self.engines.get(name, self.fake),
            Settings(parallelism=2, metrics_period=self.period),
            clock=self.clock,
            monotonic=self.clock,
            catalog=CATALOG,
        )

    def restart(self) -> None:
        """The daemon stops and a new one starts on the same engines, store and manifests."""
        self.ctl.stop()
        self.ctl = self.controller()
        self.ctl.restore()
        self.load()
        self.settle()

    def settle(self, rounds: int = 30) -> None:
        """What Docker's events bring between two scaling passes: every host listed again and
        every resource looked at, until nothing new is written. Alarms, policies and schedules
        are left alone: looking at one of them runs a scaling pass."""
        last = -1
        for _ in range(rounds):
            for handle in list(self.ctl.hosts.values()):
                handle.observer.safe_resync()
            for key in self.ctl.keys() - {MONITORING}:
                if key[0] not in SCALING_KINDS:
                    self.ctl.queue.add(key)
            self.ctl.run_until_idle()
            writes = sum(len(e.writes()) for e in self.all_engines())
            if writes == last:
                return
            last = writes
        raise AssertionError("did not settle")

    def scaling_pass(self) -> None:
        """One scaling pass now (the daemon's periodic wake-up, or a resync), then its effects."""
        self.ctl.queue.add(MONITORING)
        self.ctl.run_until_idle()
        self.settle()

    def tick(self, periods: int = 1) -> None:
        """`periods` metrics periods go by, with one scaling pass early in each."""
        for _ in range(periods):
            start = (self.clock.now // self.period + 1) * self.period
            self.clock.advance(start + 0.5 - self.clock.now)
            self.scaling_pass()
            self.busy()  # instances launched by the pass take their share of the load

    def at(self, when: str) -> None:
        """The clock jumps to `when` (ISO 8601) and a scaling pass runs."""
        self.clock.advance(datetime.fromisoformat(when).timestamp() - self.clock.now)
        self.scaling_pass()

    def busy(self, cpu: float | None = None, memory: float | None = None) -> None:
        """From now on every running container Skiff manages, and every one that starts later,
        burns `cpu` of the vCPUs it may use and holds `memory` of its memory limit."""
        if cpu is not None:
            self.cpu = cpu
        if memory is not None:
            self.mem = memory
        for engine in self.all_engines():
            for c in list(engine.containers.values()):
                if c.running and L.is_managed(c.labels):
                    spec = engine.specs[c.id]
                    cores = spec.nano_cpus / 1e9 if spec.nano_cpus else TASK_VCPU
                    used = int(self.mem * (spec.memory_mib or 0) * MIB) or None
                    engine.set_stats(c.id, cpu_cores=self.cpu * cores, memory_used_bytes=used)

    def group(self, name: str = "web") -> dict[str, object]:
        return self.status("AutoScalingGroup", name)

    def causes(self, kind: str = "AutoScalingGroup", name: str = "web") -> list[str]:
        """The causes of the scaling activities that changed a capacity, oldest first."""
        st = self.status(kind, name)
        found = [
            str(a["cause"])
            for a in st["activities"]  # type: ignore[attr-defined]
            if str(a["description"]).startswith(("Setting", "Executing"))
        ]
        return found[::-1]


TASK_VCPU = 0.5  # the service's task reserves 512 CPU units


@pytest.fixture
def h(tmp_path: Path) -> Scaling:
    clock = FakeClock()
    engines = {n: FakeRuntime(name=n, clock=clock) for n, _ in ZONES}
    harness = Scaling(
        tmp_path / "m", clock=clock, engines=engines, store=Store(str(tmp_path / "s.db"))
    )
    harness.write("hosts.yaml", pool())
    harness.write("lt.yaml", template())
    return harness


def doc(kind: str, name: str, spec: str) -> str:
    return f"apiVersion: skiff/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n" + (
        textwrap.indent(textwrap.dedent(spec), "  ")
    )


def cpu_policy(name: str = "cpu50", target: float = 50, warmup: int = 30) -> str:
    return doc(
        "ScalingPolicy",
        name,
        f"""\
        target: {{autoScalingGroup: web}}
        policyType: TargetTrackingScaling
        targetTrackingConfiguration:
          predefinedMetric: ASGAverageCPUUtilization
          targetValue: {target}
          estimatedInstanceWarmup: {warmup}
        """,
    )


def running_group(h: Scaling, desired: int, *policies: str) -> None:
    """The group runs `desired` instances past their warm-up, with `policies` watching it."""
    h.write("asg.yaml", group(desired))
    h.apply("policies.yaml", "---\n".join(policies))
    h.tick(4)
    assert h.group()["inServiceCount"] == desired


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


def service(bounds: bool = True) -> str:
    """Service web of 2 tasks (512 CPU units each), scalable from 1 to 10 unless not `bounds`."""
    app = container("app", image="skiff/busybox:latest", command=["serve"], cpu=512)
    scaling = {"autoScaling": {"minCapacity": 1, "maxCapacity": 10}} if bounds else {}
    return dump(
        td_doc("web", containerDefinitions=[app]),
        service_doc("web", desiredCount=2, **scaling),
    )


SERVICE = service()


def high_cpu_alarm(dimension: str, *actions: str, name: str = "cpu-high") -> str:
    listed = ", ".join(f"{{scalingPolicy: {a}}}" for a in actions)
    return doc(
        "Alarm",
        name,
        f"""\
        metric: {{metricName: CPUUtilization, {dimension}: web}}
        statistic: Average
        period: {int(PERIOD)}
        evaluationPeriods: 2
        threshold: 70
        comparisonOperator: GreaterThanThreshold
        alarmActions: [{listed}]
        """,
    )


STEP_POLICY = doc(
    "ScalingPolicy",
    "web-out",
    """\
    target: {service: web}
    policyType: StepScaling
    stepScalingConfiguration:
      adjustmentType: ChangeInCapacity
      cooldown: 0
      stepAdjustments:
        - {metricIntervalLowerBound: 0, metricIntervalUpperBound: 15, scalingAdjustment: 1}
        - {metricIntervalLowerBound: 15, scalingAdjustment: 2}
    """,
)


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


SIMPLE_POLICY = doc(
    "ScalingPolicy",
    "add-one",
    """\
    target: {autoScalingGroup: web}
    policyType: SimpleScaling
    simpleScalingConfiguration: {adjustmentType: ChangeInCapacity, scalingAdjustment: 1}
    """,
)


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


# --- scheduled actions ---------------------------------------------------------------------------


def scheduled(name: str, **fields: str | int) -> str:
    lines = "".join(f"{k}: {v}\n" for k, v in fields.items())
    return doc("ScheduledAction", name, "target: {autoScalingGroup: web}\n" + lines)


def test_a_one_time_scheduled_action_fires_at_its_start_time_once_even_across_a_restart(
    h: Scaling,
) -> None:
    action = scheduled(
        "evening-peak",
        startTime='"2023-11-14T23:00:00Z"',
        minSize=2,
        maxSize=8,
        desiredCapacity=5,
    )
    running_group(h, 2, action)  # the clock reads 2023-11-14T22:13:20Z
    h.at("2023-11-14T22:59:59+00:00")
    st = h.group()
    assert (st["minSize"], st["maxSize"], st["desiredCapacity"]) == (1, 6, 2)
    sa = h.status("ScheduledAction", "evening-peak")
    assert (sa["status"], sa["nextTime"]) == ("ACTIVE", ts("2023-11-14T23:00:00+00:00"))

    h.at("2023-11-14T23:00:00+00:00")
    st = h.group()
    assert (st["minSize"], st["maxSize"], st["desiredCapacity"], st["inServiceCount"]) == (
        2,
        8,
        5,
        5,
    )
    assert h.causes() == [
        "scheduled action evening-peak fired at 2023-11-14T23:00:00Z: "
        "min 1 -> 2, max 6 -> 8, desired 2 -> 5"
    ]
    assert h.status("ScheduledAction", "evening-peak")["status"] == "COMPLETED"

    h.restart()
    h.tick(3)
    assert h.group()["desiredCapacity"] == 5
    assert len(h.causes()) == 1
    assert h.status("ScheduledAction", "evening-peak")["status"] == "COMPLETED"


def test_a_cron_recurrence_fires_at_the_next_matching_minute_in_its_time_zone(
    h: Scaling,
) -> None:
    action = scheduled(
        "office-hours",
        recurrence='"30 9 * * MON-FRI"',
        timeZone="Europe/Paris",
        desiredCapacity=4,
    )
    running_group(h, 2, action)  # Tuesday 2023-11-14, 23:13 in Paris
    nine_thirty = ts("2023-11-15T09:30:00+01:00")  # Wednesday, Paris is on UTC+1 in November
    assert h.status("ScheduledAction", "office-hours")["nextTime"] == nine_thirty
    h.at("2023-11-15T09:29:59+01:00")
    assert h.group()["desiredCapacity"] == 2
    h.at("2023-11-15T09:30:00+01:00")
    assert h.group()["desiredCapacity"] == 4
    assert h.causes() == [
        "scheduled action office-hours fired at 2023-11-15T08:30:00Z: desired 2 -> 4"
    ]
    assert h.status("ScheduledAction", "office-hours")["nextTime"] == ts(
        "2023-11-16T09:30:00+01:00"
    )


def ts(when: str) -> float:
    return datetime.fromisoformat(when).timestamp()


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
        "scaling.yaml#0:spec.target.service": "Service 'web' has no autoScaling "
        "{minCapacity, maxCapacity}: the bounds a policy or scheduled action keeps its "
        "desiredCount within",
        "scaling.yaml#1:spec.alarmActions.1.scalingPolicy": "no ScalingPolicy named 'web-in'",
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


# --- predictive scaling --------------------------------------------------------------------------


def predictive(mode: str) -> str:
    return doc(
        "ScalingPolicy",
        "forecast",
        f"""\
        target: {{autoScalingGroup: web}}
        policyType: PredictiveScaling
        predictiveScalingConfiguration:
          predefinedMetric: ASGCPUUtilization
          targetValue: 50
          mode: {mode}
          schedulingBufferTime: 600
        """,
    )


def busy_mornings(h: Scaling, days: int) -> None:
    """`days` days of history: the group carries 300 CPU-percent-instances from 09:00 to
    12:00 UTC (six instances at 50%), 50 otherwise."""
    series = "AutoScalingGroup/web:ASGCPUUtilization"
    today = (h.clock.now // 86400) * 86400
    for day in range(days, 0, -1):
        for hour in range(24):
            load = 300.0 if 9 <= hour < 12 else 50.0
            h.store.add_metric_sample(series, today - day * 86400 + hour * 3600 + 60, load)


def test_predictive_scaling_launches_ahead_of_a_forecast_busy_hour_and_never_scales_in(
    h: Scaling,
) -> None:
    day = (h.clock.now // 86400 + 1) * 86400
    h.at(datetime.fromtimestamp(day + 8 * 3600, UTC).isoformat())  # 08:00 UTC
    busy_mornings(h, 3)
    running_group(h, 2, predictive("ForecastAndScale"))
    assert h.group()["desiredCapacity"] == 2  # 08:00 forecasts 50: one instance would do
    h.at(datetime.fromtimestamp(day + 8 * 3600 + 50 * 60, UTC).isoformat())  # 08:50
    h.tick()
    # 10 minutes ahead, the 09:00 hour forecasts 300 CPU-percent-instances: 6 at 50%.
    assert h.group()["desiredCapacity"] == 6
    (cause,) = h.causes()
    assert cause.startswith("policy forecast:")
    h.at(datetime.fromtimestamp(day + 13 * 3600, UTC).isoformat())  # 13:00: a quiet forecast
    h.tick(3)
    assert h.group()["desiredCapacity"] == 6  # a forecast never scales in


def test_forecast_only_shows_the_forecast_and_changes_nothing(h: Scaling) -> None:
    day = (h.clock.now // 86400 + 1) * 86400
    h.at(datetime.fromtimestamp(day + 8 * 3600 + 55 * 60, UTC).isoformat())
    busy_mornings(h, 3)
    running_group(h, 2, predictive("ForecastOnly"))
    st = h.status("ScalingPolicy", "forecast")
    assert st["forecastCapacity"] == 6
    assert len(st["forecast"]) == 48  # type: ignore[arg-type]
    assert h.group()["desiredCapacity"] == 2
    assert str(st["message"]).endswith(
        "= 6 instances; not applied; no change (current capacity 0, warming 2 within a 300 s "
        "warm-up, computed desired 6, desired 2, minSize 1, maxSize 6)"
    )
    assert st["lastEvaluation"]["noChange"] == "forecast-only"  # type: ignore[index]


def test_predictive_scaling_waits_for_a_day_of_history(h: Scaling) -> None:
    busy_mornings(h, 0)
    running_group(h, 2, predictive("ForecastAndScale"))
    assert "24" in str(h.status("ScalingPolicy", "forecast")["message"])
    assert h.group()["desiredCapacity"] == 2


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
