"""The container settings ECS task definitions, Batch job definitions and launch templates
share: user, read-only root, ulimits, Linux parameters (capabilities, devices, tmpfs, init,
/dev/shm), volumes and mount points, extra hosts and DNS servers.

Field names and limits are ECS's (RegisterTaskDefinition's ContainerDefinition,
LinuxParameters, Volume, MountPoint); Batch and launch templates reuse the same models. Every
value that reaches Docker is checked here to be what it claims to be (an absolute path, an IP
literal, a host name, a user name), so no value can smuggle a second setting into Docker's
option strings. Whether a setting is *allowed* on this daemon is not decided here: that is
the policy's (`controller.manifests.policy`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator

from controller import addresses
from controller.manifests.base import Path, SpecModel, quote

# Sizes of memory file systems (tmpfs, /dev/shm), in MiB: AWS gives no ceiling; Skiff caps them
# at 1 TiB so that a typo cannot ask Docker for more bytes than it can count.
MAX_MEMORY_FS_MIB = 1024 * 1024
MAX_LIMIT = 2**31 - 1  # ECS's Integer
MAX_ID = 2**32 - 2  # the largest uid/gid Linux gives out
MAX_PATH = 4096

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

_PATH = re.compile(r"/[A-Za-z0-9._@+=~/-]*")
_NAME_OR_ID = r"(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})"
_USER = re.compile(rf"({_NAME_OR_ID})(?::({_NAME_OR_ID}))?")
_VOLUME_NAME = r"^[A-Za-z0-9_-]{1,255}$"  # ECS: letters, digits, underscores and hyphens
_DOCKER_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
_DRIVER = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- values --------------------------------------------------------------------------------------
def absolute_path(value: str, *, root_ok: bool = True) -> str:
    """An absolute path of plain characters, without `.` or `..` components: it names one
    place, the same one for Docker and for the policy's prefix checks."""
    if not value.startswith("/"):
        raise ValueError(f"must be an absolute path (starting with /), not {quote(value)}")
    if len(value) > MAX_PATH:
        raise ValueError(f"is {len(value)} characters long; at most {MAX_PATH}")
    if not _PATH.fullmatch(value):
        raise ValueError(
            f"{quote(value)} has a character paths here may not use: letters, digits, "
            "'.', '_', '-', '@', '+', '=', '~' and '/' only"
        )
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{quote(value)} must not contain '.' or '..' components")
    if not root_ok and not path_parts(value):
        raise ValueError("cannot be / itself")
    return value


def path_parts(path: str) -> tuple[str, ...]:
    """A checked absolute path as its components (repeated slashes mean nothing)."""
    return tuple(p for p in path.split("/") if p)


def under(path: str, prefix: str) -> bool:
    """Whether checked absolute `path` is `prefix` or inside it."""
    mine, theirs = path_parts(path), path_parts(prefix)
    return mine[: len(theirs)] == theirs


def ip_literal(value: str) -> str:
    """An IPv4 or IPv6 address, written as an address (no zone, no name, no port)."""
    if addresses.ip_literal(value) is None:
        raise ValueError(f"{quote(value)} is not an IPv4 or IPv6 address")
    return value


def host_name(value: str) -> str:
    """A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens."""
    problem = addresses.host_name_problem(value)
    if problem is not None:
        raise ValueError(f"{quote(value)} is not a host name ({problem})")
    return value


def user_spec(value: str) -> str:
    """ECS's user forms: user, user:group, uid, uid:gid, user:gid, uid:group."""
    match = _USER.fullmatch(value)
    if not match:
        raise ValueError(
            f"{quote(value)} is not a user: use user, user:group, uid, uid:gid, user:gid or "
            "uid:group "
            "(names of letters, digits, '_', '.', '-', starting with a letter or '_')"
        )
    for part in match.groups():
        if part is not None and part.isdigit() and int(part) > MAX_ID:
            raise ValueError(f"id {part} is larger than {MAX_ID}")
    return value


def plain_text(value: str, what: str, limit: int = 4096) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            f"{what} {quote(value)} contains a control character (a newline, a tab...)"
        )
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long; at most {limit}")
    return value


def scoped_volume_name(prefix: str, name: str) -> str:
    """A Docker volume name of Skiff's for volume `name` of one task or job attempt; kept
    short enough to be a directory name, unique through a hash when cut."""
    full = f"{prefix}-{name}"
    if len(full) <= 200:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[:180]}-{digest}"


# --- models --------------------------------------------------------------------------------------
class Ulimit(SpecModel):
    name: UlimitName
    soft_limit: int = Field(ge=0, le=MAX_LIMIT)
    hard_limit: int = Field(ge=0, le=MAX_LIMIT)


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
    size: int = Field(ge=1, le=MAX_MEMORY_FS_MIB, description="MiB.")
    mount_options: list[Annotated[str, AfterValidator(tmpfs_option)]] = Field(default_factory=list)

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
    devices: list[Device] = Field(default_factory=list)


class LinuxParameters(LinuxParametersBase):
    capabilities: KernelCapabilities | None = None


class HostEntry(SpecModel):
    hostname: str
    ip_address: str

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        return host_name(value)

    @field_validator("ip_address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return ip_literal(value)


class HostVolumeProperties(SpecModel):
    source_path: str | None = Field(None, description="A host path; none: a Docker volume.")

    @field_validator("source_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else absolute_path(value)


class DockerVolumeConfiguration(SpecModel):
    scope: Literal["task", "shared"] = "task"
    autoprovision: bool = Field(False, description="shared: create the volume when missing.")
    driver: str | None = Field(None, pattern=_DRIVER, description="Default: local.")
    driver_opts: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("driver_opts")
    @classmethod
    def _opts(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,255}", key):
                raise ValueError(f"option name {quote(key)}: letters, digits, '_', '.', '-' only")
            plain_text(text, f"option {key}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            plain_text(key, "label name", 255)
            plain_text(text, f"label {key}")
            if not key or key.startswith("skiff."):
                raise ValueError(f"label {quote(key)}: the skiff. prefix is reserved")
        return value

    @property
    def local(self) -> bool:
        return self.driver in (None, "local")


class Volume(SpecModel):
    """A volume as Batch has it: a host path, or (no host) a volume of the attempt's own."""

    name: str = Field(pattern=_VOLUME_NAME)
    host: HostVolumeProperties | None = None

    @property
    def source_path(self) -> str | None:
        return self.host.source_path if self.host else None


class TaskVolume(Volume):
    """ECS's task volume: also a Docker volume, scoped to the task or shared between tasks."""

    docker_volume_configuration: DockerVolumeConfiguration | None = None


class MountPoint(SpecModel):
    source_volume: str
    container_path: str
    read_only: bool = False

    @field_validator("container_path")
    @classmethod
    def _path(cls, value: str) -> str:
        return absolute_path(value, root_ok=False)


class VolumeFrom(SpecModel):
    source_container: str
    read_only: bool = False


class ContainerSecurity(SpecModel):
    """Fields an ECS container definition and Batch's containerProperties both have."""

    privileged: bool = Field(
        False, description="Every capability and device of the host; needs --allow privileged."
    )
    user: str | None = Field(None, description="user, user:group, uid, uid:gid, ...")
    readonly_root_filesystem: bool = False
    ulimits: list[Ulimit] = Field(default_factory=list)

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


def check_mounts(
    volumes: Sequence[Volume],
    mount_points: Sequence[MountPoint],
    linux: LinuxParametersBase | None,
    at: Path,
    volumes_at: Path = ("volumes",),
    taken: Iterable[str] = (),
) -> list[tuple[Path, str]]:
    """mountPoints name volumes there are; no two mounts (mount points, tmpfs, or `taken`
    paths) land on one container path."""
    problems: list[tuple[Path, str]] = []
    names = {v.name for v in volumes}
    where = ".".join(str(p) for p in volumes_at)
    paths: dict[tuple[str, ...], str] = {path_parts(p): "the root volume" for p in taken}
    mounts: list[tuple[Path, str, str]] = [
        ((*at, "mountPoints", j), m.container_path, f"mountPoints.{j}")
        for j, m in enumerate(mount_points)
    ]
    mounts += [
        ((*at, "linuxParameters", "tmpfs", j), t.container_path, f"tmpfs.{j}")
        for j, t in enumerate(linux.tmpfs if linux else ())
    ]
    for j, m in enumerate(mount_points):
        if m.source_volume not in names:
            known = ", ".join(sorted(names)) or "none"
            problems.append(
                (
                    (*at, "mountPoints", j, "sourceVolume"),
                    f"no volume named {quote(m.source_volume)} in {where} (volumes: {known})",
                )
            )
    for path, container_path, what in mounts:
        key = path_parts(container_path)
        if key in paths:
            problems.append(
                ((*path, "containerPath"), f"{container_path} is also {paths[key]}'s mount")
            )
        paths.setdefault(key, what)
    return problems


def check_volumes(volumes: Sequence[Volume], at: Path = ("volumes",)) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    names = [v.name for v in volumes]
    for i, v in enumerate(volumes):
        if names.index(v.name) != i:
            problems.append(((*at, i, "name"), f"duplicate volume name {quote(v.name)}"))
        config = v.docker_volume_configuration if isinstance(v, TaskVolume) else None
        if config is None:
            continue
        if v.host is not None:
            problems.append(((*at, i), "give host or dockerVolumeConfiguration, not both"))
        if config.scope == "task" and config.autoprovision:
            problems.append(
                (
                    (*at, i, "dockerVolumeConfiguration", "autoprovision"),
                    "autoprovision is for scope shared: a task-scoped volume is always created",
                )
            )
        if config.scope == "shared" and not _DOCKER_VOLUME_NAME.fullmatch(v.name):
            problems.append(
                (
                    (*at, i, "name"),
                    "a shared volume is the Docker volume of that name, which must start with "
                    "a letter or digit and have at least 2 characters",
                )
            )
    return problems
