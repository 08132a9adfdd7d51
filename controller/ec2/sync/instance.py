"""Instance sync: one instance from a launch template or inline settings, kept in the state its
manifest (or, since the manifest's last edit, the API) asks for, as DescribeInstances shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core import overrides
from controller.core.instances.fleet import (
    book,
    carry_out,
    instance_json,
    launch_refusal,
    new_records,
    save_updates,
    without_launches,
)
from controller.core.instances.instance import FleetPlan, need_of, views
from controller.core.instances.observed import instances, observed_instances
from controller.core.instances.templates import template_for
from controller.core.instances.versions import data_hash
from controller.core.outcomes import Retry
from controller.ec2.models.ec2 import InstanceSpec
from controller.ec2.planners.single_instance import InstanceDesired, plan_instance
from controller.manifests.launch_template_data import LaunchTemplateData

if TYPE_CHECKING:
    from controller.core.context import Context

KIND = "Instance"


def launch_settings(ctl: Context, spec: InstanceSpec) -> tuple[str, LaunchTemplateData]:
    """The template version (or inline settings) an Instance launches, and its key."""
    if spec.launch_template_data is not None:
        return f"inline:{data_hash(spec.launch_template_data)}", spec.launch_template_data
    assert spec.launch_template is not None
    template = template_for(ctl, spec.launch_template)
    return template.key, template.data


def termination_protected(ctl: Context, name: str) -> bool:
    res = ctl.desired.get((KIND, name))
    if res is None:
        return False
    spec: InstanceSpec = res.spec
    if spec.disable_api_termination is not None:
        return spec.disable_api_termination
    return launch_settings(ctl, spec)[1].disable_api_termination


def sync_instance(ctl: Context, name: str) -> float | None:
    key = (KIND, name)
    res = ctl.desired.get(key)
    now = ctl.clock()
    desired = data = None
    with ctl.placement_lock:
        records = ctl.store.instances(*key)
        observed = {
            i: o for i, o in observed_instances(ctl).items() if (o.owner_kind, o.owner) == key
        }
        if res is not None:
            spec: InstanceSpec = res.spec
            template, data = launch_settings(ctl, spec)
            goal = overrides.current(ctl.store, KIND, name, spec).get("desiredState")
            desired = InstanceDesired(
                name,
                template,
                goal or spec.desired_state,
                spec.instance_initiated_shutdown_behavior,
                spec.availability_zone,
                need_of(data),
            )
        current = views(records, observed)
        live = [v for v in current if v.record.terminated_at is None]
        checks, next_check = instances(ctl).checks(live, ctl.settings.status_check_seconds)
        plan = plan_instance(
            desired,
            current,
            ctl.host_slots(ctl.observed_tasks()),
            now=now,
            listed=ctl.listed_hosts(),
            in_flight=instances(ctl).in_flight(observed),
            starting=instances(ctl).starting(observed),
        )
        refused = None
        if plan.launch and desired is not None and data is not None:
            refused = launch_refusal(ctl, desired.template, data)
            if refused:
                plan = without_launches(plan)
        save_updates(ctl, plan)
        if plan.goal and res is not None:
            overrides.put(ctl.store, KIND, name, res.spec, desiredState=plan.goal)
        launched = []
        if desired is not None and data is not None:
            launched = new_records(plan.launch, KIND, name, desired.template, now)
            book(ctl, launched, data)
    failures = carry_out(ctl, KIND, name, plan, launched, data)
    if res is None and not plan.views:
        ctl.store.delete_override(*key)
        ctl.store.delete_activities(f"{KIND}/{name}")
        ctl.forget_status(key)
        return None
    error = "; ".join(sorted({f.message for f in failures} | ({refused} if refused else set())))
    failed = bool(failures or refused)
    _report(ctl, name, plan, error or plan.message, failed, res is not None, checks)
    if failures:
        raise Retry(error)
    waits = [w for w in (plan.requeue_after, next_check if live else None) if w is not None]
    return min(waits) if waits else None


def _report(
    ctl: Context,
    name: str,
    plan: FleetPlan,
    message: str,
    failed: bool,
    declared: bool,
    checks: dict[str, str],
) -> None:
    address = {h.name: h.address for h in list(ctl.hosts.values())}
    shown = sorted(plan.views, key=lambda v: (v.record.terminated_at is None, v.record.launched_at))
    live = [v for v in shown if v.record.terminated_at is None] or shown[-1:]
    main = live[-1] if live else None
    ctl.set_status(
        (KIND, name),
        "ERROR" if failed else "ACTIVE" if declared else "DRAINING",
        message,
        instanceId=main.instance_id if main else None,
        state=main.state if main else "pending",
        statusCheck=(checks.get(main.instance_id) or main.status) if main else "",
        instances=[
            instance_json(v, address.get(v.host, ""), checks.get(v.instance_id, ""))
            for v in reversed(shown)
        ],
    )
