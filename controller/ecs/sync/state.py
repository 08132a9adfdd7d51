"""What ECS keeps while the daemon runs: the task executor, the expectations of its launches
and removals, the task definition revisions parsed once (a revision never changes) and each
service's task views from its last pass (a pass views again only the tasks that changed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_views import TaskViews
from controller.ecs.sync.executor import Executor
from controller.ecs.sync.expectations import Expectations

if TYPE_CHECKING:
    from controller.core.context import Context


class EcsState:
    def __init__(self, ctl: Context) -> None:
        settings = ctl.settings
        self.store = ctl.store
        self.expectations = Expectations(settings.expectation_ttl, ctl.monotonic)
        self.executor = Executor(
            ctl.runtime_for,
            ctl.store,
            self.expectations,
            ctl.actions,
            ctl.pool,
            parallelism=settings.parallelism,
            pause_image=settings.pause_image,
            cluster=settings.cluster,
            clock=ctl.clock,
            choose_ports=ctl.choose_ports,
        )
        self._revisions: dict[str, ResolvedRevision] = {}
        self._views: dict[str, TaskViews] = {}

    def task_views(self, service: str) -> TaskViews:
        """The service's task views, kept from its last pass (one worker syncs a service at
        a time, so no two passes share them at once)."""
        return self._views.setdefault(service, TaskViews())

    def forget_views(self, service: str) -> None:
        self._views.pop(service, None)

    def revision(self, key: str) -> ResolvedRevision | None:
        """A revision by `family:N`, parsed once (revisions never change)."""
        cached = self._revisions.get(key)
        if cached is not None:
            return cached
        family, _, number = key.rpartition(":")
        if not number.isdigit():
            return None
        rev = self.store.revision(family, int(number))
        if rev is None:
            return None
        self._revisions[key] = ResolvedRevision.from_record(rev)
        return self._revisions[key]


def ecs(ctl: Context) -> EcsState:
    return ctl.part(EcsState)


def revision(ctl: Context, key: str) -> ResolvedRevision | None:
    """A task definition revision by `family:N`, from ECS's cache."""
    return ecs(ctl).revision(key)
