"""Helpers the scaling policy tests share: capacities, target tracking specs and decisions,
step adjustments, and the metric series HOT and COLD.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from controller.autoscaling.models.scaling import StepScaling, TargetTracking
from controller.autoscaling.planners.policies import (
    Capacity,
    Decision,
    target_tracking,
)
from tests.support.builders import T0


def case(name: str, *values: Any) -> Any:
    """One table row, named as the user guide would say it."""
    return pytest.param(*values, id=name)


def cap(
    desired: int,
    *,
    min_size: int = 1,
    max_size: int = 10,
    in_service: int | None = None,
    warming: int = 0,
) -> Capacity:
    """A capacity; by default every desired instance is in service and warmed up."""
    return Capacity(
        desired, min_size, max_size, desired if in_service is None else in_service, warming
    )


def cpu(target: float = 50.0, **extra: Any) -> TargetTracking:
    return TargetTracking.model_validate(
        {"predefinedMetric": "ASGAverageCPUUtilization", "targetValue": target, **extra}
    )


def backlog(**extra: Any) -> TargetTracking:
    """AWS's example queue: acceptable latency 10 s, 0.1 s per message: 100 per instance."""
    queue = {"prometheusQuery": "skiff_batch_queue_runnable"}
    if "targetValue" in extra:
        return TargetTracking.model_validate({"backlogPerInstance": {"queue": queue}, **extra})
    return backlog_pair(10, 0.1)


def backlog_pair(latency: float, processing: float) -> TargetTracking:
    queue = {"prometheusQuery": "skiff_batch_queue_runnable"}
    return TargetTracking.model_validate(
        {
            "backlogPerInstance": {
                "queue": queue,
                "acceptableLatency": latency,
                "averageProcessingTime": processing,
            }
        }
    )


def track(
    spec: TargetTracking,
    datapoints: Sequence[float | None],
    capacity: Capacity,
    *,
    now: float = T0,
    last_out: float | None = None,
    last_in: float | None = None,
    service: bool = False,
) -> Decision:
    return target_tracking("web-cpu", spec, datapoints, capacity, now, last_out, last_in, service)


HOT = [83.0] * 3
COLD = [20.0] * 15


def steps(
    adjustment_type: str, *rows: tuple[float | None, float | None, int], **extra: Any
) -> StepScaling:
    return StepScaling.model_validate(
        {
            "adjustmentType": adjustment_type,
            "stepAdjustments": [
                {
                    "metricIntervalLowerBound": lo,
                    "metricIntervalUpperBound": hi,
                    "scalingAdjustment": adj,
                }
                for lo, hi, adj in rows
            ],
            **extra,
        }
    )
