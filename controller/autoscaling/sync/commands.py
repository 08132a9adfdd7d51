"""What the API can ask of instances and groups, as the EC2 and Auto Scaling APIs allow it:
SetDesiredCapacity, Stop/Start/TerminateInstances, SetInstanceProtection,
CompleteLifecycleAction and RecordLifecycleActionHeartbeat.

Each command checks its input against the running state, records the change (an override of
the manifest, or a field of the instance's record) under the placement lock, and queues the
owner; the reconcile loop does the rest. A refusal is a `CommandError` whose message names the
field and the limit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.autoscaling.models.group import AutoScalingGroupSpec
from controller.core import overrides
from controller.core.capacity import bounds, change
from controller.core.instances import fleet
from controller.core.instances.observed import observed_instances
from controller.core.instances.versions import InstanceFields, ResolvedTemplate
from controller.core.outcomes import CommandError
from controller.runtime import RuntimeFailure
from controller.store import InstanceRecord

if TYPE_CHECKING:
    from controller.core.context import Context

GROUP, INSTANCE = "AutoScalingGroup", "Instance"


def set_desired_capacity(ctl: Context, group: str, capacity: object) -> str:
    spec = _group_spec(ctl, group)
    if not isinstance(capacity, int) or isinstance(capacity, bool):
        raise CommandError(f"desiredCapacity must be a whole number, not {capacity!r}")
    b = bounds(ctl, (GROUP, group), spec)
    if not b.min_size <= capacity <= b.max_size:
        raise CommandError(
            f"desiredCapacity {capacity} is outside [{b.min_size}, {b.max_size}] "
            f"(minSize, maxSize of AutoScalingGroup/{group}); nothing changed"
        )
    change(ctl, (GROUP, group), spec, desired=capacity)
    return f"AutoScalingGroup/{group}: desiredCapacity set to {capacity}"


def stop_instance(ctl: Context, instance_id: str) -> str:
    r = _instance(ctl, instance_id)
    if r.owner_kind == GROUP:
        _change(ctl, r, desired_state="stopped", state_reason="User initiated")
        return f"{instance_id}: stopping; Auto Scaling group {r.owner} will replace it"
    _goal(ctl, r, "stopped")
    return f"{instance_id}: stopping"


def start_instance(ctl: Context, instance_id: str) -> str:
    r = _instance(ctl, instance_id)
    if r.owner_kind == GROUP:
        raise CommandError(
            f"{instance_id} belongs to Auto Scaling group {r.owner}, which replaces stopped "
            "instances; it cannot be started"
        )
    _goal(ctl, r, "running")
    return f"{instance_id}: starting"


def terminate_instance(ctl: Context, instance_id: str) -> str:
    r = _instance(ctl, instance_id)
    if _termination_protected(ctl, r):
        raise CommandError(
            f"OperationNotPermitted: the instance {instance_id} may not be terminated: its "
            "disableApiTermination attribute is set; change it in the manifest and try again"
        )
    if r.owner_kind == GROUP:
        _change(ctl, r, desired_state="terminated")
        return f"{instance_id}: terminating; Auto Scaling group {r.owner} will replace it"
    _goal(ctl, r, "terminated")
    return f"{instance_id}: terminating"


def reboot_instance(ctl: Context, instance_id: str) -> str:
    """EC2's RebootInstances: the same instance restarts in place (its container restarts on
    its host, keeping its root volume, user data not run again)."""
    _instance(ctl, instance_id)
    seen = observed_instances(ctl).get(instance_id)
    if seen is None or not seen.container.running:
        raise CommandError(f"IncorrectState: {instance_id} is not running; nothing to reboot")
    try:
        fleet.reboot(ctl, instance_id, seen.host, seen.container.id)
    except RuntimeFailure as exc:
        raise CommandError(f"{instance_id}: the reboot failed: {exc}") from exc
    ctl.actions.record(
        seen.owner_kind, seen.owner, "instance.reboot", "reboot", instance=instance_id
    )
    ctl.queue.add((seen.owner_kind, seen.owner))
    return f"{instance_id}: rebooting"


def instance_action(ctl: Context, instance_id: str, action: str) -> str:
    """An alarm's instance action. `recover`, which on EC2 moves the instance to healthy
    hardware keeping its id and volumes, restarts it in place: its root volume lives on its
    host."""
    match action:
        case "stop":
            return stop_instance(ctl, instance_id)
        case "terminate":
            return terminate_instance(ctl, instance_id)
        case "reboot" | "recover":
            return reboot_instance(ctl, instance_id)
    raise CommandError(f"unknown instance action {action!r}")


def set_protection(ctl: Context, instance_id: str, protected: object) -> str:
    r = _instance(ctl, instance_id)
    if r.owner_kind != GROUP:
        raise CommandError(f"{instance_id} is not in an Auto Scaling group")
    if not isinstance(protected, bool):
        raise CommandError(f"protectedFromScaleIn must be true or false, not {protected!r}")
    _change(ctl, r, protected=protected)
    return (
        f"{instance_id}: {'protected from' if protected else 'no longer protected from'} scale-in"
    )


def complete_lifecycle_action(
    ctl: Context, group: str, instance_id: str, hook: object, result: object
) -> str:
    r, _ = _waiting(ctl, group, instance_id, hook)
    if result not in ("CONTINUE", "ABANDON"):
        raise CommandError(f"lifecycleActionResult must be CONTINUE or ABANDON, not {result!r}")
    _change(ctl, r, hook_result=str(result))
    return f"{instance_id}: lifecycle action {hook} completed with {result}"


def record_heartbeat(ctl: Context, group: str, instance_id: str, hook: object) -> str:
    r, timeout = _waiting(ctl, group, instance_id, hook)
    _change(ctl, r, hook_deadline=ctl.clock() + timeout)
    return f"{instance_id}: lifecycle action {hook} extended by {timeout} s"


# --- helpers ------------------------------------------------------------------------------------


def _group_spec(ctl: Context, group: str) -> AutoScalingGroupSpec:
    res = ctl.desired.get((GROUP, group))
    if res is None:
        raise CommandError(f"no AutoScalingGroup named {group!r}", 404)
    spec: AutoScalingGroupSpec = res.spec
    return spec


def _instance(ctl: Context, instance_id: str) -> InstanceRecord:
    r = ctl.store.instance(instance_id)
    if r is None:
        raise CommandError(f"InvalidInstanceID.NotFound: no instance {instance_id!r}", 404)
    if r.terminated_at is not None or r.lifecycle_state.startswith("Terminat"):
        raise CommandError(f"IncorrectInstanceState: {instance_id} is terminated or terminating")
    return r


def _change(ctl: Context, r: InstanceRecord, **changes: object) -> None:
    """Changes an instance's record between two passes of its owner."""
    with ctl.placement_lock:
        current = ctl.store.instance(r.instance_id) or r
        ctl.store.put_instances([replace(current, **changes)])  # type: ignore[arg-type]
    ctl.queue.add((r.owner_kind, r.owner))


def _goal(ctl: Context, r: InstanceRecord, goal: str) -> None:
    res = ctl.desired.get((INSTANCE, r.owner))
    if res is None:
        raise CommandError(f"{r.instance_id}: its Instance manifest is gone; it is terminating")
    spec: InstanceFields = res.spec
    with ctl.placement_lock:
        overrides.put(ctl.store, INSTANCE, r.owner, spec, desiredState=goal)
    ctl.queue.add((INSTANCE, r.owner))


def _termination_protected(ctl: Context, r: InstanceRecord) -> bool:
    if r.owner_kind == INSTANCE:
        res = ctl.desired.get((INSTANCE, r.owner))
        spec: InstanceFields | None = res.spec if res else None
        if spec is not None and spec.disable_api_termination is not None:
            return spec.disable_api_termination
        if spec is not None and spec.launch_template_data is not None:
            return spec.launch_template_data.disable_api_termination
    name, _, number = r.template.rpartition(":")
    if not number.isdigit():
        return False
    found = [v for v in ctl.store.template_versions(name) if v.number == int(number)]
    return bool(found) and ResolvedTemplate.from_record(found[0]).data.disable_api_termination


def _waiting(
    ctl: Context, group: str, instance_id: str, hook: object
) -> tuple[InstanceRecord, int]:
    spec = _group_spec(ctl, group)
    r = ctl.store.instance(instance_id)
    if r is None or (r.owner_kind, r.owner) != (GROUP, group):
        raise CommandError(f"no instance {instance_id!r} in AutoScalingGroup/{group}", 404)
    transition = {
        "Pending:Wait": "autoscaling:EC2_INSTANCE_LAUNCHING",
        "Terminating:Wait": "autoscaling:EC2_INSTANCE_TERMINATING",
    }.get(r.lifecycle_state)
    found = spec.hook(transition) if transition else None
    if found is None:
        raise CommandError(
            f"{instance_id} is {r.lifecycle_state or 'not in the group'}, not waiting on a "
            "lifecycle hook"
        )
    if hook != found.lifecycle_hook_name:
        raise CommandError(
            f"lifecycleHookName {hook!r}: {instance_id} waits on hook {found.lifecycle_hook_name!r}"
        )
    return r, found.heartbeat_timeout
