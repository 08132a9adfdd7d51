from collections.abc import Mapping

"""Docker label keys that carry ownership and identity across daemon restarts.

Labels are the only thing Skiff trusts about a container: a container without
`skiff.managed-by=skiff` is never listed as Skiff's, whatever its name or other labels, and a
daemon owns only the containers of its own cluster (as in ECS), so several daemons can share an
engine without touching each other's tasks.
"""

PREFIX = "skiff."
MANAGED_BY = "skiff.managed-by"
MANAGED_BY_VALUE = "skiff"
CLUSTER = "skiff.cluster"
KIND = "skiff.kind"
NAME = "skiff.name"
REVISION = "skiff.revision"
TASK = "skiff.task"
CONTAINER = "skiff.container"
SPEC_HASH = "skiff.spec-hash"
SERVICE_CONFIG = "skiff.service-config"  # hash of the service settings the task was made with
VOLUMES = "skiff.volumes"  # comma-separated Docker volumes of Skiff's that go with the task
SCOPE = "skiff.scope"  # on a volume: task (removed with its task) or shared (kept)

# The sandbox container that holds the namespaces a task's containers share (awsvpc's
# network, pidMode and ipcMode task).
PAUSE_CONTAINER = "~pause"


DEFAULT_CLUSTER = "default"


def is_managed(labels: dict[str, str]) -> bool:
    """True only for containers Skiff created."""
    return labels.get(MANAGED_BY) == MANAGED_BY_VALUE


def selector(cluster: str) -> dict[str, str]:
    """The labels that select a cluster's containers, for lists and event filters."""
    return {MANAGED_BY: MANAGED_BY_VALUE, CLUSTER: cluster}


def in_cluster(labels: dict[str, str], cluster: str) -> bool:
    return is_managed(labels) and labels.get(CLUSTER) == cluster


def ownership(cluster: str, kind: str, name: str) -> dict[str, str]:
    """The labels every container owned by resource `kind/name` carries."""
    return {**selector(cluster), KIND: kind, NAME: name}


def volumes_of(labels: dict[str, str]) -> list[str]:
    """The Docker volumes a container says go with it (its task's, or its job attempt's)."""
    return [v for v in labels.get(VOLUMES, "").split(",") if v]


RESERVED = "skiff.reserved"  # "cpu units,MiB" an instance or a job's container holds on its host


def reserved(labels: Mapping[str, str]) -> tuple[int, int]:
    """(CPU units, MiB) a container's RESERVED label says it holds; (0, 0) without one."""
    cpu, _, mem = labels.get(RESERVED, "0,0").partition(",")
    return (int(cpu), int(mem)) if cpu.isdigit() and mem.isdigit() else (0, 0)
