"""AWS Batch on a real engine: jobs submitted through the CLI run under their queue's vCPU
limit, retry as their definition says, keep their output, and multi-node jobs reach their
main node."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.integration.conftest import IMAGE, Skiff, wait_for

pytestmark = pytest.mark.integration


def manifests(max_vcpus: int) -> str:
    return f"""\
        apiVersion: skiff/v1
        kind: ComputeEnvironment
        metadata: {{name: ce}}
        spec: {{maxvCpus: {max_vcpus}}}
        ---
        apiVersion: skiff/v1
        kind: JobQueue
        metadata: {{name: q}}
        spec:
          priority: 1
          computeEnvironmentOrder: [{{order: 1, computeEnvironment: ce}}]
        ---
        apiVersion: skiff/v1
        kind: JobDefinition
        metadata: {{name: work}}
        spec:
          parameters: {{code: "0", pause: "0"}}
          containerProperties:
            image: {IMAGE}
            command: [sh, -c, 'echo attempt $AWS_BATCH_JOB_ATTEMPT; sleep $1; exit $0',
                      Ref::code, Ref::pause]
            vcpus: 1
            memory: 32
          retryStrategy:
            attempts: 3
            evaluateOnExit:
              - {{onExitCode: "3", action: EXIT}}
              - {{onExitCode: "*", action: RETRY}}
        ---
        apiVersion: skiff/v1
        kind: JobDefinition
        metadata: {{name: mnp}}
        spec:
          type: multinode
          nodeProperties:
            numNodes: 3
            nodeRangeProperties:
              - targetNodes: "0"
                container: {{image: {IMAGE}, command: [sh, -c, 'echo main; sleep 3'],
                             vcpus: 0.25, memory: 32}}
              - targetNodes: "1:"
                container:
                  image: {IMAGE}
                  command: [sh, -c, 'ping -c1 -W2 $AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS
                            >/dev/null && echo node $AWS_BATCH_JOB_NODE_INDEX reached main']
                  vcpus: 0.25
                  memory: 32
        """


def batch(skiff: Skiff, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", "batch", *args, "--listen", f"127.0.0.1:{skiff.port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def status(skiff: Skiff, job_id: str) -> str:
    import json

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
