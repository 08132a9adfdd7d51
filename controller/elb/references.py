"""Checks between a LoadBalancer's document and the others: each listener's port is its own,
and every target group its actions forward to is in the manifests."""

from __future__ import annotations

from controller.elb.models.load_balancer import Action, LoadBalancerSpec
from controller.manifests.base import Path, quote
from controller.manifests.kinds import Manifests, Problems, Resource


def load_balancer_references(res: Resource, manifests: Manifests) -> Problems:
    return _shared_ports(res, manifests) + _missing_groups(res, manifests)


def _order(res: Resource) -> tuple[str, int, str]:
    return (res.source, res.document, res.name)


def _shared_ports(res: Resource, manifests: Manifests) -> Problems:
    """A port is one listener's: two LoadBalancers on one port would split its traffic. The
    listener met later (by file, then document) is at fault."""
    first: dict[int, tuple[Resource, int]] = {}
    for other in sorted(manifests.of_kind("LoadBalancer"), key=_order):
        if _order(other) >= _order(res):
            break
        spec: LoadBalancerSpec = other.spec
        for j, listener in enumerate(spec.listeners):
            first.setdefault(listener.port, (other, j))
    problems: Problems = []
    for i, listener in enumerate(res.spec.listeners):
        if listener.port not in first:
            continue  # a port twice in one LoadBalancer is its own check's
        other, j = first[listener.port]
        problems.append(
            (
                ("listeners", i, "port"),
                f"port {listener.port} is already a listener of LoadBalancer "
                f"{quote(other.name)} ({other.source} document {other.document}, listener {j})",
            )
        )
    return problems


def _missing_groups(res: Resource, manifests: Manifests) -> Problems:
    """Target groups a LoadBalancer's actions name that are not in these manifests."""
    problems: Problems = []
    spec: LoadBalancerSpec = res.spec
    for i, listener in enumerate(spec.listeners):
        places: list[tuple[Path, Action]] = [
            (("listeners", i, "defaultActions", 0), listener.default_actions[0])
        ] + [
            (("listeners", i, "rules", j, "actions", 0), rule.actions[0])
            for j, rule in enumerate(listener.rules)
        ]
        for path, action in places:
            for tg, _ in action.target_groups():
                if not manifests.named("TargetGroup", tg):
                    problems.append((path, f"no TargetGroup named {quote(tg)} in these manifests"))
    return problems
