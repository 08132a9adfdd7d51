"""ECS's retention rule: the task records and deployments of a deleted service go once it has
drained (core/retention.py runs it).

The service's sync removes them itself when it sees the service drained; this rule finds those
it never saw go: a service deleted while the daemon was down, or whose last sync could not
write the store. A service is deleted when it has no manifest, not even the last valid version
of an invalid one (kept in desired state and in the store, and so across restarts). It has
drained when no host shows a task of it, no launch of it is in flight, and every host that
holds one of its records has been listed since the daemon started (or is gone from the
manifests): a host not listed yet may still run its tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.ecs.sync.state import ecs

if TYPE_CHECKING:
    from controller.core.context import Context


def prune_deleted_services(ctl: Context, limit: int) -> int:
    """Removes the records of up to `limit` deleted, drained services; returns how many."""
    gone = sorted(n for n in ctl.store.service_record_owners() if ("Service", n) not in ctl.desired)
    if not gone:
        return 0
    went = 0
    with ctl.placement_lock:  # no service places (and records a launch) meanwhile
        owners = {t.owner for t in ctl.observed_tasks().values() if t.owner_kind == "Service"}
        listed = {n for n, h in list(ctl.hosts.items()) if h.up and h.observer.synced}
        for name in gone:
            key = ("Service", name)
            if went >= limit or key in ctl.desired or name in owners:
                continue
            if ecs(ctl).expectations.pending(key, {}).launches:
                continue
            hosts = {r.host for r in ctl.store.tasks(*key).values()}
            if any(h in ctl.hosts and h not in listed for h in hosts):
                continue
            if ctl.store.delete_service_records(name):
                went += 1
    return went
