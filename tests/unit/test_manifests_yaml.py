"""What the loader makes of YAML itself: syntax errors, text that is not UTF-8, duplicate keys,
anchors and merge keys, odd keys, and the same resource named twice.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.documents import host_doc, service_doc, td_doc, write
from tests.unit.manifests_support import errors_at, load


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

    assert err.document == 2  # counted from 1, as editors do
    assert (err.line, err.column) == (12, 1)  # where YAML found the list unclosed (file end)


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

    assert set(errors_at(load(tmp_path))) >= {"x.yaml#1:1", "x.yaml#1:foo"}


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
        "web.yaml#3:metadata.name": "Service 'web' is defined twice (first in web.yaml, document 2)"
    }
    assert result.resources[("Service", "web")].spec.desired_count == 1


def test_same_resource_in_two_files_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", td_doc("web"))
    write(tmp_path, "b.yaml", td_doc("web"))

    result = load(tmp_path)

    assert errors_at(result) == {
        "b.yaml#1:metadata.name": "TaskDefinition 'web' is defined twice (first in a.yaml, "
        "document 1)"
    }
    assert result.resources[("TaskDefinition", "web")].source == "a.yaml"


def test_same_name_is_reported_twice_even_when_the_first_is_invalid(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", service_doc("web", desiredCount=-1), service_doc("web"))

    result = load(tmp_path)

    assert set(errors_at(result)) == {"a.yaml#1:spec.desiredCount", "a.yaml#2:metadata.name"}
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
