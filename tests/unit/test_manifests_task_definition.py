"""TaskDefinition rules: containers, essential, memory and CPU (and their units), Docker labels,
stop timeout, and several rules reported together through the loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.catalog import load_directory
from controller.ecs.models.task_definition import (
    TaskDefinitionSpec,
    check_task_definition,
)
from controller.manifests.base import parse_cpu_units, parse_memory_mib
from controller.manifests.policy import Policy
from tests.support.documents import container, td_doc, write
from tests.unit.manifests_support import dep, td, td_problems

# --- TaskDefinition rules -------------------------------------------------------------------------


def test_minimal_task_definition_is_valid_with_aws_defaults() -> None:
    spec = TaskDefinitionSpec.model_validate(td(container()))

    assert check_task_definition(spec) == []
    assert spec.network_mode == "bridge"
    app = spec.container("app")
    assert (app.essential, app.cpu, app.effective_stop_timeout) == (True, 0, 30)


def test_ten_containers_are_allowed_eleven_are_not() -> None:
    ten = [container(f"c{i}") for i in range(10)]

    assert td_problems(td(*ten)) == {}
    assert list(td_problems(td(*ten, container("c10")))) == ["containerDefinitions"]


def test_a_task_definition_needs_at_least_one_container() -> None:
    assert list(td_problems({"containerDefinitions": []})) == ["containerDefinitions"]


def test_duplicate_container_names_are_rejected() -> None:
    problems = td_problems(td(container("app"), container("side"), container("app")))

    assert problems == {"containerDefinitions.2.name": "duplicate container name 'app'"}


def test_at_least_one_container_must_be_essential() -> None:
    problems = td_problems(td(container("a", essential=False), container("b", essential=False)))

    assert problems == {"containerDefinitions": "at least one container must be essential"}


def test_one_essential_container_is_enough() -> None:
    assert td_problems(td(container("a", essential=False), container("b"))) == {}


@pytest.mark.parametrize(
    ("fields", "task", "expected"),
    [
        pytest.param({"memory": None}, {}, {"containerDefinitions.0.memory"}, id="none-anywhere"),
        pytest.param({"memory": None}, {"memory": 512}, set(), id="task-level-memory"),
        pytest.param({"memory": None, "memoryReservation": 32}, {}, set(), id="reservation-only"),
        pytest.param({"memory": 128, "memoryReservation": 128}, {}, set(), id="reservation-equal"),
        pytest.param(
            {"memory": 64, "memoryReservation": 128},
            {},
            {"containerDefinitions.0.memoryReservation"},
            id="reservation-above-memory",
        ),
        pytest.param({"memory": 5}, {}, {"containerDefinitions.0.memory"}, id="below-6-mib"),
    ],
)
def test_container_memory_rules(
    fields: dict[str, Any], task: dict[str, Any], expected: set[str]
) -> None:
    c = {k: v for k, v in container(**fields).items() if v is not None}

    assert set(td_problems(td(c, **task))) == expected


def test_container_without_memory_gets_a_readable_message() -> None:
    c = {"name": "app", "image": "busybox"}

    assert td_problems(td(c)) == {
        "containerDefinitions.0.memory": "set memory or memoryReservation, or the task-level memory"
    }


def test_containers_memory_beyond_the_task_memory_is_rejected() -> None:
    problems = td_problems(td(container("a", memory=300), container("b", memory=300), memory=512))

    assert problems == {"memory": "containers reserve 600 MiB, more than the task's 512"}


def test_containers_memory_within_the_task_memory_is_fine() -> None:
    assert td_problems(td(container("a", memory=256), container("b", memory=256), memory=512)) == {}


def test_task_memory_check_counts_the_reservation_like_aws() -> None:
    both = {"memory": 300, "memoryReservation": 128}

    assert td_problems(td(container("a", **both), container("b", **both), memory=512)) == {}


def test_containers_cpu_beyond_the_task_cpu_is_rejected() -> None:
    problems = td_problems(td(container("a", cpu=512), container("b", cpu=256), cpu=512))

    assert problems == {"cpu": "containers use 768 CPU units, more than the task's 512"}


def test_containers_cpu_within_the_task_cpu_is_fine() -> None:
    assert td_problems(td(container("a", cpu=256), container("b", cpu=256), cpu="0.5 vCPU")) == {}


@pytest.mark.parametrize(
    ("value", "units"),
    [
        (512, 512),
        ("512", 512),
        ("0.5 vCPU", 512),
        ("1 vcpu", 1024),
        ("2 vCPUs", 2048),
        ("0.25vCPU", 256),
    ],
)
def test_task_cpu_accepts_units_or_vcpus(value: int | str, units: int) -> None:
    assert TaskDefinitionSpec.model_validate(td(cpu=value)).cpu == units


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        (512, 512),
        ("512", 512),
        ("1 GB", 1024),
        ("0.5 GiB", 512),
        ("2gb", 2048),
        ("300 MiB", 300),
        ("300 MB", 300),
    ],
)
def test_task_memory_accepts_mib_or_a_unit(value: int | str, mib: int) -> None:
    assert TaskDefinitionSpec.model_validate(td(memory=value)).memory == mib


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu", "half a core"),
        ("cpu", "1 GHz"),
        ("memory", "1 TB"),
        ("memory", "lots"),
        ("cpu", "-512"),
        ("memory", ""),
    ],
)
def test_task_cpu_or_memory_in_another_form_is_rejected(field: str, value: str) -> None:
    problems = td_problems(td(**{field: value}))

    assert list(problems) == [field]
    assert repr(value) in problems[field]


@given(st.integers(min_value=1, max_value=64), st.sampled_from(["vCPU", "vcpu", "vCPUs"]))
def test_whole_vcpus_are_1024_units_each(n: int, unit: str) -> None:
    assert parse_cpu_units(f"{n} {unit}") == n * 1024


@given(st.integers(min_value=1, max_value=512), st.sampled_from(["GB", "GiB", "gb"]))
def test_whole_gigabytes_are_1024_mib_each(n: int, unit: str) -> None:
    assert parse_memory_mib(f"{n} {unit}") == n * 1024


def test_docker_labels_with_the_reserved_skiff_prefix_are_rejected() -> None:
    labels = {"skiff.managed-by": "me", "team": "shop", "com.example.skiff.x": "ok"}

    assert td_problems(td(container(dockerLabels=labels))) == {
        "containerDefinitions.0.dockerLabels.skiff.managed-by": "the skiff. prefix is reserved"
    }


@pytest.mark.parametrize(("value", "ok"), [(0, True), (120, True), (121, False), (-1, False)])
def test_stop_timeout_range(value: int, ok: bool) -> None:
    assert (td_problems(td(container(stopTimeout=value))) == {}) is ok


def test_several_task_definition_rules_are_reported_together_through_the_loader(
    tmp_path: Path,
) -> None:
    doc = td_doc(
        "web",
        networkMode="host",
        containerDefinitions=[
            container(
                "a",
                essential=False,
                portMappings=[{"containerPort": 80, "hostPort": 81}],
                dockerLabels={"skiff.kind": "x"},
            ),
            container("a", essential=False, dependsOn=[dep("ghost")]),
        ],
    )
    write(tmp_path, "td.yaml", doc)

    result = load_directory(str(tmp_path), Policy.parse(["host-network"]))

    assert {e.field for e in result.errors} == {
        "spec.containerDefinitions.1.name",
        "spec.containerDefinitions",
        "spec.containerDefinitions.0.dockerLabels.skiff.kind",
        "spec.containerDefinitions.0.portMappings.0.hostPort",
        "spec.containerDefinitions.1.dependsOn.0.containerName",
    }
    assert all((e.kind, e.name) == ("TaskDefinition", "web") for e in result.errors)
    assert result.claimed == {("TaskDefinition", "web")}
