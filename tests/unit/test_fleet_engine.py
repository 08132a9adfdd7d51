"""Launch templates, Auto Scaling groups and instances through the whole controller, against
fake engines in two zones, on a fixed clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.autoscaling.sync import commands
from controller.core import labels as L
from controller.core.instances.instance import INSTANCE_LABEL
from controller.core.outcomes import CommandError
from controller.runtime import PortTaken
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from tests.support.documents import asg_doc, dump, host_doc, instance_doc, launch_template_doc
from tests.support.harness import Harness

ZONES = (("a1", "zone-a"), ("a2", "zone-a"), ("b1", "zone-b"))


def pool() -> str:
    capacity = {"cpu": 16384, "memory": 16384}
    return dump(
        *(host_doc(n, url=f"unix:///{n}.sock", zone=z, capacity=capacity) for n, z in ZONES)
    )


def template(command: str = "sleep 3600", **data: Any) -> str:
    """Launch template `web` (t3.micro, busybox running `command`) with `data` added."""
    data = {"instanceType": "t3.micro", "command": command.split(), **data}
    return dump(launch_template_doc("web", **data))


def group(desired: int = 4, *, version: str = "$Latest", **spec: Any) -> str:
    """Group `web` of template `web` (`version`), 1 to 6 instances over zone-a and zone-b."""
    return dump(
        asg_doc(
            "web",
            launchTemplate={"launchTemplateName": "web", "version": version},
            desiredCapacity=desired,
            availabilityZones=["zone-a", "zone-b"],
            **spec,
        )
    )


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    engines = {n: FakeRuntime(name=n) for n, _ in ZONES}
    harness = Harness(tmp_path / "m", engines=engines, store=Store(str(tmp_path / "s.db")))
    harness.write("hosts.yaml", pool())
    harness.write("lt.yaml", template())
    return harness


def instances(h: Harness, owner: str = "web") -> list[dict[str, object]]:
    st = h.status("AutoScalingGroup", owner)
    return [i for i in st["instances"] if i["lifecycleState"] != "Terminated"]  # type: ignore[index,union-attr]


def zones(h: Harness) -> list[str]:
    return sorted(str(i["availabilityZone"]) for i in instances(h))


def test_a_group_of_four_runs_four_instances_balanced_over_its_zones(h: Harness) -> None:
    h.apply("asg.yaml", group(4))
    assert zones(h) == ["zone-a", "zone-a", "zone-b", "zone-b"]
    assert all(i["lifecycleState"] == "InService" and i["state"] == "running" for i in instances(h))
    running = h.running("web")
    assert len(running) == 4 and all(c.labels[L.KIND] == "AutoScalingGroup" for c in running)
    st = h.status("AutoScalingGroup", "web")
    assert (st["desiredCapacity"], st["inServiceCount"], st["launchTemplate"]) == (4, 4, "web:1")
    assert [a["statusCode"] for a in st["activities"]] == ["Successful"] * 4  # type: ignore[index,union-attr]


def test_an_instance_that_dies_is_replaced_at_the_next_status_check(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    victim = h.running("web")[0]
    engine = next(e for e in h.all_engines() if victim.id in e.containers)
    engine.exit(victim.id, 137)
    h.converge()
    assert len(h.running("web")) == 1  # not before the status check runs
    h.clock.advance(60)
    h.converge()
    assert len(h.running("web")) == 2
    assert victim.id not in engine.containers
    st = h.status("AutoScalingGroup", "web")
    causes = [a["cause"] for a in st["activities"]]  # type: ignore[index,union-attr]
    assert any("EC2 health check" in str(c) for c in causes)


def test_set_desired_scales_and_the_next_manifest_edit_wins(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    with pytest.raises(CommandError, match=r"desiredCapacity 9 is outside \[1, 6\]"):
        commands.set_desired_capacity(h.ctl, "web", 9)
    assert len(h.running("web")) == 2  # refused: nothing changed
    commands.set_desired_capacity(h.ctl, "web", 5)
    h.converge()
    assert len(h.running("web")) == 5
    h.load()  # a reload without an edit keeps the API's capacity
    h.converge()
    assert len(h.running("web")) == 5
    h.apply("asg.yaml", group(3))
    assert len(h.running("web")) == 3


def test_a_template_version_that_does_not_exist_leaves_the_fleet_as_it_is(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    before = {c.id for c in h.running("web")}
    h.apply("asg.yaml", group(2, version="7"))
    st = h.status("AutoScalingGroup", "web")
    assert st["status"] == "ERROR"
    assert "launchTemplate.version: version 7 of launch template web does not exist" in str(
        st["message"]
    )
    assert {c.id for c in h.running("web")} == before


def test_a_new_template_version_is_rolled_out_by_instance_refresh(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    h.apply("lt.yaml", template("sleep 7200"))
    for _ in range(6):
        h.converge()
    running = h.running("web")
    assert {c.labels["skiff.launch-template"] for c in running} == {"web:2"}
    assert len(running) == 2
    assert h.status("LaunchTemplate", "web")["latestVersionNumber"] == 2


def test_terminating_a_termination_protected_instance_is_refused(h: Harness) -> None:
    h.write("lt.yaml", template(disableApiTermination=True))
    h.apply("asg.yaml", group(1))
    iid = h.running("web")[0].labels[INSTANCE_LABEL]
    with pytest.raises(CommandError, match="disableApiTermination"):
        commands.terminate_instance(h.ctl, iid)
    h.converge()
    assert [c.labels[INSTANCE_LABEL] for c in h.running("web")] == [iid]


def test_terminating_an_instance_of_a_group_replaces_it(h: Harness) -> None:
    h.apply("asg.yaml", group(1))
    iid = h.running("web")[0].labels[INSTANCE_LABEL]
    commands.terminate_instance(h.ctl, iid)
    h.clock.advance(11)
    h.converge()
    running = h.running("web")
    assert len(running) == 1 and running[0].labels[INSTANCE_LABEL] != iid


def test_a_launch_hook_holds_new_instances_until_the_action_is_completed(h: Harness) -> None:
    hook = {
        "lifecycleHookName": "warm-up",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "heartbeatTimeout": 600,
        "defaultResult": "ABANDON",
    }
    h.apply("asg.yaml", group(1, lifecycleHooks=[hook]))
    (i,) = instances(h)
    assert i["lifecycleState"] == "Pending:Wait"
    with pytest.raises(CommandError, match="waits on hook 'warm-up'"):
        commands.complete_lifecycle_action(h.ctl, "web", str(i["instanceId"]), "other", "CONTINUE")
    commands.complete_lifecycle_action(h.ctl, "web", str(i["instanceId"]), "warm-up", "CONTINUE")
    h.converge()
    assert [x["lifecycleState"] for x in instances(h)] == ["InService"]


def test_instances_hold_their_hosts_capacity(h: Harness) -> None:
    # t3.micro reserves 2 vCPUs: 8 fill the three 16-vCPU hosts' zone-b (one host) first
    h.apply("asg.yaml", group(6, maxSize=20))
    slots = {s.name: s for s in h.ctl.host_slots(h.ctl.observed_tasks())}
    assert sum(s.cpu_used for s in slots.values()) == 6 * 2048
    assert sum(s.memory_used for s in slots.values()) == 6 * 1024


def test_a_restarted_daemon_finds_its_fleet_and_changes_nothing(h: Harness, tmp_path: Path) -> None:
    h.apply("asg.yaml", group(3))
    writes = sum(len(e.writes()) for e in h.all_engines())
    again = Harness(h.root, engines=h.engines, store=Store(str(tmp_path / "s.db")), clock=h.clock)
    again.load()
    again.converge()
    assert sum(len(e.writes()) for e in h.all_engines()) == writes
    assert len(again.status("AutoScalingGroup", "web")["instances"]) == 3  # type: ignore[arg-type]


def test_deleting_the_group_terminates_its_instances(h: Harness) -> None:
    h.apply("asg.yaml", group(2))
    (h.root / "asg.yaml").unlink()
    h.load()
    h.clock.advance(11)
    h.converge()
    assert h.running("web") == []
    assert not any(
        INSTANCE_LABEL in c.labels for e in h.all_engines() for c in e.containers.values()
    )
    assert ("AutoScalingGroup", "web") not in h.ctl.status


# --- single instances --------------------------------------------------------------------------


def db_manifest(shutdown: str) -> str:
    """Instance `db` of template `web`, with this instanceInitiatedShutdownBehavior."""
    return dump(instance_doc("db", "web", instanceInitiatedShutdownBehavior=shutdown))


def db(h: Harness) -> dict[str, object]:
    return h.status("Instance", "db")


def test_an_instance_stops_and_starts_through_the_api_keeping_its_container(h: Harness) -> None:
    h.apply("db.yaml", db_manifest("stop"))
    iid, cid = str(db(h)["instanceId"]), h.running("db")[0].id
    commands.stop_instance(h.ctl, iid)
    h.converge()
    assert db(h)["state"] == "stopped" and h.running("db") == []
    commands.start_instance(h.ctl, iid)
    h.converge()
    assert db(h)["state"] == "running"
    assert [c.id for c in h.running("db")] == [cid]


def test_an_instance_that_shuts_down_is_stopped_or_terminated_as_told(h: Harness) -> None:
    h.apply("db.yaml", db_manifest("terminate"))
    iid = str(db(h)["instanceId"])
    c = h.running("db")[0]
    next(e for e in h.all_engines() if c.id in e.containers).exit(c.id, 0)
    h.converge()
    assert db(h)["state"] == "terminated"
    assert "InstanceInitiatedShutdown" in str(db(h)["instances"][0]["stateReason"])  # type: ignore[index]
    assert h.running("db") == []
    h.apply("db.yaml", db_manifest("stop"))  # the next edit of its manifest launches a new one
    assert db(h)["state"] == "running" and db(h)["instanceId"] != iid


def test_an_instance_terminated_through_the_api_is_not_relaunched(h: Harness) -> None:
    h.apply("db.yaml", db_manifest("stop"))
    commands.terminate_instance(h.ctl, str(db(h)["instanceId"]))
    h.clock.advance(11)
    h.converge()
    assert db(h)["state"] == "terminated" and h.running("db") == []
    h.clock.advance(60)
    h.converge()
    assert h.running("db") == []


def test_an_instance_whose_port_is_taken_at_start_is_launched_again_on_another(
    h: Harness,
) -> None:
    h.write("lt.yaml", template(ports=[8080]))
    for engine in h.engines.values():
        engine.fail(
            "start",
            PortTaken(
                "CannotStartContainerError: Bind for 0.0.0.0:20000 failed: "
                "port is already allocated"
            ),
        )
    h.apply("asg.yaml", group(2))
    assert all(i["lifecycleState"] == "InService" for i in instances(h))
    low, high = h.ctl.port_range
    ports = [p.host_port for c in h.running("web") for p in c.ports]
    assert len(ports) == 2 and all(p is not None and low <= p <= high for p in ports)
    leftovers = [c for e in h.engines.values() for c in e.containers.values() if not c.running]
    assert not leftovers
