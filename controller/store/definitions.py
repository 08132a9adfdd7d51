"""Revisions of ECS task definitions and of AWS Batch job definitions (family:N, immutable,
ACTIVE until deregistered): one table each, the same shape."""

from __future__ import annotations

import json
from typing import Any

from controller.store.connection import Connection
from controller.store.records import Revision

TASK_DEFINITIONS, JOB_DEFINITIONS = "revisions", "job_definitions"  # tables of revisions


def _select(table: str) -> str:
    """The start of a query for whole revisions of `table`, up to its WHERE or ORDER BY."""
    return (
        "SELECT family, number, spec, spec_hash, status, registered_at, deregistered_at "
        f"FROM {_revisions(table)} "
    )


def _revision(row: Any) -> Revision:
    return Revision(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])


def _revisions(table: str) -> str:
    if table not in (TASK_DEFINITIONS, JOB_DEFINITIONS):
        raise ValueError(f"no revisions table {table!r}")
    return table


class Definitions(Connection):
    """Task-definition and job-definition revisions."""

    def revisions(
        self, family: str | None = None, *, table: str = TASK_DEFINITIONS
    ) -> list[Revision]:
        """Revisions of task definitions, or (table=JOB_DEFINITIONS) of Batch job definitions:
        the whole history, for what lists it; a pass reads one revision (below)."""
        rows = (
            self._rows(_select(table) + "WHERE family = ? ORDER BY number", family)
            if family
            else self._rows(_select(table) + "ORDER BY family, number")
        )
        return [_revision(r) for r in rows]

    def revision(
        self, family: str, number: int, *, table: str = TASK_DEFINITIONS
    ) -> Revision | None:
        """family:N, by its key: one row however long the family's history."""
        sql = _select(table) + "WHERE family = ? AND number = ?"
        rows = self._rows(sql, family, number)
        return _revision(rows[0]) if rows else None

    def newest_revision(self, family: str, *, table: str = TASK_DEFINITIONS) -> Revision | None:
        """The family's highest-numbered revision: what a service that follows the family runs,
        when it is ACTIVE. If it is not, no revision of the family is: a revision is registered
        ACTIVE and only a whole family is deregistered."""
        sql = _select(table) + "WHERE family = ? ORDER BY number DESC LIMIT 1"
        rows = self._rows(sql, family)
        return _revision(rows[0]) if rows else None

    def families(self, *, table: str = TASK_DEFINITIONS) -> list[str]:
        """Every family with a revision, ACTIVE or not."""
        return [str(r[0]) for r in self._rows(f"SELECT DISTINCT family FROM {_revisions(table)}")]

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
