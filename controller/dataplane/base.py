"""What the daemon needs from a load balancer data plane; HAProxy and the fake implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DataPlaneError(Exception):
    """The data plane could not be started, reloaded or asked."""


class CommandRefused(DataPlaneError):
    """The data plane answered a runtime API command with an error (it is up and listening);
    the message is its answer."""

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
    requests: int
    responses: dict[str, int]  # 1xx..5xx, other
    response_time_ms: int  # average over the last 1024 requests


class DataPlane(Protocol):
    def running(self) -> bool: ...

    def check(self, config_text: str) -> str | None:
        """HAProxy's complaint about a configuration, or None when it is valid."""
        ...

    def write(self, config_text: str) -> None: ...

    def current_config(self) -> str:
        """The configuration file the running data plane was given ("" if none)."""
        ...

    def start(self) -> None: ...

    def reload(self) -> None: ...

    def stop(self) -> None: ...

    def do(self, line: str) -> None:
        """A runtime API command that answers nothing on success; `CommandRefused` carries
        the answer of one that failed, `DataPlaneError` says the data plane did not answer."""
        ...

    def servers(self) -> list[ServerState]: ...

    def backend_stats(self) -> dict[str, BackendStats]: ...

    def settled(self) -> bool:
        """No older process still finishes requests after a reload (their sessions are not in
        `servers()`)."""
        ...

    def admin_socket(self) -> str: ...
