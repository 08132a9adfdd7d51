"""What an EC2 LaunchTemplate or Instance manifest asks of the host beyond the baseline
(privileged, capabilities, devices), for the daemon's `--allow` policy to grant or refuse."""

from __future__ import annotations

from controller.ec2.models.ec2 import InstanceSpec, LaunchTemplateSpec
from controller.manifests.launch_template_data import launch_template_data_needs
from controller.manifests.policy import Need


def launch_template_needs(spec: LaunchTemplateSpec) -> list[Need]:
    return launch_template_data_needs(spec.launch_template_data, ("launchTemplateData",))


def instance_needs(spec: InstanceSpec) -> list[Need]:
    data = spec.launch_template_data
    return [] if data is None else launch_template_data_needs(data, ("launchTemplateData",))
