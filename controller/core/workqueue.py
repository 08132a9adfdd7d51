"""A work queue of resource keys, after client-go's: deduplicated, one worker per key at a time,
delayed adds, per-key exponential backoff and a global token bucket for retries.

The clock is a parameter, so tests drive time by hand and never sleep.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class Backoff:
    """Per-key exponential backoff: base * 2^failures, capped."""

    base: float = 0.05
    cap: float = 60.0
    failures: dict[Hashable, int] = field(default_factory=dict)

    def next_delay(self, key: Hashable) -> float:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        return min(self.cap, self.base * 2.0 ** min(n, 62))  # 2**62 is past any cap

    def forget(self, key: Hashable) -> None:
        self.failures.pop(key, None)


@dataclass
class TokenBucket:
    """A global limit on retries: `rate` tokens a second, up to `burst` saved."""

    rate: float = 10.0
    burst: int = 100
    clock: Callable[[], float] = time.monotonic
    _tokens: float = 0.0
    _last: float | None = None

    def reserve(self) -> float:
        """Takes a token; returns how long to wait before using it."""
        now = self.clock()
        if self._last is None:  # first use: the bucket starts full
            self._tokens, self._last = float(self.burst), now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue(Generic[K]):
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        bucket: TokenBucket | None = None,
        on_depth: Callable[[int], None] | None = None,
        on_add: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._bucket = bucket or TokenBucket(clock=clock)
        self._on_depth = on_depth or (lambda depth: None)
        self._on_add = on_add or (lambda: None)
        self._cond = threading.Condition()
        self._queue: list[K] = []
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._seq = 0
        self._added_at: dict[K, float] = {}
        self._shutdown = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def add(self, key: K) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self._on_add()
        self._added_at.setdefault(key, self._clock())
        if key not in self._processing:
            self._queue.append(key)
            self._on_depth(len(self._queue))
            self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._delayed, (self._clock() + delay, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> float:
        """Requeues after an error; returns the delay chosen."""
        with self._cond:
            delay = max(self._backoff.next_delay(key), self._bucket.reserve())
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded (or its input changed): its backoff starts over."""
        with self._cond:
            self._backoff.forget(key)

    def requeues(self, key: K) -> int:
        with self._cond:
            return self._backoff.failures.get(key, 0)

    def _promote_due(self) -> float | None:
        """Moves due delayed keys to the queue; returns seconds until the next one is due."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key)
        return self._delayed[0][0] - now if self._delayed else None

    def get(self, timeout: float | None = None) -> tuple[K, float] | None:
        """Blocks for the next key; returns (key, seconds it waited) or None on timeout/shutdown.

        The caller must call done(key) when finished with it.
        """
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                next_due = self._promote_due()
                if self._queue:
                    key = self._queue.pop(0)
                    self._on_depth(len(self._queue))
                    self._dirty.discard(key)
                    self._processing.add(key)
                    waited = self._clock() - self._added_at.pop(key, self._clock())
                    return key, waited
                if self._shutdown:
                    return None
                wait = next_due
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._on_depth(len(self._queue))
            self._cond.notify_all()  # a getter, or someone waiting for the keys in hand

    def wait_processed(self, timeout: float) -> bool:
        """Waits until no key is being processed (after shutdown no new one starts); False if
        one still is after `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._processing, timeout)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (delayed keys do not count)."""
        with self._cond:
            self._promote_due()
            return not self._queue and not self._processing
