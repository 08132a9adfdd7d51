"""The `instanceRefresh` object of a group's /v1/status document, in the shape of EC2 Auto
Scaling's DescribeInstanceRefreshes (status, percentageComplete, instancesToUpdate,
statusReason), computed from what the group's pass already knows.

Skiff has no StartInstanceRefresh call: a group whose launch template version changes replaces
its instances on another version (the planner's refresh_batch, within
instanceRefresh.minHealthyPercentage). So the refresh is read off the instances:

- InProgress: some instance of the group is on another version (alive, leaving, or just
  terminated and still listed) and the capacity is not yet all InService and Healthy on the
  current one;
- Pending: the same, but the InstanceRefresh (or Launch) process is suspended;
- Failed: the same, and the pass failed (a launch refused or an engine error): statusReason
  says why; the daemon keeps retrying, and the status goes back to InProgress when it can;
- Successful: every instance alive is on the current version, InService and Healthy (a group
  that never changed version reports a refresh that has nothing to do, Successful).

percentageComplete is the share of the desired capacity InService and Healthy on the current
version (below 100 while the refresh is not done); instancesToUpdate the rest of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.autoscaling.planners.group import ALIVE, GroupDesired
from controller.core.instances.instance import InstanceView


def instance_refresh_json(
    desired: GroupDesired, views: Sequence[InstanceView], failed: bool, message: str
) -> dict[str, Any]:
    version = desired.version
    records = [v.record for v in views]
    alive = [r for r in records if r.lifecycle_state in ALIVE]
    old = [r for r in records if r.template != version]
    old_alive = [r for r in alive if r.template != version]
    done = sum(
        1
        for r in alive
        if r.template == version and r.lifecycle_state == "InService" and r.health == "Healthy"
    )
    capacity = desired.capacity
    finished = not old_alive and done >= capacity
    if finished or not old:
        pending_new = capacity - done
        reason = (
            f"every instance runs {version}"
            if finished
            else f"no instance to replace: {version} is the only version in the group "
            f"({pending_new} instance(s) launching)"
        )
        return _doc("Successful", 100, 0, reason)
    to_update = max(len(old_alive), capacity - done)
    pct = min(99, (100 * done) // capacity) if capacity else 0
    if failed:
        return _doc("Failed", pct, to_update, message or "the group's pass failed")
    if {"InstanceRefresh", "Launch"} & desired.suspended:
        suspended = sorted({"InstanceRefresh", "Launch"} & desired.suspended)
        return _doc("Pending", pct, to_update, f"suspended processes: {', '.join(suspended)}")
    reason = (
        f"{done} of {capacity} instance(s) InService and Healthy on {version}; "
        f"{len(old_alive)} left on another version, replaced while "
        f"{desired.refresh_min_healthy}% of the capacity stays healthy"
    )
    return _doc("InProgress", pct, to_update, reason)


def _doc(status: str, pct: int, to_update: int, reason: str) -> dict[str, Any]:
    return {
        "status": status,
        "percentageComplete": pct,
        "instancesToUpdate": to_update,
        "statusReason": reason,
    }
