"""Durations on the command line, as Go and kubectl write them: a number of seconds, or numbers
with units run together (500ms, 90s, 5m, 1h30m, 7d, 6w, 1w2d). One parser for every flag that
takes one (`rollout status --timeout`, `run`'s retention periods)."""

from __future__ import annotations

import argparse
import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def duration(text: str) -> float:
    """Seconds, 0 or more and finite; an argparse usage error for anything else."""
    spoken = text.strip()
    try:
        seconds = float(spoken)
    except ValueError:
        parts = _PART.findall(spoken)
        if not parts or "".join(n + u for n, u in parts) != spoken:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration (write seconds, or 500ms, 90s, 5m, 1h30m, 7d, 6w)"
            ) from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not 0 <= seconds < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration of 0 or more")
    return seconds


def positive_duration(text: str) -> float:
    """A duration above 0 (a retention period)."""
    seconds = duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return seconds
