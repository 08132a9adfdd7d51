"""The work queue: dedupe, one worker per key, delays, per-key backoff and the retry bucket.

Time is a fake clock advanced by hand; get(timeout=0) then says what is ready right now.
Only the shutdown and concurrency tests use real threads, each with a bounded join.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.core.workqueue import Backoff, TokenBucket, WorkQueue
from tests.support.builders import FakeClock


def make_queue(
    clock: FakeClock,
    *,
    base: float = 0.1,
    cap: float = 1.0,
    rate: float = 1000.0,
    burst: int = 1000,
    on_depth=None,
) -> WorkQueue[str]:
    return WorkQueue(
        clock=clock,
        backoff=Backoff(base=base, cap=cap),
        bucket=TokenBucket(rate=rate, burst=burst, clock=clock),
        on_depth=on_depth,
    )


def ready_keys(q: WorkQueue[str]) -> list[str]:
    """Takes every key that is ready now, marking each done."""
    keys = []
    while (item := q.get(timeout=0)) is not None:
        keys.append(item[0])
        q.done(item[0])
    return keys


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def q(clock: FakeClock) -> WorkQueue[str]:
    return make_queue(clock)


# --- dedupe, order, one worker per key ---------------------------------------------------------


def test_get_returns_none_when_nothing_is_ready(q: WorkQueue[str]) -> None:
    assert q.get(timeout=0) is None


def test_a_key_added_twice_is_handed_out_once(q: WorkQueue[str]) -> None:
    q.add("web")
    q.add("web")
    assert len(q) == 1
    assert ready_keys(q) == ["web"]


def test_distinct_keys_come_out_in_the_order_they_were_added(q: WorkQueue[str]) -> None:
    for key in ["c", "a", "b", "a", "c"]:
        q.add(key)
    assert ready_keys(q) == ["c", "a", "b"]


@given(st.lists(st.sampled_from("abcdefgh"), max_size=30))
def test_any_sequence_of_adds_yields_each_key_once_in_first_added_order(keys: list[str]) -> None:
    q = make_queue(FakeClock())
    for key in keys:
        q.add(key)
    assert ready_keys(q) == list(dict.fromkeys(keys))


def test_a_key_added_while_processing_is_handed_out_again_only_after_done(
    q: WorkQueue[str],
) -> None:
    q.add("web")
    key, _ = q.get(timeout=0)
    q.add("web")  # changed while a worker has it
    assert q.get(timeout=0) is None, "must not reach a second worker while the first has it"
    assert len(q) == 0
    q.done(key)
    item = q.get(timeout=0)
    assert item is not None and item[0] == "web"


def test_done_without_a_new_add_does_not_hand_the_key_out_again(q: WorkQueue[str]) -> None:
    q.add("web")
    key, _ = q.get(timeout=0)
    q.done(key)
    assert q.get(timeout=0) is None


def test_other_keys_are_handed_out_while_one_is_processing(q: WorkQueue[str]) -> None:
    q.add("web")
    q.add("api")
    web, _ = q.get(timeout=0)
    q.add("web")
    api, _ = q.get(timeout=0)
    assert (web, api) == ("web", "api")
    assert q.get(timeout=0) is None


def test_get_reports_how_long_the_key_waited_since_it_was_first_added(
    clock: FakeClock, q: WorkQueue[str]
) -> None:
    q.add("web")
    clock.advance(2.0)
    q.add("web")  # a duplicate does not reset the wait
    clock.advance(1.5)
    assert q.get(timeout=0) == ("web", pytest.approx(3.5))


def test_idle_means_nothing_queued_and_nothing_processing(
    clock: FakeClock, q: WorkQueue[str]
) -> None:
    assert q.idle()
    q.add("web")
    assert not q.idle()
    key, _ = q.get(timeout=0)
    assert not q.idle(), "a key being processed is not idle"
    q.done(key)
    assert q.idle()
    q.add_after("web", 5.0)
    assert q.idle(), "delayed keys do not count"
    clock.advance(5.0)
    assert not q.idle()


# --- delayed adds --------------------------------------------------------------------------------


def test_add_after_is_not_ready_before_its_time_and_ready_after(
    clock: FakeClock, q: WorkQueue[str]
) -> None:
    q.add_after("web", 5.0)
    assert q.get(timeout=0) is None
    clock.advance(4.9)
    assert q.get(timeout=0) is None
    clock.advance(0.1)
    assert ready_keys(q) == ["web"]


def test_add_after_with_no_delay_is_ready_at_once(q: WorkQueue[str]) -> None:
    q.add_after("web", 0)
    q.add_after("api", -1.0)
    assert ready_keys(q) == ["web", "api"]


def test_delayed_keys_become_ready_in_due_order(clock: FakeClock, q: WorkQueue[str]) -> None:
    q.add_after("late", 3.0)
    q.add_after("early", 1.0)
    q.add_after("middle", 2.0)
    clock.advance(10.0)
    assert ready_keys(q) == ["early", "middle", "late"]


def test_a_delayed_key_that_is_already_queued_is_not_duplicated(
    clock: FakeClock, q: WorkQueue[str]
) -> None:
    q.add("web")
    q.add_after("web", 1.0)
    clock.advance(1.0)
    assert ready_keys(q) == ["web"]


def test_a_delayed_key_due_while_processing_waits_for_done(
    clock: FakeClock, q: WorkQueue[str]
) -> None:
    q.add("web")
    key, _ = q.get(timeout=0)
    q.add_after(key, 1.0)
    clock.advance(1.0)
    assert q.get(timeout=0) is None
    q.done(key)
    assert ready_keys(q) == ["web"]


# --- retries: per-key backoff and the global bucket -----------------------------------------------


def test_backoff_doubles_per_failure_up_to_the_cap(q: WorkQueue[str]) -> None:
    delays = [q.add_rate_limited("web") for _ in range(7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert q.requeues("web") == 7


def test_forget_resets_the_backoff(q: WorkQueue[str]) -> None:
    for _ in range(3):
        q.add_rate_limited("web")
    q.forget("web")
    assert q.requeues("web") == 0
    assert q.add_rate_limited("web") == pytest.approx(0.1)


def test_backoff_is_kept_per_key(q: WorkQueue[str]) -> None:
    q.add_rate_limited("web")
    q.add_rate_limited("web")
    assert q.add_rate_limited("api") == pytest.approx(0.1)
    q.forget("api")
    assert q.requeues("web") == 2


def test_a_rate_limited_key_becomes_ready_after_its_backoff(clock: FakeClock) -> None:
    q = make_queue(clock, base=0.25, cap=10.0)  # binary-exact delays: 0.25, 0.5, ...
    assert q.add_rate_limited("web") == 0.25
    clock.advance(0.125)
    assert ready_keys(q) == []
    clock.advance(0.125)
    assert ready_keys(q) == ["web"]
    assert q.add_rate_limited("web") == 0.5
    clock.advance(0.25)
    assert ready_keys(q) == []
    clock.advance(0.25)
    assert ready_keys(q) == ["web"]


def test_the_token_bucket_delays_retries_once_the_burst_is_spent(clock: FakeClock) -> None:
    q = make_queue(clock, base=0.001, cap=60.0, rate=2.0, burst=3)
    delays = [q.add_rate_limited(f"svc-{i}") for i in range(4)]
    assert delays[:3] == pytest.approx([0.001] * 3), "within the burst, only the backoff counts"
    assert delays[3] == pytest.approx(0.5), "one token short at 2 tokens/s"


def test_the_token_bucket_refills_over_time(clock: FakeClock) -> None:
    q = make_queue(clock, base=0.001, cap=60.0, rate=2.0, burst=2)
    q.add_rate_limited("a")
    q.add_rate_limited("b")
    clock.advance(10.0)  # refills to the burst, not beyond
    assert q.add_rate_limited("c") == pytest.approx(0.001)
    assert q.add_rate_limited("d") == pytest.approx(0.001)
    assert q.add_rate_limited("e") == pytest.approx(0.5)


def test_the_token_bucket_keeps_delaying_retries_while_it_is_in_debt(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    delays = [bucket.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 1.0, 2.0, 3.0])  # actual: [0, 0, 1.0, 0, 0]


def test_a_key_that_keeps_failing_stays_at_the_cap(q: WorkQueue[str]) -> None:
    for _ in range(1100):
        delay = q.add_rate_limited("web")
    assert delay == pytest.approx(1.0)


# --- depth, shutdown, threads --------------------------------------------------------------------


def test_the_depth_callback_reports_the_queue_length(clock: FakeClock) -> None:
    depths: list[int] = []
    q = make_queue(clock, on_depth=depths.append)
    q.add("a")
    q.add("b")
    q.add("a")  # deduped: no report
    assert depths == [1, 2]
    key, _ = q.get(timeout=0)
    assert depths[-1] == 1 == len(q)
    q.add(key)  # while processing: not queued yet
    assert depths[-1] == 1
    q.done(key)
    assert depths[-1] == 2 == len(q)
    q.add_after("c", 1.0)
    clock.advance(1.0)
    q.get(timeout=0)  # promotes "c" then hands out "b"
    assert depths[-1] == len(q) == 2


def test_after_shutdown_adds_are_ignored_and_get_returns_none(q: WorkQueue[str]) -> None:
    q.add("queued")
    q.shutdown()
    q.add("late")
    q.add_after("later", 0.0)
    assert q.get(timeout=0) == ("queued", pytest.approx(0.0)), "already queued keys still drain"
    q.done("queued")
    assert q.get(timeout=0) is None
    assert q.get() is None, "no timeout: must not block after shutdown"


@pytest.mark.parametrize("delayed", [False, True], ids=["empty", "with-a-delayed-key"])
def test_shutdown_wakes_a_blocked_get(delayed: bool) -> None:
    q: WorkQueue[str] = WorkQueue()  # real clock: the getter really blocks
    if delayed:
        q.add_after("web", 60.0)
    result: list[object] = []
    blocked = threading.Event()

    def worker() -> None:
        blocked.set()
        result.append(q.get())

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    assert blocked.wait(2.0)
    time.sleep(0.05)  # let it reach the wait
    q.shutdown()
    t.join(timeout=2.0)
    assert not t.is_alive(), "shutdown did not wake get()"
    assert result == [None]


def test_get_with_a_real_timeout_returns_none_when_nothing_arrives() -> None:
    q: WorkQueue[str] = WorkQueue()
    started = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert 0.04 <= time.monotonic() - started < 2.0


def test_a_blocked_get_is_woken_by_an_add_from_another_thread() -> None:
    q: WorkQueue[str] = WorkQueue()
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(q.get(timeout=5.0)), daemon=True)
    t.start()
    time.sleep(0.02)
    q.add("web")
    t.join(timeout=2.0)
    assert not t.is_alive()
    assert result and result[0][0] == "web"


def test_several_workers_never_process_the_same_key_at_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    keys = [f"k{i}" for i in range(4)]
    lock = threading.Lock()
    active: set[str] = set()
    overlaps: list[str] = []
    processed: dict[str, int] = dict.fromkeys(keys, 0)

    def worker() -> None:
        while (item := q.get(timeout=5.0)) is not None:
            key = item[0]
            with lock:
                if key in active:
                    overlaps.append(key)
                active.add(key)
            time.sleep(0.0002)
            with lock:
                active.discard(key)
                processed[key] += 1
            q.done(key)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
    for w in workers:
        w.start()
    for i in range(600):
        q.add(keys[i % len(keys)])
        if i % 50 == 0:
            time.sleep(0.001)
    deadline = time.monotonic() + 5.0
    while not q.idle() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert q.idle(), "workers did not drain the queue"
    q.shutdown()
    for w in workers:
        w.join(timeout=2.0)
    assert not any(w.is_alive() for w in workers)
    assert overlaps == []
    assert all(n >= 1 for n in processed.values())
