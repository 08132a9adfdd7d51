"""What ELB remembers between passes over the data plane (none of it is needed across
restarts): the configuration applied, the targets that passed a check, when draining began,
and the counters last read for each target group's deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.dataplane import Configuration, Key
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context


@dataclass
class DataPlaneState:
    """What the daemon remembers between passes (none of it is needed across restarts)."""

    structure: Configuration | None = None  # the configuration without targets, as applied
    activated: set[Key] = field(default_factory=set)  # targets that passed a check
    drain_since: dict[Key, float] = field(default_factory=dict)  # first seen draining
    registered_at: dict[Key, float] = field(default_factory=dict)
    owners: dict[str, ResourceKey] = field(default_factory=dict)  # target id -> its owner
    counted: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)  # for deltas


def elb_state(ctl: Context) -> DataPlaneState:
    return ctl.part(DataPlaneState)
