"""Status of each resource as the daemon last saw it, as `/v1/status` returns it (each service
adds its own details: a service's tasks and deployments are ECS's, in ecs/sync/status_json.py).

Field names follow the AWS APIs (desiredCount, runningCount, lastStatus, stoppedReason, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from controller.manifests.kinds import key_str
from controller.store import Revision, Store

log = structlog.get_logger("skiff")


class WhenRead:
    """A status detail built when the status is first read, then kept: a service's list of a
    thousand tasks costs nothing at a look (every resync) that no one reads."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build: Callable[[], Any] | None = build
        self._value: Any = None

    def value(self) -> Any:
        build = self._build
        if build is not None:  # two readers at once may both build it: the same value
            try:
                value = build()
            except Exception as exc:  # one detail's bug must not fail the whole status
                log.exception("status.detail_failed", action="status", reason=str(exc)[:200])
                value = None
            # The value first: a reader that sees no build left finds it.
            self._value = value
            self._build = None
        return self._value


@dataclass
class ResourceStatus:
    kind: str
    name: str
    status: str = "PENDING"  # ACTIVE | ERROR | DRAINING | PENDING
    message: str = ""
    source: str = ""
    manifest_error: str = ""  # the manifest's current version is invalid; the last valid one runs
    details: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "source": self.source,
            "manifestError": self.manifest_error,
            "updatedAt": self.updated_at,
            **{k: v.value() if isinstance(v, WhenRead) else v for k, v in self.details.items()},
        }


def activities_json(
    store: Store, kind: str, owner: str, limit: int = 10
) -> list[dict[str, object]]:
    return [
        {
            "activityId": a.activity_id,
            "description": a.description,
            "cause": a.cause,
            "statusCode": a.status,
            "startTime": a.start,
            "endTime": a.end,
        }
        for a in store.activities(key_str((kind, owner)), limit)
    ]


def revisions_listed(
    st: ResourceStatus | None,
    newest: Revision,
    entry: Callable[[Revision], dict[str, Any]],
    history: Callable[[], Iterable[Revision]],
) -> list[Any]:
    """A definition family's status list of revisions (`revisions`, an `entry` each): the one
    listed last when it still ends with `newest` as it is now; that one and `newest` when
    `newest` was registered since (a registration leaves the older ones as they were); else
    the family's whole `history` read again. Revisions are numbered from 1, never deleted: a
    deployment costs one entry, not a read of every revision before it."""
    listed = st.details.get("revisions") if st is not None else None
    if listed:
        last = listed[-1]
        if len(listed) == newest.number and (last["revision"], last["status"]) == (
            newest.number,
            newest.status,
        ):
            return list(listed)
        if len(listed) == newest.number - 1 == last["revision"] and newest.status == "ACTIVE":
            return [*listed, entry(newest)]
    return [entry(r) for r in history()]
