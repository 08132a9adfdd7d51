"""The registry of manifest kinds: each kind's spec model and its cross-field checks.

Adding a kind means adding one entry here; the loader, `skiff schema` and the daemon read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from controller.autoscaling.models.group import AutoScalingGroupSpec, check_group
from controller.autoscaling.models.scaling import (
    ScalingPolicySpec,
    ScheduledActionSpec,
    check_scheduled_action,
)
from controller.batch.models.batch import (
    ComputeEnvironmentSpec,
    JobDefinitionSpec,
    JobQueueSpec,
    check_job_definition,
)
from controller.cloudwatch.models.alarm import AlarmSpec
from controller.ec2.models.ec2 import (
    InstanceSpec,
    LaunchTemplateSpec,
    check_instance,
    check_launch_template,
)
from controller.ecs.models.service import ServiceSpec, check_service
from controller.ecs.models.task_definition import TaskDefinitionSpec, check_task_definition
from controller.elb.models.load_balancer import (
    LoadBalancerSpec,
    TargetGroupSpec,
    check_load_balancer,
)
from controller.manifests.base import API_VERSION, Metadata, Path, SpecModel
from controller.manifests.host import HostSpec, check_host


@dataclass(frozen=True)
class Kind:
    name: str
    spec: type[SpecModel]
    check: Callable[[Any], list[tuple[Path, str]]]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("Host", HostSpec, check_host),
        Kind("TaskDefinition", TaskDefinitionSpec, check_task_definition),
        Kind("Service", ServiceSpec, check_service),
        Kind("TargetGroup", TargetGroupSpec, lambda spec: []),
        Kind("LoadBalancer", LoadBalancerSpec, check_load_balancer),
        Kind("LaunchTemplate", LaunchTemplateSpec, check_launch_template),
        Kind("Instance", InstanceSpec, check_instance),
        Kind("AutoScalingGroup", AutoScalingGroupSpec, check_group),
        Kind("ScalingPolicy", ScalingPolicySpec, lambda spec: []),
        Kind("Alarm", AlarmSpec, lambda spec: []),
        Kind("ScheduledAction", ScheduledActionSpec, check_scheduled_action),
        Kind("ComputeEnvironment", ComputeEnvironmentSpec, lambda spec: []),
        Kind("JobQueue", JobQueueSpec, lambda spec: []),
        Kind("JobDefinition", JobDefinitionSpec, check_job_definition),
    )
}

ResourceKey = tuple[str, str]


@dataclass(frozen=True)
class Resource:
    """One valid manifest document: the desired state of one resource."""

    kind: str
    name: str
    spec: Any
    source: str
    document: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> ResourceKey:
        return (self.kind, self.name)


def key_str(key: ResourceKey) -> str:
    return f"{key[0]}/{key[1]}"


def json_schema() -> dict[str, Any]:
    """A JSON Schema accepting any one Skiff manifest document, for editors and `skiff schema`."""
    defs: dict[str, Any] = {}
    variants = []
    for kind in KINDS.values():
        spec_schema = kind.spec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(spec_schema.pop("$defs", {}))
        defs[f"{kind.name}Spec"] = spec_schema
        variants.append(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": {"const": API_VERSION},
                    "kind": {"const": kind.name},
                    "metadata": {"$ref": "#/$defs/Metadata"},
                    "spec": {"$ref": f"#/$defs/{kind.name}Spec"},
                },
            }
        )
    defs["Metadata"] = _strip_defs(Metadata)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Skiff manifest",
        "oneOf": variants,
        "$defs": defs,
    }


def _strip_defs(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("$defs", None)
    return schema
