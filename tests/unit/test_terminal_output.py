"""What the CLI prints for people never carries a control character from the daemon: an escape
sequence in a message cannot recolour the terminal, move the cursor or fake a line. JSON output
stays exact."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from controller import batch_cli, cli
from controller.events_cli import line
from controller.status_table import render_status
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
    class Daemon:
        def call(self, method: str, path: str) -> dict[str, Any]:
            return status_doc()

    monkeypatch.setattr(cli.Client, "from_args", classmethod(lambda cls, args: Daemon()))
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

    class Daemon:
        def call(self, method: str, path: str) -> dict[str, Any]:
            return {"jobSummaryList": [job]}

    monkeypatch.setattr(batch_cli.Client, "from_args", classmethod(lambda cls, args: Daemon()))
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
