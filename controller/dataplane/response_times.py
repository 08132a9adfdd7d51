"""Target response times as the data plane hands them over: per target group, a weighted
histogram (each bucket's count, the count and the sum) of the requests since the last take,
on the buckets Prometheus exposes (telemetry's `skiff_target_group_response_time_seconds`).

A logged request may stand for several: above a listener's sampling rate HAProxy logs 1 in N
requests, each with weight N (haproxy_config.SAMPLING), so each adds N to its bucket and to
the count, and N times its time to the sum. Memory is one small tally per group, whatever the
rate. HAProxy measures in whole milliseconds, so the tally does too (its sum is exact).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

# Upper bounds (seconds) of the histogram's buckets; a last one, +Inf, holds the rest.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BOUNDS_MS = tuple(b * 1000 for b in BUCKETS)


@dataclass(slots=True)
class ResponseTimes:
    """One target group's weighted response times: `buckets[i]` requests took at most
    BUCKETS[i] (and more than the bound before; the last, beyond every bound), `count`
    requests in all, `sum_ms` milliseconds in all."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    count: int = 0
    sum_ms: int = 0

    def add(self, ms: int, weight: int = 1) -> None:
        """`weight` requests that took `ms` milliseconds (HAProxy's Tr)."""
        self.buckets[bisect_left(_BOUNDS_MS, ms)] += weight
        self.count += weight
        self.sum_ms += ms * weight

    @property
    def sum(self) -> float:
        """Seconds, in all."""
        return self.sum_ms / 1000


def tally(*times: tuple[int, int]) -> ResponseTimes:
    """A tally of (milliseconds, weight) pairs: for tests and fakes."""
    out = ResponseTimes()
    for ms, weight in times:
        out.add(ms, weight)
    return out
