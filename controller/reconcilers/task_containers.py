"""Docker container specs for one ECS task: labels, limits, ports, health check, network mode.

Pure: turns a task-definition revision into the `ContainerSpec`s the executor creates, in an
order that respects dependsOn. An awsvpc task gets a sandbox ("pause") container that owns the
task's network namespace and publishes its ports; the task's containers join it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.manifests.task_definition import (
    ContainerDefinition,
    TaskDefinitionSpec,
    start_order,
)
from controller.runtime.types import ContainerSpec, HealthcheckSpec, PortBinding
from controller.state import labels as L

MIN_CPU_SHARES = 2  # the ECS agent's floor: a container with cpu 0 gets 2 shares


@dataclass(frozen=True)
class TaskIdentity:
    cluster: str
    owner_kind: str
    owner: str
    task_id: str
    revision: str  # family:N
    spec_hash: str
    service_config: str = ""


def container_name(ident: TaskIdentity, container: str) -> str:
    short = container.replace(L.PAUSE_CONTAINER, "pause")
    return f"skiff-{ident.owner}-{short}-{ident.task_id[:12]}"


def _labels(
    ident: TaskIdentity, container: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return {
        **(extra or {}),
        **L.ownership(ident.cluster, ident.owner_kind, ident.owner),
        L.REVISION: ident.revision,
        L.TASK: ident.task_id,
        L.CONTAINER: container,
        L.SPEC_HASH: ident.spec_hash,
        **({L.SERVICE_CONFIG: ident.service_config} if ident.service_config else {}),
    }


def _ports(
    defs: list[ContainerDefinition], chosen: Mapping[tuple[int, str], int]
) -> tuple[PortBinding, ...]:
    """Port bindings; a dynamic port Skiff chose takes the place of one Docker would pick."""
    return tuple(
        PortBinding(
            p.container_port, p.protocol, p.host_port or chosen.get((p.container_port, p.protocol))
        )
        for c in defs
        for p in c.port_mappings
    )


def pause_spec(
    ident: TaskIdentity,
    spec: TaskDefinitionSpec,
    image: str | None,
    host_ports: Mapping[tuple[int, str], int] | None = None,
) -> ContainerSpec:
    """The sandbox of an awsvpc task: holds the namespace, publishes every container's ports."""
    return ContainerSpec(
        name=container_name(ident, L.PAUSE_CONTAINER),
        image=image or spec.container_definitions[0].image,
        labels=_labels(ident, L.PAUSE_CONTAINER),
        entrypoint=("sleep",),
        command=("infinity",),
        ports=_ports(spec.container_definitions, host_ports or {}),
        network_mode="bridge",
        cpu_shares=MIN_CPU_SHARES,
        stop_timeout=0,
    )


def container_specs(
    ident: TaskIdentity,
    spec: TaskDefinitionSpec,
    pause_id: str | None = None,
    host_ports: Mapping[tuple[int, str], int] | None = None,
) -> list[ContainerSpec]:
    """The task's containers in start order. awsvpc tasks need the sandbox's id first."""
    if spec.network_mode == "awsvpc" and pause_id is None:
        raise ValueError("an awsvpc task joins its sandbox: create the pause container first")
    network = {
        "bridge": "bridge",
        "host": "host",
        "none": "none",
        "awsvpc": f"container:{pause_id}",
    }[spec.network_mode]
    out = []
    for name in start_order(spec):
        c = spec.container(name)
        env = {
            "SKIFF_TASK_ID": ident.task_id,
            "SKIFF_TASK_DEFINITION": ident.revision,
            "SKIFF_OWNER": f"{ident.owner_kind}/{ident.owner}",
            **{kv.name: kv.value for kv in c.environment},
        }
        hc = c.health_check
        out.append(
            ContainerSpec(
                name=container_name(ident, name),
                image=c.image,
                labels=_labels(ident, name, c.docker_labels),
                command=tuple(c.command) if c.command is not None else None,
                entrypoint=tuple(c.entry_point) if c.entry_point is not None else None,
                env=env,
                working_dir=c.working_directory,
                cpu_shares=max(c.cpu, MIN_CPU_SHARES),
                memory_mib=c.memory,
                memory_reservation_mib=c.memory_reservation,
                ports=_ports([c], host_ports or {}) if spec.network_mode == "bridge" else (),
                network_mode=network,
                healthcheck=HealthcheckSpec(
                    tuple(hc.command), hc.interval, hc.timeout, hc.retries, hc.start_period
                )
                if hc
                else None,
                stop_timeout=c.effective_stop_timeout,
            )
        )
    return out
