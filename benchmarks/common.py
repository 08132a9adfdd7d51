"""What the benchmarks share: a Skiff daemon in a subprocess, Docker event counting, manifests.

Timings are taken on arrival of Docker events, so Skiff and raw Docker are measured the same
way; nothing here sleeps where it can wait for a condition.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import docker

IMAGE = "skiff/busybox:latest"
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A new task with no health check counts as healthy this long after RUNNING (ECS waits 40 s);
# a benchmark that measures the wait passes its own --healthy-after-seconds.
HEALTHY_AFTER = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Starts:
    """Docker events (default: 'start') of one label selector, timestamped on arrival."""

    def __init__(
        self, client: docker.DockerClient, label: str | list[str], event: str = "start"
    ) -> None:
        self.q: queue.Queue[tuple[float, str]] = queue.Queue()
        self._stream = client.api.events(
            decode=True, filters={"type": "container", "event": event, "label": label}
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        try:
            for ev in self._stream:
                self.q.put((time.monotonic(), ev["id"]))
        except Exception:  # closed
            pass

    def drain(self) -> None:
        while not self.q.empty():
            self.q.get_nowait()

    def wait(self, n: int, timeout: float = 120) -> list[tuple[float, str]]:
        got: list[tuple[float, str]] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            got.append(self.q.get(timeout=max(0.01, deadline - time.monotonic())))
        return got

    def close(self) -> None:
        self._stream.close()


def manifest(name: str, count: int, version: str = "v1") -> str:
    """A one-container service; `version` goes into its environment (a new one: a new revision)."""
    return textwrap.dedent(f"""\
        apiVersion: skiff/v1
        kind: TaskDefinition
        metadata: {{name: {name}}}
        spec:
          containerDefinitions:
            - name: app
              image: {IMAGE}
              command: {json.dumps(COMMAND)}
              environment: [{{name: VERSION, value: {version}}}]
              memoryReservation: 16
              stopTimeout: 2
        ---
        apiVersion: skiff/v1
        kind: Service
        metadata: {{name: {name}}}
        spec: {{taskDefinition: {name}, desiredCount: {count}}}
        """)


class Daemon:
    def __init__(
        self, root: Path, cluster: str, parallelism: int, extra: list[str] | None = None
    ) -> None:
        self.root, self.cluster = root, cluster
        self.manifests = root / "manifests"
        self.manifests.mkdir()
        self.port = free_port()
        self.log = open(root / "daemon.log", "wb")  # noqa: SIM115 (open while the daemon runs)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller",
                "run",
                "--manifests",
                str(self.manifests),
                "--data-dir",
                str(root / "data"),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--cluster",
                cluster,
                "--parallelism",
                str(parallelism),
                "--log-format",
                "json",
                "--healthy-after-seconds",
                str(HEALTHY_AFTER),
                *(extra or []),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def token(self) -> str:
        """The API token the daemon generated in its data directory (at its start)."""
        return os.environ.get("SKIFF_TOKEN") or (self.root / "data" / "token").read_text().strip()

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

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz") == b"ready\n":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("the daemon did not become ready")

    def service(self, name: str) -> dict[str, Any]:
        doc = json.loads(self.get("/v1/status"))
        return next(
            (r for r in doc["resources"] if r["kind"] == "Service" and r["name"] == name), {}
        )

    def write(self, text: str) -> None:
        tmp = self.manifests / "svc.tmp"
        tmp.write_text(text)
        tmp.rename(self.manifests / "svc.yaml")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")
