"""Target health: the interface between the load balancers and what they serve, declared in
the core so that neither side imports the other.

- A service package whose tasks or instances go behind target groups registers a
  `TargetSource` in its Domain: the ids it owns, and the targets each group should have now
  (serving, or draining while still registered), each with the resource that owns it.
- One pass (ELB's, under the key `PASS`) registers and drains targets on the data plane. A
  domain whose targets change queues `PASS`.
- That pass publishes each target's state per group in `Context.target_states`
  (`TargetStates`); the owners whose targets' states changed are queued to look again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from controller.dataplane import Key, Server, Target, target_problem
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

PASS: ResourceKey = ("DataPlane", "haproxy")  # the one pass that serves every load balancer
TargetStates = dict[str, dict[str, str]]  # target id -> {target group: state}

log = structlog.get_logger("skiff.lb")


@dataclass(frozen=True)
class Wanted:
    """One target a group should have, and the resource that owns it."""

    group: str
    target: Target
    owner: ResourceKey


@dataclass(frozen=True)
class TargetSource:
    # Every id of the domain's that may be a target: a registered server whose id is not
    # among any source's ids, while a host is not listed yet, is left alone (not a stray).
    ids: Callable[[Context], Iterable[str]]
    # The targets of these groups, given the servers registered now (by (group, target id)).
    wanted: Callable[[Context, Collection[str], Mapping[Key, Server]], Iterable[Wanted]]


def admissible(group: str, target: Target) -> bool:
    """Whether the data plane can be told about a target. Ids come from Docker's labels and
    addresses from the Host manifests: one HAProxy could not read as a plain word is left out
    (and logged), never written."""
    problem = target_problem(target)
    if problem is not None:
        log.warning("target.unsafe", target_group=group, target=target.task_id[:64], error=problem)
    return problem is None
