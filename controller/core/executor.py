"""The writer's machinery every service's executor shares: a batch of Docker writes run in
parallel on the daemon's pool, each failure kept apart (Docker's, the store's, or a Retry),
so one broken resource never hides the others' outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from controller.core.outcomes import Retry
from controller.runtime import RuntimeFailure
from controller.store import StoreFailure

PORT_ATTEMPTS = 4  # launches on new ports after Docker found a chosen host port taken
T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    message: str
    transient: bool
    # Tidying what no longer runs (a stopped task's containers): reported and tried again at
    # the next resync, but no task runs less for it, so its resource is not unsteady or failed.
    cleanup: bool = False


def run_each(
    pool: ThreadPoolExecutor, items: Sequence[T], job: Callable[[T], None]
) -> list[Failure]:
    """Runs `job` on every item, in parallel on `pool`; returns the failures (Docker's, the
    store's, or a Retry a job raised), each item's independent of the others'."""

    def guarded(item: T) -> Failure | None:
        try:
            job(item)
            return None
        except RuntimeFailure as exc:
            return Failure(str(exc), exc.transient)
        except (Retry, StoreFailure) as exc:
            return Failure(str(exc), True)

    if not items:
        return []
    # One item runs inline: no hop through the pool for the common single action.
    results = [guarded(items[0])] if len(items) == 1 else list(pool.map(guarded, items))
    return [f for f in results if f is not None]
