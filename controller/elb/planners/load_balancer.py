"""Load balancer planner: the runtime changes that bring each target group's servers to what
the services' tasks need, and every target's ALB state.

Pure. Each target has a checked primary server and a check-less backup twin (ALB's fail open);
the plan says which to add, check, put in or out of rotation, and remove, in the data plane's
values (controller/dataplane). How a configuration or a step is said to HAProxy is the data
plane's business, not this module's.

Target states follow ALB: initial (registered, first check not passed: no traffic yet),
healthy, unhealthy, draining (no new requests, in-flight ones finish) and unused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.dataplane import PRIMARY, TWIN, Server, Target

INITIAL, HEALTHY, UNHEALTHY, DRAINING, UNUSED = (
    "initial",
    "healthy",
    "unhealthy",
    "draining",
    "unused",
)


ServerKey = tuple[str, str, str]  # (group, task id, PRIMARY or TWIN)


@dataclass(frozen=True)
class TargetPlan:
    """Runtime API steps, in the order they are applied; each is idempotent, so a pass that
    failed half-way is completed by the next one."""

    add: tuple[tuple[str, Target, str], ...] = ()  # (group, target, which): servers missing
    checks: tuple[tuple[str, str], ...] = ()  # (group, task id): primaries whose checks are off
    ready: tuple[ServerKey, ...] = ()  # into rotation
    drain: tuple[ServerKey, ...] = ()  # no new requests
    remove: tuple[tuple[str, str], ...] = ()  # (group, task id): both servers deleted
    cut: frozenset[tuple[str, str]] = frozenset()  # removals whose delay ran out: close sessions
    states: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (group, task) -> state

    def is_noop(self) -> bool:
        return not (self.add or self.checks or self.ready or self.drain or self.remove)


# --- target membership --------------------------------------------------------------------------


def plan_targets(
    wanted: Mapping[str, Sequence[Target]],
    current: Mapping[tuple[str, str], Server],
    used_groups: set[str],
    drain_since: Mapping[tuple[str, str], float],
    delays: Mapping[str, int],
    activated: set[tuple[str, str]],
    now: float,
    registered_at: Mapping[tuple[str, str], float] | None = None,
    windows: Mapping[str, float] | None = None,
    old_workers: bool = False,
) -> TargetPlan:
    """What to add, check, make ready, drain and remove; and every target's ALB state.

    `current` is keyed by (group, task id); `activated` holds targets that once passed a check
    (after a reload HAProxy forgets, but they need not wait again); `drain_since` says since
    when each target has been seen draining (none yet: it starts now). A new target stays
    initial for its group's `windows` seconds from `registered_at` even if checks fail (ALB
    needs the unhealthy threshold of failed checks; HAProxy takes a new server down at the
    first): an app still starting is not declared unhealthy.

    A draining target (a task being stopped, or servers no target stands for any more) is
    removed only once an earlier pass put both its servers in drain, so the sessions read now
    are all it will ever have, and none is left; or once its group's deregistration delay has
    run out, cutting what remains. `old_workers`: an older HAProxy worker still finishes
    requests after a reload; its sessions cannot be read, so only the delay ends a drain.
    """
    registered_at, windows = registered_at or {}, windows or {}
    add: list[tuple[str, Target, str]] = []
    checks: list[tuple[str, str]] = []
    ready: list[ServerKey] = []
    drain: list[ServerKey] = []
    remove: list[tuple[str, str]] = []
    cut: set[tuple[str, str]] = set()
    states: dict[tuple[str, str], str] = {}

    def leave(key: tuple[str, str], server: Server) -> None:
        states[key] = DRAINING
        group, task_id = key
        expired = now - drain_since.get(key, now) >= delays.get(group, 0)
        drained = server.admin in ("drain", "maint", "") and server.twin in ("drain", "maint", "")
        if drained and (expired or (server.sessions == 0 and not old_workers)):
            remove.append(key)
            if server.sessions:
                cut.add(key)
            return
        drain.extend((group, task_id, w) for w, a in _pair(server) if a == "ready")

    wanted_keys = set()
    for group, targets in wanted.items():
        for t in targets:
            key = (group, t.task_id)
            wanted_keys.add(key)
            server = current.get(key)
            if t.draining:
                if server is not None:
                    leave(key, server)
                continue
            if server is None or not server.admin:
                add.append((group, t, PRIMARY))
                checks.append(key)
                twin = "" if server is None else server.twin
                server = Server(t.address, t.port, False, "maint", False, twin=twin)
            elif not server.checking:
                checks.append(key)  # e.g. an earlier pass failed right after adding it
            if not server.twin:
                add.append((group, t, TWIN))
                server = replace(server, twin="maint")
            young = now - registered_at.get(key, now) < windows.get(group, 0.0)
            passed = server.checked and server.up and server.admin != "maint"
            health = _target_health(server, passed, key in activated, young)
            states[key] = health if group in used_groups else UNUSED
            # No traffic before a first check passed; the twin joins fail open only then too.
            primary = "ready" if passed or key in activated else "drain"
            twin = "drain" if health == INITIAL else "ready"
            for which, have, want in ((PRIMARY, server.admin, primary), (TWIN, server.twin, twin)):
                if have != want:
                    (ready if want == "ready" else drain).append((group, t.task_id, which))
    for key, server in current.items():
        if key not in wanted_keys:
            leave(key, server)  # nobody stands for it (its task is gone): drain, then remove
    return TargetPlan(
        tuple(add), tuple(checks), tuple(ready), tuple(drain), tuple(remove), frozenset(cut), states
    )


def _target_health(server: Server, passed: bool, activated: bool, young: bool) -> str:
    """ALB's state: healthy once a check passed (or, for one that passed before, while up:
    unchecked after a reload); initial while young or unchecked; else unhealthy."""
    if passed:
        return HEALTHY
    if activated:
        return HEALTHY if server.up else UNHEALTHY
    if young or not server.checked:
        return INITIAL
    return UNHEALTHY


def _pair(server: Server) -> tuple[tuple[str, str], tuple[str, str]]:
    return ((PRIMARY, server.admin), (TWIN, server.twin))
