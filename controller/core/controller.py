"""The controller: the work queue, its workers, and dispatch to each kind's sync through the
registry (desired state is desired.py's, the host pool host_pool.py's).

A sync reads the whole truth again (manifest, cache of containers, store), calls the kind's
pure planner, hands the plan to the executor and records status. It is level-triggered: the
key says where to look, never what happened. Workers call `process()`; tests call it directly.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any, TypeVar, cast

import structlog

from controller.core.actions import ActionLog
from controller.core.desired import DesiredState
from controller.core.host_pool import HostPool
from controller.core.host_ports import default_range
from controller.core.hosts import (
    HostHandle,
    RuntimeFactory,
    local_ephemeral_range,
)
from controller.core.outcomes import Retry, Stopped, Terminal, Waiting
from controller.core.registry import Catalog
from controller.core.settings import DEFAULTS, Settings
from controller.core.status import ResourceStatus
from controller.core.stopping import StoppablePool, StopSignal
from controller.core.workqueue import Backoff, WorkQueue
from controller.dataplane import DataPlane
from controller.manifests.base import FieldError
from controller.manifests.kinds import Resource, ResourceKey
from controller.runtime import RuntimeFailure
from controller.store import Store, StoreFailure
from controller.telemetry import Metrics

log = structlog.get_logger("skiff")

T = TypeVar("T")
STOP_GRACE = 10.0  # seconds a pass under way may take to finish when the daemon stops


class Controller(DesiredState, HostPool):
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        runtime_factory: RuntimeFactory,
        settings: Settings = DEFAULTS,
        *,
        catalog: Catalog,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        dataplane_factory: Callable[[], DataPlane] | None = None,
    ) -> None:
        self.store, self.metrics, self.settings, self.clock = store, metrics, settings, clock
        self.catalog = catalog
        self._factory = runtime_factory
        self.queue: WorkQueue[ResourceKey] = WorkQueue(
            clock=monotonic,
            backoff=Backoff(settings.backoff_base, settings.backoff_cap),
            on_depth=metrics.workqueue_depth.set,
            on_add=metrics.workqueue_adds.inc,
        )
        self.monotonic = monotonic
        self.actions = ActionLog(store, metrics, clock)
        self.stopping = StopSignal()  # set when stop() begins: no pass starts after it
        self.pool = StoppablePool(settings.parallelism, thread_name_prefix="docker")
        # Metrics collection's reads (docker stats, Prometheus) wait on their own threads.
        self.metrics_pool = StoppablePool(settings.parallelism, thread_name_prefix="metrics")
        self.desired: dict[ResourceKey, Resource] = {}
        self.stale: dict[ResourceKey, str] = {}
        self._unsaved: set[ResourceKey] = set()  # manifest changes the store has not taken yet
        self._groups: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}  # _grouped's cache
        self.manifest_errors: list[FieldError] = []
        self.hosts: dict[str, HostHandle] = {}
        self.status: dict[ResourceKey, ResourceStatus] = {}
        # The resources of the first load not yet looked at once (the daemon's readiness).
        self.unseen: set[ResourceKey] = set()
        self.placement_lock = threading.Lock()  # one service places (and books) at a time
        self._lock = threading.RLock()
        self._observing = False
        metrics.watch_pool(self._host_figures)
        metrics.watch_statuses(self._statuses)
        self._dataplane_factory = dataplane_factory or self._haproxy
        self._dataplane: DataPlane | None = None
        self.target_states: dict[str, dict[str, str]] = {}  # task id -> {target group: state}
        self.port_range = settings.host_port_range or default_range(local_ephemeral_range())
        # HAProxy shares the machine with the targets it serves (and docker-proxy before them):
        # on two cores a second thread only takes the one they need (measured: 8% fewer
        # requests per second, p99 +0.4 ms through a listener). Spare one CPU for them.
        self.lb_threads = settings.lb_threads or max(1, (os.cpu_count() or 1) - 1)
        store.watch(self._store_failed, self._store_recovered)
        # Each service's own state while the daemon runs (its executor, trackers, caches).
        made = (d.part(self) for d in catalog.domains if d.part is not None)
        self._parts: dict[type, object] = {type(part): part for part in made}

    def part(self, kind: type[T]) -> T:
        """The state a domain registered (`Domain.part`), by its type."""
        return cast(T, self._parts[kind])

    def _haproxy(self) -> DataPlane:
        from controller.dataplane.haproxy import HAProxy

        workdir = self.settings.dataplane_dir or tempfile.mkdtemp(prefix="skiff-haproxy-")
        return HAProxy(workdir)

    def dataplane(self) -> DataPlane:
        """The one data plane. Made under the lock: the load balancer sync and the metrics
        collection may ask at once, and a second HAProxy object would read nothing HAProxy
        logs (its request log is bound by the first)."""
        with self._lock:
            if self._dataplane is None:
                self._dataplane = self._dataplane_factory()
            return self._dataplane

    def stop(self) -> None:
        """Stops the loop. HAProxy keeps serving; the next daemon picks it up.

        The passes stop before the pools they submit to: no pass starts once the stop begins;
        one under way finishes its plan (up to STOP_GRACE seconds: cancelling its Docker calls
        would end it halfway), but a metrics collection ends at once, as its reads are of no
        use now. Only then are the pools shut down; a pass still running after the grace ends
        quietly at its next call to them (Stopped)."""
        self.stopping.set()
        self._observing = False
        self.queue.shutdown()
        if not self.queue.wait_processed(STOP_GRACE):
            log.warning("daemon.stop_forced", reason=f"a pass still ran after {STOP_GRACE}s")
        for handle in list(self.hosts.values()):
            handle.observer.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.metrics_pool.shutdown(wait=True, cancel_futures=True)

    def resync(self) -> None:
        """Lists every host again (or, in a large pool, pings one listed recently: see
        HostHandle.list_due) and queues every key: heals whatever events missed (and saves
        manifest changes a failing store could not take)."""
        if self._unsaved:
            self._save_manifests()
        now = self.monotonic()
        handles = list(self.hosts.values())
        held = sum(handle.observer.count() for handle in handles)
        for handle in handles:
            if handle.list_due(now, self.settings.resync_seconds, held):
                answered = handle.observer.safe_resync()
                if answered:
                    handle.listed_at = now
            else:
                answered = handle.observer.safe_ping()
            if answered and handle.info_due(now):
                try:
                    handle.refresh_info(now)
                except RuntimeFailure:
                    pass
        self.enqueue_all()

    def keys(self) -> set[ResourceKey]:
        keys = set(self.desired) | set(self.status)
        keys |= {(t.owner_kind, t.owner) for t in self.observed_tasks().values()}
        keys |= {("Host", n) for n in self.hosts}
        for domain in self.catalog.domains:
            keys.update(domain.keys(self))
        keys |= {p.key for p in self.catalog.passes.values() if p.wanted(self)}
        return keys

    def enqueue_all(self) -> None:
        for key in self.keys():
            self.queue.add(key)

    # --- the worker ---------------------------------------------------------------------------
    def process(self, timeout: float | None = None) -> ResourceKey | None:
        item = self.queue.get(timeout)
        if item is None:
            return None
        key, waited = item
        if self.stopping.is_set():  # handed out as the stop began: the next daemon looks at it
            self.queue.done(key)
            return None
        self.metrics.workqueue_wait.observe(waited)
        started = time.perf_counter()
        result = "success"
        try:
            requeue_after = self.sync(key)
            self.queue.forget(key)
            if requeue_after is not None:
                self.queue.add_after(key, requeue_after)
        except Terminal as exc:
            result = "terminal"
            self.set_status(key, "ERROR", str(exc))
        except Waiting as exc:
            result = "waiting"
            self.set_status(
                key, self.status[key].status if key in self.status else "PENDING", str(exc)
            )
        except (Retry, RuntimeFailure, StoreFailure) as exc:
            result = "error"
            self.metrics.workqueue_retries.inc()
            delay = self.queue.add_rate_limited(key)
            self.set_status(key, "ERROR", str(exc))
            log.warning(
                "reconcile.retry",
                kind=key[0],
                name=key[1],
                error=str(exc),
                retry_in=round(delay, 3),
            )
        except Exception as exc:
            if _stopped(exc, self.stopping):
                result = "stopped"
                log.info(
                    "reconcile.stopped",
                    kind=key[0],
                    name=key[1],
                    action="stop",
                    reason="the daemon is stopping",
                )
            else:  # a bug: keep the daemon alive, retry with backoff
                result = "error"
                self.metrics.workqueue_retries.inc()
                self.queue.add_rate_limited(key)
                log.exception("reconcile.crash", kind=key[0], name=key[1], error=str(exc))
        finally:
            self.metrics.reconcile_total.labels(key[0], result).inc()
            self.metrics.reconcile_duration.labels(key[0]).observe(time.perf_counter() - started)
            self.unseen.discard(key)
            self.queue.done(key)
        return key

    def run_until_idle(self, limit: int = 1000) -> int:
        """Processes queued keys until none is ready (tests); returns how many were processed."""
        n = 0
        while n < limit and self.process(timeout=0) is not None:
            n += 1
        return n

    def sync(self, key: ResourceKey) -> float | None:
        """Dispatches a key to its kind's sync (or its shared pass) in the registry."""
        kind, name = key
        shared = self.catalog.passes.get(key)
        if shared is not None:
            return shared.sync(self)
        entry = self.catalog.entries.get(kind)
        if entry is None:
            return None
        if entry.via is not None:  # one pass serves every resource of the kind
            self.queue.add(entry.via)
            return None
        return entry.sync(self, name) if entry.sync is not None else None

    def set_status(
        self, key: ResourceKey, status: str, message: str, **details: Any
    ) -> ResourceStatus:
        with self._lock:
            st = self.status.get(key) or ResourceStatus(*key)
            self.status[key] = st
            st.status, st.message, st.updated_at = status, message, self.clock()
            res = self.desired.get(key)
            st.source = res.source if res else ""
            st.manifest_error = self.stale.get(key, "")
            st.details.update(details)
            return st

    def forget_status(self, key: ResourceKey) -> None:
        with self._lock:
            self.status.pop(key, None)

    def _statuses(self) -> list[tuple[str, str]]:
        """(kind, status) of each resource, for /metrics: a manifest's resource not looked at
        yet is PENDING; the data plane's or Batch's own entries (named "*") are no resource."""
        with self._lock:
            known = {k: st.status for k, st in self.status.items() if k[1] != "*"}
            for key in list(self.desired):
                known.setdefault(key, "PENDING")
        return [(kind, status) for (kind, _), status in known.items()]


def _stopped(exc: Exception, stopping: StopSignal) -> bool:
    """Whether a pass ended because the daemon is stopping: it said so (Stopped), or the stop
    cancelled a call it waited for (after the grace, as the pools were shut down)."""
    return isinstance(exc, Stopped) or (isinstance(exc, CancelledError) and stopping.is_set())
