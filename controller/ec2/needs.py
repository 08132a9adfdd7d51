"""What an instance's launch template data asks of the host beyond the baseline (privileged,
capabilities, devices), for the daemon's `--allow` policy to grant or refuse."""

from __future__ import annotations

from controller.ec2.models.ec2 import InstanceSpec, LaunchTemplateData, LaunchTemplateSpec
from controller.manifests.base import Path
from controller.manifests.policy import Need, container_needs


def launch_template_data_needs(data: LaunchTemplateData, at: Path = ()) -> list[Need]:
    return container_needs(data.privileged, data.linux_parameters, at)


def launch_template_needs(spec: LaunchTemplateSpec) -> list[Need]:
    return launch_template_data_needs(spec.launch_template_data, ("launchTemplateData",))


def instance_needs(spec: InstanceSpec) -> list[Need]:
    data = spec.launch_template_data
    return [] if data is None else launch_template_data_needs(data, ("launchTemplateData",))
