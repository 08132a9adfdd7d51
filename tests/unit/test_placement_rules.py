"""Placement constraints, strategies and memberOf expressions, as ECS describes them."""

from __future__ import annotations

import pytest

from controller.core.placement import HostSlot, Need, Rules, place, rejection
from controller.ecs.planners.service import ServiceDesired, plan_service
from controller.manifests.placement import parse
from tests.support.builders import T0, revision, running

SMALL = Need(cpu=128, memory=128)


def pool() -> list[HostSlot]:
    return [
        HostSlot("a1", "zone-a", "10.0.0.1", 4096, 4096, attributes={"disk": "ssd"}),
        HostSlot("a2", "zone-a", "10.0.0.2", 4096, 2048, attributes={"disk": "hdd"}),
        HostSlot("b1", "zone-b", "10.0.0.3", 4096, 4096, attributes={"disk": "ssd", "gpu": "t4"}),
    ]


# --- memberOf expressions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "eligible"),
    [
        ("attribute:zone == zone-a", {"a1", "a2"}),
        ("attribute:zone != zone-a", {"b1"}),
        ("attribute:zone in [zone-a, zone-c]", {"a1", "a2"}),
        ("attribute:zone !in [zone-a]", {"b1"}),
        ("attribute:zone not in [zone-a]", {"b1"}),
        ("attribute:disk == ssd", {"a1", "b1"}),
        ("attribute:gpu exists", {"b1"}),
        ("attribute:gpu !exists", {"a1", "a2"}),
        ("attribute:name =~ a.*", {"a1", "a2"}),
        ("attribute:name =~ '[ab][0-9]+'", {"a1", "a2", "b1"}),
        ("attribute:zone == 'zone-b'", {"b1"}),
        ("attribute:disk == ssd and attribute:zone == zone-a", {"a1"}),
        ("attribute:disk == hdd or attribute:gpu exists", {"a2", "b1"}),
        ("not (attribute:zone == zone-b)", {"a1", "a2"}),
    ],
)
def test_member_of_expressions_select_hosts(expression: str, eligible: set[str]) -> None:
    expr = parse(expression)
    assert {h.name for h in pool() if expr.holds(h.attrs())} == eligible


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("zone == a", "expected attribute:NAME"),
        ("attribute:zone ~ a", "cannot read expression .* at '~ a'"),
        ("attribute:zone like a", "unknown operator 'like'"),
        ("attribute:zone in [a, b", "expected"),
        ("attribute:zone == a and", "expected more"),
        ("attribute:name =~ '('", "bad pattern"),
        ("attribute:name =~ (", "expected a value, found '\\('"),
        ("attribute:zone in [ ( ]", "expected a value"),
        ("not " * 40 + "attribute:zone exists", "nested deeper than 32 levels"),
        ("(" * 500 + "attribute:zone exists" + ")" * 500, "nested deeper than 32 levels"),
    ],
)
def test_malformed_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(expression)


# --- constraints ------------------------------------------------------------------------------


def test_distinct_instance_puts_at_most_one_task_per_host_and_says_why_not_more() -> None:
    placed = place(4, SMALL, pool(), own={}, rules=Rules(distinct_instance=True))
    assert sorted(placed.hosts) == ["a1", "a2", "b1"]
    assert placed.unplaced == 1
    assert "a1: distinctInstance: it already runs a task of this service" in placed.reason


def test_member_of_restricts_placement_and_names_the_expression_in_the_rejection() -> None:
    rules = Rules(member_of=("attribute:disk == ssd",))
    assert set(place(4, SMALL, pool(), own={}, rules=rules).hosts) == {"a1", "b1"}
    a2 = pool()[1]
    reason = rejection(a2, SMALL, rules, 0, rules.parsed())
    assert reason == "memberOf 'attribute:disk == ssd' does not hold"


def test_resource_fit_comes_before_constraints() -> None:
    full = HostSlot("a1", "zone-a", "x", 1024, 100)
    rules = Rules(member_of=("attribute:zone == zone-b",))
    assert rejection(full, SMALL, rules, 0, rules.parsed()).startswith("insufficient memory")


# --- strategies -------------------------------------------------------------------------------


def test_the_default_spreads_over_zones_then_hosts() -> None:
    assert sorted(place(4, SMALL, pool(), own={}).hosts) == ["a1", "a2", "b1", "b1"]


def test_spread_on_an_attribute() -> None:
    rules = Rules(strategies=(("spread", "attribute:disk"),))
    placed = place(2, SMALL, pool(), own={}, rules=rules)
    assert sorted(placed.hosts) == ["a1", "a2"]  # one ssd, one hdd


def test_binpack_on_memory_fills_the_fullest_host_first() -> None:
    rules = Rules(strategies=(("binpack", "memory"),))
    assert place(3, SMALL, pool(), own={}, rules=rules).hosts == ("a2", "a2", "a2")


def test_binpack_then_spread_is_chained() -> None:
    hosts = [HostSlot("x", "z1", "1", 1024, 1024), HostSlot("y", "z2", "2", 1024, 1024)]
    rules = Rules(strategies=(("binpack", "cpu"), ("spread", "instanceId")))
    # Equal capacity: binpack ties, so spread decides the first; then binpack keeps packing.
    assert place(3, SMALL, hosts, own={"x": 1}, rules=rules).hosts == ("y", "y", "y")


def test_random_is_repeatable_with_a_seed_and_varies_across_seeds() -> None:
    rules = [Rules(strategies=(("random", ""),), seed=s) for s in range(8)]
    results = [place(3, SMALL, pool(), own={}, rules=r).hosts for r in rules]
    assert results[0] == place(3, SMALL, pool(), own={}, rules=rules[0]).hosts
    assert len(set(results)) > 1


# --- scale-in stays balanced across zones ----------------------------------------------------


def test_scale_in_stops_tasks_from_the_zone_with_the_most() -> None:
    tasks = [
        running("a1-1", host="a1", created=T0),
        running("a1-2", host="a1", created=T0 + 1),
        running("a2-1", host="a2", created=T0 + 2),
        running("b1-1", host="b1", created=T0 + 3),
    ]
    rev = revision("web:1")
    p = plan_service(
        ServiceDesired("web", 2, rev), tasks, {}, [], {"web:1": rev.spec}, pool(), now=T0 + 10
    )
    stopped = sorted(s.task_id for s in p.stop)
    assert stopped == ["a1-2", "a2-1"]  # zone-a had 3 of 4; the newest there, host by host
