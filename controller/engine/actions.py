"""The action log: one structured event per action, also counted and kept in the store's history."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from controller.metrics import Metrics
from controller.store import EventRecord, Store

log = structlog.get_logger("skiff")


class ActionLog:
    def __init__(
        self, store: Store, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        self._store, self._metrics, self._clock = store, metrics, clock

    def record(
        self,
        kind: str,
        name: str,
        action: str,
        reason: str,
        *,
        level: str = "info",
        keep: bool = True,
        **fields: Any,
    ) -> None:
        """Logs `action` on kind/name; `keep` also writes it to the history shown by status."""
        getattr(log, level)(action, kind=kind, name=name, action=action, reason=reason, **fields)
        self._metrics.actions.labels(kind, action).inc()
        if keep:
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            self._store.add_event(EventRecord(self._clock(), kind, name, action, reason, detail))
