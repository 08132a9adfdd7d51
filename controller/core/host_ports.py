"""Dynamic host ports: Skiff chooses them itself, from a range outside the kernel's ephemeral one.

Docker would pick a dynamic port from `net.ipv4.ip_local_port_range`, the very range the kernel
hands out to outgoing connections. Under load (a load balancer's connections to its targets, a
benchmark's clients) those ports are in use, and a new task fails to start with "address
already in use". Skiff instead picks each dynamic port from a range of its own, avoiding every
port it knows to be in use at the host's address (several engines may share one), and the
executor retries at once on another port when Docker still finds a conflict.

Pure: the kernel's range is read by the caller; randomness comes from a seeded generator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence

PortRange = tuple[int, int]  # inclusive
PortKey = tuple[int, str]  # (host port, protocol)
HostPorts = tuple[tuple[int, str, int], ...]  # (containerPort, protocol, hostPort)

LINUX_EPHEMERAL: PortRange = (32768, 60999)  # the kernel's default ip_local_port_range
LOWEST = 10000  # below: ports services commonly listen on
WIDTH = 16384  # ports in a default range


def default_range(ephemeral: PortRange | None) -> PortRange:
    """Up to WIDTH ports next to the kernel's ephemeral range, on the side with more room."""
    low, high = ephemeral or LINUX_EPHEMERAL
    below = (max(LOWEST, low - WIDTH), low - 1)
    above = (high + 1, min(65535, high + WIDTH))
    best = max((below, above), key=lambda r: r[1] - r[0])
    return best if best[1] - best[0] >= 1023 else (32768, 61000)  # no room: ECS's own range


def parse_range(text: str) -> PortRange:
    """`LOW-HIGH` (or the kernel file's `LOW<tab>HIGH`), 1-65535, LOW <= HIGH."""
    parts = re.split(r"[\s-]+", text.strip())
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"a port range is LOW-HIGH, not {text.strip()[:40]!r}")
    low, high = int(parts[0]), int(parts[1])
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"a port range lies within 1-65535 with LOW <= HIGH, not {low}-{high}")
    return low, high


def pick(
    wanted: Sequence[tuple[int, str]],
    used: Collection[PortKey],
    port_range: PortRange,
    rng: random.Random,
) -> HostPorts:
    """A free host port for each (containerPort, protocol) in `wanted`, none of them in `used`
    nor chosen twice; () when the range has no room left (Docker then picks). Each search
    starts at a random port, so concurrent choosers seldom collide, and goes round the range."""
    low, high = port_range
    size = high - low + 1
    taken = set(used)
    picked = []
    for container_port, proto in wanted:
        start = rng.randrange(size)
        port = next(
            (
                low + (start + i) % size
                for i in range(size)
                if (low + (start + i) % size, proto) not in taken
            ),
            None,
        )
        if port is None:
            return ()
        taken.add((port, proto))
        picked.append((container_port, proto, port))
    return tuple(picked)
