"""TaskDefinition container start-up: dependsOn conditions and cycles, the start order they give,
and health checks.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.ecs.models.task_definition import (
    TaskDefinitionSpec,
    check_task_definition,
    start_order,
)
from tests.support.documents import container
from tests.unit.manifests_support import dep, td, td_problems

HEALTHY_CHECK = {"command": ["CMD-SHELL", "true"]}


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        pytest.param(
            [container("app", dependsOn=[dep("db")])],
            "no container named 'db' in this task definition",
            id="unknown-container",
        ),
        pytest.param(
            [container("app", dependsOn=[dep("app")])],
            "a container cannot depend on itself",
            id="itself",
        ),
        pytest.param(
            [container("app", dependsOn=[dep("db", "HEALTHY")]), container("db")],
            "condition HEALTHY needs a healthCheck on 'db'",
            id="healthy-without-health-check",
        ),
        pytest.param(
            [container("app", dependsOn=[dep("init", "COMPLETE")]), container("init")],
            "condition COMPLETE needs 'init' to be non-essential",
            id="complete-on-essential",
        ),
        pytest.param(
            [container("app", dependsOn=[dep("init", "SUCCESS")]), container("init")],
            "condition SUCCESS needs 'init' to be non-essential",
            id="success-on-essential",
        ),
    ],
)
def test_bad_depends_on_is_reported_on_the_container_name(
    containers: list[dict[str, Any]], message: str
) -> None:
    assert td_problems(td(*containers)) == {
        "containerDefinitions.0.dependsOn.0.containerName": message
    }


@pytest.mark.parametrize(
    "containers",
    [
        pytest.param([container("app", dependsOn=[dep("db")]), container("db")], id="start"),
        pytest.param(
            [
                container("app", dependsOn=[dep("db", "HEALTHY")]),
                container("db", healthCheck=HEALTHY_CHECK),
            ],
            id="healthy-with-health-check",
        ),
        pytest.param(
            [
                container("app", dependsOn=[dep("init", "COMPLETE")]),
                container("init", essential=False),
            ],
            id="complete-on-non-essential",
        ),
        pytest.param(
            [
                container("app", dependsOn=[dep("init", "SUCCESS")]),
                container("init", essential=False),
            ],
            id="success-on-non-essential",
        ),
    ],
)
def test_good_depends_on_is_accepted(containers: list[dict[str, Any]]) -> None:
    assert td_problems(td(*containers)) == {}


def test_unknown_depends_on_condition_is_rejected() -> None:
    problems = td_problems(td(container("app", dependsOn=[dep("db", "READY")]), container("db")))

    assert list(problems) == ["containerDefinitions.0.dependsOn.0.condition"]


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        pytest.param({"a": "b", "b": "a"}, "a -> b -> a", id="two"),
        pytest.param({"a": "b", "b": "c", "c": "a"}, "a -> b -> c -> a", id="three"),
    ],
)
def test_depends_on_cycle_is_reported(edges: dict[str, str], cycle: str) -> None:
    containers = [container(n, dependsOn=[dep(target)]) for n, target in edges.items()]

    assert td_problems(td(*containers)) == {
        "containerDefinitions": f"dependsOn has a cycle: {cycle}"
    }


def test_start_order_respects_depends_on_and_keeps_declared_order_otherwise() -> None:
    spec = TaskDefinitionSpec.model_validate(
        td(
            container("app", dependsOn=[dep("db"), dep("migrate", "SUCCESS")]),
            container("sidecar"),
            container("migrate", essential=False, dependsOn=[dep("db")]),
            container("db"),
        )
    )

    assert start_order(spec) == ["sidecar", "db", "migrate", "app"]


def test_start_order_of_independent_containers_is_the_declared_order() -> None:
    spec = TaskDefinitionSpec.model_validate(td(container("c"), container("a"), container("b")))

    assert start_order(spec) == ["c", "a", "b"]


@st.composite
def acyclic_tasks(draw: st.DrawFn) -> TaskDefinitionSpec:
    n = draw(st.integers(min_value=1, max_value=10))
    names = [f"c{i}" for i in range(n)]
    order = draw(st.permutations(names))  # dependencies point only to earlier names in `order`
    containers = []
    for i, name in enumerate(order):
        targets = draw(st.lists(st.sampled_from(order[:i]), unique=True)) if i else []
        containers.append(container(name, dependsOn=[dep(t) for t in targets]))
    declared = draw(st.permutations(containers))
    return TaskDefinitionSpec.model_validate(td(*declared))


@given(acyclic_tasks())
def test_start_order_starts_every_dependency_first(spec: TaskDefinitionSpec) -> None:
    order = start_order(spec)

    assert sorted(order) == sorted(c.name for c in spec.container_definitions)
    for c in spec.container_definitions:
        for d in c.depends_on:
            assert order.index(d.container_name) < order.index(c.name)
    assert check_task_definition(spec) == []


@pytest.mark.parametrize("command", [["CMD", "curl", "-f", "localhost"], ["CMD-SHELL", "true"]])
def test_health_check_command_forms_are_accepted(command: list[str]) -> None:
    assert td_problems(td(container(healthCheck={"command": command}))) == {}


@pytest.mark.parametrize(
    ("command", "message"),
    [
        pytest.param(
            ["sh", "-c", "true"], 'the first element must be "CMD" or "CMD-SHELL"', id="shell"
        ),
        pytest.param(
            ["cmd", "true"], 'the first element must be "CMD" or "CMD-SHELL"', id="lowercase"
        ),
        pytest.param(["CMD-SHELL"], None, id="nothing-to-run"),
        pytest.param([], None, id="empty"),
    ],
)
def test_bad_health_check_command_is_rejected(command: list[str], message: str | None) -> None:
    problems = td_problems(td(container(healthCheck={"command": command})))

    assert list(problems) == ["containerDefinitions.0.healthCheck.command"]
    if message:
        assert problems["containerDefinitions.0.healthCheck.command"] == message


def test_health_check_defaults_are_the_ecs_ones() -> None:
    spec = TaskDefinitionSpec.model_validate(td(container(healthCheck=HEALTHY_CHECK)))
    check = spec.container("app").health_check

    assert check is not None
    assert (check.interval, check.timeout, check.retries, check.start_period) == (30, 5, 3, 0)


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("interval", 5, 300), ("timeout", 2, 60), ("retries", 1, 10), ("startPeriod", 0, 300)],
)
def test_health_check_ranges(field: str, low: int, high: int) -> None:
    def problems(value: int) -> dict[str, str]:
        return td_problems(td(container(healthCheck={**HEALTHY_CHECK, field: value})))

    assert problems(low) == {}
    assert problems(high) == {}
    at = f"containerDefinitions.0.healthCheck.{field}"
    assert list(problems(low - 1)) == [at]
    assert list(problems(high + 1)) == [at]
