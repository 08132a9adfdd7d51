"""The container settings ECS task definitions, Batch job definitions and launch templates
share: user, read-only root, ulimits, Linux parameters (capabilities, devices, tmpfs, init,
/dev/shm), volumes and mount points, extra hosts and DNS servers.

Field names and limits are ECS's (RegisterTaskDefinition's ContainerDefinition,
LinuxParameters, Volume, MountPoint); Batch and launch templates reuse the same models. Every
value that reaches Docker is checked (container_values) to be what it claims to be (an
absolute path, an IP literal, a host name, a user name), so no value can smuggle a second
setting into Docker's option strings. Whether a setting is *allowed* on this daemon is not
decided here: that is the policy's (`controller.manifests.policy`).

The settings are split by topic: container_values (checked values), linux_parameters
(capabilities, devices, tmpfs, init, /dev/shm) and container_volumes (volumes, mount points);
this module keeps the security fields themselves (user, read-only root, ulimits, extra hosts)
and exports every name of the four, as callers import them from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from pydantic import Field, field_validator

from controller.manifests.base import Path, SpecModel
from controller.manifests.container_values import (
    MAX_ID,
    MAX_PATH,
    absolute_path,
    host_name,
    ip_literal,
    path_parts,
    plain_text,
    scoped_volume_name,
    under,
    user_spec,
)
from controller.manifests.container_volumes import (
    DockerVolumeConfiguration,
    HostVolumeProperties,
    MountPoint,
    TaskVolume,
    Volume,
    VolumeFrom,
    check_mounts,
    check_volumes,
)
from controller.manifests.linux_parameters import (
    CAPABILITIES,
    MAX_MEMORY_FS_MIB,
    TMPFS_FLAGS,
    TMPFS_VALUES,
    Capability,
    Device,
    KernelCapabilities,
    LinuxParameters,
    LinuxParametersBase,
    Tmpfs,
    capability_name,
    tmpfs_option,
)

__all__ = [
    "CAPABILITIES",
    "MAX_ID",
    "MAX_LIMIT",
    "MAX_MEMORY_FS_MIB",
    "MAX_PATH",
    "TMPFS_FLAGS",
    "TMPFS_VALUES",
    "ULIMIT_NAMES",
    "Capability",
    "ContainerSecurity",
    "Device",
    "DockerVolumeConfiguration",
    "HostEntry",
    "HostVolumeProperties",
    "KernelCapabilities",
    "LinuxParameters",
    "LinuxParametersBase",
    "MountPoint",
    "TaskVolume",
    "Tmpfs",
    "Ulimit",
    "UlimitName",
    "Volume",
    "VolumeFrom",
    "absolute_path",
    "capability_name",
    "check_mounts",
    "check_ulimits",
    "check_volumes",
    "host_name",
    "ip_literal",
    "path_parts",
    "plain_text",
    "scoped_volume_name",
    "tmpfs_option",
    "under",
    "user_spec",
]

MAX_LIMIT = 2**31 - 1  # ECS's Integer

UlimitName = Literal[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
]
ULIMIT_NAMES: tuple[str, ...] = get_args(UlimitName)


class Ulimit(SpecModel):
    name: UlimitName
    """The type of the ulimit."""
    soft_limit: int = Field(ge=0, le=MAX_LIMIT)
    """The soft limit for the ulimit type."""
    hard_limit: int = Field(ge=0, le=MAX_LIMIT)
    """The hard limit for the ulimit type."""


class HostEntry(SpecModel):
    hostname: str
    """The hostname to use in the /etc/hosts entry."""
    ip_address: str
    """The IP address to use in the /etc/hosts entry."""

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        return host_name(value)

    @field_validator("ip_address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return ip_literal(value)


class ContainerSecurity(SpecModel):
    """Fields an ECS container definition and Batch's containerProperties both have."""

    privileged: bool = Field(
        False, description="Every capability and device of the host; needs --allow privileged."
    )
    user: str | None = Field(None, description="user, user:group, uid, uid:gid, ...")
    readonly_root_filesystem: bool = False
    """When this parameter is true, the container is given read-only access to its root file
    system."""
    ulimits: list[Ulimit] = Field(default_factory=list)
    """A list of ulimits to set in the container."""

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else user_spec(value)


# --- checks across fields ------------------------------------------------------------------------
def check_ulimits(ulimits: Sequence[Ulimit], at: Path) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for j, u in enumerate(ulimits):
        if u.name in seen:
            problems.append(((*at, "ulimits", j, "name"), f"ulimit {u.name} is set twice"))
        seen.add(u.name)
        if u.soft_limit > u.hard_limit:
            problems.append(
                (
                    (*at, "ulimits", j, "softLimit"),
                    f"softLimit {u.soft_limit} is greater than hardLimit {u.hard_limit}",
                )
            )
    return problems
