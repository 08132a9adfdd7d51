"""What the benchmarks share: a Skiff daemon in a subprocess (tests.support.daemon's, launched
with the benchmark's parallelism), Docker event counting, manifests.

Timings are taken on arrival of Docker events, so Skiff and raw Docker are measured the same
way; nothing here sleeps where it can wait for a condition.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker

# Benchmarks run as scripts (`python benchmarks/x.py`), so only benchmarks/ is on sys.path: put
# the repository root first, for this checkout's controller and the runner the tests use.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import daemon as support
from tests.support.documents import dump, service_doc, td_doc

IMAGE = "skiff/busybox:latest"
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
HEALTHY_AFTER = support.HEALTHY_AFTER


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


def manifest(
    name: str, count: int, version: str = "v1", health: dict[str, Any] | None = None
) -> str:
    """A one-container service; `version` goes into its environment (a new one: a new revision);
    `health`, when given, is the container's healthCheck."""
    app: dict[str, Any] = {
        "name": "app",
        "image": IMAGE,
        "command": COMMAND,
        "environment": [{"name": "VERSION", "value": version}],
        "memoryReservation": 16,
        "stopTimeout": 2,
    }
    if health is not None:
        app["healthCheck"] = health
    td = td_doc(name, containerDefinitions=[app])
    return dump(td, service_doc(name, taskDefinition=name, desiredCount=count))


class Daemon(support.Daemon):
    """A benchmark's daemon, launched at once (not waited for: write manifests, then
    wait_ready) with --parallelism and any `extra` flags."""

    def __init__(
        self, root: Path, cluster: str, parallelism: int, extra: list[str] | None = None
    ) -> None:
        super().__init__(root, cluster)
        self.launch("--parallelism", str(parallelism), *(extra or []))


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")
