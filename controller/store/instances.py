"""Amazon EC2 and EC2 Auto Scaling records: launch template versions, the instances groups
own, and the scaling activities of each group (pruned once their retention period passed)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from controller.store.connection import Connection
from controller.store.records import Activity, InstanceRecord, TemplateVersion


class Instances(Connection):
    """Launch template versions, instances and scaling activities."""

    # --- launch template versions -----------------------------------------------------------
    def template_versions(self, name: str) -> list[TemplateVersion]:
        rows = self._rows(
            "SELECT name, number, data, data_hash, created_at FROM template_versions "
            "WHERE name = ? ORDER BY number",
            name,
        )
        return [TemplateVersion(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def add_template_version(
        self, name: str, data: dict[str, Any], data_hash: str, now: float
    ) -> TemplateVersion:
        with self._tx() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(number), 0) FROM template_versions WHERE name = ?", (name,)
            ).fetchone()
            number = int(last) + 1
            db.execute(
                "INSERT INTO template_versions VALUES (?, ?, ?, ?, ?)",
                (name, number, json.dumps(data, sort_keys=True), data_hash, now),
            )
        return TemplateVersion(name, number, data, data_hash, now)

    # --- instances ------------------------------------------------------------------------------
    def put_instances(self, records: list[InstanceRecord]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?)",
                [
                    (r.instance_id, r.owner_kind, r.owner, json.dumps(dataclasses.asdict(r)))
                    for r in records
                ],
            )

    def instances(self, owner_kind: str, owner: str) -> dict[str, InstanceRecord]:
        rows = self._rows(
            "SELECT record FROM instances WHERE owner_kind = ? AND owner = ?", owner_kind, owner
        )
        return {r.instance_id: r for r in (InstanceRecord(**json.loads(row[0])) for row in rows)}

    def instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._rows("SELECT record FROM instances WHERE instance_id = ?", instance_id)
        return InstanceRecord(**json.loads(rows[0][0])) if rows else None

    def delete_instances(self, ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM instances WHERE instance_id = ?", [(i,) for i in ids])

    # --- scaling activities -----------------------------------------------------------------
    def put_activity(self, activity: Activity) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO activities VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    activity.activity_id,
                    activity.owner,
                    activity.description,
                    activity.cause,
                    activity.status,
                    activity.start,
                    activity.end,
                ),
            )

    def activities(self, owner: str, limit: int = 50) -> list[Activity]:
        rows = self._rows(
            "SELECT activity_id, owner, description, cause, status, start, end_time "
            "FROM activities WHERE owner = ? ORDER BY start DESC LIMIT ?",
            owner,
            limit,
        )
        return [Activity(*r) for r in rows]

    def end_activity(self, activity_id: str, status: str, end: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE activities SET status = ?, end_time = ? WHERE activity_id = ?",
                (status, end, activity_id),
            )

    def delete_activities(self, owner: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM activities WHERE owner = ?", (owner,))

    def prune_activities(self, ended_before: float, limit: int) -> int:
        """Deletes up to `limit` activities that ended before `ended_before` (one under way is
        kept); returns how many went."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM activities WHERE rowid IN (SELECT rowid FROM activities "
                "WHERE end_time < ? ORDER BY end_time LIMIT ?)",
                (ended_before, limit),
            )
            return cur.rowcount

    def instance_owners(self) -> set[tuple[str, str]]:
        return {
            (r[0], r[1]) for r in self._rows("SELECT DISTINCT owner_kind, owner FROM instances")
        }
