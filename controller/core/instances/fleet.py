"""The executor of fleet plans, shared by Auto Scaling groups and EC2's single instances:
launches, starts, stops and terminations of instance containers, tracked in flight by the
instance tracker (`tracker.py`).

The executor is the only writer of instance containers and records. Records of new instances
are stored before their containers are created, so a crash between the two leaves a record the
next pass sees as gone (and replaces), never a container nobody owns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from controller.core.executor import PORT_ATTEMPTS, Failure, run_each
from controller.core.host_ports import PortKey
from controller.core.instances.instance import (
    FleetPlan,
    InstanceView,
    Launch,
    Removal,
    Signal,
    instance_container,
    need_of,
    new_instance_id,
    volume_name,
)
from controller.core.instances.observed import instances
from controller.manifests.kinds import key_str
from controller.manifests.launch_template_data import LaunchTemplateData, launch_template_data_needs
from controller.runtime import ContainerSpec, PortTaken, RuntimeFailure, StartFailed
from controller.store import Activity, InstanceRecord

if TYPE_CHECKING:
    from controller.core.context import Context

T = TypeVar("T")


def new_records(
    launches: Sequence[Launch],
    kind: str,
    owner: str,
    template: str,
    now: float,
    *,
    lifecycle: str = "",
    protected: bool = False,
) -> list[InstanceRecord]:
    return [
        InstanceRecord(
            new_instance_id(),
            kind,
            owner,
            template,
            launch.zone,
            launch.host,
            "running",
            now,
            state_reason=launch.cause,
            lifecycle_state=lifecycle,
            protected=protected,
        )
        for launch in launches
    ]


def carry_out(
    ctl: Context,
    kind: str,
    owner: str,
    plan: FleetPlan,
    launched: Sequence[InstanceRecord],
    data: LaunchTemplateData | None,
) -> list[Failure]:
    """Carries out `plan`; `launched` are the records of its launches, not yet stored."""
    now = ctl.clock()
    who = key_str((kind, owner))
    for iid, description, cause in plan.activities:
        ctl.store.put_activity(
            Activity(f"terminate-{iid}", who, description, cause, "InProgress", now)
        )
    ended = [r.instance_id for r in plan.updates if r.terminated_at == now]
    for iid in ended:
        ctl.store.end_activity(f"terminate-{iid}", "Successful", now)
        _activity_ended(ctl, kind, owner, "Successful")
    if plan.forget:
        ctl.store.delete_instances(list(plan.forget))
        instances(ctl).forget(plan.forget)
    failures: list[Failure] = []
    failures += run_each(ctl.pool, plan.signal, lambda s: _signal(ctl, kind, owner, s.host, s))
    failures += run_each(
        ctl.pool, plan.start, lambda s: _start(ctl, s.instance_id, s.host, s.container_id)
    )
    failures += run_each(ctl.pool, plan.remove, lambda r: _remove(ctl, kind, owner, r.host, r))
    if launched and data is not None:
        failures += run_each(ctl.pool, launched, lambda r: _launch(ctl, who, r, data))
    return failures


def launch_refusal(ctl: Context, template: str, data: LaunchTemplateData) -> str | None:
    """Why the running daemon's policy refuses to launch from these settings (a version kept
    in the store from before a restart with fewer --allow flags), or None."""
    refused = ctl.settings.policy.refusals(
        launch_template_data_needs(data, ("launchTemplateData",))
    )
    if not refused:
        return None
    return f"launch template {template}: " + "; ".join(
        f"{'.'.join(str(p) for p in n.path)}: {n.refusal()}" for n in refused
    )


def without_launches(plan: FleetPlan) -> FleetPlan:
    return replace(plan, launch=())


def save_updates(ctl: Context, plan: FleetPlan) -> None:
    if plan.updates:
        ctl.store.put_instances(list(plan.updates))


def book(ctl: Context, launched: Sequence[InstanceRecord], data: LaunchTemplateData) -> None:
    """Stores new instances' records and holds their capacity until they are observed
    (under the placement lock, before their containers exist)."""
    if launched:
        ctl.store.put_instances(list(launched))
        need = need_of(data)
        for r in launched:
            instances(ctl).expect_launch(r.instance_id, r.host, need.cpu, need.memory)


def _signal(ctl: Context, kind: str, owner: str, host: str, s: Signal) -> None:
    ctl.runtime_for(host).kill(s.container_id, s.signal)
    action = "instance.stop" if s.signal == "SIGTERM" else "instance.kill"
    ctl.actions.record(kind, owner, action, "shutting down", instance=s.instance_id, host=host)


def _start(ctl: Context, instance_id: str, host: str, container_id: str) -> None:
    instances(ctl).expect_start(instance_id)
    try:
        ctl.runtime_for(host).start(container_id)
    except StartFailed:
        pass  # the container keeps the error: the planner sees it failed to start


def reboot(ctl: Context, instance_id: str, host: str, container_id: str) -> None:
    """Restarts an instance's container in place (EC2's RebootInstances), expected first so
    the restart is not taken for a stop. RuntimeFailure: Docker refused it."""
    instances(ctl).expect_reboot(instance_id)
    ctl.runtime_for(host).restart(container_id)


def _activity_ended(ctl: Context, kind: str, owner: str, status: str) -> None:
    """A group's scaling activity ended (an instance's own launch is no group's activity)."""
    if kind == "AutoScalingGroup":
        ctl.metrics.autoscaling_activities.labels(owner, status).inc()


def _remove(ctl: Context, kind: str, owner: str, host: str, r: Removal) -> None:
    runtime = ctl.runtime_for(host)
    runtime.remove(r.container_id)
    runtime.remove_volume(volume_name(r.instance_id))
    ctl.actions.record(kind, owner, "instance.remove", "terminated", instance=r.instance_id)


def _launch(ctl: Context, who: str, r: InstanceRecord, data: LaunchTemplateData) -> None:
    spec = instance_container(
        ctl.settings.cluster, r.owner_kind, r.owner, r.instance_id, r.template, data
    )
    handle = ctl.hosts.get(r.host)
    if handle is not None and handle.info is not None and spec.nano_cpus:
        spec = replace(spec, nano_cpus=min(spec.nano_cpus, handle.info.cpus * 1_000_000_000))
    description = f"Launching a new EC2 instance: {r.instance_id}"
    try:
        _create_and_start(ctl, r, spec)
    except RuntimeFailure as exc:
        ctl.store.delete_instances([r.instance_id])
        instances(ctl).launch_done(r.instance_id)
        ctl.store.put_activity(
            Activity(
                uuid.uuid4().hex,
                who,
                description,
                f"{r.state_reason}; failed: {exc}",
                "Failed",
                ctl.clock(),
                ctl.clock(),
            )
        )
        ctl.metrics.instance_launches.labels(r.owner_kind, "failed").inc()
        _activity_ended(ctl, r.owner_kind, r.owner, "Failed")
        raise
    ctl.store.put_activity(
        Activity(
            uuid.uuid4().hex,
            who,
            description,
            r.state_reason,
            "Successful",
            r.launched_at,
            ctl.clock(),
        )
    )
    ctl.metrics.instance_launches.labels(r.owner_kind, "success").inc()
    _activity_ended(ctl, r.owner_kind, r.owner, "Successful")
    ctl.actions.record(
        r.owner_kind,
        r.owner,
        "instance.launch",
        r.state_reason,
        instance=r.instance_id,
        host=r.host,
        template=r.template,
    )


def _create_and_start(ctl: Context, r: InstanceRecord, spec: ContainerSpec) -> None:
    """Creates and starts an instance's container on dynamic host ports Skiff chooses; a port
    something else took meanwhile is chosen again at once."""
    runtime = ctl.runtime_for(r.host)
    wanted = [(p.container_port, p.protocol) for p in spec.ports]
    tried: set[PortKey] = set()
    for attempt in range(1, PORT_ATTEMPTS + 1):
        chosen = ctl.choose_ports(r.host, wanted, tried)
        ports = {(cp, proto): hp for cp, proto, hp in chosen}
        bindings = tuple(
            replace(p, host_port=ports.get((p.container_port, p.protocol))) for p in spec.ports
        )
        cid = runtime.create(replace(spec, ports=bindings))
        instances(ctl).expect_start(r.instance_id)
        try:
            runtime.start(cid)
            return
        except StartFailed as exc:
            if not (attempt < PORT_ATTEMPTS and chosen and isinstance(exc, PortTaken)):
                return  # the planner sees the error on the container
            runtime.remove(cid)
            tried |= {(hp, proto) for _, proto, hp in chosen}
            ctl.actions.record(
                r.owner_kind,
                r.owner,
                "instance.port_taken",
                str(exc),
                level="warning",
                instance=r.instance_id,
            )


def instance_json(v: InstanceView, address: str, check: str) -> dict[str, object]:
    r = v.record
    doc: dict[str, object] = {
        "instanceId": v.instance_id,
        "availabilityZone": r.zone,
        "host": v.host,
        "launchTemplate": r.template,
        "state": v.state,
        "statusCheck": check or v.status,
        "stateReason": r.state_reason,
        "launchTime": r.launched_at,
        "containerId": v.container.id[:12] if v.container else None,
        "ports": [
            {"containerPort": p.container_port, "hostPort": p.host_port, "bindIP": address}
            for p in (v.container.ports if v.container else ())
            if p.host_port
        ],
    }
    if r.owner_kind == "AutoScalingGroup":
        doc |= {
            "lifecycleState": r.lifecycle_state,
            "healthStatus": r.health,
            "protectedFromScaleIn": r.protected,
        }
    return doc
