"""EC2's entry in the kind registry: LaunchTemplate and Instance, their syncs, the owners of
instances with work left, and what instances hold on each host: every instance's, groups'
too, since the instance tracker (core/instances/) is EC2's part."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from controller.core.instances.observed import instances, observed_instances
from controller.core.instances.references import fleet_references
from controller.core.instances.tracker import InstanceTracker
from controller.core.instances.versions import InstanceFields, LaunchTemplateFields
from controller.core.labels import reserved
from controller.core.observed import ObservedTask
from controller.core.registry import Domain, Entry, Holding
from controller.ec2.models.ec2 import (
    InstanceSpec,
    LaunchTemplateSpec,
    check_instance,
    check_launch_template,
)
from controller.ec2.needs import instance_needs, launch_template_needs
from controller.ec2.sync.instance import sync_instance
from controller.ec2.sync.launch_template import sync_launch_template
from controller.manifests.kinds import Kind, ResourceKey

if TYPE_CHECKING:
    from controller.core.controller import Controller


def _keys(ctl: Controller) -> set[ResourceKey]:
    """Groups and instances with containers or records: a removed one still has work."""
    observed = {(i.owner_kind, i.owner) for i in observed_instances(ctl).values()}
    return observed | ctl.store.instance_owners()


def _holdings(ctl: Controller, tasks: Mapping[str, ObservedTask]) -> Iterator[Holding]:
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


def _fields(t: LaunchTemplateSpec, i: InstanceSpec) -> tuple[LaunchTemplateFields, InstanceFields]:
    """EC2's manifests give the core's instance machinery what it reads of them (mypy checks
    it here: core/instances/versions.py declares it)."""
    return t, i


def _tracker(ctl: Controller) -> InstanceTracker:
    return InstanceTracker(ctl.settings.expectation_ttl, ctl.clock)


DOMAIN = Domain(
    "ec2",
    entries=(
        Entry(
            Kind(
                "LaunchTemplate",
                LaunchTemplateSpec,
                check_launch_template,
                needs=launch_template_needs,
            ),
            sync=sync_launch_template,
        ),
        Entry(
            Kind(
                "Instance",
                InstanceSpec,
                check_instance,
                needs=instance_needs,
                references=fleet_references,
            ),
            sync=sync_instance,
            reads=("LaunchTemplate", "Host"),
        ),
    ),
    keys=_keys,
    holdings=_holdings,
    part=_tracker,
)
