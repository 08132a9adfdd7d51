"""The history of actions, for every AWS service alike (what CloudTrail and CloudWatch Events
give on AWS): an append-only table with growing ids, the event stream's cursor, trimmed to the
most recent EVENTS_KEPT; and, for a condition that holds pass after pass, what of it was last
told (so that it is told again only when that changes, across restarts too)."""

from __future__ import annotations

import sqlite3
from typing import Any

from controller.store.connection import Connection
from controller.store.records import EventRecord

EVENTS_KEPT = 20_000
_EVENT_COLUMNS = "id, at, kind, name, action, reason, message, detail"


class Events(Connection):
    """The history of actions."""

    def add_event(self, event: EventRecord) -> int:
        """Appends an event; returns its id, which only grows (the event stream's cursor)."""
        with self._tx() as db:
            return insert_event(db, event)

    def events(
        self, kind: str | None = None, name: str | None = None, limit: int = 20
    ) -> list[EventRecord]:
        """The last `limit` events, oldest first, of one resource (kind and name) or of all."""
        where, args = ("WHERE kind = ? AND name = ? ", [kind, name]) if kind and name else ("", [])
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events {where}ORDER BY id DESC LIMIT ?", *args, limit
        )
        return [EventRecord(*r[1:]) for r in reversed(rows)]

    def events_after(
        self, after: int, kind: str | None = None, name: str | None = None, limit: int = 500
    ) -> list[tuple[int, EventRecord]]:
        """Events with an id above `after`, oldest first, with their ids; kind and name filter."""
        where, args = "id > ?", list[Any]([after])
        for column, value in (("kind", kind), ("name", name)):
            if value:
                where, args = f"{where} AND {column} = ?", [*args, value]
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} ORDER BY id LIMIT ?", *args, limit
        )
        return [(r[0], EventRecord(*r[1:])) for r in rows]

    def told(self, kind: str, name: str, action: str) -> str | None:
        """What was last told of the condition behind `action` on kind/name, if it holds."""
        rows = self._rows(
            "SELECT news FROM told WHERE kind = ? AND name = ? AND action = ?", kind, name, action
        )
        return str(rows[0][0]) if rows else None

    def tell(self, kind: str, name: str, action: str, news: str | None) -> None:
        """Keeps what was told of a condition; None: it ended."""
        with self._tx() as db:
            if news is None:
                db.execute(
                    "DELETE FROM told WHERE kind = ? AND name = ? AND action = ?",
                    (kind, name, action),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO told VALUES (?, ?, ?, ?)", (kind, name, action, news)
                )

    def told_conditions(self) -> list[tuple[str, str, str]]:
        """(kind, name, action) of every condition whose news is kept."""
        return [
            (str(k), str(n), str(a))
            for k, n, a in self._rows("SELECT kind, name, action FROM told")
        ]

    def last_event_id(self) -> int:
        rows = self._rows("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(rows[0][0])


def insert_event(db: sqlite3.Connection, event: EventRecord) -> int:
    cur = db.execute(
        "INSERT INTO events (at, kind, name, action, reason, message, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event.at, event.kind, event.name, event.action, event.reason, event.message, event.detail),
    )
    event_id = cur.lastrowid or 0
    if event_id % 1000 == 0:
        db.execute("DELETE FROM events WHERE id <= ?", (event_id - EVENTS_KEPT,))
    return event_id
