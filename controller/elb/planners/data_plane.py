"""The ELB manifests in the data plane's words: a TargetGroup becomes the health checks and
deregistration delay of a `dataplane.TargetGroup`, a LoadBalancer its listeners, rules and
actions as `dataplane.LoadBalancer` (ALB's wildcard patterns as anchored regexes).

Pure translation: values are copied as they stand, never checked or repaired here (the
manifests' validation keeps bad ones out; the data plane refuses what it cannot say).
"""

from __future__ import annotations

from controller.dataplane import (
    Action,
    Condition,
    FixedResponse,
    Forward,
    HealthCheck,
    Listener,
    LoadBalancer,
    Redirect,
    Rule,
    TargetGroup,
)
from controller.elb.models import load_balancer as elb


def target_group(spec: elb.TargetGroupSpec) -> TargetGroup:
    hc = spec.health_check
    return TargetGroup(
        health_check=HealthCheck(
            path=hc.path,
            interval_seconds=hc.interval_seconds,
            timeout_seconds=hc.timeout_seconds,
            healthy_threshold_count=hc.healthy_threshold_count,
            unhealthy_threshold_count=hc.unhealthy_threshold_count,
            http_code=hc.matcher.http_code,
        ),
        deregistration_delay=spec.deregistration_delay,
    )


def load_balancer(spec: elb.LoadBalancerSpec) -> LoadBalancer:
    return LoadBalancer(tuple(listener(lst) for lst in spec.listeners))


def listener(spec: elb.Listener) -> Listener:
    return Listener(
        port=spec.port,
        default=action(spec.default_actions[0]),
        rules=tuple(
            Rule(
                priority=r.priority,
                conditions=tuple(condition(c) for c in r.conditions),
                action=action(r.actions[0]),
            )
            for r in spec.rules
        ),
    )


def condition(spec: elb.Condition) -> Condition:
    """Path patterns are case-sensitive; host headers are not (both sides lowercased)."""
    if spec.field == "path-pattern":
        return Condition("path", tuple(elb.glob_regex(v) for v in spec.values))
    return Condition("host", tuple(elb.glob_regex(v.lower()) for v in spec.values))


def action(spec: elb.Action) -> Action:
    if spec.type == "fixed-response":
        fixed = spec.fixed_response_config
        assert fixed is not None
        return FixedResponse(fixed.status_code, fixed.content_type, fixed.message_body)
    if spec.type == "redirect":
        r = spec.redirect_config
        assert r is not None
        code = r.status_code.removeprefix("HTTP_") if isinstance(r.status_code, str) else ""
        return Redirect(r.protocol, r.host, r.port, r.path, r.query, code)
    return Forward(tuple(spec.target_groups()))
