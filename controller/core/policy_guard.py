"""The last line of the container policy: every container and volume the daemon creates is
checked, as the `ContainerSpec` or `VolumeSpec` Docker would receive, against the running
daemon's `--allow`.

The loader already refuses manifests that ask for more than the policy allows; this guard
covers what the loader never sees again: specs restored from the store after a restart with
fewer `--allow` flags, revisions a service still runs, launch templates' old versions. It also
covers what the loader cannot see at all: a named volume a container mounts that already
exists on the engine (a shared volume, made by anyone) is asked for its driver options, and
one that binds or mounts a host path needs `host-path` as if the manifest had asked for it. A
refused create raises `PolicyRefused` (terminal) and nothing reaches Docker. Containers that
already run are not touched. What each flag allows is `controller.manifests.policy`'s table.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.manifests.policy import (
    Need,
    Policy,
    capability_beyond_default,
    driver_host_path,
)
from controller.runtime import CgroupReader, ContainerRuntime, EventStream, PolicyRefused
from controller.runtime.types import (
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    VolumeSpec,
)


def container_needs(spec: ContainerSpec) -> list[Need]:
    """What a container about to be created asks of the host, beyond the baseline."""
    needs = []
    if spec.privileged:
        needs.append(Need("privileged", ("privileged",), "privileged containers are"))
    if spec.network_mode == "host":
        needs.append(Need("host-network", ("network_mode",), "the host's network is"))
    if spec.pid_mode == "host":
        needs.append(Need("host-pid", ("pid_mode",), "the host's PID namespace is"))
    if spec.ipc_mode == "host":
        needs.append(Need("host-ipc", ("ipc_mode",), "the host's IPC namespace is"))
    for i, m in enumerate(spec.mounts):
        if m.bind:
            needs.append(Need("host-path", ("mounts", i), f"host path {m.source} is", m.source))
    for i, d in enumerate(spec.devices):
        needs.append(Need("devices", ("devices", i), f"host device {d.host_path} is"))
    for i, name in enumerate(spec.cap_add):
        if capability_beyond_default(name):
            needs.append(Need("capabilities", ("cap_add", i), f"capability {name} is", name))
    return needs


def volume_needs(spec: VolumeSpec) -> list[Need]:
    reaches, path = driver_host_path(spec.driver, spec.driver_opts)
    if not reaches:
        return []
    what = f"host path {path} is" if path else "a local volume bound to the host is"
    return [Need("host-path", ("driver_opts",), what, path)]


def existing_volume_needs(found: VolumeSpec) -> list[Need]:
    """What mounting a volume that exists already asks: its options are the engine's, not a
    manifest's (a shared volume someone made with `o: bind`, say)."""
    reaches, path = driver_host_path(found.driver, found.driver_opts)
    if not reaches:
        return []
    bound = f"host path {path}" if path else "the host"
    what = f"volume {found.name} (on the engine, bound to {bound}) is"
    return [Need("host-path", ("volumes", found.name), what, path)]


def named_volumes(spec: ContainerSpec) -> list[str]:
    """The named volumes (not host paths) a container mounts."""
    names = [name for name, _ in spec.volumes] + [m.source for m in spec.mounts if not m.bind]
    return list(dict.fromkeys(names))


def refusal(name: str, needs: list[Need]) -> str:
    return f"{name}: " + "; ".join(n.refusal() for n in needs)


class GuardedRuntime:
    """A `ContainerRuntime` that refuses to create what the policy does not allow."""

    def __init__(self, inner: ContainerRuntime, policy: Policy) -> None:
        self.inner, self.policy = inner, policy

    def create(self, spec: ContainerSpec) -> str:
        refused = self.policy.refusals(container_needs(spec))
        if not refused:  # the volumes it mounts, as they exist: each look-up is a call
            refused = self.policy.refusals(self._existing_volume_needs(spec))
        if refused:
            raise PolicyRefused(refusal(f"container {spec.name}", refused))
        return self.inner.create(spec)

    def _existing_volume_needs(self, spec: ContainerSpec) -> list[Need]:
        needs = []
        for name in named_volumes(spec):
            found = self.inner.volume(name)
            if found is not None:
                needs += existing_volume_needs(found)
        return needs

    def create_volume(self, spec: VolumeSpec) -> None:
        refused = self.policy.refusals(volume_needs(spec))
        if refused:
            raise PolicyRefused(refusal(f"volume {spec.name}", refused))
        self.inner.create_volume(spec)

    def info(self) -> EngineInfo:
        return self.inner.info()

    def ping(self) -> None:
        self.inner.ping()

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        return self.inner.list_containers(labels)

    def inspect(self, container_id: str) -> ContainerInfo:
        return self.inner.inspect(container_id)

    def start(self, container_id: str) -> None:
        self.inner.start(container_id)

    def restart(self, container_id: str, timeout: int = 10) -> None:
        self.inner.restart(container_id, timeout)

    def kill(self, container_id: str, signal: str) -> None:
        self.inner.kill(container_id, signal)

    def remove(self, container_id: str) -> None:
        self.inner.remove(container_id)

    def has_volume(self, name: str) -> bool:
        return self.inner.has_volume(name)

    def volume(self, name: str) -> VolumeSpec | None:
        return self.inner.volume(name)

    def remove_volume(self, name: str) -> None:
        self.inner.remove_volume(name)

    def stats(self, container_id: str) -> ContainerStats:
        return self.inner.stats(container_id)

    def cgroups(self) -> CgroupReader | None:
        return self.inner.cgroups()

    def logs(self, container_id: str, tail: int | None = None) -> str:
        return self.inner.logs(container_id, tail)

    def has_image(self, image: str) -> bool:
        return self.inner.has_image(image)

    def pull_image(self, image: str) -> None:
        self.inner.pull_image(image)

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        return self.inner.create_network(name, labels)

    def remove_network(self, name: str) -> None:
        self.inner.remove_network(name)

    def events(self, since: float | None, labels: Mapping[str, str]) -> EventStream:
        return self.inner.events(since, labels)

    def close(self) -> None:
        self.inner.close()
