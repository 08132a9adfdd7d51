"""CloudWatch's `MetricReader` (core/metrics.py): what other services read of the metrics it
keeps, as GetMetricStatistics gives them: a metric's datapoints per period (with why its series
has no data, when it cannot be read) and its raw samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.cloudwatch.planners.alarms import datapoints
from controller.cloudwatch.sync.collect import monitor, series_of
from controller.core.metrics import Sample, Statistics
from controller.manifests.metrics import Metric

if TYPE_CHECKING:
    from controller.core.context import Context


class Reader:
    def statistics(
        self, ctl: Context, metric: Metric, statistic: str, period: float, count: int, now: float
    ) -> Statistics:
        key = series_of(metric, ctl)
        state = monitor(ctl)
        with state.lock:
            samples = state.history.samples(key, now - period * (count + 1))
            unavailable = state.unavailable.get(key)
        return Statistics(datapoints(samples, statistic, period, count, now), unavailable)

    def samples(self, ctl: Context, metric: Metric, since: float) -> list[Sample]:
        key = series_of(metric, ctl)
        state = monitor(ctl)
        with state.lock:
            return state.history.samples(key, since)


READER = Reader()
