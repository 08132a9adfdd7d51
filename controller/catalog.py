"""The composition root: every domain the daemon runs, in one catalog, and the manifest loader
and JSON Schema over its kinds. The only module that imports every AWS service package (with
the daemon, the CLI and `skiff plan`, which start from it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.autoscaling.domain import DOMAIN as AUTOSCALING
from controller.batch.domain import DOMAIN as BATCH
from controller.cloudwatch.domain import DOMAIN as CLOUDWATCH
from controller.core.registry import Catalog
from controller.core.retention import RETENTION
from controller.core.sync_host import HOSTS
from controller.ec2.domain import DOMAIN as EC2
from controller.ecs.domain import DOMAIN as ECS
from controller.elb.domain import DOMAIN as ELB
from controller.manifests import kinds
from controller.manifests.base import Path
from controller.manifests.loader import Limits, LoadResult, load_files, load_manifests
from controller.manifests.policy import BASELINE, Policy, problems
from controller.manifests.reader import DirectoryProblem, ManifestFile

CATALOG = Catalog((HOSTS, ECS, ELB, EC2, AUTOSCALING, CLOUDWATCH, BATCH, RETENTION))
KINDS = CATALOG.kinds
DEFAULT_LIMITS = Limits()


def load_directory(
    root: str, policy: Policy = BASELINE, *, limits: Limits = DEFAULT_LIMITS
) -> LoadResult:
    """Every manifest below root, of every kind the daemon runs."""
    return load_manifests(root, KINDS, policy, limits=limits)


def load_found(
    found: Iterable[ManifestFile | DirectoryProblem],
    what: str,
    policy: Policy = BASELINE,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> LoadResult:
    """The manifests of several files and directories (`skiff validate a.yaml dir/ -`), checked
    against one another as one set; `what` names them all in an error about the whole."""
    return load_files(found, what, KINDS, policy, limits=limits)


def json_schema(kind: str | None = None) -> dict[str, Any]:
    """A JSON Schema accepting any one Skiff manifest document (or, given `kind`, one of that
    kind only), for editors and `skiff schema`. KeyError for a kind that does not exist."""
    if kind is None:
        return kinds.json_schema(KINDS)
    return kinds.kind_json_schema(KINDS[kind])


def policy_problems(kind: str, spec: Any, policy: Policy) -> list[tuple[Path, str]]:
    """What a spec of `kind` asks of the host that `policy` does not allow, as (path, message)."""
    return problems(KINDS[kind].needs(spec), policy)
