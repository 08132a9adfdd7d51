"""AutoScalingGroup sync: reads the group's instances (records and containers), plans with the
pure group planner, carries the plan out and reports status as DescribeAutoScalingGroups and
DescribeScalingActivities would.

Planning, record writes and the booking of new instances happen under the placement lock, so
two groups (or a group and a service) never take the same capacity, and API changes to records
(protection, lifecycle actions) never interleave with a pass.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from controller.autoscaling.models.group import AutoScalingGroupSpec
from controller.autoscaling.planners.group import ALIVE, GroupDesired, plan_group, retire_group
from controller.autoscaling.sync.refresh_status import instance_refresh_json
from controller.core import capacity, targets
from controller.core.instances.fleet import (
    book,
    carry_out,
    instance_json,
    launch_refusal,
    new_records,
    save_updates,
    without_launches,
)
from controller.core.instances.instance import (
    TEMPLATE_LABEL,
    FleetPlan,
    ObservedInstance,
    need_of,
    views,
)
from controller.core.instances.observed import instances, observed_instances
from controller.core.instances.templates import template_for
from controller.core.outcomes import Retry
from controller.core.status import activities_json
from controller.store import InstanceRecord

if TYPE_CHECKING:
    from controller.core.context import Context

KIND = "AutoScalingGroup"


def sync_asg(ctl: Context, name: str) -> float | None:
    key = (KIND, name)
    res = ctl.desired.get(key)
    now = ctl.clock()
    with ctl.placement_lock:
        records = ctl.store.instances(*key)
        observed = {
            i: o for i, o in observed_instances(ctl).items() if (o.owner_kind, o.owner) == key
        }
        _adopt(ctl, records, observed, now)
        listed, in_flight = ctl.listed_hosts(), instances(ctl).in_flight(observed)
        starting = instances(ctl).starting(observed)
        current = views(records, observed)
        hosts = ctl.host_slots(ctl.observed_tasks())
        if res is None:
            plan = retire_group(current, hosts, now=now, listed=listed, in_flight=in_flight)
            save_updates(ctl, plan)
            failures = carry_out(ctl, KIND, name, plan, [], None)
            if not plan.views:
                _finish_deletion(ctl, name)
                return None
            error = "; ".join(f.message for f in failures)
            _report(ctl, name, None, plan, {}, error, failed=bool(failures))
            return plan.requeue_after
        spec: AutoScalingGroupSpec = res.spec
        template = template_for(ctl, spec.launch_template)
        b = capacity.bounds(ctl, (KIND, name), spec)
        note = b.note
        desired = GroupDesired(
            name=name,
            capacity=b.desired,
            min_size=b.min_size,
            max_size=b.max_size,
            zones=tuple(spec.availability_zones),
            version=template.key,
            need=need_of(template.data),
            health_check_type=spec.health_check_type,
            grace=float(spec.health_check_grace_period),
            policies=tuple(spec.termination_policies),
            protect_new=spec.new_instances_protected_from_scale_in,
            launch_hook=spec.hook("autoscaling:EC2_INSTANCE_LAUNCHING"),
            terminate_hook=spec.hook("autoscaling:EC2_INSTANCE_TERMINATING"),
            suspended=frozenset(spec.suspended_processes),
            refresh_min_healthy=spec.instance_refresh.min_healthy_percentage,
        )
        checks, next_check = instances(ctl).checks(current, ctl.settings.status_check_seconds)
        plan = plan_group(
            desired,
            current,
            hosts,
            now=now,
            checks=checks,
            target_states=ctl.target_states,
            listed=listed,
            in_flight=in_flight,
            starting=starting,
            seed=zlib.crc32(f"{name}{now}".encode()),
        )
        refused = launch_refusal(ctl, template.key, template.data) if plan.launch else None
        if refused:
            plan = without_launches(plan)
        save_updates(ctl, plan)
        launched = new_records(
            plan.launch,
            KIND,
            name,
            template.key,
            now,
            lifecycle="Pending",
            protected=desired.protect_new,
        )
        book(ctl, launched, template.data)
    failures = carry_out(ctl, KIND, name, plan, launched, template.data)
    if spec.target_groups or ctl.target_states:
        ctl.queue.add(targets.PASS)  # its instances' targets follow its instances
    error = "; ".join(sorted({f.message for f in failures} | ({refused} if refused else set())))
    notes = "; ".join(m for m in (note, plan.message) if m)
    _report(ctl, name, desired, plan, checks, error or notes, failed=bool(failures or refused))
    if failures:
        raise Retry(error)
    waits = [w for w in (plan.requeue_after, next_check) if w is not None]
    return min(waits) if waits else None


def _adopt(
    ctl: Context,
    records: dict[str, InstanceRecord],
    observed: dict[str, ObservedInstance],
    now: float,
) -> None:
    """Containers of the group without a record (the store was lost): they are instances."""
    zone = {n: h.spec.zone for n, h in list(ctl.hosts.items())}
    found = [
        InstanceRecord(
            i,
            KIND,
            o.owner,
            o.container.labels.get(TEMPLATE_LABEL, ""),
            zone.get(o.host, ""),
            o.host,
            "running",
            o.container.created_at or now,
            lifecycle_state="InService",
            in_service_at=now,
        )
        for i, o in observed.items()
        if i not in records
    ]
    if found:
        ctl.store.put_instances(found)
        records.update({r.instance_id: r for r in found})


def _finish_deletion(ctl: Context, name: str) -> None:
    key = (KIND, name)
    ctl.store.delete_instances(list(ctl.store.instances(*key)))
    ctl.store.delete_activities(f"{KIND}/{name}")
    ctl.store.delete_override(*key)
    if key in ctl.status:
        ctl.actions.record(KIND, name, "group.deleted", "manifest removed; all instances gone")
    ctl.forget_status(key)
    ctl.metrics.forget_group(name)


def _report(
    ctl: Context,
    name: str,
    desired: GroupDesired | None,
    plan: FleetPlan,
    checks: dict[str, str],
    message: str,
    failed: bool = False,
) -> None:
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    by_state: dict[str, int] = {}
    for v in plan.views:
        by_state[v.record.lifecycle_state] = by_state.get(v.record.lifecycle_state, 0) + 1
    if desired is not None:
        ctl.metrics.group_desired.labels(name).set(desired.capacity)
    for state in ("Pending", "Pending:Wait", "InService", "Terminating", "Terminating:Wait"):
        ctl.metrics.group_instances.labels(name, state).set(by_state.get(state, 0))
    for status in ("Successful", "Failed", "Cancelled"):  # counters from 0: increase() works
        ctl.metrics.autoscaling_activities.labels(name, status)
    in_service = by_state.get("InService", 0)
    details: dict[str, Any] = {
        "desiredCapacity": desired.capacity if desired else 0,
        "minSize": desired.min_size if desired else 0,
        "maxSize": desired.max_size if desired else 0,
        "inServiceCount": in_service,
        "runningCount": sum(1 for v in plan.views if v.record.lifecycle_state in ALIVE),
        "launchTemplate": desired.version if desired else None,
        "availabilityZones": list(desired.zones) if desired else [],
        "instances": [
            instance_json(v, address.get(v.host, ""), checks.get(v.instance_id, ""))
            for v in sorted(
                plan.views, key=lambda v: (v.record.terminated_at is not None, v.record.launched_at)
            )
        ],
        "activities": activities_json(ctl.store, KIND, name),
    }
    if desired is not None:
        details["instanceRefresh"] = instance_refresh_json(desired, plan.views, failed, message)
    status = "DRAINING" if desired is None else "ERROR" if failed else "ACTIVE"
    ctl.set_status((KIND, name), status, message, **details)
