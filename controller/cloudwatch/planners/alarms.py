"""CloudWatch alarm evaluation for the `Alarm` kind: from raw metric samples to datapoints, from
datapoints to OK / ALARM / INSUFFICIENT_DATA with a StateReason, and from a state change to the
actions to run.

Pure: no I/O and no clock. The caller reads the samples (Docker stats, HAProxy stats, a
Prometheus query), passes `now`, keeps each alarm's state between evaluations and carries out
the actions this module names. It must not read metrics, sleep or run actions itself.

CloudWatch's rules, as its user guide states them ("Configuring how CloudWatch alarms treat
missing data", "Avoiding premature transitions to alarm state", "Alarm actions"):

- A datapoint aggregates one period's samples with the alarm's statistic; periods are aligned
  to multiples of the period, only complete periods count, and a period without samples is a
  missing datapoint.
- CloudWatch reads an *evaluation range* longer than the N evaluation periods. With N or more
  real datapoints in it, the N most recent real ones decide and missing data does not matter.
  With fewer, every real one counts and the gap is filled by treatMissingData: `breaching` and
  `notBreaching` fill it; `missing` and `ignore` judge the real datapoints alone. M breaching
  of the N (datapointsToAlarm of evaluationPeriods) is ALARM, fewer is OK.
- Nothing real in the range: `missing` -> INSUFFICIENT_DATA, `ignore` -> the state is kept,
  `breaching` -> ALARM, `notBreaching` -> OK.
- The premature-alarm rule: with `missing`, an alarm whose real datapoints all breach goes to
  ALARM once the oldest of them is at least M periods old, even with fewer than M of them
  (`ignore` keeps the state instead). A non-breaching datapoint anywhere in the range turns the
  rule off, as the 2-out-of-3 row "0 - X - -" of AWS's table shows.
- An alarm runs the actions of the state it enters, only when its state changes and only with
  actionsEnabled; Auto Scaling actions are invoked again for as long as the state lasts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from controller.cloudwatch.models.alarm import AlarmAction, AlarmSpec
from controller.manifests.metrics import STATISTICS

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
STATES: tuple[AlarmState, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")

# Comparison operator -> (test of a value against the threshold, how a reason says it).
_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
# treatMissingData as CloudWatch's reasons spell it.
_TREATED = {
    "missing": "Missing",
    "ignore": "Ignore",
    "breaching": "Breaching",
    "notBreaching": "NonBreaching",
}


@dataclass(frozen=True)
class AlarmVerdict:
    """The outcome of one evaluation: the state, CloudWatch-style StateReason, how many of the
    evaluated datapoints breach (filled ones included), and the newest real datapoint."""

    state: AlarmState
    reason: str
    breaching: int
    newest: float | None


def breaches(spec: AlarmSpec, value: float) -> bool:
    """Whether one value crosses the alarm's threshold."""
    return bool(_COMPARE[spec.comparison_operator][0](value, spec.threshold))


def evaluation_range(spec: AlarmSpec) -> int:
    """How many datapoints to read for an evaluation: N plus a margin for missing ones.

    AWS does not publish the size; its examples read 5 for N = 3. Skiff reads
    N + max(2, N // 3), which gives those 5.
    """
    n = spec.evaluation_periods
    return n + max(2, n // 3)


def aggregate(values: Iterable[float], statistic: str) -> float:
    """One period's samples reduced by a CloudWatch statistic."""
    vals = list(values)
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}: one of {', '.join(STATISTICS)}")
    if not vals:
        raise ValueError(f"no samples to aggregate with {statistic}")
    if statistic == "Average":
        return math.fsum(vals) / len(vals)
    if statistic == "Sum":
        return math.fsum(vals)
    if statistic == "Maximum":
        return max(vals)
    if statistic == "Minimum":
        return min(vals)
    return float(len(vals))  # SampleCount


def datapoints(
    samples: Sequence[tuple[float, float]],
    statistic: str,
    period: float,
    count: int,
    now: float,
) -> list[float | None]:
    """The last `count` complete periods before `now`, oldest first, one datapoint each.

    A period covers [k * period, (k + 1) * period); a sample exactly on a boundary belongs to the
    period it starts. The period `now` falls in is still open and is left out, as are samples
    from the future. A period without samples is None (missing); NaN samples are dropped, since
    CloudWatch cannot hold them.
    """
    if period <= 0:
        raise ValueError(f"period must be positive, not {period!r}")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count!r}")
    end = math.floor(now / period)  # index of the open period
    first = end - count
    buckets: list[list[float]] = [[] for _ in range(count)]
    for ts, value in samples:
        k = math.floor(ts / period)
        if first <= k < end and not math.isnan(value):
            buckets[k - first].append(value)
    return [aggregate(b, statistic) if b else None for b in buckets]


def evaluate(
    spec: AlarmSpec,
    points: Sequence[float | None],
    previous: str,
    unavailable: str | None = None,
) -> AlarmVerdict:
    """The alarm's state after looking at `points`, its evaluation range (oldest first; None is a
    missing datapoint; fewer than N points count as missing ones before them).

    `previous` is the state before this evaluation (a new alarm starts in INSUFFICIENT_DATA).
    `unavailable`, when given, says why the metric could not be read at all (for example the
    Prometheus server is unreachable): the alarm then goes to INSUFFICIENT_DATA with that reason.
    """
    if previous not in STATES:
        raise ValueError(f"unknown alarm state {previous!r}: one of {', '.join(STATES)}")
    before: AlarmState = previous
    m, n = spec.m_of_n
    breaches, words = _COMPARE[spec.comparison_operator]
    threshold = spec.threshold
    span = max(len(points), n)
    window = [None] * (span - len(points)) + list(points)
    # (age in periods, 1 = newest; value; breaching?), newest first.
    real = [
        (age, v, breaches(v, threshold))
        for age, v in enumerate(reversed(window), start=1)
        if v is not None
    ]
    newest = real[0][1] if real else None
    treat = spec.treat_missing_data

    if unavailable is not None:
        return AlarmVerdict(
            "INSUFFICIENT_DATA", f"Insufficient Data: {_sentence(unavailable)}", 0, newest
        )
    if not real:
        return _nothing_received(treat, span, n, before)

    evaluated = real[:n]
    fill = n - len(evaluated)
    hits = sum(1 for _, _, b in evaluated if b)
    if fill and treat in ("missing", "ignore") and hits < m and _premature(real, m):
        return _premature_verdict(spec, real, before, words)

    breaching = hits + (fill if treat == "breaching" else 0)
    state: AlarmState = "ALARM" if breaching >= m else "OK"
    return AlarmVerdict(state, _crossed(spec, state, before, evaluated, fill), breaching, newest)


def transition_actions(spec: AlarmSpec, old_state: str, new_state: str) -> list[AlarmAction]:
    """The actions for entering `new_state`: alarmActions, okActions or insufficientDataActions,
    only when the state changed and actionsEnabled is on."""
    actions = _actions_for(spec, new_state)
    if old_state == new_state or not spec.actions_enabled:
        return []
    return actions


def sustained_actions(spec: AlarmSpec, state: str) -> list[AlarmAction]:
    """The actions CloudWatch invokes again while the alarm stays in `state`: its Auto Scaling
    (scalingPolicy) actions, once per minute (the caller keeps that cadence); instance actions
    run only on the transition."""
    actions = _actions_for(spec, state)
    if not spec.actions_enabled:
        return []
    return [a for a in actions if a.scaling_policy is not None]


def _actions_for(spec: AlarmSpec, state: str) -> list[AlarmAction]:
    by_state = {
        "ALARM": spec.alarm_actions,
        "OK": spec.ok_actions,
        "INSUFFICIENT_DATA": spec.insufficient_data_actions,
    }
    if state not in by_state:
        raise ValueError(f"unknown alarm state {state!r}: one of {', '.join(STATES)}")
    return list(by_state[state])


def _crossed(
    spec: AlarmSpec,
    state: AlarmState,
    before: AlarmState,
    evaluated: list[tuple[int, float, bool]],
    fill: int,
) -> str:
    """CloudWatch's "Threshold Crossed" reason: how many of the evaluated datapoints (listed
    newest first) are on the side of the threshold that decided `state`."""
    m, n = spec.m_of_n
    treat = spec.treat_missing_data
    words = _COMPARE[spec.comparison_operator][1]
    threshold = _num(spec.threshold)
    filled_hits = fill if treat == "breaching" else 0
    filled_good = fill if treat == "notBreaching" else 0
    total = len(evaluated) + filled_hits + filled_good
    hits = sum(1 for _, _, b in evaluated if b)
    treated = ""
    if fill:
        treated = (
            f"; {_count(fill, 'missing datapoint')} {_was(fill)} treated as [{_TREATED[treat]}]"
        )
    real_only = bool(fill) and treat in ("missing", "ignore")
    if state == "ALARM":
        shown = [_num(v) for _, v, b in evaluated if b] + ["missing"] * filled_hits
        count, relation, minimum = hits + filled_hits, words, m
    elif real_only and hits:
        # OK because too few of the real datapoints breach: say which did.
        listed = ", ".join(_num(v) for _, v, _ in evaluated)
        return (
            f"Threshold Crossed: {hits} out of the last {total} datapoints [{listed}] "
            f"{_was(hits)} {words} the threshold ({threshold}), fewer than the "
            f"{_count(m, 'datapoint')} needed for ALARM{treated}."
        )
    else:
        shown = [_num(v) for _, v, b in evaluated if not b] + ["missing"] * filled_good
        count, relation, minimum = len(shown), f"not {words}", n - m + 1
    transition = ""
    if not (state == "OK" and real_only):
        transition = (
            f" (minimum {_count(minimum, 'datapoint')} for {_source(before, state)} -> {state} "
            "transition)"
        )
    return (
        f"Threshold Crossed: {count} out of the last {total} datapoints [{', '.join(shown)}] "
        f"{_was(count)} {relation} the threshold ({threshold}){treated}{transition}."
    )


def _premature(real: list[tuple[int, float, bool]], m: int) -> bool:
    """Every real datapoint in the range breaches and the oldest is at least M periods old."""
    return all(b for _, _, b in real) and real[-1][0] >= m


def _premature_verdict(
    spec: AlarmSpec, real: list[tuple[int, float, bool]], before: AlarmState, words: str
) -> AlarmVerdict:
    m, n = spec.m_of_n
    count = len(real)
    listed = ", ".join(_num(v) for _, v, _ in real)
    claim = (
        f"{count} out of the last {count} datapoints [{listed}] {_was(count)} {words} the "
        f"threshold ({_num(spec.threshold)}), the oldest {_count(real[-1][0], 'period')} ago; "
        f"{_count(n - count, 'missing datapoint')} {_was(n - count)} treated as "
        f"[{_TREATED[spec.treat_missing_data]}]"
    )
    if spec.treat_missing_data == "ignore":
        return AlarmVerdict(before, f"Alarm state {before} kept: {claim}.", count, real[0][1])
    reason = (
        f"Threshold Crossed: {claim} (minimum {_count(m, 'datapoint')} for "
        f"{_source(before, 'ALARM')} -> ALARM transition)."
    )
    return AlarmVerdict("ALARM", reason, count, real[0][1])


def _nothing_received(treat: str, span: int, n: int, before: AlarmState) -> AlarmVerdict:
    received = f"no datapoints were received for {_count(span, 'period')}"
    treated = f"{_count(n, 'missing datapoint')} {_was(n)} treated as [{_TREATED[treat]}]"
    if treat == "missing":
        return AlarmVerdict(
            "INSUFFICIENT_DATA", f"Insufficient Data: {received} and {treated}.", 0, None
        )
    if treat == "ignore":
        reason = f"Alarm state {before} kept: {received} and missing data is treated as [Ignore]."
        return AlarmVerdict(before, reason, 0, None)
    if treat == "breaching":
        return AlarmVerdict("ALARM", f"Threshold Crossed: {received} and {treated}.", n, None)
    return AlarmVerdict("OK", f"Threshold Crossed: {received} and {treated}.", 0, None)


def _source(before: AlarmState, state: AlarmState) -> AlarmState:
    """The state a reason names as the transition's origin: the previous one, or for an alarm
    that stays where it was, the state it would have left."""
    if before != state:
        return before
    return "OK" if state == "ALARM" else "ALARM"


def _num(value: float) -> str:
    return repr(float(value))


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def _was(k: int) -> str:
    return "was" if k == 1 else "were"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
