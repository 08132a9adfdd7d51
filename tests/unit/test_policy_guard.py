"""Defence in depth: whatever spec the engine holds (one restored from the store after a
restart with fewer --allow flags), no container is created with a privilege the running
daemon's policy did not grant; the status says why, and running containers are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.batch.sync.containers import JOB_LABEL
from controller.core.policy_guard import GuardedRuntime, container_needs
from controller.manifests.policy import BASELINE, Policy
from controller.runtime import PolicyRefused
from controller.runtime.fake import FakeRuntime
from controller.runtime.types import ContainerSpec, DeviceSpec, MountSpec, VolumeSpec
from controller.store import Store
from tests.support.builders import FakeClock
from tests.support.documents import (
    container,
    dump,
    instance_doc,
    launch_template_doc,
    service_doc,
    td_doc,
)
from tests.support.harness import Harness
from tests.unit.test_batch_engine import batch_docs, job, run, send

BUSYBOX = "skiff/busybox:latest"
PRIVILEGED = dump(
    td_doc("web", containerDefinitions=[container("app", image=BUSYBOX, privileged=True)]),
    service_doc("web", desiredCount=1),
)


def spec(**fields: object) -> ContainerSpec:
    return ContainerSpec(name="c", image="skiff/busybox:latest", labels={}, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"privileged": True}, "privileged"),
        ({"network_mode": "host"}, "host-network"),
        ({"pid_mode": "host"}, "host-pid"),
        ({"ipc_mode": "host"}, "host-ipc"),
        ({"mounts": (MountSpec("/etc", "/host-etc", bind=True),)}, "host-path:/etc"),
        ({"devices": (DeviceSpec("/dev/mem", "/dev/mem"),)}, "devices"),
        ({"cap_add": ("SYS_ADMIN",)}, "capability:SYS_ADMIN"),
        ({"cap_add": ("ALL",)}, "capabilities"),
    ],
)
def test_a_container_spec_asking_for_a_privilege_is_refused_at_create(
    fields: dict[str, object], flag: str
) -> None:
    fake = FakeRuntime()
    guarded = GuardedRuntime(fake, BASELINE)
    with pytest.raises(PolicyRefused) as exc:
        guarded.create(spec(**fields))
    assert not exc.value.transient  # terminal: retrying cannot help
    assert str(exc.value).startswith("container c: ")
    assert str(exc.value).endswith(f"(start it with --allow {flag})")
    assert fake.writes() == []  # nothing reached Docker
    GuardedRuntime(fake, Policy.parse([flag])).create(spec(**fields))
    assert [op for op, _ in fake.writes()] == ["create"]


def test_ordinary_specs_pass_the_guard() -> None:
    ordinary = spec(
        network_mode="bridge",
        pid_mode="container:abc",
        ipc_mode="shareable",
        mounts=(MountSpec("skiff-vol", "/data"),),
        cap_add=("CHOWN", "NET_BIND_SERVICE"),
        cap_drop=("ALL",),
        user="1000",
        read_only_rootfs=True,
    )
    assert container_needs(ordinary) == []
    fake = FakeRuntime()
    GuardedRuntime(fake, BASELINE).create(ordinary)
    assert len(fake.containers) == 1


def test_a_volume_bound_to_the_host_is_refused_at_create() -> None:
    fake = FakeRuntime()
    guarded = GuardedRuntime(fake, BASELINE)
    bind = VolumeSpec("v", {}, driver_opts={"type": "none", "o": "bind", "device": "/root"})
    with pytest.raises(PolicyRefused, match=r"volume v: .*--allow host-path:/root\)"):
        guarded.create_volume(bind)
    assert fake.volumes == set()
    guarded.create_volume(VolumeSpec("w", {}, driver_opts={"type": "tmpfs", "device": "tmpfs"}))
    assert fake.volumes == {"w"}


SHARED_VOLUME = dump(
    td_doc(
        "web",
        volumes=[
            {
                "name": "etc",
                "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": False},
            }
        ],
        containerDefinitions=[
            container(
                "app",
                image=BUSYBOX,
                mountPoints=[{"sourceVolume": "etc", "containerPath": "/host-etc"}],
            )
        ],
    ),
    service_doc("web", desiredCount=1),
)
BOUND_TO_ETC = {"type": "none", "o": "bind", "device": "/etc"}


@pytest.mark.parametrize(
    "fields",
    [
        {"mounts": (MountSpec("etc", "/host-etc"),)},  # a task's shared volume, a Batch volume
        {"volumes": (("etc", "/data"),)},  # an instance's root volume
    ],
)
def test_a_named_volume_that_exists_bound_to_a_host_path_is_refused_at_create(
    fields: dict[str, object],
) -> None:
    """A manifest can name a volume someone else made (a compose project's `o: bind`, say):
    the loader sees only the name, so the guard asks the engine what the volume is."""
    fake = FakeRuntime()
    fake.create_volume(VolumeSpec("etc", {}, driver_opts=BOUND_TO_ETC))
    with pytest.raises(PolicyRefused) as exc:
        GuardedRuntime(fake, BASELINE).create(spec(**fields))
    assert str(exc.value) == (
        "container c: volume etc (on the engine, bound to host path /etc) is not allowed by "
        "this daemon's policy (start it with --allow host-path:/etc)"
    )
    assert "create" not in [op for op, _ in fake.writes()]
    GuardedRuntime(fake, Policy.parse(["host-path:/etc"])).create(spec(**fields))
    assert len(fake.containers) == 1


def test_a_service_cannot_mount_a_shared_volume_bound_to_the_host(tmp_path: Path) -> None:
    """Valid for the loader (a shared volume is only a name), refused where it is created."""
    fake = FakeRuntime()
    fake.create_volume(VolumeSpec("etc", {}, driver_opts=BOUND_TO_ETC))
    h = Harness(tmp_path / "m", fake=fake)
    h.apply("web.yaml", SHARED_VOLUME)
    assert h.running() == []
    assert not [op for op, _ in fake.writes() if op == "create"]
    status = h.status("Service", "web")
    assert "volume etc (on the engine, bound to host path /etc)" in str(status)
    assert "--allow host-path:/etc" in str(status)


def test_a_shared_volume_that_is_only_a_volume_mounts_as_before(tmp_path: Path) -> None:
    fake = FakeRuntime()
    fake.create_volume(VolumeSpec("etc", {"made-by": "someone"}))
    h = Harness(tmp_path / "m", fake=fake)
    h.apply("web.yaml", SHARED_VOLUME)
    assert len(h.running()) == 1


def test_every_engine_runtime_of_the_controller_is_guarded(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", "")
    with pytest.raises(PolicyRefused):
        h.ctl.runtime_for("local").create(spec(privileged=True))
    assert [op for op, _ in h.fake.writes()] == []


def test_a_restart_with_fewer_allow_flags_creates_no_privileged_container(tmp_path: Path) -> None:
    clock, store, fake = FakeClock(), Store(":memory:"), FakeRuntime()
    allowed = Harness(
        tmp_path / "m", fake=fake, store=store, clock=clock, policy=Policy.parse(["privileged"])
    )
    allowed.apply("web.yaml", PRIVILEGED)
    (first,) = allowed.running()
    assert fake.specs[first.id].privileged
    allowed.ctl.stop()

    # The same store and engine, a daemon without --allow privileged.
    again = Harness(tmp_path / "m", fake=fake, store=store, clock=clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert [c.id for c in again.running()] == [first.id]  # a running container is not touched
    assert "--allow privileged" in again.status("TaskDefinition", "web")["manifestError"]  # type: ignore[operator]

    creates = len([c for c in fake.calls if c[0] == "create"])
    fake.exit(first.id, 1)  # its task stops: the service wants a replacement
    again.converge()
    assert len([c for c in fake.calls if c[0] == "create"]) == creates
    assert again.running() == []
    st = again.status()
    assert st["status"] == "ERROR"
    assert st["message"] == (
        "task definition web:1: containerDefinitions.0.privileged: privileged containers are "
        "not allowed by this daemon's policy (start it with --allow privileged)"
    )


def instance_manifest(privileged: bool) -> str:
    linux = {"capabilities": {"add": ["NET_ADMIN"]}, "initProcessEnabled": True}
    return dump(
        launch_template_doc("app", privileged=privileged, linuxParameters=linux),
        instance_doc("one", "app"),
    )


def test_an_instance_launch_from_a_template_the_policy_now_refuses_is_not_made(
    tmp_path: Path,
) -> None:
    clock, store, fake = FakeClock(), Store(":memory:"), FakeRuntime()
    allow = Policy.parse(["privileged", "capability:NET_ADMIN"])
    allowed = Harness(tmp_path / "m", fake=fake, store=store, clock=clock, policy=allow)
    allowed.apply("fleet.yaml", instance_manifest(True))
    (first,) = allowed.running("one")
    made = fake.specs[first.id]
    assert (made.privileged, made.cap_add, made.init) == (True, ("NET_ADMIN",), True)
    allowed.ctl.stop()

    again = Harness(tmp_path / "m", fake=fake, store=store, clock=clock)
    again.ctl.restore()
    again.load()
    again.converge()
    fake.remove(first.id)  # the instance is gone: its replacement would be privileged
    creates = len([c for c in fake.calls if c[0] == "create"])
    again.converge()
    assert len([c for c in fake.calls if c[0] == "create"]) == creates
    st = again.status("Instance", "one")
    assert st["status"] == "ERROR"
    assert "launchTemplateData.privileged: privileged containers are not allowed" in str(
        st["message"]
    )
    assert "--allow capability:NET_ADMIN" in str(st["message"])


def test_a_batch_attempt_the_policy_refuses_fails_with_the_reason(tmp_path: Path) -> None:
    privileged = dump(*batch_docs(privileged=True))
    clock, store, fake = FakeClock(), Store(":memory:"), FakeRuntime()
    allowed = Harness(
        tmp_path / "m", fake=fake, store=store, clock=clock, policy=Policy.parse(["privileged"])
    )
    allowed.write("batch.yaml", privileged)
    allowed.load()
    allowed.converge()
    allowed.ctl.stop()

    again = Harness(tmp_path / "m", fake=fake, store=store, clock=clock)
    again.ctl.restore()
    again.load()
    again.converge()
    (jid,) = send(again)
    run(again)
    run(again)
    done = job(again, jid)
    assert (done.status, done.status_reason) == ("FAILED", "Task failed to start")
    reasons = {a.reason for a in done.attempts}  # as AWS: the container's reason says why
    assert reasons == {
        "CannotStartContainerError: containerProperties.privileged: privileged containers are "
        "not allowed by this daemon's policy (start it with --allow privileged)"
    }
    assert not [c for c in fake.containers.values() if c.labels.get(JOB_LABEL) == jid]
    assert not [name for op, name in fake.calls if op == "create" and "job" in name]
