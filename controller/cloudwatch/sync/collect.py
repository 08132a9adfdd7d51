"""Metric collection: what CloudWatch would record, measured on the pool every period.

Each pass samples the running containers the services name (core/metrics.py: instances and
tasks, each counting toward its series; CPU as a percent of its reservation, memory as a percent
of its reservation), takes the other samples they publish (load balancers' counters, instance
status checks, group and service counts), and asks the Prometheus queries that their resources
and the alarms name. Samples go into an in-memory MetricHistory keyed (metricName, dimension,
value), so statistics over any period come from the raw samples, as CloudWatch aggregates them.
The same figures are exported on /metrics.

Where a container's counters come from:

- an engine on this machine (a unix socket; every dockerd here is one): its cgroup files
  (runtime/cgroups.py), read on the pass's own thread. No Docker call, no connection, no worker:
  a pass over 500 containers is a few thousand small file reads.
- a remote engine (tcp://, ssh://): Docker's one-shot stats API, one call per container (each
  waits for the engine's next one-second round). Those calls run on the controller's metrics
  pool, at most REMOTE_AT_ONCE at once per engine (so they hold at most that many of its
  connections) and spread over half the period, started at most REMOTE_GAP seconds apart, so
  the engine never sees a burst of hundreds.
- a local container whose cgroup cannot be found (the observer has no process for it yet)
  falls back to the stats API, bounded the same way.

The rule: monitoring never takes the workers that launch, stop and remove. A metrics pass can
be late, a launch cannot. Structure enforces it: nothing here submits to `ctl.pool` (the plan
workers), reads of local engines take no Docker connection at all, and remote reads are bounded
per engine. When the daemon stops, a pass ends where it is (Stopped): it neither waits for its
reads nor begins new ones, so the stop is not held up and no read is asked of a pool being shut
down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import structlog

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.cloudwatch.series import MetricHistory
from controller.cloudwatch.sync.prometheus import MetricUnavailable, query
from controller.core.metrics import Sampled, SeriesKey, sources
from controller.core.stopping import gather
from controller.manifests.metrics import Metric
from controller.runtime import CgroupReader, Conflict, ContainerInfo, ContainerStats, RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context

log = structlog.get_logger("skiff.monitoring")

STATISTICS_EXPORTED = ("Average", "Maximum", "Sum", "SampleCount")
HISTORY_SECONDS = 86400.0  # raw samples kept in memory (also capped per series)
REMOTE_AT_ONCE = 3  # stats calls in flight per remote engine (and connections they hold)
REMOTE_SPREAD = 0.5  # a remote engine's calls start spread over this share of the period
REMOTE_GAP = 0.1  # but never further apart than this (seconds): a few containers go at once


@dataclass
class MonitorState:
    """What collection remembers between passes (rebuilt after a restart)."""

    history: MetricHistory
    previous: dict[str, ContainerStats] = field(default_factory=dict)  # by container id
    memories: dict[str, dict[str, Any]] = field(default_factory=dict)  # each source's, by domain
    exported: set[tuple[str, str, str]] = field(default_factory=set)  # series on /metrics
    unavailable: dict[SeriesKey, str] = field(default_factory=dict)  # why a series has no data
    evaluated: int | None = None  # the last period alarms and policies were evaluated in
    started: float = 0.0  # the first collection since the daemon started
    lock: threading.Lock = field(default_factory=threading.Lock)
    gates: dict[str, threading.Semaphore] = field(default_factory=dict)  # per remote engine


def monitor(ctl: Context) -> MonitorState:
    """CloudWatch's part of the controller: what collection remembers between passes."""
    return ctl.part(MonitorState)


def new_monitor(ctl: Context) -> MonitorState:
    return MonitorState(MetricHistory(max_age=HISTORY_SECONDS))


def series_of(metric: Metric, ctl: Context) -> SeriesKey:
    """The series a manifest's metric reads."""
    if metric.prometheus_query is not None:
        url = metric.prometheus_url or ctl.settings.prometheus_url or ""
        return ("prometheus", url, metric.prometheus_query)
    dim = metric.dimension()
    assert dim is not None and metric.metric_name is not None
    name, value = dim
    if name == "instance" and not value.startswith("i-"):
        value = _instance_id(ctl, value) or value
    return (metric.metric_name, name, value)


def _instance_id(ctl: Context, name: str) -> str | None:
    """The current instance of an Instance manifest."""
    records = ctl.store.instances("Instance", name)
    alive = [r for r in records.values() if r.terminated_at is None]
    return max(alive, key=lambda r: r.launched_at).instance_id if alive else None


def collect(ctl: Context, now: float) -> None:
    """One collection pass."""
    state = monitor(ctl)
    samples: list[tuple[SeriesKey, float]] = []
    samples += _containers(ctl)
    for name, source in sources(ctl):
        samples += source.samples(ctl, now, state.memories.setdefault(name, {}))
    with state.lock:
        for key, value in samples:
            state.history.add(key, now, value)
        state.history.prune(now)  # series of instances and resources long gone go too
    _prometheus(ctl, now)
    _export(ctl, now)


def _containers(ctl: Context) -> list[tuple[SeriesKey, float]]:
    """CPU and memory of the containers the sources name, toward each of their series."""
    jobs: list[Sampled] = [job for _, source in sources(ctl) for job in source.containers(ctl)]
    results: list[ContainerStats | None] = [None] * len(jobs)
    remote: list[int] = []  # the jobs only the stats API can answer
    readers: dict[str, tuple[CgroupReader, dict[str, ContainerInfo]] | None] = {}
    for i, job in enumerate(jobs):
        if job.host not in readers:
            readers[job.host] = _local(ctl, job.host)
        local = readers[job.host]
        info = local[1].get(job.container) if local is not None else None
        if local is None or info is None:
            remote.append(i)
            continue
        try:
            results[i] = local[0].stats(info)
        except Conflict:  # not running: no counters, as the stats API would say
            continue
        except RuntimeFailure:  # its cgroup is not where its process said: ask the engine
            remote.append(i)
    for i, stats in zip(remote, _by_api(ctl, [jobs[i] for i in remote]), strict=True):
        results[i] = stats
    for local in readers.values():  # where stopped and removed containers were is forgotten
        if local is not None:
            local[0].forget_others({cid for cid, info in local[1].items() if info.running})
    out: list[tuple[SeriesKey, float]] = []
    previous = monitor(ctl).previous
    seen = set()
    for job, stats in zip(jobs, results, strict=True):
        if stats is None:
            continue
        cid, mib = job.container, job.memory_mib
        seen.add(cid)
        before = previous.get(cid)
        previous[cid] = stats
        used = cpu_percent(before, stats, job.cpus) if before is not None else None
        held = memory_percent(stats, int(mib * 1024 * 1024) if mib else None)
        for dim, value in job.series:
            if used is not None:
                out.append((("CPUUtilization", dim, value), used))
            if held is not None:
                out.append((("MemoryUtilization", dim, value), held))
    for cid in [c for c in previous if c not in seen]:
        del previous[cid]
    return out


def _local(ctl: Context, host: str) -> tuple[CgroupReader, dict[str, ContainerInfo]] | None:
    """The cgroup reader of an engine on this machine, and its containers as last inspected
    (their process and cgroup parent); None for a remote engine."""
    handle = ctl.hosts.get(host)
    if handle is None:
        return None
    try:
        reader = ctl.runtime_for(host).cgroups()
    except RuntimeFailure:
        return None
    if reader is None:
        return None
    return reader, {info.id: info for info in handle.observer.snapshot()}


def _by_api(ctl: Context, jobs: list[Sampled]) -> list[ContainerStats | None]:
    """Docker's stats for each job, on the metrics pool: per engine at most REMOTE_AT_ONCE at
    once, started spread over the period (REMOTE_SPREAD of it, REMOTE_GAP apart at most)."""
    if not jobs:
        return []
    state = monitor(ctl)
    begun = time.monotonic()
    per_host: dict[str, int] = {}
    slots: list[tuple[Sampled, float]] = []
    for job in jobs:
        per_host[job.host] = per_host.get(job.host, 0) + 1
    seen: dict[str, int] = {}
    for job in jobs:
        n = seen[job.host] = seen.get(job.host, -1) + 1
        gap = min(ctl.settings.metrics_period * REMOTE_SPREAD / per_host[job.host], REMOTE_GAP)
        slots.append((job, begun + n * gap))
    with state.lock:
        gates = {
            h: state.gates.setdefault(h, threading.Semaphore(REMOTE_AT_ONCE)) for h in per_host
        }

    def sample(slot: tuple[Sampled, float]) -> ContainerStats | None:
        job, at = slot
        while (left := at - time.monotonic()) > 0:  # its turn; a stop ends the wait
            if ctl.stopping.is_set():
                return None
            time.sleep(min(left, 0.1))
        with gates[job.host]:
            if ctl.stopping.is_set():
                return None
            try:
                return ctl.runtime_for(job.host).stats(job.container)
            except (RuntimeFailure, KeyError):
                return None

    return gather(ctl.metrics_pool, sample, slots, ctl.stopping)


def _metrics_in_use(ctl: Context) -> Iterable[Metric]:
    for key, res in list(ctl.desired.items()):
        if key[0] == "Alarm":
            yield res.spec.metric
    for _, source in sources(ctl):
        yield from source.reads(ctl)


def _prometheus(ctl: Context, now: float) -> None:
    """The Prometheus queries alarms and policies name, one request each per period."""
    wanted = {series_of(m, ctl) for m in _metrics_in_use(ctl) if m.prometheus_query is not None}
    state = monitor(ctl)

    def ask(key: SeriesKey) -> tuple[SeriesKey, float | None, str]:
        _, url, promql = key
        if not url:
            return key, None, "no Prometheus server: give prometheusUrl or --prometheus-url"
        try:
            return key, query(url, promql, timeout=min(5.0, ctl.settings.metrics_period)), ""
        except MetricUnavailable as exc:
            return key, None, str(exc)

    for key, value, why in gather(ctl.metrics_pool, ask, sorted(wanted), ctl.stopping):
        with state.lock:
            if value is None:
                state.unavailable[key] = why
            else:
                state.unavailable.pop(key, None)
                state.history.add(key, now, value)
    for key in [k for k in state.unavailable if k not in wanted]:
        del state.unavailable[key]


def _export(ctl: Context, now: float) -> None:
    """The latest period's statistics per group, service and target group, on /metrics."""
    state = monitor(ctl)
    since = now - ctl.settings.metrics_period
    gauge = ctl.metrics.metric_statistic
    with state.lock:
        known = cast(list[SeriesKey], state.history.keys())
        keys = [k for k in known if k[0] != "prometheus" and k[1] != "instance"]
        shown = set()
        for key in keys:
            values = [v for _, v in state.history.samples(key, since)]
            if not values:
                continue
            shown.add(key)
            name, dim, value = key
            for statistic, figure in (  # STATISTICS_EXPORTED
                ("Average", sum(values) / len(values)),
                ("Maximum", max(values)),
                ("Sum", sum(values)),
                ("SampleCount", float(len(values))),
            ):
                gauge.labels(name, dim, value, statistic).set(figure)
        for name, dim, value in state.exported - shown:  # no data this period: not stale data
            for statistic in STATISTICS_EXPORTED:
                try:
                    gauge.remove(name, dim, value, statistic)
                except KeyError:
                    pass
        state.exported = shown
