"""What the load balancer sync tells others: target states per task (the services and groups
whose tasks changed look again), the LoadBalancer and TargetGroup statuses, and the target
groups' metrics (HAProxy's counters restart with each reload; Prometheus' only grow).

Part of the load balancer sync; it talks to no data plane.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from controller.dataplane import BackendStats, Key
from controller.dataplane.response_times import ResponseTimes
from controller.elb.models.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.elb.planners.load_balancer import TargetPlan
from controller.elb.sync.state import elb_state
from controller.manifests.kinds import ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

ALL_BALANCERS: ResourceKey = ("LoadBalancer", "*")  # where the data plane's own trouble shows
TARGET_STATES = ("initial", "healthy", "unhealthy", "draining", "unused")


def share_states(ctl: Context, plan: TargetPlan) -> None:
    """Target states per task, for the services. A target stays registered (its task is not
    stopped) until its servers are gone."""
    states: dict[str, dict[str, str]] = {}
    for (group, task_id), st in plan.states.items():
        states.setdefault(task_id, {})[group] = st
    share_targets(ctl, states)


def share_targets(ctl: Context, states: dict[str, dict[str, str]]) -> None:
    """Publishes target states per task; the services and groups whose tasks changed look
    again."""
    before = ctl.target_states
    ctl.target_states = states
    changed = {t for t in states.keys() | before.keys() if states.get(t) != before.get(t)}
    known = elb_state(ctl).owners
    for key in {known[t] for t in changed if t in known}:
        ctl.queue.add(key)
    for gone in known.keys() - states.keys():
        del known[gone]  # told: no longer a target anywhere


def report(
    ctl: Context,
    lbs: dict[str, LoadBalancerSpec],
    groups: dict[str, TargetGroupSpec],
    plan: TargetPlan,
    listener_errors: dict[tuple[str, int], str],
    stats: dict[str, BackendStats],
    failures: dict[Key, str],
    times: Mapping[str, ResponseTimes] | None = None,
) -> None:
    """`times`: each group's target response times since the last report (weighted: a
    logged request may stand for several)."""
    address = ctl.settings.lb_address
    for name, spec in lbs.items():
        listeners = []
        for lst in spec.listeners:
            err = listener_errors.get((name, lst.port), "")
            listeners.append(
                {
                    "port": lst.port,
                    "address": f"{address}:{lst.port}",
                    "state": "failed" if err else "active",
                    "message": err,
                }
            )
        bad = [f"listener {x['port']}: {x['message']}" for x in listeners if x["message"]]
        ctl.set_status(
            ("LoadBalancer", name),
            "ERROR" if bad else "ACTIVE",
            "; ".join(bad),
            listeners=listeners,
        )
    for group in groups:
        targets = [
            {"taskId": t, "state": st} for (g, t), st in sorted(plan.states.items()) if g == group
        ]
        s = stats.get(group)
        figures: dict[str, Any] = {}
        if s is not None:
            _count(ctl, group, s.requests, s.responses)
            figures = {
                "requests": s.requests,
                "responses": s.responses,
                "responseTimeMs": s.response_time_ms,
            }
        ctl.metrics.target_group_response_time.add(group, (times or {}).get(group))
        for st in TARGET_STATES:
            ctl.metrics.target_group_targets.labels(group, st).set(
                sum(1 for x in targets if x["state"] == st)
            )
        trouble = [f"target {t}: {why}" for (g, t), why in sorted(failures.items()) if g == group]
        ctl.set_status(
            ("TargetGroup", group), "ACTIVE", "; ".join(trouble), targets=targets, **figures
        )
    forget_deleted(ctl, lbs, groups)


def forget_deleted(
    ctl: Context, lbs: dict[str, LoadBalancerSpec], groups: dict[str, TargetGroupSpec]
) -> None:
    """Statuses and metrics of load balancers and groups whose manifests are gone."""
    m = ctl.metrics
    for key in list(ctl.status):
        kind, name = key
        if kind == "LoadBalancer" and key != ALL_BALANCERS and name not in lbs:
            ctl.forget_status(key)
        elif kind == "TargetGroup" and name not in groups:
            ctl.forget_status(key)
            _, codes = elb_state(ctl).counted.pop(name, (0, {}))
            series: list[tuple[Any, tuple[str, ...]]] = [
                (m.target_group_requests, (name,)),
                (m.target_group_response_time, (name,)),
                *((m.target_group_targets, (name, st)) for st in TARGET_STATES),
                *((m.target_group_responses, (name, code)) for code in codes),
            ]
            for metric, labels in series:
                try:
                    metric.remove(*labels)
                except KeyError:
                    pass


def _count(ctl: Context, group: str, requests: int, responses: dict[str, int]) -> None:
    """HAProxy's counters restart with each reload; Prometheus' must only grow."""
    last_requests, last_responses = elb_state(ctl).counted.get(group, (0, {}))
    grew = requests - last_requests if requests >= last_requests else requests
    ctl.metrics.target_group_requests.labels(group).inc(grew)
    for code, n in responses.items():
        before = last_responses.get(code, 0)
        ctl.metrics.target_group_responses.labels(group, code).inc(n - before if n >= before else n)
    elb_state(ctl).counted[group] = (requests, dict(responses))
