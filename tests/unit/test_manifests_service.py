"""Service manifests: defaults, the task definition a service names, desired count, launch types,
and the Fargate task sizes a Fargate service needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.ecs.models.service import ServiceSpec
from controller.manifests.loader import pydantic_errors
from tests.support.documents import service_doc, td_doc, write
from tests.unit.manifests_support import load

# --- Service ------------------------------------------------------------------------------------


def test_service_defaults() -> None:
    spec = ServiceSpec.model_validate({"taskDefinition": "web"})

    assert (spec.desired_count, spec.launch_type) == (1, "EC2")
    assert (spec.family, spec.pinned_revision) == ("web", None)


@pytest.mark.parametrize(
    ("ref", "family", "revision"),
    [("web", "web", None), ("web:1", "web", 1), ("web:12", "web", 12)],
)
def test_service_task_definition_is_a_family_or_a_revision(
    ref: str, family: str, revision: int | None
) -> None:
    spec = ServiceSpec.model_validate({"taskDefinition": ref})

    assert (spec.family, spec.pinned_revision) == (family, revision)


@pytest.mark.parametrize("ref", ["web:0", "web:01", "web:-1", "web:latest", ":1", "web:", ""])
def test_service_task_definition_revision_must_be_at_least_one(ref: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ServiceSpec.model_validate({"taskDefinition": ref})

    assert [p for p, _ in pydantic_errors(exc.value)] == [("taskDefinition",)]


@pytest.mark.parametrize(("count", "ok"), [(0, True), (1, True), (500, True), (-1, False)])
def test_service_desired_count_is_not_negative(count: int, ok: bool) -> None:
    try:
        ServiceSpec.model_validate({"taskDefinition": "web", "desiredCount": count})
    except ValidationError:
        assert not ok
    else:
        assert ok


@pytest.mark.parametrize(
    ("launch_type", "ok"),
    [("EC2", True), ("FARGATE", True), ("EXTERNAL", True), ("fargate", False), ("LAMBDA", False)],
)
def test_service_launch_types(launch_type: str, ok: bool) -> None:
    try:
        ServiceSpec.model_validate({"taskDefinition": "web", "launchType": launch_type})
    except ValidationError:
        assert not ok
    else:
        assert ok


def test_service_naming_a_missing_task_definition_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "svc.yaml", td_doc("web"), service_doc("api", taskDefinition="apii:2"))

    result = load(tmp_path)

    (err,) = result.errors
    assert (err.file, err.document, err.kind, err.name) == ("svc.yaml", 2, "Service", "api")
    assert err.field == "spec.taskDefinition"
    assert err.message == "no TaskDefinition named 'apii' in these manifests"


def test_service_finds_its_task_definition_in_another_file(tmp_path: Path) -> None:
    write(tmp_path, "tds/web.yaml", td_doc("web"))
    write(tmp_path, "services/web.yml", service_doc("web", taskDefinition="web:3"))

    result = load(tmp_path)

    assert result.errors == []
    assert result.resources[("Service", "web")].spec.pinned_revision == 3


def test_service_naming_an_invalid_task_definition_does_not_say_it_is_missing(
    tmp_path: Path,
) -> None:
    write(tmp_path, "web.yaml", td_doc("web", networkMode="bogus"), service_doc("web"))

    result = load(tmp_path)

    assert [e.field for e in result.errors] == ["spec.networkMode"]


FARGATE_OK = {"networkMode": "awsvpc", "cpu": 256, "memory": 512}


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        pytest.param(
            {**FARGATE_OK, "networkMode": "bridge"},
            "needs networkMode awsvpc, not bridge",
            id="bridge-mode",
        ),
        pytest.param(
            {"networkMode": "awsvpc"},
            "Fargate requires that 'cpu' be defined at the task level",
            id="no-cpu-memory",
        ),
        pytest.param(
            {**FARGATE_OK, "memory": None},
            "Fargate requires that 'memory' be defined at the task level",
            id="no-memory",
        ),
        pytest.param(
            {**FARGATE_OK, "memory": 4096},
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory; "
            "with cpu 256, memory is 512, 1024 or 2048",
            id="cpu-256-memory-4096",
        ),
        pytest.param(
            {**FARGATE_OK, "cpu": 384, "memory": 1024},
            "given values: 384 CPU, 1024 memory; cpu is one of",
            id="cpu-not-offered",
        ),
        pytest.param(
            {**FARGATE_OK, "cpu": 8192, "memory": 18432},
            "with cpu 8192, memory is 16384 to 61440 in steps of 4096",
            id="8-vcpu-needs-4-gb-steps",
        ),
    ],
)
def test_fargate_service_with_an_unfit_task_definition_is_reported(
    tmp_path: Path, task: dict[str, Any], fragment: str
) -> None:
    task = {k: v for k, v in task.items() if v is not None}
    write(tmp_path, "web.yaml", td_doc("web", **task), service_doc("web", launchType="FARGATE"))

    result = load(tmp_path)

    assert result.errors
    assert {e.field for e in result.errors} == {"spec.launchType"}
    assert all((e.document, e.kind, e.name) == (2, "Service", "web") for e in result.errors)
    assert any(fragment in e.message and "TaskDefinition 'web'" in e.message for e in result.errors)


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(FARGATE_OK, id="256-512"),
        pytest.param({**FARGATE_OK, "cpu": "0.25 vCPU", "memory": "2 GB"}, id="strings-256-2048"),
        pytest.param({**FARGATE_OK, "cpu": 1024, "memory": 8192}, id="1024-8192"),
        pytest.param({**FARGATE_OK, "cpu": 16384, "memory": 122880}, id="16-vcpu-120-gb"),
    ],
)
def test_fargate_service_with_a_fitting_task_definition_passes(
    tmp_path: Path, task: dict[str, Any]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web", **task), service_doc("web", launchType="FARGATE"))

    assert load(tmp_path).errors == []


def test_fargate_service_of_a_fargate_task_definition_without_a_size_names_the_definition(
    tmp_path: Path,
) -> None:
    # The task definition is refused on its own (as RegisterTaskDefinition refuses it); the
    # service is not blamed a second time for it.
    task = {**FARGATE_OK, "memory": 4096, "requiresCompatibilities": ["FARGATE"]}
    write(tmp_path, "web.yaml", td_doc("web", **task), service_doc("web", launchType="FARGATE"))

    result = load(tmp_path)

    assert [(e.document, e.kind, e.field) for e in result.errors] == [
        (1, "TaskDefinition", "spec.memory")
    ]
    assert result.errors[0].message.startswith("No Fargate configuration exists for given values")


def test_ec2_service_does_not_need_a_fargate_task_size(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", launchType="EC2"))

    assert load(tmp_path).errors == []
