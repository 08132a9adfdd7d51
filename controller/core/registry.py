"""The kind registry: what each AWS service package brings to the daemon, in one `Domain`.

A domain declares its manifest kinds, the sync that converges each one (or the shared pass
that serves them all, such as the one data plane for every load balancer), the kinds each
reads, the keys it has work for beyond its manifests (revisions, containers whose manifest is
gone), what its containers hold on each host, the targets it puts behind load balancers, the
records it prunes once they have been kept long enough (core/retention.py), and the state it
keeps while the daemon runs.
The controller dispatches through the registry and never imports a service package; the
composition root (`controller.catalog`) lists the domains. Adding a kind touches its package
and its domain's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from controller.core.metrics import MetricSource
from controller.core.observed import ObservedTask
from controller.core.targets import TargetSource
from controller.manifests.kinds import Kind, ResourceKey

if TYPE_CHECKING:
    from controller.core.context import Context

T = TypeVar("T")
SyncKind = Callable[["Context", str], "float | None"]  # one resource; a delay to look again
SyncPass = Callable[["Context"], "float | None"]  # every resource its kinds route to it
Port = tuple[int, str]  # (host port, protocol)


@dataclass(frozen=True)
class Holding:
    """What one container (or one launch not yet seen) holds on a host: CPU units, MiB of
    memory and host ports. The host pool sums them into each host's free room."""

    host: str
    cpu: int = 0
    memory: int = 0
    ports: frozenset[Port] = frozenset()


@dataclass(frozen=True)
class Entry:
    """One kind: its manifest model and checks, and how the controller converges it."""

    kind: Kind
    sync: SyncKind | None = None  # converges one resource of this kind
    via: ResourceKey | None = None  # or: one pass serves every resource of it; queue this key
    reads: tuple[str, ...] = ()  # kinds whose resources its sync reads (its dependencies)


@dataclass(frozen=True)
class Pass:
    """One key that converges every resource of the kinds routed to it, in one pass."""

    key: ResourceKey
    sync: SyncPass
    wanted: Callable[[Context], bool]  # whether it has work: its key is queued at resyncs


@dataclass(frozen=True)
class Retention:
    """Records a domain keeps only for a while (finished jobs, activities, the records of
    deleted resources). `prune(ctl, limit)` removes at most `limit` of those whose time has
    passed, in short store transactions and with no Docker call, and returns how many went;
    the retention pass (core/retention.py) calls it again while it returns `limit`."""

    what: str  # what it prunes, for the log: "finished Batch jobs"
    prune: Callable[[Context, int], int]


def _nothing(*_: Any) -> tuple[()]:
    return ()


@dataclass(frozen=True)
class Domain:
    """What one AWS service package registers."""

    name: str
    entries: tuple[Entry, ...] = ()
    passes: tuple[Pass, ...] = ()
    # Keys with work beyond the manifests: revisions to retire, containers left to remove.
    keys: Callable[[Context], Iterable[ResourceKey]] = _nothing
    # What its containers and launches hold on each host, given the pool's observed tasks.
    holdings: Callable[[Context, Mapping[str, ObservedTask]], Iterable[Holding]] = _nothing
    # Its tasks or instances behind load balancers' target groups (core/targets.py).
    targets: TargetSource | None = None
    # What it publishes to CloudWatch and the alarm actions it answers (core/metrics.py).
    metrics: MetricSource | None = None
    # Records it prunes once kept long enough (core/retention.py runs them once an hour).
    retention: tuple[Retention, ...] = ()
    # The state it keeps while the daemon runs, made once per controller; `Context.part`.
    part: Callable[[Context], object] | None = None


@dataclass(frozen=True)
class Catalog:
    """Every domain the daemon runs, indexed for dispatch."""

    domains: tuple[Domain, ...]
    entries: dict[str, Entry] = field(init=False)
    passes: dict[ResourceKey, Pass] = field(init=False)

    def __post_init__(self) -> None:
        entries: dict[str, Entry] = {}
        passes: dict[ResourceKey, Pass] = {}
        for domain in self.domains:
            for entry in domain.entries:
                if entry.kind.name in entries:
                    raise ValueError(f"kind {entry.kind.name} is registered twice")
                entries[entry.kind.name] = entry
            for p in domain.passes:
                passes[p.key] = p
        for entry in entries.values():
            unknown = [k for k in entry.reads if k not in entries]
            if unknown or (entry.via is not None and entry.via not in passes):
                raise ValueError(f"kind {entry.kind.name} reads or routes to what is not here")
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "passes", passes)

    @property
    def kinds(self) -> dict[str, Kind]:
        return {name: e.kind for name, e in self.entries.items()}
