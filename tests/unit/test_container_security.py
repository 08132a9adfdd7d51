"""The container settings real ECS task definitions use (user, read-only root, ulimits, Linux
parameters, volumes and mount points, extra hosts, DNS, PID and IPC modes): ECS's names and
limits, and every hostile value refused with the field named.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller.ecs.models.task_definition import (
    TaskDefinitionSpec,
    check_task_definition,
    start_order,
)
from controller.manifests.loader import pydantic_errors
from tests.support.documents import container


def problems(spec: dict[str, Any]) -> dict[str, str]:
    """Field errors of a TaskDefinition spec: field validation first, then the ECS rules."""
    try:
        model = TaskDefinitionSpec.model_validate(spec)
    except ValidationError as exc:
        return {".".join(map(str, p)): m for p, m in pydantic_errors(exc)}
    return {".".join(map(str, p)) or "(spec)": m for p, m in check_task_definition(model)}


def td(*containers: dict[str, Any], **task: Any) -> dict[str, Any]:
    return {"containerDefinitions": list(containers) or [container()], **task}


def linux(**fields: Any) -> dict[str, Any]:
    return container(linuxParameters=fields)


FULL = td(
    container(
        "app",
        user="1000:1000",
        readonlyRootFilesystem=True,
        privileged=False,
        ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        extraHosts=[{"hostname": "db.internal", "ipAddress": "10.0.0.5"}],
        dnsServers=["10.0.0.53", "fd00::53"],
        mountPoints=[{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}],
        linuxParameters={
            "capabilities": {"add": ["SYS_PTRACE"], "drop": ["ALL"]},
            "initProcessEnabled": True,
            "sharedMemorySize": 128,
            "tmpfs": [
                {"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec", "mode=1777"]}
            ],
            "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]}],
        },
    ),
    container("side", essential=False, volumesFrom=[{"sourceContainer": "app", "readOnly": True}]),
    volumes=[
        {"name": "data"},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
        {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
    ],
    pidMode="task",
)


def test_a_real_task_definition_with_every_new_field_is_valid() -> None:
    assert problems(FULL) == {}
    spec = TaskDefinitionSpec.model_validate(FULL)
    assert spec.to_wire()["containerDefinitions"][0]["readonlyRootFilesystem"] is True
    assert spec.container("app").linux_parameters is not None


@pytest.mark.parametrize(
    "user", ["nginx", "1000", "1000:1000", "www-data:adm", "app:100", "0:www-data", "_svc"]
)
def test_ecs_user_forms_are_accepted(user: str) -> None:
    assert problems(td(container(user=user))) == {}


@pytest.mark.parametrize(
    "user",
    ["", "root\nx", "a;b", "../etc", "a:b:c", "-x", "99999999999", "a b", "$(id)", "1000:"],
)
def test_a_user_that_is_not_one_of_ecs_forms_is_refused(user: str) -> None:
    assert list(problems(td(container(user=user)))) == ["containerDefinitions.0.user"]


@pytest.mark.parametrize(
    "name",
    [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ],
)
def test_every_ecs_ulimit_name_is_accepted(name: str) -> None:
    ulimit = {"name": name, "softLimit": 1, "hardLimit": 2}
    assert problems(td(container(ulimits=[ulimit]))) == {}


@pytest.mark.parametrize(
    ("ulimit", "field"),
    [
        ({"name": "files", "softLimit": 1, "hardLimit": 1}, "ulimits.0.name"),
        ({"name": "NOFILE", "softLimit": 1, "hardLimit": 1}, "ulimits.0.name"),
        ({"name": "nofile", "softLimit": -1, "hardLimit": 1}, "ulimits.0.softLimit"),
        ({"name": "nofile", "softLimit": 1, "hardLimit": 2**31}, "ulimits.0.hardLimit"),
        ({"name": "nofile", "softLimit": 2048, "hardLimit": 1024}, "ulimits.0.softLimit"),
        ({"name": "nofile", "softLimit": "1;2", "hardLimit": 1}, "ulimits.0.softLimit"),
    ],
)
def test_bad_ulimits_are_refused_by_field(ulimit: dict[str, Any], field: str) -> None:
    assert list(problems(td(container(ulimits=[ulimit])))) == [f"containerDefinitions.0.{field}"]


def test_soft_above_hard_and_a_ulimit_twice_say_so() -> None:
    ulimits = [
        {"name": "nofile", "softLimit": 2048, "hardLimit": 1024},
        {"name": "nofile", "softLimit": 1, "hardLimit": 1},
    ]
    assert problems(td(container(ulimits=ulimits))) == {
        "containerDefinitions.0.ulimits.0.softLimit": "softLimit 2048 is greater than "
        "hardLimit 1024",
        "containerDefinitions.0.ulimits.1.name": "ulimit nofile is set twice",
    }


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"hostname": "db\n10.0.0.6 evil", "ipAddress": "10.0.0.5"}, "hostname"),
        ({"hostname": "a;b", "ipAddress": "10.0.0.5"}, "hostname"),
        ({"hostname": "-db", "ipAddress": "10.0.0.5"}, "hostname"),
        ({"hostname": "db..local", "ipAddress": "10.0.0.5"}, "hostname"),
        ({"hostname": "x" * 64, "ipAddress": "10.0.0.5"}, "hostname"),
        ({"hostname": "db", "ipAddress": "10.0.0.256"}, "ipAddress"),
        ({"hostname": "db", "ipAddress": "db.local"}, "ipAddress"),
        ({"hostname": "db", "ipAddress": "10.0.0.5\n"}, "ipAddress"),
        ({"hostname": "db", "ipAddress": "fe80::1%eth0"}, "ipAddress"),
        ({"hostname": "db", "ipAddress": "10.0.0.5:80"}, "ipAddress"),
    ],
)
def test_extra_hosts_need_a_host_name_and_an_ip_literal(entry: dict[str, str], field: str) -> None:
    found = problems(td(container(extraHosts=[entry])))
    assert list(found) == [f"containerDefinitions.0.extraHosts.0.{field}"]


@pytest.mark.parametrize("ip", ["10.0.0.5", "::1", "fd00::53"])
def test_dns_servers_are_ip_literals(ip: str) -> None:
    assert problems(td(container(dnsServers=[ip]))) == {}


@pytest.mark.parametrize("ip", ["dns.google", "8.8.8.8\nnameserver 1.2.3.4", "8.8.8", ";", ""])
def test_a_dns_server_that_is_not_an_ip_literal_is_refused_at_its_index(ip: str) -> None:
    found = problems(td(container(dnsServers=["1.1.1.1", ip])))
    assert list(found) == ["containerDefinitions.0.dnsServers.1"]


@pytest.mark.parametrize("name", ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "ALL", "WAKE_ALARM"])
def test_ecs_capability_names_are_accepted(name: str) -> None:
    assert problems(td(linux(capabilities={"add": [name], "drop": [name]}))) == {}


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("CAP_SYS_ADMIN", "'SYS_ADMIN'"),
        ("sys_admin", "'SYS_ADMIN'"),
        ("SYS_GODMODE", "unknown capability"),
        ("NET_ADMIN\n", "unknown capability"),
        ("all", "'ALL'"),
    ],
)
def test_unknown_capability_names_are_refused_by_index(name: str, hint: str) -> None:
    found = problems(td(linux(capabilities={"add": ["CHOWN", name]})))
    assert list(found) == ["containerDefinitions.0.linuxParameters.capabilities.add.1"]
    assert hint in next(iter(found.values()))


@pytest.mark.parametrize(
    ("tmpfs", "field"),
    [
        ({"containerPath": "tmp", "size": 64}, "containerPath"),
        ({"containerPath": "/a/../../etc", "size": 64}, "containerPath"),
        ({"containerPath": "/tmp;rm", "size": 64}, "containerPath"),
        ({"containerPath": "/tmp\n", "size": 64}, "containerPath"),
        ({"containerPath": "/", "size": 64}, "containerPath"),
        ({"containerPath": "/tmp", "size": 0}, "size"),
        ({"containerPath": "/tmp", "size": 2**40}, "size"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["exec,suid"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["size=10g"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["mode=777,dev"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["mode"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["uid=x"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["NOEXEC"]}, "mountOptions.0"),
        ({"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec\n"]}, "mountOptions.0"),
    ],
)
def test_bad_tmpfs_mounts_are_refused_by_field(tmpfs: dict[str, Any], field: str) -> None:
    found = problems(td(linux(tmpfs=[tmpfs])))
    assert list(found) == [f"containerDefinitions.0.linuxParameters.tmpfs.0.{field}"]


def test_ecs_tmpfs_mount_options_are_accepted() -> None:
    options = ["defaults", "ro", "noexec", "nosuid", "nodev", "mode=1777", "uid=1000", "gid=0"]
    options += ["nr_inodes=10k", "nr_blocks=100", "mpol=bind:0-1", "noatime", "rprivate"]
    tmpfs = {"containerPath": "/t", "size": 1, "mountOptions": options}
    assert problems(td(linux(tmpfs=[tmpfs]))) == {}


@pytest.mark.parametrize(
    ("device", "field"),
    [
        ({"hostPath": "dev/fuse"}, "hostPath"),
        ({"hostPath": "/dev/../etc/shadow"}, "hostPath"),
        ({"hostPath": "/dev/fuse:/x:rwm"}, "hostPath"),
        ({"hostPath": "/"}, "hostPath"),
        ({"hostPath": "/dev/fuse", "containerPath": "fuse"}, "containerPath"),
        ({"hostPath": "/dev/fuse", "permissions": ["rwm"]}, "permissions.0"),
        ({"hostPath": "/dev/fuse", "permissions": ["execute"]}, "permissions.0"),
    ],
)
def test_bad_devices_are_refused_by_field(device: dict[str, Any], field: str) -> None:
    found = problems(td(linux(devices=[device])))
    assert list(found) == [f"containerDefinitions.0.linuxParameters.devices.0.{field}"]


@pytest.mark.parametrize(
    ("size", "ok"), [(1, True), (1024 * 1024, True), (0, False), (2**31, False)]
)
def test_shared_memory_size_is_bounded(size: int, ok: bool) -> None:
    assert (problems(td(linux(sharedMemorySize=size))) == {}) is ok


def test_shared_memory_size_needs_the_container_s_own_ipc_namespace() -> None:
    found = problems(td(linux(sharedMemorySize=64), ipcMode="host"))
    assert list(found) == ["containerDefinitions.0.linuxParameters.sharedMemorySize"]
    assert "ipcMode host" in found["containerDefinitions.0.linuxParameters.sharedMemorySize"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("pidMode", "container"), ("pidMode", "HOST"), ("ipcMode", "shareable"), ("ipcMode", "")],
)
def test_pid_and_ipc_modes_are_ecs_values(field: str, value: str) -> None:
    assert list(problems(td(**{field: value}))) == [field]


@pytest.mark.parametrize(
    ("volume", "field"),
    [
        ({"name": "a b"}, "volumes.0.name"),
        ({"name": "../x"}, "volumes.0.name"),
        ({"name": "x" * 256}, "volumes.0.name"),
        ({"name": "v", "host": {"sourcePath": "relative/dir"}}, "volumes.0.host.sourcePath"),
        ({"name": "v", "host": {"sourcePath": "/srv/../etc"}}, "volumes.0.host.sourcePath"),
        ({"name": "v", "host": {"sourcePath": "/srv:/etc"}}, "volumes.0.host.sourcePath"),
        ({"name": "v", "host": {"sourcePath": "/srv\n"}}, "volumes.0.host.sourcePath"),
        (
            {"name": "v", "dockerVolumeConfiguration": {"scope": "cluster"}},
            "volumes.0.dockerVolumeConfiguration.scope",
        ),
        (
            {"name": "v", "dockerVolumeConfiguration": {"driver": "local;rm"}},
            "volumes.0.dockerVolumeConfiguration.driver",
        ),
        (
            {"name": "v", "dockerVolumeConfiguration": {"driverOpts": {"o": "size=1\nx"}}},
            "volumes.0.dockerVolumeConfiguration.driverOpts",
        ),
        (
            {"name": "v", "dockerVolumeConfiguration": {"labels": {"skiff.task": "x"}}},
            "volumes.0.dockerVolumeConfiguration.labels",
        ),
        (
            {"name": "v", "dockerVolumeConfiguration": {"autoprovision": True}},
            "volumes.0.dockerVolumeConfiguration.autoprovision",
        ),
        (
            {"name": "_v", "dockerVolumeConfiguration": {"scope": "shared"}},
            "volumes.0.name",
        ),
        (
            {"name": "v", "host": {}, "dockerVolumeConfiguration": {}},
            "volumes.0",
        ),
    ],
)
def test_bad_volumes_are_refused_by_field(volume: dict[str, Any], field: str) -> None:
    assert list(problems(td(volumes=[volume]))) == [field]


def test_volume_names_are_unique() -> None:
    found = problems(td(volumes=[{"name": "v"}, {"name": "v"}]))
    assert found == {"volumes.1.name": "duplicate volume name 'v'"}


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        ({"sourceVolume": "nope", "containerPath": "/data"}, "sourceVolume"),
        ({"sourceVolume": "data", "containerPath": "data"}, "containerPath"),
        ({"sourceVolume": "data", "containerPath": "/data/.."}, "containerPath"),
        ({"sourceVolume": "data", "containerPath": "/"}, "containerPath"),
        ({"sourceVolume": "data", "containerPath": "/da ta"}, "containerPath"),
    ],
)
def test_mount_points_name_a_volume_and_an_absolute_path(mount: dict[str, Any], field: str) -> None:
    spec = td(container(mountPoints=[mount]), volumes=[{"name": "data"}])
    assert list(problems(spec)) == [f"containerDefinitions.0.mountPoints.0.{field}"]


def test_two_mounts_on_one_path_are_refused() -> None:
    spec = td(
        container(
            mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}],
            linuxParameters={"tmpfs": [{"containerPath": "/data/", "size": 1}]},
        ),
        volumes=[{"name": "data"}],
    )
    assert problems(spec) == {
        "containerDefinitions.0.linuxParameters.tmpfs.0.containerPath": "/data/ is also "
        "mountPoints.0's mount"
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ghost", "no container named 'ghost' in this task definition"),
        ("app", "a container cannot take volumes from itself"),
    ],
)
def test_volumes_from_names_another_container_of_the_task(source: str, message: str) -> None:
    spec = td(container("app", volumesFrom=[{"sourceContainer": source}]))
    assert problems(spec) == {"containerDefinitions.0.volumesFrom.0.sourceContainer": message}


def test_volumes_from_orders_creation_and_a_cycle_through_it_is_refused() -> None:
    spec = td(
        container("reader", volumesFrom=[{"sourceContainer": "writer"}]),
        container("writer"),
    )
    assert start_order(TaskDefinitionSpec.model_validate(spec)) == ["writer", "reader"]
    cyclic = td(
        container("a", volumesFrom=[{"sourceContainer": "b"}]),
        container("b", dependsOn=[{"containerName": "a", "condition": "START"}]),
    )
    found = problems(cyclic)
    assert list(found) == ["containerDefinitions"]
    assert "volumesFrom" in found["containerDefinitions"]


@pytest.mark.parametrize("field", ["extraHosts", "dnsServers"])
def test_extra_hosts_and_dns_servers_are_not_for_awsvpc(field: str) -> None:
    value = [{"hostname": "db", "ipAddress": "10.0.0.5"}] if field == "extraHosts" else ["1.1.1.1"]
    found = problems(td(container(**{field: value}), networkMode="awsvpc"))
    assert found == {
        f"containerDefinitions.0.{field}": f"{field} is not supported with networkMode awsvpc"
    }


def test_a_definition_without_the_new_fields_keeps_its_revision_hash() -> None:
    """Revisions are hashed without defaults: adding fields re-registers nothing."""
    from controller.ecs.planners.task_definition import canonical

    spec = TaskDefinitionSpec.model_validate(td(container()))
    assert canonical(spec) == {
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]
    }
