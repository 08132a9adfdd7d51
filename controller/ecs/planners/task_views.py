"""Task views remembered from one pass to the next, so a pass costs what changed.

`view_task` is pure: the same observed task, record, revision and clock give the same view.
A service of 5,000 tasks where one container changed would still rebuild 5,000 views each
pass; this memo rebuilds one. The clock enters a view in one place only: a task RUNNING with
nothing checking its health has `healthy_at` until it counts as healthy, None after. The memo
keeps the view as first built and clears `healthy_at` once the clock passes it, which is what
`view_task` would have returned.

A hit needs the same observed task (its containers are the observer's immutable snapshots,
compared by identity first), an equal record (task and record are the very objects of the last
pass while nothing changed and no task record was written: identity is checked before the
fields), the same revision object (revisions are parsed once and never change) and the same
`healthy_after`. Each call keeps only the tasks it was given, so the memo never holds more than
the service's tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from controller.core.observed import ObservedTask
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.ecs.planners.task_state import HEALTHY_AFTER_SECONDS, TaskView, view_task
from controller.store.records import TaskRecord

_FOREVER = float("inf")  # a clock no view's healthy_at can pass


@dataclass(frozen=True)
class _Entry:
    task: ObservedTask
    record: TaskRecord | None
    spec: TaskDefinitionSpec | None
    healthy_after: float
    view: TaskView  # as built before the clock passed healthy_at
    settled: TaskView | None = None  # the same view once it has (healthy_at None)


class TaskViews:
    """A service's task views, rebuilt only for the tasks that changed since the last call."""

    def __init__(self) -> None:
        self._memo: dict[str, _Entry] = {}
        self.built = 0  # views built (not remembered) by the last call: what a pass cost

    def views(
        self,
        observed: Sequence[ObservedTask],
        records: Mapping[str, TaskRecord],
        revisions: Mapping[str, TaskDefinitionSpec],
        now: float,
        healthy_after: float = HEALTHY_AFTER_SECONDS,
    ) -> list[TaskView]:
        memo: dict[str, _Entry] = {}
        out: list[TaskView] = []
        self.built = 0
        for task in observed:
            record, spec = records.get(task.id), revisions.get(task.revision)
            entry = self._memo.get(task.id)
            if (
                entry is None
                or entry.spec is not spec
                or entry.healthy_after != healthy_after
                or (entry.record is not record and entry.record != record)
                or (entry.task is not task and entry.task != task)
            ):
                # Built with a clock before any healthy_at, and settled below.
                built = view_task(task, spec, record, -_FOREVER, healthy_after)
                entry = _Entry(task, record, spec, healthy_after, built)
                self.built += 1
            view = entry.view
            if view.healthy_at is not None and now >= view.healthy_at:
                if entry.settled is None:
                    entry = replace(entry, settled=replace(view, healthy_at=None))
                view = entry.settled or view
            memo[task.id] = entry
            out.append(view)
        self._memo = memo
        return out
