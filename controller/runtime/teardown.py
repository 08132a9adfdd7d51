"""Tearing down what a cluster left on one Docker engine (`skiff down`): listing the containers,
volumes and networks that carry given labels, looking volumes up by name, and removing them.

Containers are removed one or two at a time: dockerd 20.10 can deadlock on many force-removals
at once. Every removal reports its failure instead of raising, so one stuck container does not
keep the others; listing raises `RuntimeFailure` (EngineUnavailable: the engine cannot be
reached), as every other runtime call does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from controller.runtime.docker_backend import DockerRuntime
from controller.runtime.errors import RuntimeFailure
from controller.runtime.types import ContainerSummary

REMOVALS_AT_ONCE = 2  # container removals in flight on one engine


@dataclass(frozen=True)
class Volume:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """What one engine holds that carries the labels asked for (and the volumes asked by name
    that exist there)."""

    containers: tuple[ContainerSummary, ...] = ()
    volumes: tuple[Volume, ...] = ()
    networks: tuple[Network, ...] = ()


def _filters(labels: Mapping[str, str]) -> dict[str, list[str]]:
    return {"label": [f"{k}={v}" for k, v in labels.items()]}


def list_volumes(runtime: DockerRuntime, labels: Mapping[str, str]) -> list[Volume]:
    """Named volumes carrying every one of `labels`."""
    answer = runtime._call(lambda: runtime._api.volumes(filters=_filters(labels)))
    rows = (answer or {}).get("Volumes") or []
    return [Volume(str(r["Name"]), dict(r.get("Labels") or {})) for r in rows]


def list_networks(runtime: DockerRuntime, labels: Mapping[str, str]) -> list[Network]:
    """Networks carrying every one of `labels`."""
    rows = runtime._call(lambda: runtime._api.networks(filters=_filters(labels))) or []
    return [Network(str(r["Name"]), dict(r.get("Labels") or {})) for r in rows]


def inventory(
    runtime: DockerRuntime,
    labels: Mapping[str, str],
    volume_names: Callable[[Sequence[ContainerSummary]], Iterable[str]] = lambda _: (),
) -> Inventory:
    """The containers, volumes and networks carrying `labels`, and the volumes that
    `volume_names(containers)` names that exist (a volume Docker made for a container's bind
    carries no label)."""
    containers = runtime.list_containers(labels)
    volumes = {v.name: v for v in list_volumes(runtime, labels)}
    for name in sorted(set(volume_names(containers)) - set(volumes)):
        found = runtime.volume(name)
        if found is not None:
            volumes[name] = Volume(name, dict(found.labels))
    return Inventory(
        tuple(sorted(containers, key=lambda c: c.name)),
        tuple(volumes[n] for n in sorted(volumes)),
        tuple(sorted(list_networks(runtime, labels), key=lambda n: n.name)),
    )


def remove_containers(runtime: DockerRuntime, ids: Iterable[str]) -> dict[str, str]:
    """Force-removes the containers (with their anonymous volumes), a few at a time; returns
    the failures, by container id. A container already gone is not one."""

    def one(cid: str) -> tuple[str, str | None]:
        try:
            runtime.remove(cid)
        except RuntimeFailure as exc:
            return cid, str(exc)
        return cid, None

    with ThreadPoolExecutor(REMOVALS_AT_ONCE) as pool:
        results = list(pool.map(one, list(ids)))
    return {cid: error for cid, error in results if error is not None}


def remove_volumes(runtime: DockerRuntime, names: Iterable[str]) -> dict[str, str]:
    """Removes the named volumes; returns the failures (a volume still in use, say)."""
    return _failures(runtime.remove_volume, names)


def remove_networks(runtime: DockerRuntime, names: Iterable[str]) -> dict[str, str]:
    """Removes the networks; returns the failures (a container still attached, say)."""
    return _failures(runtime.remove_network, names)


def _failures(remove: Callable[[str], None], names: Iterable[str]) -> dict[str, str]:
    """`remove` on each name in turn; the names it failed for, with why."""
    failures = {}
    for name in names:
        try:
            remove(name)
        except RuntimeFailure as exc:
            failures[name] = str(exc)
    return failures
