"""The `TaskDefinition` kind: ECS container definitions, limits and network mode.

Each distinct spec becomes an immutable revision (`family:N`) in the store; this module only
describes and checks one spec.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator

from controller.manifests.base import Path, SpecModel, parse_cpu_units, parse_memory_mib, quote
from controller.manifests.container_security import (
    ContainerSecurity,
    HostEntry,
    LinuxParameters,
    MountPoint,
    TaskVolume,
    VolumeFrom,
    check_mounts,
    check_ulimits,
    check_volumes,
    ip_literal,
)
from controller.manifests.containers import HealthCheck, KeyValuePair

NetworkMode = Literal["bridge", "host", "awsvpc", "none"]
PidMode = Literal["host", "task"]
IpcMode = Literal["host", "task", "none"]
Compatibility = Literal["EC2", "FARGATE", "EXTERNAL"]
DependencyCondition = Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"]

MAX_CONTAINERS = 10
MIN_CONTAINER_MEMORY_MIB = 6
DEFAULT_STOP_TIMEOUT = 30
# Task-level cpu on EC2 and EXTERNAL: "between 128 CPU units (0.125 vCPUs) and 196608 CPU units
# (192 vCPUs)" (ECS API reference, RegisterTaskDefinition `cpu`). ECS documents no task-level
# memory minimum for EC2; a task holds at least one container, which needs 6 MiB.
MIN_TASK_CPU, MAX_TASK_CPU = 128, 196608
MIN_TASK_MEMORY_MIB = MIN_CONTAINER_MEMORY_MIB

# Fargate's task sizes: cpu units -> the memory values (MiB) AWS offers with it.
FARGATE_SIZES: dict[int, set[int]] = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


# Task cpu/memory accept numbers or AWS's strings; the schema says so, for editors.
_NUMBER_OR_TEXT = WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}, {"type": "null"}]}
)


class PortMapping(SpecModel):
    container_port: int = Field(ge=1, le=65535)
    """The port number on the container that's bound to the host port."""
    host_port: int | None = Field(
        None, ge=0, le=65535, description="0 or absent: a dynamic port from the ephemeral range."
    )
    protocol: Literal["tcp", "udp"] = "tcp"
    """The protocol used for the port mapping: tcp or udp."""
    name: str | None = None
    """The name that's used for the port mapping."""


class ContainerDependency(SpecModel):
    container_name: str
    """The name of a container."""
    condition: DependencyCondition
    """The dependency condition of the container: START, COMPLETE, SUCCESS or HEALTHY."""


class ContainerDefinition(ContainerSecurity):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
    """The name of a container."""
    image: str = Field(min_length=1)
    """The image used to start a container."""
    command: list[str] | None = None
    """The command that's passed to the container."""
    entry_point: list[str] | None = None
    """The entry point that's passed to the container."""
    environment: list[KeyValuePair] = Field(default_factory=list)
    """The environment variables to pass to a container."""
    cpu: int = Field(0, ge=0, description="CPU units (1024 per core), applied as CPU shares.")
    memory: int | None = Field(None, ge=MIN_CONTAINER_MEMORY_MIB, description="Hard limit, MiB.")
    memory_reservation: int | None = Field(
        None, ge=MIN_CONTAINER_MEMORY_MIB, description="Soft limit, MiB."
    )
    essential: bool = True
    """If true, all other containers of the task are stopped when this one fails or stops."""
    port_mappings: list[PortMapping] = Field(default_factory=list)
    """The list of port mappings for the container."""
    health_check: HealthCheck | None = None
    """The container health check command and its configuration parameters."""
    working_directory: str | None = None
    """The working directory to run commands inside the container in."""
    depends_on: list[ContainerDependency] = Field(default_factory=list)
    """The dependencies defined for container startup and shutdown."""
    stop_timeout: int | None = Field(
        None, ge=0, le=120, description="Seconds between SIGTERM and SIGKILL (default 30)."
    )
    docker_labels: dict[str, str] = Field(default_factory=dict)
    """A key/value map of labels to add to the container."""
    linux_parameters: LinuxParameters | None = None
    """Linux-specific modifications that are applied to the container."""
    mount_points: list[MountPoint] = Field(default_factory=list)
    """The mount points for data volumes in your container."""
    volumes_from: list[VolumeFrom] = Field(default_factory=list)
    """Data volumes to mount from another container."""
    extra_hosts: list[HostEntry] = Field(default_factory=list, description="/etc/hosts entries.")
    dns_servers: list[Annotated[str, AfterValidator(ip_literal)]] = Field(
        default_factory=list, description="IP addresses."
    )

    def after(self) -> list[str]:
        """Containers this one is created and started after: dependsOn, then volumesFrom."""
        names = [d.container_name for d in self.depends_on]
        return names + [
            v.source_container for v in self.volumes_from if v.source_container not in names
        ]

    @property
    def memory_need(self) -> int:
        """MiB this container reserves on a host: the soft limit if set, else the hard one."""
        return self.memory_reservation or self.memory or 0

    @property
    def effective_stop_timeout(self) -> int:
        return DEFAULT_STOP_TIMEOUT if self.stop_timeout is None else self.stop_timeout


class TaskDefinitionSpec(SpecModel):
    container_definitions: list[ContainerDefinition] = Field(
        min_length=1, max_length=MAX_CONTAINERS
    )
    """The container definitions that describe the containers that make up your task."""
    cpu: Annotated[int | None, _NUMBER_OR_TEXT] = Field(
        None, description="Task CPU units, or a string like '0.5 vCPU'."
    )
    memory: Annotated[int | None, _NUMBER_OR_TEXT] = Field(
        None, description="Task memory in MiB, or a string like '2 GB'."
    )
    network_mode: NetworkMode = "bridge"
    """The Docker networking mode of the task's containers: bridge, host, awsvpc or none."""
    requires_compatibilities: list[Compatibility] = Field(default_factory=list)
    """The task launch types the task definition was validated against."""
    volumes: list[TaskVolume] = Field(default_factory=list)
    """A list of volume definitions that containers in your task might use."""
    pid_mode: PidMode | None = Field(
        None, description="host: the host's processes; task: one PID namespace for the task."
    )
    ipc_mode: IpcMode | None = Field(
        None, description="host, task (one IPC namespace for the task) or none."
    )

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_cpu_units(value)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_memory_mib(value)

    def container(self, name: str) -> ContainerDefinition:
        return next(c for c in self.container_definitions if c.name == name)

    @property
    def cpu_need(self) -> int:
        """CPU units the task reserves: task-level if set, else the sum of its containers."""
        return self.cpu if self.cpu is not None else sum(c.cpu for c in self.container_definitions)

    @property
    def memory_need(self) -> int:
        """MiB the task reserves: task-level if set, else the sum of its containers."""
        if self.memory is not None:
            return self.memory
        return sum(c.memory_need for c in self.container_definitions)

    def static_host_ports(self) -> list[tuple[int, str]]:
        """(port, protocol) pairs this task binds on its host, whatever the mode."""
        ports: list[tuple[int, str]] = []
        for c in self.container_definitions:
            for p in c.port_mappings:
                port = p.container_port if self.network_mode == "host" else p.host_port
                if port:
                    ports.append((port, p.protocol))
        return ports


def check_task_definition(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    """The ECS rules that span fields; each problem comes with the path of the field at fault."""
    problems: list[tuple[Path, str]] = []
    defs = spec.container_definitions
    names = [c.name for c in defs]
    for i, c in enumerate(defs):
        if names.index(c.name) != i:
            problems.append(
                (("containerDefinitions", i, "name"), f"duplicate container name {quote(c.name)}")
            )
    if not any(c.essential for c in defs):
        problems.append((("containerDefinitions",), "at least one container must be essential"))
    for i, c in enumerate(defs):
        for key in c.docker_labels:
            if key.startswith("skiff."):
                problems.append(
                    (
                        ("containerDefinitions", i, "dockerLabels", key),
                        "the skiff. prefix is reserved",
                    )
                )
    problems += _check_size(spec)
    problems += _check_memory(spec)
    problems += _check_ports(spec)
    problems += _check_dependencies(spec)
    problems += _check_container_settings(spec)
    if "FARGATE" in spec.requires_compatibilities:
        problems += fargate_problems(spec)
    return problems


def has_sandbox(spec: TaskDefinitionSpec) -> bool:
    """Whether the task gets a sandbox ("pause") container holding the namespaces its
    containers share: awsvpc's network, pidMode task's processes, ipcMode task's IPC."""
    return spec.network_mode == "awsvpc" or "task" in (spec.pid_mode, spec.ipc_mode)


def _check_container_settings(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    """Volumes, mounts, volumesFrom, ulimits, hosts and DNS, and the namespaces they need."""
    problems = check_volumes(spec.volumes)
    names = {c.name for c in spec.container_definitions}
    for i, c in enumerate(spec.container_definitions):
        at: Path = ("containerDefinitions", i)
        problems += check_ulimits(c.ulimits, at)
        problems += check_mounts(spec.volumes, c.mount_points, c.linux_parameters, at)
        for j, v in enumerate(c.volumes_from):
            where = (*at, "volumesFrom", j, "sourceContainer")
            if v.source_container == c.name:
                problems.append((where, "a container cannot take volumes from itself"))
            elif v.source_container not in names:
                problems.append(
                    (
                        where,
                        f"no container named {quote(v.source_container)} in this task definition",
                    )
                )
        if spec.network_mode == "awsvpc":
            for field, values in (("extraHosts", c.extra_hosts), ("dnsServers", c.dns_servers)):
                if values:
                    problems.append(
                        ((*at, field), f"{field} is not supported with networkMode awsvpc")
                    )
        linux = c.linux_parameters
        if linux is not None and linux.shared_memory_size is not None and spec.ipc_mode:
            problems.append(
                (
                    (*at, "linuxParameters", "sharedMemorySize"),
                    f"sizes the container's own /dev/shm, which it does not have with ipcMode "
                    f"{spec.ipc_mode}",
                )
            )
    return problems


def _check_size(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    """ECS's bounds on the task-level cpu and memory."""
    problems: list[tuple[Path, str]] = []
    if spec.cpu is not None and not MIN_TASK_CPU <= spec.cpu <= MAX_TASK_CPU:
        problems.append(
            (
                ("cpu",),
                f"task cpu is {spec.cpu} units; ECS takes {MIN_TASK_CPU} (0.125 vCPU) to "
                f"{MAX_TASK_CPU} (192 vCPU)",
            )
        )
    if spec.memory is not None and spec.memory < MIN_TASK_MEMORY_MIB:
        problems.append(
            (
                ("memory",),
                f"task memory is {spec.memory} MiB; a task needs at least "
                f"{MIN_TASK_MEMORY_MIB} MiB (a container's minimum)",
            )
        )
    return problems


def _check_memory(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    for i, c in enumerate(spec.container_definitions):
        at: Path = ("containerDefinitions", i)
        if (
            c.memory is not None
            and c.memory_reservation is not None
            and c.memory_reservation > c.memory
        ):
            problems.append((at + ("memoryReservation",), "must not be greater than memory"))
        if spec.memory is None and c.memory is None and c.memory_reservation is None:
            problems.append(
                (at + ("memory",), "set memory or memoryReservation, or the task-level memory")
            )
    if spec.memory is not None:
        total = sum(c.memory_need for c in spec.container_definitions)
        if total > spec.memory:
            problems.append(
                (("memory",), f"containers reserve {total} MiB, more than the task's {spec.memory}")
            )
    if spec.cpu is not None:
        total = sum(c.cpu for c in spec.container_definitions)
        if total > spec.cpu:
            problems.append(
                (("cpu",), f"containers use {total} CPU units, more than the task's {spec.cpu}")
            )
    return problems


def _check_ports(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    seen: dict[tuple[int, str], str] = {}
    inside: dict[tuple[int, str], str] = {}  # container ports in one shared namespace
    shared = spec.network_mode == "awsvpc"  # host mode: the host-port check below covers it
    for i, c in enumerate(spec.container_definitions):
        mapped: dict[tuple[int, str], int] = {}  # this container's ports -> mapping index
        for j, p in enumerate(c.port_mappings):
            at: Path = ("containerDefinitions", i, "portMappings", j)
            mine = (p.container_port, p.protocol)
            if mine in mapped:
                # ECS: "Container port N is used in more than one port mapping for container"
                problems.append(
                    (
                        at + ("containerPort",),
                        f"container port {mine[0]}/{mine[1]} is already mapped by portMappings "
                        f"{mapped[mine]}: ECS maps a container port once",
                    )
                )
            mapped.setdefault(mine, j)
            if shared and inside.get(mine, c.name) != c.name:
                problems.append(
                    (
                        at + ("containerPort",),
                        f"{mine[0]}/{mine[1]} is also "
                        f"{inside[mine]}'s, and awsvpc containers share one network namespace",
                    )
                )
            inside.setdefault(mine, c.name)
            if spec.network_mode == "none":
                problems.append((at, "networkMode none has no ports to map"))
                continue
            if spec.network_mode == "host" and p.host_port not in (None, 0, p.container_port):
                problems.append(
                    (at + ("hostPort",), "with networkMode host, hostPort must equal containerPort")
                )
            port = p.container_port if spec.network_mode == "host" else p.host_port
            if port:
                if (port, p.protocol) in seen:
                    problems.append(
                        (
                            at + ("hostPort",),
                            f"host port {port}/{p.protocol} is already used by "
                            f"{seen[(port, p.protocol)]}",
                        )
                    )
                seen[(port, p.protocol)] = c.name
    return problems


def _check_dependencies(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    by_name = {c.name: c for c in spec.container_definitions}
    for i, c in enumerate(spec.container_definitions):
        for j, dep in enumerate(c.depends_on):
            at: Path = ("containerDefinitions", i, "dependsOn", j, "containerName")
            target = by_name.get(dep.container_name)
            if target is None:
                problems.append(
                    (at, f"no container named {quote(dep.container_name)} in this task definition")
                )
            elif target is c:
                problems.append((at, "a container cannot depend on itself"))
            elif dep.condition == "HEALTHY" and target.health_check is None:
                problems.append(
                    (at, f"condition HEALTHY needs a healthCheck on {quote(target.name)}")
                )
            elif dep.condition in ("COMPLETE", "SUCCESS") and target.essential:
                problems.append(
                    (
                        at,
                        f"condition {dep.condition} needs {quote(target.name)} to be non-essential",
                    )
                )
    cycle = _find_cycle(spec)
    if cycle:
        shared = any(c.volumes_from for c in spec.container_definitions)
        what = "dependsOn and volumesFrom have" if shared else "dependsOn has"
        problems.append((("containerDefinitions",), f"{what} a cycle: " + " -> ".join(cycle)))
    return problems


def _find_cycle(spec: TaskDefinitionSpec) -> list[str] | None:
    graph = {c.name: c.after() for c in spec.container_definitions}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in graph:
        if name not in state and (found := visit(name)):
            return found
    return None


def start_order(spec: TaskDefinitionSpec) -> list[str]:
    """Container names in an order that respects dependsOn and volumesFrom (stable for
    independent ones)."""
    done: list[str] = []
    pending = [c.name for c in spec.container_definitions]
    deps = {c.name: set(c.after()) for c in spec.container_definitions}
    while pending:
        ready = [n for n in pending if deps[n] <= set(done)]
        if not ready:  # a cycle; validation reports it, keep the declared order
            return done + pending
        done += ready
        pending = [n for n in pending if n not in ready]
    return done


def check_fargate(spec: TaskDefinitionSpec) -> list[str]:
    """Why this task definition cannot run with launch type FARGATE (empty when it can)."""
    return [message for _, message in fargate_problems(spec)]


def fargate_problems(spec: TaskDefinitionSpec) -> list[tuple[Path, str]]:
    """What RegisterTaskDefinition refuses in a task definition for FARGATE, each with the field
    at fault, in AWS's words and then what would do."""
    problems: list[tuple[Path, str]] = []
    if spec.network_mode != "awsvpc":
        problems.append(
            (("networkMode",), f"FARGATE needs networkMode awsvpc, not {spec.network_mode}")
        )
    if spec.cpu is None or spec.memory is None:
        for field, value in (("cpu", spec.cpu), ("memory", spec.memory)):
            if value is None:
                problems.append(
                    ((field,), f"Fargate requires that '{field}' be defined at the task level")
                )
    elif spec.memory not in FARGATE_SIZES.get(spec.cpu, set()):
        offered = spec.cpu in FARGATE_SIZES
        pairs = sorted(cpu for cpu, sizes in FARGATE_SIZES.items() if spec.memory in sizes)
        choices = (
            f"with cpu {spec.cpu}, memory is {_memory_choices(spec.cpu)}"
            if offered
            else f"cpu is one of {_either(sorted(FARGATE_SIZES))}"
            + (f" (with memory {spec.memory}: {_either(pairs)})" if pairs else "")
        )
        problems.append(
            (
                ("memory",) if offered else ("cpu",),
                f"No Fargate configuration exists for given values: {spec.cpu} CPU, "
                f"{spec.memory} memory; {choices}",
            )
        )
    return problems


def _memory_choices(cpu: int) -> str:
    """The memory values (MiB) Fargate pairs with a cpu, as a sentence says them: a few by
    name, a range by its ends and step."""
    sizes = sorted(FARGATE_SIZES[cpu])
    if len(sizes) <= 3:
        return _either(sizes)
    return f"{sizes[0]} to {sizes[-1]} in steps of {sizes[1] - sizes[0]}"


def _either(values: list[int]) -> str:
    """'1, 2 or 3'."""
    *first, last = (str(v) for v in values)
    return f"{', '.join(first)} or {last}" if first else last
