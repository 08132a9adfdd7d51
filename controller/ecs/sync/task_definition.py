"""TaskDefinition sync: registers a new immutable revision when the spec changes, and
deregisters the family's revisions (INACTIVE, kept in history) when its manifest goes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.ecs.planners.task_definition import plan_task_definition

if TYPE_CHECKING:
    from controller.core.context import Context


def sync_task_definition(ctl: Context, family: str) -> float | None:
    key = ("TaskDefinition", family)
    res = ctl.desired.get(key)
    history = ctl.store.revisions(family)
    plan = plan_task_definition(res.spec if res else None, history)
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
        history = ctl.store.revisions(family)
    active = [r for r in history if r.status == "ACTIVE"]
    if not history:
        ctl.forget_status(key)
        return None
    if active:
        ctl.metrics.task_definition_revision.labels(family).set(active[-1].number)
    else:  # deregistered: the family keeps its history, as ECS lists INACTIVE revisions
        try:
            ctl.metrics.task_definition_revision.remove(family)
        except KeyError:
            pass
    ctl.set_status(
        key,
        "ACTIVE" if res else "INACTIVE",
        "",
        latestRevision=active[-1].key if active else None,
        revisions=[
            {
                "revision": r.number,
                "status": r.status,
                "registeredAt": r.registered_at,
                "deregisteredAt": r.deregistered_at,
            }
            for r in history
        ],
    )
    return None
