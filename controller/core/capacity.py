"""The capacity of what scales, as Application Auto Scaling's scalable targets: an Auto Scaling
group's min, max and desired, a service's desiredCount within its autoScaling bounds. In the
core because ECS and Auto Scaling both read and change it (`spec` is the group's or the
service's; `key` says which).

The manifest gives them; the API (`skiff asg set-desired`), scaling policies and scheduled
actions change them as overrides, which hold until the manifest's next edit (overrides.py).
Everything that reads or changes a capacity goes through here, so they agree on the rules:
desired stays within [min, max], and a new min or max drags desired along, as AWS does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.core import overrides
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

GROUP, SERVICE = "AutoScalingGroup", "Service"
# Override fields per kind: (desired, min, max).
FIELDS = {
    GROUP: ("desiredCapacity", "minSize", "maxSize"),
    SERVICE: ("desiredCount", "minCapacity", "maxCapacity"),
}


@dataclass(frozen=True)
class Bounds:
    desired: int
    min_size: int
    max_size: int
    note: str = ""  # what changed them since the manifest, for status

    def clamp(self, n: int) -> int:
        return max(self.min_size, min(self.max_size, n))


def manifest_bounds(kind: str, spec: Any) -> Bounds:
    """What the manifest says: a group's desired, min and max; a service's desiredCount within
    its autoScaling bounds (or fixed, without them)."""
    if kind == GROUP:
        return Bounds(spec.capacity, spec.min_size, spec.max_size)
    if spec.auto_scaling is None:
        return Bounds(spec.desired_count, spec.desired_count, spec.desired_count)
    lo, hi = spec.auto_scaling.min_capacity, spec.auto_scaling.max_capacity
    return Bounds(spec.desired_count, lo, hi)


class CapacityError(ValueError):
    """A change that would leave min above max."""


def bounds(ctl: Context, key: ResourceKey, spec: Any) -> Bounds:
    """The capacity in force: the manifest's, with the overrides made since the last edit of
    its capacity fields."""
    base = manifest_bounds(key[0], spec)
    changed = overrides.current(ctl.store, key[0], key[1], _wire(base))
    names = FIELDS[key[0]]
    desired_f, min_f, max_f = (changed.get(n) for n in names)
    if desired_f is None and min_f is None and max_f is None:
        if key[0] == SERVICE and spec.auto_scaling is None:
            return base  # a service's manifest count is taken as written
        return Bounds(base.clamp(base.desired), base.min_size, base.max_size)
    lo = int(min_f) if min_f is not None else base.min_size
    hi = int(max_f) if max_f is not None else base.max_size
    if key[0] == SERVICE and spec.auto_scaling is None:
        lo, hi = min(lo, base.desired), max(hi, base.desired)
    want = int(desired_f) if desired_f is not None else base.desired
    b = Bounds(want, lo, hi)
    b = Bounds(b.clamp(want), lo, hi)
    parts = [
        f"{n} {v}"
        for n, v, m in zip(names, (b.desired, lo, hi), _wire(base), strict=True)
        if v != m
    ]
    note = (
        f"{', '.join(parts)} set since the manifest's last edit (the manifest says "
        f"{', '.join(f'{n} {m}' for n, m in zip(names, _wire(base), strict=True))}; its next "
        "edit wins)"
        if parts
        else ""
    )
    return Bounds(b.desired, lo, hi, note)


def _wire(b: Bounds) -> tuple[int, int, int]:
    return (b.desired, b.min_size, b.max_size)


def change(
    ctl: Context,
    key: ResourceKey,
    spec: Any,
    *,
    desired: int | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
) -> tuple[Bounds, Bounds]:
    """Sets any of desired, min and max (desired is clamped into the new bounds, which drag it
    along); returns the bounds before and after. CapacityError, and nothing changed, when min
    would exceed max."""
    names = FIELDS[key[0]]
    with ctl.placement_lock:
        before = bounds(ctl, key, spec)
        lo = before.min_size if min_size is None else min_size
        hi = before.max_size if max_size is None else max_size
        if lo > hi:
            raise CapacityError(
                f"{names[1]} {lo} would exceed {names[2]} {hi} of {key[0]}/{key[1]}; nothing "
                "changed"
            )
        want = before.desired if desired is None else desired
        after = Bounds(max(lo, min(hi, want)), lo, hi)
        overrides.put(
            ctl.store,
            key[0],
            key[1],
            _wire(manifest_bounds(key[0], spec)),
            **{names[0]: after.desired, names[1]: lo, names[2]: hi},
        )
    ctl.queue.add(key)
    return before, bounds(ctl, key, spec)
