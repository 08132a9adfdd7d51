"""CPU readings of a busy container, taken in a window in which the kernel says it ran at its limit.

A busy loop under a CPU limit reads near 100% of that limit only if the machine gave it the
CPU. On a 2-core machine whose other test worker is launching hundreds of containers it can
get less for a second or two, and then a true reading is low. So a test that checks a reading
against the limit measures windows until the kernel's own accounting shows the container used
most of its limit, and checks the readings of that window; a machine that never gives it that
much within the timeout fails the test, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FULL = 80.0  # percent of its limit the kernel must show the container used in the window


def in_a_full_window(measure: Callable[[], tuple[float, T]], timeout: float = 90.0) -> T:
    """Repeats `measure` until the share of the limit it saw used (percent) reaches FULL.

    `measure` returns that share, from the kernel, and the readings taken in the same window.
    """
    deadline = time.monotonic() + timeout
    shares: list[float] = []
    while True:
        share, readings = measure()
        if share >= FULL:
            return readings
        shares.append(round(share, 1))
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the machine never gave the container {FULL:.0f}% of its CPU limit in a window "
                f"within {timeout:.0f}s; the kernel's last shares were {shares[-10:]}"
            )
