"""Helpers the manifest model and loader tests share: loading a directory, errors keyed by
file, document and field, and TaskDefinition specs checked the way the loader checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from controller.catalog import load_directory
from controller.ecs.models.task_definition import (
    TaskDefinitionSpec,
    check_task_definition,
)
from controller.manifests.loader import LoadResult, pydantic_errors
from tests.support.documents import container

# --- helpers --------------------------------------------------------------------------------------


def load(root: Path) -> LoadResult:
    return load_directory(str(root))


def errors_at(result: LoadResult) -> dict[str, str]:
    """{'file#document:field': message} for every error, for compact assertions."""
    return {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors}


def td_problems(spec: dict[str, Any]) -> dict[str, str]:
    """Field errors of a TaskDefinition spec: field validation first, then the ECS rules."""
    try:
        model = TaskDefinitionSpec.model_validate(spec)
    except ValidationError as exc:
        return {".".join(map(str, p)): m for p, m in pydantic_errors(exc)}
    return {".".join(map(str, p)) or "(spec)": m for p, m in check_task_definition(model)}


def td(*containers: dict[str, Any], **task: Any) -> dict[str, Any]:
    return {"containerDefinitions": list(containers) or [container()], **task}


def dep(name: str, condition: str = "START") -> dict[str, str]:
    return {"containerName": name, "condition": condition}
