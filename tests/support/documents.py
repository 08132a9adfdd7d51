"""Builders of manifest documents as users write them, and a writer of YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write(root: Path, rel: str, *docs: dict[str, Any] | str) -> Path:
    """Writes documents (dicts as YAML, strings verbatim) into root/rel, separated by `---`."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs]
    path.write_text("---\n".join(parts), encoding="utf-8")
    return path


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "memory": 64, **fields}


def document(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "skiff/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def td_doc(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("containerDefinitions", [container()])
    return document("TaskDefinition", name, spec)


def service_doc(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("taskDefinition", name)
    return document("Service", name, spec)


def host_doc(name: str = "h1", **spec: Any) -> dict[str, Any]:
    spec.setdefault("url", "unix:///var/run/docker.sock")
    return document("Host", name, spec)
