"""The AWS Batch kinds: `ComputeEnvironment`, `JobQueue` and `JobDefinition`.

Jobs are not manifests: they are submitted through the CLI and the daemon's API and kept in the
store. A compute environment is a share of the pool (some hosts or zones) capped at maxvCpus;
a job queue feeds jobs to its environments in order, higher priority first where queues share
an environment, FIFO or by fair share within a queue; a job definition is a container (or a
multi-node group of them) with parameters, a retry strategy and a timeout, registered in
revisions like a task definition.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from controller.manifests.base import Path, SpecModel, quote
from controller.manifests.container_security import (
    ContainerSecurity,
    LinuxParametersBase,
    MountPoint,
    Volume,
    check_mounts,
    check_ulimits,
    check_volumes,
)
from controller.manifests.containers import KeyValuePair

MAX_ATTEMPTS = 10
MIN_TIMEOUT = 60  # seconds: attemptDurationSeconds' floor on AWS (the daemon may lower it)
MAX_RULES = 5  # evaluateOnExit rules
PARAMETER = re.compile(r"Ref::([A-Za-z0-9_]+)")
_EXIT_CODE = re.compile(r"^[0-9]*\*?$")
_REASON = re.compile(r"^[A-Za-z0-9.: ]*\*?$")


class ComputeEnvironmentSpec(SpecModel):
    """A managed compute environment on the pool: where its jobs may run and how many vCPUs
    they may hold at once."""

    state: Literal["ENABLED", "DISABLED"] = "ENABLED"
    """The state of the compute environment; an ENABLED one can accept jobs from a queue."""
    hosts: list[str] = Field(default_factory=list, description="Host names; none: any host.")
    zones: list[str] = Field(default_factory=list, description="Zones; none: any zone.")
    max_vcpus: int = Field(alias="maxvCpus", ge=1, description="vCPUs its jobs hold at most.")
    min_vcpus: int = Field(0, alias="minvCpus", ge=0, description="vCPUs kept for it.")

    @model_validator(mode="after")
    def _vcpus(self) -> ComputeEnvironmentSpec:
        if self.min_vcpus > self.max_vcpus:
            raise ValueError(f"minvCpus ({self.min_vcpus}) exceeds maxvCpus ({self.max_vcpus})")
        return self


class EnvironmentOrder(SpecModel):
    order: int = Field(ge=0)
    """The order of the compute environment; lower orders are tried first."""
    compute_environment: str
    """The name of the compute environment."""


class ShareWeight(SpecModel):
    share_identifier: str = Field(pattern=r"^[A-Za-z0-9]{1,255}\*?$")
    """A fair share identifier or fair share identifier prefix."""
    weight_factor: float = Field(1.0, gt=0, le=999.9999)
    """The weight factor for the fair share identifier; a lower weight gets more resources."""


class FairSharePolicy(SpecModel):
    """AWS Batch's fair-share scheduling: shares get capacity in inverse proportion to their
    weight factor times their recent usage."""

    share_decay_seconds: int = Field(0, ge=0, le=604800)
    """The amount of time (in seconds) to use to calculate a fair share percentage for each fair
    share identifier in use."""
    compute_reservation: int = Field(0, ge=0, le=99)
    """A value used to reserve some of the available maximum vCPU for fair share identifiers that
    aren't already used."""
    share_distribution: list[ShareWeight] = Field(default_factory=list, max_length=500)
    """An array of share identifiers and their weight factors."""


class JobQueueSpec(SpecModel):
    state: Literal["ENABLED", "DISABLED"] = "ENABLED"
    """The state of the job queue; an ENABLED one can accept jobs."""
    priority: int = Field(ge=0, le=1000, description="Higher runs first on shared environments.")
    compute_environment_order: list[EnvironmentOrder] = Field(min_length=1, max_length=3)
    """The set of compute environments mapped to a job queue and their order relative to each
    other."""
    fair_share_policy: FairSharePolicy | None = None
    """The fair share policy of the queue; without one, jobs run first in, first out."""

    @model_validator(mode="after")
    def _orders(self) -> JobQueueSpec:
        orders = [e.order for e in self.compute_environment_order]
        if len(set(orders)) != len(orders):
            raise ValueError("computeEnvironmentOrder has the same order twice")
        names = [e.compute_environment for e in self.compute_environment_order]
        if len(set(names)) != len(names):
            raise ValueError("computeEnvironmentOrder names the same environment twice")
        return self

    def environments(self) -> list[str]:
        return [
            e.compute_environment
            for e in sorted(self.compute_environment_order, key=lambda e: e.order)
        ]


class EvaluateOnExit(SpecModel):
    """A retry rule: glob patterns (`*` at the end only, as AWS allows) on the exit code,
    the reason and the status reason; all given must match."""

    on_exit_code: str | None = Field(None, max_length=512)
    """A glob pattern to match against the decimal exit code returned for a job."""
    on_reason: str | None = Field(None, max_length=512)
    """A glob pattern to match against the reason returned for a job."""
    on_status_reason: str | None = Field(None, max_length=512)
    """A glob pattern to match against the status reason returned for a job."""
    action: Literal["RETRY", "EXIT"]
    """The action to take if all of the specified conditions are met: RETRY or EXIT."""

    @field_validator("action", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value  # AWS is case-insensitive

    @field_validator("on_exit_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is not None and not _EXIT_CODE.match(value):
            raise ValueError("onExitCode is digits, optionally ending in *")
        return value

    @field_validator("on_reason", "on_status_reason")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not _REASON.match(value):
            raise ValueError(
                "letters, digits, '.', ':' and spaces, optionally ending in * (AWS's patterns)"
            )
        return value

    @model_validator(mode="after")
    def _something(self) -> EvaluateOnExit:
        if self.on_exit_code is None and self.on_reason is None and self.on_status_reason is None:
            raise ValueError("a rule needs onExitCode, onReason or onStatusReason")
        return self

    def matches(self, exit_code: int | None, reason: str, status_reason: str) -> bool:
        pairs = (
            (self.on_exit_code, "" if exit_code is None else str(exit_code)),
            (self.on_reason, reason),
            (self.on_status_reason, status_reason),
        )
        return all(p is None or fnmatch.fnmatchcase(v, p) for p, v in pairs)


class RetryStrategy(SpecModel):
    attempts: int = Field(1, ge=1, le=MAX_ATTEMPTS)
    """The number of times to move a job to the RUNNABLE status."""
    evaluate_on_exit: list[EvaluateOnExit] = Field(default_factory=list, max_length=MAX_RULES)
    """Conditions that decide whether a failed job is retried or exits."""

    @model_validator(mode="after")
    def _attempts(self) -> RetryStrategy:
        if self.evaluate_on_exit and "attempts" not in self.model_fields_set:
            raise ValueError("evaluateOnExit needs attempts (AWS requires it with rules)")
        return self


class JobTimeout(SpecModel):
    attempt_duration_seconds: int = Field(ge=1, description="At least 60 on AWS.")


class ContainerProperties(ContainerSecurity):
    image: str = Field(min_length=1)
    """The image used to start a container."""
    command: list[str] = Field(default_factory=list)
    """The command that's passed to the container."""
    vcpus: float = Field(1, gt=0, le=256)
    """The number of vCPUs reserved for the job."""
    memory: int = Field(2048, ge=4, description="MiB, a hard limit.")
    environment: list[KeyValuePair] = Field(default_factory=list)
    """The environment variables to pass to a container."""
    linux_parameters: LinuxParametersBase | None = None
    """Linux-specific modifications that are applied to the container."""
    volumes: list[Volume] = Field(
        default_factory=list, description="Host paths, or (no host) a volume per attempt."
    )
    mount_points: list[MountPoint] = Field(default_factory=list)
    """The mount points for data volumes in your container."""

    def references(self) -> set[str]:
        """The parameters its command names: whole arguments `Ref::name`, the only ones AWS
        substitutes."""
        return {m.group(1) for arg in self.command if (m := PARAMETER.fullmatch(arg))}

    @field_validator("environment")
    @classmethod
    def _reserved(cls, value: list[KeyValuePair]) -> list[KeyValuePair]:
        for kv in value:
            if kv.name.startswith("AWS_BATCH_"):
                raise ValueError(f"{kv.name}: the AWS_BATCH_ prefix is reserved for Batch")
        return value


class NodeRange(SpecModel):
    target_nodes: str = Field(pattern=r"^([0-9]*:[0-9]*|[0-9]+)$", description="e.g. 0:, 1:3, 2")
    container: ContainerProperties
    """The container details for the node range."""


class NodeProperties(SpecModel):
    num_nodes: int = Field(ge=1, le=1000)
    """The number of nodes that are associated with a multi-node parallel job."""
    main_node: int = Field(0, ge=0)
    """Specifies the node index for the main node of a multi-node parallel job."""
    node_range_properties: list[NodeRange] = Field(min_length=1, max_length=5)
    """A list of node ranges and their properties that are associated with a multi-node parallel
    job."""

    @model_validator(mode="after")
    def _ranges(self) -> NodeProperties:
        if self.main_node >= self.num_nodes:
            raise ValueError(f"mainNode {self.main_node} is not below numNodes {self.num_nodes}")
        covered = [0] * self.num_nodes
        for r in self.node_range_properties:
            lo, hi = self.span(r.target_nodes)
            if hi >= self.num_nodes or lo > hi:
                raise ValueError(
                    f"targetNodes {quote(r.target_nodes)} is outside 0-{self.num_nodes - 1}"
                )
            for i in range(lo, hi + 1):
                covered[i] += 1
        if any(c != 1 for c in covered):
            missing = [i for i, c in enumerate(covered) if c == 0]
            twice = [i for i, c in enumerate(covered) if c > 1]
            what = f"node {missing[0]} has no range" if missing else f"node {twice[0]} has two"
            raise ValueError(f"nodeRangeProperties must cover every node once: {what}")
        return self

    def span(self, target: str) -> tuple[int, int]:
        if ":" not in target:
            return int(target), int(target)
        lo, _, hi = target.partition(":")
        return int(lo or 0), int(hi) if hi else self.num_nodes - 1

    def container_for(self, node: int) -> ContainerProperties:
        for r in self.node_range_properties:
            lo, hi = self.span(r.target_nodes)
            if lo <= node <= hi:
                return r.container
        raise KeyError(node)


class JobDefinitionSpec(SpecModel):
    type: Literal["container", "multinode"] = "container"
    """The type of job definition: container or multinode."""
    parameters: dict[str, str] = Field(default_factory=dict, description="Defaults for Ref::.")
    container_properties: ContainerProperties | None = None
    """An object with properties specific to container-based jobs."""
    node_properties: NodeProperties | None = None
    """An object with properties specific to multi-node parallel jobs."""
    retry_strategy: RetryStrategy = Field(default_factory=RetryStrategy)
    """The retry strategy to use for failed jobs that are submitted with this job definition."""
    timeout: JobTimeout | None = None
    """The timeout time for jobs that are submitted with this job definition."""

    @model_validator(mode="after")
    def _shape(self) -> JobDefinitionSpec:
        if self.type == "container" and self.container_properties is None:
            raise ValueError("type container needs containerProperties")
        if self.type == "container" and self.node_properties is not None:
            raise ValueError("nodeProperties goes with type multinode")
        if self.type == "multinode" and self.node_properties is None:
            raise ValueError("type multinode needs nodeProperties")
        if self.type == "multinode" and self.container_properties is not None:
            raise ValueError("type multinode takes its containers from nodeProperties")
        return self

    def containers(self) -> list[ContainerProperties]:
        if self.container_properties is not None:
            return [self.container_properties]
        assert self.node_properties is not None
        return [r.container for r in self.node_properties.node_range_properties]

    def vcpus(self) -> float:
        """vCPUs one attempt holds: its container, or all its nodes together."""
        if self.container_properties is not None:
            return self.container_properties.vcpus
        assert self.node_properties is not None
        n = self.node_properties
        return sum(n.container_for(i).vcpus for i in range(n.num_nodes))


def check_job_definition(spec: JobDefinitionSpec) -> list[tuple[Path, str]]:
    """Each container's volumes, mount points and ulimits agree with one another."""
    places: list[tuple[Path, ContainerProperties]] = []
    if spec.container_properties is not None:
        places.append((("containerProperties",), spec.container_properties))
    if spec.node_properties is not None:
        places += [
            (("nodeProperties", "nodeRangeProperties", k, "container"), r.container)
            for k, r in enumerate(spec.node_properties.node_range_properties)
        ]
    problems: list[tuple[Path, str]] = []
    for at, c in places:
        problems += check_volumes(c.volumes, (*at, "volumes"))
        problems += check_mounts(
            c.volumes, c.mount_points, c.linux_parameters, at, volumes_at=(*at, "volumes")
        )
        problems += check_ulimits(c.ulimits, at)
    return problems
