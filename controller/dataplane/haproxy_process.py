"""The HAProxy process a daemon left running, found from its working directory's pid file and
stopped (`skiff down`), once it is shown to be that HAProxy.

HAProxy outlives the daemon on purpose (the next daemon picks it up). A pid file can outlive
HAProxy too, and its pid be taken since by another process: a pid counts as this HAProxy only
when the process is an `haproxy` whose `-p` argument is this very pid file. Anything else is
left alone and reported as a stale pid file.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from controller.dataplane.haproxy import ADMIN_SOCKET, PID_FILE

STOP_WAIT = 10.0  # seconds HAProxy has to stop after SIGTERM before SIGKILL


@dataclass(frozen=True)
class Found:
    """The pid file of a working directory and what it says."""

    pid_file: str
    pid: int | None  # the HAProxy it names, running; None: none (or not HAProxy)
    note: str = ""  # why a pid in the file is not taken as HAProxy's


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _same_file(candidate: str, pid_file: Path, pid: int) -> bool:
    """Whether `candidate` (as the process was given it) names `pid_file`; a relative path is
    tried against the process's working directory and ours."""
    bases = [""] if os.path.isabs(candidate) else [f"/proc/{pid}/cwd", os.getcwd()]
    for base in bases:
        try:
            if os.path.samefile(os.path.join(base, candidate), pid_file):
                return True
        except OSError:
            continue
    return False


def is_haproxy_of(pid: int, pid_file: Path) -> bool:
    """True only for a running `haproxy` started with `-p pid_file`."""
    args = _cmdline(pid)
    if not args or os.path.basename(args[0]) != "haproxy":
        return False
    return any(
        flag == "-p" and _same_file(value, pid_file, pid)
        for flag, value in itertools.pairwise(args)
    )


def find(workdir: str) -> Found:
    """The HAProxy the daemon started in `workdir`, if it still runs."""
    pid_file = Path(workdir) / PID_FILE
    try:
        text = pid_file.read_text().split()
    except OSError:
        return Found(str(pid_file), None)
    if not text or not text[0].isdigit():
        return Found(str(pid_file), None, f"{pid_file} holds no pid")
    pid = int(text[0])
    if not Path(f"/proc/{pid}").exists():
        return Found(str(pid_file), None, f"{pid_file}: process {pid} is gone (a stale pid file)")
    if not is_haproxy_of(pid, pid_file):
        return Found(
            str(pid_file),
            None,
            f"{pid_file}: process {pid} is not the HAProxy started with it (a stale pid file); "
            "it was left alone",
        )
    return Found(str(pid_file), pid)


def _gone(pid: int, pid_file: Path) -> bool:
    return not Path(f"/proc/{pid}").exists() or not is_haproxy_of(pid, pid_file)


def stop_started(workdir: str, wait: float = STOP_WAIT) -> str | None:
    """Stops the HAProxy the daemon started in `workdir` (SIGTERM to its master, which stops
    its workers; SIGKILL after `wait` seconds) and removes its pid file and admin socket.
    Returns None when it is stopped (or none ran), else what went wrong."""
    found = find(workdir)
    pid_file = Path(found.pid_file)
    if found.pid is not None:
        try:
            os.kill(found.pid, signal.SIGTERM)
            deadline = time.monotonic() + wait
            while not _gone(found.pid, pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _gone(found.pid, pid_file):
                os.kill(found.pid, signal.SIGKILL)
                deadline = time.monotonic() + wait
                while not _gone(found.pid, pid_file) and time.monotonic() < deadline:
                    time.sleep(0.05)
        except ProcessLookupError:
            pass  # it stopped on its own meanwhile
        except PermissionError as exc:
            return f"HAProxy (pid {found.pid}): cannot signal it: {exc.strerror}"
        if not _gone(found.pid, pid_file):
            return f"HAProxy (pid {found.pid}) did not stop"
    if found.pid is not None or found.note:
        for name in (PID_FILE, ADMIN_SOCKET):
            (Path(workdir) / name).unlink(missing_ok=True)
    return None
