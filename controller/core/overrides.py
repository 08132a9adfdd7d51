"""Changes made through the API (set-desired, stop/start/terminate) over a manifest.

An override holds while the manifest (or the part of it the override answers to, such as a
group's capacity fields) stays as it was when the change was made; the next edit of that
wins, so a file never silently loses to an old command, nor a command to an unrelated reload.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from controller.manifests.base import SpecModel

if TYPE_CHECKING:
    from controller.store import Store


def fingerprint(basis: SpecModel | Any) -> str:
    """Of a whole spec, or of the part of it an override answers to (any JSON value)."""
    wire = basis.to_wire() if isinstance(basis, SpecModel) else basis
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current(store: Store, kind: str, name: str, basis: SpecModel | Any) -> dict[str, Any]:
    """The override that still applies to `basis` (the spec, or the fields it answers to;
    {} when none); a stale one is dropped."""
    found = store.override(kind, name)
    if found is None:
        return {}
    base, data = found
    if base != fingerprint(basis):
        store.delete_override(kind, name)
        return {}
    return data


def put(store: Store, kind: str, name: str, basis: SpecModel | Any, **changes: Any) -> None:
    data = current(store, kind, name, basis) | changes
    store.put_override(kind, name, fingerprint(basis), data)
