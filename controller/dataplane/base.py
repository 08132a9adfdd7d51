"""What the daemon needs from a load balancer data plane, in the engine's own terms: serve a
configuration (start, reload, save), move targets in and out (add, start checks, enable,
drain, remove), and read back targets, counters and the ports it binds. HAProxy and the fake
implement it; only they know HAProxy's commands, its file and its sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from controller.dataplane.haproxy_syntax import UnsafeValue
from controller.dataplane.response_times import ResponseTimes
from controller.dataplane.values import LoadBalancer, Server, Target, TargetGroup

__all__ = ["UnsafeValue"]  # a value the data plane cannot be told, raised by every method

Role = str  # PRIMARY or TWIN (values.py): a target's checked server, or its backup twin
Key = tuple[str, str]  # (target group, target id)


class DataPlaneError(Exception):
    """The data plane could not be started, reloaded or asked."""


class CommandRefused(DataPlaneError):
    """The data plane answered a request with an error (it is up and listening); `answer`
    is what it said."""

    def __init__(self, command: str, answer: str) -> None:
        super().__init__(f"{command!r}: {answer}")
        self.command, self.answer = command, answer

    @property
    def no_such_server(self) -> bool:
        return self.answer.startswith("No such server")


@dataclass(frozen=True)
class ServerState:
    """One server (a target, or its backup twin) as the data plane reports it."""

    backend: str
    name: str
    address: str
    port: int
    up: bool  # operational state: checks pass (or no checks)
    admin: str  # ready | drain | maint
    checked: bool  # at least one health check has completed
    sessions: int = 0  # current connections
    checking: bool = False  # health checks are configured and enabled


@dataclass(frozen=True)
class BackendStats:
    """A target group's counters since the data plane's process started."""

    requests: int
    responses: dict[str, int]  # 1xx..5xx, other
    response_time_ms: int  # average over the last 1024 requests


@dataclass(frozen=True)
class Configuration:
    """What the data plane serves: the load balancers' listeners (less those in `skip`,
    (load balancer, port)), the target groups, and each group's targets."""

    bind_address: str
    load_balancers: Mapping[str, LoadBalancer]
    groups: Mapping[str, TargetGroup]
    targets: Mapping[str, Sequence[Target]] = field(default_factory=dict)
    skip: frozenset[tuple[str, int]] = frozenset()
    threads: int = 1

    def structure(self) -> Configuration:
        """The configuration without targets: what a change of needs a reload."""
        return replace(self, targets={})

    def bound_ports(self) -> dict[int, str]:
        """Port -> the load balancer whose listener binds it."""
        return {
            listener.port: lb
            for lb, spec in sorted(self.load_balancers.items())
            for listener in spec.listeners
            if (lb, listener.port) not in self.skip
        }


class DataPlane(Protocol):
    # --- the process and its configuration ----------------------------------------------------
    def running(self) -> bool: ...

    def check(self, config: Configuration) -> str | None:
        """The data plane's complaint about a configuration, or None when it would serve it."""
        ...

    def start(self, config: Configuration) -> None:
        """Starts serving `config` (a new process: every runtime change and counter is gone)."""
        ...

    def reload(self, config: Configuration) -> None:
        """Serves `config` instead, without dropping a connection (older processes finish
        theirs; see `settled`)."""
        ...

    def save(self, config: Configuration) -> None:
        """Keeps `config` for the next start or reload; what runs does not change (targets
        move through the methods below)."""
        ...

    def serves(self, config: Configuration) -> bool:
        """Whether the running data plane was given exactly `config` (after our restart)."""
        ...

    def stop(self) -> None: ...

    def settled(self) -> bool:
        """No older process still finishes requests after a reload (their sessions are not in
        `targets()`)."""
        ...

    def bound_ports(self) -> dict[int, str]:
        """Port -> load balancer, for the listeners of the configuration it was last given."""
        ...

    def can_bind(self, address: str, port: int) -> bool:
        """Whether the data plane could listen on the port (no other process holds it)."""
        ...

    # --- targets, without a reload ------------------------------------------------------------
    # Each raises CommandRefused with the data plane's answer, DataPlaneError when it does not
    # answer, UnsafeValue when a value cannot be said to it.
    def add_target(self, group: str, spec: TargetGroup, target: Target, role: Role) -> None:
        """Adds the target's primary (checked at the group's rhythm) or its backup twin, in
        maintenance, its checks off."""
        ...

    def start_checks(self, group: str, target_id: str) -> None:
        """Turns on the health checks of the target's primary."""
        ...

    def enable_target(self, group: str, target_id: str, role: Role) -> None:
        """The server takes new requests."""
        ...

    def drain_target(self, group: str, target_id: str, role: Role) -> None:
        """The server takes no new requests; the ones in flight finish."""
        ...

    def remove_target(self, group: str, target_id: str, *, cut: bool) -> None:
        """Deletes both of the target's servers (one already gone is fine); `cut` closes the
        connections they still have first."""
        ...

    # --- reading back -------------------------------------------------------------------------
    def targets(self, known: Iterable[str]) -> dict[Key, Server]:
        """Every target's servers, by (group, target id). A server whose target is not among
        the `known` ids is keyed by what of the id its name keeps."""
        ...

    def counters(self) -> dict[str, BackendStats]:
        """Counters per target group."""
        ...

    def response_times(self) -> dict[str, ResponseTimes]:
        """Each target group's target response times since the last call, as a weighted
        histogram (a logged request may stand for several: request_log.py); requests no
        target answered have none."""
        ...
