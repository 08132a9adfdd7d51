"""Instances and Auto Scaling groups on real engines: a pool of three in two zones for groups,
the local engine for single instances."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.integration.test_load_balancer import balancer, get
from tests.integration.test_pool_engines import Pool, hosts_yaml
from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    IMAGE,
    SLEEPER,
    SMALL,
    asg_doc,
    dump,
    health_check,
    instance_doc,
    launch_template_doc,
    target_group_doc,
)

pytestmark = pytest.mark.integration


def template(name: str, *, env: str = "v1") -> str:
    return dump(
        launch_template_doc(
            name,
            imageId=IMAGE,
            **SMALL,
            command=["sh", "-c", SLEEPER],
            environment=[{"name": "VERSION", "value": env}],
        )
    )


def group(name: str, desired: int, **spec: Any) -> str:
    """Group `name` of its template ($Latest), 0 to 8 instances over zone-a and zone-b; `spec`
    adds fields."""
    return dump(
        asg_doc(
            name,
            name,
            minSize=0,
            maxSize=8,
            desiredCapacity=desired,
            availabilityZones=["zone-a", "zone-b"],
            **spec,
        )
    )


def cli(skiff: Skiff, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args, "--api", f"127.0.0.1:{skiff.port}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=skiff.cli_env(),
    )


def members(skiff: Skiff, name: str, state: str = "InService") -> list[dict[str, Any]]:
    return [
        i
        for i in skiff.resource("AutoScalingGroup", name).get("instances", [])
        if i["lifecycleState"] == state
    ]


def by_zone(world: Pool, name: str) -> tuple[int, int]:
    counts = world.counts(name)
    return counts["near"] + counts["a2"], counts["b1"]


@pytest.fixture
def world(skiff: Skiff, pool: dict[str, Any]) -> Any:
    w = Pool(skiff, pool)
    skiff.write("hosts.yaml", hosts_yaml(pool))
    yield w
    skiff.stop()
    w.cleanup()
    for client in w.clients.values():
        remove_root_volumes(client)


def remove_root_volumes(client: Any) -> None:
    """Instances' root volumes a test left (a stopped daemon terminates nothing)."""
    try:
        for v in client.volumes.list():
            if v.name.startswith("skiff-i-"):
                v.remove(force=True)
    except Exception:
        pass


def test_a_group_of_four_stays_balanced_and_a_killed_instance_is_replaced(
    skiff: Skiff, world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("lt.yaml", template(web))
    skiff.write("asg.yaml", group(web, 4))
    skiff.start("--status-check-interval", "1")
    wait_for(lambda: len(members(skiff, web)) == 4, 60, "four instances in service")
    assert by_zone(world, web) == (2, 2)
    victim = world.tasks(web)["b1"][0]
    victim.kill()
    wait_for(
        lambda: (
            by_zone(world, web) == (2, 2)
            and victim.id not in {c.id for cs in world.tasks(web, state="any").values() for c in cs}
        ),
        60,
        "the killed instance replaced in its zone, and removed",
    )
    causes = [a["cause"] for a in skiff.resource("AutoScalingGroup", web)["activities"]]
    assert any("EC2 health check" in c for c in causes)


def test_a_lost_zone_moves_capacity_to_the_other_and_it_comes_back_balanced(
    skiff: Skiff, pool: dict[str, Any], world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("lt.yaml", template(web))
    skiff.write("asg.yaml", group(web, 4))
    skiff.start("--host-lost-after", "3", "--status-check-interval", "1")
    wait_for(lambda: by_zone(world, web) == (2, 2), 60, "two per zone")
    b1 = pool["b1"]
    b1.stop()  # live-restore: its instances keep running, unseen
    try:
        wait_for(
            lambda: (
                len(members(skiff, web)) == 4
                and all(i["availabilityZone"] == "zone-a" for i in members(skiff, web))
            ),
            60,
            "four in service, all in zone-a",
        )
    finally:
        b1.start()
    wait_for(
        lambda: sum(world.counts(web).values()) == 4 and by_zone(world, web) == (2, 2),
        120,
        "rebalanced two per zone, with no stale copy left",
    )
    wait_for(  # the group's records agree with the engines (its status follows a pass later)
        lambda: (
            sorted(i["availabilityZone"] for i in members(skiff, web))
            == ["zone-a", "zone-a", "zone-b", "zone-b"]
        ),
        30,
        "two InService per zone",
    )


def test_scale_in_terminates_the_oldest_launch_template_first_keeping_zones_balanced(
    skiff: Skiff, world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("lt.yaml", template(web, env="v1"))
    policy = {
        "terminationPolicies": ["OldestLaunchTemplate"],
        "suspendedProcesses": ["InstanceRefresh"],
    }
    skiff.write("asg.yaml", group(web, 2, **policy))
    skiff.start()
    wait_for(lambda: len(members(skiff, web)) == 2, 60, "two on version 1")
    skiff.write("lt.yaml", template(web, env="v2"))
    wait_for(
        lambda: skiff.resource("LaunchTemplate", web).get("latestVersionNumber") == 2,
        30,
        "version 2",
    )
    done = cli(skiff, "asg", "set-desired", web, "4")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: len(members(skiff, web)) == 4, 60, "four in service")
    refused = cli(skiff, "asg", "set-desired", web, "9")
    assert refused.returncode == 1
    assert "desiredCapacity 9 is outside [0, 8]" in refused.stderr
    assert cli(skiff, "asg", "set-desired", web, "2").returncode == 0

    def settled() -> list[dict[str, Any]] | None:
        left = members(skiff, web)
        return left if len(left) == 2 and sum(world.counts(web).values()) == 2 else None

    left = wait_for(settled, 60, "scaled in to two")
    assert {i["launchTemplate"] for i in left} == {f"{web}:2"}
    assert sorted(i["availabilityZone"] for i in left) == ["zone-a", "zone-b"]


def test_a_launch_hook_holds_the_instance_until_the_action_is_completed(
    skiff: Skiff, world: Pool
) -> None:
    web = skiff.name("web")
    skiff.write("lt.yaml", template(web))
    hook = {
        "lifecycleHookName": "warm-up",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "heartbeatTimeout": 600,
    }
    skiff.write("asg.yaml", group(web, 1, lifecycleHooks=[hook]))
    skiff.start()
    (waiting,) = wait_for(lambda: members(skiff, web, "Pending:Wait"), 60, "Pending:Wait")
    assert waiting["state"] == "running"
    iid = waiting["instanceId"]
    wrong = cli(skiff, "asg", "complete-lifecycle-action", web, iid, "nope", "CONTINUE")
    assert wrong.returncode == 1 and "waits on hook 'warm-up'" in wrong.stderr
    assert members(skiff, web, "Pending:Wait")
    done = cli(skiff, "asg", "complete-lifecycle-action", web, iid, "warm-up", "CONTINUE")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: [i["instanceId"] for i in members(skiff, web)] == [iid], 30, "InService")


# --- single instances on the local engine ------------------------------------------------------


def instance(name: str, root: str, *, user_data: str = "", **spec: Any) -> str:
    """A small sleeping instance with its own launch data, root volume of type `root`; `spec`
    adds fields to its spec."""
    data: dict[str, Any] = {**SMALL, "command": ["sh", "-c", SLEEPER], "rootVolume": {"type": root}}
    if user_data:
        data["userData"] = user_data
    return dump(instance_doc(name, launchTemplateData={"imageId": IMAGE, **data}, **spec))


def state(skiff: Skiff, name: str) -> str:
    try:
        return str(skiff.resource("Instance", name).get("state"))
    except KeyError:
        return ""


def sh(skiff: Skiff, name: str, command: str) -> str:
    (c,) = skiff.running(name)
    result = c.exec_run(["sh", "-c", command])
    return str(result.output.decode())


def stop_and_start(skiff: Skiff, name: str, iid: str) -> None:
    assert cli(skiff, "instance", "stop", iid).returncode == 0
    wait_for(lambda: state(skiff, name) == "stopped", 30, "stopped")
    assert skiff.running(name) == []
    assert cli(skiff, "instance", "start", iid).returncode == 0
    wait_for(lambda: state(skiff, name) == "running", 30, "running again")


@pytest.fixture
def local(skiff: Skiff) -> Any:
    yield skiff
    skiff.stop()
    skiff.cleanup()
    remove_root_volumes(skiff.docker)


def test_ebs_keeps_its_files_across_stop_and_start_and_user_data_runs_once(local: Skiff) -> None:
    skiff = local
    db = skiff.name("db")
    boot = "echo booted >> /data/boots"
    skiff.write("db.yaml", instance(db, "ebs", user_data=boot))
    skiff.start()
    wait_for(lambda: state(skiff, db) == "running", 30, "running")
    iid = skiff.resource("Instance", db)["instanceId"]
    wait_for(lambda: sh(skiff, db, "cat /data/boots") == "booted\n", 10, "user data ran")
    sh(skiff, db, "echo kept > /data/file")
    stop_and_start(skiff, db, iid)
    assert skiff.resource("Instance", db)["instanceId"] == iid
    assert sh(skiff, db, "cat /data/file") == "kept\n"
    assert sh(skiff, db, "cat /data/boots") == "booted\n"  # not again at the second boot


def test_instance_store_loses_its_files_at_stop(local: Skiff) -> None:
    skiff = local
    db = skiff.name("db")
    skiff.write("db.yaml", instance(db, "instance-store"))
    skiff.start()
    wait_for(lambda: state(skiff, db) == "running", 30, "running")
    iid = skiff.resource("Instance", db)["instanceId"]
    sh(skiff, db, "echo lost > /data/file")
    stop_and_start(skiff, db, iid)
    assert "No such file" in sh(skiff, db, "cat /data/file 2>&1")


def test_terminating_a_termination_protected_instance_is_refused(local: Skiff) -> None:
    skiff = local
    db = skiff.name("db")
    skiff.write("db.yaml", instance(db, "ebs", disableApiTermination=True))
    skiff.start()
    wait_for(lambda: state(skiff, db) == "running", 30, "running")
    iid = skiff.resource("Instance", db)["instanceId"]
    refused = cli(skiff, "instance", "terminate", iid)
    assert refused.returncode == 1
    assert f"the instance {iid} may not be terminated" in refused.stderr
    assert "disableApiTermination" in refused.stderr
    assert state(skiff, db) == "running" and len(skiff.running(db)) == 1


# Serves its instance id at / and a health file at /health.
HTTPD = (
    "mkdir -p /www && echo $SKIFF_INSTANCE_ID > /www/index.html && echo ok > /www/health && "
    "httpd -f -p 8080 -h /www & trap 'exit 0' TERM; wait"
)


def test_a_group_behind_a_load_balancer_serves_from_every_instance_and_replaces_a_sick_one(
    local: Skiff,
) -> None:
    skiff = local
    web, port = skiff.name("web"), free_port()
    skiff.write(
        "web.yaml",
        dump(
            launch_template_doc(
                web, imageId=IMAGE, **SMALL, command=["sh", "-c", HTTPD], ports=[8080]
            ),
            target_group_doc(web, healthCheck=health_check(), deregistrationDelay=2),
            asg_doc(
                web,
                launchTemplate={"launchTemplateName": web},
                minSize=2,
                maxSize=3,
                availabilityZones=["local"],
                healthCheckType="ELB",
                targetGroups=[{"targetGroup": web, "port": 8080}],
            ),
        ),
    )
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.start()

    def healthy() -> set[str]:
        targets = skiff.resource("TargetGroup", web).get("targets", [])
        return {t["taskId"] for t in targets if t["state"] == "healthy"}

    wait_for(lambda: len(healthy()) == 2, 60, "two instances healthy behind the listener")
    ids = {i["instanceId"] for i in members(skiff, web)}
    assert healthy() == ids
    assert {get(port)[1] for _ in range(20)} == ids
    sick = sorted(ids)[0]
    (box,) = [c for c in skiff.running(web) if c.labels["skiff.instance"] == sick]
    box.exec_run(["rm", "/www/health"])
    wait_for(
        lambda: sick not in {i["instanceId"] for i in members(skiff, web)} and len(healthy()) == 2,
        90,
        "the sick instance replaced by a healthy one",
    )
    causes = [a["cause"] for a in skiff.resource("AutoScalingGroup", web)["activities"]]
    assert any("ELB system health check failure" in c for c in causes)
    assert sick not in {get(port)[1] for _ in range(20)}
