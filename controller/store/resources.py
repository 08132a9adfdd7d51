"""Skiff's own records, of no AWS service: the last valid version of every manifest resource
(so a broken file after a restart still keeps what it described) and the changes made through
the API over a manifest (overrides)."""

from __future__ import annotations

import json
from typing import Any

from controller.store.connection import Connection


class Resources(Connection):
    """Last valid manifests and API overrides."""

    def save_resource(
        self,
        kind: str,
        name: str,
        source: str,
        document: int,
        spec: dict[str, Any],
        labels: dict[str, str],
        now: float,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    name,
                    source,
                    document,
                    json.dumps(spec, sort_keys=True),
                    json.dumps(labels, sort_keys=True),
                    now,
                ),
            )

    def delete_resource(self, kind: str, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM resources WHERE kind = ? AND name = ?", (kind, name))

    def resources(self) -> list[tuple[str, str, str, int, dict[str, Any], dict[str, str]]]:
        rows = self._rows("SELECT kind, name, source, document, spec, labels FROM resources")
        return [(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5])) for r in rows]

    # --- API overrides ----------------------------------------------------------------------
    def override(self, kind: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """A change made through the API, and the manifest fingerprint it was made over."""
        rows = self._rows(
            "SELECT base, data FROM overrides WHERE kind = ? AND name = ?", kind, name
        )
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def put_override(self, kind: str, name: str, base: str, data: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?)",
                (kind, name, base, json.dumps(data, sort_keys=True)),
            )

    def delete_override(self, kind: str, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM overrides WHERE kind = ? AND name = ?", (kind, name))
