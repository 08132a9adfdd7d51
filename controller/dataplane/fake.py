"""An in-memory `DataPlane`: HAProxy's semantics without HAProxy, for unit tests and for
`skiff plan` (which must bind no port and leave no process behind).

Its typed methods record what the engine meant (`calls`: "target t1 drained in group web"),
and say it as HAProxy would hear it: the configuration is rendered and the runtime commands
built by the same code as HAProxy's (so a value that cannot be written is refused here too,
and `config` and `commands` hold exactly the text HAProxy would get). It keeps servers as
HAProxy 2.6 does: a line of commands is split on `;` and newlines, `add server` creates one
in maintenance with its health checks off, `del server` is refused unless the server is in
maintenance with no connection, a start or reload forgets every runtime change and begins
from the configuration's `server` lines. Tests refuse configurations, fail requests, take
ports, pass or fail health checks and hold connections open, without processes, sockets or
sleeps. The daemon never uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from controller.dataplane import haproxy_commands as cmd
from controller.dataplane.base import (
    BackendStats,
    CommandRefused,
    Configuration,
    DataPlaneError,
    Key,
    Role,
    ServerState,
)
from controller.dataplane.haproxy_config import bound_ports, configuration_text
from controller.dataplane.haproxy_names import backend, backup_name, server_name
from controller.dataplane.response_times import ResponseTimes
from controller.dataplane.values import Server, Target, TargetGroup

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


class Call(NamedTuple):
    """One request of the engine about a target: `verb` is the method's name less
    `_target` (add, start_checks, enable, drain, remove); `detail` the role, or for a
    removal "cut" when its connections were closed."""

    verb: str
    group: str
    target: str
    detail: str = ""


@dataclass
class FakeDataPlane:
    config: str = ""  # the file HAProxy was given
    alive: bool = False
    backends: dict[str, dict[str, FakeServer]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)  # the engine's requests, in order
    commands: list[str] = field(default_factory=list)  # runtime API commands, in order
    refuse: Callable[[str], str | None] = lambda text: None  # `check`'s complaint, per text
    taken: set[int] = field(default_factory=set)  # ports another process holds
    old_workers: int = 0  # older processes still finishing requests after a reload
    starts: int = 0
    reloads: int = 0
    checks: int = 0
    answered: dict[str, ResponseTimes] = field(default_factory=dict)  # response times not taken
    _faults: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    # --- what a test does --------------------------------------------------------------------
    def fail(self, verb: str, group: str, target_id: str, answer: str | None) -> None:
        """The next request `verb` (as in `Call`) about the target fails: HAProxy answers
        `answer`, or (None) the admin socket does not answer at all."""
        self._faults.append((verb, group, target_id, answer))

    def server(self, backend: str, name: str) -> FakeServer:
        return self.backends[backend][name]

    def primary(self, group: str, target_id: str) -> FakeServer:
        return self.server(backend(group), server_name(target_id))

    def twin(self, group: str, target_id: str) -> FakeServer:
        return self.server(backend(group), backup_name(target_id))

    def listeners(self) -> set[int]:
        """The ports the configuration it was last given listens on."""
        return set(bound_ports(self.config))

    def check_result(self, backend: str, name: str, passed: bool) -> None:
        """A health check of the server completed."""
        s = self.server(backend, name)
        s.checked, s.up = True, passed

    # --- DataPlane: the configuration ---------------------------------------------------------
    def running(self) -> bool:
        return self.alive

    def text(self, config: Configuration) -> str:
        return configuration_text(config, self.admin_socket(), "/nonexistent/requests.sock")

    def check(self, config: Configuration) -> str | None:
        text = self.text(config)
        self.checks += 1
        return self.refuse(text)

    def start(self, config: Configuration) -> None:
        self.config = self.text(config)
        self.alive, self.starts = True, self.starts + 1
        self._load()

    def reload(self, config: Configuration) -> None:
        self.config = self.text(config)
        if not self.alive:
            raise DataPlaneError("haproxy is not running")
        self.reloads += 1
        self._load()

    def save(self, config: Configuration) -> None:
        self.config = self.text(config)

    def serves(self, config: Configuration) -> bool:
        return self.config == self.text(config)

    def bound_ports(self) -> dict[int, str]:
        return bound_ports(self.config)

    def can_bind(self, address: str, port: int) -> bool:
        return port not in self.taken

    def stop(self) -> None:
        self.alive = False
        self.backends = {}

    def admin_socket(self) -> str:
        return "/nonexistent/haproxy.sock"

    def settled(self) -> bool:
        return self.old_workers == 0

    # --- DataPlane: targets ----------------------------------------------------------------
    def add_target(self, group: str, spec: TargetGroup, target: Target, role: Role) -> None:
        line = cmd.add_server(group, target, role, spec)
        self._request(Call("add", group, target.task_id, role), lambda: self._send(line))

    def start_checks(self, group: str, target_id: str) -> None:
        line = cmd.enable_health(group, target_id)
        self._request(Call("start_checks", group, target_id), lambda: self._send(line))

    def enable_target(self, group: str, target_id: str, role: Role) -> None:
        line = cmd.set_state(group, target_id, role, "ready")
        self._request(Call("enable", group, target_id, role), lambda: self._send(line))

    def drain_target(self, group: str, target_id: str, role: Role) -> None:
        line = cmd.set_state(group, target_id, role, "drain")
        self._request(Call("drain", group, target_id, role), lambda: self._send(line))

    def remove_target(self, group: str, target_id: str, *, cut: bool) -> None:
        steps = cmd.removal(group, target_id, cut)
        call = Call("remove", group, target_id, "cut" if cut else "")
        self._request(call, lambda: cmd.remove_servers(self._send, steps))

    def targets(self, known: Iterable[str]) -> dict[Key, Server]:
        return cmd.targets_from(self.servers(), known)

    def counters(self) -> dict[str, BackendStats]:
        return {g: BackendStats(0, {}, 0) for b in self.backends if (g := cmd.group_of(b))}

    def respond(self, group: str, seconds: float, weight: int = 1) -> None:
        """A target of the group answered a request after `seconds` (HAProxy's Tr, in whole
        ms), logged with `weight` (the requests the line stands for when HAProxy samples)."""
        times = self.answered.setdefault(group, ResponseTimes())
        times.add(round(seconds * 1000), weight)

    def response_times(self) -> dict[str, ResponseTimes]:
        times, self.answered = self.answered, {}
        return times

    # --- inside: HAProxy's runtime API ---------------------------------------------------------
    def _request(self, call: Call, send: Callable[[], None]) -> None:
        """Records a typed request and sends its commands, unless a test made it fail."""
        if not self.alive:
            raise DataPlaneError("haproxy admin socket: [Errno 2] No such file or directory")
        self.calls.append(call)
        for i, (verb, group, target_id, answer) in enumerate(self._faults):
            if (verb, group, target_id) == call[:3]:
                del self._faults[i]
                if answer is None:
                    raise DataPlaneError("haproxy admin socket: timed out")
                raise CommandRefused(f"{verb} {group}/{target_id}", answer)
        send()

    def _send(self, line: str) -> None:
        """One line to the admin socket."""
        self.commands.append(line)
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
