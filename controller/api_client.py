"""What the CLI's commands share when they talk to the running daemon's API: how a refusal
and an unreachable daemon are worded."""

from __future__ import annotations

import json
import urllib.error


def refusal(exc: urllib.error.HTTPError) -> str:
    """The daemon's {"message": ...} for a refused request, or the HTTP error itself."""
    try:
        return str(json.load(exc)["message"])
    except (ValueError, KeyError, TypeError):
        return str(exc)


def unreachable(listen: str, exc: Exception) -> str:
    return f"cannot reach the daemon at {listen}: {exc}"
