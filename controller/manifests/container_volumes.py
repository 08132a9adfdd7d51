"""Volumes and mounts of containers: ECS's task volumes (a host path, or a Docker volume
scoped to the task or shared), Batch's volumes, mount points and volumesFrom, and the checks
across fields (mount points name volumes there are; no two mounts land on one path; volume
names unique).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import Field, field_validator

from controller.manifests.base import Path, SpecModel, quote
from controller.manifests.container_values import absolute_path, path_parts, plain_text
from controller.manifests.linux_parameters import LinuxParametersBase

_VOLUME_NAME = r"^[A-Za-z0-9_-]{1,255}$"  # ECS: letters, digits, underscores and hyphens
_DOCKER_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
_DRIVER = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$"


class HostVolumeProperties(SpecModel):
    source_path: str | None = Field(None, description="A host path; none: a Docker volume.")

    @field_validator("source_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else absolute_path(value)


class DockerVolumeConfiguration(SpecModel):
    scope: Literal["task", "shared"] = "task"
    """The scope for the Docker volume: a task volume is removed with its task, a shared one
    persists."""
    autoprovision: bool = Field(False, description="shared: create the volume when missing.")
    driver: str | None = Field(None, pattern=_DRIVER, description="Default: local.")
    driver_opts: dict[str, str] = Field(default_factory=dict)
    """A map of Docker driver-specific options passed through."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Custom metadata to add to your Docker volume."""

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
    """The name of the volume, referenced in the sourceVolume of mount points."""
    host: HostVolumeProperties | None = None
    """A directory of the host mounted into containers (a bind mount)."""

    @property
    def source_path(self) -> str | None:
        return self.host.source_path if self.host else None


class TaskVolume(Volume):
    """ECS's task volume: also a Docker volume, scoped to the task or shared between tasks."""

    docker_volume_configuration: DockerVolumeConfiguration | None = None
    """This parameter is specified when you use Docker volumes."""


class MountPoint(SpecModel):
    source_volume: str
    """The name of the volume to mount."""
    container_path: str
    """The path on the container to mount the host volume at."""
    read_only: bool = False
    """If this value is true, the container has read-only access to the volume."""

    @field_validator("container_path")
    @classmethod
    def _path(cls, value: str) -> str:
        return absolute_path(value, root_ok=False)


class VolumeFrom(SpecModel):
    source_container: str
    """The name of another container within the same task definition to mount volumes from."""
    read_only: bool = False
    """If this value is true, the container has read-only access to the volume."""


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
