"""The runtime API commands that move targets in and out of HAProxy's backends: the one place
they are worded. Each is built by haproxy_syntax from words it made, so a command never
carries `;`, a newline or anything else HAProxy's CLI would split or misread; a value that
cannot be such a word raises UnsafeValue instead.

Pure: it makes command lines; the load balancer sync sends them and decides when.
"""

from __future__ import annotations

from typing import Literal

from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    kw,
    phrase,
    runtime_command,
    server_ref,
)
from controller.manifests.load_balancer import TargetGroupSpec
from controller.reconcilers.load_balancer import (
    IDLE_POOL,
    PRIMARY,
    Target,
    backend,
    backup_name,
    check_words,
    server_name,
)

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


def add_server(group: str, target: Target, which: str, spec: TargetGroupSpec) -> str:
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
