"""AWS Batch on a real engine: jobs submitted through the CLI run under their queue's vCPU
limit, retry as their definition says, keep their output, multi-node jobs reach their main
node, and every state change is an event on the daemon's stream."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import (
    IMAGE,
    compute_environment_doc,
    dump,
    job_definition_doc,
    job_queue_doc,
)

pytestmark = pytest.mark.integration


def manifests(max_vcpus: int, *extra: dict[str, Any]) -> str:
    """Environment `ce` of `max_vcpus`, queue `q`, definitions `work` (retried, exits with its
    `code` after `pause` seconds) and `mnp` (three nodes), and `extra` documents."""
    work = job_definition_doc(
        "work",
        parameters={"code": "0", "pause": "0"},
        containerProperties={
            "image": IMAGE,
            "command": [
                "sh",
                "-c",
                "echo attempt $AWS_BATCH_JOB_ATTEMPT; sleep $1; exit $0",
                "Ref::code",
                "Ref::pause",
            ],
            "vcpus": 1,
            "memory": 32,
        },
        retryStrategy={
            "attempts": 3,
            "evaluateOnExit": [
                {"onExitCode": "3", "action": "EXIT"},
                {"onExitCode": "*", "action": "RETRY"},
            ],
        },
    )
    reach = (
        "ping -c1 -W2 $AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS >/dev/null "
        "&& echo node $AWS_BATCH_JOB_NODE_INDEX reached main"
    )
    nodes = [
        {
            "targetNodes": "0",
            "container": {
                "image": IMAGE,
                "command": ["sh", "-c", "echo main; sleep 3"],
                "vcpus": 0.25,
                "memory": 32,
            },
        },
        {
            "targetNodes": "1:",
            "container": {
                "image": IMAGE,
                "command": ["sh", "-c", reach],
                "vcpus": 0.25,
                "memory": 32,
            },
        },
    ]
    mnp = job_definition_doc(
        "mnp", type="multinode", nodeProperties={"numNodes": 3, "nodeRangeProperties": nodes}
    )
    return dump(
        compute_environment_doc("ce", maxvCpus=max_vcpus),
        job_queue_doc("q", "ce"),
        work,
        mnp,
        *extra,
    )


def batch(skiff: Skiff, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", "batch", *args, "--api", f"127.0.0.1:{skiff.port}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=skiff.cli_env(),
    )


def job_statuses(skiff: Skiff, job_id: str) -> list[str]:
    """The job's state changes from the event stream, oldest first (`skiff events`)."""
    out = subprocess.run(
        [sys.executable, "-m", "controller", "events", "--all", "--kind", "Job", "--name",
         job_id, "--no-follow", "-o", "json", "--api", f"127.0.0.1:{skiff.port}"],
        capture_output=True, text=True, timeout=30, env=skiff.cli_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["detail"]["status"] for line in out.stdout.splitlines()]


def status(skiff: Skiff, job_id: str) -> str:
    return str(json.loads(batch(skiff, "describe", job_id).stdout)["status"])


def running_jobs(skiff: Skiff) -> list[Any]:
    return [
        c
        for c in skiff.docker.containers.list(
            filters={"label": [f"skiff.cluster={skiff.cluster}", "skiff.job"]}
        )
    ]


def test_thirty_jobs_never_run_more_than_the_queues_vcpus_at_once(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    ids = []
    for _ in range(30):
        out = batch(skiff, "submit", "--queue", "q", "--definition", "work")
        assert out.returncode == 0, out.stderr
        ids.append(out.stdout.strip())
    most, stop = [0], threading.Event()

    def watch() -> None:  # polls Docker while the jobs run, bounded in time
        deadline = time.monotonic() + 180
        while not stop.is_set() and time.monotonic() < deadline:
            most[0] = max(most[0], len(running_jobs(skiff)))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        wait_for(
            lambda: all(status(skiff, j) == "SUCCEEDED" for j in ids), 180, "30 jobs succeeded"
        )
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert 1 <= most[0] <= 2  # maxvCpus 2, one vCPU each


def test_a_failed_attempt_is_retried_until_an_exit_rule_stops_it(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    retried = batch(skiff, "submit", "--queue", "q", "--definition", "work",
                    "--parameter", "code=1").stdout.strip()  # fmt: skip
    stopped = batch(skiff, "submit", "--queue", "q", "--definition", "work",
                    "--parameter", "code=3").stdout.strip()  # fmt: skip
    wait_for(lambda: status(skiff, retried) == "FAILED", 60, "three attempts, then FAILED")
    wait_for(lambda: status(skiff, stopped) == "FAILED", 60, "one attempt, then FAILED")
    logs = batch(skiff, "logs", retried).stdout
    assert logs.split() == ["attempt", "1", "attempt", "2", "attempt", "3"]
    assert batch(skiff, "logs", stopped).stdout.split() == ["attempt", "1"]
    attempt = ["RUNNABLE", "STARTING", "RUNNING"]
    assert job_statuses(skiff, retried) == ["SUBMITTED", *attempt * 3, "FAILED"]
    assert job_statuses(skiff, stopped) == ["SUBMITTED", *attempt, "FAILED"]
    refused = batch(skiff, "submit", "--queue", "nowhere", "--definition", "work")
    assert refused.returncode == 1 and "no job queue named 'nowhere'" in refused.stderr


def test_a_multi_node_job_reaches_its_main_node(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    job = batch(skiff, "submit", "--queue", "q", "--definition", "mnp").stdout.strip()
    wait_for(lambda: status(skiff, job) == "SUCCEEDED", 60, "the multi-node job succeeded")
    logs = batch(skiff, "logs", job).stdout
    assert "main" in logs
    assert "node 1 reached main" in logs and "node 2 reached main" in logs


SLOW = job_definition_doc(
    "slow",
    parameters={"pause": "30"},
    containerProperties={
        "image": IMAGE,
        "command": ["sh", "-c", "echo started; sleep $0", "Ref::pause"],
        "vcpus": 1,
        "memory": 32,
    },
    timeout={"attemptDurationSeconds": 2},
)


def describe(skiff: Skiff, job_id: str) -> dict[str, Any]:
    out = batch(skiff, "describe", job_id)
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_an_attempt_past_its_timeout_is_stopped_and_the_job_fails(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2, SLOW))
    skiff.start("--batch-min-timeout", "1")
    job = batch(skiff, "submit", "--queue", "q", "--definition", "slow").stdout.strip()
    wait_for(lambda: status(skiff, job) == "FAILED", 40, "the job timed out")
    d = describe(skiff, job)
    assert d["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(d["attempts"]) == 1  # AWS does not retry a timeout
    assert running_jobs(skiff) == []


def test_the_timeout_floor_refuses_shorter_ones(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2, SLOW))
    skiff.start()  # the floor is AWS's 60 s
    out = batch(skiff, "submit", "--queue", "q", "--definition", "slow")
    assert out.returncode == 1 and "below the minimum 60" in out.stderr


def test_an_array_waits_child_by_child_on_another_with_n_to_n(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    first = batch(skiff, "submit", "--queue", "q", "--definition", "work",
                  "--array-size", "10").stdout.strip()  # fmt: skip
    out = batch(skiff, "submit", "--queue", "q", "--definition", "work", "--array-size", "10",
                "--depends-on", f"{first}:N_TO_N")  # fmt: skip
    assert out.returncode == 0, out.stderr
    second = out.stdout.strip()
    wait_for(lambda: status(skiff, second) == "SUCCEEDED", 180, "both arrays succeeded")
    parent = describe(skiff, second)
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 10
    for i in range(10):
        a, b = describe(skiff, f"{first}:{i}"), describe(skiff, f"{second}:{i}")
        assert b["startedAt"] >= a["stoppedAt"]  # child i waited for its partner only
        assert "AWS_BATCH_JOB_ARRAY_INDEX" not in b  # (its index is in its environment)
    logs = batch(skiff, "logs", f"{second}:3").stdout
    assert logs.strip() == "attempt 1"


def test_jobs_running_when_the_daemon_is_killed_finish_once(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    ids = [
        batch(
            skiff, "submit", "--queue", "q", "--definition", "work", "--parameter", "pause=4"
        ).stdout.strip()
        for _ in range(4)
    ]
    wait_for(lambda: len(running_jobs(skiff)) == 2, 30, "two jobs running")
    skiff.kill9()
    skiff.start()  # the same store: the running jobs are adopted, not started again
    wait_for(lambda: all(status(skiff, j) == "SUCCEEDED" for j in ids), 90, "all four done")
    for j in ids:
        d = describe(skiff, j)
        assert len(d["attempts"]) == 1, d  # none ran twice
        assert batch(skiff, "logs", j).stdout.strip() == "attempt 1"
        assert job_statuses(skiff, j).count("SUCCEEDED") == 1


def test_a_follower_sees_job_state_changes_as_they_happen(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    listen = f"127.0.0.1:{skiff.port}"
    history = subprocess.run(
        [sys.executable, "-m", "controller", "events", "--all", "--no-follow", "-o", "json",
         "--api", listen],
        capture_output=True, text=True, timeout=30, env=skiff.cli_env(),
    ).stdout.splitlines()  # fmt: skip
    last = json.loads(history[-1])["id"] if history else "0"
    follower = subprocess.Popen(  # from the last event seen: nothing is missed while it connects
        [sys.executable, "-m", "controller", "events", "--since", last, "--kind", "Job",
         "-o", "json", "--api", listen],
        stdout=subprocess.PIPE, text=True, env=skiff.cli_env(),
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout or ()])
    reader.start()
    try:
        job = batch(skiff, "submit", "--queue", "q", "--definition", "work").stdout.strip()
        seen: list[str] = []
        while "SUCCEEDED" not in seen:
            event = json.loads(lines.get(timeout=60))  # each arrives without asking again
            assert event["detail-type"] == "Batch Job State Change"
            assert event["detail"]["jobId"] == job
            seen.append(event["detail"]["status"])
        assert seen == ["SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
        assert event["detail"]["container"]["exitCode"] == 0
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        reader.join(timeout=10)


def test_terminate_stops_a_job_that_ignores_sigterm(skiff: Skiff) -> None:
    skiff.write("batch.yaml", manifests(2))
    skiff.start()
    # sh as PID 1 has no SIGTERM handler, so the kernel ignores the signal: only SIGKILL ends it
    job = batch(skiff, "submit", "--queue", "q", "--definition", "work",
                "--parameter", "pause=600").stdout.strip()  # fmt: skip
    wait_for(lambda: status(skiff, job) == "RUNNING", 30, "the job runs")
    cancel = batch(skiff, "cancel", job)
    assert cancel.returncode == 0 and "not cancelled" in cancel.stdout  # as AWS's CancelJob
    assert batch(skiff, "terminate", job).returncode == 0
    wait_for(lambda: status(skiff, job) == "FAILED", 60, "killed after the stop timeout")
    d = describe(skiff, job)
    assert d["statusReason"] == "Terminated by the user"
    assert [a["container"]["exitCode"] for a in d["attempts"]] == [137]  # no retry
    assert running_jobs(skiff) == []
