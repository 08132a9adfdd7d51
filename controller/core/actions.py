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
from controller.store import EventRecord, Store, StoreFailure
from controller.telemetry import Metrics

log = structlog.get_logger("skiff")


class ActionLog:
    def __init__(
        self, store: Store, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        self._store, self._metrics, self._clock = store, metrics, clock
        self.feed = EventFeed(store.last_event_id())
        self._told: dict[tuple[str, str, str], str | None] = {}  # the store's, cached
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

    def record_change(
        self,
        kind: str,
        name: str,
        action: str,
        reason: str,
        *,
        news: str | None = None,
        log_each: bool = False,
        **kwargs: Any,
    ) -> None:
        """Records a condition that holds pass after pass (a task that cannot be placed, a
        deployment that cannot move, a scaling evaluation that changes nothing) once, and again
        only when its news changes (`news`, by default the reason), as ECS tells a service's
        events. What was told is kept in the store, so a restart does not tell it again.
        `log_each` logs (and counts) every pass all the same; only news reaches the history."""
        key, news = (kind, name, action), reason if news is None else news
        fresh = self._told_now(key) != news
        if fresh:
            try:
                self._store.tell(kind, name, action, news)
            except StoreFailure:
                pass  # told again at the next pass: better twice than never
            else:
                with self._told_lock:
                    self._told[key] = news
        if fresh or log_each:
            self.record(kind, name, action, reason, keep=fresh, **kwargs)

    def settled(self, kind: str, name: str, action: str) -> None:
        """The condition behind `action` ended: when it holds again, it is told again."""
        key = (kind, name, action)
        if self._told_now(key) is None:
            return
        try:
            self._store.tell(kind, name, action, None)
        except StoreFailure:
            return
        with self._told_lock:
            self._told[key] = None

    def _told_now(self, key: tuple[str, str, str]) -> str | None:
        """What the store keeps as told, read once per condition and cached."""
        with self._told_lock:
            if key in self._told:
                return self._told[key]
        told = self._store.told(*key)
        with self._told_lock:
            self._told.setdefault(key, told)
            return self._told[key]

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
