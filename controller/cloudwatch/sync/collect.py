"""Metric collection: what CloudWatch would record, measured on the pool every period.

Each pass samples every running instance and task container (Docker's one-shot stats: CPU as a
percent of its limit, memory as a percent of its limit), the load balancer's per-group
counters (request count per period, per target, response time, 5xx), instance status checks,
group and service counts, and the Prometheus queries that alarms and policies name. Samples go
into an in-memory MetricHistory keyed (metricName, dimension, value), so statistics over any
period come from the raw samples, as CloudWatch aggregates them; a group's series holds its
InService instances' samples, a service's its running tasks'. The same figures are exported
on /metrics, and groups with predictive policies keep an hourly load history in the store.

The Docker stats and Prometheus requests of a pass run on the controller's metrics pool, never
on the pool that carries out plans: a pass over hundreds of tasks (each one-shot stats call
waits for the engine's next one-second round) would otherwise hold every launch and stop of
every service behind it for most of a minute. When the daemon stops, a pass ends where it is
(Stopped): it neither waits for its reads nor begins new ones, so the stop is not held up and
no read is asked of a pool being shut down.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import structlog

from controller.cloudwatch.planners.usage import cpu_percent, memory_percent
from controller.cloudwatch.series import MetricHistory
from controller.cloudwatch.sync.prometheus import MetricUnavailable, query
from controller.core.labels import reserved
from controller.core.stopping import gather
from controller.dataplane import DataPlaneError
from controller.ec2.planners.instances import IMPAIRED
from controller.ec2.sync.observed import instances, observed_instances
from controller.ecs.sync.state import revision
from controller.manifests.metrics import Metric
from controller.runtime import ContainerStats, RuntimeFailure

if TYPE_CHECKING:
    from controller.core.controller import Controller

log = structlog.get_logger("skiff.monitoring")

SeriesKey = tuple[str, str, str]
STATISTICS_EXPORTED = ("Average", "Maximum", "Sum", "SampleCount")
HISTORY_SECONDS = 86400.0  # raw samples kept in memory (also capped per series)
HOURS_KEPT = 15 * 24  # hourly load history for predictive scaling: AWS uses up to 14 days


@dataclass
class MonitorState:
    """What collection remembers between passes (rebuilt after a restart)."""

    history: MetricHistory
    previous: dict[str, ContainerStats] = field(default_factory=dict)  # by container id
    counters: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # (reqs, 5xx, at)
    exported: set[tuple[str, str, str]] = field(default_factory=set)  # series on /metrics
    unavailable: dict[SeriesKey, str] = field(default_factory=dict)  # why a series has no data
    evaluated: int | None = None  # the last period alarms and policies were evaluated in
    started: float = 0.0  # the first collection since the daemon started
    lock: threading.Lock = field(default_factory=threading.Lock)


def monitor(ctl: Controller) -> MonitorState:
    """CloudWatch's part of the controller: what collection remembers between passes."""
    return ctl.part(MonitorState)


def new_monitor(ctl: Controller) -> MonitorState:
    return MonitorState(MetricHistory(max_age=HISTORY_SECONDS))


def series_of(metric: Metric, ctl: Controller) -> SeriesKey:
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


def _instance_id(ctl: Controller, name: str) -> str | None:
    """The current instance of an Instance manifest."""
    records = ctl.store.instances("Instance", name)
    alive = [r for r in records.values() if r.terminated_at is None]
    return max(alive, key=lambda r: r.launched_at).instance_id if alive else None


def collect(ctl: Controller, now: float) -> None:
    """One collection pass."""
    state = monitor(ctl)
    samples: list[tuple[SeriesKey, float]] = []
    samples += _containers(ctl)
    samples += _target_groups(ctl, now)
    samples += _counts(ctl)
    with state.lock:
        for key, value in samples:
            state.history.add(key, now, value)
        state.history.prune(now)  # series of instances and resources long gone go too
    _prometheus(ctl, now)
    _export(ctl, now)
    _hourly(ctl, now)


_Job = tuple[str, str, float | None, float | None, list[SeriesKey]]  # host, id, CPUs, MiB, keys


def _instance_jobs(ctl: Controller) -> list[_Job]:
    """The running instances' containers to sample, each with its reservation and series:
    the instance's, and its group's while it is InService."""
    jobs: list[_Job] = []
    for iid, inst in observed_instances(ctl).items():
        c = inst.container
        if not c.running:
            continue
        cpu_units, memory_mib = reserved(c.labels)
        keys: list[SeriesKey] = [("", "instance", iid)]
        if inst.owner_kind == "AutoScalingGroup":
            record = ctl.store.instance(iid)
            if record is not None and record.lifecycle_state == "InService":
                keys.append(("", "autoScalingGroup", inst.owner))
        jobs.append((inst.host, c.id, cpu_units / 1024 or None, memory_mib or None, keys))
    return jobs


def _containers(ctl: Controller) -> list[tuple[SeriesKey, float]]:
    """CPU and memory of instances (and the groups they are InService in) and tasks."""
    jobs = _instance_jobs(ctl)
    for task in ctl.observed_tasks().values():
        if task.owner_kind != "Service":
            continue
        rev = revision(ctl, task.revision)
        cpu = rev.spec.cpu_need / 1024 if rev else 0
        memory = rev.spec.memory_need if rev else 0
        running = [c for c in task.containers.values() if c.running]
        share = 1 / max(1, len(running))  # a task's containers share its reservation
        for c in running:
            keys = [("", "service", task.owner)]
            jobs.append((task.host, c.id, cpu * share or None, memory * share or None, keys))

    def sample(job: tuple[str, str, float | None, float | None, list[SeriesKey]]) -> Any:
        host, cid, _, _, _ = job
        try:
            return ctl.runtime_for(host).stats(cid)
        except (RuntimeFailure, KeyError):
            return None

    results = gather(ctl.metrics_pool, sample, jobs, ctl.stopping)
    out: list[tuple[SeriesKey, float]] = []
    previous = monitor(ctl).previous
    seen = set()
    for (_, cid, cpus, mib, keys), stats in zip(jobs, results, strict=True):
        if stats is None:
            continue
        seen.add(cid)
        before = previous.get(cid)
        previous[cid] = stats
        used = cpu_percent(before, stats, cpus) if before is not None else None
        held = memory_percent(stats, int(mib * 1024 * 1024) if mib else None)
        for _, dim, value in keys:
            if used is not None:
                out.append((("CPUUtilization", dim, value), used))
            if held is not None:
                out.append((("MemoryUtilization", dim, value), held))
    for cid in [c for c in previous if c not in seen]:
        del previous[cid]
    return out


def _target_groups(ctl: Controller, now: float) -> list[tuple[SeriesKey, float]]:
    """Per target group: RequestCount and 5xx (since the last pass: their Sum over a period
    is the period's count), RequestCountPerTarget (per minute, as AWS's target values are),
    response time, healthy and unhealthy targets (from HAProxy's counters)."""
    groups = [k[1] for k in ctl.desired if k[0] == "TargetGroup"]
    if not groups:
        return []
    dp = ctl.dataplane()
    try:
        stats = dp.counters() if dp.running() else {}
    except DataPlaneError:
        return []
    states: dict[str, list[str]] = {g: [] for g in groups}
    for per_group in list(ctl.target_states.values()):
        for g, st in per_group.items():
            states.setdefault(g, []).append(st)
    out: list[tuple[SeriesKey, float]] = []
    counters = monitor(ctl).counters
    for g in groups:
        healthy = sum(1 for s in states.get(g, []) if s == "healthy")
        unhealthy = sum(1 for s in states.get(g, []) if s == "unhealthy")
        out += [
            (("HealthyHostCount", "targetGroup", g), float(healthy)),
            (("UnHealthyHostCount", "targetGroup", g), float(unhealthy)),
        ]
        s = stats.get(g)
        if s is None:
            continue
        errors = s.responses.get("5xx", 0)
        before = counters.get(g)
        counters[g] = (s.requests, errors, now)
        if before is None or s.requests < before[0] or now <= before[2]:
            continue  # first look, or HAProxy restarted: counting begins now
        requests = s.requests - before[0]
        per_minute = requests * 60 / (now - before[2])  # whatever the time between two looks
        out += [
            (("RequestCount", "targetGroup", g), float(requests)),
            (("RequestCountPerTarget", "targetGroup", g), per_minute / max(1, healthy)),
            (("HTTPCode_Target_5XX_Count", "targetGroup", g), float(max(0, errors - before[1]))),
        ]
        if requests:
            out.append((("TargetResponseTime", "targetGroup", g), s.response_time_ms / 1000))
    return out


def _counts(ctl: Controller) -> list[tuple[SeriesKey, float]]:
    """Status checks of instances, InService instances of groups, running tasks of services."""
    out: list[tuple[SeriesKey, float]] = []
    checks = instances(ctl).last_checks()
    for iid, verdict in checks.items():
        out.append((("StatusCheckFailed", "instance", iid), 1.0 if verdict == IMPAIRED else 0.0))
    for key, st in list(ctl.status.items()):
        if key[0] == "AutoScalingGroup":
            out.append(
                (
                    ("GroupInServiceInstances", "autoScalingGroup", key[1]),
                    float(st.details.get("inServiceCount", 0)),
                )
            )
        elif key[0] == "Service":
            out.append(
                (
                    ("RunningTaskCount", "service", key[1]),
                    float(st.details.get("runningCount", 0)),
                )
            )
    return out


def _metrics_in_use(ctl: Controller) -> Iterable[Metric]:
    for key, res in list(ctl.desired.items()):
        if key[0] == "Alarm":
            yield res.spec.metric
        elif key[0] == "ScalingPolicy":
            tt = res.spec.target_tracking_configuration
            if tt is not None and tt.customized_metric is not None:
                yield tt.customized_metric.metric
            if tt is not None and tt.backlog_per_instance is not None:
                yield tt.backlog_per_instance.queue


def _prometheus(ctl: Controller, now: float) -> None:
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


def _export(ctl: Controller, now: float) -> None:
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


def _hourly(ctl: Controller, now: float) -> None:
    """Load samples of groups with predictive policies, folded into hours in the store."""
    for key, res in list(ctl.desired.items()):
        if key[0] != "ScalingPolicy" or res.spec.predictive_scaling_configuration is None:
            continue
        load = predictive_load(ctl, res.spec, now)
        if load is not None:
            ctl.store.add_metric_sample(predictive_series(res.spec), now, load)
    ctl.store.prune_metric_hours(now - HOURS_KEPT * 3600)


def predictive_series(spec: Any) -> str:
    pc = spec.predictive_scaling_configuration
    group = spec.target.auto_scaling_group
    if pc.predefined_metric == "ALBRequestCount":
        return f"AutoScalingGroup/{group}:ALBRequestCount:{pc.target_group}"
    return f"AutoScalingGroup/{group}:ASGCPUUtilization"


def predictive_load(ctl: Controller, spec: Any, now: float) -> float | None:
    """The group's load now: CPU percent times InService instances, or requests at this
    period's rate per hour (the hour's average is then its total)."""
    pc = spec.predictive_scaling_configuration
    group = spec.target.auto_scaling_group
    period = ctl.settings.metrics_period
    with monitor(ctl).lock:
        if pc.predefined_metric == "ALBRequestCount":
            got = monitor(ctl).history.samples(
                ("RequestCount", "targetGroup", pc.target_group), now - period
            )
            return sum(v for _, v in got) * 3600 / period if got else None  # per hour
        cpu = monitor(ctl).history.samples(
            ("CPUUtilization", "autoScalingGroup", group), now - period
        )
    if not cpu:
        return None
    st = ctl.status.get(("AutoScalingGroup", group))
    in_service = st.details.get("inServiceCount", 0) if st else 0
    average = sum(v for _, v in cpu) / len(cpu)
    return average * in_service if math.isfinite(average) else None
