"""`-o json|yaml` print the document itself, machine-readable; table and wide the command's own
rendering."""

import json

import yaml

from controller.cli.output import render


def test_json_and_yaml_print_the_document_and_escape_control_characters() -> None:
    doc = {"name": "web\x1b[2J", "count": 3}
    as_json = render(doc, "json", lambda wide: "unused")
    as_yaml = render(doc, "yaml", lambda wide: "unused")
    assert json.loads(as_json) == doc and yaml.safe_load(as_yaml) == doc
    assert "\x1b" not in as_json and "\x1b" not in as_yaml


def test_table_and_wide_use_the_commands_rendering() -> None:
    text = lambda wide: "wide" if wide else "narrow"  # noqa: E731
    assert render({}, "table", text) == "narrow"
    assert render({}, "wide", text) == "wide"
