"""Amazon CloudWatch's load history: hourly averages of each metric series, kept
METRIC_HOURS_KEPT hours (the history predictive scaling forecasts from)."""

from __future__ import annotations

import math

from controller.store.connection import Connection

HOUR = 3600
METRIC_HOURS_KEPT = 15 * 24  # predictive scaling forecasts from up to 14 days of load history


class MetricHistory(Connection):
    """Hourly metric averages."""

    def add_metric_sample(self, series: str, t: float, value: float) -> None:
        """Folds `value` into the average of the hour holding `t` (epoch seconds) and drops the
        series' hours more than METRIC_HOURS_KEPT before it."""
        if not math.isfinite(value):
            raise ValueError(f"metric sample for {series} is not a finite number: {value}")
        hour = _hour(t)
        with self._tx() as db:
            db.execute(
                "INSERT INTO metric_hours VALUES (?, ?, ?, 1) ON CONFLICT (series, hour) "
                "DO UPDATE SET sum = sum + excluded.sum, count = count + 1",
                (series, hour, value),
            )
            db.execute(
                "DELETE FROM metric_hours WHERE series = ? AND hour <= ?",
                (series, hour - METRIC_HOURS_KEPT * HOUR),
            )

    def metric_hours(self, series: str, since: float) -> list[tuple[int, float]]:
        """(hour start, average) of the series' hours from the one holding `since`, oldest first."""
        rows = self._rows(
            "SELECT hour, sum / count FROM metric_hours WHERE series = ? AND hour >= ? "
            "ORDER BY hour",
            series,
            _hour(since),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def prune_metric_hours(self, before: float) -> int:
        """Drops every series' hours that ended by `before`; returns how many went."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM metric_hours WHERE hour + ? <= ?", (HOUR, before))
            return cur.rowcount


def _hour(t: float) -> int:
    """The start (epoch seconds) of the hour holding `t`."""
    return int(t // HOUR) * HOUR
