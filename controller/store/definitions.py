"""Revisions of ECS task definitions and of AWS Batch job definitions (family:N, immutable,
ACTIVE until deregistered): one table each, the same shape."""

from __future__ import annotations

import json
from typing import Any

from controller.store.connection import Connection
from controller.store.records import Revision

TASK_DEFINITIONS, JOB_DEFINITIONS = "revisions", "job_definitions"  # tables of revisions


def _revisions(table: str) -> str:
    if table not in (TASK_DEFINITIONS, JOB_DEFINITIONS):
        raise ValueError(f"no revisions table {table!r}")
    return table


class Definitions(Connection):
    """Task-definition and job-definition revisions."""

    def revisions(
        self, family: str | None = None, *, table: str = TASK_DEFINITIONS
    ) -> list[Revision]:
        """Revisions of task definitions, or (table=JOB_DEFINITIONS) of Batch job definitions."""
        sql = (
            "SELECT family, number, spec, spec_hash, status, registered_at, deregistered_at "
            f"FROM {_revisions(table)}"
        )
        rows = (
            self._rows(sql + " WHERE family = ? ORDER BY number", family)
            if family
            else self._rows(sql + " ORDER BY family, number")
        )
        return [Revision(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def revision(
        self, family: str, number: int, *, table: str = TASK_DEFINITIONS
    ) -> Revision | None:
        found = [r for r in self.revisions(family, table=table) if r.number == number]
        return found[0] if found else None

    def register_revision(
        self,
        family: str,
        spec: dict[str, Any],
        spec_hash: str,
        now: float,
        *,
        table: str = TASK_DEFINITIONS,
    ) -> Revision:
        """Adds family:N+1; older revisions stay ACTIVE, as in ECS, until deregistered."""
        name = _revisions(table)
        with self._tx() as db:
            (last,) = db.execute(
                f"SELECT COALESCE(MAX(number), 0) FROM {name} WHERE family = ?", (family,)
            ).fetchone()
            number = int(last) + 1
            db.execute(
                f"INSERT INTO {name} VALUES (?, ?, ?, ?, 'ACTIVE', ?, NULL)",
                (family, number, json.dumps(spec, sort_keys=True), spec_hash, now),
            )
        return Revision(family, number, spec, spec_hash, "ACTIVE", now)

    def deregister_family(self, family: str, now: float, *, table: str = TASK_DEFINITIONS) -> int:
        """Marks every ACTIVE revision of the family INACTIVE; returns how many changed."""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE {_revisions(table)} SET status = 'INACTIVE', deregistered_at = ? "
                "WHERE family = ? AND status = 'ACTIVE'",
                (now, family),
            )
            return cur.rowcount
