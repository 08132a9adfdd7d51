"""`skiff validate` as an editor user meets it: every error at `file:line:column` (the node at
fault; a missing field at the mapping it is missing from), documents counted from 1, several
paths checked as one set, `-` for standard input, and `-o json|yaml` for tools."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.catalog import load_directory
from controller.cli.main import main
from controller.manifests.base import FieldError
from tests.support.documents import dump, service_doc, td_doc, write

TEXT = """\
apiVersion: skiff/v1
kind: TaskDefinition
metadata: {name: web}
spec:
  containerDefinitions:
    - name: app
      image: busybox
      memory: 64
    - name: side
      image: [busybox]
      memory: 64
---
apiVersion: skiff/v1
kind: Service
metadata:
  name: web
spec:
  taskDefinition: web
  desiredCont: 2
---
apiVersion: skiff/v1
kind: Service
metadata:
  name: api
spec:
  desiredCount: 1
"""


def located(tmp_path: Path, text: str = TEXT) -> dict[str, tuple[int, int | None, int | None]]:
    """{field: (document, line, column)} of every error of one file of `text`."""
    (tmp_path / "web.yaml").write_text(text)
    return {e.field: (e.document, e.line, e.column) for e in load_directory(str(tmp_path)).errors}


def test_each_error_names_the_line_and_column_of_its_node(tmp_path: Path) -> None:
    assert located(tmp_path) == {
        # a wrong type in the second item of a list: the value itself
        "spec.containerDefinitions.1.image": (1, 10, 14),
        # an unknown field: its name, where the typo is
        "spec.desiredCont": (2, 19, 3),
        # a missing field: the mapping it is missing from (its first key)
        "spec.taskDefinition": (3, 26, 3),
    }


def test_a_missing_spec_points_at_the_document_and_a_missing_mapping_at_its_parent(
    tmp_path: Path,
) -> None:
    text = "\n\napiVersion: skiff/v1\nkind: Service\nmetadata:\n  name: web\n"
    assert located(tmp_path, text) == {"spec": (1, 3, 1)}


def test_a_yaml_syntax_error_is_at_yaml_s_own_mark(tmp_path: Path) -> None:
    text = dump(td_doc("web")) + "---\nkind: Service\nmetadata: {name: [web}\n"

    (err,) = load_directory(str(write(tmp_path, "web.yaml", text).parent)).errors

    assert (err.document, err.line, err.column) == (2, 12, 22)  # the `}` closing no mapping
    assert str(err).startswith("web.yaml:12:22: document 2: (document): cannot parse: ")


def test_a_duplicate_key_is_at_the_second_key(tmp_path: Path) -> None:
    text = "apiVersion: skiff/v1\nkind: Host\nkind: Host\n"

    (err,) = load_directory(str(write(tmp_path, "h.yaml", text).parent)).errors

    assert (err.document, err.line, err.column) == (1, 3, 1)
    assert "duplicate key 'kind'" in err.message


def test_an_error_between_documents_is_at_the_field_of_the_one_at_fault(tmp_path: Path) -> None:
    write(tmp_path, "svc.yaml", service_doc("web", taskDefinition="nowhere"))

    (err,) = load_directory(str(tmp_path)).errors

    assert (err.document, err.field, err.line, err.column) == (1, "spec.taskDefinition", 6, 19)


def test_a_file_level_error_has_no_document_nor_position() -> None:
    err = FieldError("x.yaml", 0, (), "larger than 10 bytes")

    assert str(err) == "x.yaml: larger than 10 bytes"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_prints_file_line_column_prefixes_editors_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "web.yaml").write_text(TEXT)

    code, out, err = run(capsys, "validate", str(tmp_path))

    assert code == 1
    assert err.splitlines() == [
        f"{tmp_path}/web.yaml:10:14: document 1 TaskDefinition/web: "
        "spec.containerDefinitions.1.image: Input should be a valid string",
        f"{tmp_path}/web.yaml:19:3: document 2 Service/web: spec.desiredCont: unknown field",
        f"{tmp_path}/web.yaml:26:3: document 3 Service/api: spec.taskDefinition: "
        "required field missing",
    ]
    assert out.strip() == "1 file(s), 0 valid resource(s), 3 error(s)"


def test_several_paths_are_checked_as_one_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    td = write(tmp_path / "a", "td.yaml", td_doc("web"))
    write(tmp_path / "b", "svc.yaml", service_doc("web"))
    write(tmp_path / "b", "teams/api.yaml", service_doc("api", taskDefinition="web"))

    code, out, err = run(capsys, "validate", str(td), str(tmp_path / "b"))

    assert (code, err) == (0, "")  # the Services find the TaskDefinition of the other path
    assert out.strip() == "3 file(s), 3 valid resource(s), 0 error(s)"


def test_a_file_below_a_directory_is_named_from_that_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", td_doc("web"))
    write(tmp_path, "teams/b.yaml", service_doc("web", desiredCont=1))

    code, _, err = run(capsys, "validate", str(tmp_path / "a.yaml"), str(tmp_path))

    assert code == 1
    assert f"{tmp_path}/teams/b.yaml:6:3: document 1 Service/web: spec.desiredCont:" in err


def test_a_missing_path_among_others_is_an_error_the_others_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "web.yaml", td_doc("web"))

    code, out, err = run(capsys, "validate", str(good), str(tmp_path / "nope.yaml"))

    assert code == 1
    assert err.strip() == f"{tmp_path / 'nope.yaml'}: no such file or directory"
    assert out.strip() == "1 file(s), 1 valid resource(s), 1 error(s)"


class FakeStdin:
    def __init__(self, text: str) -> None:
        self.buffer = io.BytesIO(text.encode())


def test_dash_reads_standard_input_shown_as_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(dump(td_doc("web"), service_doc("web", x=1))))

    code, out, err = run(capsys, "validate", "-")

    assert code == 1
    assert err.splitlines() == ["<stdin>:16:3: document 2 Service/web: spec.x: unknown field"]
    assert out.strip() == "1 file(s), 1 valid resource(s), 1 error(s)"


def test_dash_with_a_valid_manifest_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(dump(td_doc("web"), service_doc("web"))))

    assert run(capsys, "validate", "-") == (0, "1 file(s), 2 valid resource(s), 0 error(s)\n", "")


def test_standard_input_larger_than_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(dump(td_doc("web"))))

    code, _, err = run(capsys, "validate", "-", "--max-manifest-bytes", "10")

    assert code == 1
    assert err.startswith("<stdin>: larger than 10 bytes")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_output_json_and_yaml_give_every_error_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", desiredCont=3))

    code, out, err = run(capsys, "validate", str(tmp_path / "web.yaml"), "-o", fmt)

    doc: dict[str, Any] = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert (code, err) == (1, "")
    assert doc == {
        "files": 1,
        "resources": 1,
        "errors": [
            {
                "file": str(tmp_path / "web.yaml"),
                "line": 16,
                "column": 3,
                "document": 2,
                "kind": "Service",
                "name": "web",
                "field": "spec.desiredCont",
                "message": "unknown field",
            }
        ],
    }


def test_output_wide_lists_the_valid_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web"))

    code, out, _ = run(capsys, "validate", str(tmp_path), "-o", "wide")

    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["KIND", "NAME", "FILE", "DOCUMENT"]
    assert ["TaskDefinition", "web", str(tmp_path / "web.yaml"), "1"] in rows
    assert ["Service", "web", str(tmp_path / "web.yaml"), "2"] in rows


def test_no_manifests_at_all_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "validate", str(tmp_path), "-o", "json")

    assert code == 1
    assert json.loads(out) == {"files": 0, "resources": 0, "errors": []}


def test_the_status_document_gives_each_error_s_line_and_column(tmp_path: Path) -> None:
    from controller.core.desired import describe_errors

    write(tmp_path, "web.yaml", td_doc("web"), service_doc("web", desiredCont=3))

    (described,) = describe_errors(load_directory(str(tmp_path)).errors)

    assert described == {
        "file": "web.yaml",
        "line": 16,
        "column": 3,
        "document": 2,
        "field": "spec.desiredCont",
        "message": "unknown field",
        "resource": "Service/web",
    }


def test_a_value_yaml_cannot_build_is_at_its_document_s_start(tmp_path: Path) -> None:
    text = dump(td_doc("web")) + "---\n# a comment\nkind: Host\nwhen: 2023-02-30\n"

    (err,) = load_directory(str(write(tmp_path, "x.yaml", text).parent)).errors

    assert (err.document, err.line, err.column) == (2, 12, 1)
    assert "ValueError" in err.message


def test_a_field_merged_from_an_anchor_is_at_the_anchor(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: TaskDefinition\nmetadata: {name: web}\nspec:\n"
        "  containerDefinitions:\n"
        "    - &base {name: a, image: busybox, memory: 64, cpuu: 1}\n"
        "    - <<: *base\n      name: b\n"
    )

    errors = load_directory(str(write(tmp_path, "td.yaml", text).parent)).errors

    assert {(e.field, e.line, e.column) for e in errors} == {
        ("spec.containerDefinitions.0.cpuu", 6, 51),
        ("spec.containerDefinitions.1.cpuu", 6, 51),
    }
