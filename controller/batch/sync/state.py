"""What Batch keeps while the daemon runs: the lock its scheduling pass, cancels, terminates
and retention share, so a cancel never races the pass that would start the job; and the
narrower lock a submit shares with retention, so a job is never saved depending on a job
pruned between the submit's read of it and its save."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.core.context import Context


class BatchState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.history = threading.Lock()  # a submit's read of its dependencies to its save


def batch_lock(ctl: Context) -> threading.RLock:
    return ctl.part(BatchState).lock


def history_lock(ctl: Context) -> threading.Lock:
    """Held by a submit from reading the jobs it depends on to saving it, and by retention
    while it prunes: short, and never waits for a scheduling pass."""
    return ctl.part(BatchState).history
