"""Each new container setting reaches the container Docker creates: task definitions through
the container specs and the executor, Batch attempts and instances through theirs; task
volumes are created with Skiff's labels and go with their task (scope task) or stay (shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from controller.batch.sync.containers import JOB_LABEL
from controller.core import labels as L
from controller.core.instances.instance import instance_container
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.ecs.planners.task_containers import (
    TaskIdentity,
    container_specs,
    pause_spec,
    task_volumes,
)
from controller.manifests.launch_template_data import LaunchTemplateData
from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.types import (
    ContainerSpec,
    DeviceSpec,
    MountSpec,
    TmpfsSpec,
    UlimitSpec,
)
from tests.support.documents import container, dump, service_doc, td_doc
from tests.support.harness import Harness
from tests.unit.test_batch_engine import batch_docs, job, run, send

IDENT = TaskIdentity("default", "Service", "web", "0123456789abcdef", "web:1", "h")


def td(**task: Any) -> TaskDefinitionSpec:
    return TaskDefinitionSpec.model_validate(task)


RICH = td(
    volumes=[
        {"name": "data"},
        {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
        {"name": "seed", "dockerVolumeConfiguration": {"scope": "shared"}},
        {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
        {"name": "unused"},
        {
            "name": "fast",
            "dockerVolumeConfiguration": {
                "driverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"},
                "labels": {"team": "shop"},
            },
        },
    ],
    containerDefinitions=[
        {
            "name": "app",
            "image": "skiff/busybox:latest",
            "memory": 64,
            "user": "1000:1000",
            "readonlyRootFilesystem": True,
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "extraHosts": [{"hostname": "db.internal", "ipAddress": "10.0.0.5"}],
            "dnsServers": ["10.0.0.53"],
            "mountPoints": [
                {"sourceVolume": "data", "containerPath": "/data"},
                {"sourceVolume": "cache", "containerPath": "/cache", "readOnly": True},
                {"sourceVolume": "seed", "containerPath": "/seed"},
                {"sourceVolume": "logs", "containerPath": "/logs"},
                {"sourceVolume": "fast", "containerPath": "/fast"},
            ],
            "linuxParameters": {
                "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                "initProcessEnabled": True,
                "sharedMemorySize": 128,
                "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec"]}],
                "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "mknod"]}],
            },
        },
        {
            "name": "reader",
            "image": "skiff/busybox:latest",
            "memory": 16,
            "essential": False,
            "privileged": True,
            "volumesFrom": [{"sourceContainer": "app", "readOnly": True}],
        },
    ],
)


def test_every_container_setting_reaches_the_container_spec() -> None:
    app, reader = container_specs(IDENT, RICH)
    assert app.name == "skiff-web-app-0123456789ab"
    assert (app.user, app.read_only_rootfs, app.privileged) == ("1000:1000", True, False)
    assert app.ulimits == (UlimitSpec("nofile", 1024, 4096),)
    assert app.extra_hosts == (("db.internal", "10.0.0.5"),)
    assert app.dns == ("10.0.0.53",)
    assert (app.cap_add, app.cap_drop) == (("NET_BIND_SERVICE",), ("ALL",))
    assert (app.init, app.shm_size_mib) == (True, 128)
    assert app.tmpfs == (TmpfsSpec("/tmp", 64, ("noexec",)),)
    assert app.devices == (DeviceSpec("/dev/fuse", "/dev/fuse", "rm"),)
    assert app.mounts == (
        MountSpec("skiff-web-0123456789ab-data", "/data"),
        MountSpec("cache", "/cache", read_only=True),
        MountSpec("seed", "/seed"),
        MountSpec("/var/log/app", "/logs", bind=True),
        MountSpec("skiff-web-0123456789ab-fast", "/fast"),
    )
    assert reader.privileged
    assert reader.volumes_from == (("skiff-web-app-0123456789ab", True),)
    assert (app.pid_mode, app.ipc_mode) == (None, None)


def test_task_volumes_are_created_with_skiff_s_labels_and_only_when_mounted() -> None:
    volumes = task_volumes(IDENT, RICH)
    assert [v.name for v in volumes.create] == [
        "skiff-web-0123456789ab-data",
        "cache",
        "skiff-web-0123456789ab-fast",
    ]
    assert volumes.must_exist == ("seed",)
    assert volumes.scoped == ("skiff-web-0123456789ab-data", "skiff-web-0123456789ab-fast")
    data, cache, fast = volumes.create
    assert data.labels == {
        **L.ownership("default", "Service", "web"),
        L.SCOPE: "task",
        L.TASK: IDENT.task_id,
    }
    assert cache.labels == {**L.selector("default"), L.SCOPE: "shared"}
    assert (fast.driver, fast.driver_opts) == (
        "local",
        {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"},
    )
    assert fast.labels["team"] == "shop"
    (app, _) = container_specs(IDENT, RICH)
    assert L.volumes_of(app.labels) == list(volumes.scoped)


@pytest.mark.parametrize(
    ("modes", "pid", "ipc", "pause_ipc"),
    [
        ({"pidMode": "task"}, "container:P", None, None),
        ({"ipcMode": "task"}, None, "container:P", "shareable"),
        ({"pidMode": "host", "ipcMode": "none"}, "host", "none", None),
    ],
)
def test_pid_and_ipc_modes_share_the_task_sandbox_s_namespaces(
    modes: dict[str, str], pid: str | None, ipc: str | None, pause_ipc: str | None
) -> None:
    spec = td(containerDefinitions=[{"name": "app", "image": "i", "memory": 8}], **modes)
    sandbox = "task" in modes.values()
    if sandbox:
        with pytest.raises(ValueError):
            container_specs(IDENT, spec)
        pause = pause_spec(IDENT, spec, None)
        assert (pause.network_mode, pause.ports, pause.ipc_mode) == ("none", (), pause_ipc)
    (app,) = container_specs(IDENT, spec, "P" if sandbox else None)
    assert (app.pid_mode, app.ipc_mode, app.network_mode) == (pid, ipc, "bridge")


def task_manifest(autoprovision: bool = True) -> str:
    """Service web of one task: an `app` container with most task-level settings (a task pid
    namespace, a task volume and a shared one, user, read-only root, ulimits, hosts, tmpfs) and
    a `reader` taking its volumes."""
    cache = {"scope": "shared", "labels": {"team": "shop"}}
    if autoprovision:
        cache["autoprovision"] = True
    app = container(
        "app",
        image="skiff/busybox:latest",
        user="nobody",
        readonlyRootFilesystem=True,
        ulimits=[{"name": "nproc", "softLimit": 64, "hardLimit": 128}],
        extraHosts=[{"hostname": "db", "ipAddress": "10.0.0.5"}],
        mountPoints=[
            {"sourceVolume": "data", "containerPath": "/data"},
            {"sourceVolume": "cache", "containerPath": "/cache"},
        ],
        linuxParameters={
            "capabilities": {"drop": ["NET_RAW"]},
            "tmpfs": [
                {"containerPath": "/tmp", "size": 16, "mountOptions": ["nosuid", "mode=1777"]}
            ],
        },
    )
    reader = container(
        "reader",
        image="skiff/busybox:latest",
        memory=16,
        volumesFrom=[{"sourceContainer": "app"}],
    )
    return dump(
        td_doc(
            "web",
            pidMode="task",
            volumes=[{"name": "data"}, {"name": "cache", "dockerVolumeConfiguration": cache}],
            containerDefinitions=[app, reader],
        ),
        service_doc("web", desiredCount=1),
    )


def test_the_executor_creates_volumes_then_containers_with_their_settings(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", task_manifest())
    by_role = {c.labels[L.CONTAINER]: c for c in h.running()}
    assert set(by_role) == {L.PAUSE_CONTAINER, "app", "reader"}
    pause = by_role[L.PAUSE_CONTAINER]
    app = h.fake.specs[by_role["app"].id]
    assert (app.user, app.read_only_rootfs, app.cap_drop) == ("nobody", True, ("NET_RAW",))
    assert app.ulimits == (UlimitSpec("nproc", 64, 128),)
    assert app.extra_hosts == (("db", "10.0.0.5"),)
    assert app.tmpfs == (TmpfsSpec("/tmp", 16, ("nosuid", "mode=1777")),)
    assert app.pid_mode == f"container:{pause.id}"
    task = by_role["app"].labels[L.TASK]
    scoped = f"skiff-web-{task[:12]}-data"
    assert app.mounts == (MountSpec(scoped, "/data"), MountSpec("cache", "/cache"))
    reader = h.fake.specs[by_role["reader"].id]
    assert reader.volumes_from == ((by_role["app"].name, False),)
    assert h.fake.volumes == {scoped, "cache"}
    assert h.fake.volume_specs[scoped].labels[L.TASK] == task
    assert h.fake.volume_specs["cache"].labels["team"] == "shop"
    writes = [op for op, _ in h.fake.writes()]
    assert writes.index("create_volume") < writes.index("create")

    h.apply("web.yaml", "")  # the service and its task go: the task's volume with them
    assert h.running() == []
    assert h.fake.volumes == {"cache"}
    assert ("remove_volume", scoped) in h.fake.calls


def test_a_shared_volume_without_autoprovision_must_exist(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", task_manifest(autoprovision=False))
    assert h.running() == []
    assert [op for op, _ in h.fake.writes()] == []
    st = h.status()
    assert st["status"] == "ERROR"
    assert "shared volume cache does not exist and autoprovision is false" in str(st["message"])
    h.fake.volumes.add("cache")  # `docker volume create cache`
    h.converge()
    assert len(h.running()) == 3
    assert "create_volume" not in [op for op, name in h.fake.writes() if name == "cache"]


def test_an_instance_gets_its_template_s_privileged_and_linux_parameters() -> None:
    data = LaunchTemplateData.model_validate(
        {
            "imageId": "skiff/busybox:latest",
            "rootVolume": {"type": "instance-store", "mountPath": "/scratch"},
            "privileged": True,
            "linuxParameters": {
                "capabilities": {"add": ["NET_ADMIN"]},
                "initProcessEnabled": True,
                "sharedMemorySize": 32,
                "tmpfs": [{"containerPath": "/run", "size": 8}],
                "devices": [{"hostPath": "/dev/net/tun"}],
            },
        }
    )
    spec = instance_container("default", "Instance", "db", "i-1", "db:1", data)
    assert spec.privileged and spec.init and spec.shm_size_mib == 32
    assert spec.cap_add == ("NET_ADMIN",)
    assert spec.tmpfs == (TmpfsSpec("/scratch"), TmpfsSpec("/run", 8))
    assert spec.devices == (DeviceSpec("/dev/net/tun", "/dev/net/tun", "rwm"),)


def test_a_batch_attempt_gets_its_settings_and_its_volume_goes_with_it(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    manifests = dump(
        *batch_docs(
            user="1000",
            readonlyRootFilesystem=True,
            ulimits=[{"name": "nofile", "softLimit": 10, "hardLimit": 20}],
            volumes=[{"name": "scratch"}],
            mountPoints=[{"sourceVolume": "scratch", "containerPath": "/scratch"}],
            linuxParameters={
                "initProcessEnabled": True,
                "tmpfs": [{"containerPath": "/tmp", "size": 4}],
            },
        )
    )
    h.write("batch.yaml", manifests)
    h.load()
    h.converge()
    (jid,) = send(h)
    run(h)
    run(h)
    (c,) = [c for c in h.fake.containers.values() if c.labels.get(JOB_LABEL) == jid]
    made = h.fake.specs[c.id]
    assert (made.user, made.read_only_rootfs, made.init) == ("1000", True, True)
    assert made.ulimits == (UlimitSpec("nofile", 10, 20),)
    assert made.tmpfs == (TmpfsSpec("/tmp", 4),)
    (volume,) = L.volumes_of(made.labels)
    assert made.mounts == (MountSpec(volume, "/scratch"),)
    assert volume in h.fake.volumes and h.fake.volume_specs[volume].labels[JOB_LABEL] == jid
    h.fake.exit(c.id, 0)
    run(h)
    run(h)
    assert job(h, jid).status == "SUCCEEDED"
    assert c.id not in h.fake.containers and volume not in h.fake.volumes


class _Recorder(docker.APIClient):  # type: ignore[misc]
    """An API client that records the container it would create, and talks to no engine."""

    created: dict[str, Any]

    def create_container(self, **kwargs: Any) -> dict[str, str]:
        self.created = kwargs
        return {"Id": "c1"}


def test_the_docker_backend_puts_each_setting_in_its_own_host_config_field() -> None:
    backend = DockerRuntime.__new__(DockerRuntime)
    backend._api = _Recorder(base_url="unix:///nonexistent.sock", version="1.41")
    spec = ContainerSpec(
        name="c",
        image="i",
        labels={},
        user="1000:1000",
        read_only_rootfs=True,
        privileged=True,
        cap_add=("SYS_PTRACE",),
        cap_drop=("ALL",),
        devices=(DeviceSpec("/dev/fuse", "/dev/fuse", "rw"),),
        ulimits=(UlimitSpec("nofile", 1024, 4096),),
        extra_hosts=(("db", "10.0.0.5"), ("v6", "fd00::1")),
        dns=("10.0.0.53",),
        init=True,
        shm_size_mib=128,
        tmpfs=(TmpfsSpec("/tmp", 64, ("noexec", "mode=1777")), TmpfsSpec("/run")),
        volumes=(("root-vol", "/data"),),
        mounts=(MountSpec("v", "/v", read_only=True), MountSpec("/srv", "/srv", bind=True)),
        volumes_from=(("other", True),),
        pid_mode="container:p",
        ipc_mode="container:p",
    )
    assert backend.create(spec) == "c1"
    created = backend._api.created
    host = created["host_config"]
    assert created["user"] == "1000:1000"
    assert {k: host[k] for k in ("ReadonlyRootfs", "Privileged", "CapAdd", "CapDrop")} == {
        "ReadonlyRootfs": True,
        "Privileged": True,
        "CapAdd": ["SYS_PTRACE"],
        "CapDrop": ["ALL"],
    }
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}
    ]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 4096}]
    assert host["ExtraHosts"] == ["db:10.0.0.5", "v6:fd00::1"]
    assert host["Dns"] == ["10.0.0.53"]
    assert (host["Init"], host["ShmSize"]) == (True, 128 * 1024 * 1024)
    assert host["Tmpfs"] == {"/tmp": "size=64m,noexec,mode=1777", "/run": ""}
    assert host["Binds"] == ["root-vol:/data:rw", "v:/v:ro", "/srv:/srv:rw"]
    assert host["VolumesFrom"] == ["other:ro"]
    assert (host["PidMode"], host["IpcMode"]) == ("container:p", "container:p")
