"""`skiff down` stops the HAProxy a daemon left, found by its pid file, and nothing else: a pid
file whose pid now belongs to another process (a stale one) kills nothing.

The processes here are Python ones that look, to /proc, as the daemon's HAProxy does (argv[0]
`haproxy`, `-p PIDFILE`) or not."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.dataplane import haproxy_process
from tests.support.daemon import wait_for

SLEEP = "import time; time.sleep(60)"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def spawn(started: list[subprocess.Popen[bytes]], argv0: str, *args: str) -> int:
    p = subprocess.Popen([argv0, "-c", SLEEP, *args], executable=sys.executable)
    started.append(p)
    # Popen returns while the kernel still installs the new program: its cmdline is empty.
    wait_for(lambda: Path(f"/proc/{p.pid}/cmdline").read_bytes(), 5, "the process's cmdline")
    return p.pid


def exited(p: subprocess.Popen[bytes]) -> bool:
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return True


def workdir(tmp_path: Path, pid: int) -> Path:
    (tmp_path / "haproxy.pid").write_text(f"{pid}\n")
    (tmp_path / "haproxy.sock").write_text("")
    return tmp_path


def test_the_haproxy_of_the_pid_file_is_stopped_and_its_files_removed(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    pid = spawn(processes, "haproxy", "-W", "-D", "-p", str(tmp_path / "haproxy.pid"))
    d = workdir(tmp_path, pid)
    assert haproxy_process.find(str(d)).pid == pid
    assert haproxy_process.stop_started(str(d)) is None
    assert exited(processes[0])
    assert not (d / "haproxy.pid").exists() and not (d / "haproxy.sock").exists()


def test_a_relative_pid_file_path_is_the_same_file(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)
    pid = spawn(processes, "haproxy", "-p", f"{tmp_path.name}/haproxy.pid")
    assert haproxy_process.find(str(workdir(tmp_path, pid))).pid == pid


def test_a_stale_pid_file_naming_another_program_kills_nothing(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    pid = spawn(processes, "python3", "-p", str(tmp_path / "haproxy.pid"))
    d = workdir(tmp_path, pid)
    found = haproxy_process.find(str(d))
    assert found.pid is None and "stale pid file" in found.note and str(pid) in found.note
    assert haproxy_process.stop_started(str(d), wait=0.2) is None
    assert processes[0].poll() is None  # still running
    assert not (d / "haproxy.pid").exists()  # the stale file goes


def test_another_haproxy_with_its_own_pid_file_is_left_alone(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "haproxy.pid").write_text("1\n")
    pid = spawn(processes, "haproxy", "-p", str(elsewhere / "haproxy.pid"))
    ours = tmp_path / "ours"
    ours.mkdir()
    d = workdir(ours, pid)
    assert haproxy_process.find(str(d)).pid is None
    haproxy_process.stop_started(str(d), wait=0.2)
    assert processes[0].poll() is None


def test_no_pid_file_or_a_gone_process_is_nothing_to_stop(tmp_path: Path) -> None:
    assert haproxy_process.find(str(tmp_path)) == haproxy_process.Found(
        str(tmp_path / "haproxy.pid"), None
    )
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    found = haproxy_process.find(str(workdir(tmp_path, int(gone))))
    assert found.pid is None and "is gone" in found.note
