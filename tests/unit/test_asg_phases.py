"""The phases of the Auto Scaling group planner, one table each, on a fixed clock (NOW): what
becomes of an instance that is gone, which zones can take a launch, zone balance
(AZRebalance), instance refresh batches, health replacement, and the termination policy
steps. test_asg_planner.py drives them together through plan_group."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.autoscaling.planners.group import (
    AGE_OUT,
    GONE,
    LIVE,
    POLICY_STEPS,
    PROCEED,
    REMOVE_STALE,
    GroupDesired,
    Step,
    rebalance_zone,
    refresh_batch,
    triage,
    unhealthy_cause,
    usable_zones,
)
from controller.core.instances.instance import IMPAIRED, InstanceView
from controller.core.placement import HostSlot, Need
from controller.runtime.types import ContainerInfo
from controller.store.records import InstanceRecord
from tests.support.builders import T0

NOW = T0 + 7200


def group(**changes: object) -> GroupDesired:
    base = GroupDesired("web", 4, 1, 6, ("a", "b"), "web:2", Need(1024, 512))
    return replace(base, **changes)  # type: ignore[arg-type]


def inst(
    iid: str,
    *,
    lifecycle: str = "InService",
    template: str = "web:2",
    launched: float = T0,
    host: str = "h1",
    container: bool = True,
    **record: object,
) -> InstanceView:
    r = InstanceRecord(
        iid, "AutoScalingGroup", "web", template, "a", host, "running", launched, "", lifecycle
    )
    c = ContainerInfo(f"c-{iid}", f"skiff-web-{iid}", {}, "img", "running") if container else None
    return InstanceView(iid, "running", "ok", replace(r, **record), c, host)  # type: ignore[arg-type]


def ids(views: list[InstanceView]) -> list[str]:
    return [v.instance_id for v in views]


# -- instances gone, and leftovers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "listed", "in_flight", "fate"),
    [
        (inst("i-1"), {"h1"}, set(), (LIVE, "")),
        # Terminated with its container still there: removed; without one: its record ages out.
        (inst("i-1", lifecycle="Terminated"), {"h1"}, set(), (REMOVE_STALE, "")),
        (inst("i-1", lifecycle="Terminated", container=False), {"h1"}, set(), (AGE_OUT, "")),
        (inst("i-1", lifecycle="Terminated", host="lost"), set(), set(), (AGE_OUT, "")),
        # Its host stopped answering: gone, replaced.
        (inst("i-1", host="lost"), set(), set(), (GONE, "its host lost is unreachable")),
        (inst("i-1", lifecycle="Terminating", host="lost"), set(), set(), (LIVE, "")),
        # Its container was removed by hand: gone; unless it was being terminated anyway.
        (
            inst("i-1", container=False),
            {"h1"},
            set(),
            (GONE, "its container was removed outside Skiff"),
        ),
        (inst("i-1", lifecycle="Terminating:Wait", container=False), {"h1"}, set(), (PROCEED, "")),
        # Not seen yet because it is being created, or its host's containers are not listed.
        (inst("i-1", container=False), {"h1"}, {"i-1"}, (LIVE, "")),
        (inst("i-1", container=False), set(), set(), (LIVE, "")),
    ],
)
def test_what_becomes_of_an_instance_before_its_lifecycle_moves_on(
    view: InstanceView, listed: set[str], in_flight: set[str], fate: tuple[str, str]
) -> None:
    assert triage(view, view.record, {"lost"}, listed, in_flight) == fate


def test_launches_go_only_to_zones_with_a_host_up_and_not_draining() -> None:
    hosts = [
        HostSlot("a1", "a", "127.0.0.1", 4096, 4096),
        HostSlot("b1", "b", "127.0.0.1", 4096, 4096, draining=True),
        HostSlot("c1", "c", "127.0.0.1", 4096, 4096, up=False),
    ]
    assert usable_zones(("a", "b", "c", "d"), hosts) == ["a"]


# -- zone balance (AZRebalance) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "usable", "alive", "changes", "zone"),
    [
        ({"a": 3, "b": 1}, ["a", "b"], 4, {}, "b"),  # a gap of two: launch in b
        ({"a": 2, "b": 1}, ["a", "b"], 3, {}, None),  # a gap of one is balanced
        ({"a": 3, "b": 1}, ["a"], 4, {}, None),  # b has no usable host
        ({"a": 3, "b": 1}, ["a", "b"], 7, {}, None),  # maxSize 6 + one already reached
        ({"a": 3, "b": 1}, ["a", "b"], 10, {"max_size": 20}, "b"),  # 20 + 10%: 22
        ({"a": 3, "b": 1}, ["a", "b"], 4, {"suspended": frozenset({"AZRebalance"})}, None),
        ({"a": 3, "b": 1}, ["a", "b"], 4, {"suspended": frozenset({"Launch"})}, None),
    ],
)
def test_zone_rebalancing_launches_in_the_smallest_zone_within_max_size_headroom(
    counts: dict[str, int], usable: list[str], alive: int, changes: dict[str, object], zone: str
) -> None:
    assert rebalance_zone(group(**changes), counts, usable, alive) == zone


# -- instance refresh ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_healthy", "unhealthy", "replaced"),
    [
        (90, 0, ["i-1"]),  # ceil(3.6) = 4 of 4 must stay: one at a time
        (50, 0, ["i-1", "i-2"]),  # 2 of 4 may go: the two oldest on web:1
        (0, 0, ["i-1", "i-2", "i-3"]),  # every old one
        (50, 2, ["i-1"]),  # two Unhealthy already: still one at a time
    ],
)
def test_instance_refresh_replaces_old_versions_oldest_first_keeping_min_healthy(
    min_healthy: int, unhealthy: int, replaced: list[str]
) -> None:
    alive = [
        inst("i-3", template="web:1", launched=T0 + 2),
        inst("i-1", template="web:1", launched=T0),
        inst("i-2", template="web:1", launched=T0 + 1),
        inst("i-4", launched=T0 + 3),
    ]
    alive = [
        replace(v, record=replace(v.record, health="Unhealthy")) if i < unhealthy else v
        for i, v in enumerate(reversed(alive))
    ]
    batch = refresh_batch(group(refresh_min_healthy=min_healthy), alive, lambda v: v.record)
    assert ids(batch) == replaced


# -- health: replacement of unhealthy instances ----------------------------------------------

IMPAIRED_WHY = "an EC2 health check indicating it has been terminated, stopped or impaired"
ELB_WHY = "an ELB system health check failure"


@pytest.mark.parametrize(
    ("changes", "check", "targets", "verdict"),
    [
        ({}, "ok", {}, ("", None)),
        ({}, IMPAIRED, {}, (IMPAIRED_WHY, None)),
        ({}, "ok", {"tg": "unhealthy"}, ("", None)),  # EC2 checks only: targets do not count
        ({"health_check_type": "ELB"}, "ok", {"tg": "unhealthy"}, (ELB_WHY, None)),
        ({"health_check_type": "ELB"}, "ok", {"tg": "healthy"}, ("", None)),
        ({"grace": 300.0}, IMPAIRED, {}, ("", NOW - 100 + 300)),  # in its grace period
        ({"suspended": frozenset({"HealthCheck"})}, IMPAIRED, {}, ("", None)),
    ],
)
def test_an_in_service_instance_is_unhealthy_after_its_grace_period(
    changes: dict[str, object],
    check: str,
    targets: dict[str, str],
    verdict: tuple[str, float | None],
) -> None:
    r = inst("i-1", in_service_at=NOW - 100).record
    assert unhealthy_cause(group(**changes), r, check, targets, NOW) == verdict


# -- termination policy steps ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "left"),
    [
        # OldestLaunchTemplate: instances not on web:2, the lowest version first.
        (POLICY_STEPS["OldestLaunchTemplate"][0], ["old1"]),
        (POLICY_STEPS["OldestInstance"][0], ["early"]),
        (POLICY_STEPS["NewestInstance"][0], ["late"]),
        # ClosestToNextInstanceHour: furthest into its billing hour (59 min).
        (POLICY_STEPS["ClosestToNextInstanceHour"][0], ["hour"]),
    ],
)
def test_each_termination_policy_step_narrows_the_candidates(step: Step, left: list[str]) -> None:
    candidates = [
        inst("old1", template="web:1", launched=NOW - 600),
        inst("old3", template="web:3", launched=NOW - 700),
        inst("early", launched=NOW - 5000),
        inst("late", launched=NOW - 60),
        inst("hour", launched=NOW - 59 * 60),
    ]
    assert ids(step(candidates, "web:2", NOW)) == left


def test_oldest_launch_template_keeps_everyone_when_all_run_the_current_version() -> None:
    same = [inst("i-1"), inst("i-2")]
    assert POLICY_STEPS["OldestLaunchTemplate"][0](same, "web:2", NOW) == same
