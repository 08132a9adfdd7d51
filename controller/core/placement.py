"""Task placement on the host pool, as ECS does it: resource fit, then constraints, then
strategies.

1. Fit: enough unreserved CPU and memory, free static host ports (hosts sharing an address
   share its ports), an engine that answers and a host that is not draining.
2. Constraints (binding): `distinctInstance`, `memberOf` expressions over host attributes.
3. Strategies (best effort, chained): `spread` on a field, `binpack` on cpu or memory,
   `random`. Services default to spreading over zones, then hosts.

Pure: hosts are `HostSlot` values and randomness comes from a seed, so every decision and every
rejection can be table-tested. A rejection names, for each host, the first thing it lacked.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.core.host_ports import PortRange, default_range
from controller.manifests.placement import Expr, host_attributes, parse

DEFAULT_DYNAMIC_PORTS = default_range(None)

SPREAD_ZONE_THEN_HOST: tuple[tuple[str, str], ...] = (
    ("spread", "attribute:zone"),
    ("spread", "instanceId"),
)


@dataclass(frozen=True)
class HostSlot:
    name: str
    zone: str
    address: str
    cpu: int  # capacity, CPU units
    memory: int  # capacity, MiB
    cpu_used: int = 0
    memory_used: int = 0
    ports_used: frozenset[tuple[int, str]] = field(default_factory=frozenset)
    up: bool = True
    draining: bool = False
    attributes: Mapping[str, str] = field(default_factory=dict)
    lost: bool = False  # unreachable past the timeout: its tasks are replaced elsewhere
    dynamic_ports: PortRange = DEFAULT_DYNAMIC_PORTS  # where Skiff picks dynamic host ports

    def attrs(self) -> dict[str, str]:
        """What expressions and spread fields see: the Host's attributes and the built-ins."""
        return host_attributes(self.name, self.zone, self.attributes)


@dataclass(frozen=True)
class Need:
    cpu: int
    memory: int
    ports: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Rules:
    """A service's constraints and strategies, ready to evaluate."""

    distinct_instance: bool = False
    member_of: tuple[str, ...] = ()  # expressions, as written
    strategies: tuple[tuple[str, str], ...] = SPREAD_ZONE_THEN_HOST  # (type, field)
    seed: int = 0  # for `random`

    def parsed(self) -> list[tuple[str, Expr]]:
        return [(text, parse(text)) for text in self.member_of]


@dataclass(frozen=True)
class Placement:
    hosts: tuple[str, ...]  # one per placed task
    unplaced: int
    reason: str = ""


def rejection(
    slot: HostSlot,
    need: Need,
    rules: Rules = Rules(),
    own: int = 0,
    member_of: Sequence[tuple[str, Expr]] = (),
) -> str | None:
    """Why `slot` cannot take a task needing `need`, or None when it can.

    `own` is how many of the service's tasks the host already runs.
    """
    if not slot.up:
        return "engine unreachable"
    if slot.draining:
        return "host is draining"
    if slot.cpu - slot.cpu_used < need.cpu:
        return f"insufficient CPU ({slot.cpu - slot.cpu_used} of {need.cpu} units free)"
    if slot.memory - slot.memory_used < need.memory:
        return f"insufficient memory ({slot.memory - slot.memory_used} of {need.memory} MiB free)"
    taken = sorted(p for p in need.ports if p in slot.ports_used)
    if taken:
        return "host port already in use: " + ", ".join(f"{p}/{proto}" for p, proto in taken)
    if rules.distinct_instance and own > 0:
        return "distinctInstance: it already runs a task of this service"
    for text, expr in member_of:
        if not expr.holds(slot.attrs()):
            return f"memberOf {text!r} does not hold"
    return None


def place(
    count: int, need: Need, hosts: Sequence[HostSlot], own: dict[str, int], rules: Rules = Rules()
) -> Placement:
    """Chooses a host for each of `count` tasks. `own` counts the service's tasks per host."""
    slots = {h.name: h for h in hosts}
    own = dict(own)
    member_of = rules.parsed()
    rng = random.Random(rules.seed)
    chosen: list[str] = []
    for _ in range(count):
        fits = [
            h
            for h in slots.values()
            if rejection(h, need, rules, own.get(h.name, 0), member_of) is None
        ]
        if not fits:
            reasons = (
                "; ".join(
                    f"{h.name}: {rejection(h, need, rules, own.get(h.name, 0), member_of)}"
                    for h in slots.values()
                )
                or "no hosts"
            )
            return Placement(tuple(chosen), count - len(chosen), reasons)
        best = min(fits, key=lambda h: _preference(h, need, rules, slots, own, rng))
        chosen.append(best.name)
        own[best.name] = own.get(best.name, 0) + 1
        for name, h in slots.items():
            if name == best.name:
                slots[name] = replace(
                    h,
                    cpu_used=h.cpu_used + need.cpu,
                    memory_used=h.memory_used + need.memory,
                    ports_used=h.ports_used | set(need.ports),
                )
            elif h.address == best.address and need.ports:
                slots[name] = replace(h, ports_used=h.ports_used | set(need.ports))
    return Placement(tuple(chosen), 0)


def _preference(
    h: HostSlot,
    need: Need,
    rules: Rules,
    slots: Mapping[str, HostSlot],
    own: Mapping[str, int],
    rng: random.Random,
) -> tuple[float | str, ...]:
    """Smaller is better: one component per strategy, in order, then the name."""
    key: list[float | str] = []
    for kind, fld in rules.strategies:
        if kind == "spread":
            value = _field(h, fld)
            key.append(sum(own.get(n, 0) for n, s in slots.items() if _field(s, fld) == value))
        elif kind == "binpack":
            key.append(
                h.cpu - h.cpu_used - need.cpu
                if fld == "cpu"
                else h.memory - h.memory_used - need.memory
            )
        else:
            key.append(rng.random())
    return (*key, h.name)


def _field(h: HostSlot, fld: str) -> str:
    if fld in ("instanceId", "host"):
        return h.name
    return h.attrs().get(fld.removeprefix("attribute:"), "")
