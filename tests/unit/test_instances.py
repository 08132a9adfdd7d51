"""Instances: the container an instance is, EC2's states derived from it, and the single
instance planner (stop, start, shutdown behaviour, terminate), on a fixed clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.core.instances.instance import (
    IMPAIRED,
    INITIALIZING,
    OK,
    STOP_TIMEOUT,
    ObservedInstance,
    instance_container,
    view_instance,
    volume_name,
)
from controller.core.placement import HostSlot, Need
from controller.ec2.planners.single_instance import InstanceDesired, plan_instance
from controller.manifests.launch_template_data import LaunchTemplateData
from controller.runtime.types import ContainerInfo, TmpfsSpec
from controller.store.records import InstanceRecord
from tests.support.builders import T0

HOSTS = [HostSlot("h1", "zone-a", "127.0.0.1", 4096, 8192)]


def data(**fields: object) -> LaunchTemplateData:
    return LaunchTemplateData.model_validate({"imageId": "skiff/busybox:latest", **fields})


def record(**changes: object) -> InstanceRecord:
    r = InstanceRecord("i-1", "Instance", "db", "db:1", "zone-a", "h1", "running", T0)
    return replace(r, **changes)  # type: ignore[arg-type]


def box(state: str = "running", **changes: object) -> ContainerInfo:
    c = ContainerInfo("c1", "skiff-db-i-1", {}, "img", state, created_at=T0, started_at=T0)
    return replace(c, **changes)  # type: ignore[arg-type]


def view(r: InstanceRecord | None = None, c: ContainerInfo | None = None):  # type: ignore[no-untyped-def]
    r = r or record()
    return view_instance(r, ObservedInstance("i-1", "Instance", "db", "h1", c) if c else None)


# --- the container ------------------------------------------------------------------------------


def test_the_instance_type_becomes_a_hard_cpu_limit_and_a_memory_limit() -> None:
    spec = instance_container(
        "default", "Instance", "db", "i-1", "db:1", data(instanceType="t3.small")
    )
    assert (spec.nano_cpus, spec.memory_mib) == (2_000_000_000, 2048)
    custom = data(instanceType="custom", customInstanceType={"vCpus": 0.5, "memoryMiB": 256})
    spec = instance_container("default", "Instance", "db", "i-1", "db:1", custom)
    assert (spec.nano_cpus, spec.memory_mib) == (500_000_000, 256)


def test_an_ebs_root_volume_is_a_named_volume_and_instance_store_a_tmpfs() -> None:
    ebs = instance_container("default", "Instance", "db", "i-1", "db:1", data())
    assert ebs.volumes == ((volume_name("i-1"), "/data"),) and ebs.tmpfs == ()
    store = data(rootVolume={"type": "instance-store", "mountPath": "/scratch"})
    spec = instance_container("default", "Instance", "db", "i-1", "db:1", store)
    assert spec.volumes == () and spec.tmpfs == (TmpfsSpec("/scratch"),)


def test_user_data_runs_through_a_once_only_wrapper_before_the_command() -> None:
    spec = instance_container(
        "default",
        "Instance",
        "db",
        "i-1",
        "db:1",
        data(userData="echo hi > /data/boot", command=["sleep", "60"]),
    )
    assert spec.entrypoint is not None and spec.entrypoint[:2] == ("sh", "-c")
    assert "/.skiff-user-data-done" in spec.entrypoint[2]
    assert spec.command == ("sleep", "60")
    assert spec.env["SKIFF_USER_DATA"] == "echo hi > /data/boot"
    assert spec.labels["skiff.instance"] == "i-1"


# --- states --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "container", "state", "status"),
    [
        ("running", None, "pending", INITIALIZING),
        ("running", box("created"), "pending", INITIALIZING),
        ("running", box(), "running", OK),
        ("running", box(health="starting"), "running", INITIALIZING),
        ("running", box(health="unhealthy"), "running", IMPAIRED),
        ("running", box("paused"), "running", IMPAIRED),
        ("running", box("exited", exit_code=1), "stopped", IMPAIRED),
        ("stopped", box(), "stopping", ""),
        ("stopped", box("exited", exit_code=143), "stopped", ""),
        ("terminated", box(), "shutting-down", ""),
        ("terminated", None, "terminated", ""),
    ],
)
def test_ec2_states_and_status_checks(
    desired: str, container: ContainerInfo | None, state: str, status: str
) -> None:
    v = view(record(desired_state=desired), container)
    assert (v.state, v.status) == (state, status)


# --- the single instance planner -----------------------------------------------------------------

DB = InstanceDesired("db", "db:1", "running", "stop", None, Need(2048, 1024))


def plan(desired: InstanceDesired | None, *views, now: float = T0, **kw):  # type: ignore[no-untyped-def]
    return plan_instance(desired, list(views), HOSTS, now=now, listed={"h1"}, **kw)


def test_a_new_instance_is_launched_once() -> None:
    p = plan(DB)
    assert [(launch.zone, launch.host) for launch in p.launch] == [("zone-a", "h1")]
    assert plan(DB, view(record(), None), in_flight={"i-1"}).launch == ()


def test_stop_is_sigterm_then_sigkill_after_the_stop_timeout_and_keeps_the_container() -> None:
    stopped = replace(DB, goal="stopped")
    p = plan(stopped, view(record(), box()))
    assert [s.signal for s in p.signal] == ["SIGTERM"] and p.remove == ()
    r = p.updates[0]
    assert (r.desired_state, r.stop_requested_at) == ("stopped", T0)
    p = plan(stopped, view(r, box()), now=T0 + STOP_TIMEOUT)
    assert [s.signal for s in p.signal] == ["SIGKILL"]
    p = plan(stopped, view(r, box("exited", exit_code=137)), now=T0 + STOP_TIMEOUT + 1)
    assert p.is_noop()


def test_start_runs_the_same_container_again() -> None:
    r = record(desired_state="stopped", stop_requested_at=T0)
    p = plan(DB, view(r, box("exited", exit_code=143)))
    assert [s.container_id for s in p.start] == ["c1"] and p.launch == ()
    assert p.updates[0].desired_state == "running"


@pytest.mark.parametrize(
    ("behaviour", "goal", "removed"),
    [("stop", "stopped", False), ("terminate", "terminated", True)],
)
def test_an_instance_that_shuts_itself_down_follows_its_shutdown_behaviour(
    behaviour: str, goal: str, removed: bool
) -> None:
    desired = replace(DB, shutdown_behavior=behaviour)
    p = plan(desired, view(record(), box("exited", exit_code=0)))
    assert p.goal == goal
    assert bool(p.remove) is removed
    assert "InstanceInitiatedShutdown" in p.updates[0].state_reason
    assert p.start == () and p.launch == ()


def test_a_start_not_yet_observed_is_not_taken_for_a_shutdown() -> None:
    p = plan(DB, view(record(), box("exited", exit_code=143)), starting={"i-1"})
    assert p.goal is None and p.is_noop()


def test_terminate_shuts_down_then_removes_the_container_and_its_volume() -> None:
    gone = replace(DB, goal="terminated")
    p = plan(gone, view(record(), box()))
    assert [s.signal for s in p.signal] == ["SIGTERM"] and p.remove == ()
    r = p.updates[-1]
    p = plan(gone, view(r, box("exited", exit_code=143)), now=T0 + 2)
    assert [x.container_id for x in p.remove] == ["c1"]
    assert p.updates[-1].terminated_at == T0 + 2
    assert p.launch == ()  # a terminated instance is not replaced until the manifest changes


def test_a_removed_manifest_terminates_its_instance() -> None:
    p = plan(None, view(record(), box("exited", exit_code=0)))
    assert [x.container_id for x in p.remove] == ["c1"] and p.launch == ()


def test_a_new_template_version_replaces_the_instance() -> None:
    p = plan(replace(DB, template="db:2"), view(record(), box("exited", exit_code=0)))
    assert [x.container_id for x in p.remove] == ["c1"]
    assert len(p.launch) == 1


def test_an_instance_stays_on_its_lost_host_and_waits_for_it() -> None:
    hosts = [replace(HOSTS[0], up=False, lost=True)]
    p = plan_instance(DB, [view(record(), box())], hosts, now=T0)
    assert p.is_noop() and "unreachable" in p.message
