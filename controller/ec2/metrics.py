"""What EC2 publishes to CloudWatch (core/metrics.py): its running instances' containers to
sample, each counting toward the instance's series and, while it is InService in an Auto
Scaling group, the group's (as EC2 publishes AutoScalingGroupName), and StatusCheckFailed from
the instances' status checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from controller.core.instances.instance import IMPAIRED
from controller.core.instances.observed import instances, observed_instances
from controller.core.labels import reserved
from controller.core.metrics import Dimension, MetricSource, Sampled, SeriesKey

if TYPE_CHECKING:
    from controller.core.context import Context


def _containers(ctl: Context) -> Iterator[Sampled]:
    for iid, inst in observed_instances(ctl).items():
        c = inst.container
        if not c.running:
            continue
        cpu_units, memory_mib = reserved(c.labels)
        series: list[Dimension] = [("instance", iid)]
        if inst.owner_kind == "AutoScalingGroup":
            record = ctl.store.instance(iid)
            if record is not None and record.lifecycle_state == "InService":
                series.append(("autoScalingGroup", inst.owner))
        yield Sampled(inst.host, c.id, cpu_units / 1024 or None, memory_mib or None, tuple(series))


def _samples(ctl: Context, now: float, memory: dict[str, Any]) -> Iterator[tuple[SeriesKey, float]]:
    for iid, verdict in instances(ctl).last_checks().items():
        yield ("StatusCheckFailed", "instance", iid), 1.0 if verdict == IMPAIRED else 0.0


METRICS = MetricSource(kinds=("Instance",), containers=_containers, samples=_samples)
