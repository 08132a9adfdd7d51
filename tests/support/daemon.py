"""The real daemon in a subprocess, for integration tests and benchmarks alike: `Daemon` starts
`python -m controller run` on its own manifest and data directories, API port, cluster and log,
waits for /readyz, reads its API (token included) and stops it; `Skiff` adds what tests need
(a name prefix, their containers in Docker, clean-up).

It starts no engine and asserts nothing about behaviour; waiting fails only on a timeout or a
daemon that exited.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import docker

# A new task with no health check counts as healthy this long after RUNNING (ECS waits 40 s):
# each rolling step waits this long. A test or benchmark of the wait itself passes its own.
HEALTHY_AFTER = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, from /proc/PID/stat (fields 14 and 15)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / CLK_TCK


T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Polls `condition` until it returns something truthy; fails with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (OSError, ValueError, KeyError) as exc:  # daemon not up yet, transient reads
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """One daemon process on its own directories under `root`, restartable, with API readers."""

    def __init__(self, root: Path, cluster: str) -> None:
        self.root = root
        self.manifests = root / "manifests"
        self.data = root / "data"
        self.manifests.mkdir()
        self.cluster = cluster
        self.port = free_port()
        self.log = root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)  # the daemon's environment; a caller may change it

    # --- process -------------------------------------------------------------------------------
    def launch(self, *extra: str, data_dir_flag: bool = True) -> Daemon:
        """Starts the daemon without waiting for it; without data_dir_flag, it finds its data
        directory as a user's would (set SKIFF_DATA_DIR in self.env). `extra` flags come last:
        they win."""
        with open(self.log, "ab") as logf:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "controller",
                    "run",
                    "--manifests",
                    str(self.manifests),
                    *(["--data-dir", str(self.data)] if data_dir_flag else []),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--log-format",
                    "json",
                    "--cluster",
                    self.cluster,
                    "--healthy-after-seconds",
                    str(HEALTHY_AFTER),
                    *extra,
                ],
                stdout=logf,
                stderr=logf,
                env=self.env,
            )
        return self

    def start(self, *extra: str, data_dir_flag: bool = True) -> Daemon:
        """Starts the daemon (as `launch`) and waits until it is ready."""
        self.launch(*extra, data_dir_flag=data_dir_flag)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_for(self.ready, timeout, "the daemon to become ready")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop_haproxy(self) -> None:
        """HAProxy outlives the daemon on purpose (it keeps serving); its owner stops it."""
        pid_file = self.data / "haproxy" / "haproxy.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().split()[0]], capture_output=True)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the daemon process has used."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def tail(self, n: int = 40) -> str:
        return (
            "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
            if self.log.exists()
            else ""
        )

    # --- API -----------------------------------------------------------------------------------
    def token(self) -> str:
        """The daemon's API token: the operator's SKIFF_TOKEN, else the one it generated."""
        return self.env.get("SKIFF_TOKEN") or (self.data / "token").read_text().strip()

    def cli_env(self) -> dict[str, str]:
        """The environment of a `skiff` command aimed at this daemon: its data directory, where
        the command finds the token (the command still needs `--api`: `api_url`)."""
        return {**os.environ, "SKIFF_DATA_DIR": str(self.data)}

    @property
    def api_url(self) -> str:
        """What a `skiff` command's `--api` names to reach this daemon."""
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, body: dict[str, Any] | None = None) -> urllib.request.Request:
        """A request to the daemon's API, with the token /v1 needs (a POST when body is given)."""
        headers = {"Authorization": f"Bearer {self.token()}"} if path.startswith("/v1") else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode() if body is not None else None
        return urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.request(path), timeout=5) as r:
            return bytes(r.read())

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            return self.get("/readyz") == b"ready\n"
        except OSError:
            return False

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.get("/v1/status"))
        return data

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        for r in self.status()["resources"]:
            if (r["kind"], r["name"]) == (kind, name):
                return r  # type: ignore[no-any-return]
        raise KeyError(f"{kind}/{name}")

    def service(self, name: str) -> dict[str, Any]:
        """The status of Service `name`, or {} while the daemon does not report it."""
        try:
            return self.resource("Service", name)
        except KeyError:
            return {}

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.get("/metrics").decode().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric, _, rest = head.partition("{")
            if metric != name:
                continue
            if all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total += float(value)
        return total

    # --- manifests -----------------------------------------------------------------------------
    def write(self, filename: str, text: str) -> None:
        """Saves a manifest file (dedented); the edit lands whole, as editors save."""
        path = self.manifests / filename
        tmp = path.with_suffix(".tmp")
        tmp.write_text(textwrap.dedent(text))
        tmp.rename(path)


class Skiff(Daemon):
    """A test's daemon: its own cluster and name prefix, and its containers in Docker."""

    def __init__(self, root: Path, prefix: str) -> None:
        super().__init__(root, prefix.rstrip("-"))  # its own cluster: other daemons' tasks
        self.prefix = prefix
        self.docker = docker.from_env()

    def start(self, *extra: str, data_dir_flag: bool = True) -> Skiff:
        super().start(*extra, data_dir_flag=data_dir_flag)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        super().stop(timeout)

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def containers(self, service: str, *, all: bool = False) -> list[Any]:
        labels = ["skiff.managed-by=skiff", f"skiff.cluster={self.cluster}"]
        for _ in range(5):  # the SDK lists, then inspects each: one may go in between
            try:
                return self.docker.containers.list(
                    all=all, filters={"label": [*labels, f"skiff.name={service}"]}
                )
            except docker.errors.NotFound:
                continue
        raise AssertionError(f"containers of {service} kept going while listed")

    def running(self, service: str) -> list[Any]:
        return [c for c in self.containers(service) if c.status == "running"]

    def cleanup(self) -> None:
        """Removes this test's containers: its cluster's, and look-alikes named after it. Only
        those are listed (and not inspected): other tests' containers come and go meanwhile.
        Several at a time: a forced removal of a running container waits for its kill."""
        by: list[dict[str, str | list[str] | bool]] = [
            {"label": f"skiff.cluster={self.cluster}"},
            {"name": self.prefix},
        ]
        found = {
            c.id: c
            for filters in by
            for c in self.docker.containers.list(all=True, filters=filters, sparse=True)
        }

        def remove(c: Any) -> None:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass  # gone already (its daemon or HAProxy removed it)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(remove, found.values()))
