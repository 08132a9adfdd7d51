"""ECS's entry in the kind registry: TaskDefinition and Service, their syncs, the task
definition families with revisions to retire, and what tasks hold on each host."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from controller.core.observed import ObservedTask
from controller.core.registry import Domain, Entry, Holding, Port, Retention
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
    return {("TaskDefinition", family) for family in ctl.store.families()}


def _holdings(ctl: Context, tasks: Mapping[str, ObservedTask]) -> Iterator[Holding]:
    """A task the planner does not count as STOPPED holds its revision's CPU, memory and
    static ports; a launch not yet seen holds them too, with the dynamic ports chosen for it;
    a task's live containers hold the ports they publish. Tasks are counted per host and
    revision, one holding each, so a pass costs one look at each task: records are read only
    for tasks with no running container, whose view decides."""
    state = ctl.part(EcsState)
    occupying: Counter[tuple[str, str]] = Counter()
    published: dict[str, set[Port]] = {}
    idle: list[ObservedTask] = []  # no container running: perhaps STOPPED, its view decides
    for t in tasks.values():
        running = False
        for c in t.containers.values():
            running = running or c.running
            if c.ports and (c.running or (c.state == "created" and not c.failed_to_start)):
                held = published.setdefault(t.host, set())
                held.update((p.host_port, p.protocol) for p in c.ports if p.host_port)
        if running:
            occupying[(t.host, t.revision)] += 1
        else:
            idle.append(t)
    records = ctl.store.task_records([t.id for t in idle]) if idle else {}
    now = ctl.clock()
    for t in idle:
        rev = state.revision(t.revision)
        if view_task(t, rev.spec if rev else None, records.get(t.id), now).last_status != STOPPED:
            occupying[(t.host, t.revision)] += 1
    for f in state.expectations.all_in_flight():
        if f.task_id not in tasks:
            occupying[(f.host, f.revision)] += 1
            yield Holding(f.host, ports=frozenset((hp, proto) for _, proto, hp in f.host_ports))
    for (host, key), count in occupying.items():
        rev = state.revision(key)
        if rev is not None:
            spec = rev.spec
            yield Holding(
                host,
                spec.cpu_need * count,
                spec.memory_need * count,
                frozenset(spec.static_host_ports()),
            )
    for host, ports in published.items():
        yield Holding(host, ports=frozenset(ports))


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
