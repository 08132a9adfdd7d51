"""TaskDefinition planner: does this spec need a new immutable revision, or a deregistration?

A revision is identified by the hash of the spec's canonical form (defaults left out), so the
same manifest re-read after a restart, or re-indented, registers nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.store.records import Revision


@dataclass(frozen=True)
class ResolvedRevision:
    """A revision ready to run: its key (family:N), its parsed spec and hash."""

    key: str
    spec: TaskDefinitionSpec
    spec_hash: str

    @classmethod
    def from_record(cls, rev: Revision) -> ResolvedRevision:
        return cls(rev.key, TaskDefinitionSpec.model_validate(rev.spec), rev.spec_hash)


@dataclass(frozen=True)
class TaskDefinitionPlan:
    register: dict[str, Any] | None = None  # canonical spec of the new revision
    spec_hash: str = ""
    deregister: bool = False

    def is_noop(self) -> bool:
        return self.register is None and not self.deregister


def canonical(spec: TaskDefinitionSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def spec_hash(spec: TaskDefinitionSpec) -> str:
    text = json.dumps(canonical(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_task_definition(
    spec: TaskDefinitionSpec | None, history: Sequence[Revision]
) -> TaskDefinitionPlan:
    """spec None: the manifest is gone, so every ACTIVE revision becomes INACTIVE."""
    active = [r for r in history if r.status == "ACTIVE"]
    if spec is None:
        return TaskDefinitionPlan(deregister=bool(active))
    digest = spec_hash(spec)
    if (
        active
        and active[-1].spec_hash == digest
        and active[-1].number == max(r.number for r in history)
    ):
        return TaskDefinitionPlan()
    return TaskDefinitionPlan(register=canonical(spec), spec_hash=digest)


def resolve(
    family: str, pinned: int | None, newest: Revision | None, wanted: Revision | None
) -> Revision | str:
    """The revision a service runs, or why there is none: family:`pinned` when the service
    names one (`wanted`, None if it does not exist), else the family's `newest` revision when
    it is ACTIVE (when it is not, no revision of the family is: see Store.newest_revision)."""
    if pinned is not None:
        return wanted if wanted is not None else f"task definition {family}:{pinned} does not exist"
    if newest is None:
        return f"task definition {family} is not registered"
    if newest.status != "ACTIVE":
        return f"task definition {family} has no ACTIVE revision"
    return newest
