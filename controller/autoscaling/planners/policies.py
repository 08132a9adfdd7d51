"""The scaling policies' public names in one place, for callers that want all of them: the
shared vocabulary (decisions), target tracking (target_tracking), step and simple scaling
(step_scaling) and how several policies on one target combine (combining)."""

from controller.autoscaling.planners.combining import combine, held
from controller.autoscaling.planners.decisions import (
    Capacity,
    Decision,
    Direction,
    Hold,
    PolicyKind,
    capacity_note,
    clamp,
    no_change,
)
from controller.autoscaling.planners.step_scaling import (
    adjust,
    find_step,
    percent_change,
    simple_scaling,
    step_scaling,
)
from controller.autoscaling.planners.target_tracking import (
    SCALE_IN_DATAPOINTS,
    SCALE_IN_MAX_PERCENT,
    SCALE_IN_MIN_STEP,
    SCALE_IN_THRESHOLD,
    SCALE_OUT_DATAPOINTS,
    metric_label,
    target_tracking,
)

__all__ = [
    "SCALE_IN_DATAPOINTS",
    "SCALE_IN_MAX_PERCENT",
    "SCALE_IN_MIN_STEP",
    "SCALE_IN_THRESHOLD",
    "SCALE_OUT_DATAPOINTS",
    "Capacity",
    "Decision",
    "Direction",
    "Hold",
    "PolicyKind",
    "adjust",
    "capacity_note",
    "clamp",
    "combine",
    "find_step",
    "held",
    "metric_label",
    "no_change",
    "percent_change",
    "simple_scaling",
    "step_scaling",
    "target_tracking",
]
