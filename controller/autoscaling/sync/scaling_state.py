"""What one scaling pass shares between its parts: the evaluations it collects per scaled
resource, the state kept in the store across restarts (tied to the manifest's version), and the
activity a capacity change records."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.autoscaling.planners.policies import Capacity, Decision
from controller.core import overrides
from controller.manifests.kinds import ResourceKey, key_str
from controller.store import Activity

if TYPE_CHECKING:
    from controller.core.context import Context


@dataclass(frozen=True)
class Evaluation:
    """One policy's evaluation in a pass: the capacity it saw and what it decided."""

    capacity: Capacity
    decision: Decision


@dataclass
class Pass:
    """What one pass decided, per scaled resource."""

    # predictive: (floor, max size, reason)
    floors: dict[ResourceKey, tuple[int, int, str]] = field(default_factory=dict)
    evaluations: dict[ResourceKey, list[Evaluation]] = field(
        default_factory=lambda: defaultdict(list)
    )


# --- state kept in the store, tied to the manifest's version ----------------------------------


def _basis(ctl: Context, kind: str, name: str) -> Any:
    """What the kept state answers to: an alarm's state and a policy's cooldowns survive
    edits (as PutMetricAlarm keeps the state); a scheduled action starts again when edited."""
    return ctl.desired[(kind, name)].spec if kind == "ScheduledAction" else kind


def kept_state(ctl: Context, kind: str, name: str) -> dict[str, Any]:
    return overrides.current(ctl.store, kind, name, _basis(ctl, kind, name))


def remember(ctl: Context, kind: str, name: str, **changes: Any) -> None:
    overrides.put(ctl.store, kind, name, _basis(ctl, kind, name), **changes)


def record_activity(
    ctl: Context, target: ResourceKey, description: str, cause: str, now: float
) -> None:
    ctl.store.put_activity(
        Activity(uuid.uuid4().hex, key_str(target), description, cause, "Successful", now, now)
    )
    ctl.actions.record(target[0], target[1], "scaling.activity", cause)
    if target[0] == "AutoScalingGroup":
        ctl.metrics.autoscaling_activities.labels(target[1], "Successful").inc()
    ctl.queue.add(target)
