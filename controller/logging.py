"""structlog set-up: one event per line, JSON when stderr is not a terminal, readable when it is.

What a console line shows comes partly from outside (a request's path, a manifest's file name,
Docker's messages): there, every text value goes through `terminal.printable`, so none can move
the cursor, recolour the screen or fake another line (a traceback keeps its line breaks). JSON
escapes control characters itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from controller.terminal import printable


def configure(fmt: str = "auto", level: str = "info") -> None:
    """fmt: auto (JSON unless on a TTY), json or console."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    rendering: list[structlog.types.Processor] = (
        [structlog.processors.JSONRenderer()]
        if use_json
        else [printable_values, structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def printable_values(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Every text value of the event made printable (other values are shown by their repr(),
    which escapes control characters already); a traceback line by line."""
    for key, value in event.items():
        if isinstance(value, str):
            lines = value.split("\n") if key == "exception" else [value]
            event[key] = "\n".join(printable(line) for line in lines)
    return event
