"""The Batch pass on fake engines: a submitted job is placed, runs, and ends as its exit code
and retry strategy say, with its output kept after its container is gone."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controller.batch.planners.jobs import (
    Job,
)
from controller.batch.planners.submit import SubmitRequest, submit
from controller.batch.sync import commands as batch_commands
from controller.batch.sync.containers import ATTEMPT_LABEL, JOB_LABEL, NODE_LABEL, STOP_TIMEOUT
from controller.batch.sync.job_definition import resolve_definition
from controller.batch.sync.jobs import BATCH, LOST_AFTER, _pulls, sync_batch
from controller.core.outcomes import CommandError
from controller.runtime import ContainerSpec, ContainerSummary, EngineUnavailable
from controller.runtime.fake import FakeRuntime
from tests.support.builders import FakeClock
from tests.support.documents import (
    compute_environment_doc,
    dump,
    job_definition_doc,
    job_queue_doc,
)
from tests.support.harness import Harness, hosts_yaml


def batch_docs(**container: Any) -> list[dict[str, Any]]:
    """Environment `ce` (2 vCPUs), queue `q` over it, and definition `work` (1 vCPU, 64 MiB,
    up to 3 attempts, exit code 3 ends it) whose containerProperties also hold `container`."""
    properties = {
        "image": "skiff/busybox:latest",
        "command": ["sh", "-c", "work"],
        "vcpus": 1,
        "memory": 64,
        **container,
    }
    retry = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]}
    return [
        compute_environment_doc("ce", maxvCpus=2),
        job_queue_doc("q", "ce"),
        job_definition_doc("work", containerProperties=properties, retryStrategy=retry),
    ]


MANIFESTS = dump(*batch_docs())


def harness(tmp_path: Path) -> Harness:
    h = Harness(tmp_path / "m")
    h.write("batch.yaml", MANIFESTS)
    h.load()
    h.converge()
    return h


# Zero-padded: ids order as they were sent (job10 would sort before job9), whichever tests
# sent jobs before in this process.
_ids = (f"job{n:06d}" for n in itertools.count())


def send(h: Harness, count: int = 1) -> list[str]:
    """What `skiff batch submit` will do: validated jobs, written to the store."""
    found = resolve_definition(h.ctl, "work")
    queue = h.ctl.desired[("JobQueue", "q")].spec
    made: list[str] = []
    for _ in range(count):
        known = {r["job_id"]: Job.from_record(r) for r in h.store.jobs()}
        jobs = submit(
            SubmitRequest(job_definition="work"),
            queue,
            "q",
            found,
            known,
            h.clock(),
            lambda: next(_ids),
        )
        h.store.put_jobs([j.to_record() for j in jobs])
        made.append(jobs[0].job_id)
    return made


def run(h: Harness) -> None:
    h.ctl.queue.add(BATCH)
    h.converge()


def one_pass(h: Harness) -> None:
    h.ctl.resync()
    sync_batch(h.ctl)


def job(h: Harness, job_id: str) -> Job:
    return Job.from_record(h.store.job(job_id) or {})


def containers(h: Harness, job_id: str) -> list[str]:
    return [c.id for c in h.fake.containers.values() if c.labels.get(JOB_LABEL) == job_id]


def test_a_job_runs_and_succeeds_and_its_output_is_kept(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    run(h)
    assert job(h, jid).status == "RUNNING"
    (cid,) = containers(h, jid)
    assert h.fake.containers[cid].labels[ATTEMPT_LABEL] == "1"
    h.fake.set_logs(cid, "done\n")
    h.fake.exit(cid, 0)
    run(h)
    assert job(h, jid).status == "SUCCEEDED"
    assert containers(h, jid) == []  # removed, and its output kept
    assert h.store.job_logs(jid) == [(1, 0, "done\n")]


def test_no_more_than_max_vcpus_run_at_once(tmp_path: Path) -> None:
    h = harness(tmp_path)
    ids = send(h, 5)
    run(h)
    run(h)
    running = [j for j in ids if job(h, j).status in ("STARTING", "RUNNING")]
    assert len(running) == 2  # maxvCpus 2, one vCPU each
    for j in running:
        (cid,) = containers(h, j)
        h.fake.exit(cid, 0)
    run(h)
    run(h)
    assert sum(job(h, j).status == "SUCCEEDED" for j in ids) == 2
    assert sum(job(h, j).status in ("STARTING", "RUNNING") for j in ids) == 2


def test_a_failed_attempt_is_retried_and_an_exit_rule_ends_it(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    (first,) = containers(h, jid)
    h.fake.exit(first, 1)  # no rule matches: retry
    run(h)
    run(h)
    j = job(h, jid)
    assert (j.status, j.attempt_number) == ("RUNNING", 2)
    (second,) = containers(h, jid)
    assert h.fake.containers[second].labels[ATTEMPT_LABEL] == "2"
    h.fake.exit(second, 3)  # onExitCode 3: EXIT
    run(h)
    j = job(h, jid)
    assert j.status == "FAILED" and len(j.attempts) == 2


def test_finished_jobs_still_count_in_the_queue_and_release_their_dependents(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    done = send(h, 3)
    run(h)
    run(h)
    for jid in done[:2]:
        (cid,) = containers(h, jid)
        h.fake.exit(cid, 0)
    run(h)
    assert [job(h, j).status for j in done[:2]] == ["SUCCEEDED", "SUCCEEDED"]
    # A job submitted later on a job finished long ago: the pass reads the finished one only
    # because this one names it.
    later = batch_commands.submit_job(
        h.ctl, {"jobQueue": "q", "jobDefinition": "work", "dependsOn": [{"jobId": done[0]}]}
    )["jobId"]
    run(h)
    (cid,) = containers(h, done[2])
    h.fake.exit(cid, 0)
    run(h)
    assert job(h, later).status in ("STARTING", "RUNNING")
    counts = h.ctl.status[("JobQueue", "q")].details["jobs"]
    assert counts == {"SUCCEEDED": 3, job(h, later).status: 1}
    assert h.ctl.metrics.batch_jobs.labels("q", "RUNNING")._value.get() == (
        1 if job(h, later).status == "RUNNING" else 0
    )


MORE = dump(
    compute_environment_doc("one", maxvCpus=1),
    job_queue_doc("fair", "one", fairSharePolicy={"shareDecaySeconds": 3600}),
    job_definition_doc(
        "missing-image",
        containerProperties={
            "image": "nowhere/nothing:1",
            "command": ["true"],
            "vcpus": 1,
            "memory": 64,
        },
    ),
)


def submit_to(h: Harness, queue: str, definition: str = "work", **extra: object) -> str:
    body = {"jobQueue": queue, "jobDefinition": definition, **extra}
    return str(batch_commands.submit_job(h.ctl, body)["jobId"])


def test_a_launch_the_pass_did_not_live_to_save_is_adopted_not_repeated(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    (cid,) = containers(h, jid)
    # The daemon died after starting the container and before saving the placement.
    j = job(h, jid)
    h.store.put_jobs([replace(j, status="RUNNABLE", host=None, container_ids=()).to_record()])
    run(h)
    assert containers(h, jid) == [cid]  # not started a second time
    assert job(h, jid).status == "RUNNING"
    assert job(h, jid).container_ids == (cid,)


def test_an_attempt_whose_container_vanished_ends_and_is_retried(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    (cid,) = containers(h, jid)
    h.fake.remove(cid)  # `docker rm -f` behind Skiff's back
    run(h)
    assert job(h, jid).status == "RUNNING"  # a moment's absence may be the observer's lag
    h.clock.advance(LOST_AFTER)
    run(h)
    j = job(h, jid)
    assert j.attempts[0].status_reason is not None
    assert j.attempts[0].status_reason.startswith("CannotInspectContainerError")
    assert j.status == "RUNNING" and len(containers(h, jid)) == 1  # attempt 2 (of 3) runs


def test_a_terminated_job_that_ignores_sigterm_is_killed_after_the_stop_timeout(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    (cid,) = containers(h, jid)
    h.fake.ignore_sigterm.add(cid)
    batch_commands.terminate_job(h.ctl, jid, None)
    run(h)
    assert job(h, jid).status == "RUNNING"  # SIGTERM sent, and ignored
    h.clock.advance(STOP_TIMEOUT)
    run(h)
    j = job(h, jid)
    assert (j.status, j.status_reason) == ("FAILED", "Terminated by the user")
    assert j.attempts[0].exit_code == 137
    assert containers(h, jid) == []


def test_fair_share_alternates_between_shares_from_pass_to_pass(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.apply("more.yaml", MORE)
    ids = []
    for s in "AAABBB":  # A's jobs first: FIFO alone would run them all before B's
        ids.append(submit_to(h, "fair", shareIdentifier=s))
        h.clock.advance(1)
    share = dict(zip(ids, "AAABBB", strict=True))
    order = []
    for _ in range(6):  # maxvCpus 1: one job at a time
        run(h)
        (running,) = [j for j in ids if containers(h, j)]
        order.append(share[running])
        (cid,) = containers(h, running)
        h.fake.exit(cid, 0)
        h.clock.advance(60)
    assert "".join(order) == "ABABAB"


def test_only_a_fair_share_queue_charges_its_share_with_what_an_attempt_used(
    tmp_path: Path,
) -> None:
    # Usage is what the fair-share scheduler orders shares by; a FIFO queue has none to order,
    # and a row per job would grow the store with every job run.
    h = harness(tmp_path)
    h.apply("more.yaml", MORE)
    fair, fifo = submit_to(h, "fair", shareIdentifier="A"), submit_to(h, "q")
    run(h)
    h.clock.advance(30)
    for jid in (fair, fifo):
        (cid,) = containers(h, jid)
        h.fake.exit(cid, 0)
    run(h)
    assert {job(h, j).status for j in (fair, fifo)} == {"SUCCEEDED"}
    (charged,) = h.store.share_usage(0)
    assert charged[:2] == ("fair", "A") and charged[3] >= 30  # 1 vCPU for its 30 s or more


def test_an_image_that_cannot_be_pulled_fails_the_attempt(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.apply("more.yaml", MORE)
    jid = submit_to(h, "fair", "missing-image")
    run(h)
    _pulls(h.ctl).settle(10)
    run(h)
    described = batch_commands.describe_job(h.ctl, jid)
    assert described["status"] == "FAILED"
    assert described["statusReason"] == "Task failed to start"
    reason = described["attempts"][0]["container"]["reason"]
    assert reason.startswith("CannotPullContainerError")


def test_a_malformed_submit_is_refused_with_the_field_named(tmp_path: Path) -> None:
    h = harness(tmp_path)
    for body, field in (
        ({"arrayProperties": 5}, "arrayProperties"),
        ({"dependsOn": [{"jobId": {"x": 1}}]}, "dependsOn"),
    ):
        with pytest.raises(CommandError, match=field):
            batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work", **body})


def test_an_attempt_on_a_lost_host_ends_as_aws_ends_one_on_a_terminated_instance(
    tmp_path: Path,
) -> None:
    a, b = FakeRuntime(name="a"), FakeRuntime(name="b")
    h = Harness(tmp_path / "m", engines={"a": a, "b": b})
    h.write("hosts.yaml", hosts_yaml("a", "b"))
    h.apply("batch.yaml", MANIFESTS)
    (jid,) = send(h)
    run(h)
    first = job(h, jid).host
    engine, other = (a, b) if first == "a" else (b, a)
    (old,) = [c.id for c in engine.containers.values()]
    engine.set_logs(old, "attempt 1 output\n")
    engine.down = True  # its cached container still looks as if it ran
    h.ctl.resync()
    run(h)
    assert job(h, jid).status == "RUNNING"  # unreachable is not lost, yet
    h.clock.advance(61)  # past --host-lost-after
    run(h)
    j = job(h, jid)
    assert j.attempts[0].status_reason == f"Host EC2 (instance {first}) terminated."
    assert (j.status, j.host) == ("RUNNING", other.name)  # attempt 2 of 3, elsewhere
    engine.down = False  # back, with attempt 1 still there: cleared, its output kept
    h.ctl.resync()
    run(h)
    assert old not in engine.containers
    assert (1, 0, "attempt 1 output\n") in h.store.job_logs(jid)


def two_node_definition() -> dict[str, Any]:
    """Definition `mnp`: two nodes, node 0 the main one, each half a vCPU."""
    container = {"image": "skiff/busybox:latest", "command": ["sh"], "vcpus": 0.5, "memory": 32}
    return job_definition_doc(
        "mnp",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
        },
    )


def test_a_multi_node_job_whose_main_node_vanished_ends(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.apply("mnp.yaml", dump(two_node_definition()))
    jid = submit_to(h, "q", "mnp")
    run(h)
    main = next(
        c.id
        for c in h.fake.containers.values()
        if c.labels.get(JOB_LABEL) == jid and c.labels.get(NODE_LABEL) == "0"
    )
    h.fake.remove(main)
    h.clock.advance(LOST_AFTER)
    run(h)
    j = job(h, jid)
    assert j.attempts and j.attempts[0].status_reason is not None
    assert "CannotInspectContainerError" in j.attempts[0].status_reason
    assert len(containers(h, jid)) <= 2  # the worker of attempt 1 cleared, not left running
    assert all(h.fake.containers[c].labels[ATTEMPT_LABEL] != "1" for c in containers(h, jid))


def test_a_container_left_created_by_a_broken_launch_is_adopted_and_started(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.fake.fail("start", EngineUnavailable("engine busy"))  # the launch fails half way...
    h.fake.fail("remove", EngineUnavailable("engine busy"))  # ...and cannot undo itself
    (jid,) = send(h)
    run(h)
    (cid,) = containers(h, jid)  # one container, never started twice
    assert h.fake.containers[cid].running
    assert job(h, jid).status == "RUNNING"


def test_an_attempt_whose_containers_never_start_ends(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.fake.fail("start", EngineUnavailable("engine busy"), times=1000)
    h.fake.fail("remove", EngineUnavailable("engine busy"))
    (jid,) = send(h)
    for _ in range(3):  # passes one by one: each tries to start the container again
        one_pass(h)
    assert job(h, jid).status == "STARTING"
    h.clock.advance(LOST_AFTER)
    one_pass(h)
    j = job(h, jid)
    assert j.attempts[0].status_reason == "Task failed to start"
    assert j.attempts[0].reason == "CannotStartContainerError: its containers did not start"


def test_a_stray_container_of_the_attempt_is_cleared_not_taken_for_the_job(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    run(h)
    (cid,) = containers(h, jid)
    labels = dict(h.fake.containers[cid].labels)  # a create whose answer was lost, say
    stray = h.fake.create(ContainerSpec(name="stray", image="skiff/busybox:latest", labels=labels))
    run(h)
    assert stray not in h.fake.containers
    assert containers(h, jid) == [cid] and job(h, jid).status == "RUNNING"


def test_a_cache_behind_the_engine_never_starts_an_attempt_twice(tmp_path: Path) -> None:
    h = harness(tmp_path)
    (jid,) = send(h)
    h.ctl.resync()
    sync_batch(h.ctl)  # launched: STARTING
    (cid,) = containers(h, jid)
    h.fake.exit(cid, 0)  # a short job: done before the observer caught up
    observer = next(iter(h.ctl.hosts.values())).observer
    observer._put(replace(h.fake.containers[cid], state="created", started_at=None))
    sync_batch(h.ctl)  # sees it "created": asks Docker before starting it
    assert h.fake.containers[cid].exited
    assert [op for op, arg in h.fake.calls if arg == cid].count("start") == 1


class SlowRegistry(FakeRuntime):
    """Pulls wait until the test lets them finish."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.pulled = threading.Event()

    def pull_image(self, image: str) -> None:
        assert self.pulled.wait(10)
        super().pull_image(image)


def test_an_image_is_pulled_in_the_background_then_the_job_runs(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = SlowRegistry(clock)
    h = Harness(tmp_path / "m", fake=engine, clock=clock)
    h.write("batch.yaml", MANIFESTS)
    h.apply("more.yaml", MORE)
    engine.registry.add("nowhere/nothing:1")  # pullable, not on the engine yet
    jid = submit_to(h, "fair", "missing-image")
    other = submit_to(h, "q")
    run(h)
    assert job(h, jid).status == "RUNNABLE"  # pulling: the pass did not wait for it
    assert job(h, other).status == "RUNNING"  # and the other queue's jobs went on
    batch_commands.cancel_job(h.ctl, other, None)  # nor do commands wait
    engine.pulled.set()
    _pulls(h.ctl).settle(10)
    run(h)
    assert job(h, jid).status == "RUNNING"


def test_a_runnable_job_says_why_it_waits(tmp_path: Path) -> None:
    h = harness(tmp_path)
    first, _, third = send(h, 3)  # one vCPU each; maxvCpus 2
    run(h)
    waiting = batch_commands.describe_job(h.ctl, third)
    assert waiting["status"] == "RUNNABLE"
    assert "maxvCpus" in waiting["statusReason"]
    (cid,) = containers(h, first)
    h.fake.exit(cid, 0)
    run(h)
    assert "statusReason" not in batch_commands.describe_job(h.ctl, third)  # placed: over


class Lagging(FakeRuntime):
    """An engine whose observer has not yet handled the events of the containers in
    `unseen`: they exist and run, but its lists leave them out."""

    def __init__(self) -> None:
        super().__init__()
        self.unseen: set[str] = set()

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        return [r for r in super().list_containers(labels) if r.id not in self.unseen]


def test_a_multi_node_job_runs_only_once_the_observer_sees_every_node(tmp_path: Path) -> None:
    engine = Lagging()
    h = Harness(tmp_path / "m", fake=engine)
    h.apply("batch.yaml", MANIFESTS)
    h.apply("mnp.yaml", dump(two_node_definition()))
    jid = submit_to(h, "q", "mnp")
    one_pass(h)  # placed and launched
    launched = set(containers(h, jid))
    assert len(launched) == 2
    worker = next(c for c in launched if engine.containers[c].labels[NODE_LABEL] == "1")
    engine.unseen.add(worker)  # the worker's `start` is still on its way to the observer
    one_pass(h)
    assert job(h, jid).status == "STARTING"  # one node of two seen: not running yet
    assert set(containers(h, jid)) == launched  # and the unseen worker is no stray
    assert engine.containers[worker].running
    engine.unseen.clear()
    one_pass(h)
    j = job(h, jid)
    assert j.status == "RUNNING"
    assert set(j.container_ids) == launched
