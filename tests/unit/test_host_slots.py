"""What a pass reads of the pool, made cheap without changing it: host allocations count what
the planner counts as not STOPPED (a task with a running container holds its reservation
without its full state being derived), and observed tasks are grouped again only when a host's
cache changed (a pass asks for them once per key, and more)."""

from __future__ import annotations

from pathlib import Path

from controller.ecs.planners.task_state import STOPPED, view_task
from controller.ecs.sync.state import revision
from controller.store import TaskRecord
from tests.support.harness import Harness, manifest


def reference_memory(h: Harness) -> int:
    """Memory held per the full task views, as host_slots computed it before the shortcut."""
    records, now, used = h.store.all_tasks(), h.clock(), 0
    for t in h.ctl.observed_tasks().values():
        rev = revision(h.ctl, t.revision)
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


def test_observed_tasks_are_grouped_again_only_when_a_host_cache_changed(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    first, again = h.ctl.observed_tasks(), h.ctl.observed_tasks()
    assert first == again and first is not again  # callers get their own dict
    assert all(first[i] is again[i] for i in first)  # built once
    victim = next(iter(first.values()))
    h.fake.exit(next(iter(victim.containers.values())).id, 1)
    h.ctl.resync()
    after = h.ctl.observed_tasks()
    assert after[victim.id] is not victim
    assert not any(c.running for c in after[victim.id].containers.values())
