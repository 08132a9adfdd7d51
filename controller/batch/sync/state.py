"""What Batch keeps while the daemon runs: the lock its scheduling pass, submits, cancels and
terminates share, so a cancel never races the pass that would start the job."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.core.context import Context


class BatchState:
    def __init__(self) -> None:
        self.lock = threading.RLock()


def batch_lock(ctl: Context) -> threading.RLock:
    return ctl.part(BatchState).lock
