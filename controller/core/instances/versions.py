"""Launch template versions and how a reference selects one, shared by EC2's LaunchTemplate
sync (which adds versions) and every launch of an instance (which selects one).

Pure. Every change of a template's launchTemplateData is a new immutable version, numbered
from 1; a version is identified by the hash of its canonical data, so re-reading the same
manifest registers nothing. `$Latest` is the highest number, `$Default` the template's
defaultVersion (1 until set), a number itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controller.manifests.launch_template_data import LaunchTemplateData
from controller.store.records import TemplateVersion


class LaunchTemplateFields(Protocol):
    """What the core reads of EC2's LaunchTemplate manifest (`ec2.models.ec2`): its data and
    the version `$Default` selects."""

    @property
    def launch_template_data(self) -> LaunchTemplateData: ...

    @property
    def default_version(self) -> int | None: ...


class InstanceFields(Protocol):
    """What the instance commands read of EC2's Instance manifest (`ec2.models.ec2`): its own
    termination protection and its inline settings, when it has them."""

    @property
    def disable_api_termination(self) -> bool | None: ...

    @property
    def launch_template_data(self) -> LaunchTemplateData | None: ...


@dataclass(frozen=True)
class ResolvedTemplate:
    """A version ready to launch: its key (name:N) and its settings."""

    key: str
    data: LaunchTemplateData

    @classmethod
    def from_record(cls, v: TemplateVersion) -> ResolvedTemplate:
        return cls(f"{v.name}:{v.number}", LaunchTemplateData.model_validate(v.data))


def canonical(data: LaunchTemplateData) -> dict[str, Any]:
    return data.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def data_hash(data: LaunchTemplateData) -> str:
    text = json.dumps(canonical(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def needs_version(spec: LaunchTemplateFields, versions: Sequence[TemplateVersion]) -> bool:
    """The manifest's data is not the latest version yet."""
    return not versions or versions[-1].data_hash != data_hash(spec.launch_template_data)


def default_number(spec: LaunchTemplateFields) -> int:
    return spec.default_version or 1


def check_default(spec: LaunchTemplateFields, versions: Sequence[TemplateVersion]) -> str:
    latest = versions[-1].number if versions else 0
    if spec.default_version is not None and spec.default_version > latest:
        return (
            f"defaultVersion: version {spec.default_version} does not exist "
            f"(the latest is {latest})"
        )
    return ""


def resolve_version(
    name: str, version: str, spec: LaunchTemplateFields, versions: Sequence[TemplateVersion]
) -> ResolvedTemplate | str:
    """The version a reference selects, or why there is none."""
    if not versions:
        return f"launch template {name} has no version yet"
    if version == "$Latest":
        return ResolvedTemplate.from_record(versions[-1])
    number = default_number(spec) if version == "$Default" else int(version)
    match = [v for v in versions if v.number == number]
    if not match:
        what = "$Default" if version == "$Default" else "version"
        return (
            f"launchTemplate.version: {what} {number} of launch template {name} does not exist "
            f"(versions 1 to {versions[-1].number})"
        )
    return ResolvedTemplate.from_record(match[0])
