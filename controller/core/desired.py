"""Desired state: the last valid version of every manifest, kept in the store so that a
broken file never deletes what it held and a restart starts from what was applied."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from controller.core.hosts import HostHandle
from controller.core.registry import Catalog
from controller.core.workqueue import WorkQueue
from controller.manifests.base import FieldError
from controller.manifests.kinds import Resource, ResourceKey, key_str
from controller.manifests.loader import LoadResult
from controller.store import Store, StoreFailure
from controller.telemetry import Metrics

log = structlog.get_logger("skiff")


class DesiredState:
    """The controller's desired state (a mixin of Controller)."""

    # Set by Controller.__init__.
    store: Store
    metrics: Metrics
    clock: Callable[[], float]
    catalog: Catalog
    queue: WorkQueue[ResourceKey]
    hosts: dict[str, HostHandle]
    desired: dict[ResourceKey, Resource]
    stale: dict[ResourceKey, str]
    manifest_errors: list[FieldError]
    _unsaved: set[ResourceKey]
    _lock: threading.RLock

    sync_pool: Callable[[], None]
    keys: Callable[[], set[ResourceKey]]

    def restore(self) -> None:
        """Starts from the last valid manifests the store kept (a broken file stays covered)."""
        for kind, name, source, document, spec, labels in self.store.resources():
            if kind in self.catalog.entries:
                try:
                    parsed = self.catalog.entries[kind].kind.spec.model_validate(spec)
                except ValueError:
                    continue
                self.desired[(kind, name)] = Resource(kind, name, parsed, source, document, labels)

    def apply_manifests(self, result: LoadResult) -> set[ResourceKey]:
        """Merges a directory load into desired state; returns the keys that changed."""
        with self._lock:
            previous = self.desired
            desired = dict(result.resources)
            stale: dict[ResourceKey, str] = {}
            for key, prev in previous.items():
                if key in desired:
                    continue
                if key in result.claimed or result.keeps(prev.source):
                    desired[key] = prev
                    stale[key] = "the manifest is invalid; the last valid version is kept"
            for err in result.errors:
                if err.kind and err.name and (err.kind, err.name) in stale:
                    stale[(err.kind, err.name)] = (
                        f"{err.field}: {err.message} (last valid version kept)"
                    )
            changed = {
                k
                for k in desired.keys() | previous.keys()
                if k not in previous
                or k not in desired
                or _fingerprint(desired[k]) != _fingerprint(previous[k])
            }
            changed |= {k for k in stale.keys() ^ self.stale.keys()}
            self.desired, self.stale, self.manifest_errors = desired, stale, list(result.errors)
            self._unsaved |= changed
            self._save_manifests()
            self._report_manifest_errors(result)
        if any(k[0] == "Host" for k in changed) or not self.hosts:
            self.sync_pool()
        for key in changed:
            self.queue.forget(key)
            self.queue.add(key)
        return changed

    def _save_manifests(self) -> None:
        """Keeps the last valid version of each changed resource in the store. When the store
        cannot be written, desired state still changes (the edit is carried out as soon as
        the store takes the records it needs) and the next resync saves them."""
        with self._lock:
            now = self.clock()
            for key in sorted(self._unsaved):
                res = self.desired.get(key)
                try:
                    if res is None:
                        self.store.delete_resource(*key)
                    elif key not in self.stale:
                        self.store.save_resource(
                            res.kind,
                            res.name,
                            res.source,
                            res.document,
                            res.spec.to_wire(),
                            res.labels,
                            now,
                        )
                except StoreFailure:
                    return  # reported by the store's watcher; the rest waits with this one
                self._unsaved.discard(key)

    def _store_failed(self, failure: StoreFailure) -> None:
        self.metrics.store_write_failures.labels(failure.reason).inc()
        self.metrics.store_writable.set(0)
        log.error("store.write_failed", action="write", reason=failure.reason, error=str(failure))

    def _store_recovered(self) -> None:
        """A write succeeded after failures: keys backing off after theirs go again now."""
        self.metrics.store_writable.set(1)
        log.info("store.recovered", action="write", reason="a write to the store succeeded")
        for key in self.keys():
            self.queue.forget(key)
            self.queue.add(key)

    def _report_manifest_errors(self, result: LoadResult) -> None:
        self.metrics.manifest_errors.clear()
        by_file: dict[str, int] = {}
        for err in result.errors:
            by_file[err.file] = by_file.get(err.file, 0) + 1
        for file, n in by_file.items():
            self.metrics.manifest_errors.labels(file).set(n)
        self.metrics.manifest_loads.labels("valid" if result.ok else "invalid").inc()
        for kind in self.catalog.entries:
            self.metrics.resources.labels(kind).set(sum(k[0] == kind for k in self.desired))


def _fingerprint(res: Resource) -> tuple[Any, ...]:
    """What must be saved again when it changes (the source too: a resource may move files)."""
    return (res.spec, tuple(sorted(res.labels.items())), res.source, res.document)


def describe_errors(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    return [
        {
            "file": e.file,
            "line": e.line,
            "column": e.column,
            "document": e.document,
            "field": e.field,
            "message": e.message,
            "resource": key_str((e.kind, e.name)) if e.kind and e.name else None,
        }
        for e in errors
    ]
