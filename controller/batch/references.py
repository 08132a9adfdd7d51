"""Checks between Batch documents and the others: a queue's compute environments, and an
environment's hosts and zones, must exist."""

from __future__ import annotations

from controller.manifests.base import quote
from controller.manifests.kinds import Manifests, Problems, Resource, no_zone


def job_queue_references(res: Resource, manifests: Manifests) -> Problems:
    return [
        (
            ("computeEnvironmentOrder", i, "computeEnvironment"),
            f"no ComputeEnvironment named {quote(entry.compute_environment)} in these manifests",
        )
        for i, entry in enumerate(res.spec.compute_environment_order)
        if not manifests.named("ComputeEnvironment", entry.compute_environment)
    ]


def compute_environment_references(res: Resource, manifests: Manifests) -> Problems:
    hosts = manifests.hosts
    zones = {h.zone for h in hosts.values()}
    problems: Problems = [
        (("hosts", i), f"no Host named {quote(host)} (hosts: {', '.join(sorted(hosts))})")
        for i, host in enumerate(res.spec.hosts)
        if host not in hosts
    ]
    problems += [
        (("zones", i), no_zone(zone, zones))
        for i, zone in enumerate(res.spec.zones)
        if zone not in zones
    ]
    return problems
