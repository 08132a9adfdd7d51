"""The runtime API commands that move targets in and out of HAProxy's backends: the one place
they are worded, and where HAProxy's names of servers are read back as targets. Each command
is built by haproxy_syntax from words it made, so a command never carries `;`, a newline or
anything else HAProxy's CLI would split or misread; a value that cannot be such a word raises
UnsafeValue instead.

Pure: it makes command lines and reads answers; the data plane (HAProxy, or the fake) sends
them, and the load balancer sync decides when, in the data plane's typed terms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from controller.dataplane.base import CommandRefused, Key, ServerState
from controller.dataplane.haproxy_names import (
    IDLE_POOL,
    backend,
    backup_name,
    check_words,
    server_name,
    server_prefix,
)
from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    kw,
    phrase,
    runtime_command,
    server_ref,
)
from controller.dataplane.values import PRIMARY, TWIN, Server, Target, TargetGroup

# What every server added at runtime takes after the options of its role (a checked primary,
# or its backup twin). HAProxy's `add server` gives none of the backend's defaults, nor the
# idle connection pool a configuration's server has.
ADDED_SERVER_OPTIONS: tuple[Word, ...] = IDLE_POOL

AdminState = Literal["ready", "drain", "maint"]
ADMIN_STATES = ("ready", "drain", "maint")


def server(group: str, target_id: str, which: str) -> Word:
    """BACKEND/SERVER of a target's primary or twin."""
    named = server_name(target_id) if which == PRIMARY else backup_name(target_id)
    return server_ref(backend(group), named)


def add_server(group: str, target: Target, which: str, spec: TargetGroup) -> str:
    """The primary, checked at the group's rhythm; or its check-less backup twin."""
    role = (kw("check"), *check_words(spec)) if which == PRIMARY else (kw("backup"),)
    return runtime_command(
        *phrase("add server"),
        server(group, target.task_id, which),
        address(target.address, target.port),
        *role,
        *ADDED_SERVER_OPTIONS,
    )


def enable_health(group: str, target_id: str) -> str:
    return runtime_command(*phrase("enable health"), server(group, target_id, PRIMARY))


def set_state(group: str, target_id: str, which: str, admin: AdminState) -> str:
    if admin not in ADMIN_STATES:
        raise UnsafeValue(f"{admin!r:.40} is not a server state")
    return runtime_command(
        *phrase("set server"), server(group, target_id, which), kw("state"), kw(admin)
    )


def shutdown_sessions(group: str, target_id: str, which: str) -> str:
    return runtime_command(*phrase("shutdown sessions server"), server(group, target_id, which))


def del_server(group: str, target_id: str, which: str) -> str:
    return runtime_command(*phrase("del server"), server(group, target_id, which))


def removal(group: str, target_id: str, cut: bool) -> list[list[str]]:
    """The commands that delete a target's two servers, per server: put in maintenance, its
    sessions closed when `cut`, then deleted. All are built before any is sent, so a value
    that cannot be written (UnsafeValue) sends nothing."""
    steps = []
    for which in (PRIMARY, TWIN):
        lines = [set_state(group, target_id, which, "maint")]
        if cut:
            lines.append(shutdown_sessions(group, target_id, which))
        lines.append(del_server(group, target_id, which))
        steps.append(lines)
    return steps


def remove_servers(send: Callable[[str], None], steps: list[list[str]]) -> None:
    """Sends `removal`'s commands through `send`, one at a time; a server already gone (e.g.
    after a reload without it) is skipped."""
    for lines in steps:
        for line in lines:
            try:
                send(line)
            except CommandRefused as exc:
                if exc.no_such_server:
                    break
                raise


def targets_from(servers: Iterable[ServerState], known: Iterable[str]) -> dict[Key, Server]:
    """Each target's servers (its primary and backup twin), by (group, target id). A server
    whose target is not among `known` ids is keyed by the id prefix its name holds (for
    which `server_name` gives that name back)."""
    by_prefix = {server_prefix(t): t for t in known}
    parts: dict[Key, dict[str, ServerState]] = {}
    for s in servers:
        if not s.backend.startswith("tg_") or s.name[:1] not in ("t", "b"):
            continue
        prefix = s.name[1:]
        key = (s.backend[3:], by_prefix.get(prefix, prefix))
        parts.setdefault(key, {})[s.name[:1]] = s
    out = {}
    for key, pair in parts.items():
        primary, twin = pair.get("t"), pair.get("b")
        first = primary or twin
        assert first is not None
        out[key] = Server(
            first.address,
            first.port,
            up=primary.up if primary else False,
            admin=primary.admin if primary else "",
            checked=primary.checked if primary else False,
            sessions=sum(s.sessions for s in pair.values()),
            twin=twin.admin if twin else "",
            checking=primary.checking if primary else False,
        )
    return out


def group_of(backend_name: str) -> str | None:
    """The target group a backend serves (None: not a target group's)."""
    return backend_name[3:] if backend_name.startswith("tg_") else None
