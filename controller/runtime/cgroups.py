"""Container CPU and memory read from the kernel's cgroup files, as cAdvisor and the kubelet do.

For an engine on this machine (a unix socket: every dockerd on the host is local) a metrics
pass needs no Docker call: each running container's counters are in its cgroup, a few small
files. Docker's stats API, by contrast, costs one call per container that waits for dockerd's
next one-second collection round and keeps dockerd and containerd busy reading the very same
files. The figures are the ones that API returns (`ContainerStats`), computed as dockerd does:

- CPU: cgroup v2 `cpu.stat` usage_usec, cgroup v1 `cpuacct.usage` (nanoseconds);
- memory in use: v2 `memory.current` minus `memory.stat` inactive_file, v1
  `memory.usage_in_bytes` minus total_inactive_file (what `docker stats` shows: page cache the
  kernel can drop at once is not use);
- the limit: v2 `memory.max`, v1 `memory.limit_in_bytes`, the host's memory when unlimited.

A container's cgroup is found from its main process (`/proc/PID/cgroup`, exact whatever the
engine's cgroup driver or parent), checked to name the container, else from Docker's naming:
the cgroupfs driver's `<parent or /docker>/<id>` and the systemd driver's
`<parent slice or system.slice>/docker-<id>.scope`. Where it was found is kept for as long as the
container keeps that process, so a pass over a thousand containers reads only their counters:
a few small files each, read with plain `os` calls, and `/proc/stat` once per SYSTEM_CPU_REUSE.

Rule (see docs/architecture.md): monitoring never takes the workers that launch, stop and
remove. A metrics pass can be late, a launch cannot. Reading files here takes no Docker call,
connection or worker at all.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from controller.runtime.errors import Conflict, NotFound
from controller.runtime.types import ContainerInfo, ContainerStats

_NANO = 1_000_000_000
SYSTEM_CPU_REUSE = 0.05  # seconds one reading of /proc/stat serves: the containers of one pass
_UNLIMITED = 1 << 62  # v1 reports "no limit" as a page-rounded 2**63-1


class CgroupNotFound(NotFound):
    """The container's cgroup is not on this machine (gone, or the engine is not local)."""


@dataclass(frozen=True)
class _Layout:
    version: int  # 1 or 2
    cpu: Path  # v2: the unified root; v1: the cpuacct hierarchy's mount
    memory: Path  # v2: the unified root; v1: the memory hierarchy's mount


def _v1_mounts(mounts: Path) -> dict[str, Path]:
    """The mount point of each v1 controller, from /proc/self/mounts (`cpu,cpuacct` together
    or apart)."""
    found: dict[str, Path] = {}
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "cgroup":
            for option in fields[3].split(","):
                found.setdefault(option, Path(fields[1]))
    return found


def detect(root: Path, mounts: Path) -> _Layout | None:
    """This machine's cgroup layout: v2 when its root is the unified hierarchy, else v1 with
    cpuacct and memory mounted; None when neither (no cgroups to read)."""
    if (root / "cgroup.controllers").exists():
        return _Layout(2, root, root)
    try:
        controllers = _v1_mounts(mounts)
    except OSError:
        return None
    if "cpuacct" in controllers and "memory" in controllers:
        return _Layout(1, controllers["cpuacct"], controllers["memory"])
    return None


def _slice_path(slice_name: str) -> str:
    """systemd's path of a slice: `a-b.slice` lives in `a.slice/a-b.slice`."""
    if not slice_name.endswith(".slice"):
        return slice_name.strip("/")
    stem = slice_name[: -len(".slice")]
    parts = stem.split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def driver_paths(container_id: str, parent: str = "") -> list[str]:
    """Where Docker puts a container's cgroup, relative to a hierarchy's root: the cgroupfs
    driver's and the systemd driver's naming, for its cgroup parent or the default one."""
    cgroupfs = f"{(parent or '/docker').strip('/')}/{container_id}"
    systemd = f"{_slice_path(parent or 'system.slice')}/docker-{container_id}.scope"
    return [cgroupfs, systemd]


class CgroupReader:
    """Reads the counters of containers on this machine. Safe to share between threads."""

    def __init__(
        self,
        root: str | Path = "/sys/fs/cgroup",
        proc: str | Path = "/proc",
        mounts: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        online_cpus: int | None = None,
    ) -> None:
        self.proc = Path(proc)
        self.layout = detect(Path(root), Path(mounts) if mounts else self.proc / "self/mounts")
        self.clock = clock
        self.online_cpus = online_cpus or _online_cpus()
        self._host_memory: int | None = None
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._system: tuple[float, int | None] | None = None  # (when read, monotonic; value)
        # container id -> (its main process, its cpu and memory cgroup directories)
        self._located: dict[str, tuple[int, str, str]] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.layout is not None

    def stats(self, info: ContainerInfo) -> ContainerStats:
        """One sample of a running container's counters, as Docker's stats API gives them.

        Raises Conflict when the container is not running (it has no cgroup then) and
        CgroupNotFound when its cgroup is not on this machine."""
        if not info.running:
            raise Conflict(f"container {info.id} is not running: it has no cgroup")
        layout = self.layout
        if layout is None:
            raise CgroupNotFound("no cgroup hierarchy on this machine")
        cpu_dir, memory_dir = self._locate(layout, info)
        read = self.clock()
        try:
            if layout.version == 2:
                used_usec = _value(_read(f"{cpu_dir}/cpu.stat"), "usage_usec")
                if used_usec is None:
                    raise KeyError("usage_usec")
                cpu_ns = used_usec * 1000
                usage = int(_read(f"{memory_dir}/memory.current"))
                reclaimable = _value(_read(f"{memory_dir}/memory.stat"), "inactive_file") or 0
                limit_text = _read(f"{memory_dir}/memory.max").strip()
                limit = _UNLIMITED if limit_text == "max" else int(limit_text)
            else:
                cpu_ns = int(_read(f"{cpu_dir}/cpuacct.usage"))
                usage = int(_read(f"{memory_dir}/memory.usage_in_bytes"))
                stat = _read(f"{memory_dir}/memory.stat")
                found = (_value(stat, k) for k in ("total_inactive_file", "inactive_file", "cache"))
                reclaimable = next((v for v in found if v is not None), 0)
                limit = int(_read(f"{memory_dir}/memory.limit_in_bytes"))
        except FileNotFoundError as exc:  # it stopped while being read: its cgroup went
            self._forget(info.id)
            raise CgroupNotFound(f"container {info.id}'s cgroup went: {exc}") from exc
        except (KeyError, ValueError, OSError) as exc:  # e.g. not allowed to read them
            self._forget(info.id)
            raise CgroupNotFound(
                f"container {info.id}'s cgroup files are unreadable: {exc}"
            ) from exc
        host_memory = self.host_memory()
        return ContainerStats(
            read=read,
            cpu_total_ns=cpu_ns,
            system_cpu_ns=self.system_cpu_ns(),
            online_cpus=self.online_cpus,
            memory_used_bytes=usage - reclaimable if reclaimable < usage else usage,
            # dockerd reports the host's memory for a container without a limit
            memory_limit_bytes=host_memory if host_memory and limit > host_memory else limit,
        )

    def _locate(self, layout: _Layout, info: ContainerInfo) -> tuple[str, str]:
        """The container's cpu and memory cgroup directories: kept from the last pass while
        its main process is the same, else found again."""
        with self._lock:
            kept = self._located.get(info.id)
        if kept is not None and kept[0] == info.pid:
            return kept[1], kept[2]
        found = self._from_pid(layout, info) if info.pid > 0 else None
        if found is None:
            for relative in driver_paths(info.id, info.cgroup_parent):
                cpu, memory = layout.cpu / relative, layout.memory / relative
                if cpu.is_dir() and memory.is_dir():
                    found = cpu, memory
                    break
        if found is None:
            raise CgroupNotFound(f"container {info.id}'s cgroup is not on this machine")
        located = (info.pid, str(found[0]), str(found[1]))
        with self._lock:
            self._located[info.id] = located
        return located[1], located[2]

    def _forget(self, container_id: str) -> None:
        with self._lock:
            self._located.pop(container_id, None)

    def forget_others(self, keep: Collection[str]) -> None:
        """Forgets where containers not in `keep` were found (they stopped or went)."""
        with self._lock:
            for cid in [c for c in self._located if c not in keep]:
                del self._located[cid]

    def _from_pid(self, layout: _Layout, info: ContainerInfo) -> tuple[Path, Path] | None:
        """From /proc/PID/cgroup (`hierarchy:controllers:path` lines; v2's is `0::path`),
        when the path names the container (a PID can be reused once it has exited)."""
        try:
            lines = (self.proc / str(info.pid) / "cgroup").read_text().splitlines()
        except OSError:
            return None
        paths: dict[str, str] = {}
        for line in lines:
            fields = line.split(":", 2)
            if len(fields) != 3:
                continue
            _, controllers, path = fields
            for controller in controllers.split(",") if controllers else [""]:
                paths.setdefault(controller, path)
        if layout.version == 2:
            cpu_path = memory_path = paths.get("")
        else:
            cpu_path, memory_path = paths.get("cpuacct"), paths.get("memory")
        if not cpu_path or not memory_path:
            return None
        if not all(info.id in p.rsplit("/", 1)[-1] for p in (cpu_path, memory_path)):
            return None
        cpu, memory = layout.cpu / cpu_path.lstrip("/"), layout.memory / memory_path.lstrip("/")
        return (cpu, memory) if cpu.is_dir() and memory.is_dir() else None

    def system_cpu_ns(self) -> int | None:
        """The host's CPU time, as dockerd's system_cpu_usage: /proc/stat's cpu line (user to
        softirq) in nanoseconds; one reading serves the SYSTEM_CPU_REUSE seconds after it."""
        now = time.monotonic()
        kept = self._system
        if kept is not None and now - kept[0] < SYSTEM_CPU_REUSE:
            return kept[1]
        try:
            fields = _read(f"{self.proc}/stat", 256).split("\n", 1)[0].split()
            value: int | None = sum(int(v) for v in fields[1:8]) * _NANO // self._ticks
        except (OSError, ValueError):
            value = None
        self._system = (now, value)
        return value

    def host_memory(self) -> int:
        if self._host_memory is None:
            self._host_memory = 0
            try:
                for line in (self.proc / "meminfo").read_text().splitlines():
                    if line.startswith("MemTotal:"):
                        self._host_memory = int(line.split()[1]) * 1024
            except OSError:
                pass
        return self._host_memory


def _read(path: str, size: int = 8192) -> str:
    """A small kernel file's text, with no more than open, read and close."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, size).decode()
    finally:
        os.close(fd)


def _value(text: str, key: str) -> int | None:
    """The value of `key` in a flat-keyed cgroup file (`key value` lines, as memory.stat and
    cpu.stat are), or None when it has none."""
    lines = "\n" + text
    at = lines.find(f"\n{key} ")
    if at < 0:
        return None
    start = at + len(key) + 2
    end = lines.find("\n", start)
    return int(lines[start:] if end < 0 else lines[start:end])


def _online_cpus() -> int:
    try:
        return int(os.sysconf("SC_NPROCESSORS_ONLN"))
    except (ValueError, OSError, AttributeError):
        return os.cpu_count() or 1


def is_local(url: str) -> bool:
    """Whether an engine URL reaches a dockerd on this machine: a unix socket."""
    return url.startswith("unix://") or url.startswith("/")
