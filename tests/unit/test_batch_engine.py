"""The Batch pass on fake engines: a submitted job is placed, runs, and ends as its exit code
and retry strategy say, with its output kept after its container is gone."""

from __future__ import annotations

import itertools
from pathlib import Path

from controller.engine import batch_commands
from controller.engine.sync_batch import ATTEMPT_LABEL, BATCH, JOB_LABEL
from controller.engine.sync_job_definition import resolve_definition
from controller.reconcilers.batch_jobs import Job, SubmitRequest, submit
from tests.unit.test_controller import Harness

MANIFESTS = """\
apiVersion: skiff/v1
kind: ComputeEnvironment
metadata: {name: ce}
spec: {maxvCpus: 2}
---
apiVersion: skiff/v1
kind: JobQueue
metadata: {name: q}
spec:
  priority: 1
  computeEnvironmentOrder: [{order: 1, computeEnvironment: ce}]
---
apiVersion: skiff/v1
kind: JobDefinition
metadata: {name: work}
spec:
  containerProperties: {image: skiff/busybox:latest, command: [sh, -c, work], vcpus: 1, memory: 64}
  retryStrategy:
    attempts: 3
    evaluateOnExit: [{onExitCode: "3", action: EXIT}]
"""


def harness(tmp_path: Path) -> Harness:
    h = Harness(tmp_path / "m")
    h.write("batch.yaml", MANIFESTS)
    h.load()
    h.converge()
    return h


_ids = (f"job{n}" for n in itertools.count())


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
