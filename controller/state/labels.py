"""Docker label keys that carry ownership and identity across daemon restarts.

Labels are the only thing Skiff trusts about a container: a container without
`skiff.managed-by=skiff` is never listed as Skiff's, whatever its name or other labels.
"""

PREFIX = "skiff."
MANAGED_BY = "skiff.managed-by"
MANAGED_BY_VALUE = "skiff"
KIND = "skiff.kind"
NAME = "skiff.name"
REVISION = "skiff.revision"
TASK = "skiff.task"
CONTAINER = "skiff.container"
SPEC_HASH = "skiff.spec-hash"

# The sandbox container that holds an awsvpc task's shared network namespace.
PAUSE_CONTAINER = "~pause"


def is_managed(labels: dict[str, str]) -> bool:
    """True only for containers Skiff created."""
    return labels.get(MANAGED_BY) == MANAGED_BY_VALUE


def ownership(kind: str, name: str) -> dict[str, str]:
    """The labels every container owned by resource `kind/name` carries."""
    return {MANAGED_BY: MANAGED_BY_VALUE, KIND: kind, NAME: name}
