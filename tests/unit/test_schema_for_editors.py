"""The JSON Schema editors validate manifests with: a typo is reported as that field of that
kind (not "not valid under any of the given schemas"), an unknown kind as not one of the kinds,
`skiff schema --kind` prints one kind's schema, and every field says what it means."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match

from controller.catalog import KINDS, json_schema
from controller.cli.main import main
from tests.support.documents import service_doc, td_doc


def best(schema: dict[str, Any], doc: dict[str, Any]) -> jsonschema.ValidationError:
    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert error is not None, doc
    return error


def test_a_typo_in_a_service_field_is_reported_as_that_field() -> None:
    error = best(json_schema(), service_doc("web", desiredCont=3))

    assert error.validator == "additionalProperties"
    assert list(error.absolute_path) == ["spec"]
    assert "'desiredCont' was unexpected" in error.message


def test_a_wrong_type_deep_in_a_task_definition_is_reported_at_its_path() -> None:
    doc = td_doc("web", containerDefinitions=[{"name": "a", "image": 5, "memory": 64}])

    error = best(json_schema(), doc)

    assert list(error.absolute_path) == ["spec", "containerDefinitions", 0, "image"]
    assert error.validator == "type"


def test_an_unknown_kind_is_reported_with_the_kinds() -> None:
    error = best(json_schema(), {**service_doc("web"), "kind": "Servce"})

    assert error.validator == "enum"
    assert list(error.absolute_path) == ["kind"]
    assert "'Servce' is not one of" in error.message and "'Service'" in error.message


def test_each_kind_s_spec_applies_only_to_its_documents() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())

    assert validator.is_valid(service_doc("web"))
    assert validator.is_valid(td_doc("web"))
    # a Service's spec under kind TaskDefinition is a TaskDefinition's typo, not a Service
    assert not validator.is_valid({**service_doc("web"), "kind": "TaskDefinition"})


def schema_of(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["schema", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def test_schema_kind_prints_that_kind_alone_in_any_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = schema_of(capsys, "--kind", "service")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    assert schema["properties"]["kind"]["const"] == "Service"
    assert validator.is_valid(service_doc("web"))
    assert not validator.is_valid(td_doc("web"))
    error = best(schema, service_doc("web", desiredCont=3))
    assert "'desiredCont' was unexpected" in error.message
    assert "TaskDefinitionSpec" not in schema["$defs"]  # only what a Service needs


def test_schema_of_an_unknown_kind_fails_naming_the_kinds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "--kind", "Pod"]) == 1
    out, err = capsys.readouterr()

    assert out == ""
    assert err.startswith("skiff: no kind 'Pod'; the kinds are: ")
    assert all(kind in err for kind in KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_alone_is_a_valid_schema_whose_refs_resolve(kind: str) -> None:
    schema = json_schema(kind)

    jsonschema.Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}:
        assert ref in schema["$defs"], (kind, ref)


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Every property (of the document, and of every model, nested objects included) with no
    description, as 'Model.property'."""
    missing: list[str] = []

    def walk(where: str, node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if not (isinstance(prop, dict) and str(prop.get("description", "")).strip()):
                    missing.append(f"{where}.{name}")
            for key, value in node.items():
                if key not in ("if", "then"):  # which spec applies: its fields are the spec's
                    walk(where, value)
        elif isinstance(node, list):
            for value in node:
                walk(where, value)

    walk("(document)", {k: v for k, v in schema.items() if k != "$defs"})
    for model, definition in schema["$defs"].items():
        walk(model, definition)
    return missing


def test_every_field_of_every_kind_has_a_description() -> None:
    schema = json_schema()

    assert undescribed(schema) == []
    assert len(schema["$defs"]) > 50  # the walk saw the models, not an empty schema


def test_descriptions_say_what_aws_says_the_field_means() -> None:
    props = json_schema("Service")["$defs"]["ServiceSpec"]["properties"]

    assert props["desiredCount"]["description"] == (
        "The number of instantiations of the task definition to keep running on the service."
    )
    assert "\n" not in json.dumps([p.get("description") for p in props.values()])


def test_the_description_walk_finds_a_missing_one() -> None:
    schema = {"properties": {"a": {"type": "string"}}, "$defs": {"M": {"properties": {}}}}

    assert undescribed(schema) == ["(document).a"]
