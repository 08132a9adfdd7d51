"""HAProxy's names for what Skiff serves: a target group's backend, a listener's frontend, a
target's two servers (its checked primary and its backup twin), and the options every server
takes (the idle connection pool, the group's health-check rhythm). The configuration file
(haproxy_config) and the runtime API (haproxy_commands) both name things through here, so a
server added at runtime is the one the file would have written.

Pure: it makes words (haproxy_syntax), decides nothing and talks to nobody.
"""

from __future__ import annotations

from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    integer,
    kw,
    name,
    phrase,
    seconds,
)
from controller.dataplane.values import Target, TargetGroup

MAX_PORT = 65535
# Idle connections kept to each target for reuse. A server added through the runtime API keeps
# none by default (HAProxy 2.6), so every request would open a connection through docker-proxy,
# and TIME_WAIT sockets would eat the ephemeral ports until checks and new tasks fail.
IDLE_POOL = phrase("pool-max-conn -1 pool-purge-delay 5s")


def backend(group: str) -> Word:
    return name(f"tg_{group}")


def frontend(lb: str, port: int) -> Word:
    return name(f"lb_{lb}_{integer(port, 1, MAX_PORT)}")


def server_prefix(target_id: str) -> str:
    """What of a target's id its servers' names keep."""
    return target_id[:12]


def server_name(task_id: str) -> Word:
    return name(f"t{server_prefix(task_id)}")


def backup_name(task_id: str) -> Word:
    return name(f"b{server_prefix(task_id)}")


def check_words(spec: TargetGroup) -> tuple[Word, ...]:
    """The group's health-check rhythm, as a server takes it. HAProxy gives the backend's
    `default-server` only to servers of the configuration, so `add server` needs it too."""
    hc = spec.health_check
    return (
        kw("inter"),
        seconds(hc.interval_seconds),
        kw("fall"),
        integer(hc.unhealthy_threshold_count),
        kw("rise"),
        integer(hc.healthy_threshold_count),
    )


def check_settings(spec: TargetGroup) -> str:
    """`check_words` as text."""
    return " ".join(check_words(spec))


def target_problem(target: Target) -> str | None:
    """Why HAProxy cannot be told about this target (an id or address that is no plain
    word: it came from outside Skiff's manifests), or None."""
    try:
        server_name(target.task_id)
        address(target.address, target.port)
    except UnsafeValue as exc:
        return str(exc)
    return None
