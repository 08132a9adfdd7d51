"""ECS's targets for the load balancers: each service's running tasks behind the target
groups its loadBalancers name, on the host ports that publish their containers' ports; and
tasks being stopped that are still registered (they drain). Reads only; writes nothing."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from controller.core import labels as L
from controller.core.observed import ObservedTask
from controller.core.targets import TargetSource, Wanted
from controller.dataplane import Key, Server, Target
from controller.ecs.models.service import ServiceSpec
from controller.ecs.planners.task_state import RUNNING, STOPPED, TaskView, view_task
from controller.ecs.sync.state import revision

if TYPE_CHECKING:
    from controller.core.context import Context


def target_port(task: ObservedTask, container_name: str, container_port: int) -> int | None:
    """The host port publishing the named container's port; an awsvpc task's sandbox
    publishes the ports of every container in it."""
    for name in (container_name, L.PAUSE_CONTAINER):
        c = task.containers.get(name)
        for p in c.ports if c is not None else ():
            if p.container_port == container_port and p.protocol == "tcp" and p.host_port:
                return p.host_port
    return None


def _wanted(
    ctl: Context, groups: Collection[str], current: Mapping[Key, Server]
) -> Iterator[Wanted]:
    tasks = ctl.observed_tasks()
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    records, now = ctl.store.all_tasks(), ctl.clock()  # one query, whatever the tasks
    views: dict[str, TaskView] = {}

    def view(t: ObservedTask) -> TaskView:
        if t.id not in views:
            rev = revision(ctl, t.revision)
            views[t.id] = view_task(t, rev.spec if rev else None, records.get(t.id), now)
        return views[t.id]

    by_owner: dict[str, list[ObservedTask]] = {}
    for t in tasks.values():
        if t.owner_kind == "Service":
            by_owner.setdefault(t.owner, []).append(t)
    serving: set[tuple[str, str]] = set()
    for key, res in list(ctl.desired.items()):
        if key[0] != "Service":
            continue
        spec: ServiceSpec = res.spec
        for lb in spec.load_balancers:
            if lb.target_group not in groups:
                continue
            for t in by_owner.get(key[1], []):
                v = view(t)
                if v.desired_status != RUNNING or v.last_status != RUNNING:
                    continue
                port = target_port(t, lb.container_name, lb.container_port)
                if port is not None and t.host in address:
                    serving.add((lb.target_group, t.id))
                    yield Wanted(lb.target_group, Target(t.id, address[t.host], port), key)
    for (group, task_id), server in current.items():
        found = tasks.get(task_id)
        if found is None or group not in groups or (group, task_id) in serving:
            continue
        v = view(found)
        if v.desired_status == STOPPED and v.running_container_ids():
            target = Target(task_id, server.address, server.port, draining=True)
            yield Wanted(group, target, (found.owner_kind, found.owner))


TARGETS = TargetSource(ids=lambda ctl: ctl.observed_tasks().keys(), wanted=_wanted)
