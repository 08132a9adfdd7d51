"""Predictive scaling for Auto Scaling groups, as EC2 Auto Scaling does it: an hourly load
forecast from the group's stored metric history, and the capacity floor that forecast asks for.

Pure: the history and `now` are parameters; no I/O, no clock reads, no randomness. The caller
stores the hourly history, calls `forecast()` (AWS refreshes its forecast every 6 hours; this is
cheap enough to call on every pass) and `capacity_for()`, and takes max(desired, floor).

History: hourly points (hour start, epoch seconds UTC; load for that hour). The load is the
group's total: for ASGCPUUtilization the average CPU % per instance times the InService
instances ("CPU-percent-instances"); for ALBRequestCount the requests in the hour. Hours may be
missing; the hour in progress is ignored (its total is still growing), as are points in the
future, older than 14 days, or with a load that is negative or not finite. Several points in
one hour: the last one wins. Fewer than 24 hourly points: no forecast (AWS needs 24 hours).

The forecast for hour f (f from the current hour to `hours` - 1 hours ahead; hours are counted
from the epoch, so f % 24 is the hour of day and f % 168 the hour of week, both UTC):

    forecast(f) = max(0, S(f) + L)
    S(f) = a * W(f) + (1 - a) * D(f)       (S(f) = D(f) where W(f) has no data)

- D, the daily pattern: the mean load at f's hour of day over the last 7 days; an hour of day
  with no point there takes the older days' mean, else is interpolated (circularly) between the
  nearest hours of day that have one.
- W, the weekly pattern: the mean load at f's hour of week over the previous weeks in the
  14-day window (at most two points: one and two weeks before).
- a, the weekly weight, from a backtest over the past week: each past hour h is predicted by
  the daily rule (mean of h - 24k, k = 1..7) and by the weekly rule (mean of h - 168k); with
  e_D and e_W their mean squared errors, a = e_D / (e_D + e_W): each pattern is weighted by
  the inverse of its error (the classic combination of two forecasts), so the pattern that
  predicted the past week better gets the weight: with two weeks of a weekday/weekend cycle the
  weekly error is about 0 and a about 1. Both errors about 0 (they agree): a = 1/2. Fewer than
  24 backtest hours (under a week and a day of history, so W can be neither checked nor
  levelled): a = 0, the daily pattern alone.
- L, the level: the median, over the last 24 hours (at least 12 points), of load(h) - S'(h),
  where S' is S with the weekly part taken from the weeks before h. It re-levels the seasonal
  shape to the latest day, so a step or a trend is followed without extrapolating it; the
  median ignores a few spiky hours. Under 12 recent points: L = 0.

Capacity: ceil(load / load-per-instance-at-target), where the load per instance at target is
targetValue for ASGCPUUtilization (CPU %) and targetValue * 60 for ALBRequestCount (AWS's
targetValue is requests per instance per minute; the load is per hour). Predictive scaling
never scales in: the result is a floor, the group's effective minimum for that hour.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.autoscaling.models.scaling import PredictiveScaling

HOUR = 3600  # seconds
DAY_HOURS = 24
WEEK_HOURS = 7 * DAY_HOURS
MIN_HISTORY_HOURS = 24  # AWS: at least 24 hours of data
MAX_HISTORY_HOURS = 14 * DAY_HOURS  # AWS: up to the past 14 days
FORECAST_HOURS = 48  # AWS: hourly, for the next 48 hours
DAILY_DAYS = 7  # days the daily pattern averages
LEVEL_HOURS = 24  # the recent window the level is measured over
LEVEL_MIN_POINTS = 12
BACKTEST_MIN_POINTS = 24
MINUTES_PER_HOUR = 60


@dataclass(frozen=True)
class ForecastPoint:
    start: float  # hour start, epoch seconds UTC
    load: float


@dataclass(frozen=True)
class Forecast:
    """Hourly load forecast from the hour containing `now`, with how it was made."""

    points: tuple[ForecastPoint, ...]
    history_hours: int  # hourly points used (within the 14-day window)
    weekly_weight: float  # a in the formula; 0 when the daily pattern is used alone
    level: float  # L in the formula
    reason: str

    def load_at(self, t: float) -> float | None:
        """The forecast load of the hour containing t, or None outside the forecast."""
        if not self.points:
            return None
        i = _hour(t) - _hour(self.points[0].start)
        return self.points[i].load if 0 <= i < len(self.points) else None


@dataclass(frozen=True)
class NoForecast:
    """Why there is no forecast (too little history)."""

    reason: str
    history_hours: int


@dataclass(frozen=True)
class PredictiveDecision:
    """min_capacity: the effective minimum for now (a floor, never a scale-in; None when the
    policy does not scale: ForecastOnly, or no forecast). max_size: the group's maximum, raised
    by IncreaseMaxCapacity (never lowered). forecast_capacity: ceil(load / target) before the
    group's bounds, also in ForecastOnly; None without a forecast."""

    min_capacity: int | None
    max_size: int
    reason: str
    forecast_capacity: int | None = None


def forecast(
    history: Sequence[tuple[float, float]], now: float, hours: int = FORECAST_HOURS
) -> Forecast | NoForecast:
    """The hourly load forecast for `hours` hours from the hour containing `now` (see the module
    docstring for the formula), or NoForecast with the reason."""
    if hours < 1:
        raise ValueError(f"hours must be at least 1, not {hours}")
    current = _hour(now)
    series = _hourly(history, current)
    n = len(series)
    if n < MIN_HISTORY_HOURS:
        return NoForecast(
            f"predictive scaling needs at least {MIN_HISTORY_HOURS} hours of history; "
            f"has {n} hourly point{'s' if n != 1 else ''} in the last 14 days",
            n,
        )
    daily = _daily_pattern(series, current)
    weekly = _weekly_pattern(series)
    alpha, weight_why = _weekly_weight(series, current)

    def seasonal(f: int, w: float | None) -> float:
        d = daily[f % DAY_HOURS]
        return d if w is None else alpha * w + (1 - alpha) * d

    level, level_why = _level(series, current, seasonal)
    points = tuple(
        ForecastPoint(float(f * HOUR), max(0.0, seasonal(f, weekly.get(f % WEEK_HOURS)) + level))
        for f in range(current, current + hours)
    )
    uses_weekly = alpha > 0 and any(
        f % WEEK_HOURS in weekly for f in range(current, current + hours)
    )
    pattern = (
        weight_why if alpha == 0 or uses_weekly else "daily pattern only (no data a week back)"
    )
    return Forecast(
        points=points,
        history_hours=n,
        weekly_weight=alpha if uses_weekly else 0.0,
        level=level,
        reason=f"from {n} hourly points ({n / DAY_HOURS:.1f} days): {pattern}; {level_why}",
    )


def capacity_for(
    spec: PredictiveScaling,
    forecast: Forecast | NoForecast,
    now: float,
    current_desired: int,
    min_size: int,
    max_size: int,
) -> PredictiveDecision:
    """The capacity floor the forecast asks for now: the larger of the current hour's and the
    hour containing now + schedulingBufferTime (so instances launch ahead of the hour).

    The floor is never a scale-in: it may be below current_desired, and the caller takes
    max(desired, floor). It is at least min_size; HonorMaxCapacity caps it at max_size;
    IncreaseMaxCapacity raises the maximum to ceil(capacity * (100 + maxCapacityBuffer) / 100)
    when that exceeds max_size (AWS keeps a raised maximum until someone lowers it)."""
    if isinstance(forecast, NoForecast):
        return PredictiveDecision(None, max_size, f"no forecast: {forecast.reason}")
    ahead = now + spec.scheduling_buffer_time
    covered = [
        (t, load)
        for t in dict.fromkeys((_hour(now) * HOUR, _hour(ahead) * HOUR))
        if (load := forecast.load_at(t)) is not None
    ]
    if not covered:
        return PredictiveDecision(
            None, max_size, f"the forecast does not cover {_when(now)}: it is stale"
        )
    hour, load = max(covered, key=lambda c: c[1])  # a tie keeps the current hour
    per_instance = load_per_instance(spec)
    need = _ceil(load / per_instance)
    what = (
        f"forecast load {load:.6g} for the hour from {_when(hour)} / {per_instance:g} per "
        f"instance at target = {need} instance{'s' if need != 1 else ''}"
    )
    if spec.mode == "ForecastOnly":
        return PredictiveDecision(
            None, max_size, f"ForecastOnly: {what}; not applied", forecast_capacity=need
        )
    floor = max(min_size, need)
    new_max = max_size
    notes = []
    if spec.max_capacity_breach_behavior == "IncreaseMaxCapacity":
        extra = spec.max_capacity_buffer or 0
        buffered = -(-need * (100 + extra) // 100)  # integer ceil
        if buffered > max_size:
            new_max = buffered
            notes.append(
                f"IncreaseMaxCapacity raises maxSize {max_size} -> {new_max} "
                f"(+{extra}% over the forecast)"
            )
    elif floor > max_size:
        notes.append(f"HonorMaxCapacity caps it at maxSize {max_size}")
        floor = max_size
    if need < min_size:
        notes.append(f"minSize {min_size} is higher")
    if floor > current_desired:
        effect = f"raises the floor above desired {current_desired} to {floor}"
    else:
        effect = f"floor {floor} <= desired {current_desired}: a forecast never scales in"
    reason = "; ".join([what, *notes, effect])
    return PredictiveDecision(floor, new_max, reason, forecast_capacity=need)


def load_per_instance(spec: PredictiveScaling) -> float:
    """The hourly load one instance carries at the target: CPU % for ASGCPUUtilization;
    requests per hour for ALBRequestCount, whose targetValue is per minute."""
    if spec.predefined_metric == "ALBRequestCount":
        return spec.target_value * MINUTES_PER_HOUR
    return spec.target_value


def _hour(t: float) -> int:
    """Hours since the epoch of the hour containing t."""
    return math.floor(t / HOUR)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ceil(x: float) -> int:
    """ceil, forgiving float noise: 3.0000000000004 instances is 3."""
    return max(0, math.ceil(round(x, 9)))


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _hourly(history: Sequence[tuple[float, float]], current: int) -> dict[int, float]:
    """Usable points by hour index, within the 14 days before the current hour."""
    series: dict[int, float] = {}
    for t, load in history:
        if not (math.isfinite(t) and math.isfinite(load)) or load < 0:
            continue
        h = _hour(t)
        if current - MAX_HISTORY_HOURS <= h < current:
            series[h] = load
    return series


def _daily_pattern(series: Mapping[int, float], current: int) -> list[float]:
    recent: list[list[float]] = [[] for _ in range(DAY_HOURS)]
    older: list[list[float]] = [[] for _ in range(DAY_HOURS)]
    for h, y in series.items():
        bucket = recent if h >= current - DAILY_DAYS * DAY_HOURS else older
        bucket[h % DAY_HOURS].append(y)
    means = [_mean(r) if r else _mean(o) for r, o in zip(recent, older, strict=True)]
    known = [d for d, m in enumerate(means) if m is not None]  # never empty: >= 24 points
    out: list[float] = []
    for d, m in enumerate(means):
        if m is not None:
            out.append(m)
            continue
        db = min((d - k) % DAY_HOURS for k in known)  # hours back to a known hour of day
        df = min((k - d) % DAY_HOURS for k in known)  # and forward
        vb, vf = means[(d - db) % DAY_HOURS], means[(d + df) % DAY_HOURS]
        assert vb is not None and vf is not None
        out.append((vb * df + vf * db) / (db + df))
    return out


def _weekly_pattern(series: Mapping[int, float]) -> dict[int, float]:
    by_hour: dict[int, list[float]] = {}
    for h, y in series.items():
        by_hour.setdefault(h % WEEK_HOURS, []).append(y)
    return {k: math.fsum(v) / len(v) for k, v in by_hour.items()}


def _back(series: Mapping[int, float], h: int, step: int, count: int) -> float | None:
    """Mean of the points `step`, 2 * `step`, ... `count` * `step` hours before h."""
    return _mean([series[h - k * step] for k in range(1, count + 1) if h - k * step in series])


def _weekly_weight(series: Mapping[int, float], current: int) -> tuple[float, str]:
    err_d = err_w = 0.0
    n = 0
    for h in range(current - WEEK_HOURS, current):
        if h not in series:
            continue
        d = _back(series, h, DAY_HOURS, DAILY_DAYS)
        w = _back(series, h, WEEK_HOURS, 2)
        if d is None or w is None:
            continue
        err_d += (series[h] - d) ** 2
        err_w += (series[h] - w) ** 2
        n += 1
    if n < BACKTEST_MIN_POINTS:
        return 0.0, (
            f"daily pattern only (the weekly pattern needs a week and a day of history to be "
            f"checked: {n} hours to check it on, under {BACKTEST_MIN_POINTS})"
        )
    e_d, e_w = err_d / n, err_w / n  # mean squared errors
    scale = max(series.values())
    if e_d + e_w <= (1e-9 * max(scale, 1.0)) ** 2:
        return 0.5, "daily and weekly patterns agree: weighted equally"
    alpha = e_d / (e_d + e_w)
    return alpha, (
        f"weekly pattern weight {alpha:.2f} (root mean square error over the past week: "
        f"daily {math.sqrt(e_d):.4g}, weekly {math.sqrt(e_w):.4g}, {n} hours)"
    )


def _level(
    series: Mapping[int, float],
    current: int,
    seasonal: Callable[[int, float | None], float],
) -> tuple[float, str]:
    residuals = [
        series[h] - seasonal(h, _back(series, h, WEEK_HOURS, 2))
        for h in range(current - LEVEL_HOURS, current)
        if h in series
    ]
    if len(residuals) < LEVEL_MIN_POINTS:
        return 0.0, (
            f"no level adjustment ({len(residuals)} points in the last {LEVEL_HOURS} hours, "
            f"under {LEVEL_MIN_POINTS})"
        )
    level = statistics.median(residuals)
    return level, f"level {level:+.4g} (median over the last {LEVEL_HOURS} hours)"
