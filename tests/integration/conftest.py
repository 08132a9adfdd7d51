"""Fixtures that run the real daemon (`python -m controller run`) against a real dockerd.

Each test gets its own manifest and data directories, a free API port and a unique name prefix;
whatever containers carry that prefix are removed afterwards. Tests wait on conditions, never
on fixed sleeps.
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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest

IMAGE = os.environ.get("SKIFF_TEST_IMAGE", "skiff/busybox:latest")
# A new task with no health check counts as healthy this long after RUNNING (ECS waits 40 s):
# each rolling step of a test waits this long. A test of the wait itself passes its own.
HEALTHY_AFTER = "1"
T = TypeVar("T")

pytestmark = pytest.mark.integration


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


class Skiff:
    """One daemon process on its own directories, restartable, with readers for its API."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.manifests = root / "manifests"
        self.data = root / "data"
        self.manifests.mkdir()
        self.prefix = prefix
        self.cluster = prefix.rstrip("-")  # its own cluster: other daemons' tasks are not ours
        self.port = free_port()
        self.log = root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)  # the daemon's environment; a test may change it
        self.docker = docker.from_env()

    # --- process -------------------------------------------------------------------------------
    def start(self, *extra: str, data_dir_flag: bool = True) -> Skiff:
        """Starts the daemon; without data_dir_flag, it finds its data directory as a user's
        would (set SKIFF_DATA_DIR in self.env). `extra` flags come last: they win."""
        logf = open(self.log, "ab")  # noqa: SIM115 (kept open for the process' lifetime)
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
                HEALTHY_AFTER,
                *extra,
            ],
            stdout=logf,
            stderr=logf,
            env=self.env,
        )
        wait_for(self.ready, 30, "the daemon to become ready")
        return self

    def stop_haproxy(self) -> None:
        """HAProxy outlives the daemon on purpose (it keeps serving); tests stop it."""
        pid_file = self.data / "haproxy" / "haproxy.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().split()[0]], capture_output=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    # --- API -----------------------------------------------------------------------------------
    def token(self) -> str:
        """The daemon's API token: the operator's SKIFF_TOKEN, else the one it generated."""
        return self.env.get("SKIFF_TOKEN") or (self.data / "token").read_text().strip()

    def cli_env(self) -> dict[str, str]:
        """The environment of a `skiff` command aimed at this daemon: its data directory, where
        the command finds the token (the command still needs `--listen`)."""
        return {**os.environ, "SKIFF_DATA_DIR": str(self.data)}

    def get(self, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {self.token()}"} if path.startswith("/v1") else {}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as r:
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

    def tail(self, n: int = 40) -> str:
        return (
            "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
            if self.log.exists()
            else ""
        )

    # --- manifests and Docker -------------------------------------------------------------------
    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def write(self, filename: str, text: str) -> None:
        path = self.manifests / filename
        tmp = path.with_suffix(".tmp")
        tmp.write_text(textwrap.dedent(text))
        tmp.rename(path)  # a saved edit lands whole, as editors do

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
        those are listed (and not inspected): other tests' containers come and go meanwhile."""
        for filters in ({"label": f"skiff.cluster={self.cluster}"}, {"name": self.prefix}):
            for c in self.docker.containers.list(all=True, filters=filters, sparse=True):
                try:
                    c.remove(force=True)
                except docker.errors.NotFound:
                    pass  # gone already (its daemon or HAProxy removed it)


# Serves $VERSION on port 8080 and exits at once on SIGTERM.
HTTPD = (
    "mkdir -p /www && echo $VERSION > /www/index.html && httpd -f -p 8080 -h /www "
    "& trap 'exit 0' TERM; wait"
)


def service_manifest(
    name: str,
    count: int,
    *,
    family: str | None = None,
    env: str = "v1",
    extra: str = "",
    health: str = "",
) -> str:
    family = family or name
    return f"""\
        apiVersion: skiff/v1
        kind: TaskDefinition
        metadata: {{name: {family}}}
        spec:
          containerDefinitions:
            - name: web
              image: {IMAGE}
              command: ["sh", "-c", "{HTTPD}"]
              environment: [{{name: VERSION, value: {env}}}]
              memoryReservation: 16
              portMappings: [{{containerPort: 8080}}]
              stopTimeout: 2{health}
        ---
        apiVersion: skiff/v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          taskDefinition: {family}
          desiredCount: {count}{extra}
        """


@pytest.fixture
def skiff(tmp_path: Path) -> Iterator[Skiff]:
    s = Skiff(tmp_path, prefix=f"t{uuid.uuid4().hex[:6]}-")
    try:
        yield s
    finally:
        s.stop()
        s.stop_haproxy()
        print(s.tail(60), file=sys.stderr)  # pytest shows it when the test fails
        s.cleanup()


@pytest.fixture(scope="session")
def image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test image, saved once, to load into extra engines."""
    tar = tmp_path_factory.mktemp("image") / "image.tar"
    with open(tar, "wb") as f:
        for chunk in docker.from_env().images.get(IMAGE).save(named=True):
            f.write(chunk)
    return tar


@pytest.fixture(scope="session")
def second_engine(tmp_path_factory: pytest.TempPathFactory, image_tar: Path) -> Iterator[Any]:
    """A second dockerd behind tcp:// with TLS, holding the test image too."""
    from tests.integration.engines import tls_engine

    root = tmp_path_factory.mktemp("engine-b")
    with tls_engine(root / "engine", free_port(), image_tar) as engine:
        yield engine


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory, image_tar: Path) -> Iterator[dict[str, Any]]:
    """Three engines in two zones: the local one and a2 in zone-a, b1 (live-restore) in zone-b."""
    from tests.integration.engines import Dockerd

    root = tmp_path_factory.mktemp("pool")
    engines = {
        "a2": Dockerd(root / "a2", "skiffa2", "172.31.251.1/24"),
        "b1": Dockerd(root / "b1", "skiffb1", "172.31.252.1/24", live_restore=True),
    }
    try:
        for d in engines.values():
            d.start()
            d.load(image_tar)
        yield engines
    finally:
        for d in engines.values():
            d.destroy()


@pytest.fixture(scope="session")
def ssh_access(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """ssh:// to this machine's own engine, through a throw-away sshd on loopback."""
    from tests.integration.engines import ssh_to_local_engine

    with ssh_to_local_engine(tmp_path_factory.mktemp("ssh"), free_port()) as access:
        yield access
