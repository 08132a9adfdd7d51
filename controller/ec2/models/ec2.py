"""The EC2-style kinds: `LaunchTemplate` and `Instance` (Auto Scaling groups are
`controller.autoscaling.models.group`'s).

An instance is one long-running container; its instance type sets Docker CPU and memory limits;
its root volume is a named volume (`ebs`, kept across stop/start) or a tmpfs (`instance-store`,
gone at stop). Launch templates have immutable numbered versions chosen by `$Latest`,
`$Default` or a number. Field names follow the EC2 and Auto Scaling APIs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from controller.manifests.base import Path, SpecModel
from controller.manifests.launch_template_data import LaunchTemplateData, check_launch_template_data
from controller.manifests.templates import TemplateRef


def check_launch_template(spec: LaunchTemplateSpec) -> list[tuple[Path, str]]:
    return check_launch_template_data(spec.launch_template_data, ("launchTemplateData",))


def check_instance(spec: InstanceSpec) -> list[tuple[Path, str]]:
    data = spec.launch_template_data
    return [] if data is None else check_launch_template_data(data, ("launchTemplateData",))


class LaunchTemplateSpec(SpecModel):
    launch_template_data: LaunchTemplateData
    """The information for the launch template."""
    default_version: int | None = Field(
        None, ge=1, description="The version $Default selects (1 until set)."
    )


class InstanceSpec(SpecModel):
    launch_template: TemplateRef | None = None
    """The launch template to use to launch the instance."""
    launch_template_data: LaunchTemplateData | None = Field(
        None, description="Inline settings, instead of a launch template."
    )
    desired_state: Literal["running", "stopped"] = "running"
    """Whether the instance should be running or stopped."""
    disable_api_termination: bool | None = Field(
        None, description="Refuse termination through the API; default: the template's."
    )
    instance_initiated_shutdown_behavior: Literal["stop", "terminate"] = "stop"
    """Indicates whether an instance stops or terminates when you initiate shutdown from the
    instance."""
    availability_zone: str | None = None
    """The Availability Zone of the instance."""

    @model_validator(mode="after")
    def _source(self) -> InstanceSpec:
        if (self.launch_template is None) == (self.launch_template_data is None):
            raise ValueError("give either launchTemplate or launchTemplateData")
        return self
