"""The settings an instance launches with (`LaunchTemplateData`): image, instance type, root
volume, user data, ports, health check and Linux parameters. EC2's LaunchTemplate versions and
inline Instance settings hold them; the instance machinery in the core (`core/instances/`)
launches from them, for EC2's instances and Auto Scaling groups' alike. Both services use it,
so it lives here, where each may import it without importing the other. Models and checks
only: nothing here reads the store or Docker.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from controller.manifests.base import Path, SpecModel, absolute_path_problem, quote
from controller.manifests.container_security import LinuxParameters, check_mounts
from controller.manifests.containers import HealthCheck, KeyValuePair
from controller.manifests.policy import Need, container_needs

MAX_USER_DATA = 16 * 1024  # bytes, before base64, as EC2 limits it

# vCPUs and memory (MiB) of familiar instance types.
INSTANCE_TYPES: dict[str, tuple[float, int]] = {
    "t3.nano": (2, 512),
    "t3.micro": (2, 1024),
    "t3.small": (2, 2048),
    "t3.medium": (2, 4096),
    "t3.large": (2, 8192),
    "t3.xlarge": (4, 16384),
    "m5.large": (2, 8192),
    "m5.xlarge": (4, 16384),
    "m5.2xlarge": (8, 32768),
    "c5.large": (2, 4096),
    "c5.xlarge": (4, 8192),
    "c5.2xlarge": (8, 16384),
    "r5.large": (2, 16384),
    "r5.xlarge": (4, 32768),
}


class CustomInstanceType(SpecModel):
    v_cpus: float = Field(gt=0, le=256)
    """The number of vCPUs of the instance."""
    memory_mi_b: int = Field(ge=6, description="MiB")


class RootVolume(SpecModel):
    type: Literal["ebs", "instance-store"] = "ebs"
    """The kind of root volume: ebs persists across stops, instance-store is lost when the instance
    stops."""
    mount_path: str = Field("/data", pattern=r"^/[^\s]*$")
    """Where the root volume is mounted in the instance's container."""

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        problem = absolute_path_problem(value, mount=True)
        if problem is not None:
            raise ValueError(f"mountPath {problem}")
        return value


class LaunchTemplateData(SpecModel):
    image_id: str = Field(min_length=1, description="A Docker image (the AMI).")
    instance_type: str = "t3.micro"
    """The instance type, or custom with customInstanceType."""
    custom_instance_type: CustomInstanceType | None = Field(
        None, description="vCPUs and memory when instanceType is 'custom'."
    )
    user_data: str | None = Field(None, description="A script run once, at first boot.")
    tags: dict[str, str] = Field(default_factory=dict)
    """The tags to apply to the instances."""
    root_volume: RootVolume = Field(default_factory=RootVolume)
    """The instance's data volume (its EBS root volume or instance store)."""
    environment: list[KeyValuePair] = Field(default_factory=list)
    """The environment variables of the instance's container."""
    command: list[str] | None = None
    """The command that's passed to the instance's container."""
    entry_point: list[str] | None = None
    """The entry point that's passed to the instance's container."""
    ports: list[int] = Field(default_factory=list, description="Container ports to publish.")
    health_check: HealthCheck | None = Field(None, description="Feeds the status checks.")
    disable_api_termination: bool = Field(
        False, description="Refuse termination through the API (Auto Scaling still may)."
    )
    privileged: bool = Field(
        False, description="Every capability and device of the host; needs --allow privileged."
    )
    linux_parameters: LinuxParameters | None = None
    """Linux-specific modifications that are applied to the instance's container."""

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > MAX_USER_DATA:
            raise ValueError(f"is {len(value.encode())} bytes; EC2 allows at most {MAX_USER_DATA}")
        return value

    @model_validator(mode="after")
    def _type(self) -> LaunchTemplateData:
        if self.instance_type == "custom":
            if self.custom_instance_type is None:
                raise ValueError("instanceType custom needs customInstanceType {vCpus, memoryMiB}")
        elif self.instance_type not in INSTANCE_TYPES:
            raise ValueError(
                f"unknown instanceType {quote(self.instance_type)}: one of "
                f"{', '.join(INSTANCE_TYPES)}, or custom with customInstanceType"
            )
        elif self.custom_instance_type is not None:
            raise ValueError("customInstanceType needs instanceType custom")
        return self

    def resources(self) -> tuple[float, int]:
        """(vCPUs, memory MiB) of its instance type."""
        if self.custom_instance_type is not None:
            return self.custom_instance_type.v_cpus, self.custom_instance_type.memory_mi_b
        return INSTANCE_TYPES[self.instance_type]


def check_launch_template_data(data: LaunchTemplateData, at: Path) -> list[tuple[Path, str]]:
    """tmpfs mounts must not land on the root volume's path."""
    return check_mounts([], [], data.linux_parameters, at, taken=[data.root_volume.mount_path])


def launch_template_data_needs(data: LaunchTemplateData, at: Path = ()) -> list[Need]:
    """What the settings ask of the host beyond the baseline (privileged, capabilities,
    devices), for the daemon's `--allow` policy to grant or refuse."""
    return container_needs(data.privileged, data.linux_parameters, at)
