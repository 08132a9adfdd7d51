"""The load balancers' data plane: one HAProxy process the daemon starts and supervises.

HAProxy runs in master-worker mode. Target membership, readiness and draining go through its
runtime API (the admin socket) without a reload; a changed configuration (listeners, rules,
target groups) is applied with a seamless reload (the master hands the listening sockets to a
new worker; the old one finishes its requests). It implements the typed `DataPlane`: the
engine says what it means (serve this configuration, drain this target, read the counters) and
this module says it to HAProxy, in words haproxy_syntax made (haproxy_config for the file,
haproxy_commands for the runtime API). What to tell it is decided by the ELB package (its
pure planner and the load balancer sync), in the data plane's values (values.py).
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import structlog

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
from controller.dataplane.haproxy_config import bound_ports, configuration_text, port_free
from controller.dataplane.request_log import RequestLog
from controller.dataplane.response_times import ResponseTimes
from controller.dataplane.socket_dir import socket_dir
from controller.dataplane.values import Server, Target, TargetGroup

log = structlog.get_logger("skiff.dataplane")

ADMIN_SOCKET = "haproxy.sock"
REQUEST_LOG = "requests.sock"  # HAProxy logs requests here, sampled (request_log.py)
CONFIG = "haproxy.cfg"
PID_FILE = "haproxy.pid"
CHECK_ENABLED = 0x04  # srv_check_state: CHK_ST_ENABLED
VERDICTS_KEPT = 256  # configurations whose `haproxy -c` answer is remembered
_ALERT_PREFIX = re.compile(
    r"^\[ALERT\]\s*\(\d+\)\s*:\s*(config\s*:\s*)?(parsing \[[^]]*\]\s*:\s*)?"
)


class HAProxy:
    def __init__(self, workdir: str, binary: str = "haproxy") -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.config = self.dir / CONFIG
        self.pid_file = self.dir / PID_FILE
        self._verdicts: dict[str, str | None] = {}  # haproxy -c, per text
        try:  # a short alias of the folder where its own paths are too long for a socket
            sockets = socket_dir(self.dir, max(ADMIN_SOCKET, REQUEST_LOG, key=len))
        except (DataPlaneError, OSError) as exc:  # HAProxy's check will say which is too long
            log.warning("dataplane.socket_dir", error=str(exc))
            sockets = self.dir
        self.socket = sockets / ADMIN_SOCKET
        self.requests = RequestLog(sockets / REQUEST_LOG)

    def admin_socket(self) -> str:
        return str(self.socket)

    # --- the process ---------------------------------------------------------------------------
    def master_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        return self.master_pid() is not None and self.answers()

    def answers(self) -> bool:
        try:
            self.command("show info")
            return True
        except DataPlaneError:
            return False

    # --- the configuration ---------------------------------------------------------------------
    def text(self, config: Configuration) -> str:
        """The configuration file for `config` (UnsafeValue: a value it cannot hold)."""
        return configuration_text(config, self.admin_socket(), str(self.requests.path))

    def check(self, config: Configuration) -> str | None:
        """HAProxy's complaint about a configuration, asked once per text."""
        text = self.text(config)
        if text not in self._verdicts:
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[text] = self.check_text(text)
        return self._verdicts[text]

    def start(self, config: Configuration) -> None:
        self.write(self.text(config))
        self.start_process()

    def reload(self, config: Configuration) -> None:
        self.write(self.text(config))
        self.reload_process()

    def save(self, config: Configuration) -> None:
        self.write(self.text(config))

    def serves(self, config: Configuration) -> bool:
        return self.current_config() == self.text(config)

    def bound_ports(self) -> dict[int, str]:
        return bound_ports(self.current_config())

    def can_bind(self, address: str, port: int) -> bool:
        return port_free(address, port)

    def check_text(self, config_text: str) -> str | None:
        """Validates a configuration without applying it; returns HAProxy's complaint, if any."""
        candidate = self.dir / "candidate.cfg"
        candidate.write_text(config_text)
        out = subprocess.run(
            [self.binary, "-c", "-f", str(candidate)], capture_output=True, text=True
        )
        if out.returncode == 0:
            return None
        text = (out.stderr or out.stdout).strip()
        # "[ALERT]    (123) : config : parsing [f:9] : error ...": what follows says it.
        alerts = [
            _ALERT_PREFIX.sub("", line).strip()
            for line in text.splitlines()
            if "[ALERT]" in line and "rror(s) found" not in line and "atal errors" not in line
        ]
        return "; ".join(alerts[:2]) or text or f"haproxy -c exited with {out.returncode}"

    def current_config(self) -> str:
        try:
            return self.config.read_text()
        except OSError:
            return ""

    def write(self, config_text: str) -> None:
        tmp = self.dir / (CONFIG + ".tmp")
        tmp.write_text(config_text)
        tmp.replace(self.config)

    def start_process(self) -> None:
        """Starts the master (which daemonizes) and waits until its worker answers."""
        self._open_request_log()
        stale = self.master_pid()
        if stale is not None:
            os.kill(stale, signal.SIGTERM)
        self.socket.unlink(missing_ok=True)
        out = subprocess.run(
            [self.binary, "-W", "-D", "-f", str(self.config), "-p", str(self.pid_file)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise DataPlaneError(f"haproxy did not start: {(out.stderr or out.stdout).strip()}")
        self._wait_answering()

    def reload_process(self) -> None:
        """Seamless: the master re-reads the configuration and hands the sockets over."""
        pid = self.master_pid()
        if pid is None:
            self.start_process()
            return
        before = self._worker_pids(pid)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the new worker has its own pid
            now = self._worker_pids(pid)
            if now and now != before and self.answers():
                return
            time.sleep(0.02)
        raise DataPlaneError("haproxy did not come back from a reload")

    def settled(self) -> bool:
        pid = self.master_pid()
        return pid is None or len(self._worker_pids(pid)) <= 1

    def stop(self) -> None:
        pid = self.master_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        self.requests.close()

    def _worker_pids(self, master: int) -> set[int]:
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            return {int(c) for c in children}
        except OSError:
            return set()

    def _wait_answering(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            time.sleep(0.02)
        raise DataPlaneError("haproxy's admin socket does not answer")

    # --- the runtime API -----------------------------------------------------------------------
    def command(self, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(self.socket))
                s.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise DataPlaneError(f"haproxy admin socket: {exc}") from exc
        return b"".join(chunks).decode(errors="replace")

    def do(self, line: str) -> None:
        """A command that answers nothing on success."""
        answer = self.command(line).strip()
        if answer and answer not in ("New server registered.", "Server deleted."):
            raise CommandRefused(line, answer)

    # --- targets, in the engine's terms ---------------------------------------------------------
    def add_target(self, group: str, spec: TargetGroup, target: Target, role: Role) -> None:
        self.do(cmd.add_server(group, target, role, spec))

    def start_checks(self, group: str, target_id: str) -> None:
        self.do(cmd.enable_health(group, target_id))

    def enable_target(self, group: str, target_id: str, role: Role) -> None:
        self.do(cmd.set_state(group, target_id, role, "ready"))

    def drain_target(self, group: str, target_id: str, role: Role) -> None:
        self.do(cmd.set_state(group, target_id, role, "drain"))

    def remove_target(self, group: str, target_id: str, *, cut: bool) -> None:
        cmd.remove_servers(self.do, cmd.removal(group, target_id, cut))

    def targets(self, known: Iterable[str]) -> dict[Key, Server]:
        return cmd.targets_from(self.servers(), known)

    def counters(self) -> dict[str, BackendStats]:
        stats = self.backend_stats()
        return {g: s for b, s in stats.items() if (g := cmd.group_of(b)) is not None}

    def response_times(self) -> dict[str, ResponseTimes]:
        self._open_request_log()  # a HAProxy we adopted (after our restart) logs here too
        return self.requests.take()

    def _open_request_log(self) -> None:
        try:
            self.requests.open()
        except OSError as exc:
            raise DataPlaneError(f"haproxy request log {self.requests.path}: {exc}") from exc

    # --- what HAProxy reports -------------------------------------------------------------------
    def servers(self) -> list[ServerState]:
        states = _table(self.command("show servers state"), skip_version=True, sep=" ")
        stats = {(r["pxname"], r["svname"]): r for r in _table(self.command("show stat"))}
        out = []
        for r in states:
            stat = stats.get((r["be_name"], r["srv_name"]), {})
            admin_bits = int(r["srv_admin_state"])
            admin = (
                "maint"
                if admin_bits & 0x01 or admin_bits & 0x02
                else ("drain" if admin_bits & 0x08 else "ready")
            )
            out.append(
                ServerState(
                    backend=r["be_name"],
                    name=r["srv_name"],
                    address=r["srv_addr"],
                    port=int(r["srv_port"]),
                    up=r["srv_op_state"] == "2",
                    admin=admin,
                    checked=r["srv_check_result"] not in ("0", "1"),
                    sessions=int(stat.get("scur") or 0),
                    checking=bool(int(r["srv_check_state"]) & CHECK_ENABLED),
                )
            )
        return out

    def backend_stats(self) -> dict[str, BackendStats]:
        out = {}
        for r in _table(self.command("show stat")):
            if r["svname"] != "BACKEND":
                continue
            out[r["pxname"]] = BackendStats(
                requests=int(r.get("req_tot") or r.get("stot") or 0),
                responses={
                    k: int(r.get(f"hrsp_{k}") or 0)
                    for k in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
                },
                response_time_ms=int(r.get("rtime") or 0),
            )
        return out


def _table(text: str, *, skip_version: bool = False, sep: str = ",") -> list[dict[str, str]]:
    """HAProxy's tabular answers: a '# name name ...' header, then rows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if skip_version and lines and not lines[0].startswith("#"):
        lines = lines[1:]
    if not lines or not lines[0].startswith("#"):
        return []
    header = lines[0].lstrip("# ").strip()
    if sep == ",":
        reader = csv.DictReader(io.StringIO("\n".join([header, *lines[1:]])))
        return [dict(r) for r in reader]
    names = header.split()
    return [dict(zip(names, line.split(), strict=False)) for line in lines[1:]]
