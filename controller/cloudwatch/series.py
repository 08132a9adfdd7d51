"""`MetricHistory`: recent samples per series, in memory, bounded in age and count.

Collectors add samples as they take them and alarm evaluation and the API read them from other
threads, so every method holds one lock. Pure: no clock (age is measured against the newest
sample ever added, or against the `now` given to `prune`), no I/O.

A day of samples is kept (a few a minute per container), so a series is two arrays of doubles,
times and values: 16 bytes a sample, where a list of (time, value) tuples takes about 100.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Callable, Hashable
from typing import Any

Sample = tuple[float, float]  # (epoch seconds, value)
KeyMatch = tuple[Any, ...] | Callable[[Hashable], bool]


class _Series:
    """One series' samples in time order: times and values side by side."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times = array("d")
        self.values = array("d")

    def __len__(self) -> int:
        return len(self.times)

    def add(self, t: float, value: float) -> None:
        """In time order; a late sample goes after those of the same time."""
        if not self.times or t >= self.times[-1]:
            self.times.append(t)
            self.values.append(value)
        else:
            at = bisect.bisect_right(self.times, t)
            self.times.insert(at, t)
            self.values.insert(at, value)

    def between(self, start: int, end: int) -> list[Sample]:
        return list(zip(self.times[start:end], self.values[start:end], strict=True))

    def drop_first(self, count: int) -> None:
        del self.times[:count]
        del self.values[:count]


class MetricHistory:
    """Samples per series key (any hashable; usually a tuple of strings such as
    ("CPUUtilization", "AutoScalingGroup", "web")), kept in time order.

    A series keeps samples no older than `max_age` seconds before the newest sample the store
    has seen, and at most `max_samples` of them (the oldest go first). A series that stops
    receiving samples keeps its last ones until `prune` or `forget` removes them.
    """

    def __init__(self, max_age: float, max_samples: int = 10_000) -> None:
        if max_age <= 0 or max_samples <= 0:
            raise ValueError("max_age and max_samples must be positive")
        self.max_age, self.max_samples = max_age, max_samples
        self._series: dict[Hashable, _Series] = {}
        self._newest = float("-inf")
        self._lock = threading.Lock()

    def add(self, key: Hashable, t: float, value: float) -> None:
        """Records `value` at time `t`; a late sample is put in its place, one older than the
        age bound is dropped."""
        with self._lock:
            self._newest = max(self._newest, t)
            horizon = self._newest - self.max_age
            if t < horizon:
                return
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.add(t, value)
            self._trim(series, horizon)

    def samples(
        self, key: Hashable, since: float = float("-inf"), until: float | None = None
    ) -> list[Sample]:
        """The series' samples with since <= t (and t < until when given), oldest first."""
        with self._lock:
            found = self._series.get(key)
            if found is None:
                return []
            start = bisect.bisect_left(found.times, since)
            end = len(found) if until is None else bisect.bisect_left(found.times, until)
            return found.between(start, end)

    def latest(self, key: Hashable) -> Sample | None:
        with self._lock:
            found = self._series.get(key)
            return (found.times[-1], found.values[-1]) if found else None

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._series)

    def forget(self, match: KeyMatch) -> int:
        """Drops every series whose key starts with the tuple `match` (a key prefix, e.g. all
        series of one container) or, given a function, for which it returns True. Returns how
        many series went."""
        with self._lock:
            gone = [k for k in self._series if _matches(k, match)]
            for k in gone:
                del self._series[k]
            return len(gone)

    def prune(self, now: float) -> int:
        """Drops samples older than `now - max_age` from every series, and series left empty;
        returns how many samples went."""
        with self._lock:
            self._newest = max(now, self._newest)
            horizon = self._newest - self.max_age
            dropped = 0
            for key, series in list(self._series.items()):
                dropped += self._trim(series, horizon)
                if not series:
                    del self._series[key]
            return dropped

    def _trim(self, series: _Series, horizon: float) -> int:
        cut = max(bisect.bisect_left(series.times, horizon), len(series) - self.max_samples)
        if cut > 0:
            series.drop_first(cut)
        return max(cut, 0)


def _matches(key: Hashable, match: KeyMatch) -> bool:
    if isinstance(match, tuple):
        return isinstance(key, tuple) and key[: len(match)] == match
    return bool(match(key))
