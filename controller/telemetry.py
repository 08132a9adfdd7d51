"""Every Prometheus metric Skiff exports, defined in one place.

Names follow controller-runtime's (`skiff_reconcile_total`, `skiff_workqueue_depth`, ...) plus
per-resource gauges. Each daemon owns one `Metrics` with its own registry, so tests can run
several daemons in one process and read exact counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from controller.dataplane.response_times import BUCKETS, ResponseTimes

_FAST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# What a resource's status says (core/status.py); each kind shows all four, 0 when none.
RESOURCE_STATUSES = ("ACTIVE", "ERROR", "DRAINING", "PENDING")
ROLLOUT_STATES = ("IN_PROGRESS", "COMPLETED", "FAILED")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.reconcile_total = Counter(
            "skiff_reconcile_total",
            "Reconciles by kind and result.",
            ["kind", "result"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "skiff_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["kind"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.workqueue_depth = Gauge(
            "skiff_workqueue_depth", "Keys waiting in the work queue.", registry=r
        )
        self.workqueue_adds = Counter(
            "skiff_workqueue_adds_total", "Keys added to the work queue.", registry=r
        )
        self.workqueue_retries = Counter(
            "skiff_workqueue_retries_total",
            "Keys requeued with backoff after an error.",
            registry=r,
        )
        self.workqueue_wait = Histogram(
            "skiff_workqueue_queue_duration_seconds",
            "Time a key waits before a worker takes it.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.docker_calls = Counter(
            "skiff_docker_api_calls_total",
            "Docker API calls by host, operation and outcome.",
            ["host", "operation", "outcome"],
            registry=r,
        )
        self.docker_duration = Histogram(
            "skiff_docker_api_duration_seconds",
            "Docker API call latency.",
            ["operation"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.docker_event_reconnects = Counter(
            "skiff_docker_event_stream_reconnects_total",
            "Event streams resumed after a break.",
            ["host"],
            registry=r,
        )
        self.actions = Counter(
            "skiff_actions_total", "Actions taken on resources.", ["kind", "action"], registry=r
        )
        self.manifest_errors = Gauge(
            "skiff_manifest_errors",
            "Errors in the manifest directory, by file.",
            ["file"],
            registry=r,
        )
        self.manifest_loads = Counter(
            "skiff_manifest_loads_total",
            "Loads of the manifest directory by result.",
            ["result"],
            registry=r,
        )
        self.manifest_reload_failures = Counter(
            "skiff_manifest_reload_failures_total",
            "Reloads of the manifest directory that could not read all of it (the root or a "
            "directory unreadable) or failed; what it held before is kept.",
            registry=r,
        )
        self.resources = Gauge(
            "skiff_resources", "Valid resources in the manifests, by kind.", ["kind"], registry=r
        )
        self.service_desired = Gauge(
            "skiff_service_desired_tasks", "desiredCount of a service.", ["service"], registry=r
        )
        self.service_running = Gauge(
            "skiff_service_running_tasks", "Tasks in RUNNING.", ["service"], registry=r
        )
        self.service_pending = Gauge(
            "skiff_service_pending_tasks", "Tasks not yet RUNNING.", ["service"], registry=r
        )
        self.service_healthy = Gauge(
            "skiff_service_healthy_tasks",
            "RUNNING tasks whose health checks pass.",
            ["service"],
            registry=r,
        )
        self.task_definition_revision = Gauge(
            "skiff_task_definition_latest_revision",
            "Latest ACTIVE revision of a family.",
            ["family"],
            registry=r,
        )
        self.target_group_requests = Counter(
            "skiff_target_group_requests_total",
            "HTTP requests a target group served.",
            ["target_group"],
            registry=r,
        )
        self.target_group_responses = Counter(
            "skiff_target_group_responses_total",
            "Responses by code class.",
            ["target_group", "code"],
            registry=r,
        )
        self.target_group_response_time = _ResponseTimeCollector()
        r.register(self.target_group_response_time)
        self.target_group_targets = Gauge(
            "skiff_target_group_targets",
            "Targets by ALB state.",
            ["target_group", "state"],
            registry=r,
        )
        self.group_desired = Gauge(
            "skiff_autoscaling_group_desired_capacity",
            "desiredCapacity of an Auto Scaling group (the API's, when it set one).",
            ["group"],
            registry=r,
        )
        self.group_instances = Gauge(
            "skiff_autoscaling_group_instances",
            "Instances of an Auto Scaling group by lifecycle state.",
            ["group", "lifecycle_state"],
            registry=r,
        )
        self.instance_launches = Counter(
            "skiff_instance_launches_total",
            "Instances launched, by owner kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.metric_statistic = Gauge(
            "skiff_metric",
            "The last period's statistic of a collected metric, per group, service or target "
            "group (CloudWatch's metric, dimension and statistic).",
            ["metric", "dimension", "name", "statistic"],
            registry=r,
        )
        self.alarm_state = Gauge(
            "skiff_alarm_state",
            "An alarm's state: 1 ALARM, 0 OK, -1 INSUFFICIENT_DATA.",
            ["alarm"],
            registry=r,
        )
        self.batch_jobs = Gauge(
            "skiff_batch_jobs",
            "Batch jobs of a job queue by status (the queue's depth: SUBMITTED to RUNNING).",
            ["queue", "status"],
            registry=r,
        )
        self.store_write_failures = Counter(
            "skiff_store_write_failures_total",
            "Writes to the store that failed and were rolled back whole, by reason: full (the "
            "data directory's disk or quota), io, locked, readonly.",
            ["reason"],
            registry=r,
        )
        self.store_writable = Gauge(
            "skiff_store_writable",
            "0 from a failed write to the store until a write succeeds again, else 1.",
            registry=r,
        )
        self.store_writable.set(1)
        for reason in ("full", "io", "locked", "readonly"):  # from 0: increase() sees the first
            self.store_write_failures.labels(reason)
        self.docker_event_lag = Histogram(
            "skiff_docker_event_lag_seconds",
            "Time from a Docker event (the engine's timestamp) until the daemon has refreshed "
            "the container it names and told its owner.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.service_deployments = Gauge(
            "skiff_service_deployments",
            "A service's deployments (PRIMARY and ACTIVE, as DescribeServices lists them) by "
            "rolloutState.",
            ["service", "rollout_state"],
            registry=r,
        )
        self.circuit_breaker_trips = Counter(
            "skiff_service_circuit_breaker_trips_total",
            "Deployments the deployment circuit breaker marked FAILED.",
            ["service"],
            registry=r,
        )
        self.tasks_stopped = Counter(
            "skiff_tasks_stopped_total",
            "A service's tasks stopped, by ECS stopCode (EssentialContainerExited, "
            "TaskFailedToStart, ServiceSchedulerInitiated).",
            ["service", "reason"],
            registry=r,
        )
        self.autoscaling_activities = Counter(
            "skiff_autoscaling_activities_total",
            "Scaling activities of an Auto Scaling group that ended, by status (Successful, "
            "Failed, Cancelled).",
            ["group", "status"],
            registry=r,
        )
        self.policy_decisions = Counter(
            "skiff_scaling_policy_decisions_total",
            "Evaluations of a scaling policy by what it asked for: scale_out, scale_in or "
            "no_change.",
            ["policy", "decision"],
            registry=r,
        )
        self.batch_jobs_finished = Counter(
            "skiff_batch_jobs_finished_total",
            "Batch jobs of a job queue that ended, by status (SUCCEEDED, FAILED).",
            ["queue", "status"],
            registry=r,
        )
        self.batch_attempts_failed = Counter(
            "skiff_batch_attempts_failed_total",
            "Batch job attempts that ended without success (retried or failing the job).",
            ["queue"],
            registry=r,
        )
        self.store_size = Gauge(
            "skiff_store_size_bytes",
            "Size of the store's files in the data directory (the SQLite database and its "
            "write-ahead log), read at each scrape.",
            registry=r,
        )
        self._statuses = _StatusCollector()
        r.register(self._statuses)
        self._pool = _PoolCollector()
        r.register(self._pool)

    def watch_pool(self, source: Callable[[], Iterable[HostFigures]]) -> None:
        """Host gauges are read from `source` at each scrape, so they are never stale."""
        self._pool.source = source

    def watch_statuses(self, source: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """Resources by kind and status, read from `source` ((kind, status) per resource) at
        each scrape."""
        self._statuses.source = source

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def forget_service(self, name: str) -> None:
        _remove(
            name,
            self.service_desired,
            self.service_running,
            self.service_pending,
            self.service_healthy,
        )
        for state in ROLLOUT_STATES:
            try:
                self.service_deployments.remove(name, state)
            except KeyError:
                pass

    def forget_group(self, name: str) -> None:
        _remove(name, self.group_desired)
        for state in GROUP_STATES:
            try:
                self.group_instances.remove(name, state)
            except KeyError:
                pass


GROUP_STATES = ("Pending", "Pending:Wait", "InService", "Terminating", "Terminating:Wait")


def _remove(label: str, *gauges: Gauge) -> None:
    for gauge in gauges:
        try:
            gauge.remove(label)
        except KeyError:
            pass


class HostFigures(NamedTuple):
    host: str
    zone: str
    up: bool
    cpu: int
    memory: int
    cpu_used: int
    memory_used: int


class _PoolCollector(Collector):
    """Per-host capacity and allocation, computed when Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[HostFigures]] = lambda: ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "up": GaugeMetricFamily(
                "skiff_host_up",
                "1 when the host's Docker engine answers, else 0.",
                labels=["host", "zone"],
            ),
            "cpu": GaugeMetricFamily(
                "skiff_host_cpu_capacity_units", "CPU units a host offers.", labels=["host"]
            ),
            "memory": GaugeMetricFamily(
                "skiff_host_memory_capacity_mib", "Memory a host offers.", labels=["host"]
            ),
            "cpu_used": GaugeMetricFamily(
                "skiff_host_cpu_allocated_units", "CPU units reserved by tasks.", labels=["host"]
            ),
            "memory_used": GaugeMetricFamily(
                "skiff_host_memory_allocated_mib", "Memory reserved by tasks.", labels=["host"]
            ),
        }
        for h in self.source():
            families["up"].add_metric([h.host, h.zone], 1.0 if h.up else 0.0)
            for field in ("cpu", "memory", "cpu_used", "memory_used"):
                families[field].add_metric([h.host], float(getattr(h, field)))
        yield from families.values()


class _StatusCollector(Collector):
    """Resources by kind and status, counted when Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[tuple[str, str]]] = lambda: ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "skiff_resource_status",
            "Resources by kind and status (ACTIVE, ERROR, DRAINING, PENDING, or the kind's own).",
            labels=["kind", "status"],
        )
        counts: dict[tuple[str, str], int] = {}
        for kind, status in self.source():
            for s in RESOURCE_STATUSES:
                counts.setdefault((kind, s), 0)
            counts[(kind, status)] = counts.get((kind, status), 0) + 1
        for (kind, status), n in sorted(counts.items()):
            family.add_metric([kind, status], float(n))
        yield family


class _ResponseTimeCollector(Collector):
    """`skiff_target_group_response_time_seconds`: per target group, the time from the load
    balancer sending a request to a target until the target began its response (ELB's
    TargetResponseTime; HAProxy's Tr, in ms). Built from the data plane's weighted tallies
    (dataplane/request_log.py: above a listener's sampling rate, a logged request stands for
    N), so its buckets, count and sum count every request, not the logged lines; the same
    name, label and buckets as a prometheus_client Histogram's."""

    NAME = "skiff_target_group_response_time_seconds"
    DOC = (
        "Per request, the time from the load balancer sending it to a target until the "
        "target began its response (ELB's TargetResponseTime; HAProxy's Tr, in ms; sampled "
        "and weighted above a listener's rate, so counts are of requests)."
    )
    _LE = (*(repr(float(b)) for b in BUCKETS), "+Inf")  # as Histogram writes them: 1.0

    def __init__(self) -> None:
        self._groups: dict[str, ResponseTimes] = {}
        self._lock = threading.Lock()

    def add(self, group: str, times: ResponseTimes | None = None) -> None:
        """Adds a group's tally (its series exists from the first call, at 0)."""
        with self._lock:
            total = self._groups.setdefault(group, ResponseTimes())
            if times is not None:
                total.buckets = [a + b for a, b in zip(total.buckets, times.buckets, strict=True)]
                total.count += times.count
                total.sum_ms += times.sum_ms

    def remove(self, group: str) -> None:
        """Forgets a group's series; KeyError if it has none."""
        with self._lock:
            del self._groups[group]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.NAME, self.DOC, labels=["target_group"])
        with self._lock:
            groups = [(g, list(t.buckets), t.sum) for g, t in sorted(self._groups.items())]
        for group, counts, total in groups:
            cumulative = list(accumulate(counts))
            family.add_metric(
                [group], list(zip(self._LE, map(float, cumulative), strict=True)), total
            )
        yield family
