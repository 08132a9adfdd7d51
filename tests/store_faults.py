"""A disk that fills on command, for unit tests of the store and of what the daemon does when the
store cannot be written.

`FullDisk.install(store)` puts a thin wrapper in front of the store's SQLite connection: while
`full` is set, every COMMIT (and, with `when`, only the statements it picks) fails as SQLite
fails on a full disk, `database or disk is full`, with the transaction still open, as SQLite
leaves it after some errors. What the store then does with the transaction is its own code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

Picker = Callable[[str, Any], bool]  # (sql, parameters) -> fail this statement


class FullDisk:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.full = False
        self.when: Picker | None = None  # None: fail at COMMIT
        self.failed = 0

    @classmethod
    def install(cls, store: Any) -> FullDisk:
        disk = cls(store._db)
        store._db = disk
        return disk

    def _check(self, sql: str, params: Any) -> None:
        if not self.full:
            return
        hit = self.when(sql, params) if self.when else sql.strip().upper() == "COMMIT"
        if hit:
            self.failed += 1
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self._check(sql, params)
        return self._db.execute(sql, params)

    def executemany(self, sql: str, params: Any) -> sqlite3.Cursor:
        rows = list(params)
        self._check(sql, rows)
        return self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:  # in_transaction, close, ...
        return getattr(self._db, name)
