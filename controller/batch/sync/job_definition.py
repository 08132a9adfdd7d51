"""Batch job definitions: each change to a JobDefinition manifest registers a new immutable
revision (`name:N`), as RegisterJobDefinition does; removing the manifest makes its revisions
INACTIVE. Jobs submitted with `name` run its latest ACTIVE revision, `name:N` that one.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from controller.batch.models.batch import JobDefinitionSpec
from controller.core.status import revisions_listed
from controller.store import JOB_DEFINITIONS

if TYPE_CHECKING:
    from controller.core.context import Context

KIND = "JobDefinition"


def spec_hash(spec: JobDefinitionSpec) -> str:
    text = json.dumps(spec.to_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sync_job_definition(ctl: Context, name: str) -> float | None:
    """Registers a revision when the spec changed, deregisters the family when the manifest
    went. It runs at every resync: only the newest revision decides (the newest is ACTIVE if
    any is), and the history is read again only when the status's list cannot be brought up
    to it."""
    key = (KIND, name)
    res = ctl.desired.get(key)
    newest = ctl.store.newest_revision(name, table=JOB_DEFINITIONS)
    now = ctl.clock()
    if res is not None:
        spec: JobDefinitionSpec = res.spec
        digest = spec_hash(spec)
        if newest is None or newest.spec_hash != digest or newest.status != "ACTIVE":
            newest = ctl.store.register_revision(
                name, spec.to_wire(), digest, now, table=JOB_DEFINITIONS
            )
            ctl.actions.record(KIND, name, "revision.register", "spec changed", revision=newest.key)
    elif newest is not None and newest.status == "ACTIVE":
        ctl.store.deregister_family(name, now, table=JOB_DEFINITIONS)
        ctl.actions.record(KIND, name, "revision.deregister", "manifest removed")
        newest = ctl.store.newest_revision(name, table=JOB_DEFINITIONS)
    if newest is None:
        ctl.forget_status(key)
        return None
    listed = revisions_listed(
        ctl.status.get(key),
        newest,
        lambda r: {"revision": r.number, "status": r.status},
        lambda: ctl.store.revisions(name, table=JOB_DEFINITIONS),
    )
    ctl.set_status(
        key,
        "ACTIVE" if res else "INACTIVE",
        "",
        latestRevision=newest.key if newest.status == "ACTIVE" else None,
        revisions=listed,
    )
    return None


def resolve_definition(ctl: Context, ref: str) -> tuple[str, JobDefinitionSpec] | None:
    """`name` (its latest ACTIVE revision) or `name:N`, as SubmitJob takes it."""
    name, _, number = ref.partition(":")
    if number:
        found = (
            ctl.store.revision(name, int(number), table=JOB_DEFINITIONS)
            if number.isdigit() and str(int(number)) == number  # name:N as registered, not name:01
            else None
        )
    else:  # the newest is ACTIVE if any is (see Store.newest_revision)
        found = ctl.store.newest_revision(name, table=JOB_DEFINITIONS)
        found = found if found is not None and found.status == "ACTIVE" else None
    if found is None:
        return None
    return found.key, JobDefinitionSpec.model_validate(found.spec)
