"""ECS's LinuxParameters (Batch's without capabilities): kernel capabilities, devices, tmpfs
mounts with ECS's mount options, the init process and /dev/shm. Field names and limits are
ECS's; values are checked in container_values.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator

from controller.manifests.base import SpecModel, quote
from controller.manifests.container_values import absolute_path

# Sizes of memory file systems (tmpfs, /dev/shm), in MiB: AWS gives no ceiling; Skiff caps them
# at 1 TiB so that a typo cannot ask Docker for more bytes than it can count.
MAX_MEMORY_FS_MIB = 1024 * 1024

# ECS's KernelCapabilities values (capabilities(7) without the CAP_ prefix), and ALL.
CAPABILITIES = (
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
)

# ECS's tmpfs mountOptions. The ones taking a value are written `name=value`.
TMPFS_FLAGS = frozenset(
    {
        "defaults",
        "ro",
        "rw",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "exec",
        "noexec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "bind",
        "rbind",
        "unbindable",
        "runbindable",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
    }
)
TMPFS_VALUES = {
    "mode": re.compile(r"[0-7]{3,4}"),
    "uid": re.compile(r"[0-9]{1,10}"),
    "gid": re.compile(r"[0-9]{1,10}"),
    "nr_inodes": re.compile(r"[0-9]{1,19}[kKmMgG%]?"),
    "nr_blocks": re.compile(r"[0-9]{1,19}[kKmMgG%]?"),
    "mpol": re.compile(r"(default|prefer|bind|interleave|local)(:[0-9-]{1,64})?"),
}


def capability_name(name: str) -> str:
    if name in CAPABILITIES:
        return name
    bare = name.upper().removeprefix("CAP_")
    if bare in CAPABILITIES:
        raise ValueError(f"{quote(name)}: write ECS's name {quote(bare)} (upper case, no CAP_)")
    raise ValueError(
        f"unknown capability {quote(name)}: one of ECS's names, e.g. NET_ADMIN, SYS_PTRACE, or ALL"
    )


Capability = Annotated[
    str,
    AfterValidator(capability_name),
    WithJsonSchema({"type": "string", "enum": list(CAPABILITIES)}),
]


class KernelCapabilities(SpecModel):
    add: list[Capability] = Field(
        default_factory=list, description="Added to Docker's default set."
    )
    drop: list[Capability] = Field(
        default_factory=list, description="Taken from Docker's default set."
    )

    @field_validator("add", "drop")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names a capability twice")
        return value


class Device(SpecModel):
    host_path: str
    """The path for the device on the host container instance."""
    container_path: str | None = Field(None, description="Default: the host path.")
    permissions: list[Literal["read", "write", "mknod"]] = Field(
        default_factory=list, description="Default: read, write and mknod."
    )

    @field_validator("host_path")
    @classmethod
    def _host(cls, value: str) -> str:
        return absolute_path(value, root_ok=False)

    @field_validator("container_path")
    @classmethod
    def _container(cls, value: str | None) -> str | None:
        return None if value is None else absolute_path(value, root_ok=False)

    def cgroup_permissions(self) -> str:
        wanted = set(self.permissions or ("read", "write", "mknod"))
        return "".join(c for c, p in (("r", "read"), ("w", "write"), ("m", "mknod")) if p in wanted)


def tmpfs_option(option: str) -> str:
    name, eq, arg = option.partition("=")
    if not eq and name in TMPFS_FLAGS:
        return option
    if name in TMPFS_VALUES:
        if not eq:
            raise ValueError(f"{name} needs a value, e.g. {name}={_example(name)}")
        if not TMPFS_VALUES[name].fullmatch(arg):
            raise ValueError(f"{quote(option)}: not a value {name} takes")
        return option
    if name == "size":
        raise ValueError(f"{quote(option)}: the tmpfs's size is its size field, in MiB")
    raise ValueError(
        f"{quote(option)} is not one of ECS's tmpfs mount options ("
        f"{', '.join(sorted(TMPFS_FLAGS))}, or {'=, '.join(TMPFS_VALUES)}=VALUE)"
    )


class Tmpfs(SpecModel):
    container_path: str
    """The absolute file path where the tmpfs volume is to be mounted."""
    size: int = Field(ge=1, le=MAX_MEMORY_FS_MIB, description="MiB.")
    mount_options: list[Annotated[str, AfterValidator(tmpfs_option)]] = Field(default_factory=list)
    """The list of tmpfs volume mount options."""

    @field_validator("container_path")
    @classmethod
    def _path(cls, value: str) -> str:
        return absolute_path(value, root_ok=False)


def _example(name: str) -> str:
    return {"mode": "1777", "mpol": "default"}.get(name, "1000")


class LinuxParametersBase(SpecModel):
    """What Batch's LinuxParameters has; ECS's adds capabilities."""

    init_process_enabled: bool = Field(
        False, description="Run an init process (Docker's --init) that reaps and forwards signals."
    )
    shared_memory_size: int | None = Field(
        None, ge=1, le=MAX_MEMORY_FS_MIB, description="Size of /dev/shm, MiB."
    )
    tmpfs: list[Tmpfs] = Field(default_factory=list)
    """The container path, mount options, and size (in MiB) of the tmpfs mount."""
    devices: list[Device] = Field(default_factory=list)
    """Any host devices to expose to the container."""


class LinuxParameters(LinuxParametersBase):
    capabilities: KernelCapabilities | None = None
    """The Linux capabilities for the container that are added to or dropped from the default
    configuration provided by Docker."""
