"""The controller: desired state, the host pool, and one sync function per kind.

A sync reads the whole truth again (manifest, cache of containers, store), calls the kind's
pure planner, hands the plan to the executor and records status. It is level-triggered: the
key says where to look, never what happened. Workers call `process()`; tests call it directly.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog

from controller.core import host_ports
from controller.core.actions import ActionLog
from controller.core.host_ports import HostPorts, PortKey, PortRange, default_range
from controller.core.hosts import (
    HostHandle,
    RuntimeFactory,
    implicit_name,
    local_ephemeral_range,
)
from controller.core.labels import DEFAULT_CLUSTER
from controller.core.observed import ObservedTask, group_tasks
from controller.core.observer import HostObserver
from controller.core.outcomes import Retry, Stopped, Terminal, Waiting
from controller.core.placement import HostSlot
from controller.core.policy_guard import GuardedRuntime
from controller.core.registry import Catalog
from controller.core.status import ResourceStatus
from controller.core.stopping import StoppablePool, StopSignal
from controller.core.telemetry import HostFigures, Metrics
from controller.core.workqueue import Backoff, WorkQueue
from controller.dataplane import DataPlane
from controller.manifests.base import FieldError
from controller.manifests.host import HostSpec
from controller.manifests.kinds import Resource, ResourceKey, key_str
from controller.manifests.loader import DEFAULT_MAX_MANIFEST_BYTES, LoadResult
from controller.manifests.policy import BASELINE, Policy
from controller.runtime import ContainerRuntime, RuntimeFailure
from controller.runtime.instrumented import InstrumentedRuntime
from controller.store import Store, StoreFailure

log = structlog.get_logger("skiff")

T = TypeVar("T")
STOP_GRACE = 10.0  # seconds a pass under way may take to finish when the daemon stops


@dataclass(frozen=True)
class Settings:
    workers: int = 4
    parallelism: int = 10
    resync_seconds: float = 30.0
    max_launches_per_pass: int = 100
    stopped_tasks_kept: int = 5
    expectation_ttl: float = 60.0
    backoff_base: float = 0.05
    backoff_cap: float = 60.0
    pause_image: str | None = None
    cluster: str = DEFAULT_CLUSTER
    host_lost_seconds: float = 60.0  # an engine unreachable this long: its tasks are replaced
    healthy_after_seconds: float = 40.0  # RUNNING this long, a task with no checks is healthy
    lb_address: str = "127.0.0.1"  # where load balancer listeners bind
    lb_threads: int | None = None  # HAProxy's threads; None: one fewer than the CPUs, at least 1
    dataplane_dir: str | None = None  # HAProxy's files; None: a temporary directory
    status_check_seconds: float = 60.0  # how often instances' status checks run
    metrics_period: float = 60.0  # seconds between metric collections (CloudWatch: 60 or 300)
    prometheus_url: str | None = None  # for prometheusQuery metrics that name no server
    monitoring: bool = True  # collect metrics and run alarms, policies and schedules
    batch_min_timeout: float = 60.0  # attemptDurationSeconds' floor (AWS: 60)
    host_port_range: PortRange | None = None  # dynamic host ports; None: beside the kernel's
    policy: Policy = BASELINE  # what containers may ask of the hosts beyond the baseline
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES  # a larger file is an error, unread


class Controller:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        runtime_factory: RuntimeFactory,
        settings: Settings = Settings(),
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
        self.placement_lock = threading.Lock()  # one service places (and books) at a time
        self.batch_lock = threading.RLock()  # the Batch pass, submits, cancels and terminates
        self._lock = threading.RLock()
        self._observing = False
        metrics.watch_pool(self._host_figures)
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
        if self._dataplane is None:
            self._dataplane = self._dataplane_factory()
        return self._dataplane

    def load_balanced(self, service: str) -> bool:
        res = self.desired.get(("Service", service))
        return bool(res and res.spec.load_balancers) or any(
            t in self.target_states for t, o in self._tasks_of(service)
        )

    def _tasks_of(self, service: str) -> list[tuple[str, str]]:
        return [
            (i, t.owner)
            for i, t in self.observed_tasks().items()
            if (t.owner_kind, t.owner) == ("Service", service)
        ]

    def snapshot(self) -> dict[ResourceKey, ResourceStatus]:
        """Status of every resource, with host allocations computed now, not at the last sync."""
        slots = {s.name: s for s in self.host_slots(self.observed_tasks())}
        with self._lock:
            for (kind, name), st in self.status.items():
                if kind == "Host" and name in slots:
                    st.details["allocated"] = {
                        "cpu": slots[name].cpu_used,
                        "memory": slots[name].memory_used,
                    }
                    st.details["connected"] = slots[name].up
            return dict(self.status)

    def _host_figures(self) -> list[HostFigures]:
        return [
            HostFigures(s.name, s.zone, s.up, s.cpu, s.memory, s.cpu_used, s.memory_used)
            for s in self.host_slots(self.observed_tasks())
        ]

    # --- desired state ------------------------------------------------------------------------
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

    # --- the pool ---------------------------------------------------------------------------------
    def sync_pool(self) -> None:
        """Connects new or changed Host manifests; a removed host drains before it is dropped.

        Connecting talks to the engines, so it happens outside the lock that workers need.
        """
        specs: dict[str, HostSpec] = {
            k[1]: r.spec for k, r in self.desired.items() if k[0] == "Host"
        }
        wanted = implicit_name(specs)
        with self._lock:
            current = dict(self.hosts)
        replaced = [h for n, h in current.items() if n in wanted and h.spec != wanted[n]]
        connected = {
            name: self._connect(name, spec)
            for name, spec in wanted.items()
            if name not in current or current[name].spec != spec
        }
        with self._lock:
            for old in replaced:
                old.observer.stop()
                old.runtime.close()
            self.hosts.update(connected)
            for name, handle in self.hosts.items():
                handle.draining = name not in wanted
        for name in current.keys() | connected.keys():
            self.queue.add(("Host", name))
        self.enqueue_all()  # services move their tasks off draining hosts

    def _connect(self, name: str, spec: HostSpec) -> HostHandle:
        counted = InstrumentedRuntime(self._factory(name, spec), name, self.metrics)
        runtime = GuardedRuntime(counted, self.settings.policy)
        observer = HostObserver(
            name,
            runtime,
            self._owner_changed,
            lambda: self._reconnected(name),
            self.settings.cluster,
            on_down=self._host_down,
            clock=self.clock,
        )
        counted.on_start_failed = observer.touch
        handle = HostHandle(name, spec, runtime, observer)
        try:
            handle.refresh_info()
            observer.resync()
        except RuntimeFailure as exc:
            log.warning("host.unreachable", kind="Host", name=name, error=str(exc))
        if self._observing:
            observer.start()
        return handle

    def drop_host(self, name: str) -> HostHandle | None:
        """Takes a host out of the pool and stops watching it."""
        with self._lock:
            handle = self.hosts.pop(name, None)
        if handle is not None:
            handle.observer.stop()
            handle.runtime.close()
        return handle

    def runtime_for(self, host: str) -> ContainerRuntime:
        """The host's runtime: instrumented, and guarded by the daemon's container policy."""
        handle = self.hosts.get(host)
        if handle is None:
            raise Retry(f"host {host} is not in the pool")
        return handle.runtime

    def start_observing(self) -> None:
        self._observing = True
        for handle in list(self.hosts.values()):
            handle.observer.start()

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
        """Lists every host again and queues every key: heals whatever events missed (and
        saves manifest changes a failing store could not take)."""
        if self._unsaved:
            self._save_manifests()
        for handle in list(self.hosts.values()):
            if handle.observer.safe_resync():
                try:
                    handle.refresh_info()
                except RuntimeFailure:
                    pass
        self.enqueue_all()

    def _host_down(self) -> None:
        """Once a host has been down long enough to be lost, every service looks again."""
        for key in self.keys():
            self.queue.add_after(key, self.settings.host_lost_seconds + 0.1)

    def _reconnected(self, host: str) -> None:
        """An event stream was resumed: what happened meanwhile may concern any key."""
        self.metrics.docker_event_reconnects.labels(host).inc()
        self.enqueue_all()

    def _owner_changed(self, host: str, kind: str, name: str) -> None:
        self.queue.add((kind, name))
        handle = self.hosts.get(host)
        if handle is not None and handle.draining:
            self.queue.add(("Host", host))  # it leaves the pool once its last task is gone

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

    @property
    def synced(self) -> bool:
        return all(h.observer.synced for h in list(self.hosts.values()))

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

    # --- Service ----------------------------------------------------------------------------------
    def observed_tasks(self) -> dict[str, ObservedTask]:
        return dict(self.grouped("tasks", group_tasks))

    def grouped(self, what: str, group: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """Every host's containers grouped by `group`, built again only when a host's cache
        changed since the last time (a pass asks for them once per key, and more)."""
        hosts = list(self.hosts.values())
        # Versions are read before the snapshots: a result is never older than its key.
        key = tuple((h.name, h.observer, h.observer.version) for h in hosts)
        cached = self._groups.get(what)
        if cached is not None and cached[0] == key:
            return cached[1]
        grouped = group((h.name, c) for h in hosts for c in h.observer.snapshot())
        self._groups[what] = (key, grouped)
        return grouped

    def listed_hosts(self) -> set[str]:
        """Hosts whose containers are known now: something missing there is gone."""
        return {n for n, h in list(self.hosts.items()) if h.up and h.observer.synced}

    def host_slots(self, tasks: dict[str, ObservedTask]) -> list[HostSlot]:
        """Each host's capacity and what is held on it: the sum of every domain's holdings
        (tasks, instances, jobs, launches not yet seen). Ports are per address: engines
        that share one share its ports."""
        cpu: dict[str, int] = {}
        mem: dict[str, int] = {}
        ports: dict[str, set[tuple[int, str]]] = {}
        hosts = list(self.hosts.values())
        address = {h.name: h.address for h in hosts}
        now = self.clock()
        for domain in self.catalog.domains:
            for held in domain.holdings(self, tasks):
                cpu[held.host] = cpu.get(held.host, 0) + held.cpu
                mem[held.host] = mem.get(held.host, 0) + held.memory
                ports.setdefault(address.get(held.host, ""), set()).update(held.ports)
        return [
            HostSlot(
                h.name,
                h.spec.zone,
                h.address,
                h.cpu_capacity,
                h.memory_capacity,
                cpu.get(h.name, 0),
                mem.get(h.name, 0),
                frozenset(ports.get(h.address, ())),
                up=h.up,
                draining=h.draining,
                attributes=h.spec.attributes,
                lost=h.lost(now, self.settings.host_lost_seconds),
                dynamic_ports=self.port_range,
            )
            for h in hosts
        ]

    def choose_ports(
        self, host: str, wanted: Sequence[tuple[int, str]], avoid: Collection[PortKey] = ()
    ) -> HostPorts:
        """Dynamic host ports for a launch on `host` outside the pass's plan (an instance, or a
        task's retry after a port conflict): none in use at its address, none in `avoid`."""
        if not wanted:
            return ()
        slot = next((s for s in self.host_slots(self.observed_tasks()) if s.name == host), None)
        used = set(avoid) | (slot.ports_used if slot is not None else set())
        return host_ports.pick(wanted, used, self.port_range, random.Random())


def _stopped(exc: Exception, stopping: StopSignal) -> bool:
    """Whether a pass ended because the daemon is stopping: it said so (Stopped), or the stop
    cancelled a call it waited for (after the grace, as the pools were shut down)."""
    return isinstance(exc, Stopped) or (isinstance(exc, CancelledError) and stopping.is_set())


def _fingerprint(res: Resource) -> tuple[Any, ...]:
    """What must be saved again when it changes (the source too: a resource may move files)."""
    return (res.spec, tuple(sorted(res.labels.items())), res.source, res.document)


def describe_errors(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    return [
        {
            "file": e.file,
            "document": e.document,
            "field": e.field,
            "message": e.message,
            "resource": key_str((e.kind, e.name)) if e.kind and e.name else None,
        }
        for e in errors
    ]
