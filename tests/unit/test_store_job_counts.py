"""A JobQueue's counts by status come from totals the store keeps as jobs are written, not from
a scan of every job it holds (a week of finished jobs at 10,000 an hour is 1.7 million rows,
counted at every Batch pass). Whatever the writes (arrays and their children in any order,
status changes, pruning, a queue changed), the totals are what a full count gives."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from controller.store import Store

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def record(job_id: str, queue: str, status: str, parent: str | None = None) -> dict[str, Any]:
    stopped = 50.0 if status in ("SUCCEEDED", "FAILED") else None
    return {
        "job_id": job_id,
        "job_queue": queue,
        "status": status,
        "parent_id": parent,
        "created_at": 1.0,
        "stopped_at": stopped,
    }


def counted(store: Store) -> dict[tuple[str, str], int]:
    """The full count: every job, an array as its children (a job with children is not one)."""
    jobs = store.jobs()
    parents = {j["parent_id"] for j in jobs if j.get("parent_id")}
    return dict(Counter((j["job_queue"], j["status"]) for j in jobs if j["job_id"] not in parents))


def test_the_totals_match_a_full_count_through_any_writes(tmp_path: Path) -> None:
    rng = random.Random(23)
    store = Store(str(tmp_path / "s.db"))
    known: dict[str, dict[str, Any]] = {}
    for step in range(400):
        roll = rng.random()
        if roll < 0.35 or not known:  # a job, or an array: its parent, then its children
            head = f"j{step}"
            queue = rng.choice("ab")
            batch = [record(head, queue, "PENDING")]
            children = range(rng.randint(0, 3))
            batch += [record(f"{head}:{i}", queue, "PENDING", head) for i in children]
            if rng.random() < 0.3:
                batch.reverse()  # children written before their parent
            store.put_jobs(batch)
            known.update((r["job_id"], r) for r in batch)
        elif roll < 0.85:  # a status moves (sometimes to the same one, or to another queue)
            job = dict(known[rng.choice(sorted(known))])
            job["status"] = rng.choice(STATUSES)
            if rng.random() < 0.05:
                job["job_queue"] = rng.choice("ab")
            again = record(job["job_id"], job["job_queue"], job["status"], job["parent_id"])
            store.put_jobs([again])
            known[job["job_id"]] = job
        else:  # retention prunes what ended
            store.prune_jobs(ended_before=100.0, limit=rng.randint(1, 5))
            known = {r["job_id"]: r for r in store.jobs()}
        assert store.job_counts() == counted(store), f"after step {step}"
    assert store.job_counts()  # the walk left jobs to count


def test_totals_are_counted_again_at_start_for_a_store_written_without_them(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    store = Store(path)
    store.put_jobs([record("P", "q", "PENDING"), record("P:0", "q", "RUNNING", "P")])
    store.put_jobs([record("x", "q", "SUCCEEDED")])
    store.close()
    db = sqlite3.connect(path)  # as a data directory from before the totals would be
    db.execute("DELETE FROM job_totals")
    db.commit()
    db.close()
    again = Store(path)
    assert again.job_counts() == {("q", "RUNNING"): 1, ("q", "SUCCEEDED"): 1}
