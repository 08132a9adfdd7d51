"""What Batch keeps while the daemon runs: the lock its scheduling pass, cancels, terminates
and retention share, so a cancel never races the pass that would start the job; the
narrower lock a submit shares with retention, so a job is never saved depending on a job
pruned between the submit's read of it and its save; and the unfinished jobs as the last pass
parsed them, so a pass parses only the records that changed since (a pass over 2,000 RUNNABLE
jobs otherwise spends most of its time parsing the same JSON again)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from controller.batch.planners.jobs import Job

if TYPE_CHECKING:
    from controller.core.context import Context


class BatchState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.history = threading.Lock()  # a submit's read of its dependencies to its save
        self.parsed: dict[str, tuple[str, Job]] = {}  # job id -> (stored text, parsed job)


def batch_lock(ctl: Context) -> threading.RLock:
    return ctl.part(BatchState).lock


def history_lock(ctl: Context) -> threading.Lock:
    """Held by a submit from reading the jobs it depends on to saving it, and by retention
    while it prunes: short, and never waits for a scheduling pass."""
    return ctl.part(BatchState).history


def unfinished_jobs(ctl: Context, statuses: tuple[str, ...]) -> dict[str, Job]:
    """The jobs with these statuses, oldest first, parsed again only where their stored text
    changed since the last call (under the Batch lock: one pass at a time keeps the cache)."""
    state = ctl.part(BatchState)
    kept, parsed = state.parsed, {}
    for job_id, text in ctl.store.job_texts(statuses):
        hit = kept.get(job_id)
        parsed[job_id] = hit if hit is not None and hit[0] == text else (text, _parse(text))
    state.parsed = parsed
    return {job_id: job for job_id, (_, job) in parsed.items()}


def _parse(text: str) -> Job:
    return Job.from_record(json.loads(text))
