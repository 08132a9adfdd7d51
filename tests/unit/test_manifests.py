"""Manifest models, cross-field rules and the directory loader, as a user writing YAML sees them.

Every test writes real YAML files into a temporary directory (or builds a spec the way the loader
does) and checks what a user would notice: which resources load, and which errors are reported
with which file, document index and field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from controller.catalog import load_directory
from controller.ecs.models.service import ServiceSpec
from controller.ecs.models.task_definition import (
    TaskDefinitionSpec,
    check_task_definition,
    start_order,
)
from controller.manifests.base import FieldError, parse_cpu_units, parse_memory_mib
from controller.manifests.host import HostSpec, check_host
from controller.manifests.loader import LoadResult, pydantic_errors
from controller.manifests.policy import Policy
from tests.support.documents import container, host_doc, service_doc, td_doc, write

# --- helpers --------------------------------------------------------------------------------------


def load(root: Path) -> LoadResult:
    return load_directory(str(root))


def errors_at(result: LoadResult) -> dict[str, str]:
    """{'file#document:field': message} for every error, for compact assertions."""
    return {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors}


def td_problems(spec: dict[str, Any]) -> dict[str, str]:
    """Field errors of a TaskDefinition spec: field validation first, then the ECS rules."""
    try:
        model = TaskDefinitionSpec.model_validate(spec)
    except ValidationError as exc:
        return {".".join(map(str, p)): m for p, m in pydantic_errors(exc)}
    return {".".join(map(str, p)) or "(spec)": m for p, m in check_task_definition(model)}


def td(*containers: dict[str, Any], **task: Any) -> dict[str, Any]:
    return {"containerDefinitions": list(containers) or [container()], **task}


# --- loader: which files and documents are read ---------------------------------------------------


def test_loads_yaml_and_yml_files_recursively(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web"))
    write(tmp_path, "teams/shop/api.yml", td_doc("api"), service_doc("api"))
    write(tmp_path, "hosts/deep/nested/pool.yaml", host_doc("h1"))

    result = load(tmp_path)

    assert result.errors == []
    assert set(result.resources) == {
        ("TaskDefinition", "web"),
        ("Service", "web"),
        ("TaskDefinition", "api"),
        ("Service", "api"),
        ("Host", "h1"),
    }
    assert len(result.files) == 3


def test_records_source_file_and_document_index_of_each_resource(tmp_path: Path) -> None:
    write(tmp_path, "teams/api.yml", td_doc("api"), host_doc("h1"), service_doc("api"))

    result = load(tmp_path)

    svc = result.resources[("Service", "api")]
    assert (svc.kind, svc.name, svc.key) == ("Service", "api", ("Service", "api"))
    assert (svc.source, svc.document) == ("teams/api.yml", 2)
    assert result.resources[("TaskDefinition", "api")].document == 0
    assert result.resources[("Host", "h1")].document == 1


def test_metadata_labels_are_kept_on_the_resource(tmp_path: Path) -> None:
    doc = service_doc("web")
    doc["metadata"]["labels"] = {"team": "shop"}
    write(tmp_path, "web.yaml", td_doc("web"), doc)

    assert load(tmp_path).resources[("Service", "web")].labels == {"team": "shop"}


def test_empty_documents_are_skipped_but_keep_their_place_in_the_count(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), "", "# nothing\n", service_doc("web"))

    result = load(tmp_path)

    assert result.errors == []
    assert result.resources[("TaskDefinition", "web")].document == 0
    assert result.resources[("Service", "web")].document == 3


def test_a_file_of_only_comments_is_valid_and_empty(tmp_path: Path) -> None:
    write(tmp_path, "notes.yaml", "# nothing here yet\n")

    result = load(tmp_path)

    assert (result.resources, result.errors, result.files) == (
        {},
        [],
        [str(tmp_path / "notes.yaml")],
    )


def test_hidden_files_and_directories_and_other_extensions_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    broken = "this: is: not: yaml: ["
    write(tmp_path, ".hidden.yaml", broken)
    write(tmp_path, ".git/config.yaml", broken)
    write(tmp_path, "sub/.cache/x.yml", broken)
    write(tmp_path, "README.md", broken)
    write(tmp_path, "web.yaml.bak", broken)
    write(tmp_path, "data.json", broken)

    result = load(tmp_path)

    assert result.errors == []
    assert result.files == [str(tmp_path / "web.yaml")]
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_a_single_file_can_be_loaded_instead_of_a_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", td_doc("web"), service_doc("web"))

    result = load_directory(str(path))

    assert result.errors == []
    assert result.resources[("Service", "web")].source == str(path)


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(
        "\ufeff" + yaml.safe_dump(td_doc("web"), sort_keys=False), encoding="utf-8"
    )

    assert set(load(tmp_path).resources) == {("TaskDefinition", "web")}


# --- every error at once --------------------------------------------------------------------------


def test_every_bad_document_is_reported_and_the_good_one_still_loads(tmp_path: Path) -> None:
    bad_port = td_doc("web", containerDefinitions=[container(portMappings=[{"containerPort": 0}])])
    typo = service_doc("api", desiredCont=2)
    no_image = td_doc("db", containerDefinitions=[{"name": "db", "memory": 64}])
    write(tmp_path, "all.yaml", bad_port, typo, td_doc("good"), no_image)

    result = load(tmp_path)

    assert errors_at(result).keys() == {
        "all.yaml#0:spec.containerDefinitions.0.portMappings.0.containerPort",
        "all.yaml#1:spec.desiredCont",
        "all.yaml#3:spec.containerDefinitions.0.image",
    }
    assert set(result.resources) == {("TaskDefinition", "good")}
    assert result.claimed == {
        ("TaskDefinition", "web"),
        ("Service", "api"),
        ("TaskDefinition", "db"),
    }
    assert not result.ok


def test_several_errors_in_one_document_are_all_reported(tmp_path: Path) -> None:
    spec = td_doc(
        "web",
        containerDefinitions=[
            container("a", cpu=-1, portMappings=[{"containerPort": 70000}]),
            container("b", essential="maybe"),
        ],
        networkMode="tunnel",
    )
    write(tmp_path, "web.yaml", spec)

    fields = {e.field for e in load(tmp_path).errors}

    assert fields == {
        "spec.containerDefinitions.0.cpu",
        "spec.containerDefinitions.0.portMappings.0.containerPort",
        "spec.containerDefinitions.1.essential",
        "spec.networkMode",
    }


def test_errors_in_several_files_are_all_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", service_doc("a", desiredCount=-1), td_doc("a"))
    write(tmp_path, "b/b.yml", td_doc("b", networkMode="bogus"))

    assert errors_at(load(tmp_path)).keys() == {
        "a.yaml#0:spec.desiredCount",
        "b/b.yml#0:spec.networkMode",
    }


def test_field_error_reads_file_document_resource_field_and_message(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", desiredCount=-1))

    (err,) = load(tmp_path).errors

    assert (err.file, err.document, err.kind, err.name) == ("web.yaml", 1, "Service", "web")
    assert err.path == ("spec", "desiredCount")
    assert str(err) == (
        "web.yaml: document 1 Service/web: spec.desiredCount: "
        "Input should be greater than or equal to 0"
    )


def test_field_error_without_a_resource_or_a_path() -> None:
    err = FieldError("x.yaml", 3, (), "a document must be a mapping, not list")

    assert str(err) == "x.yaml: document 3: (document): a document must be a mapping, not list"


# --- unknown, missing and malformed fields -------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        pytest.param(service_doc(desiredCnt=3), "spec.desiredCnt", id="in-service-spec"),
        pytest.param(td_doc(cpuu=256), "spec.cpuu", id="in-task-definition-spec"),
        pytest.param(
            td_doc(containerDefinitions=[container(imagee="nginx")]),
            "spec.containerDefinitions.0.imagee",
            id="in-container-definition",
        ),
        pytest.param(
            td_doc(
                containerDefinitions=[
                    container(portMappings=[{"containerPort": 80, "hostport": 80}])
                ]
            ),
            "spec.containerDefinitions.0.portMappings.0.hostport",
            id="in-port-mapping",
        ),
        pytest.param(
            td_doc(
                containerDefinitions=[
                    container(healthCheck={"command": ["CMD", "true"], "intervalSeconds": 5})
                ]
            ),
            "spec.containerDefinitions.0.healthCheck.intervalSeconds",
            id="in-health-check",
        ),
        pytest.param({**service_doc(), "status": {}}, "status", id="at-top-level"),
        pytest.param(
            {**service_doc(), "metadata": {"name": "web", "namespace": "prod"}},
            "metadata.namespace",
            id="in-metadata",
        ),
        pytest.param(host_doc(capacity={"cpus": 4}), "spec.capacity.cpus", id="in-host-capacity"),
    ],
)
def test_unknown_field_is_rejected_and_named(
    tmp_path: Path, doc: dict[str, Any], field: str
) -> None:
    if doc["kind"] != "TaskDefinition":
        write(tmp_path, "td.yaml", td_doc("web"))
    write(tmp_path, "x.yaml", doc)

    result = load(tmp_path)

    assert errors_at(result) == {f"x.yaml#0:{field}": "unknown field"}


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        pytest.param(
            {**service_doc(), "spec": {"desiredCount": 1}},
            "spec.taskDefinition",
            "required field missing",
            id="service-taskDefinition",
        ),
        pytest.param(
            td_doc(containerDefinitions=[{"name": "app", "memory": 64}]),
            "spec.containerDefinitions.0.image",
            "required field missing",
            id="container-image",
        ),
        pytest.param(
            td_doc(containerDefinitions=[{"image": "busybox", "memory": 64}]),
            "spec.containerDefinitions.0.name",
            "required field missing",
            id="container-name",
        ),
        pytest.param(
            {
                "apiVersion": "skiff/v1",
                "kind": "TaskDefinition",
                "metadata": {"name": "web"},
                "spec": {},
            },
            "spec.containerDefinitions",
            "required field missing",
            id="containerDefinitions",
        ),
        pytest.param(
            {**host_doc(), "spec": {"zone": "a"}},
            "spec.url",
            "required field missing",
            id="host-url",
        ),
        pytest.param(
            {**service_doc(), "metadata": {"labels": {"a": "b"}}},
            "metadata.name",
            "required field missing",
            id="metadata-name",
        ),
        pytest.param(
            {k: v for k, v in service_doc().items() if k != "spec"},
            "spec",
            "missing",
            id="spec",
        ),
    ],
)
def test_missing_required_field_is_reported(
    tmp_path: Path, doc: dict[str, Any], field: str, message: str
) -> None:
    write(tmp_path, "x.yaml", doc)

    result = load(tmp_path)

    assert errors_at(result)[f"x.yaml#0:{field}"] == message
    assert result.resources == {}


def test_missing_metadata_is_reported_on_metadata(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", {k: v for k, v in service_doc().items() if k != "metadata"})

    assert list(errors_at(load(tmp_path))) == ["x.yaml#0:metadata"]


@pytest.mark.parametrize("name", ["Web Server", "-web", "web.prod", "x" * 64, ""])
def test_invalid_resource_name_is_rejected(tmp_path: Path, name: str) -> None:
    doc = service_doc()
    doc["metadata"]["name"] = name
    write(tmp_path, "x.yaml", doc)

    assert list(errors_at(load(tmp_path))) == ["x.yaml#0:metadata.name"]


@pytest.mark.parametrize("version", ["skiff/v2", "v1", None])
def test_wrong_api_version_is_reported(tmp_path: Path, version: str | None) -> None:
    doc = td_doc("web")
    doc["apiVersion"] = version
    write(tmp_path, "x.yaml", doc)

    assert errors_at(load(tmp_path)) == {
        "x.yaml#0:apiVersion": f"must be 'skiff/v1', not {version!r}"
    }


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({**td_doc("web"), "apiVersion": "skiff/v2"}, id="wrong-apiVersion"),
        pytest.param({**td_doc("web"), "status": {"x": 1}}, id="unknown-top-level-field"),
    ],
)
def test_document_with_an_envelope_error_is_not_loaded(tmp_path: Path, doc: dict[str, Any]) -> None:
    write(tmp_path, "x.yaml", doc)

    result = load(tmp_path)

    assert result.errors
    assert result.resources == {}
    assert result.claimed == {("TaskDefinition", "web")}


@pytest.mark.parametrize("kind", ["Pod", "service", None, 3])
def test_unknown_kind_is_reported_with_the_known_ones(tmp_path: Path, kind: Any) -> None:
    write(tmp_path, "x.yaml", {**service_doc(), "kind": kind}, td_doc("ok"))

    result = load(tmp_path)

    assert errors_at(result) == {
        "x.yaml#0:kind": f"unknown kind {kind!r}; expected one of "
        "Host, TaskDefinition, Service, TargetGroup, LoadBalancer, "
        "LaunchTemplate, Instance, AutoScalingGroup, ScalingPolicy, ScheduledAction, Alarm, "
        "ComputeEnvironment, JobQueue, JobDefinition"
    }
    assert set(result.resources) == {("TaskDefinition", "ok")}


@pytest.mark.parametrize(
    ("text", "type_name"),
    [("- a\n- b\n", "list"), ("just a string\n", "str"), ("42\n", "int")],
    ids=["list", "string", "number"],
)
def test_document_that_is_not_a_mapping_is_reported(
    tmp_path: Path, text: str, type_name: str
) -> None:
    write(tmp_path, "x.yaml", td_doc("web"), text)

    result = load(tmp_path)

    assert errors_at(result) == {
        "x.yaml#1:(document)": f"a document must be a mapping, not {type_name}"
    }
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_yaml_syntax_error_marks_the_file_unreadable_and_others_still_load(
    tmp_path: Path,
) -> None:
    write(tmp_path, "good.yaml", td_doc("web"), service_doc("web"))
    write(tmp_path, "sub/broken.yaml", "apiVersion: skiff/v1\nkind: [Service\n")

    result = load(tmp_path)

    assert result.unreadable == {"sub/broken.yaml"}
    (err,) = result.errors
    assert (err.file, err.field) == ("sub/broken.yaml", "(document)")
    assert err.message.startswith("cannot parse: ")
    assert "line 3" in err.message
    assert set(result.resources) == {("TaskDefinition", "web"), ("Service", "web")}


def test_yaml_syntax_error_names_the_broken_document(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", td_doc("web"), "kind: [Service\n")

    (err,) = load(tmp_path).errors

    assert err.document == 1


def test_file_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"apiVersion: skiff/v1\nkind: Caf\xe9\n")

    result = load(tmp_path)

    assert result.unreadable == {"latin1.yaml"}
    assert [e.message.startswith("cannot parse") for e in result.errors] == [True]


def test_duplicate_yaml_key_is_rejected_instead_of_keeping_the_last(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  taskDefinition: web\n  desiredCount: 3\n  desiredCount: 0\n"
    )
    write(tmp_path, "td.yaml", td_doc("web"))
    write(tmp_path, "svc.yaml", text)

    result = load(tmp_path)

    assert result.unreadable == {"svc.yaml"}
    (err,) = result.errors
    assert "duplicate key 'desiredCount'" in err.message
    assert "line 7" in err.message
    assert ("Service", "web") not in result.resources


def test_duplicate_key_in_a_nested_mapping_is_rejected(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: Service\n"
        "metadata:\n  name: web\n  labels: {team: a, team: b}\nspec: {taskDefinition: web}\n"
    )
    write(tmp_path, "svc.yaml", text)

    assert "duplicate key 'team'" in load(tmp_path).errors[0].message


def test_yaml_anchors_with_merge_keys_are_supported(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: TaskDefinition\nmetadata: {name: web}\nspec:\n"
        "  containerDefinitions:\n"
        "    - &base {name: a, image: busybox, memory: 64}\n"
        "    - <<: *base\n      name: b\n"
    )
    write(tmp_path, "td.yaml", text)

    result = load(tmp_path)

    assert result.errors == []
    spec = result.resources[("TaskDefinition", "web")].spec
    assert [(c.name, c.image) for c in spec.container_definitions] == [
        ("a", "busybox"),
        ("b", "busybox"),
    ]


def test_plain_yaml_anchors_and_aliases_work(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: TaskDefinition\nmetadata: {name: web}\nspec:\n"
        "  containerDefinitions:\n"
        "    - {name: a, image: busybox, memory: 64, environment: &env [{name: X, value: '1'}]}\n"
        "    - {name: b, image: busybox, memory: 64, environment: *env}\n"
    )
    write(tmp_path, "td.yaml", text)

    spec = load(tmp_path).resources[("TaskDefinition", "web")].spec
    assert spec.container("b").environment == spec.container("a").environment


def test_top_level_keys_of_mixed_types_are_reported_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", {**td_doc("web"), 1: "one", "foo": "bar"})

    assert set(errors_at(load(tmp_path))) >= {"x.yaml#0:1", "x.yaml#0:foo"}


def test_unhashable_yaml_key_is_reported_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", "{[a, b]: c}\n")

    result = load(tmp_path)

    assert result.unreadable == {"x.yaml"}


def test_same_resource_twice_in_one_file_is_reported_and_the_first_kept(tmp_path: Path) -> None:
    write(
        tmp_path, "web.yaml", td_doc("web"), service_doc("web"), service_doc("web", desiredCount=9)
    )

    result = load(tmp_path)

    assert errors_at(result) == {
        "web.yaml#2:metadata.name": "Service 'web' is defined twice (first in web.yaml, document 1)"
    }
    assert result.resources[("Service", "web")].spec.desired_count == 1


def test_same_resource_in_two_files_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", td_doc("web"))
    write(tmp_path, "b.yaml", td_doc("web"))

    result = load(tmp_path)

    assert errors_at(result) == {
        "b.yaml#0:metadata.name": "TaskDefinition 'web' is defined twice (first in a.yaml, "
        "document 0)"
    }
    assert result.resources[("TaskDefinition", "web")].source == "a.yaml"


def test_same_name_is_reported_twice_even_when_the_first_is_invalid(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", service_doc("web", desiredCount=-1), service_doc("web"))

    result = load(tmp_path)

    assert set(errors_at(result)) == {"a.yaml#0:spec.desiredCount", "a.yaml#1:metadata.name"}
    assert ("Service", "web") not in result.resources
    assert ("Service", "web") in result.claimed


def test_same_name_in_different_kinds_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web"), host_doc("web"))

    result = load(tmp_path)

    assert result.errors == []
    assert len(result.resources) == 3


def test_invalid_document_claims_its_resource(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web", networkMode="bogus"))

    result = load(tmp_path)

    assert result.claimed == {("TaskDefinition", "web")}
    assert result.resources == {}


def test_document_without_a_valid_name_claims_nothing(tmp_path: Path) -> None:
    doc = td_doc("web", networkMode="bogus")
    doc["metadata"] = {"name": "not valid!"}
    write(tmp_path, "web.yaml", doc)

    assert load(tmp_path).claimed == set()


@pytest.mark.parametrize(
    ("field", "value"),
    [("cpu", 0.5), ("memory", 1.5), ("cpu", [1])],
    ids=["cpu-float", "memory-float", "cpu-list"],
)
def test_task_cpu_or_memory_of_the_wrong_type_is_a_field_error(
    tmp_path: Path, field: str, value: Any
) -> None:
    write(tmp_path, "td.yaml", td_doc("web", **{field: value}))

    assert list(errors_at(load(tmp_path))) == [f"td.yaml#0:spec.{field}"]


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


HOST_PORT_AT = "containerDefinitions.0.portMappings.0.hostPort"
HOST_MODE_MESSAGE = "with networkMode host, hostPort must equal containerPort"


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            {"containerPort": 80, "hostPort": 8080},
            {HOST_PORT_AT: HOST_MODE_MESSAGE},
            id="different",
        ),
        pytest.param({"containerPort": 80, "hostPort": 80}, {}, id="equal"),
        pytest.param({"containerPort": 80}, {}, id="omitted"),
    ],
)
def test_host_network_mode_needs_host_port_equal_to_container_port(
    mapping: dict[str, int], expected: dict[str, str]
) -> None:
    assert td_problems(td(container(portMappings=[mapping]), networkMode="host")) == expected


def test_none_network_mode_refuses_port_mappings() -> None:
    problems = td_problems(
        td(
            container(portMappings=[{"containerPort": 80}, {"containerPort": 81}]),
            networkMode="none",
        )
    )

    assert problems == {
        "containerDefinitions.0.portMappings.0": "networkMode none has no ports to map",
        "containerDefinitions.0.portMappings.1": "networkMode none has no ports to map",
    }


def test_none_network_mode_without_ports_is_fine() -> None:
    assert td_problems(td(container(), networkMode="none")) == {}


def test_duplicate_static_host_port_is_rejected_naming_the_first_user() -> None:
    problems = td_problems(
        td(
            container("web", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
            container("api", portMappings=[{"containerPort": 81, "hostPort": 8080}]),
        )
    )

    assert problems == {
        "containerDefinitions.1.portMappings.0.hostPort": (
            "host port 8080/tcp is already used by web"
        )
    }


def test_duplicate_container_port_in_host_mode_is_rejected() -> None:
    problems = td_problems(
        td(
            container("a", portMappings=[{"containerPort": 80}]),
            container("b", portMappings=[{"containerPort": 80}]),
            networkMode="host",
        )
    )

    assert list(problems) == ["containerDefinitions.1.portMappings.0.hostPort"]


@pytest.mark.parametrize(
    "mappings",
    [
        pytest.param([{"containerPort": 80}, {"containerPort": 81}], id="dynamic-omitted"),
        pytest.param(
            [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81, "hostPort": 0}],
            id="dynamic-zero",
        ),
        pytest.param(
            [
                {"containerPort": 53, "hostPort": 53, "protocol": "tcp"},
                {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
            ],
            id="same-port-other-protocol",
        ),
    ],
)
def test_ports_that_do_not_clash_are_fine(mappings: list[dict[str, Any]]) -> None:
    assert td_problems(td(container(portMappings=mappings))) == {}


@pytest.mark.parametrize(("port", "ok"), [(0, False), (1, True), (65535, True), (65536, False)])
def test_container_port_range(port: int, ok: bool) -> None:
    problems = td_problems(td(container(portMappings=[{"containerPort": port}])))

    assert (problems == {}) is ok
    if not ok:
        assert list(problems) == ["containerDefinitions.0.portMappings.0.containerPort"]


def dep(name: str, condition: str = "START") -> dict[str, str]:
    return {"containerName": name, "condition": condition}


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
    assert (err.file, err.document, err.kind, err.name) == ("svc.yaml", 1, "Service", "api")
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
    assert all((e.document, e.kind, e.name) == (1, "Service", "web") for e in result.errors)
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
        (0, "TaskDefinition", "spec.memory")
    ]
    assert result.errors[0].message.startswith("No Fargate configuration exists for given values")


def test_ec2_service_does_not_need_a_fargate_task_size(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", launchType="EC2"))

    assert load(tmp_path).errors == []


# --- Host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reach"),
    [
        ("unix:///var/run/docker.sock", "127.0.0.1"),
        ("tcp://10.0.0.5:2376", "10.0.0.5"),
        ("tcp://docker-1.lan:2375", "docker-1.lan"),
        ("ssh://admin@box.lan", "box.lan"),
        ("ssh://admin@box.lan:2222", "box.lan"),
    ],
)
def test_host_url_schemes_and_default_reach_address(url: str, reach: str) -> None:
    spec = HostSpec.model_validate({"url": url})

    assert check_host(spec) == []
    assert spec.reach_address() == reach


def test_host_explicit_address_wins() -> None:
    spec = HostSpec.model_validate({"url": "unix:///run/docker.sock", "address": "192.168.1.9"})

    assert spec.reach_address() == "192.168.1.9"


def test_host_defaults() -> None:
    spec = HostSpec.model_validate({"url": "unix:///run/docker.sock"})

    assert (spec.zone, spec.tls, spec.attributes) == ("local", None, {})
    assert (spec.capacity.cpu, spec.capacity.memory) == (None, None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.lan", "url must start with unix://, tcp://, ssh://, http:// or https://"),
        (
            "/var/run/docker.sock",
            "url must start with unix://, tcp://, ssh://, http:// or https://",
        ),
        ("tcp://", "url has no host name"),
        ("ssh://", "url has no host name"),
    ],
)
def test_host_bad_url_is_reported_on_spec_url(tmp_path: Path, url: str, message: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", url=url))

    assert errors_at(load(tmp_path)) == {"hosts.yaml#0:spec.url": message}


def test_host_tls_with_tcp_is_accepted(tmp_path: Path) -> None:
    write(
        tmp_path,
        "hosts.yaml",
        host_doc("h1", url="tcp://10.0.0.5:2376", tls={"caCert": "/etc/ca.pem", "verify": True}),
    )

    result = load(tmp_path)

    assert result.errors == []
    tls = result.resources[("Host", "h1")].spec.tls
    assert (tls.ca_cert, tls.verify) == ("/etc/ca.pem", True)


@pytest.mark.parametrize("url", ["unix:///var/run/docker.sock", "ssh://me@box"])
def test_host_tls_without_tcp_is_rejected(tmp_path: Path, url: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", url=url, tls={"verify": False}))

    result = load(tmp_path)

    assert errors_at(result) == {
        "hosts.yaml#0:spec.tls": "tls applies only to tcp:// and https:// urls"
    }
    assert result.claimed == {("Host", "h1")}


@pytest.mark.parametrize(("capacity", "field"), [({"cpu": 64}, "cpu"), ({"memory": 32}, "memory")])
def test_host_capacity_has_minimums(tmp_path: Path, capacity: dict[str, int], field: str) -> None:
    write(tmp_path, "hosts.yaml", host_doc("h1", capacity=capacity))

    assert list(errors_at(load(tmp_path))) == [f"hosts.yaml#0:spec.capacity.{field}"]


# --- placement constraints and strategies (issue 3) --------------------------------------------


def test_placement_fields_are_validated_with_their_paths(tmp_path: Path) -> None:
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(
            placementConstraints=[
                {"type": "memberOf", "expression": "zone = a"},
                {"type": "distinctInstance", "expression": "x"},
            ],
            placementStrategy=[{"type": "binpack", "field": "disk"}, {"type": "spread"}],
        ),
    )
    errors = errors_at(load(tmp_path))
    assert set(errors) == {
        "svc.yaml#1:spec.placementConstraints.0",
        "svc.yaml#1:spec.placementConstraints.1",
        "svc.yaml#1:spec.placementStrategy.0",
        "svc.yaml#1:spec.placementStrategy.1",
    }
    assert "cannot read expression 'zone = a'" in errors["svc.yaml#1:spec.placementConstraints.0"]


def test_an_attribute_on_no_host_is_refused_but_a_constraint_no_host_meets_today_is_not(
    tmp_path: Path,
) -> None:
    """A typo in an attribute is an error; a pool too small for a constraint is not: as in
    ECS, what fits is placed and the rest waits for a host."""
    write(
        tmp_path,
        "pool.yaml",
        host_doc("a", zone="zone-a", attributes={"disk": "ssd"}),
        host_doc("b", zone="zone-b", url="tcp://b:2376"),
    )
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(
            desiredCount=3,
            placementConstraints=[
                {"type": "memberOf", "expression": "attribute:rack == r1"},
                {"type": "memberOf", "expression": "attribute:zone == zone-c"},
                {"type": "distinctInstance"},
            ],
        ),
    )
    errors = errors_at(load(tmp_path))
    assert list(errors) == ["svc.yaml#1:spec.placementConstraints.0"]
    assert errors["svc.yaml#1:spec.placementConstraints.0"].startswith(
        "attribute 'rack' is on no Host"
    )


def test_distinct_instance_with_more_tasks_than_hosts_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "pool.yaml", host_doc("a"), host_doc("b", url="tcp://b:2376"))
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(desiredCount=3, placementConstraints=[{"type": "distinctInstance"}]),
    )
    assert errors_at(load(tmp_path)) == {}
