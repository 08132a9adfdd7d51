"""The daemon's stop as a pass sees it: a signal set once when the stop begins, thread pools that
refuse new work with `Stopped` once shut down, and a wait for a batch of calls that the stop
cuts short.

Controller.stop orders the stop (the signal, then the passes, then the pools); nothing here shuts
anything down of its own accord or decides what a pass does when it is told to stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from controller.core.outcomes import Stopped

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class StopSignal:
    """Set once, when the daemon begins to stop. Waits that should not hold the stop up wait on
    it beside what they wait for."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._set = False

    def set(self) -> None:
        with self._cond:
            self._set = True
            self._cond.notify_all()

    def is_set(self) -> bool:
        return self._set

    def check(self) -> None:
        """Raises Stopped once the signal is set: a pass ends here, between two steps."""
        if self._set:
            raise Stopped("the daemon is stopping")

    def wait_all(self, futures: list[Future[T]]) -> bool:
        """Waits until every future is done (True), or the signal is set (False)."""
        left = len(futures)

        def one_done(_: Future[T]) -> None:
            nonlocal left
            with self._cond:
                left -= 1
                if not left:
                    self._cond.notify_all()

        for f in futures:
            f.add_done_callback(one_done)  # runs at once, here, for a future already done
        with self._cond:
            self._cond.wait_for(lambda: not left or self._set)
            return not left


class StoppablePool(ThreadPoolExecutor):
    """A thread pool that, once shut down, refuses work with Stopped: a pass that meets it ends
    quietly instead of failing on "cannot schedule new futures after shutdown"."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._closed:
            raise Stopped("the daemon is stopping")
        try:
            return super().submit(fn, *args, **kwargs)
        except RuntimeError:
            if self._closed:  # shut down between the check and the submit
                raise Stopped("the daemon is stopping") from None
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        super().shutdown(wait, cancel_futures=cancel_futures)


def gather(
    pool: ThreadPoolExecutor, call: Callable[[T], R], items: Iterable[T], stop: StopSignal
) -> list[R]:
    """`call` on every item on `pool`, the results in the items' order, as pool.map gives them;
    but a stop ends the wait at once with Stopped: the calls not begun are cancelled, those
    under way are left to end on their own. For reads only, whose results a stopping daemon
    has no use for."""
    stop.check()
    futures = [pool.submit(call, item) for item in items]
    if not stop.wait_all(futures):
        for f in futures:
            f.cancel()
        raise Stopped("the daemon is stopping")
    return [f.result() for f in futures]
