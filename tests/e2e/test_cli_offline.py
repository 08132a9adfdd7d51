"""The `skiff` commands that need no Docker engine: `validate`, `schema`, and `run` refusing
to start.

Most tests call `controller.cli.main.main` in-process and read stdout/stderr; one runs
`python -m controller` in a subprocess to prove the real entry point works.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli.main import main
from tests.support.documents import service_doc, td_doc, write

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MANIFESTS = REPO / "manifests"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def broken_dir(tmp_path: Path) -> Path:
    """Three errors in two files, next to valid resources."""
    write(
        tmp_path,
        "web.yaml",
        td_doc("web"),
        td_doc(
            "api",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "busybox",
                    "memory": 64,
                    "portMappings": [{"containerPort": 0}],
                },
            ],
        ),
        service_doc("web", desiredCont=3),
    )
    write(tmp_path, "teams/shop.yml", service_doc("shop", taskDefinition="nowhere"))
    return tmp_path


# --- skiff validate -------------------------------------------------------------------------------


def test_validate_accepts_the_shipped_example_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(SHIPPED_MANIFESTS))

    assert (code, err) == (0, "")
    assert out.strip() == "6 file(s), 14 valid resource(s), 0 error(s)"


def test_validate_accepts_a_valid_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", desiredCount=2))

    code, out, err = run(capsys, "validate", str(tmp_path))

    assert (code, err) == (0, "")
    assert "1 file(s), 2 valid resource(s), 0 error(s)" in out


def test_validate_accepts_a_single_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "web.yaml", td_doc("web"), service_doc("web"))

    code, _, err = run(capsys, "validate", str(path))

    assert (code, err) == (0, "")


def test_validate_lists_every_error_with_file_document_and_field(
    broken_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "validate", str(broken_dir))

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 3
    # file:line:column as editors open it (named from the directory given), documents from 1
    assert lines[0].startswith(
        f"{broken_dir / 'web.yaml'}:21:22: document 2 TaskDefinition/api: "
        "spec.containerDefinitions.0.portMappings.0.containerPort: "
    )
    assert lines[1] == (
        f"{broken_dir / 'web.yaml'}:28:3: document 3 Service/web: spec.desiredCont: unknown field"
    )
    assert lines[2] == (
        f"{broken_dir / 'teams/shop.yml'}:6:19: document 1 Service/shop: spec.taskDefinition: "
        "no TaskDefinition named 'nowhere' in these manifests"
    )
    assert "2 file(s), 1 valid resource(s), 3 error(s)" in out


def test_validate_reports_a_yaml_syntax_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "bad.yaml", "kind: [TaskDefinition\n")

    code, _, err = run(capsys, "validate", str(tmp_path))

    assert code == 1
    assert err.startswith(f"{tmp_path / 'bad.yaml'}:2:1: document 1: (document): cannot parse: ")


def test_validate_fails_on_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"

    code, out, err = run(capsys, "validate", str(missing))

    assert code == 1
    assert err.strip() == f"{missing}: no such file or directory"
    assert out.strip() == "0 file(s), 0 valid resource(s), 1 error(s)"


def test_validate_fails_on_a_directory_without_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "README.md").write_text("no manifests here\n")

    code, _, err = run(capsys, "validate", str(tmp_path))

    assert code == 1
    assert "no *.yaml or *.yml manifests found" in err


def test_validate_needs_a_path_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])

    assert exc.value.code == 2
    assert "PATH" in capsys.readouterr().err


def test_validate_reports_a_fractional_task_cpu_instead_of_crashing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web", cpu=0.5))

    code, _, err = run(capsys, "validate", str(tmp_path))

    assert code == 1
    assert f"{tmp_path / 'web.yaml'}:6:8: document 1 TaskDefinition/web: spec.cpu: " in err


def test_python_dash_m_controller_validate_runs_the_cli(broken_dir: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "controller", "validate", str(SHIPPED_MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [sys.executable, "-m", "controller", "validate", str(broken_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (ok.returncode, ok.stderr) == (0, "")
    assert "14 valid resource(s), 0 error(s)" in ok.stdout
    assert bad.returncode == 1
    assert "web.yaml:28:3: document 3 Service/web: spec.desiredCont: unknown field" in bad.stderr
    assert "Traceback" not in bad.stderr


# --- skiff schema ---------------------------------------------------------------------------------


@pytest.fixture
def schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run(capsys, "schema")
    assert (code, err) == (0, "")
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def test_schema_is_json_with_one_spec_per_kind_chosen_by_kind(schema: dict[str, Any]) -> None:
    kinds = schema["properties"]["kind"]["enum"]
    chosen = {rule["if"]["properties"]["kind"]["const"]: rule["then"] for rule in schema["allOf"]}

    assert sorted(kinds) == [
        "Alarm",
        "AutoScalingGroup",
        "ComputeEnvironment",
        "Host",
        "Instance",
        "JobDefinition",
        "JobQueue",
        "LaunchTemplate",
        "LoadBalancer",
        "ScalingPolicy",
        "ScheduledAction",
        "Service",
        "TargetGroup",
        "TaskDefinition",
    ]
    assert set(chosen) == set(kinds)
    for kind, then in chosen.items():
        assert then == {"properties": {"spec": {"$ref": f"#/$defs/{kind}Spec"}}}
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["properties"]["apiVersion"]["const"] == "skiff/v1"
    assert schema["additionalProperties"] is False


def test_schema_uses_aws_camel_case_field_names(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]

    td_props = defs["TaskDefinitionSpec"]["properties"]
    assert {"containerDefinitions", "networkMode", "requiresCompatibilities"} <= set(td_props)
    assert "container_definitions" not in td_props
    container_props = defs["ContainerDefinition"]["properties"]
    assert {"portMappings", "memoryReservation", "dependsOn", "dockerLabels"} <= set(
        container_props
    )
    assert {"taskDefinition", "desiredCount", "launchType"} <= set(
        defs["ServiceSpec"]["properties"]
    )
    assert "url" in defs["HostSpec"]["properties"]
    assert defs["ServiceSpec"]["properties"]["desiredCount"]["default"] == 1


def test_schema_refs_all_resolve(schema: dict[str, Any]) -> None:
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)

    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_schema_accepts_the_shipped_manifests_and_rejects_a_typo(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)

    docs = [
        doc
        for path in sorted(SHIPPED_MANIFESTS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]
    assert len(docs) == 14
    for doc in docs:
        assert list(validator.iter_errors(doc)) == [], doc["metadata"]["name"]
    assert not validator.is_valid(service_doc("web", desiredCont=3))
    assert not validator.is_valid({**service_doc("web"), "kind": "Pod"})


def test_schema_accepts_task_cpu_and_memory_strings(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = td_doc("web", cpu="0.5 vCPU", memory="1 GB")

    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []


F_SETPIPE_SZ = 1031  # Linux's fcntl command


def test_a_closed_pipe_ends_the_output_quietly(tmp_path: Path) -> None:
    """`skiff schema | head -1`: the reader stops early; no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)  # less than the schema, surely
    proc.stdout.read(10)
    proc.stdout.close()  # what `head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err


# --- skiff run's refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "192.0.2.1:9464"])
def test_run_refuses_a_non_loopback_listen_without_a_token_the_operator_chose(
    tmp_path: Path, listen: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SKIFF_TOKEN"}
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "controller", "run", "--manifests", str(tmp_path),
         "--data-dir", str(data), "--listen", listen, "--log-format", "json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"--listen {listen} is not a loopback address" in done.stderr
    assert "SKIFF_TOKEN" in done.stderr and "--token-file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (data / "token").exists()


def test_version_prints_the_package_version_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`skiff --version`, as kubectl and the AWS CLI answer it: the version, exit code 0, and
    the same version the package is built with (pyproject.toml)."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    built = next(
        line.split('"')[1]
        for line in (REPO / "pyproject.toml").read_text().splitlines()
        if line.startswith("version = ")
    )
    assert capsys.readouterr().out == f"skiff {built}\n"
