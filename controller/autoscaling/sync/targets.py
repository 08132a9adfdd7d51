"""Auto Scaling's targets for the load balancers: each group's instances on the port its
targetGroups declare; InService ones serve, terminating ones drain while they are still
registered (unless AddToLoadBalancer is suspended). Reads only; writes nothing."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from controller.autoscaling.models.group import AutoScalingGroupSpec
from controller.autoscaling.planners.group import TERMINATING
from controller.core.instances.observed import observed_instances
from controller.core.targets import TargetSource, Wanted
from controller.dataplane import Key, Server, Target

if TYPE_CHECKING:
    from controller.core.context import Context


def _wanted(
    ctl: Context, groups: Collection[str], current: Mapping[Key, Server]
) -> Iterator[Wanted]:
    instances = observed_instances(ctl)
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    for key, res in list(ctl.desired.items()):
        if key[0] != "AutoScalingGroup":
            continue
        spec: AutoScalingGroupSpec = res.spec
        records = ctl.store.instances(*key) if spec.target_groups else {}
        for tg in spec.target_groups:
            if tg.target_group not in groups:
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
                    target = Target(iid, address[seen.host], port)
                    yield Wanted(tg.target_group, target, key)
                elif registered and r.lifecycle_state in TERMINATING:
                    server = current[(tg.target_group, iid)]
                    target = Target(iid, server.address, server.port, draining=True)
                    yield Wanted(tg.target_group, target, key)


TARGETS = TargetSource(ids=lambda ctl: observed_instances(ctl).keys(), wanted=_wanted)
