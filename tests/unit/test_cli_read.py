"""`skiff get`, `describe`, `status -o` and `rollout status` against a daemon's API served in
process (the whole controller on fake engines), and the kind names they accept."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from controller.api.auth import ApiOptions, access_for
from controller.api.server import ApiServer
from controller.catalog import KINDS
from controller.cli import kinds
from controller.cli.get import describe_lines, get_rows
from controller.cli.main import main
from controller.terminal import table
from tests.support.harness import Harness, manifest

TOKEN = "cli-read-token-0123456789"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Harness]]:
    """Service `web` of 2 tasks, converged, behind the API: its URL and the harness."""
    root = tmp_path_factory.mktemp("cli-read")
    h = Harness(root / "m")
    h.apply("web.yaml", manifest(2))
    for _ in range(3):  # past --healthy-after-seconds: the deployment completes
        h.converge()
    access = access_for("127.0.0.1:0", ApiOptions(env_token=TOKEN), str(root / "data"))
    api = ApiServer("127.0.0.1:0", h.ctl, lambda: True, str(root), access)
    api.start()
    try:
        yield f"http://{api.address}", h
    finally:
        api.stop()


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_TOKEN", TOKEN)
    monkeypatch.delenv("SKIFF_API", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- kind names --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("Service", "Service"),
        ("services", "Service"),
        ("svc", "Service"),
        ("SVC", "Service"),
        ("tg", "TargetGroup"),
        ("target-groups", "TargetGroup"),
        ("asg", "AutoScalingGroup"),
        ("autoscalinggroups", "AutoScalingGroup"),
        ("lb", "LoadBalancer"),
        ("td", "TaskDefinition"),
        ("scalingpolicies", "ScalingPolicy"),
        ("ec2", "Instance"),
        ("jq", "JobQueue"),
    ],
)
def test_a_kind_is_named_as_kubectl_users_name_it(word: str, kind: str) -> None:
    assert kinds.resolve(word) == kind


def test_every_kind_of_the_catalog_resolves_by_its_name_and_plural() -> None:
    assert tuple(KINDS) == kinds.KINDS  # written out, so that `skiff get` imports no model
    for kind in KINDS:
        assert kinds.resolve(kind) == kind
        assert kinds.resolve(kind.upper()) == kind
        plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
        assert kinds.resolve(plural.lower()) == kind


def test_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(kinds.UnknownKind) as exc:
        kinds.resolve("pods")
    assert "unknown kind 'pods'" in str(exc.value)
    assert all(k in str(exc.value) for k in KINDS)


# --- rendering ---------------------------------------------------------------------------------
def test_get_shows_name_status_the_kinds_counts_and_age_and_wide_adds_the_rest() -> None:
    doc = {
        "kind": "Service",
        "name": "web\x1b[2J",
        "status": "ACTIVE",
        "message": "all good",
        "desiredCount": 3,
        "runningCount": 2,
        "steadyState": False,
        "taskDefinition": "web:4",
        "deployments": [{"createdAt": 1.0}],
    }
    lines = table(get_rows([doc], wide=False))
    assert lines[0].split() == ["NAME", "STATUS", "DESIRED", "RUNNING", "AGE"]
    assert lines[1].split()[:4] == ["web\\x1b[2J", "ACTIVE", "3", "2"]
    assert lines[1].split()[4].endswith("d")  # created 1 s past the epoch: days ago
    wide = table(get_rows([doc], wide=True))
    assert wide[0].split()[5:] == ["STEADY-STATE", "TASK-DEFINITION", "MESSAGE"]
    assert wide[1].split()[5:] == ["False", "web:4", "all", "good"]


def test_describe_shows_fields_parts_and_events_printable() -> None:
    doc = {
        "kind": "AutoScalingGroup",
        "name": "g",
        "status": "ACTIVE",
        "message": "",
        "desiredCapacity": 2,
        "instanceRefresh": {"status": "InProgress", "percentageComplete": 50},
        "activities": [],
        "events": [{"at": 0, "action": "scale", "reason": "r\x1b", "message": "m"}],
    }
    text = "\n".join(describe_lines(doc))
    assert "Desired Capacity:  2" in text
    assert "Instance Refresh:\n  status: InProgress\n  percentageComplete: 50" in text
    assert "Activities:\n  <none>" in text
    assert "Events:" in text and "scale" in text and "r\\x1b" in text
    assert "\x1b" not in text


# --- against the API ---------------------------------------------------------------------------
def test_get_lists_services_and_one_by_name(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = daemon
    code, out, err = run(capsys, "get", "svc", "--api", api)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert lines[1].split()[:2] == ["web", "ACTIVE"]
    assert len(lines) == 2
    code, out, _ = run(capsys, "get", "Service/web", "-o", "json", "--api", api)
    doc = json.loads(out)
    assert (doc["kind"], doc["name"], doc["runningCount"]) == ("Service", "web", 2)
    code, out, _ = run(capsys, "get", "services", "web", "-o", "yaml", "--api", api)
    assert yaml.safe_load(out)["desiredCount"] == 2
    code, out, _ = run(capsys, "get", "tg", "--api", api)
    assert (code, out.strip()) == (0, "No TargetGroup resources found.")


def test_unknown_kind_or_name_exits_1(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = daemon
    code, _, err = run(capsys, "get", "pods", "--api", api)
    assert code == 1
    assert "unknown kind 'pods'; the kinds are: Host, TaskDefinition, Service" in err
    code, _, err = run(capsys, "describe", "svc", "nope", "--api", api)
    assert code == 1
    assert 'Service "nope" not found' in err


def test_describe_a_service_shows_its_deployment_tasks_and_events(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = daemon
    code, out, err = run(capsys, "describe", "svc", "web", "--api", api)
    assert code == 0, err
    assert out.startswith("Name:    web\nKind:    Service\nStatus:  ACTIVE\n")
    assert "Desired Count:" in out
    deployments = out.split("Deployments:\n", 1)[1]
    assert "PRIMARY" in deployments and "COMPLETED" in deployments
    tasks = out.split("Tasks:\n", 1)[1]
    assert tasks.count("RUNNING  RUNNING") == 2
    assert "Events:" in out
    code, out, _ = run(capsys, "describe", "svc/web", "-o", "json", "--api", api)
    assert json.loads(out)["name"] == "web"


def test_status_prints_json_and_yaml(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = daemon
    code, out, _ = run(capsys, "status", "-o", "yaml", "--api", api)
    assert code == 0
    names = [(r["kind"], r["name"]) for r in yaml.safe_load(out)["resources"]]
    assert ("Service", "web") in names


def test_rollout_status_of_a_completed_deployment_exits_0(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = daemon
    code, out, err = run(capsys, "rollout", "status", "svc/web", "--api", api)
    assert code == 0, err
    assert out.strip() == 'deployment "web" successfully rolled out (web:1)'
    code, _, err = run(capsys, "rollout", "status", "tg/web", "--api", api)
    assert code == 1
    assert "write Service/NAME or AutoScalingGroup/NAME" in err


def test_the_address_comes_from_the_flag_then_the_environment(
    daemon: tuple[str, Harness], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = daemon
    monkeypatch.setenv("SKIFF_API", api.removeprefix("http://"))  # HOST:PORT works too
    assert run(capsys, "get", "svc")[0] == 0
    code, _, err = run(capsys, "get", "svc", "--api", "127.0.0.1:1")  # the flag wins
    assert code == 3
    assert "http://127.0.0.1:1 (--api)" in err


def test_status_shows_a_group_refresh_until_it_succeeds() -> None:
    from controller.cli.status_table import render_status

    refresh = {
        "status": "InProgress",
        "percentageComplete": 50,
        "instancesToUpdate": 1,
        "statusReason": "1 of 2 instance(s) InService and Healthy on g:2",
    }
    group = {
        "kind": "AutoScalingGroup",
        "name": "g",
        "status": "ACTIVE",
        "instanceRefresh": refresh,
    }
    text = render_status({"resources": [group]})
    assert (
        "AutoScalingGroup/g instance refresh: InProgress, 50% complete, 1 to update: "
        "1 of 2 instance(s) InService and Healthy on g:2"
    ) in text
    group["instanceRefresh"] = refresh | {"status": "Successful"}
    assert "instance refresh" not in render_status({"resources": [group]})
