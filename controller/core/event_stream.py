"""The daemon's event stream, Skiff's CloudWatch Events: every action kept in the history, in
order, as an EventBridge-shaped document. A Batch job's state change carries the job as
DescribeJobs shows it ("Batch Job State Change"), so a reader needs no second call.

Events have growing ids; a reader resumes after the last id it saw (Server-Sent Events'
Last-Event-ID), and waits on the feed, not on a timer, for the next one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from controller.store import EventRecord, Store

DETAIL_TYPES = {"Job": "Batch Job State Change"}
KEEPALIVE = 15.0  # seconds of silence before a reader gets a comment line (proxies time out)
PAGE = 500


class EventFeed:
    """Wakes the readers of the stream when an event is kept."""

    def __init__(self, latest: int = 0) -> None:
        self._cond = threading.Condition()
        self._latest = latest

    @property
    def latest(self) -> int:
        with self._cond:
            return self._latest

    def published(self, event_id: int) -> None:
        with self._cond:
            self._latest = max(self._latest, event_id)
            self._cond.notify_all()

    def nudge(self) -> None:
        """Wakes every reader (one is stopping)."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float, stopped: threading.Event | None = None) -> bool:
        """Waits until an event after `seen` exists (or `stopped` is set and nudged); False when
        the time ran out first."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._latest > seen or (stopped is not None and stopped.is_set()), timeout
            )


def document(event_id: int, event: EventRecord) -> dict[str, Any]:
    """The event as EventBridge delivers one: id, detail-type, source, time, resources, detail."""
    detail: dict[str, Any] = json.loads(event.detail) if event.detail else {}
    if not detail:
        detail = {"kind": event.kind, "name": event.name, "action": event.action}
        detail.update(reason=event.reason, message=event.message)
    return {
        "version": "0",
        "id": str(event_id),
        "detail-type": DETAIL_TYPES.get(event.kind, f"Skiff {event.kind} Action"),
        "source": f"skiff.{'batch' if event.kind == 'Job' else event.kind.lower()}",
        "time": datetime.fromtimestamp(event.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [f"{event.kind}/{event.name}"],
        "detail": detail,
    }


def follow(
    store: Store,
    feed: EventFeed,
    after: int,
    *,
    kind: str | None = None,
    name: str | None = None,
    keep_going: bool = True,
    stopped: threading.Event | None = None,
    keepalive: float = KEEPALIVE,
) -> Iterator[tuple[int, dict[str, Any]] | None]:
    """Yields (id, document) for each event after `after` matching kind and name, then waits
    for more; None after `keepalive` seconds of silence. With keep_going False it ends once it
    has caught up; it also ends when `stopped` is set."""
    last_sent = time.monotonic()
    while stopped is None or not stopped.is_set():
        seen = feed.latest  # read first: an event kept after it wakes the wait below
        page = store.events_after(after, kind, name, limit=PAGE)
        for event_id, event in page:
            yield event_id, document(event_id, event)
            after, last_sent = event_id, time.monotonic()
        if len(page) == PAGE:
            continue
        if not keep_going:
            return
        quiet = time.monotonic() - last_sent
        if quiet >= keepalive:  # events others filter out wake us, but send nothing
            yield None
            last_sent = time.monotonic()
            continue
        feed.wait(seen, keepalive - quiet, stopped)
