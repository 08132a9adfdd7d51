"""What the benchmarks share: a Skiff daemon in a subprocess (tests.support.daemon's, launched
with the benchmark's parallelism), Docker event counting, manifests, the daemon's /metrics,
extra engines on this machine, and what /proc says of a process (CPU, RSS, descriptors, threads).

Timings are taken on arrival of Docker events, so Skiff and raw Docker are measured the same
way; nothing here sleeps where it can wait for a condition.

Importing it makes SIGTERM, SIGHUP and SIGINT end a benchmark through its `finally` blocks,
which stop its daemon and remove its containers and engines: a run cut short (Ctrl-C, `kill`,
`timeout`) leaves nothing behind. A background job's SIGINT, which the shell ignores, included.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

# Benchmarks run as scripts (`python benchmarks/x.py`), so only benchmarks/ is on sys.path: put
# the repository root first, for this checkout's controller and the runner the tests use.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import daemon as support
from tests.support.documents import dump, host_doc, service_doc, td_doc
from tests.support.engines import Dockerd


def _interrupted(signum: int, _frame: object) -> None:
    """The first of these signals unwinds the benchmark into its clean-up; more are ignored
    while it cleans up (SIGKILL still ends it at once)."""
    for each in STOPPING:
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


STOPPING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
for _each in STOPPING:
    signal.signal(_each, _interrupted)

IMAGE = "skiff/busybox:latest"
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
HEALTHY_AFTER = support.HEALTHY_AFTER


class Starts:
    """Docker events (default: 'start') of one label selector, timestamped on arrival, from one
    engine or several (one stream each, into one queue)."""

    def __init__(
        self,
        client: docker.DockerClient | list[docker.DockerClient],
        label: str | list[str],
        event: str = "start",
    ) -> None:
        self.q: queue.Queue[tuple[float, str]] = queue.Queue()
        clients = client if isinstance(client, list) else [client]
        self._streams = [
            c.api.events(decode=True, filters={"type": "container", "event": event, "label": label})
            for c in clients
        ]
        for stream in self._streams:
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        try:
            for ev in stream:
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
        for stream in self._streams:
            stream.close()


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


def steady(daemon: support.Daemon, *names: str) -> bool:
    """Every one of these services steady; a busy daemon answering late is a no for now."""
    try:
        return all(daemon.service(name).get("steadyState") for name in names)
    except OSError:
        return False


def remove_all(
    clients: docker.DockerClient | list[docker.DockerClient], filters: dict[str, Any]
) -> int:
    """Removes every container these filters select (a benchmark's own labels or names), four
    at a time. A removal that fails or times out on a busy engine is tried again: three passes
    at most, each listing what is left. Returns how many are left, and says so."""
    clients = clients if isinstance(clients, list) else [clients]

    def remove(entry: tuple[docker.DockerClient, str]) -> None:
        try:
            entry[0].api.remove_container(entry[1], force=True)
        except Exception:  # gone already, or a busy engine: the next pass looks again
            pass

    def listing() -> list[tuple[docker.DockerClient, str]] | None:
        try:
            return [
                (client, str(c["Id"]))
                for client in clients
                for c in client.api.containers(all=True, filters=filters)
            ]
        except Exception:  # a busy engine
            return None

    left = listing()
    for _ in range(3):
        if left == []:
            return 0
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(remove, left or []))
        left = listing()
    count = len(left) if left is not None else -1
    print(f"({'some' if count < 0 else count} containers of {filters} could not be removed)")
    return count


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


# --- the daemon's /metrics ---------------------------------------------------------------------
def scrape(daemon: support.Daemon) -> dict[str, float]:
    """The daemon's /metrics as {'name{labels}': value} (asked again if a busy daemon is slow)."""
    for attempt in range(5):
        try:
            text = daemon.get("/metrics").decode()
            break
        except OSError:
            if attempt == 4:
                raise
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def calls_by_operation(metrics: dict[str, float]) -> dict[str, float]:
    """skiff_docker_api_calls_total summed over hosts and outcomes, by operation."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name, _, rest = key.partition("{")
        if name != "skiff_docker_api_calls_total":
            continue
        operation = rest.split('operation="', 1)[1].split('"', 1)[0]
        out[operation] = out.get(operation, 0.0) + value
    return out


# --- processes, from /proc ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process; 0 once it is gone."""
    try:
        return support.process_cpu_seconds(pid)
    except OSError:
        return 0.0


def status_field(pid: int, field: str) -> int:
    """An integer field of /proc/PID/status (VmRSS in kB, Threads), 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process on the machine."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm, rest = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        out.append((int(entry), int(rest.split()[1]), comm.split("(", 1)[1]))
    return out


def engine_pids(dockerd_pids: list[int]) -> list[int]:
    """These dockerd and the containerd each of them runs (a child of it, as dockerd manages
    its own; else the machine's /run/containerd one)."""
    procs = _processes()
    out = list(dockerd_pids)
    children = [pid for pid, ppid, comm in procs if comm == "containerd" and ppid in dockerd_pids]
    out += children
    if len(children) < len(dockerd_pids):
        system = Path("/run/containerd/containerd.pid")
        if system.exists():
            out.append(int(system.read_text().strip()))
    return out


def main_dockerd_pid() -> int:
    return int(Path("/var/run/docker.pid").read_text().strip())


def shim_pids(container_ids: set[str]) -> list[int]:
    """The containerd shims of these containers (runc v2: one per container, `-id ID`)."""
    out = []
    for pid, _, comm in _processes():
        if not comm.startswith("containerd-shim"):
            continue
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        at = args.index(b"-id") + 1 if b"-id" in args else len(args)
        if at < len(args) and args[at].decode() in container_ids:
            out.append(pid)
    return out


class CpuWindow:
    """CPU time of a set of processes over a window; a process gone meanwhile counts what it
    had used at the start, not its absence."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.began = time.monotonic()
        self.start = {pid: cpu_seconds(pid) for pid in pids}

    def share(self) -> float:
        """CPU seconds per second (share of one core) since the window began."""
        elapsed = time.monotonic() - self.began
        used = sum(max(0.0, cpu_seconds(pid) - self.start[pid]) for pid in self.pids)
        return used / elapsed


# --- extra engines -----------------------------------------------------------------------------
def start_engines(root: Path, count: int) -> list[Dockerd]:
    """`count` extra dockerd on this machine (each its own data root, bridge, subnet and
    socket), holding IMAGE; the caller destroys them."""
    tar = root / "image.tar"
    with open(tar, "wb") as f:
        for chunk in docker.from_env().images.get(IMAGE).save(named=True):
            f.write(chunk)
    suffix = uuid.uuid4().hex[:5]
    # A /22 each (1,021 addresses): 1,000 tasks over 3 engines put 334 on each, more than
    # a /24 holds ("no available IPv4 addresses on this network's address pools").
    subnets = random.sample(range(4, 252, 4), count)
    engines = [
        Dockerd(root / f"e{i}", f"skb{suffix}{i}", f"10.214.{subnets[i - 1]}.1/22")
        for i in range(1, count + 1)
    ]
    for d in engines:
        d.start()
        d.load(tar)
    return engines


def hosts_yaml(engines: list[Dockerd]) -> str:
    """Hosts `near` (this machine's dockerd) and far1.. (the extra engines), all in one zone."""
    urls = {"near": "unix:///var/run/docker.sock"}
    urls.update({f"far{i}": d.engine.url for i, d in enumerate(engines, 1)})
    return dump(*(host_doc(name, url=url, zone="local") for name, url in urls.items()))
