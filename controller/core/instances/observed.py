"""The pool's instances, for EC2 and Auto Scaling alike: containers grouped by instance id
(cached until an engine's cache changes), and the tracker of launches and starts not yet
observed; the owners with work left and what instances hold on each host, which EC2's
domain registers for every instance."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from controller.core.instances.instance import ObservedInstance, group_instances
from controller.core.instances.tracker import InstanceTracker
from controller.core.labels import reserved
from controller.core.observed import ObservedTask
from controller.core.registry import Holding
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context


def observed_instances(ctl: Context) -> dict[str, ObservedInstance]:
    return dict(ctl.grouped("instances", group_instances))


def instances(ctl: Context) -> InstanceTracker:
    """The tracker of launches, starts and status checks (EC2 registers it as its part)."""
    return ctl.part(InstanceTracker)


def owners_with_work(ctl: Context) -> set[ResourceKey]:
    """Groups and instances with containers or records: a removed one still has work."""
    observed = {(i.owner_kind, i.owner) for i in observed_instances(ctl).values()}
    return observed | ctl.store.instance_owners()


def holdings(ctl: Context, tasks: Mapping[str, ObservedTask]) -> Iterator[Holding]:
    """A live instance holds its instance type's CPU and memory and the ports it publishes;
    a launch not yet seen holds its CPU and memory."""
    observed = observed_instances(ctl)
    for i in observed.values():
        c = i.container
        if c.running or (c.state == "created" and not c.failed_to_start):
            yield Holding(i.host, *reserved(c.labels))
        if c.running:
            yield Holding(
                i.host, ports=frozenset((p.host_port, p.protocol) for p in c.ports if p.host_port)
            )
    for host, cpu, memory in instances(ctl).reserved(observed):
        yield Holding(host, cpu, memory)
