"""Host allocations count what the planner counts as not STOPPED: a task with a running
container holds its reservation without its full state being derived (the resync pass computes
host slots once per service, over every task of the pool)."""

from __future__ import annotations

from pathlib import Path

from controller.reconcilers.task_state import STOPPED, view_task
from controller.store import TaskRecord
from tests.unit.test_controller import Harness, manifest


def reference_memory(h: Harness) -> int:
    """Memory held per the full task views, as host_slots computed it before the shortcut."""
    records, now, used = h.store.all_tasks(), h.clock(), 0
    for t in h.ctl.observed_tasks().values():
        rev = h.ctl.revision(t.revision)
        assert rev is not None
        if view_task(t, rev.spec, records.get(t.id), now).last_status != STOPPED:
            used += rev.spec.memory_need
    return used


def test_host_memory_allocated_matches_the_task_views_in_every_state(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(4))
    tasks = list(h.ctl.observed_tasks().values())
    # One exited (STOPPED), one asked to stop but still running (STOPPING), two running.
    h.fake.exit(next(iter(tasks[0].containers.values())).id, 1)
    stopping = tasks[1]
    h.store.put_tasks(
        [
            TaskRecord(
                stopping.id,
                "Service",
                "web",
                stopping.revision,
                stopping.host,
                "STOPPED",
                stopping.created_at,
                "Scaling activity initiated by (test)",
                h.clock(),
            )
        ]
    )
    h.ctl.resync()  # the cache sees the exit; nothing is reconciled
    (slot,) = h.ctl.host_slots(h.ctl.observed_tasks())
    assert slot.memory_used == reference_memory(h) == 3 * 64
