"""The service planner, case by case, as the ECS documentation describes a REPLICA service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from controller.core.observed import ObservedTask
from controller.core.placement import HostSlot
from controller.ecs.planners.service import InFlight, ServiceDesired, counts, plan_service
from controller.ecs.planners.service_plan import ServicePlan
from controller.ecs.planners.task_state import ESSENTIAL_EXITED, HEALTH_CHECK_FAILED
from controller.store.records import TaskRecord
from tests.support.builders import T0, container, hosts, revision, running, stop_record, task, td

WEB1 = revision("web:1")
WEB2 = revision(
    "web:2",
    td(
        containerDefinitions=[
            {"name": "app", "image": "skiff/busybox:latest", "memory": 64, "command": ["v2"]}
        ]
    ),
)
SPECS = {"web:1": WEB1.spec, "web:2": WEB2.spec}


def want(count: int, rev: Any = WEB1, **kw: Any) -> ServiceDesired:
    return ServiceDesired(name="web", desired_count=count, revision=rev, **kw)


def plan(
    desired: ServiceDesired | None,
    observed: Sequence[ObservedTask] = (),
    *,
    records: Mapping[str, TaskRecord] | None = None,
    in_flight: Sequence[InFlight] = (),
    pool: Sequence[HostSlot] | None = None,
    now: float = T0 + 100,
    **kw: Any,
) -> ServicePlan:
    specs = {**SPECS, **({desired.revision.key: desired.revision.spec} if desired else {})}
    return plan_service(
        desired,
        observed,
        records or {},
        in_flight,
        specs,
        hosts() if pool is None else pool,
        now=now,
        **kw,
    )


def stopped_ids(p: ServicePlan) -> list[str]:
    return [s.task_id for s in p.stop]


# --- desired count ---------------------------------------------------------------------------


def test_a_new_service_launches_desired_count_tasks() -> None:
    p = plan(want(3))
    assert [(launch.revision, launch.host) for launch in p.launch] == [("web:1", "h1")] * 3


def test_a_converged_service_plans_nothing() -> None:
    p = plan(want(3), [running("a"), running("b"), running("c")])
    assert p.is_noop()
    assert counts(p.tasks) == {"running": 3, "pending": 0, "healthy": 3}


@pytest.mark.parametrize(
    ("order", "expected"),
    [("NEWEST_FIRST", ["e", "d", "c"]), ("OLDEST_FIRST", ["a", "b", "c"])],
    ids=["newest-first-by-default", "oldest-first-when-asked"],
)
def test_scale_in_from_5_to_2_stops_three_tasks_in_the_chosen_order(
    order: str, expected: list[str]
) -> None:
    tasks = [running(t, created=T0 + i) for i, t in enumerate("abcde")]
    p = plan(want(2, scale_in_order=order), tasks)
    assert sorted(stopped_ids(p)) == sorted(expected)
    assert all(s.reason == "Scaling activity initiated by (service web)" for s in p.stop)
    assert all(s.signal == "SIGTERM" for s in p.stop)
    assert not p.launch


def test_scale_in_stops_pending_and_unhealthy_tasks_before_healthy_ones() -> None:
    pending = task("p", container("p", state="created", created=T0))
    sick = running("s", created=T0, health="unhealthy")
    fine = [running(t, created=T0 + 10) for t in "xyz"]
    spec = td(
        containerDefinitions=[
            {"name": "app", "image": "i", "memory": 64, "healthCheck": {"command": ["CMD", "true"]}}
        ]
    )
    desired = want(2, revision("web:1", spec), grace_period=1000)
    p = plan(desired, [pending, sick, *fine], now=T0 + 20)
    assert set(stopped_ids(p)) | {m.task_id for m in p.mark_stopped} >= {"p", "s"}


def test_scale_to_zero_stops_every_task() -> None:
    p = plan(want(0), [running("a"), running("b")])
    assert sorted(stopped_ids(p)) == ["a", "b"]


def test_launches_in_flight_count_toward_the_desired_count() -> None:
    flights = [InFlight("f1", "web:1", "h1"), InFlight("f2", "web:1", "h1")]
    p = plan(want(3), [running("a")], in_flight=flights)
    assert not p.launch
    assert counts(p.tasks) == {"running": 1, "pending": 2, "healthy": 1}


def test_creates_per_pass_are_capped_and_the_rest_is_requeued_at_once() -> None:
    p = plan(want(150), max_launches=100)
    assert len(p.launch) == 100
    assert p.requeue_after == 0


# --- replacement -------------------------------------------------------------------------------


def test_a_task_whose_essential_container_exited_is_replaced() -> None:
    dead = task("d", container("d", state="exited", exit_code=1))
    p = plan(want(2), [dead, running("a")])
    assert [m.reason for m in p.mark_stopped] == [ESSENTIAL_EXITED]
    assert len(p.launch) == 1


def dying(task_id: str, exit_code: int = 137) -> ObservedTask:
    """A task whose container's `die` came and whose inspect has not answered yet."""
    return task(task_id, replace(container(task_id), dying=True, exit_code=exit_code))


def test_a_task_whose_essential_container_died_is_replaced_before_its_inspect_answers() -> None:
    p = plan(want(2), [dying("d"), running("a")])
    assert [(m.task_id, m.reason) for m in p.mark_stopped] == [("d", ESSENTIAL_EXITED)]
    assert len(p.launch) == 1
    assert not p.stop  # nothing to signal: its process is gone


def test_a_task_that_died_counts_against_maximum_percent_until_the_engine_lets_go() -> None:
    # 100/100 with 2 tasks: one died; `docker ps` shows it until dockerd is done with it.
    p = plan(want(2, maximum_percent=100), [dying("d"), running("a")])
    assert not p.launch
    gone = task("d", container("d", state="exited", exit_code=137))
    assert len(plan(want(2, maximum_percent=100), [gone, running("a")]).launch) == 1


def test_sidecars_of_a_task_whose_essential_container_exited_are_stopped() -> None:
    spec = td(
        containerDefinitions=[
            {"name": "app", "image": "i", "memory": 64},
            {"name": "log", "image": "i", "memory": 64, "essential": False},
        ]
    )
    specs = {"web:1": spec}
    t = task("t", container("t", "app", state="exited", exit_code=0), container("t", "log"))
    p = plan_service(want(1, revision("web:1", spec)), [t], {}, [], specs, hosts(), now=T0 + 10)
    assert [(s.task_id, s.container_ids, s.reason) for s in p.stop] == [
        ("t", ("t-log",), ESSENTIAL_EXITED)
    ]
    assert len(p.launch) == 1


def launched(task_id: str) -> TaskRecord:
    """The record a launch saves before its first Docker call."""
    return TaskRecord(task_id, "Service", "web", "web:1", "h1", "RUNNING", T0)


def test_a_container_that_could_not_start_stops_its_task_with_the_docker_error() -> None:
    t = task("t", container("t", state="created", exit_code=127, error='exec: "nope": not found'))
    p = plan(want(1), [t], records={"t": launched("t")})
    assert p.mark_stopped[0].reason.startswith("CannotStartContainerError: app: exec")
    assert not p.remove  # kept, STOPPED with the error, as ECS keeps a stopped task
    assert len(p.launch) == 1


def test_what_an_abandoned_launch_left_when_the_engine_went_away_is_removed() -> None:
    # The engine closed mid-launch: the executor dropped the task's record and could not
    # remove its container, which Docker keeps, never started, with the transport's error.
    error = "transport is closing: unavailable"
    t = task("t", container("t", state="created", exit_code=128, error=error))
    p = plan(want(1), [t])
    assert [(r.task_id, r.container_ids) for r in p.remove] == [("t", ("t-app",))]
    assert len(p.launch) == 1


def test_a_pending_task_taken_by_a_scale_in_leaves_no_container_that_never_started() -> None:
    # dockerd went away as it answered: the container was created, its create's answer lost,
    # so the launch was abandoned. Back, the task is one too many and the scale-in stops it
    # while still PENDING: nothing of it ran, and its container goes rather than stay
    # `created` for good. One that failed to start is kept, to show why.
    never = task("n", container("n", state="created"))
    refused = task("r", container("r", state="created", exit_code=127, error="exec: not found"))
    records = {
        "n": stop_record("n", "Scaling activity initiated by (service web)", requested=T0 + 99),
        "r": stop_record("r", "CannotStartContainerError: app: exec: not found", None),
    }
    p = plan(want(1), [running("a"), never, refused], records=records)
    assert [r.task_id for r in p.remove] == ["n"]
    assert not p.launch


HC_SPEC = td(
    containerDefinitions=[
        {"name": "app", "image": "i", "memory": 64, "healthCheck": {"command": ["CMD", "true"]}}
    ]
)


def test_an_unhealthy_task_is_stopped_and_replaced() -> None:
    p = plan(
        want(2, revision("web:1", HC_SPEC)),
        [running("a", health="unhealthy"), running("b", health="healthy")],
    )
    assert [(s.task_id, s.reason) for s in p.stop] == [("a", HEALTH_CHECK_FAILED)]
    assert len(p.launch) == 1


def test_an_unhealthy_task_within_the_grace_period_is_left_alone_until_it_ends() -> None:
    desired = want(1, revision("web:1", HC_SPEC), grace_period=60)
    sick = running("a", health="unhealthy", created=T0)  # started at T0 + 1
    p = plan(desired, [sick], now=T0 + 31)
    assert p.is_noop()
    assert p.requeue_after == pytest.approx(30)


def test_a_task_missing_a_container_after_a_crash_is_replaced() -> None:
    spec = td(
        containerDefinitions=[
            {"name": "app", "image": "i", "memory": 64},
            {"name": "log", "image": "i", "memory": 64, "essential": False},
        ]
    )
    half = task("h", container("h", "app", state="created"))
    records = {"h": launched("h")}
    p = plan_service(
        want(1, revision("web:1", spec)), [half], records, [], {"web:1": spec}, hosts(), now=T0 + 10
    )
    assert "log was never created" in p.mark_stopped[0].reason
    assert len(p.launch) == 1


# --- graceful stop ------------------------------------------------------------------------------


def test_a_stopping_task_gets_sigkill_only_after_its_stop_timeout() -> None:
    records = {"a": stop_record("a", "Scaling activity", requested=T0 + 100)}
    early = plan(want(0), [running("a")], records=records, now=T0 + 110)
    assert not early.kill and not early.stop
    assert early.requeue_after == pytest.approx(20)  # default stopTimeout 30 s
    late = plan(want(0), [running("a")], records=records, now=T0 + 131)
    assert [(k.task_id, k.signal) for k in late.kill] == [("a", "SIGKILL")]


def test_stopped_tasks_are_kept_for_inspection_up_to_the_limit() -> None:
    done = [
        task(f"s{i}", container(f"s{i}", state="exited", exit_code=0, created=T0 + i))
        for i in range(7)
    ]
    records = {t.id: stop_record(t.id, "Scaling activity", None) for t in done}
    p = plan(want(0), done, records=records, stopped_kept=5)
    assert sorted(r.task_id for r in p.remove) == ["s0", "s1"]


# --- dependsOn ---------------------------------------------------------------------------------

DEP_SPEC = td(
    containerDefinitions=[
        {"name": "setup", "image": "i", "memory": 16, "essential": False},
        {
            "name": "app",
            "image": "i",
            "memory": 64,
            "dependsOn": [{"containerName": "setup", "condition": "SUCCESS"}],
        },
    ]
)


def _dep_plan(setup_state: str, exit_code: int | None) -> ServicePlan:
    t = task(
        "t",
        container("t", "setup", state=setup_state, exit_code=exit_code),
        container("t", "app", state="created"),
    )
    return plan_service(
        want(1, revision("web:1", DEP_SPEC)), [t], {}, [], {"web:1": DEP_SPEC}, hosts(), now=T0 + 10
    )


def test_a_container_starts_once_its_dependency_succeeded() -> None:
    p = _dep_plan("exited", 0)
    assert [(s.task_id, s.container_ids) for s in p.start] == [("t", ("t-app",))]


def test_a_container_waits_while_its_dependency_runs() -> None:
    p = _dep_plan("running", None)
    assert p.is_noop()
    assert counts(p.tasks)["pending"] == 1


def test_a_failed_dependency_stops_the_task() -> None:
    p = _dep_plan("exited", 3)
    assert p.mark_stopped[0].reason == (
        "Dependency condition SUCCESS of container app on setup cannot be met"
    )


def test_containers_already_started_are_not_started_twice() -> None:
    t = task(
        "t",
        container("t", "setup", state="exited", exit_code=0),
        container("t", "app", state="created"),
    )
    p = plan_service(
        want(1, revision("web:1", DEP_SPEC)),
        [t],
        {},
        [],
        {"web:1": DEP_SPEC},
        hosts(),
        now=T0 + 10,
        starting={"t-app"},
    )
    assert not p.start


# --- new revisions ------------------------------------------------------------------------


def test_a_new_revision_launches_new_tasks_up_to_maximum_percent_keeping_old_ones() -> None:
    old = [running(t, rev="web:1") for t in "abc"]
    p = plan(want(3, WEB2), old)
    assert [launch.revision for launch in p.launch] == ["web:2"] * 3  # 200%: 6 tasks at most
    assert not p.stop  # 100% minimum healthy: all 3 old stay until new ones are healthy


def test_old_tasks_stop_as_new_ones_become_healthy() -> None:
    old = [running(t, rev="web:1") for t in "abc"]
    new = [running(t, rev="web:2") for t in "xy"] + [
        task("z", container("z", "app", "created", rev="web:2"))
    ]
    p = plan(want(3, WEB2), old + new)
    assert len(p.stop) == 2  # 5 healthy, 3 must stay
    assert all(s.reason == "Scaling activity initiated by (deployment web:2)" for s in p.stop)
    assert not p.launch


def test_maximum_percent_bounds_running_plus_pending_tasks() -> None:
    old = [running(t, rev="web:1") for t in "abcd"]
    p = plan(want(4, WEB2, maximum_percent=150, minimum_healthy_percent=50), old)
    assert len(p.launch) == 2  # floor(4 x 1.5) = 6 tasks at most
    assert len(p.stop) == 2  # ceil(4 x 0.5) = 2 must stay healthy


# --- placement and deletion -----------------------------------------------------------------------


def test_tasks_that_fit_nowhere_are_reported_with_the_reason() -> None:
    p = plan(want(2), pool=hosts("h1", memory=100))
    assert len(p.launch) == 1
    assert p.unplaced == 1
    assert "insufficient memory" in p.unplaced_reason
    assert p.requeue_after is not None


def test_tasks_spread_over_hosts() -> None:
    p = plan(want(4), [running("a", host="h1")], pool=hosts("h1", "h2"))
    assert sorted(launch.host for launch in p.launch) == ["h1", "h2", "h2"]


def test_a_deleted_service_stops_its_tasks_then_removes_them() -> None:
    p = plan(
        None,
        [running("a"), task("b", container("b", state="exited", exit_code=0))],
        records={"b": stop_record("b", "Scaling activity", None)},
    )
    assert [(s.task_id, s.reason) for s in p.stop] == [("a", "Service was deleted")]
    assert [r.task_id for r in p.remove] == ["b"]
    assert not p.launch


# --- dynamic host ports: Skiff's choice, outside the kernel's ephemeral range -------------------

PORTED = td(
    containerDefinitions=[
        {"name": "app", "image": "i", "memory": 64, "portMappings": [{"containerPort": 8080}]}
    ]
)


def test_engines_sharing_an_address_get_distinct_dynamic_ports_chosen_by_skiff() -> None:
    pool = [*hosts("h1", "h2")]  # both on 127.0.0.1, as several dockerd on one machine
    low, high = pool[0].dynamic_ports
    busy = frozenset({(p, "tcp") for p in range(low, high - 100)})
    taken = replace(pool[0], ports_used=busy)
    rev = revision("web:1", PORTED)
    p = plan_service(
        ServiceDesired("web", 6, rev), [], {}, [], {"web:1": PORTED}, [taken, pool[1]], now=T0
    )
    ports = [hp for launch in p.launch for (_, _, hp) in launch.host_ports]
    assert len(ports) == 6 and len(set(ports)) == 6
    assert all(high - 100 <= hp <= high for hp in ports)  # none of the ports in use at the address


def test_dynamic_ports_come_from_the_hosts_range_not_the_kernels_ephemeral_one() -> None:
    pool = [replace(h, dynamic_ports=(20000, 20099)) for h in hosts("h1")]
    rev = revision("web:1", PORTED)
    p = plan_service(ServiceDesired("web", 20, rev), [], {}, [], {"web:1": PORTED}, pool, now=T0)
    ports = [hp for launch in p.launch for (_, _, hp) in launch.host_ports]
    assert len(set(ports)) == 20 and all(20000 <= hp <= 20099 for hp in ports)


def test_tasks_still_stopping_count_against_maximum_percent() -> None:
    # 50/100 with 4 tasks: 2 old ones are being stopped but their containers still run.
    records = {t: stop_record(t, "Scaling activity", requested=T0 + 99) for t in "ab"}
    old = [running(t, rev="web:1") for t in "abcd"]
    p = plan(want(4, WEB2, minimum_healthy_percent=50, maximum_percent=100), old, records=records)
    assert not p.launch  # 4 containers up already: the ceiling
    gone = [task(t, container(t, state="exited", exit_code=143)) for t in "ab"]
    p = plan(
        want(4, WEB2, minimum_healthy_percent=50, maximum_percent=100),
        [*gone, *old[2:]],
        records=records,
    )
    assert len(p.launch) == 2  # once they have exited
