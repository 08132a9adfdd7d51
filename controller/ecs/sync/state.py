"""What ECS keeps while the daemon runs: the task executor, the expectations of its launches
and removals, the task definition revisions in use parsed once (a revision never changes) and each
service's task views from its last pass (a pass views again only the tasks that changed)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_views import TaskViews
from controller.ecs.sync.executor import Executor
from controller.ecs.sync.expectations import Expectations
from controller.store import Revision

if TYPE_CHECKING:
    from controller.core.context import Context

REVISIONS_KEPT = 256  # parsed revisions kept; one more is a store read and a parse away


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
        self._lock = threading.Lock()
        self._revisions: OrderedDict[str, ResolvedRevision] = OrderedDict()  # used last at the end
        self._views: dict[str, TaskViews] = {}

    def task_views(self, service: str) -> TaskViews:
        """The service's task views, kept from its last pass (one worker syncs a service at
        a time, so no two passes share them at once)."""
        return self._views.setdefault(service, TaskViews())

    def forget_views(self, service: str) -> None:
        self._views.pop(service, None)

    def revision(self, key: str) -> ResolvedRevision | None:
        """A revision by `family:N`, parsed once (revisions never change)."""
        cached = self._cached(key)
        if cached is not None:
            return cached
        family, _, number = key.rpartition(":")
        if not number.isdigit():
            return None
        rev = self.store.revision(family, int(number))
        return self.resolved(rev) if rev is not None else None

    def resolved(self, rev: Revision) -> ResolvedRevision:
        """`rev`, parsed once. The REVISIONS_KEPT used last stay parsed: a family gains a
        revision at every change of its manifest, and the daemon must not grow with them."""
        cached = self._cached(rev.key)
        if cached is not None:
            return cached
        parsed = ResolvedRevision.from_record(rev)
        with self._lock:
            self._revisions[rev.key] = parsed
            while len(self._revisions) > REVISIONS_KEPT:
                self._revisions.popitem(last=False)
        return parsed

    def _cached(self, key: str) -> ResolvedRevision | None:
        with self._lock:  # services are synced on several workers at once
            cached = self._revisions.get(key)
            if cached is not None:
                self._revisions.move_to_end(key)
            return cached


def ecs(ctl: Context) -> EcsState:
    return ctl.part(EcsState)


def revision(ctl: Context, key: str) -> ResolvedRevision | None:
    """A task definition revision by `family:N`, from ECS's cache."""
    return ecs(ctl).revision(key)
