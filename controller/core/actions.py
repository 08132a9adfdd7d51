"""The action log: one structured event per action, also counted and kept in the store's history
(which the API's event stream follows).

An action is logged and counted even when its history record cannot be stored (the store
reports that failure itself): the action happened, and calling it failed would only make a
caller undo or repeat it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from controller.core.event_stream import EventFeed
from controller.core.telemetry import Metrics
from controller.store import EventRecord, Store, StoreFailure

log = structlog.get_logger("skiff")


class ActionLog:
    def __init__(
        self, store: Store, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        self._store, self._metrics, self._clock = store, metrics, clock
        self.feed = EventFeed(store.last_event_id())
        self._told: dict[tuple[str, str, str], str] = {}  # conditions told once, by reason
        self._told_lock = threading.Lock()

    def record(
        self,
        kind: str,
        name: str,
        action: str,
        reason: str,
        *,
        level: str = "info",
        keep: bool = True,
        detail: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Logs `action` on kind/name; `keep` also writes it to the history shown by status and
        sends it on the event stream, with `detail` (JSON-able) as the event's detail."""
        event = self.entry(kind, name, action, reason, level=level, detail=detail, **fields)
        if keep:
            try:
                self.published([self._store.add_event(event)])
            except StoreFailure:
                pass  # the log line above tells it; the store counts the failed write

    def record_change(self, kind: str, name: str, action: str, reason: str, **kwargs: Any) -> None:
        """Records a condition that holds pass after pass (a task that cannot be placed, a
        deployment that cannot move) once, and again only when its reason changes, as ECS
        tells a service's events."""
        with self._told_lock:
            if self._told.get((kind, name, action)) == reason:
                return
            self._told[(kind, name, action)] = reason
        self.record(kind, name, action, reason, **kwargs)

    def settled(self, kind: str, name: str, action: str) -> None:
        """The condition behind `action` ended: when it holds again, it is told again."""
        with self._told_lock:
            self._told.pop((kind, name, action), None)

    def entry(
        self,
        kind: str,
        name: str,
        action: str,
        reason: str,
        *,
        level: str = "info",
        detail: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> EventRecord:
        """Logs and counts the action, and returns its history record, for a caller that
        stores it with the change it tells (one transaction), then calls published()."""
        getattr(log, level)(action, kind=kind, name=name, action=action, reason=reason, **fields)
        self._metrics.actions.labels(kind, action).inc()
        message = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        body = json.dumps(detail) if detail else ""
        return EventRecord(self._clock(), kind, name, action, reason, message, body)

    def published(self, event_ids: list[int]) -> None:
        """Wakes the event stream's readers for events just stored."""
        if event_ids:
            self.feed.published(max(event_ids))
