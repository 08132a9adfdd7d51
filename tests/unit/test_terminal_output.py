"""What the CLI prints for people never carries a control character from the daemon: an escape
sequence in a message cannot recolour the terminal, move the cursor or fake a line. JSON output
stays exact."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog

from controller.cli import batch as batch_cli
from controller.cli import main as cli
from controller.cli.events import line
from controller.cli.status_table import render_status
from controller.logging import configure
from controller.terminal import printable, table

HOSTILE = "\x1b[31mred\x1b[0m\r\n"
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # all but the lines' own \n


def status_doc() -> dict[str, Any]:
    return {
        "ready": True,
        "resources": [
            {"kind": "Service", "name": "web", "status": "ACTIVE", "message": HOSTILE},
            {
                "kind": "TaskDefinition",
                "name": "web\x1b]0;pwned\x07",
                "status": "ACTIVE",
                "revisions": [{"revision": 1, "status": "ACTIVE\x9b2J"}],
            },
        ],
        "errors": [{"file": "a.yaml", "document": 0, "field": "spec", "message": "bad\x7f\rok"}],
    }


def test_a_status_message_with_escape_sequences_prints_without_a_control_byte() -> None:
    out = render_status(status_doc())
    assert not RAW_CONTROL.search(out)
    row = next(x for x in out.splitlines() if x.startswith("Service"))
    assert row.endswith("\\x1b[31mred\\x1b[0m\\x0d\\x0a")  # the CR/LF stay inside the row
    assert "web\\x1b]0;pwned\\x07 revisions" in out
    assert "bad\\x7f\\x0dok" in out
    assert len(out.splitlines()) == len(render_status(status_doc()).splitlines())


def test_skiff_status_json_stays_exact(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.Client, "call", lambda self, method, path, body=None: status_doc())
    assert cli.main(["status", "-o", "json"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == status_doc()
    assert cli.main(["status"]) == 0
    assert not RAW_CONTROL.search(capsys.readouterr().out)


def test_the_batch_job_table_escapes_every_cell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job = {"jobId": "j1", "jobName": "n\x1b[2J", "jobQueue": "q", "status": "FAILED"}
    job["statusReason"] = HOSTILE

    answer = {"jobSummaryList": [job]}
    monkeypatch.setattr(batch_cli.Client, "call", lambda self, method, path, body=None: answer)
    assert cli.main(["batch", "list"]) == 0
    out = capsys.readouterr().out
    assert not RAW_CONTROL.search(out)
    assert len(out.splitlines()) == 2  # the header and one job, whatever its reason holds


def test_an_event_line_is_printable() -> None:
    doc = {
        "id": "7",
        "time": "2026-01-01T00:00:00Z",
        "resources": ["Job/j1"],
        "detail": {"status": "FAILED", "statusReason": HOSTILE + "a fake line"},
    }
    assert line(doc) == (
        "     7  2026-01-01T00:00:00Z  Job/j1  FAILED  \\x1b[31mred\\x1b[0m\\x0d\\x0aa fake line"
    )


def test_c0_del_and_c1_are_visible_and_the_rest_is_untouched() -> None:
    assert printable("\x00\t\x1b\x7f\x85\x9f") == "\\x00\\x09\\x1b\\x7f\\x85\\x9f"
    assert printable("naïve — web:1 ✓") == "naïve — web:1 ✓"
    assert table([["A", "B"], ["\x1b", "x"]]) == ["A     B", "\\x1b  x"]


def test_bidirectional_overrides_are_visible() -> None:
    """U+202E would show `exe.txt` as `txt.exe`: the order a terminal shows must be the real one."""
    assert printable("a\u202eb\u2066c\u200f") == "a\\u202eb\\u2066c\\u200f"
    assert printable("שלום") == "שלום"  # right-to-left letters themselves are text


def test_skiff_validate_shows_a_hostile_file_name_on_one_escaped_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file name is the one part of an error not quoted: someone who can write to the
    manifest directory must not fake lines or send escapes to the operator's terminal."""
    (tmp_path / "a\x1b[2Jb\nok.yaml: fine\u202e.yaml").write_text("kind: X\n")
    assert cli.main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert not RAW_CONTROL.search(err) and "\u202e" not in err
    shown = f"{tmp_path}/a\\x1b[2Jb\\x0aok.yaml: fine\\u202e.yaml:1:"
    errors = [e for e in err.splitlines() if e]
    assert errors and all(e.startswith(shown) for e in errors)


def test_the_console_log_escapes_what_a_request_or_a_file_name_carries() -> None:
    """An API client without a token picks the path the daemon logs in `api.refused`."""
    configure("console", "info")
    try:
        processors = structlog.get_config()["processors"]
    finally:
        structlog.reset_defaults()
    out = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(out), processors=processors)
    logger.warning("api.refused", path="/v1/\x1b[2J\x1b]0;x\x07", n=1)
    logged = out.getvalue()
    assert "\x1b[2J" not in logged and "\x07" not in logged
    assert "/v1/\\x1b[2J\\x1b]0;x\\x07" in logged
