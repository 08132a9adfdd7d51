"""The container settings task definitions, job definitions and launch templates share
(privileged, user, read-only root, ulimits, Linux parameters), applied to a `ContainerSpec`.

Pure, and written once for the three kinds: each builds its own spec (names, labels, limits,
command) and passes it through here, so a setting reaches Docker the same way whichever kind
asked for it.
"""

from __future__ import annotations

from dataclasses import replace

from controller.manifests.container_security import (
    ContainerSecurity,
    LinuxParameters,
    LinuxParametersBase,
)
from controller.runtime.types import ContainerSpec, DeviceSpec, TmpfsSpec, UlimitSpec


def with_security(spec: ContainerSpec, c: ContainerSecurity) -> ContainerSpec:
    """privileged, user, readonlyRootFilesystem and ulimits."""
    return replace(
        spec,
        privileged=c.privileged,
        user=c.user,
        read_only_rootfs=c.readonly_root_filesystem,
        ulimits=tuple(UlimitSpec(u.name, u.soft_limit, u.hard_limit) for u in c.ulimits),
    )


def with_linux(spec: ContainerSpec, linux: LinuxParametersBase | None) -> ContainerSpec:
    """linuxParameters: capabilities (ECS's), devices, init, /dev/shm and tmpfs mounts (added
    to the ones the spec has)."""
    if linux is None:
        return spec
    caps = linux.capabilities if isinstance(linux, LinuxParameters) else None
    return replace(
        spec,
        cap_add=tuple(caps.add) if caps else (),
        cap_drop=tuple(caps.drop) if caps else (),
        devices=tuple(
            DeviceSpec(d.host_path, d.container_path or d.host_path, d.cgroup_permissions())
            for d in linux.devices
        ),
        init=linux.init_process_enabled,
        shm_size_mib=linux.shared_memory_size,
        tmpfs=spec.tmpfs
        + tuple(TmpfsSpec(t.container_path, t.size, tuple(t.mount_options)) for t in linux.tmpfs),
    )
