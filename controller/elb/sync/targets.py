"""Which targets each target group should have, gathered from every domain that puts targets
behind load balancers (core/targets.py: a service's tasks, a group's instances), with the
resource that owns each; only targets the data plane can be told about are kept.

Part of the load balancer sync; it reads the controller's truth and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from controller.core.targets import admissible
from controller.dataplane import Key, Server, Target
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context


def known_ids(ctl: Context) -> set[str]:
    """Every id any domain owns that may be a target."""
    return {i for d in ctl.catalog.domains if d.targets is not None for i in d.targets.ids(ctl)}


def wanted_targets(
    ctl: Context, groups: Mapping[str, object], current: Mapping[Key, Server]
) -> tuple[dict[str, list[Target]], dict[str, ResourceKey]]:
    """Targets per group, serving and draining, and each target's owner."""
    wanted: dict[str, list[Target]] = {g: [] for g in groups}
    owners: dict[str, ResourceKey] = {}
    for domain in ctl.catalog.domains:
        if domain.targets is None:
            continue
        for w in domain.targets.wanted(ctl, wanted.keys(), current):
            if w.group in wanted and (w.target.draining or admissible(w.group, w.target)):
                wanted[w.group].append(w.target)
                owners[w.target.task_id] = w.owner
    return wanted, owners
