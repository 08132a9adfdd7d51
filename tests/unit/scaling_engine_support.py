"""The harness the scaling pass tests share: the whole controller on fake engines and a fixed
clock, with a metrics period and time that moves a period at a time, and the manifests they
write (scaling policies, a running group).
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

from controller.catalog import CATALOG
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


def scaling_harness(tmp_path: Path) -> Scaling:
    """What the fixture `h` of every scaling pass test holds: a pool and a launch template."""
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


SIMPLE_POLICY = doc(
    "ScalingPolicy",
    "add-one",
    """\
    target: {autoScalingGroup: web}
    policyType: SimpleScaling
    simpleScalingConfiguration: {adjustmentType: ChangeInCapacity, scalingAdjustment: 1}
    """,
)


def scheduled(name: str, **fields: str | int) -> str:
    lines = "".join(f"{k}: {v}\n" for k, v in fields.items())
    return doc("ScheduledAction", name, "target: {autoScalingGroup: web}\n" + lines)
