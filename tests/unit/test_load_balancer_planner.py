"""Target membership, planned purely: which servers to add, check, put in or out of rotation
and remove, and each target's ALB state."""

from __future__ import annotations

import pytest

from controller.catalog import CATALOG
from controller.dataplane.values import PRIMARY, TWIN, Server, Target
from controller.elb.planners.load_balancer import (
    DRAINING,
    HEALTHY,
    INITIAL,
    UNHEALTHY,
    UNUSED,
    plan_targets,
)


def server(
    up: bool = True,
    admin: str = "ready",
    checked: bool = True,
    sessions: int = 0,
    twin: str = "ready",
    checking: bool = True,
) -> Server:
    return Server("127.0.0.1", 32768, up, admin, checked, sessions, twin, checking)


def plan(wanted: dict[str, list[Target]], current: dict[tuple[str, str], Server], **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "used_groups": {"web"},
        "drain_since": {},
        "delays": {"web": 300},
        "activated": set(),
        "now": 1000.0,
    }
    args.update(kw)
    return plan_targets(wanted, current, **args)  # type: ignore[arg-type]


T = Target("t" * 32, "127.0.0.1", 32768)
KEY = ("web", T.task_id)
PRIMARY_SERVER, TWIN_SERVER = (*KEY, PRIMARY), (*KEY, TWIN)
LEAVING = Target(T.task_id, T.address, T.port, draining=True)


def test_a_new_target_is_added_and_is_initial_until_its_first_check_passes() -> None:
    p = plan({"web": [T]}, {})
    assert p.add == (("web", T, PRIMARY), ("web", T, TWIN)) and p.states[KEY] == INITIAL
    assert p.checks == (KEY,)  # `add server` leaves health checks off
    assert p.drain == (PRIMARY_SERVER, TWIN_SERVER) and p.ready == ()  # out of maintenance
    unchecked = server(admin="drain", checked=False, twin="drain")
    assert plan({"web": [T]}, {KEY: unchecked}).states[KEY] == INITIAL
    passed = plan({"web": [T]}, {KEY: server(admin="drain", twin="drain")})
    assert (passed.states[KEY], passed.ready) == (HEALTHY, (PRIMARY_SERVER, TWIN_SERVER))


def test_an_initial_target_gets_no_traffic_even_through_its_fail_open_twin() -> None:
    p = plan({"web": [T]}, {KEY: server(admin="ready", checked=False, twin="ready")})
    assert (p.states[KEY], p.drain) == (INITIAL, (PRIMARY_SERVER, TWIN_SERVER))


def test_failing_checks_make_a_target_unhealthy() -> None:
    assert plan({"web": [T]}, {KEY: server(up=False)}).states[KEY] == UNHEALTHY


def test_an_unhealthy_target_stays_in_the_fail_open_pool() -> None:
    failing = server(up=False, admin="drain", twin="drain")
    p = plan({"web": [T]}, {KEY: failing}, registered_at={KEY: 0.0}, windows={"web": 25.0})
    assert p.states[KEY] == UNHEALTHY and p.ready == (TWIN_SERVER,)


def test_a_target_of_a_group_no_listener_uses_is_unused() -> None:
    assert plan({"web": [T]}, {KEY: server()}, used_groups=set()).states[KEY] == UNUSED


def test_a_half_registered_target_is_completed_step_by_step() -> None:
    # `add server` passed, then `enable health` failed: the primary sits in maintenance,
    # its checks off, and no twin was added.
    half = server(up=False, admin="maint", checked=False, twin="", checking=False)
    p = plan({"web": [T]}, {KEY: half})
    assert p.add == (("web", T, TWIN),)
    assert p.checks == (KEY,)
    assert p.drain == (PRIMARY_SERVER, TWIN_SERVER)
    assert p.states[KEY] == INITIAL
    # Only the twin went missing (e.g. removed by hand): it alone comes back.
    alone = plan({"web": [T]}, {KEY: server(twin="")}, activated={KEY})
    assert (alone.add, alone.checks, alone.drain, alone.ready) == (
        (("web", T, TWIN),),
        (),
        (),
        (TWIN_SERVER,),
    )
    # Only the twin is left: the primary is added again.
    twin_only = plan({"web": [T]}, {KEY: server(admin="", up=False, checked=False)})
    assert twin_only.add == (("web", T, PRIMARY),) and twin_only.checks == (KEY,)


def test_a_draining_target_is_first_drained_then_removed_a_pass_later() -> None:
    # Its servers are still in rotation and no request is in flight now; but one may arrive
    # before the drain takes effect: removal waits for a pass that sees it drained.
    first = plan({"web": [LEAVING]}, {KEY: server()})
    assert (first.drain, first.remove, first.states[KEY]) == (
        (PRIMARY_SERVER, TWIN_SERVER),
        (),
        DRAINING,
    )
    later = plan({"web": [LEAVING]}, {KEY: server(admin="drain", twin="drain")})
    assert (later.remove, later.cut) == ((KEY,), frozenset())


def test_draining_waits_for_in_flight_requests_or_the_delay() -> None:
    drained = {"admin": "drain", "twin": "drain"}
    busy = plan({"web": [LEAVING]}, {KEY: server(sessions=2, **drained)}, drain_since={KEY: 900.0})
    assert (busy.drain, busy.remove, busy.states[KEY]) == ((), (), DRAINING)
    late = plan({"web": [LEAVING]}, {KEY: server(sessions=1, **drained)}, drain_since={KEY: 600.0})
    assert late.remove == (KEY,)  # the 300 s deregistration delay has passed
    assert late.cut == {KEY}  # what is still in flight is cut, as ALB does


def test_a_target_whose_servers_are_half_gone_is_drained_and_removed() -> None:
    maint = plan({"web": [LEAVING]}, {KEY: server(admin="maint", twin="")})
    assert maint.remove == (KEY,)  # a removal that failed half-way is finished


def test_requests_an_older_haproxy_still_serves_hold_the_removal_until_the_delay() -> None:
    drained = server(admin="drain", twin="drain")
    held = plan({"web": [LEAVING]}, {KEY: drained}, old_workers=True, drain_since={KEY: 900.0})
    assert held.remove == ()
    over = plan({"web": [LEAVING]}, {KEY: drained}, old_workers=True, drain_since={KEY: 700.0})
    assert over.remove == (KEY,)


def test_a_deregistration_delay_of_zero_cuts_at_once_once_drained() -> None:
    drained = server(admin="drain", twin="drain", sessions=3)
    p = plan({"web": [LEAVING]}, {KEY: drained}, delays={"web": 0})
    assert (p.remove, p.cut) == ((KEY,), {KEY})


def test_servers_nobody_wants_are_drained_then_removed() -> None:
    first = plan({}, {KEY: server()})
    assert (first.drain, first.remove, first.states[KEY]) == (
        (PRIMARY_SERVER, TWIN_SERVER),
        (),
        DRAINING,
    )
    assert plan({}, {KEY: server(admin="drain", twin="drain")}).remove == (KEY,)


def test_a_new_target_failing_its_first_checks_stays_initial_for_its_window() -> None:
    early = plan(
        {"web": [T]},
        {KEY: server(up=False, admin="drain")},
        registered_at={KEY: 990.0},
        windows={"web": 25.0},
    )
    assert early.states[KEY] == INITIAL  # the app may still be starting
    late = plan(
        {"web": [T]},
        {KEY: server(up=False, admin="drain")},
        registered_at={KEY: 900.0},
        windows={"web": 25.0},
    )
    assert late.states[KEY] == UNHEALTHY


def test_the_daemon_spares_one_cpu_for_the_targets_haproxy_shares_the_machine_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from controller.core.controller import Controller
    from controller.core.settings import Settings
    from controller.runtime.fake import FakeRuntime
    from controller.store import Store
    from controller.telemetry import Metrics

    def threads(cpus: int, **settings: int) -> int:
        monkeypatch.setattr("os.cpu_count", lambda: cpus)
        ctl = Controller(
            Store(":memory:"),
            Metrics(),
            lambda n, s: FakeRuntime(),
            Settings(**settings),
            catalog=CATALOG,
        )
        return ctl.lb_threads

    assert [threads(1), threads(2), threads(8)] == [1, 1, 7]
    assert threads(8, lb_threads=2) == 2
