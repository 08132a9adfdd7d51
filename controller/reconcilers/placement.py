"""Task placement on the host pool: resource fit first, then spread.

Pure: hosts are described by `HostSlot` values (capacity, what is already reserved, host ports in
use at the host's address), so every decision and every rejection can be table-tested.
A rejection names what was missing on each host, like ECS's "no container instance met all of
its requirements".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace


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


@dataclass(frozen=True)
class Need:
    cpu: int
    memory: int
    ports: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Placement:
    hosts: tuple[str, ...]  # one per placed task
    unplaced: int
    reason: str = ""


def rejection(slot: HostSlot, need: Need) -> str | None:
    """Why `slot` cannot take a task needing `need`, or None when it fits."""
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
    return None


def place(count: int, need: Need, hosts: Sequence[HostSlot], own: dict[str, int]) -> Placement:
    """Chooses a host for each of `count` tasks, spreading the service's tasks over zones
    first (as ECS services do by default), then over hosts, then by free memory.

    `own` counts the service's active tasks per host. Hosts sharing an address share its ports.
    """
    slots = {h.name: h for h in hosts}
    own = dict(own)
    in_zone: dict[str, int] = {}
    for name, n in own.items():
        if name in slots:
            in_zone[slots[name].zone] = in_zone.get(slots[name].zone, 0) + n
    chosen: list[str] = []
    for _ in range(count):
        fits = [h for h in slots.values() if rejection(h, need) is None]
        if not fits:
            reasons = (
                "; ".join(f"{h.name}: {rejection(h, need)}" for h in slots.values()) or "no hosts"
            )
            return Placement(tuple(chosen), count - len(chosen), reasons)
        best = min(
            fits,
            key=lambda h: (
                in_zone.get(h.zone, 0),
                own.get(h.name, 0),
                h.memory_used / max(h.memory, 1),
                h.name,
            ),
        )
        chosen.append(best.name)
        own[best.name] = own.get(best.name, 0) + 1
        in_zone[best.zone] = in_zone.get(best.zone, 0) + 1
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
