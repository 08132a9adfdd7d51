"""Retention: the one pass that prunes the store of what it keeps only for a while, as AWS keeps
history for a while (finished Batch jobs 7 days, scaling activities 6 weeks) and forgets deleted
resources.

Each domain registers what it prunes (`Domain.retention`, a `Retention` rule each); the core
registers its own rule here: what was last told of a condition (the `told` table) on a resource
that no longer exists. The pass runs when the daemon starts and then once every EVERY seconds
(an hour), or a tenth of the shortest retention period when that is shorter, so a record is
never kept much past its period; never on every resync. A rule removes at most BATCH records
per call, each call one short store transaction, so the pass never holds the store for long; it
makes no Docker call. The history of actions (the `events` table) needs no rule of its own: it
keeps the last EVENTS_KEPT events (store/events.py), and the events of a pruned job go with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from controller.core.registry import Domain, Pass, Retention
from controller.core.settings import Settings
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

log = structlog.get_logger("skiff")

PASS: ResourceKey = ("Retention", "*")
EVERY = 3600.0  # seconds between two retention passes, at most
BATCH = 500  # records one call of a rule may remove (one short transaction)


def period(settings: Settings) -> float:
    """Seconds between two passes: an hour, or a tenth of the shortest retention period."""
    shortest = min(settings.batch_job_retention, settings.activity_retention)
    return min(EVERY, shortest / 10)


class RetentionState:
    """When the last pass ended (the controller's monotonic clock); None: none yet. It also
    has the daemon's skiff_store_size_bytes gauge read the store's files at each scrape."""

    def __init__(self, ctl: Context) -> None:
        self.last: float | None = None
        self.every = period(ctl.settings)
        ctl.metrics.store_size.set_function(ctl.store.size_bytes)

    def wait(self, now: float) -> float:
        """Seconds until the next pass is due (0: due now)."""
        return 0.0 if self.last is None else max(0.0, self.last + self.every - now)


def _due(ctl: Context) -> bool:
    return ctl.part(RetentionState).wait(ctl.monotonic()) == 0.0


def sync_retention(ctl: Context) -> float | None:
    """Runs every domain's rules, batch after batch, when due; returns when to look again."""
    state = ctl.part(RetentionState)
    wait = state.wait(ctl.monotonic())
    if wait > 0:  # queued again before its time (a resync, a restarted store): not yet
        return wait
    for domain in ctl.catalog.domains:
        for rule in domain.retention:
            total = 0
            while not ctl.stopping.is_set():
                went = rule.prune(ctl, BATCH)
                total += went
                if went < BATCH:
                    break
            if total:
                log.info("retention.pruned", action="prune", reason=rule.what, count=total)
    state.last = ctl.monotonic()
    return state.every


def _prune_told(ctl: Context, limit: int) -> int:
    """What was told of a condition on a resource that is gone: no manifest (nor its last
    valid version) and no status left (a service still draining keeps its status)."""
    told = ctl.store.told_conditions()
    if not told:
        return 0
    kept = {(kind, name) for kind, name, *_ in ctl.store.resources()}
    went = 0
    for kind, name, action in told:
        key = (kind, name)
        if went >= limit:
            break
        if kind not in ctl.catalog.entries or key in kept:
            continue
        if key in ctl.desired or key in ctl.status:
            continue
        ctl.actions.settled(kind, name, action)  # the action log's cache forgets it too
        went += 1
    return went


RETENTION = Domain(
    "retention",
    passes=(Pass(PASS, sync_retention, _due),),
    retention=(Retention("news of conditions on deleted resources", _prune_told),),
    part=RetentionState,
)
