"""MetricHistory: samples per series in time order, bounded by age and count, safe across
threads."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from controller.cloudwatch.series import MetricHistory

CPU = ("CPUUtilization", "AutoScalingGroup", "web")
MEM = ("MemoryUtilization", "AutoScalingGroup", "web")


def test_samples_come_back_in_time_order_from_since() -> None:
    h = MetricHistory(max_age=600)
    for t, v in [(10, 1.0), (20, 2.0), (40, 4.0), (30, 3.0)]:  # one arrives late
        h.add(CPU, t, v)
    assert h.samples(CPU, since=0) == [(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]
    assert h.samples(CPU, since=20) == [(20, 2.0), (30, 3.0), (40, 4.0)]
    assert h.samples(CPU, since=20, until=40) == [(20, 2.0), (30, 3.0)]
    assert h.samples(CPU) == h.samples(CPU, since=0)
    assert h.latest(CPU) == (40, 4.0)


def test_an_unknown_series_is_empty() -> None:
    h = MetricHistory(max_age=60)
    assert h.samples(CPU, since=0) == []
    assert h.latest(CPU) is None
    assert h.keys() == []


def test_samples_older_than_max_age_before_the_newest_are_dropped() -> None:
    h = MetricHistory(max_age=100)
    for t in range(0, 301, 50):
        h.add(CPU, t, float(t))
    assert [t for t, _ in h.samples(CPU, since=0)] == [200, 250, 300]
    h.add(CPU, 150, 1.0)  # arrives after its window closed
    assert [t for t, _ in h.samples(CPU, since=0)] == [200, 250, 300]


def test_a_series_keeps_at_most_max_samples_newest_first() -> None:
    h = MetricHistory(max_age=10_000, max_samples=3)
    for t in range(10):
        h.add(CPU, t, float(t))
    assert h.samples(CPU, since=0) == [(7, 7.0), (8, 8.0), (9, 9.0)]


def test_prune_ages_out_series_that_stopped_receiving_samples() -> None:
    h = MetricHistory(max_age=100)
    h.add(MEM, 0, 1.0)
    h.add(CPU, 0, 1.0)
    h.add(CPU, 90, 2.0)
    assert h.prune(now=150) == 2
    assert h.keys() == [CPU]
    assert h.samples(CPU, since=0) == [(90, 2.0)]


def test_forget_by_key_prefix_and_by_predicate() -> None:
    h = MetricHistory(max_age=60)
    keys = [CPU, MEM, ("CPUUtilization", "Service", "api"), "plain-string-key"]
    for k in keys:
        h.add(k, 1, 1.0)
    assert h.forget(("CPUUtilization",)) == 2
    assert set(h.keys()) == {MEM, "plain-string-key"}
    assert h.forget(lambda k: k == "plain-string-key") == 1
    assert h.keys() == [MEM]
    assert h.forget(("Nothing",)) == 0


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MetricHistory(max_age=0)
    with pytest.raises(ValueError):
        MetricHistory(max_age=10, max_samples=0)


def test_concurrent_writers_and_readers_lose_nothing() -> None:
    h = MetricHistory(max_age=1e9, max_samples=1_000_000)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(2000):
                h.add(("s", str(n % 2)), float(i * 8 + n), 1.0)
                h.samples(("s", "0"), since=0)
                h.keys()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for s in ("0", "1"):
        times = [t for t, _ in h.samples(("s", s), since=0)]
        assert len(times) == 8000 and times == sorted(times)


def test_a_day_of_samples_costs_about_16_bytes_each() -> None:
    # The daemon keeps a day of samples, a few a minute per container: as (time, value)
    # tuples that was about 100 bytes a sample, RSS that grew all day.
    h = MetricHistory(max_age=86400, max_samples=86400)
    tracemalloc.start()
    try:
        for t in range(86400):
            h.add(CPU, float(t), t / 7)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(h.samples(CPU)) == 86400
    assert held / 86400 < 20
