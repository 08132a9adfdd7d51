"""The directory loader, as a user writing YAML sees it: which files and documents are read, every
error reported at once, and unknown, missing and malformed fields.

Every test writes real YAML files into a temporary directory (or builds a spec the way the loader
does) and checks what a user would notice: which resources load, and which errors are reported
with which file, document index and field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.catalog import load_directory
from controller.manifests.base import FieldError
from tests.support.documents import container, host_doc, service_doc, td_doc, write
from tests.unit.manifests_support import errors_at, load

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
    assert (svc.source, svc.document) == ("teams/api.yml", 3)  # counted from 1, as editors do
    assert result.resources[("TaskDefinition", "api")].document == 1
    assert result.resources[("Host", "h1")].document == 2


def test_metadata_labels_are_kept_on_the_resource(tmp_path: Path) -> None:
    doc = service_doc("web")
    doc["metadata"]["labels"] = {"team": "shop"}
    write(tmp_path, "web.yaml", td_doc("web"), doc)

    assert load(tmp_path).resources[("Service", "web")].labels == {"team": "shop"}


def test_empty_documents_are_skipped_but_keep_their_place_in_the_count(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), "", "# nothing\n", service_doc("web"))

    result = load(tmp_path)

    assert result.errors == []
    assert result.resources[("TaskDefinition", "web")].document == 1
    assert result.resources[("Service", "web")].document == 4


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
        "all.yaml#1:spec.containerDefinitions.0.portMappings.0.containerPort",
        "all.yaml#2:spec.desiredCont",
        "all.yaml#4:spec.containerDefinitions.0.image",
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
        "a.yaml#1:spec.desiredCount",
        "b/b.yml#1:spec.networkMode",
    }


def test_field_error_reads_file_document_resource_field_and_message(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", desiredCount=-1))

    (err,) = load(tmp_path).errors

    assert (err.file, err.document, err.kind, err.name) == ("web.yaml", 2, "Service", "web")
    assert err.path == ("spec", "desiredCount")
    assert (err.line, err.column) == (16, 17)  # the value -1, in the file of two documents
    assert str(err) == (
        "web.yaml:16:17: document 2 Service/web: spec.desiredCount: "
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

    assert errors_at(result) == {f"x.yaml#1:{field}": "unknown field"}


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

    assert errors_at(result)[f"x.yaml#1:{field}"] == message
    assert result.resources == {}


def test_missing_metadata_is_reported_on_metadata(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", {k: v for k, v in service_doc().items() if k != "metadata"})

    assert list(errors_at(load(tmp_path))) == ["x.yaml#1:metadata"]


@pytest.mark.parametrize("name", ["Web Server", "-web", "web.prod", "x" * 64, ""])
def test_invalid_resource_name_is_rejected(tmp_path: Path, name: str) -> None:
    doc = service_doc()
    doc["metadata"]["name"] = name
    write(tmp_path, "x.yaml", doc)

    assert list(errors_at(load(tmp_path))) == ["x.yaml#1:metadata.name"]


@pytest.mark.parametrize("version", ["skiff/v2", "v1", None])
def test_wrong_api_version_is_reported(tmp_path: Path, version: str | None) -> None:
    doc = td_doc("web")
    doc["apiVersion"] = version
    write(tmp_path, "x.yaml", doc)

    assert errors_at(load(tmp_path)) == {
        "x.yaml#1:apiVersion": f"must be 'skiff/v1', not {version!r}"
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
        "x.yaml#1:kind": f"unknown kind {kind!r}; expected one of "
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
        "x.yaml#2:(document)": f"a document must be a mapping, not {type_name}"
    }
    assert set(result.resources) == {("TaskDefinition", "web")}


@pytest.mark.parametrize(
    ("field", "value"),
    [("cpu", 0.5), ("memory", 1.5), ("cpu", [1])],
    ids=["cpu-float", "memory-float", "cpu-list"],
)
def test_task_cpu_or_memory_of_the_wrong_type_is_a_field_error(
    tmp_path: Path, field: str, value: Any
) -> None:
    write(tmp_path, "td.yaml", td_doc("web", **{field: value}))

    assert list(errors_at(load(tmp_path))) == [f"td.yaml#1:spec.{field}"]
