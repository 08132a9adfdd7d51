"""Changes made through the API (set-desired, stop/start/terminate) over a manifest.

An override holds while the manifest stays as it was when the change was made; the next edit
of that manifest wins, so a file never silently loses to an old command, nor a command to an
unrelated reload.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from controller.manifests.base import SpecModel

if TYPE_CHECKING:
    from controller.store import Store


def fingerprint(spec: SpecModel) -> str:
    text = json.dumps(spec.to_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current(store: Store, kind: str, name: str, spec: SpecModel) -> dict[str, Any]:
    """The override that still applies to `spec` ({} when none); a stale one is dropped."""
    found = store.override(kind, name)
    if found is None:
        return {}
    base, data = found
    if base != fingerprint(spec):
        store.delete_override(kind, name)
        return {}
    return data


def put(store: Store, kind: str, name: str, spec: SpecModel, **changes: Any) -> None:
    data = current(store, kind, name, spec) | changes
    store.put_override(kind, name, fingerprint(spec), data)
