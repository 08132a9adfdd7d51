"""An in-memory `DataPlane`: HAProxy's runtime API semantics without HAProxy, for unit tests
and for `skiff plan` (which must bind no port and leave no process behind).

It keeps servers as HAProxy 2.6 does: a line of commands is split on `;` and newlines,
`add server` creates one in maintenance with its health checks off, `del server` is refused
unless the server is in maintenance with no connection, a start or reload forgets every
runtime change and begins from the configuration's `server` lines. Tests refuse
configurations, fail commands, pass or fail health checks and hold connections open,
without processes, sockets or sleeps. The daemon never uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.dataplane.base import BackendStats, CommandRefused, DataPlaneError, ServerState

_SERVER_LINE = re.compile(r"^\s+server (\S+) (\S+):(\d+)(.*)$")


@dataclass
class FakeServer:
    address: str
    port: int
    options: str  # what follows the address in `server` / `add server`
    admin: str = "maint"
    up: bool = False
    checked: bool = False
    checking: bool = False
    sessions: int = 0

    @property
    def configured(self) -> bool:
        return " check" in f" {self.options}"


@dataclass
class FakeDataPlane:
    config: str = ""  # the file HAProxy was given
    alive: bool = False
    backends: dict[str, dict[str, FakeServer]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)  # runtime API commands, in order
    refuse: Callable[[str], str | None] = lambda text: None  # `check`'s complaint
    old_workers: int = 0  # older processes still finishing requests after a reload
    starts: int = 0
    reloads: int = 0
    checks: int = 0
    _faults: list[tuple[str, str | None]] = field(default_factory=list)

    # --- what a test does --------------------------------------------------------------------
    def fail(self, command_prefix: str, answer: str | None) -> None:
        """The next command starting with `command_prefix` fails: HAProxy answers `answer`,
        or (None) the admin socket does not answer at all."""
        self._faults.append((command_prefix, answer))

    def server(self, backend: str, name: str) -> FakeServer:
        return self.backends[backend][name]

    def check_result(self, backend: str, name: str, passed: bool) -> None:
        """A health check of the server completed."""
        s = self.server(backend, name)
        s.checked, s.up = True, passed

    # --- DataPlane ---------------------------------------------------------------------------
    def running(self) -> bool:
        return self.alive

    def check(self, config_text: str) -> str | None:
        self.checks += 1
        return self.refuse(config_text)

    def write(self, config_text: str) -> None:
        self.config = config_text

    def current_config(self) -> str:
        return self.config

    def start(self) -> None:
        self.alive, self.starts = True, self.starts + 1
        self._load()

    def reload(self) -> None:
        if not self.alive:
            raise DataPlaneError("haproxy is not running")
        self.reloads += 1
        self._load()

    def stop(self) -> None:
        self.alive = False
        self.backends = {}

    def admin_socket(self) -> str:
        return "/nonexistent/haproxy.sock"

    def settled(self) -> bool:
        return self.old_workers == 0

    def do(self, line: str) -> None:
        if not self.alive:
            raise DataPlaneError("haproxy admin socket: [Errno 2] No such file or directory")
        self.commands.append(line)
        for i, (prefix, answer) in enumerate(self._faults):
            if line.startswith(prefix):
                del self._faults[i]
                if answer is None:
                    raise DataPlaneError("haproxy admin socket: timed out")
                raise CommandRefused(line, answer)
        # HAProxy's CLI runs each of the commands a line holds, split on `;` and newlines
        # (a command Skiff sends must never hold one: tests read `commands` for that).
        for command in re.split(r"[;\n]", line):
            if command.strip():
                self._one(command)

    def _one(self, line: str) -> None:
        """One runtime API command."""
        words = line.split()
        verb = " ".join(words[:2])
        if verb == "add server":
            backend, name = words[2].split("/")
            address, port = words[3].rsplit(":", 1)
            address = address.removeprefix("[").removesuffix("]")  # IPv6, as HAProxy shows it
            servers = self._backend(line, backend)
            if name in servers:
                raise CommandRefused(line, "Already exists a server with the same name in backend.")
            servers[name] = FakeServer(address, int(port), " ".join(words[4:]))
            return
        target = words[-1] if verb in ("enable health", "del server") else words[2]
        if verb == "shutdown sessions":
            target = words[3]
        backend, name = target.split("/")
        s = self._backend(line, backend).get(name)
        if s is None:
            raise CommandRefused(line, "No such server.")
        if verb == "enable health":
            if not s.configured:
                raise CommandRefused(
                    line, "Health checks are not configured on this server, cannot enable."
                )
            s.checking = True
        elif verb == "set server" and words[3] == "state":
            s.admin = words[4]
        elif verb == "shutdown sessions":
            s.sessions = 0
        elif verb == "del server":
            if s.admin != "maint":
                raise CommandRefused(line, "Only servers in maintenance mode can be deleted.")
            if s.sessions:
                raise CommandRefused(
                    line, "Server still has connections attached to it, cannot remove it."
                )
            del self.backends[backend][name]
        else:
            raise CommandRefused(line, "Unknown command.")

    def servers(self) -> list[ServerState]:
        if not self.alive:
            raise DataPlaneError("haproxy admin socket: [Errno 2] No such file or directory")
        return [
            ServerState(
                backend,
                name,
                s.address,
                s.port,
                s.up if s.configured else s.admin != "maint",
                s.admin,
                s.checked,
                s.sessions,
                s.checking,
            )
            for backend, servers in self.backends.items()
            for name, s in servers.items()
        ]

    def backend_stats(self) -> dict[str, BackendStats]:
        return {b: BackendStats(0, {}, 0) for b in self.backends}

    # --- inside ------------------------------------------------------------------------------
    def _backend(self, line: str, backend: str) -> dict[str, FakeServer]:
        if backend not in self.backends:
            raise CommandRefused(line, "No such backend.")
        return self.backends[backend]

    def _load(self) -> None:
        """What HAProxy holds after reading the configuration: its servers, ready, assumed up."""
        self.backends = {}
        current: dict[str, FakeServer] | None = None
        for line in self.config.splitlines():
            if line.startswith("backend "):
                current = self.backends.setdefault(line.split()[1], {})
            elif not line.startswith(" "):
                current = None
            elif current is not None and (m := _SERVER_LINE.match(line)):
                name, address, port, options = m.groups()
                address = address.removeprefix("[").removesuffix("]")
                s = FakeServer(address, int(port), options.strip(), admin="ready", up=True)
                s.checking = s.configured
                current[name] = s
