"""Checks between a Service's document and the others: the TaskDefinition it runs (and, on
Fargate, a size Fargate has), its load balancers' target groups and containers, and the Host
attributes its placement constraints name."""

from __future__ import annotations

from controller.ecs.models.service import ServiceSpec
from controller.ecs.models.task_definition import TaskDefinitionSpec, check_fargate
from controller.manifests.base import Path, quote
from controller.manifests.host import HostSpec
from controller.manifests.kinds import Manifests, Problems, Resource
from controller.manifests.placement import BUILT_IN, attributes_of, parse


def service_references(res: Resource, manifests: Manifests) -> Problems:
    spec: ServiceSpec = res.spec
    problems = _load_balancer_problems(spec, manifests)
    problems += [
        (("placementConstraints", i), message)
        for i, message in placement_problems(spec, dict(manifests.hosts))
    ]
    td = manifests.resources.get(("TaskDefinition", spec.family))
    if td is None and manifests.named("TaskDefinition", spec.family):
        return problems  # invalid: its own errors say why
    if td is None:
        problems.append(
            (
                ("taskDefinition",),
                f"no TaskDefinition named {quote(spec.family)} in these manifests",
            )
        )
    elif spec.launch_type == "FARGATE":
        problems += [
            (("launchType",), f"TaskDefinition {quote(spec.family)}: {message}")
            for message in check_fargate(td.spec)
        ]
    return problems


def placement_problems(spec: ServiceSpec, hosts: dict[str, HostSpec]) -> list[tuple[int, str]]:
    """Constraints naming an attribute no Host of the pool has: a typo, known before anything
    runs. A constraint the pool cannot meet today is no error: as in ECS, what fits is placed
    and the rest waits, with the reason, for a host that meets it."""
    problems: list[tuple[int, str]] = []
    known = set(BUILT_IN).union(*(h.attributes for h in hosts.values()))
    for i, c in enumerate(spec.placement_constraints):
        if c.type != "memberOf" or not c.expression:
            continue
        unknown = sorted(a for a in attributes_of(parse(c.expression)) if a not in known)
        if unknown:
            problems.append(
                (
                    i,
                    f"attribute {quote(unknown[0])} is on no Host "
                    f"(known: {', '.join(sorted(known))})",
                )
            )
    return problems


def _load_balancer_problems(spec: ServiceSpec, manifests: Manifests) -> Problems:
    """A Service's loadBalancers must name groups that exist, that a LoadBalancer forwards
    to (as ECS refuses a target group with no load balancer: its tasks could never turn
    healthy), and ports its tasks map."""
    problems: Problems = []
    td = manifests.resources.get(("TaskDefinition", spec.family))
    forwarded: set[str] = set()
    for other in manifests.of_kind("LoadBalancer"):
        forwarded |= other.spec.target_groups()
    unsure = any(k[0] == "LoadBalancer" for k in manifests.claimed)  # it may forward to it
    for i, lb in enumerate(spec.load_balancers):
        at: Path = ("loadBalancers", i)
        group = manifests.resources.get(("TargetGroup", lb.target_group))
        if group is None and not manifests.named("TargetGroup", lb.target_group):
            problems.append(
                (
                    (*at, "targetGroup"),
                    f"no TargetGroup named {quote(lb.target_group)} in these manifests",
                )
            )
        elif lb.target_group not in forwarded and not unsure:
            problems.append(
                (
                    (*at, "targetGroup"),
                    f"TargetGroup {quote(lb.target_group)} has no LoadBalancer: no listener "
                    "forwards to it, so its targets could never turn healthy",
                )
            )
        if td is None:
            continue
        td_spec: TaskDefinitionSpec = td.spec
        container = next(
            (c for c in td_spec.container_definitions if c.name == lb.container_name), None
        )
        if container is None:
            problems.append(
                (
                    (*at, "containerName"),
                    f"TaskDefinition {quote(spec.family)} has no container "
                    f"{quote(lb.container_name)}",
                )
            )
        elif not any(p.container_port == lb.container_port for p in container.port_mappings):
            problems.append(
                (
                    (*at, "containerPort"),
                    f"container {quote(lb.container_name)} maps no port {lb.container_port}",
                )
            )
        if (
            group is not None
            and group.spec.target_type == "ip"
            and td_spec.network_mode != "awsvpc"
        ):
            problems.append(
                (
                    (*at, "targetGroup"),
                    f"TargetGroup {quote(lb.target_group)} has targetType ip, which needs "
                    "networkMode awsvpc",
                )
            )
    return problems
