"""LaunchTemplate sync: adds a new immutable version when the template's data changes, and
reports its versions. Groups and instances that select one look again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.instances.versions import (
    canonical,
    check_default,
    data_hash,
    default_number,
    needs_version,
)
from controller.ec2.models.ec2 import LaunchTemplateSpec

if TYPE_CHECKING:
    from controller.core.context import Context


def sync_launch_template(ctl: Context, name: str) -> float | None:
    key = ("LaunchTemplate", name)
    res = ctl.desired.get(key)
    if res is None:
        ctl.forget_status(key)  # its versions stay in the store, as task definitions' do
        _wake_users(ctl, name)
        return None
    spec: LaunchTemplateSpec = res.spec
    versions = ctl.store.template_versions(name)
    data = spec.launch_template_data
    if needs_version(spec, versions):
        v = ctl.store.add_template_version(name, canonical(data), data_hash(data), ctl.clock())
        ctl.actions.record(
            "LaunchTemplate",
            name,
            "version.create",
            "launchTemplateData changed",
            version=v.number,
        )
        versions = ctl.store.template_versions(name)
    _wake_users(ctl, name)
    problem = check_default(spec, versions)
    ctl.set_status(
        key,
        "ERROR" if problem else "ACTIVE",
        problem,
        latestVersionNumber=versions[-1].number,
        defaultVersionNumber=default_number(spec),
        versions=[{"versionNumber": v.number, "createTime": v.created_at} for v in versions],
    )
    return None


def _wake_users(ctl: Context, name: str) -> None:
    for k, r in list(ctl.desired.items()):
        ref = (
            getattr(r.spec, "launch_template", None)
            if k[0] in ("AutoScalingGroup", "Instance")
            else None
        )
        if ref is not None and ref.launch_template_name == name:
            ctl.queue.add(k)
