"""Scheduled actions in a scaling pass: when one is due, set its target's min, max and desired
capacity, recorded as an activity; report when it next fires."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.autoscaling.models.scaling import ScheduledActionSpec
from controller.autoscaling.planners.schedule import due, next_time
from controller.autoscaling.sync.scaling_state import kept_state, record_activity, remember
from controller.core import capacity
from controller.manifests.kinds import key_str

if TYPE_CHECKING:
    from controller.core.context import Context


def run_scheduled_action(
    ctl: Context, name: str, spec: ScheduledActionSpec, now: float
) -> float | None:
    """Fires the action when due; returns when it next fires."""
    saved = kept_state(ctl, "ScheduledAction", name)
    if "created" not in saved:
        remember(ctl, "ScheduledAction", name, created=now)
        saved = {"created": now}
    at = due(spec, saved.get("lastFired"), saved["created"], now)
    target = spec.target.key
    res = ctl.desired.get(target)
    if at is not None and res is not None:
        before, after = capacity.change(
            ctl,
            target,
            res.spec,
            desired=spec.desired_capacity,
            min_size=spec.min_size,
            max_size=spec.max_size,
        )
        remember(ctl, "ScheduledAction", name, lastFired=at)
        what = ", ".join(
            f"{label} {old} -> {new}"
            for label, old, new in (
                ("min", before.min_size, after.min_size),
                ("max", before.max_size, after.max_size),
                ("desired", before.desired, after.desired),
            )
            if old != new
        )
        record_activity(
            ctl,
            target,
            f"Executing scheduled action {name}",
            f"scheduled action {name} fired at {_iso(at)}: {what or 'no change'}",
            now,
        )
    upcoming = next_time(spec, now)
    ctl.set_status(
        ("ScheduledAction", name),
        "ACTIVE" if upcoming is not None else "COMPLETED",
        "" if res is not None else f"no {key_str(target)}",
        target=key_str(target),
        nextTime=upcoming,
        lastFired=kept_state(ctl, "ScheduledAction", name).get("lastFired"),
    )
    return upcoming


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
