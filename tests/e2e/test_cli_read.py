"""`skiff get`, `describe`, `-o yaml`, `--watch` and `rollout status` against a running daemon
on a real dockerd, as a user runs them (`python -m controller ...` in a subprocess)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import yaml

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import (
    HTTPD,
    IMAGE,
    SLEEPER,
    SMALL,
    asg_doc,
    dump,
    launch_template_doc,
    service_manifest,
    web_service_docs,
)

pytestmark = pytest.mark.integration


def skiff_cli(skiff: Skiff, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args, "--api", skiff.api_url],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=skiff.cli_env(),
    )


def steady(skiff: Skiff, name: str) -> None:
    wait_for(lambda: skiff.service(name).get("steadyState"), 60, f"service {name} steady")


def test_get_and_describe_a_service(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2))
    skiff.start()
    steady(skiff, web)

    listed = skiff_cli(skiff, "get", "services")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "HEALTHY", "AGE"]
    assert [r.split()[:6] for r in rows] == [[web, "ACTIVE", "2", "2", "0", "2"]]

    wide = skiff_cli(skiff, "get", "svc", web, "-o", "wide")
    assert "TASK-DEFINITION" in wide.stdout.splitlines()[0]
    assert f"{web}:1" in wide.stdout.splitlines()[1]

    doc = yaml.safe_load(skiff_cli(skiff, "get", f"svc/{web}", "-o", "yaml").stdout)
    assert (doc["kind"], doc["name"], doc["runningCount"]) == ("Service", web, 2)

    described = skiff_cli(skiff, "describe", "service", web)
    assert described.returncode == 0, described.stderr
    out = described.stdout
    assert out.startswith(f"Name:    {web}\nKind:    Service\nStatus:  ACTIVE\n")
    assert "PRIMARY" in out.split("Deployments:", 1)[1]
    assert out.split("Tasks:", 1)[1].count("RUNNING  RUNNING") == 2
    assert "deployment.start" in out.split("Events:", 1)[1]

    missing = skiff_cli(skiff, "describe", "svc", "nope")
    assert (missing.returncode, missing.stderr) == (1, 'skiff: Service "nope" not found\n')
    unknown = skiff_cli(skiff, "get", "pods")
    assert unknown.returncode == 1 and "the kinds are: Host, TaskDefinition" in unknown.stderr


class Lines:
    """A running command's output, read line by line as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()
        self.seen: list[str] = []

    def wait_for_line(self, accept: Callable[[list[str]], bool], timeout: float) -> list[str]:
        """The first line (split in words) that `accept` takes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if accept(line.split()):
                return line.split()
        raise AssertionError(f"no line accepted in {timeout}s; saw {self.seen}")


@pytest.mark.parametrize(
    ("command", "row"),
    [(["get", "svc"], []), (["status"], ["Service"])],  # status's rows start with the kind
    ids=["get", "status"],
)
def test_watch_prints_again_when_the_service_changes_and_ctrl_c_exits_0(
    skiff: Skiff, command: list[str], row: list[str]
) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 1))
    skiff.start()
    steady(skiff, web)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", *command, "--watch", "--api", skiff.api_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=skiff.cli_env(),
    )
    try:
        out = Lines(proc)
        n = len(row)  # the words before NAME STATUS DESIRED RUNNING

        def service(desired: str) -> Callable[[list[str]], bool]:
            return lambda w: w[: n + 3] == [*row, web, "ACTIVE", desired]

        first = out.wait_for_line(service("1"), 20)
        assert first[n + 3] == "1"  # RUNNING
        skiff.write("web.yaml", service_manifest(web, 2))
        out.wait_for_line(service("2"), 60)  # printed again, desired 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rollout_status_follows_a_deployment_to_completed(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2))
    skiff.start("--healthy-after-seconds", "4")  # a rollout long enough to be seen waiting
    steady(skiff, web)
    done = skiff_cli(skiff, "rollout", "status", f"Service/{web}")
    assert (done.returncode, done.stdout) == (
        0,
        f'deployment "{web}" successfully rolled out ({web}:1)\n',
    )

    skiff.write("web.yaml", service_manifest(web, 2, env="v2"))
    wait_for(
        lambda: skiff.service(web).get("taskDefinition") == f"{web}:2", 30, "the new revision read"
    )
    rolled = skiff_cli(skiff, "rollout", "status", f"svc/{web}", "--timeout", "90s", timeout=120)
    assert rolled.returncode == 0, rolled.stderr
    lines = rolled.stdout.splitlines()
    assert lines[-1] == f'deployment "{web}" successfully rolled out ({web}:2)'
    assert any(line.startswith(f"Waiting for deployment {web} ({web}:2)") for line in lines)
    assert len(lines) == len(set(lines))  # a line is printed when it changes, not every poll


def test_rollout_status_of_a_deployment_the_circuit_breaker_fails_exits_1(skiff: Skiff) -> None:
    web = skiff.name("web")
    breaker = {
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    }
    skiff.write("web.yaml", service_manifest(web, 1, service=breaker))
    skiff.start()
    steady(skiff, web)
    broken = web_service_docs(web, 1, env="v2", service=breaker)
    broken[0]["spec"]["containerDefinitions"][0]["command"] = ["sh", "-c", "exit 3; " + HTTPD]
    skiff.write("web.yaml", dump(*broken))
    wait_for(
        lambda: skiff.service(web).get("taskDefinition") == f"{web}:2", 30, "the new revision read"
    )
    failed = skiff_cli(skiff, "rollout", "status", f"svc/{web}", "--timeout", "120s", timeout=150)
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert failed.stderr.startswith(f'deployment "{web}" failed: ')
    assert "failed to reach a steady state" in failed.stderr

    timed_out = skiff_cli(skiff, "rollout", "status", f"svc/{web}", "--timeout", "0s")
    assert timed_out.returncode == 1  # FAILED still: it says so at once


def test_rollout_status_follows_a_groups_instance_refresh(skiff: Skiff) -> None:
    name = skiff.name("fleet")

    def manifest(env: str) -> str:
        return dump(
            launch_template_doc(
                name,
                imageId=IMAGE,
                **SMALL,
                command=["sh", "-c", SLEEPER],
                environment=[{"name": "VERSION", "value": env}],
            ),
            asg_doc(
                name,
                name,
                minSize=0,
                maxSize=4,
                desiredCapacity=2,
                availabilityZones=["local"],
                instanceRefresh={"minHealthyPercentage": 50},
            ),
        )

    skiff.write("fleet.yaml", manifest("v1"))
    skiff.start()
    wait_for(
        lambda: (
            skiff.resource("AutoScalingGroup", name)["instanceRefresh"]["status"] == "Successful"
            and skiff.resource("AutoScalingGroup", name)["inServiceCount"] == 2
        ),
        60,
        "two instances in service",
    )
    skiff.write("fleet.yaml", manifest("v2"))
    wait_for(
        lambda: skiff.resource("AutoScalingGroup", name)["launchTemplate"] == f"{name}:2",
        30,
        "the new template version read",
    )
    rolled = skiff_cli(skiff, "rollout", "status", f"asg/{name}", "--timeout", "2m", timeout=150)
    assert rolled.returncode == 0, rolled.stderr
    lines = rolled.stdout.splitlines()
    assert lines[-1] == f'instance refresh of group "{name}" successful ({name}:2)'
    group = skiff.resource("AutoScalingGroup", name)
    alive = [i for i in group["instances"] if i["lifecycleState"] == "InService"]
    assert [i["launchTemplate"] for i in alive] == [f"{name}:2"] * 2

    described = skiff_cli(skiff, "describe", "asg", name)
    assert "Instance Refresh:\n  status: Successful" in described.stdout
