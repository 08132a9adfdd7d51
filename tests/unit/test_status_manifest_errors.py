"""`skiff status` shows a manifest error where an editor opens it: file:line:column."""

from controller.cli.status_table import render_status


def test_a_manifest_error_is_shown_at_its_line_and_column() -> None:
    error = {"file": "web.yaml", "line": 12, "column": 5, "document": 2}
    error |= {"field": "spec.desiredCount", "message": "must be 0 or more"}
    file_wide = {"file": "broken.yaml", "line": None, "column": None, "document": 0}
    file_wide |= {"field": "(document)", "message": "cannot be read"}
    printed = render_status({"ready": True, "resources": [], "errors": [error, file_wide]})
    assert "  web.yaml:12:5: document 2: spec.desiredCount: must be 0 or more" in printed
    assert "  broken.yaml: cannot be read" in printed
