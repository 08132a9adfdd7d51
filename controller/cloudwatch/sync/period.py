"""The one pass per metrics period (core/periodic.py), CloudWatch's: once a period it collects
the metrics and evaluates every Alarm (whose actions run through the handlers other services
register); then, each time the pass runs, every service's step of the period
(core/metrics.py) with the same `Period`: Auto Scaling's policies, once a period, and its
scheduled actions. A resource's failure shows on it and stops nothing else."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from controller.cloudwatch.sync.alarms import evaluate_alarm
from controller.cloudwatch.sync.collect import collect, monitor
from controller.core.capacity import CapacityError
from controller.core.metrics import Period, sources
from controller.core.outcomes import CommandError, Retry
from controller.manifests.kinds import ResourceKey, key_str
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context

log = structlog.get_logger("skiff.scaling")
T = TypeVar("T")


def sync_period(ctl: Context) -> float | None:
    period = ctl.settings.metrics_period
    now = ctl.clock()
    index = math.floor(now / period)
    state = monitor(ctl)
    fresh = state.evaluated != index  # once a period, whatever else queues this pass
    run = Period(now, fresh)
    if fresh:
        state.evaluated = index
        state.started = state.started or now
        collect(ctl, now)
        for key, res in sorted(ctl.desired.items()):
            if key[0] == "Alarm":
                _guarded(ctl, key, evaluate_alarm, ctl, key[1], res.spec, run)
    wake = [period - (now % period)]
    for _, source in sources(ctl):
        if source.step is not None:
            at = source.step(ctl, run)
            if at is not None:
                wake.append(at)
    _forget_gone(ctl)
    return min(wake)


def monitored(ctl: Context) -> bool:
    """Whether the pass has work: a resource the sources measure or evaluate."""
    kinds = {k for _, source in sources(ctl) for k in source.kinds}
    return ctl.settings.monitoring and any(k[0] in kinds for k in ctl.desired)


def _guarded(ctl: Context, key: ResourceKey, step: Callable[..., T], *args: Any) -> T | None:
    """One alarm's part of the pass; its failure (or its action's) shows on it and stops
    nothing else."""
    try:
        return step(*args)
    except (CapacityError, CommandError, RuntimeFailure, Retry, ValueError) as exc:
        log.warning("scaling.failed", resource=key_str(key), error=str(exc))
        if key in ctl.desired:
            ctl.set_status(key, "ERROR", str(exc))
        return None


def _forget_gone(ctl: Context) -> None:
    for key in list(ctl.status):
        if key[0] == "Alarm" and key not in ctl.desired:
            ctl.forget_status(key)
            ctl.store.delete_override(*key)
            try:
                ctl.metrics.alarm_state.remove(key[1])
            except KeyError:
                pass
