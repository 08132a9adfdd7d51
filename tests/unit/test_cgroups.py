"""The cgroup reader on fake cgroup trees: v1 (cpu and cpuacct mounted together or apart) and v2,
the cgroupfs and systemd drivers, a container found by its process or by Docker's naming, and
the figures `docker stats` gives (working set without the inactive file cache, the host's memory
for a container without a limit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.runtime.cgroups import CgroupNotFound, CgroupReader, driver_paths, is_local
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import Conflict
from controller.runtime.types import ContainerInfo
from tests.support.builders import FakeClock
from tests.support.cgroup_tree import CID, HOST_MEMORY, MIB, Tree


def info(pid: int = 0, parent: str = "", state: str = "running", cid: str = CID) -> ContainerInfo:
    return ContainerInfo(cid, "web-1", {}, "busybox", state, pid=pid, cgroup_parent=parent)


def test_v2_systemd_driver_figures_are_those_docker_stats_gives(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 2)
    tree.container(
        f"system.slice/docker-{CID}.scope",
        cpu_ns=3_000_000_000,
        usage=80 * MIB,
        inactive_file=30 * MIB,
    )
    clock = FakeClock(1000.0)
    stats = tree.reader(clock).stats(info())
    assert stats.read == 1000.0
    assert stats.cpu_total_ns == 3_000_000_000
    assert stats.memory_used_bytes == 50 * MIB  # inactive file cache is not use
    assert stats.memory_limit_bytes == HOST_MEMORY  # no limit: the host's memory, as dockerd
    assert stats.online_cpus == 2
    assert stats.system_cpu_ns == 1150 * 1_000_000_000 // 100


def test_v2_cgroupfs_engine_with_its_own_parent_is_found_by_the_container_process(
    tmp_path: Path,
) -> None:
    """A second dockerd on the machine (--cgroup-parent /engine-b): its process says where."""
    tree = Tree(tmp_path, 2)
    tree.container(f"engine-b/{CID}", cpu_ns=7_000_000, usage=10 * MIB, limit=64 * MIB)
    tree.process(4242, f"engine-b/{CID}")
    stats = tree.reader().stats(info(pid=4242))
    assert (stats.cpu_total_ns, stats.memory_used_bytes) == (7_000_000, 10 * MIB)
    assert memory_percent(stats) == pytest.approx(100 * 10 / 64)
    with pytest.raises(CgroupNotFound):  # without its process, Docker's default naming misses
        tree.reader().stats(info(pid=0))


@pytest.mark.parametrize("combined", [True, False], ids=["cpu,cpuacct", "cpuacct apart"])
def test_v1_systemd_driver_with_a_parent_slice(tmp_path: Path, combined: bool) -> None:
    tree = Tree(tmp_path, 1, combined=combined)
    relative = f"skiff.slice/skiff-tasks.slice/docker-{CID}.scope"
    assert driver_paths(CID, "skiff-tasks.slice")[1] == relative
    tree.container(relative, cpu_ns=123, usage=40 * MIB, inactive_file=8 * MIB, limit=128 * MIB)
    stats = tree.reader().stats(info(parent="skiff-tasks.slice"))
    assert stats.cpu_total_ns == 123
    assert stats.memory_used_bytes == 32 * MIB  # v1: total_inactive_file, not all the cache
    assert stats.memory_limit_bytes == 128 * MIB


def test_v1_cgroupfs_driver_by_process_and_by_name(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 1)
    tree.container(f"docker/{CID}", cpu_ns=5, usage=20 * MIB, inactive_file=MIB)
    tree.process(77, f"docker/{CID}")
    by_process, by_name = tree.reader().stats(info(pid=77)), tree.reader().stats(info())
    assert by_process.memory_used_bytes == by_name.memory_used_bytes == 19 * MIB
    assert by_process.memory_limit_bytes == HOST_MEMORY  # v1's "unlimited": the host's memory


def test_a_reused_pid_is_not_taken_for_the_container(tmp_path: Path) -> None:
    """Its process exited and the PID went to another container: Docker's naming is used."""
    other = "ab" * 32
    tree = Tree(tmp_path, 2)
    tree.container(f"docker/{other}", usage=500 * MIB)
    tree.container(f"docker/{CID}", usage=3 * MIB)
    tree.process(99, f"docker/{other}")
    assert tree.reader().stats(info(pid=99)).memory_used_bytes == 3 * MIB


def test_cpu_utilisation_from_two_readings(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 2)
    clock = FakeClock(0.0)
    reader = tree.reader(clock)
    tree.container(f"docker/{CID}", cpu_ns=1_000_000_000)
    first = reader.stats(info())
    clock.advance(10)
    tree.container(f"docker/{CID}", cpu_ns=6_000_000_000)  # 5 s of CPU in 10 s
    second = reader.stats(info())
    assert cpu_percent(first, second, 1.0) == pytest.approx(50.0)
    assert cpu_percent(first, second, None) == pytest.approx(25.0)  # of the host's 2 CPUs


def test_a_stopped_or_vanished_container_has_no_reading(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 2)
    with pytest.raises(Conflict, match="not running"):
        tree.reader().stats(info(state="exited"))
    with pytest.raises(CgroupNotFound):
        tree.reader().stats(info())
    tree.container(f"docker/{CID}")
    (tmp_path / "cgroup" / "docker" / CID / "memory.current").unlink()  # it stopped mid-read
    with pytest.raises(CgroupNotFound, match="went"):
        tree.reader().stats(info())


def test_a_machine_without_cgroups_has_no_reader(tmp_path: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mounts").write_text("proc /proc proc rw 0 0\n")
    assert not CgroupReader(tmp_path / "none", tmp_path / "proc").available


def test_only_engines_on_this_machine_are_read_from_cgroups() -> None:
    assert is_local("unix:///var/run/docker.sock")
    assert is_local("unix:///run/engine-b/docker.sock")  # several dockerds here: all local
    assert not is_local("tcp://127.0.0.1:2376")
    assert not is_local("ssh://deploy@127.0.0.1")
    remote = DockerRuntime("tcp://127.0.0.1:1")  # never connected: no call is made
    try:
        assert remote.cgroups() is None
    finally:
        remote.close()


def test_a_process_file_it_cannot_parse_falls_back_to_dockers_naming(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 2)
    tree.container(f"docker/{CID}", usage=3 * MIB)
    (tmp_path / "proc" / "12").mkdir()
    (tmp_path / "proc" / "12" / "cgroup").write_text("garbage\n\n")
    assert tree.reader().stats(info(pid=12)).memory_used_bytes == 3 * MIB


def test_a_container_is_found_again_once_its_process_changed(tmp_path: Path) -> None:
    """Where a container's cgroup is stays known from pass to pass while its process is the
    same; a restart (another process, another cgroup) is looked up again, not read stale."""
    tree = Tree(tmp_path, 2)
    tree.container(f"engine-b/{CID}", cpu_ns=1_000, usage=10 * MIB)
    tree.process(4242, f"engine-b/{CID}")
    reader = tree.reader()
    assert reader.stats(info(pid=4242)).cpu_total_ns == 1_000
    tree.container(f"engine-c/{CID}", cpu_ns=2_000, usage=20 * MIB)
    tree.process(5353, f"engine-c/{CID}")
    assert reader.stats(info(pid=4242)).cpu_total_ns == 1_000  # the same process: kept
    assert reader.stats(info(pid=5353)).cpu_total_ns == 2_000  # restarted: found again


def test_a_kept_location_whose_cgroup_went_is_not_read_stale(tmp_path: Path) -> None:
    tree = Tree(tmp_path, 2)
    relative = f"system.slice/docker-{CID}.scope"
    tree.container(relative, cpu_ns=5_000, usage=MIB)
    reader = tree.reader()
    assert reader.stats(info()).cpu_total_ns == 5_000
    shutil.rmtree(tree.root / relative)  # it stopped between the list and the read
    with pytest.raises(CgroupNotFound):
        reader.stats(info())
