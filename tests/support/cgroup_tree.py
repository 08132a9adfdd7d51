"""A fake cgroup tree (v1 or v2) and /proc under a test's tmp_path, for the cgroup reader."""

from __future__ import annotations

from pathlib import Path

from controller.runtime.cgroups import CgroupReader
from tests.support.builders import FakeClock

MIB = 1024 * 1024
HOST_MEMORY = 4096 * MIB
CID = "c0ffee" * 10 + "abcd"
V1_UNLIMITED = 9223372036854771712


class Tree:
    """A fake /sys/fs/cgroup and /proc under tmp_path."""

    def __init__(self, tmp: Path, version: int, combined: bool = False) -> None:
        self.version, self.root, self.proc = version, tmp / "cgroup", tmp / "proc"
        self.root.mkdir()
        (self.proc / "self").mkdir(parents=True)
        (self.proc / "stat").write_text("cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
        (self.proc / "meminfo").write_text(f"MemTotal:       {HOST_MEMORY // 1024} kB\n")
        lines = []
        if version == 2:
            (self.root / "cgroup.controllers").write_text("cpu memory pids\n")
        else:
            cpu = "cpu,cpuacct" if combined else "cpuacct"
            self.cpu_dir, self.memory_dir = self.root / cpu, self.root / "memory"
            lines = [
                f"cgroup {self.root / cpu} cgroup rw,nosuid,nodev,noexec,relatime,{cpu} 0 0",
                f"cgroup {self.memory_dir} cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0",
                f"cgroup2 {self.root / 'unified'} cgroup2 rw,nosuid,nodev,noexec,relatime 0 0",
            ]
            if not combined:
                lines.append(f"cgroup {self.root / 'cpu'} cgroup rw,relatime,cpu 0 0")
        (self.proc / "self" / "mounts").write_text("\n".join(["proc /proc proc rw 0 0", *lines]))

    def container(
        self,
        relative: str,
        *,
        cpu_ns: int = 0,
        usage: int = 0,
        inactive_file: int = 0,
        limit: int | None = None,
    ) -> None:
        """The cgroup of a container at `relative` (to each hierarchy's root)."""
        if self.version == 2:
            d = self.root / relative
            d.mkdir(parents=True, exist_ok=True)
            (d / "cpu.stat").write_text(
                f"usage_usec {cpu_ns // 1000}\nuser_usec 1\nsystem_usec 2\n"
            )
            (d / "memory.current").write_text(f"{usage}\n")
            (d / "memory.stat").write_text(f"anon 4096\nfile 8192\ninactive_file {inactive_file}\n")
            (d / "memory.max").write_text("max\n" if limit is None else f"{limit}\n")
        else:
            c, m = self.cpu_dir / relative, self.memory_dir / relative
            c.mkdir(parents=True, exist_ok=True)
            m.mkdir(parents=True, exist_ok=True)
            (c / "cpuacct.usage").write_text(f"{cpu_ns}\n")
            (m / "memory.usage_in_bytes").write_text(f"{usage}\n")
            (m / "memory.stat").write_text(
                f"cache 999999\ninactive_file 5\ntotal_cache 999999\n"
                f"total_inactive_file {inactive_file}\n"
            )
            (m / "memory.limit_in_bytes").write_text(f"{limit or V1_UNLIMITED}\n")

    def process(self, pid: int, relative: str) -> None:
        """/proc/PID/cgroup of a process in `relative`."""
        d = self.proc / str(pid)
        d.mkdir()
        if self.version == 2:
            text = f"0::/{relative}\n"
        else:
            text = "".join(
                f"{i}:{c}:/{relative}\n"
                for i, c in enumerate(("name=systemd", "memory", "cpu,cpuacct", "pids"))
            )
        (d / "cgroup").write_text(text)

    def reader(self, clock: FakeClock | None = None) -> CgroupReader:
        return CgroupReader(self.root, self.proc, clock=clock or FakeClock(), online_cpus=2)
