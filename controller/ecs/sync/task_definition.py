"""TaskDefinition sync: registers a new immutable revision when the spec changes, and
deregisters the family's revisions (INACTIVE, kept in history) when its manifest goes.

It runs at every resync too. Only the newest revision decides (see Store.newest_revision); the
whole history, which grows with every change of the manifest, is read again only when the
status's list of revisions can no longer be brought up to that newest revision as it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.core.status import revisions_listed
from controller.ecs.planners.task_definition import plan_task_definition
from controller.store import Revision

if TYPE_CHECKING:
    from controller.core.context import Context


def sync_task_definition(ctl: Context, family: str) -> float | None:
    key = ("TaskDefinition", family)
    res = ctl.desired.get(key)
    newest = ctl.store.newest_revision(family)
    plan = plan_task_definition(res.spec if res else None, [newest] if newest else [])
    now = ctl.clock()
    if plan.register is not None:
        rev = ctl.store.register_revision(family, plan.register, plan.spec_hash, now)
        ctl.actions.record(
            "TaskDefinition", family, "revision.register", "spec changed", revision=rev.key
        )
    if plan.deregister:
        ctl.store.deregister_family(family, now)
        ctl.actions.record("TaskDefinition", family, "revision.deregister", "manifest removed")
    if not plan.is_noop():
        for k, r in list(ctl.desired.items()):
            if k[0] == "Service" and r.spec.family == family:
                ctl.queue.add(k)
        newest = ctl.store.newest_revision(family)
    if newest is None:
        ctl.forget_status(key)
        return None
    active = newest.status == "ACTIVE"  # the newest is ACTIVE if any revision is
    if active:
        ctl.metrics.task_definition_revision.labels(family).set(newest.number)
    else:  # deregistered: the family keeps its history, as ECS lists INACTIVE revisions
        try:
            ctl.metrics.task_definition_revision.remove(family)
        except KeyError:
            pass
    listed = revisions_listed(
        ctl.status.get(key), newest, _entry, lambda: ctl.store.revisions(family)
    )
    ctl.set_status(
        key,
        "ACTIVE" if res else "INACTIVE",
        "",
        latestRevision=newest.key if active else None,
        revisions=listed,
    )
    return None


def _entry(r: Revision) -> dict[str, Any]:
    return {
        "revision": r.number,
        "status": r.status,
        "registeredAt": r.registered_at,
        "deregisteredAt": r.deregistered_at,
    }
