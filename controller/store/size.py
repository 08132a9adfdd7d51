"""How big the store is: the size of its files and the row counts of the tables that grow with
the work (jobs, their logs, activities, task records, the history), for `skiff status` and the
skiff_store_size_bytes gauge."""

from __future__ import annotations

import os

from controller.store.connection import Connection

# The tables that grow with the work, by the name `skiff status` shows them under.
COUNTED = {
    "jobs": "jobs",
    "jobLogs": "job_logs",
    "activities": "activities",
    "tasks": "tasks",
    "deployments": "deployments",
    "events": "events",
}


class Size(Connection):
    """The store's size."""

    def size_bytes(self) -> int:
        """The database file and its write-ahead log, in bytes (an in-memory store: its
        pages)."""
        if self.path == ":memory:":
            rows = self._rows(
                "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"
            )
            return int(rows[0][0])
        total = 0
        for path in (self.path, f"{self.path}-wal"):
            try:
                total += os.path.getsize(path)
            except OSError:
                pass  # no write-ahead log yet (or the file went): it holds nothing
        return total

    def row_counts(self) -> dict[str, int]:
        """Rows of each table that grows with the work, by COUNTED's names."""
        return {
            name: int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])
            for name, table in COUNTED.items()
        }
