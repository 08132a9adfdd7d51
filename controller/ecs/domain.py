"""ECS's entry in the kind registry: TaskDefinition and Service, their syncs, the task
definition families with revisions to retire, and what tasks hold on each host."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from controller.core.observed import ObservedTask
from controller.core.registry import Domain, Entry, Holding, Retention
from controller.ecs.metrics import METRICS
from controller.ecs.models.service import ServiceSpec, check_service
from controller.ecs.models.task_definition import TaskDefinitionSpec, check_task_definition
from controller.ecs.needs import task_definition_needs
from controller.ecs.planners.task_state import STOPPED, view_task
from controller.ecs.references import service_references
from controller.ecs.sync.retention import prune_deleted_services
from controller.ecs.sync.service import sync_service
from controller.ecs.sync.state import EcsState
from controller.ecs.sync.targets import TARGETS
from controller.ecs.sync.task_definition import sync_task_definition
from controller.manifests.kinds import Kind, ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context


def _keys(ctl: Context) -> set[ResourceKey]:
    return {("TaskDefinition", r.family) for r in ctl.store.revisions()}


def _holdings(ctl: Context, tasks: Mapping[str, ObservedTask]) -> Iterator[Holding]:
    """A task the planner does not count as STOPPED holds its revision's CPU, memory and
    static ports; a launch not yet seen holds them too, with the dynamic ports chosen for it;
    a task's live containers hold the ports they publish."""
    state = ctl.part(EcsState)
    records, now = ctl.store.all_tasks(), ctl.clock()
    occupying: list[tuple[str, str]] = []
    for t in tasks.values():
        if any(c.running for c in t.containers.values()):  # never STOPPED: skip the view
            occupying.append((t.host, t.revision))
            continue
        rev = state.revision(t.revision)
        if view_task(t, rev.spec if rev else None, records.get(t.id), now).last_status != STOPPED:
            occupying.append((t.host, t.revision))
    for f in state.expectations.all_in_flight():
        if f.task_id not in tasks:
            occupying.append((f.host, f.revision))
            yield Holding(f.host, ports=frozenset((hp, proto) for _, proto, hp in f.host_ports))
    for host, key in occupying:
        rev = state.revision(key)
        if rev is not None:
            spec = rev.spec
            yield Holding(
                host, spec.cpu_need, spec.memory_need, frozenset(spec.static_host_ports())
            )
    for t in tasks.values():
        for c in t.containers.values():
            if c.running or (c.state == "created" and not c.failed_to_start):
                published = frozenset((p.host_port, p.protocol) for p in c.ports if p.host_port)
                yield Holding(t.host, ports=published)


DOMAIN = Domain(
    "ecs",
    entries=(
        Entry(
            Kind(
                "TaskDefinition",
                TaskDefinitionSpec,
                check_task_definition,
                needs=task_definition_needs,
            ),
            sync=sync_task_definition,
        ),
        Entry(
            Kind("Service", ServiceSpec, check_service, references=service_references),
            sync=sync_service,
            reads=("TaskDefinition", "TargetGroup", "LoadBalancer", "Host"),
        ),
    ),
    keys=_keys,
    holdings=_holdings,
    targets=TARGETS,
    part=EcsState,
    metrics=METRICS,
    retention=(Retention("records of deleted services", prune_deleted_services),),
)
