"""`skiff plan` and `skiff status` against a real dockerd and a running daemon."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import service_manifest

pytestmark = pytest.mark.integration


def skiff_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_plan_shows_what_run_will_do_and_nothing_once_converged(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2))
    where = ["--data-dir", str(skiff.data), "--cluster", skiff.cluster]
    before = skiff_cli("plan", str(skiff.manifests), *where)
    assert before.returncode == 0, before.stderr
    assert f"TaskDefinition/{web}\n  + register revision {web}:1" in before.stdout
    assert f"Service/{web}\n  + create 2 task(s) of {web}:1 (local: 2)" in before.stdout
    assert not skiff.containers(web, all=True)  # planning changed nothing
    as_json = json.loads(skiff_cli("plan", str(skiff.manifests), *where, "-o", "json").stdout)
    assert as_json["changes"][1] == {
        "kind": "Service",
        "name": web,
        "changes": [f"+ create 2 task(s) of {web}:1 (local: 2)"],
    }

    skiff.start()
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 30, "a steady service")
    skiff.stop()
    after = skiff_cli("plan", str(skiff.manifests), *where)
    assert after.stdout.strip() == f"no changes: TaskDefinition/{web}, Service/{web}"

    skiff.write("web.yaml", service_manifest(web, 3, env="v2"))
    edit = skiff_cli("plan", str(skiff.manifests), *where)
    assert f"+ register revision {web}:2" in edit.stdout
    assert f"~ replace 2 task(s): {web}:1 -> {web}:2" in edit.stdout
    assert f"+ create 1 task(s) of {web}:2" in edit.stdout


def test_status_shows_resources_counts_tasks_and_revisions(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2))
    skiff.start()
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 30, "a steady service")
    listen = f"127.0.0.1:{skiff.port}"

    table = skiff_cli("status", "--api", listen, env=skiff.cli_env())
    assert table.returncode == 0, table.stderr
    row = next(
        line for line in table.stdout.splitlines() if line.startswith("Service") and web in line
    )
    assert row.split()[2:8] == ["ACTIVE", "2", "2", "0", "2", f"{web}:1"]
    assert f"TaskDefinition/{web} revisions: {web}:1 ACTIVE" in table.stdout
    assert table.stdout.count("RUNNING  RUNNING") == 2
    assert f"Service/{web} deployments:" in table.stdout
    assert "PRIMARY  " + f"{web}:1" in table.stdout

    doc = json.loads(skiff_cli("status", "--api", listen, "-o", "json", env=skiff.cli_env()).stdout)
    svc = next(r for r in doc["resources"] if r["kind"] == "Service" and r["name"] == web)
    assert [t["lastStatus"] for t in svc["tasks"]] == ["RUNNING", "RUNNING"]
    assert all(
        t["containers"][0]["networkBindings"][0]["bindIP"] == "127.0.0.1" for t in svc["tasks"]
    )


@pytest.mark.parametrize("command", [["status"], ["events"], ["get", "svc"]], ids=" ".join)
def test_a_command_without_a_daemon_says_where_it_looked_and_exits_3(
    skiff: Skiff, command: list[str]
) -> None:
    out = skiff_cli(*command, "--api", f"127.0.0.1:{skiff.port}")
    assert out.returncode == 3
    assert out.stderr == (
        f"skiff: cannot reach the daemon at http://127.0.0.1:{skiff.port} (--api): "
        "connection refused; is `skiff run` running?\n"
    )
