"""Metrics and alarm actions: the interfaces between CloudWatch and the services it measures and
acts for, declared in the core so that none of them imports another (issue 14).

As in AWS, CloudWatch owns the metrics and the alarms; the services publish to it, an alarm's
actions invoke other services by name, and Auto Scaling reads CloudWatch's statistics:

- A service registers a `MetricSource` in its Domain (`Domain.metrics`): the running
  containers CloudWatch samples for CPU and memory (`Sampled`: where, the CPUs and MiB they
  reserve, the series they count toward), the other samples it publishes each period (load
  balancers' request counters, instance status checks, counts of tasks and instances), the
  kinds whose resources make the period's pass worth running, the handlers of the alarm
  actions it answers (by the action's field: `scalingPolicy`, `instanceAction`), and its step
  in the period; and the metrics its resources read (Prometheus queries are asked each period).
- CloudWatch registers the `MetricReader` (`MetricSource.reader`): a metric's statistics per
  period and raw samples, and why a series has no data, for whoever reads metrics (target
  tracking, predictive scaling). `reader(ctl)` finds it.
- CloudWatch runs the one pass per metrics period (core/periodic.py): it collects, evaluates
  the alarms and runs their actions, then runs every source's `step` with the same `Period`,
  whose `share` lets an action handler and its service's step work on one object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from controller.manifests.metrics import Metric

if TYPE_CHECKING:
    from controller.core.context import Context

T = TypeVar("T")
SeriesKey = tuple[str, str, str]  # (metricName, dimension, value), or ("prometheus", url, query)
Sample = tuple[float, float]  # (epoch seconds, value)
Dimension = tuple[str, str]  # (dimension, value): ("service", "web")


@dataclass(frozen=True)
class Sampled:
    """One running container to sample: its CPU and memory utilization count toward each of
    `series` (e.g. its instance's and its group's), against what it reserves (None: its limit)."""

    host: str
    container: str
    cpus: float | None
    memory_mib: float | None
    series: tuple[Dimension, ...]


@dataclass
class Period:
    """One run of the period's pass: when, whether this is the period's first (collection and
    alarms ran; a service's once-a-period work is due), and what the services share across
    its parts (an alarm's action and the step of the service it invoked)."""

    now: float
    fresh: bool
    shared: dict[type, object] = field(default_factory=dict)

    def share(self, kind: type[T]) -> T:
        """The pass's one `kind()`, made on first use."""
        if kind not in self.shared:
            self.shared[kind] = kind()
        return cast(T, self.shared[kind])


@dataclass(frozen=True)
class AlarmInvocation:
    """An alarm running one of its actions: which alarm, the action's argument (the policy's
    name, or stop/terminate/reboot/recover), and what the alarm saw."""

    alarm: str
    argument: str
    metric: str  # the alarm's metric, as its label shows it
    series: SeriesKey  # the series the alarm watches (an instance action's instance id is [2])
    threshold: float
    comparison: str  # the alarm's comparisonOperator
    value: float | None  # the newest datapoint


@dataclass(frozen=True)
class Statistics:
    """A metric's datapoints over the last complete periods (oldest first; None: missing), and
    why its series has no data at all when it cannot be read."""

    points: list[float | None]
    unavailable: str | None


class MetricReader(Protocol):
    def statistics(
        self, ctl: Context, metric: Metric, statistic: str, period: float, count: int, now: float
    ) -> Statistics:
        """The metric's `statistic` over each of the last `count` complete periods before
        `now`, as CloudWatch's GetMetricStatistics gives them."""
        ...

    def samples(self, ctl: Context, metric: Metric, since: float) -> list[Sample]:
        """The metric's raw samples taken at `since` or later, oldest first."""
        ...


AlarmHandler = Callable[["Context", AlarmInvocation, Period], None]
PeriodStep = Callable[["Context", Period], "float | None"]  # a delay to run again


def _nothing(*_: Any) -> tuple[()]:
    return ()


@dataclass(frozen=True)
class MetricSource:
    """What one service brings to CloudWatch (see the module's docstring)."""

    # Kinds whose resources are measured or evaluated every period: the pass is wanted.
    kinds: tuple[str, ...] = ()
    # Its running containers to sample for CPU and memory.
    containers: Callable[[Context], Iterable[Sampled]] = _nothing
    # Other samples it publishes at `now`; `memory` is its own, kept between passes.
    samples: Callable[[Context, float, dict[str, Any]], Iterable[tuple[SeriesKey, float]]] = (
        _nothing
    )
    # The metrics its resources read (CloudWatch asks the Prometheus queries among them).
    reads: Callable[[Context], Iterable[Metric]] = _nothing
    # Handlers of alarm actions, by the action's field name.
    actions: Mapping[str, AlarmHandler] = field(default_factory=dict)
    # Its part of the period's pass, after the alarms.
    step: PeriodStep | None = None
    # CloudWatch's: reading metrics.
    reader: MetricReader | None = None


def sources(ctl: Context) -> list[tuple[str, MetricSource]]:
    """Every registered metric source, by its domain's name, in the catalog's order."""
    return [(d.name, d.metrics) for d in ctl.catalog.domains if d.metrics is not None]


def reader(ctl: Context) -> MetricReader:
    """The registered metric reader (CloudWatch's)."""
    for _, source in sources(ctl):
        if source.reader is not None:
            return source.reader
    raise LookupError("no metric reader is registered")
