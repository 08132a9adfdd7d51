"""What a user asked for survives the daemon: a clean restart writes nothing, SIGKILL loses none,
and SIGTERM stops it cleanly whatever it is doing."""

from __future__ import annotations

import signal

import pytest

from tests.slow_prometheus import SlowPrometheus, alarms
from tests.support.daemon import Skiff, wait_for
from tests.support.documents import service_manifest

pytestmark = pytest.mark.integration

WRITES = ("create", "start", "kill", "remove")


def test_restarting_a_converged_daemon_makes_zero_create_or_remove_calls(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 4))
    skiff.start()
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 30, "a steady service")
    before = {c.id for c in skiff.running(web)}
    skiff.stop()

    skiff.start()
    wait_for(lambda: skiff.metric("skiff_reconcile_total", kind="Service") >= 1, 20, "a reconcile")
    wait_for(
        lambda: (
            skiff.resource("Service", web).get("steadyState")
            and skiff.metric("skiff_workqueue_depth") == 0
        ),
        20,
        "the restarted daemon to settle",
    )
    for op in WRITES:
        assert skiff.metric("skiff_docker_api_calls_total", operation=op) == 0, op
    assert {c.id for c in skiff.running(web)} == before
    assert skiff.resource("TaskDefinition", web)["latestRevision"] == f"{web}:1"


def test_sigkill_in_the_middle_of_a_scale_up_then_restart_ends_with_exactly_desired(
    skiff: Skiff,
) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 0))
    skiff.start("--parallelism", "2")
    skiff.write("web.yaml", service_manifest(web, 24))
    wait_for(lambda: len(skiff.containers(web, all=True)) >= 4, 30, "the scale-up under way")
    skiff.kill9()
    midway = len(skiff.containers(web, all=True))
    assert midway < 24, "the scale-up finished before the kill; nothing was tested"

    skiff.start("--parallelism", "2")
    wait_for(lambda: len(skiff.running(web)) == 24, 60, "24 running tasks after the restart")
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 20, "a steady service")
    everything = skiff.containers(web, all=True)
    assert len(everything) == 24  # no duplicates, no half-made orphans
    assert len({c.labels["skiff.task"] for c in everything}) == 24


def test_sigkill_in_the_middle_of_a_deployment_then_restart_completes_it(skiff: Skiff) -> None:
    web = skiff.name("web")
    halves = {"deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 100}}
    skiff.write("web.yaml", service_manifest(web, 6, env="v1", service=halves))
    skiff.start("--parallelism", "2")
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 40, "a steady service")
    skiff.write("web.yaml", service_manifest(web, 6, env="v2", service=halves))
    wait_for(
        lambda: any(c.labels["skiff.revision"] == f"{web}:2" for c in skiff.running(web)),
        30,
        "the deployment under way",
    )
    skiff.kill9()
    left = [c.labels["skiff.revision"] for c in skiff.running(web)]
    assert f"{web}:1" in left, "the deployment finished before the kill; nothing was tested"

    skiff.start("--parallelism", "2")

    def done() -> bool:
        svc = skiff.resource("Service", web)
        tasks = skiff.running(web)
        return (
            svc["deployments"][0]["rolloutState"] == "COMPLETED"
            and len(tasks) == 6
            and {c.labels["skiff.revision"] for c in tasks} == {f"{web}:2"}
        )

    wait_for(done, 60, "the deployment completed after the restart")
    deployments = skiff.resource("Service", web)["deployments"]
    # The one deployment begun before the kill was continued, not started again.
    assert [(d["taskDefinition"], d["status"]) for d in deployments] == [
        (f"{web}:2", "PRIMARY"),
        (f"{web}:1", "INACTIVE"),
    ]
    assert len(skiff.containers(web, all=True)) <= 6 + 5  # the kept stopped tasks, no orphans


def test_sigterm_during_prometheus_queries_stops_the_daemon_cleanly(skiff: Skiff) -> None:
    prometheus = SlowPrometheus()
    prometheus.hold = True  # every query waits: the collection is under way when SIGTERM comes
    try:
        queries = ["sum(a)", "sum(b)", "sum(c)"]  # two in flight, the third waits for a thread
        skiff.write("alarms.yaml", alarms(prometheus.url, queries, skiff.name("")))
        skiff.start("--parallelism", "2")
        for _ in range(2):
            assert prometheus.entered.acquire(timeout=30), "the collection asks Prometheus"
        assert skiff.proc is not None
        skiff.proc.send_signal(signal.SIGTERM)
        # The collection ends where it is (or, as it did, the stop gives up on it after 10 s);
        # then the queries get their answers, so the last threads can end.
        wait_for(
            lambda: any(e in skiff.log.read_text() for e in ("reconcile.stopped", "stop_forced")),
            30,
            "the collection to end",
        )
    finally:
        prometheus.close()
    assert skiff.proc.wait(timeout=30) == 0
    log = skiff.log.read_text()
    assert "reconcile.crash" not in log and "Traceback" not in log, skiff.tail()
    assert "daemon.stop_forced" not in log, "the stop waited out its grace for the collection"
