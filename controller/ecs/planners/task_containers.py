"""Docker container specs for one ECS task: labels, limits, ports, health check, network mode,
and the container settings (user, ulimits, Linux parameters, mounts, hosts, namespaces).

Pure: turns a task-definition revision into the `ContainerSpec`s the executor creates, in an
order that respects dependsOn and volumesFrom, and the named volumes to create first. A task
whose containers share namespaces (awsvpc's network, pidMode or ipcMode task) gets a sandbox
("pause") container that holds them; an awsvpc sandbox also publishes the task's ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.core import labels as L
from controller.core.container_settings import with_linux, with_security
from controller.ecs.models.task_definition import (
    ContainerDefinition,
    TaskDefinitionSpec,
    has_sandbox,
    start_order,
)
from controller.manifests.container_security import TaskVolume, scoped_volume_name
from controller.runtime.types import (
    ContainerSpec,
    HealthcheckSpec,
    MountSpec,
    PortBinding,
    VolumeSpec,
)

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


@dataclass(frozen=True)
class TaskVolumes:
    """The named volumes a task's containers mount: to create (task-scoped ones, and shared
    ones with autoprovision), to find already there (shared, no autoprovision), and the
    task-scoped ones, removed with the task."""

    create: tuple[VolumeSpec, ...] = ()
    must_exist: tuple[str, ...] = ()
    scoped: tuple[str, ...] = ()


def container_name(ident: TaskIdentity, container: str) -> str:
    short = container.replace(L.PAUSE_CONTAINER, "pause")
    return f"skiff-{ident.owner}-{short}-{ident.task_id[:12]}"


def volume_source(ident: TaskIdentity, volume: TaskVolume) -> str:
    """Where a task volume comes from: a host path, a shared Docker volume (by its own name)
    or a Docker volume of the task's."""
    if volume.source_path is not None:
        return volume.source_path
    config = volume.docker_volume_configuration
    if config is not None and config.scope == "shared":
        return volume.name
    return scoped_volume_name(f"skiff-{ident.owner}-{ident.task_id[:12]}", volume.name)


def task_volumes(ident: TaskIdentity, spec: TaskDefinitionSpec) -> TaskVolumes:
    mounted = {m.source_volume for c in spec.container_definitions for m in c.mount_points}
    create: list[VolumeSpec] = []
    must_exist: list[str] = []
    scoped: list[str] = []
    for v in spec.volumes:
        if v.name not in mounted or v.source_path is not None:
            continue
        config = v.docker_volume_configuration
        name = volume_source(ident, v)
        shared = config is not None and config.scope == "shared"
        if shared and config is not None and not config.autoprovision:
            must_exist.append(name)
            continue
        labels = {
            **(config.labels if config else {}),
            **(
                L.selector(ident.cluster)
                if shared
                else L.ownership(ident.cluster, ident.owner_kind, ident.owner)
            ),
            L.SCOPE: "shared" if shared else "task",
            **({} if shared else {L.TASK: ident.task_id}),
        }
        create.append(
            VolumeSpec(
                name,
                labels,
                driver=(config.driver if config else None) or "local",
                driver_opts=dict(config.driver_opts) if config else {},
            )
        )
        if not shared:
            scoped.append(name)
    return TaskVolumes(tuple(create), tuple(must_exist), tuple(scoped))


def _labels(
    ident: TaskIdentity,
    container: str,
    extra: dict[str, str] | None = None,
    volumes: tuple[str, ...] = (),
) -> dict[str, str]:
    return {
        **(extra or {}),
        **L.ownership(ident.cluster, ident.owner_kind, ident.owner),
        L.REVISION: ident.revision,
        L.TASK: ident.task_id,
        L.CONTAINER: container,
        L.SPEC_HASH: ident.spec_hash,
        **({L.SERVICE_CONFIG: ident.service_config} if ident.service_config else {}),
        **({L.VOLUMES: ",".join(volumes)} if volumes else {}),
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
    """The task's sandbox: holds the namespaces its containers share; for awsvpc, publishes
    every container's ports."""
    awsvpc = spec.network_mode == "awsvpc"
    return ContainerSpec(
        name=container_name(ident, L.PAUSE_CONTAINER),
        image=image or spec.container_definitions[0].image,
        labels=_labels(ident, L.PAUSE_CONTAINER, volumes=task_volumes(ident, spec).scoped),
        entrypoint=("sleep",),
        command=("infinity",),
        ports=_ports(spec.container_definitions, host_ports or {}) if awsvpc else (),
        network_mode="bridge" if awsvpc else "none",
        cpu_shares=MIN_CPU_SHARES,
        stop_timeout=0,
        ipc_mode="shareable" if spec.ipc_mode == "task" else None,
    )


def _namespace(mode: str | None, sandbox: str) -> str | None:
    """pidMode / ipcMode as Docker's: task joins the sandbox's namespace."""
    return sandbox if mode == "task" else mode


def container_specs(
    ident: TaskIdentity,
    spec: TaskDefinitionSpec,
    pause_id: str | None = None,
    host_ports: Mapping[tuple[int, str], int] | None = None,
) -> list[ContainerSpec]:
    """The task's containers in start order. Tasks with a sandbox need its id first."""
    if has_sandbox(spec) and pause_id is None:
        raise ValueError(
            "this task's containers join its sandbox: create the pause container first"
        )
    sandbox = f"container:{pause_id}"
    network = {
        "bridge": "bridge",
        "host": "host",
        "none": "none",
        "awsvpc": sandbox,
    }[spec.network_mode]
    volumes = {v.name: v for v in spec.volumes}
    scoped = task_volumes(ident, spec).scoped
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
        base = ContainerSpec(
            name=container_name(ident, name),
            image=c.image,
            labels=_labels(ident, name, c.docker_labels, scoped),
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
            mounts=tuple(
                MountSpec(
                    volume_source(ident, volumes[m.source_volume]),
                    m.container_path,
                    m.read_only,
                    bind=volumes[m.source_volume].source_path is not None,
                )
                for m in c.mount_points
            ),
            volumes_from=tuple(
                (container_name(ident, v.source_container), v.read_only) for v in c.volumes_from
            ),
            extra_hosts=tuple((h.hostname, h.ip_address) for h in c.extra_hosts),
            dns=tuple(c.dns_servers),
            pid_mode=_namespace(spec.pid_mode, sandbox),
            ipc_mode=_namespace(spec.ipc_mode, sandbox),
        )
        out.append(with_linux(with_security(base, c), c.linux_parameters))
    return out
