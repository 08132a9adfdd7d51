"""The first-class metrics the dashboards and alerts read (deploy/prometheus, deploy/grafana),
each set where Skiff learns the fact: engines and resources by status at each scrape, the
Docker event lag by the host observer, deployments, circuit breaker trips and stopped tasks by
the service sync, activities and policy decisions by the scaling pass, finished jobs and failed
attempts by Batch, and per-request target response times by the load balancer sync. Fake
engines, a fake data plane and a fixed clock; nothing sleeps."""

from __future__ import annotations

import threading
from pathlib import Path

from controller.core.observer import HostObserver
from controller.runtime import ContainerInfo, StartFailed
from controller.runtime.fake import FakeRuntime
from controller.telemetry import HostFigures, Metrics
from tests.support.builders import FakeClock
from tests.support.harness import Harness, manifest
from tests.unit.scaling_engine_support import cpu_policy, running_group, scaling_harness
from tests.unit.test_batch_engine import containers, harness, job, run, send
from tests.unit.test_controller_deployments import with_breaker
from tests.unit.test_lb_sync import FRONT, balancer, service
from tests.unit.test_lb_sync import Harness as LbHarness
from tests.unit.test_observer import create


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# --- at each scrape --------------------------------------------------------------------------


def test_engines_and_resources_by_status_are_read_at_each_scrape(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    m = h.ctl.metrics
    assert (
        sum(
            s.value
            for family in m.registry.collect()
            for s in family.samples
            if s.name == "skiff_host_up" and s.labels["host"] == "local"
        )
        == 1
    )
    assert value(m, "skiff_resource_status", kind="Service", status="ACTIVE") == 1
    assert value(m, "skiff_resource_status", kind="TaskDefinition", status="ACTIVE") == 1
    for status in ("ERROR", "DRAINING", "PENDING"):  # every status has a series, 0 when none
        assert (
            m.registry.get_sample_value(
                "skiff_resource_status", {"kind": "Service", "status": status}
            )
            == 0
        )
    # Docker refuses to start its new task: the service is in ERROR.
    h.fake.fail("start", StartFailed('exec: "serve": not found'), times=1000)
    h.write("web.yaml", manifest(3))
    h.load()
    h.ctl.run_until_idle()
    assert h.status()["status"] == "ERROR"
    assert value(m, "skiff_resource_status", kind="Service", status="ERROR") == 1
    assert value(m, "skiff_resource_status", kind="Service", status="ACTIVE") == 0


def test_an_engine_that_does_not_answer_is_down() -> None:
    m = Metrics()
    m.watch_pool(
        lambda: [
            HostFigures("a", "z1", True, 1, 1, 0, 0),
            HostFigures("b", "z2", False, 1, 1, 0, 0),
        ]
    )
    assert value(m, "skiff_host_up", host="a", zone="z1") == 1
    assert m.registry.get_sample_value("skiff_host_up", {"host": "b", "zone": "z2"}) == 0


class HeldInspects(FakeRuntime):
    """A fake engine on a fixed clock whose inspects wait while `gate` is closed."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.gate, self.entered = threading.Event(), threading.Event()

    def inspect(self, container_id: str) -> ContainerInfo:
        info = super().inspect(container_id)
        self.entered.set()
        self.gate.wait(10)
        return info


def test_the_event_lag_runs_from_dockers_timestamp_until_the_container_was_refreshed() -> None:
    clock = FakeClock()
    engine = HeldInspects(clock)
    m = Metrics()
    done = threading.Event()

    def on_lag(seconds: float) -> None:
        m.docker_event_lag.observe(seconds)
        done.set()

    observer = HostObserver("h1", engine, lambda *a: None, clock=clock, on_lag=on_lag)
    observer.resync()
    observer.start()
    try:
        create(engine)  # its event carries the engine's time, now
        assert engine.entered.wait(10)
        clock.advance(2.5)  # the daemon is busy: the inspect answers 2.5 s later
        engine.gate.set()
        assert done.wait(10)
    finally:
        observer.stop()
    assert value(m, "skiff_docker_event_lag_seconds_count") == 1
    assert value(m, "skiff_docker_event_lag_seconds_sum") == 2.5
    assert value(m, "skiff_docker_event_lag_seconds_bucket", le="2.5") == 1
    assert value(m, "skiff_docker_event_lag_seconds_bucket", le="1.0") == 0


# --- ECS ----------------------------------------------------------------------------------------


def failing_v2(h: Harness) -> None:
    h.fake.fail(
        "start",
        StartFailed('exec: "v2": not found'),
        times=1000,
        match=lambda cid: h.fake.specs[cid].command == ("v2",),
    )


def roll_out(h: Harness, text: str) -> None:
    h.write("web.yaml", text)
    h.load()
    for _ in range(12):  # relaunches are throttled: let time pass between rounds
        h.converge()
        h.clock.advance(30)


def test_a_tripped_breaker_counts_a_trip_and_the_tasks_that_failed_to_start(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", with_breaker(manifest(4, command="v1")))
    m = h.ctl.metrics
    assert value(m, "skiff_service_deployments", service="web", rollout_state="COMPLETED") == 1
    failing_v2(h)
    roll_out(h, with_breaker(manifest(4, command="v2")))
    assert value(m, "skiff_service_circuit_breaker_trips_total", service="web") == 1
    # clamp(ceil(0.5 x 4), 3, 200) = 3 tasks failed before it tripped
    failed = value(m, "skiff_tasks_stopped_total", service="web", reason="TaskFailedToStart")
    assert failed >= 3
    # Rolled back: the v1 deployment is PRIMARY and COMPLETED again.
    assert value(m, "skiff_service_deployments", service="web", rollout_state="COMPLETED") == 1
    assert value(m, "skiff_service_deployments", service="web", rollout_state="IN_PROGRESS") == 0


def test_a_failed_rollout_without_rollback_is_a_failed_deployment(tmp_path: Path) -> None:
    breaker = "\n  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true}\n"
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(4, command="v1") + breaker)
    failing_v2(h)
    roll_out(h, manifest(4, command="v2") + breaker)
    m = h.ctl.metrics
    assert value(m, "skiff_service_deployments", service="web", rollout_state="FAILED") == 1
    assert value(m, "skiff_service_circuit_breaker_trips_total", service="web") == 1


def test_stopped_tasks_are_counted_once_by_their_stop_code(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(4))
    m = h.ctl.metrics
    h.fake.exit(h.running()[0].id, 1)
    h.converge()
    h.converge()
    assert (
        value(m, "skiff_tasks_stopped_total", service="web", reason="EssentialContainerExited") == 1
    )
    assert len(h.running()) == 4  # replaced
    h.apply("web.yaml", manifest(2))
    assert len(h.running()) == 2
    scaled = value(
        m, "skiff_tasks_stopped_total", service="web", reason="ServiceSchedulerInitiated"
    )
    assert scaled == 2
    h.converge()
    assert (
        value(m, "skiff_tasks_stopped_total", service="web", reason="EssentialContainerExited") == 1
    )


# --- Auto Scaling ---------------------------------------------------------------------------------


def test_a_scale_out_counts_the_policys_decision_and_the_groups_activities(
    tmp_path: Path,
) -> None:
    h = scaling_harness(tmp_path)
    running_group(h, 2, cpu_policy())
    m = h.ctl.metrics
    launches = value(m, "skiff_autoscaling_activities_total", group="web", status="Successful")
    assert launches == 2  # the group's first two instances
    assert (
        value(m, "skiff_scaling_policy_decisions_total", policy="cpu50", decision="no_change") > 0
    )
    h.busy(0.8)  # 80% CPU against a target of 50%: ceil(2 x 80 / 50) = 4
    h.tick(4)
    assert h.group()["desiredCapacity"] == 4
    assert (
        value(m, "skiff_scaling_policy_decisions_total", policy="cpu50", decision="scale_out") == 1
    )
    # Setting the desired capacity, then two launches
    after = value(m, "skiff_autoscaling_activities_total", group="web", status="Successful")
    assert after == launches + 3


# --- Batch ----------------------------------------------------------------------------------------


def test_finished_jobs_and_failed_attempts_are_counted_by_queue(tmp_path: Path) -> None:
    h = harness(tmp_path)
    ok, bad = send(h, 2)
    run(h)
    run(h)
    m = h.ctl.metrics
    (first,) = containers(h, ok)
    h.fake.exit(first, 0)
    (attempt,) = containers(h, bad)
    h.fake.exit(attempt, 1)  # retried
    run(h)
    run(h)
    assert job(h, ok).status == "SUCCEEDED"
    assert value(m, "skiff_batch_jobs_finished_total", queue="q", status="SUCCEEDED") == 1
    assert value(m, "skiff_batch_attempts_failed_total", queue="q") == 1
    (second,) = containers(h, bad)
    h.fake.exit(second, 3)  # onExitCode 3: EXIT
    run(h)
    assert job(h, bad).status == "FAILED"
    assert value(m, "skiff_batch_jobs_finished_total", queue="q", status="FAILED") == 1
    assert value(m, "skiff_batch_attempts_failed_total", queue="q") == 2
    run(h)
    assert value(m, "skiff_batch_jobs_finished_total", queue="q", status="SUCCEEDED") == 1


# --- ELB ------------------------------------------------------------------------------------------


def test_each_requests_target_response_time_goes_into_the_groups_histogram(
    tmp_path: Path,
) -> None:
    h = LbHarness(tmp_path / "m")
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(1))
    for seconds in (0.002, 0.004, 0.030, 0.700):
        h.dp.respond("web", seconds)
    h.converge()
    h.ctl.queue.add(("LoadBalancer", "*"))
    h.ctl.run_until_idle()
    m = h.ctl.metrics
    name = "skiff_target_group_response_time_seconds"
    assert value(m, f"{name}_count", target_group="web") == 4
    assert abs(value(m, f"{name}_sum", target_group="web") - 0.736) < 1e-9
    assert value(m, f"{name}_bucket", target_group="web", le="0.005") == 2
    assert value(m, f"{name}_bucket", target_group="web", le="0.05") == 3
    assert value(m, f"{name}_bucket", target_group="web", le="+Inf") == 4
    h.converge()  # taken once: later passes add nothing
    assert value(m, f"{name}_count", target_group="web") == 4


def test_a_sampled_request_counts_as_the_requests_it_stands_for_until_its_group_is_deleted(
    tmp_path: Path,
) -> None:
    h = LbHarness(tmp_path / "m")
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(1))
    m = h.ctl.metrics
    name = "skiff_target_group_response_time_seconds"
    assert value(m, f"{name}_count", target_group="web") == 0  # the series, before any request
    assert f'{name}_count{{target_group="web"}}' in m.exposition().decode()
    h.dp.respond("web", 0.003)  # a quiet listener: weight 1
    h.dp.respond("web", 0.040, weight=16)  # above 200 req/s: 1 in 16 logged
    h.dp.respond("web", 0.040, weight=128)  # above 3200 req/s: 1 in 128
    h.ctl.queue.add(("LoadBalancer", "*"))
    h.ctl.run_until_idle()
    assert value(m, f"{name}_count", target_group="web") == 145
    assert abs(value(m, f"{name}_sum", target_group="web") - (0.003 + 0.040 * 144)) < 1e-9
    assert value(m, f"{name}_bucket", target_group="web", le="0.005") == 1
    assert value(m, f"{name}_bucket", target_group="web", le="0.05") == 145
    h.delete("lb.yaml")  # the target group goes with its file: so does its series
    assert f"{name}_count{{" not in m.exposition().decode()
