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

REVISIONS_KEPT = 256  # parsed revisions kept at most; one more is a store read and a parse away
REVISION_IDLE = 600.0  # seconds a parsed revision stays unused before it goes (passes use theirs)


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
        self._monotonic = ctl.monotonic
        # parsed revisions and when each was used last, the one used last at the end
        self._revisions: OrderedDict[str, tuple[ResolvedRevision, float]] = OrderedDict()
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
        """`rev`, parsed once. Parsed revisions stay while they are in use: one unused for
        REVISION_IDLE seconds goes, and so do the oldest past REVISIONS_KEPT. A family gains a
        revision at every change of its manifest; the daemon must not grow with them. Every
        service pass reads its revisions, so those in use are never idle that long."""
        cached = self._cached(rev.key)
        if cached is not None:
            return cached
        parsed = ResolvedRevision.from_record(rev)
        with self._lock:
            self._revisions[rev.key] = (parsed, self._monotonic())
            self._drop_unused()
        return parsed

    def _cached(self, key: str) -> ResolvedRevision | None:
        with self._lock:  # services are synced on several workers at once
            found = self._revisions.get(key)
            if found is None:
                return None
            self._revisions[key] = (found[0], self._monotonic())
            self._revisions.move_to_end(key)
            self._drop_unused()
            return found[0]

    def _drop_unused(self) -> None:
        """Drops, oldest use first, the revisions past the bound or idle too long."""
        idle_since = self._monotonic() - REVISION_IDLE
        while self._revisions:
            _, used = next(iter(self._revisions.values()))
            if len(self._revisions) <= REVISIONS_KEPT and used >= idle_since:
                break
            self._revisions.popitem(last=False)


def ecs(ctl: Context) -> EcsState:
    return ctl.part(EcsState)


def revision(ctl: Context, key: str) -> ResolvedRevision | None:
    """A task definition revision by `family:N`, from ECS's cache."""
    return ecs(ctl).revision(key)
