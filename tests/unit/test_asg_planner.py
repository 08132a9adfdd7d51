"""The Auto Scaling group planner, table by table: termination policies in AWS's order, zone
balancing, lifecycle-hook timing and health replacement, on a fixed clock."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from controller.autoscaling.models.group import LifecycleHook
from controller.autoscaling.planners.group import GroupDesired, choose_victims, plan_group
from controller.core.instances.instance import (
    IMPAIRED,
    TERMINATED_KEPT,
    ObservedInstance,
    view_instance,
)
from controller.core.placement import HostSlot, Need
from controller.runtime.types import ContainerInfo
from controller.store.records import InstanceRecord
from tests.support.builders import T0

HOSTS = [
    HostSlot("a1", "zone-a", "127.0.0.1", 16384, 16384),
    HostSlot("a2", "zone-a", "127.0.0.1", 16384, 16384),
    HostSlot("b1", "zone-b", "127.0.0.1", 16384, 16384),
]
ZONE_HOST = {"zone-a": "a1", "zone-b": "b1"}


def group(**changes: object) -> GroupDesired:
    base = GroupDesired(
        name="web",
        capacity=4,
        min_size=1,
        max_size=6,
        zones=("zone-a", "zone-b"),
        version="web:2",
        need=Need(2048, 1024),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def instance(
    iid: str,
    zone: str = "zone-a",
    *,
    template: str = "web:2",
    launched: float = T0,
    lifecycle: str = "InService",
    state: str = "running",
    host: str | None = None,
    protected: bool = False,
    **record: object,
):  # type: ignore[no-untyped-def]
    host = host or ZONE_HOST[zone]
    r = InstanceRecord(
        iid,
        "AutoScalingGroup",
        "web",
        template,
        zone,
        host,
        "running",
        launched,
        lifecycle_state=lifecycle,
        protected=protected,
        in_service_at=launched,
    )
    r = replace(r, **record)  # type: ignore[arg-type]
    c = ContainerInfo(
        f"c-{iid}",
        f"skiff-web-{iid}",
        {},
        "img",
        state,
        created_at=launched,
        started_at=launched if state == "running" else None,
        exit_code=137 if state == "exited" else None,
    )
    return view_instance(r, ObservedInstance(iid, "AutoScalingGroup", "web", host, c))


def terminated(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r.instance_id for r in plan.updates if r.lifecycle_state.startswith("Terminat"))


# --- termination policies ----------------------------------------------------------------------


def victims(instances, n: int = 1, **changes: object) -> list[str]:  # type: ignore[no-untyped-def]
    desired = group(**changes)
    counts: dict[str, int] = {}
    for v in instances:
        counts[v.record.zone] = counts.get(v.record.zone, 0) + 1
    chosen = choose_victims(
        instances, n, desired, counts, lambda v: v.record.zone, T0 + 7200, random.Random(0)
    )
    return [v.instance_id for v in chosen]


def test_scale_in_first_picks_the_zone_with_the_most_instances() -> None:
    fleet = [
        instance("i-a1", "zone-a", template="web:1"),  # the oldest template, but zone-a has 1
        instance("i-b1", "zone-b"),
        instance("i-b2", "zone-b", launched=T0 + 10),
    ]
    assert victims(fleet)[0] in ("i-b1", "i-b2")


def test_default_policy_then_prefers_the_oldest_launch_template_version() -> None:
    fleet = [
        instance("i-1", template="web:2"),
        instance("i-2", template="web:1"),
        instance("i-3", template="web:2"),
    ]
    assert victims(fleet) == ["i-2"]


def test_default_policy_then_the_instance_closest_to_its_next_billing_hour() -> None:
    # now = T0 + 7200: i-early is 0 s into its hour, i-late 3000 s (closest to the next one)
    fleet = [
        instance("i-early", launched=T0),
        instance("i-late", launched=T0 + 600),
        instance("i-mid", launched=T0 + 1800),
    ]
    assert victims(fleet) == ["i-late"]


def test_noncurrent_templates_go_first_even_when_a_current_one_is_closer_to_the_hour() -> None:
    fleet = [instance("i-new", launched=T0 + 600), instance("i-old", template="web:1")]
    assert victims(fleet) == ["i-old"]


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        (("OldestInstance",), "i-first"),
        (("NewestInstance",), "i-last"),
        (("OldestLaunchTemplate",), "i-v1"),
        (("ClosestToNextInstanceHour",), "i-v1"),  # 3540 s into its hour
        (("NewestInstance", "OldestLaunchTemplate"), "i-last"),
    ],
)
def test_each_policy_names_its_victim(policies: tuple[str, ...], expected: str) -> None:
    fleet = [
        instance("i-first", launched=T0),
        instance("i-v1", launched=T0 + 60, template="web:1"),
        instance("i-last", launched=T0 + 900),
    ]
    assert victims(fleet, policies=policies) == [expected]


def test_ties_after_every_policy_are_broken_at_random_but_reproducibly() -> None:
    fleet = [instance(f"i-{n}") for n in range(4)]
    first = victims(fleet)
    assert first == victims(fleet)
    assert first[0] in {v.instance_id for v in fleet}


def test_scale_in_skips_instances_protected_from_scale_in() -> None:
    fleet = [
        instance("i-a1", "zone-a", protected=True),
        instance("i-a2", "zone-a", protected=True),
        instance("i-a3", "zone-a", protected=True),
        instance("i-b1", "zone-b"),
    ]
    plan = plan_group(group(capacity=3), fleet, HOSTS, now=T0 + 60)
    assert terminated(plan) == ["i-b1"]


def test_several_victims_keep_the_zones_balanced() -> None:
    fleet = [instance(f"i-a{n}", "zone-a", launched=T0 + n) for n in range(3)] + [
        instance(f"i-b{n}", "zone-b", launched=T0 + n) for n in range(3)
    ]
    plan = plan_group(group(capacity=2), fleet, HOSTS, now=T0 + 60)
    gone = terminated(plan)
    assert len(gone) == 4
    assert sum(i.startswith("i-a") for i in gone) == 2


# --- zones ---------------------------------------------------------------------------------------


def test_launches_go_to_the_zone_with_the_fewest_instances() -> None:
    fleet = [instance("i-a1", "zone-a"), instance("i-a2", "zone-a")]
    plan = plan_group(group(capacity=4), fleet, HOSTS, now=T0)
    assert sorted(launch.zone for launch in plan.launch) == ["zone-b", "zone-b"]


def test_an_empty_group_launches_evenly_over_its_zones_and_hosts() -> None:
    plan = plan_group(group(capacity=4), [], HOSTS, now=T0)
    assert sorted(launch.zone for launch in plan.launch) == ["zone-a", "zone-a", "zone-b", "zone-b"]
    assert sorted(launch.host for launch in plan.launch if launch.zone == "zone-a") == ["a1", "a2"]


def test_a_zone_without_a_reachable_host_gets_nothing_the_others_take_its_share() -> None:
    hosts = [HOSTS[0], HOSTS[1], replace(HOSTS[2], up=False)]
    plan = plan_group(group(capacity=4), [], hosts, now=T0)
    assert [launch.zone for launch in plan.launch] == ["zone-a"] * 4


def test_rebalancing_launches_in_the_small_zone_before_terminating_in_the_big_one() -> None:
    fleet = [instance(f"i-a{n}", "zone-a") for n in range(4)]
    plan = plan_group(group(capacity=4), fleet, HOSTS, now=T0 + 60)
    assert [launch.zone for launch in plan.launch] == ["zone-b"]
    assert terminated(plan) == []
    # once the new instance is in service, the surplus goes from the big zone
    fleet.append(instance("i-b0", "zone-b", launched=T0 + 61))
    plan = plan_group(group(capacity=4), fleet, HOSTS, now=T0 + 120)
    assert len(terminated(plan)) == 1 and terminated(plan)[0].startswith("i-a")
    assert plan.launch == ()


def test_rebalancing_waits_while_an_instance_is_pending() -> None:
    fleet = [instance(f"i-a{n}", "zone-a") for n in range(3)] + [
        instance("i-b0", "zone-b", lifecycle="Pending", state="created")
    ]
    plan = plan_group(group(capacity=4), fleet, HOSTS, now=T0 + 60)
    assert plan.launch == () and terminated(plan) == []


def test_rebalancing_never_goes_past_maxsize_plus_ten_percent_or_one() -> None:
    fleet = [instance(f"i-a{n}", "zone-a") for n in range(4)]
    plan = plan_group(group(capacity=4, max_size=3), fleet, HOSTS, now=T0 + 60)
    assert plan.launch == ()


def test_suspending_azrebalance_leaves_an_unbalanced_group_alone() -> None:
    fleet = [instance(f"i-a{n}", "zone-a") for n in range(4)]
    plan = plan_group(group(suspended=frozenset({"AZRebalance"})), fleet, HOSTS, now=T0 + 60)
    assert plan.is_noop()


def test_instances_on_a_lost_host_are_replaced_in_the_zones_still_reachable() -> None:
    hosts = [HOSTS[0], HOSTS[1], replace(HOSTS[2], up=False, lost=True)]
    fleet = [instance("i-a1", "zone-a"), instance("i-b1", "zone-b"), instance("i-b2", "zone-b")]
    plan = plan_group(group(capacity=3), fleet, hosts, now=T0 + 60)
    assert terminated(plan) == ["i-b1", "i-b2"]
    assert [launch.zone for launch in plan.launch] == ["zone-a", "zone-a"]
    assert plan.remove == ()  # its host cannot be told; the container goes when it is back


# --- lifecycle hooks ---------------------------------------------------------------------------

LAUNCH_HOOK = LifecycleHook.model_validate(
    {
        "lifecycleHookName": "warm-up",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "heartbeatTimeout": 300,
        "defaultResult": "ABANDON",
    }
)
TERMINATE_HOOK = LifecycleHook.model_validate(
    {
        "lifecycleHookName": "drain",
        "lifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "heartbeatTimeout": 120,
        "defaultResult": "CONTINUE",
    }
)


def lifecycle_of(plan, iid: str) -> str:  # type: ignore[no-untyped-def]
    return next(v.record.lifecycle_state for v in plan.views if v.instance_id == iid)


def with_record(v, plan):  # type: ignore[no-untyped-def]
    """The instance as the next pass sees it, with the record the plan wrote."""
    r = next((u for u in plan.updates if u.instance_id == v.instance_id), v.record)
    return replace(v, record=r)


@pytest.mark.parametrize(
    ("completed", "at", "expected"),
    [
        ("", 299, "Pending:Wait"),  # still waiting, wake at the timeout
        ("CONTINUE", 10, "InService"),  # completed through the API
        ("ABANDON", 10, "Terminating"),
        ("", 300, "Terminating"),  # the heartbeat timed out: its default result, ABANDON
    ],
)
def test_a_launch_hook_holds_the_instance_in_pending_wait(
    completed: str, at: float, expected: str
) -> None:
    desired = group(capacity=1, launch_hook=LAUNCH_HOOK)
    v = instance("i-1", lifecycle="Pending")
    plan = plan_group(desired, [v], HOSTS, now=T0)
    assert lifecycle_of(plan, "i-1") == "Pending:Wait"
    assert plan.requeue_after == 300
    v = with_record(v, plan)
    v = replace(v, record=replace(v.record, hook_result=completed))
    plan = plan_group(desired, [v], HOSTS, now=T0 + at)
    assert lifecycle_of(plan, "i-1").startswith(expected)
    if expected == "Pending:Wait":
        assert plan.requeue_after == 1
        assert plan.launch == ()  # a waiting instance counts toward the capacity


def test_a_launch_hook_with_default_continue_puts_the_instance_in_service_at_timeout() -> None:
    hook = LAUNCH_HOOK.model_copy(update={"default_result": "CONTINUE"})
    desired = group(capacity=1, launch_hook=hook)
    v = instance("i-1", lifecycle="Pending:Wait", hook_deadline=T0 + 300)
    assert lifecycle_of(plan_group(desired, [v], HOSTS, now=T0 + 300), "i-1") == "InService"


def test_a_terminate_hook_keeps_the_instance_running_until_completed_or_timed_out() -> None:
    desired = group(capacity=1, terminate_hook=TERMINATE_HOOK)
    fleet = [instance("i-old", launched=T0), instance("i-new", launched=T0 + 1800)]
    plan = plan_group(desired, fleet, HOSTS, now=T0 + 3000)
    leaving = [v for v in plan.views if v.record.lifecycle_state == "Terminating:Wait"]
    assert len(leaving) == 1 and plan.signal == ()
    v = with_record(next(f for f in fleet if f.instance_id == leaving[0].instance_id), plan)
    plan = plan_group(desired, [v], HOSTS, now=T0 + 3119)
    assert plan.signal == ()
    plan = plan_group(desired, [v], HOSTS, now=T0 + 3120)
    assert [s.signal for s in plan.signal] == ["SIGTERM"]
    assert lifecycle_of(plan, v.instance_id) == "Terminating:Proceed"


def test_a_terminating_instance_waits_for_its_targets_to_drain() -> None:
    desired = group(capacity=0, min_size=0)
    v = instance("i-1", lifecycle="Terminating")
    plan = plan_group(desired, [v], HOSTS, now=T0, target_states={"i-1": {"web": "draining"}})
    assert plan.signal == () and plan.requeue_after == 1
    plan = plan_group(desired, [v], HOSTS, now=T0 + 5, target_states={})
    assert [s.signal for s in plan.signal] == ["SIGTERM"]


# --- health -------------------------------------------------------------------------------------


def test_an_impaired_instance_is_replaced_only_after_the_grace_period() -> None:
    desired = group(capacity=1, grace=300.0)
    v = instance("i-1", state="exited")
    checks = {"i-1": IMPAIRED}
    plan = plan_group(desired, [v], HOSTS, now=T0 + 100, checks=checks)
    assert terminated(plan) == [] and plan.requeue_after == 200
    plan = plan_group(desired, [v], HOSTS, now=T0 + 300, checks=checks)
    assert terminated(plan) == ["i-1"]
    r = next(u for u in plan.updates if u.instance_id == "i-1")
    assert r.health == "Unhealthy"
    assert "EC2 health check" in r.state_reason


def test_without_a_failed_status_check_a_dead_container_waits_for_the_next_check() -> None:
    v = instance("i-1", state="exited")
    plan = plan_group(group(capacity=1), [v], HOSTS, now=T0 + 100, checks={"i-1": "ok"})
    assert terminated(plan) == []


def test_elb_health_checks_replace_an_instance_whose_target_is_unhealthy() -> None:
    v = instance("i-1")
    targets = {"i-1": {"web": "unhealthy"}}
    ec2 = plan_group(group(capacity=1), [v], HOSTS, now=T0 + 100, target_states=targets)
    assert terminated(ec2) == []
    elb = plan_group(
        group(capacity=1, health_check_type="ELB"), [v], HOSTS, now=T0 + 100, target_states=targets
    )
    assert terminated(elb) == ["i-1"]


def test_suspending_replace_unhealthy_marks_it_unhealthy_but_keeps_it() -> None:
    v = instance("i-1", state="exited")
    desired = group(capacity=1, suspended=frozenset({"ReplaceUnhealthy"}))
    plan = plan_group(desired, [v], HOSTS, now=T0 + 100, checks={"i-1": IMPAIRED})
    assert terminated(plan) == []
    assert [u.health for u in plan.updates] == ["Unhealthy"]


def test_a_terminated_instance_stays_listed_for_an_hour() -> None:
    v = instance(
        "i-1", lifecycle="Terminated", state="exited", terminated_at=T0, desired_state="terminated"
    )
    v = replace(v, container=None)
    plan = plan_group(group(capacity=0, min_size=0), [v], HOSTS, now=T0 + TERMINATED_KEPT - 1)
    assert plan.forget == () and plan.requeue_after == 1
    plan = plan_group(group(capacity=0, min_size=0), [v], HOSTS, now=T0 + TERMINATED_KEPT)
    assert plan.forget == ("i-1",)


# --- instance refresh --------------------------------------------------------------------------


def test_instance_refresh_replaces_one_at_a_time_at_ninety_percent() -> None:
    fleet = [
        instance(f"i-{n}", "zone-a" if n % 2 else "zone-b", template="web:1") for n in range(4)
    ]
    plan = plan_group(group(capacity=4), fleet, HOSTS, now=T0 + 60)
    assert len(terminated(plan)) == 1


def test_instance_refresh_at_fifty_percent_replaces_half_at_once() -> None:
    fleet = [
        instance(f"i-{n}", "zone-a" if n % 2 else "zone-b", template="web:1") for n in range(4)
    ]
    plan = plan_group(group(capacity=4, refresh_min_healthy=50), fleet, HOSTS, now=T0 + 60)
    assert len(terminated(plan)) == 2
