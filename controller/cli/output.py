"""The `-o table|wide|json|yaml` flag every read command takes, and how a document is printed in
each format, so `get`, `describe`, `status`, `validate`, `plan`, `batch` and `events` agree.

JSON and YAML print the document as the API returned it (machine-readable: control characters
are escaped by the serialiser); table and wide are the command's own rendering, which makes every
line printable itself.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import yaml

FORMATS = ("table", "wide", "json", "yaml")


def add_output_flag(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=default,
        help="table (default), wide (more columns), json or yaml",
    )


def render(doc: Any, fmt: str, text: Callable[[bool], str]) -> str:
    """`doc` in `fmt`; `text(wide)` renders the table (wide: with every column)."""
    if fmt == "json":
        return json.dumps(doc, indent=2)
    if fmt == "yaml":
        # allow_unicode=False: YAML escapes anything non-ASCII, control characters included
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=False).rstrip("\n")
    return text(fmt == "wide")
