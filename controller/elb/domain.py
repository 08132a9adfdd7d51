"""ELB's entry in the kind registry: TargetGroup and LoadBalancer, served by one pass over the
data plane (one HAProxy serves every load balancer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.registry import Domain, Entry, Pass
from controller.elb.metrics import METRICS
from controller.elb.models.load_balancer import (
    LoadBalancerSpec,
    TargetGroupSpec,
    check_load_balancer,
)
from controller.elb.references import load_balancer_references
from controller.elb.sync.load_balancers import DATA_PLANE, sync_load_balancers
from controller.elb.sync.state import DataPlaneState
from controller.manifests.kinds import Kind

if TYPE_CHECKING:
    from controller.core.context import Context


def _serving(ctl: Context) -> bool:
    """Load balancers in the manifests, or targets still to drain after they went."""
    return bool(ctl.target_states) or any(
        k[0] in ("LoadBalancer", "TargetGroup") for k in ctl.desired
    )


DOMAIN = Domain(
    "elb",
    entries=(
        Entry(Kind("TargetGroup", TargetGroupSpec), via=DATA_PLANE),
        Entry(
            Kind(
                "LoadBalancer",
                LoadBalancerSpec,
                check_load_balancer,
                references=load_balancer_references,
            ),
            via=DATA_PLANE,
            reads=("TargetGroup", "Service", "AutoScalingGroup"),
        ),
    ),
    passes=(Pass(DATA_PLANE, sync_load_balancers, _serving),),
    part=lambda ctl: DataPlaneState(),
    metrics=METRICS,
)
