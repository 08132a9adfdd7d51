"""What ELB publishes to CloudWatch (core/metrics.py): per target group, its healthy and
unhealthy targets, and from the data plane's counters RequestCount and
HTTPCode_Target_5XX_Count (since the last pass: their Sum over a period is the period's count),
RequestCountPerTarget (per minute, as AWS's target values are) and TargetResponseTime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.core.metrics import MetricSource, SeriesKey
from controller.dataplane import DataPlaneError

if TYPE_CHECKING:
    from controller.core.context import Context


def _samples(ctl: Context, now: float, memory: dict[str, Any]) -> list[tuple[SeriesKey, float]]:
    """`memory` keeps each group's counters at the last look: (requests, 5xx, when)."""
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
    counters: dict[str, tuple[int, int, float]] = memory.setdefault("counters", {})
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


METRICS = MetricSource(kinds=("TargetGroup",), samples=_samples)
