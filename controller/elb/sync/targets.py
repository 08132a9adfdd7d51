"""Which targets each target group should have: the running tasks of the services behind it
and the InService instances of the Auto Scaling groups attached to it, on the host ports that
publish them; and the ones being stopped or terminated that are still registered (they drain).

Part of the load balancer sync; it reads the controller's truth and writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from controller.autoscaling.models.group import AutoScalingGroupSpec
from controller.autoscaling.planners.group import TERMINATING
from controller.core import labels as L
from controller.core.observed import ObservedTask
from controller.dataplane import Key
from controller.ec2.planners.instances import ObservedInstance
from controller.ecs.models.service import ServiceSpec
from controller.ecs.planners.task_state import RUNNING, STOPPED, TaskView, view_task
from controller.elb.models.load_balancer import TargetGroupSpec
from controller.elb.planners.load_balancer import Server, Target, target_problem
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.controller import Controller

log = structlog.get_logger("skiff.lb")


def target_port(task: ObservedTask, container_name: str, container_port: int) -> int | None:
    """The host port publishing the named container's port; an awsvpc task's sandbox
    publishes the ports of every container in it."""
    for name in (container_name, L.PAUSE_CONTAINER):
        c = task.containers.get(name)
        for p in c.ports if c is not None else ():
            if p.container_port == container_port and p.protocol == "tcp" and p.host_port:
                return p.host_port
    return None


def wanted_targets(
    ctl: Controller,
    groups: dict[str, TargetGroupSpec],
    tasks: dict[str, ObservedTask],
    current: dict[Key, Server],
) -> dict[str, list[Target]]:
    """Targets per group: running tasks of services behind them, and tasks being stopped that
    are still registered (they drain)."""
    wanted: dict[str, list[Target]] = {g: [] for g in groups}
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    records, now = ctl.store.all_tasks(), ctl.clock()  # one query, whatever the tasks
    views: dict[str, TaskView] = {}

    def view(t: ObservedTask) -> TaskView:
        if t.id not in views:
            rev = ctl.revision(t.revision)
            views[t.id] = view_task(t, rev.spec if rev else None, records.get(t.id), now)
        return views[t.id]

    by_owner: dict[ResourceKey, list[ObservedTask]] = {}
    for t in tasks.values():
        by_owner.setdefault((t.owner_kind, t.owner), []).append(t)
    for key, res in ctl.desired.items():
        if key[0] != "Service":
            continue
        spec: ServiceSpec = res.spec
        for lb in spec.load_balancers:
            if lb.target_group not in wanted:
                continue
            for t in by_owner.get(key, []):
                v = view(t)
                if v.desired_status != RUNNING or v.last_status != RUNNING:
                    continue
                port = target_port(t, lb.container_name, lb.container_port)
                if port is not None and t.host in address:
                    admit(wanted, lb.target_group, Target(t.id, address[t.host], port))
    serving = {g: {t.task_id for t in targets} for g, targets in wanted.items()}
    for (group, task_id), server in current.items():
        found = tasks.get(task_id)
        if found is None or group not in wanted or task_id in serving[group]:
            continue
        v = view(found)
        if v.desired_status == STOPPED and v.running_container_ids():
            wanted[group].append(Target(task_id, server.address, server.port, draining=True))
    return wanted


def add_instances(
    ctl: Controller,
    wanted: dict[str, list[Target]],
    instances: dict[str, ObservedInstance],
    current: dict[tuple[str, str], Server],
) -> None:
    """Auto Scaling groups' instances on their declared ports: InService ones serve; ones
    terminating drain while they are still registered."""
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    for key, res in list(ctl.desired.items()):
        if key[0] != "AutoScalingGroup":
            continue
        spec: AutoScalingGroupSpec = res.spec
        records = ctl.store.instances(*key) if spec.target_groups else {}
        for tg in spec.target_groups:
            if tg.target_group not in wanted:
                continue
            for iid, r in records.items():
                seen = instances.get(iid)
                if seen is None or not seen.container.running or seen.host not in address:
                    continue
                port = next(
                    (
                        p.host_port
                        for p in seen.container.ports
                        if p.container_port == tg.port and p.host_port
                    ),
                    None,
                )
                registered = (tg.target_group, iid) in current
                if port is None:
                    continue
                if r.lifecycle_state == "InService" and r.desired_state == "running":
                    if "AddToLoadBalancer" in spec.suspended_processes and not registered:
                        continue
                    admit(wanted, tg.target_group, Target(iid, address[seen.host], port))
                elif registered and r.lifecycle_state in TERMINATING:
                    server = current[(tg.target_group, iid)]
                    wanted[tg.target_group].append(
                        Target(iid, server.address, server.port, draining=True)
                    )


def admit(wanted: dict[str, list[Target]], group: str, target: Target) -> None:
    """Adds a target HAProxy can be told about. Ids come from Docker's labels and addresses
    from the Host manifests: one HAProxy could not read as a plain word is left out (and
    logged), never written."""
    problem = target_problem(target)
    if problem is None:
        wanted[group].append(target)
    else:
        log.warning("target.unsafe", target_group=group, target=target.task_id[:64], error=problem)
