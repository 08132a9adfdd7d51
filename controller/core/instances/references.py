"""Checks between an Instance or AutoScalingGroup document and the others (both kinds
register them): the launch
template, zones and target groups it names must exist."""

from __future__ import annotations

from controller.manifests.base import quote
from controller.manifests.kinds import Manifests, Problems, Resource, no_zone


def fleet_references(res: Resource, manifests: Manifests) -> Problems:
    problems: Problems = []
    ref = res.spec.launch_template
    if ref is not None and not manifests.named("LaunchTemplate", ref.launch_template_name):
        problems.append(
            (
                ("launchTemplate", "launchTemplateName"),
                f"no LaunchTemplate named {quote(ref.launch_template_name)} in these manifests",
            )
        )
    zones = {h.zone for h in manifests.hosts.values()}
    wanted = list(getattr(res.spec, "availability_zones", None) or [])
    if res.kind == "Instance" and res.spec.availability_zone:
        wanted = [res.spec.availability_zone]
    for i, zone in enumerate(wanted):
        if zone not in zones:
            group = res.kind == "AutoScalingGroup"
            problems.append(
                (("availabilityZones", i) if group else ("availabilityZone",), no_zone(zone, zones))
            )
    for i, tg in enumerate(getattr(res.spec, "target_groups", [])):
        if not manifests.named("TargetGroup", tg.target_group):
            problems.append(
                (
                    ("targetGroups", i, "targetGroup"),
                    f"no TargetGroup named {quote(tg.target_group)} in these manifests",
                )
            )
    return problems
