"""Multi-container tasks on a real dockerd: awsvpc shares one namespace, dependsOn orders starts."""

from __future__ import annotations

import urllib.request
from datetime import datetime
from typing import Any

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import HTTPD, IMAGE, dump, service_doc, td_doc

pytestmark = pytest.mark.integration


def worker(name: str) -> str:
    """An awsvpc task (128 MiB): `setup` runs once, then `app` serves HTTPD, then `probe`
    sleeps; setup and probe are not essential."""

    def part(cname: str, command: str, **fields: Any) -> dict[str, Any]:
        return {"name": cname, "image": IMAGE, "command": ["sh", "-c", command], **fields}

    containers = [
        part("setup", "echo ready", essential=False),
        part(
            "app",
            HTTPD,
            environment=[{"name": "VERSION", "value": "shared"}],
            portMappings=[{"containerPort": 8080}],
            stopTimeout=2,
            dependsOn=[{"containerName": "setup", "condition": "SUCCESS"}],
        ),
        part(
            "probe",
            "trap 'exit 0' TERM; sleep 300 & wait",
            essential=False,
            stopTimeout=2,
            dependsOn=[{"containerName": "app", "condition": "START"}],
        ),
    ]
    return dump(
        td_doc(name, networkMode="awsvpc", memory=128, containerDefinitions=containers),
        service_doc(name, taskDefinition=name, desiredCount=1),
    )


def started(c: Any) -> datetime:
    return datetime.fromisoformat(c.attrs["State"]["StartedAt"][:26])


def finished(c: Any) -> datetime:
    return datetime.fromisoformat(c.attrs["State"]["FinishedAt"][:26])


def test_an_awsvpc_task_shares_one_namespace_and_starts_in_depends_on_order(skiff: Skiff) -> None:
    name = skiff.name("worker")
    skiff.write("worker.yaml", worker(name))
    skiff.start()
    wait_for(
        lambda: (
            skiff.resource("Service", name).get("runningCount") == 1
            and len(skiff.running(name)) == 3
        ),
        40,
        "pause, app and probe running",
    )
    by_role = {c.labels["skiff.container"]: c for c in skiff.containers(name, all=True)}
    assert set(by_role) == {"~pause", "setup", "app", "probe"}
    pause = by_role["~pause"]
    for role in ("setup", "app", "probe"):
        assert by_role[role].attrs["HostConfig"]["NetworkMode"] == f"container:{pause.id}"
    # dependsOn: setup succeeded before app started; app started before probe.
    assert by_role["setup"].attrs["State"]["ExitCode"] == 0
    assert finished(by_role["setup"]) <= started(by_role["app"]) <= started(by_role["probe"])
    # One namespace: the probe reaches the app on localhost, and the app's port is published
    # by the task's sandbox on the host.
    out = wait_for(
        lambda: (
            by_role["probe"]
            .exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"])
            .output.decode()
            .strip()
        ),
        10,
        "the app from the probe",
    )
    assert out == "shared"
    pause.reload()
    port = int(pause.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.read().decode().strip() == "shared"
