"""Shared pieces of every manifest: the envelope, the model base class and field errors.

Spec fields use the AWS spelling (camelCase) in YAML and snake_case in Python; unknown fields
are rejected so that a typo is an error, never a silently ignored setting. Values are as strict
as the JSON Schema `skiff schema` prints: `"3"`, `3.0` or `true` is no integer, `"50"` no
number (an integer is a number: `targetValue: 50` is fine); the few fields whose schema also
takes a string (task cpu and memory, "0.5 vCPU", "2 GB") say so with a before-validator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from controller.manifests.field_docs import describe_fields
from controller.quoting import SHOWN_CHARACTERS as SHOWN_CHARACTERS
from controller.quoting import quote as quote

API_VERSION = "skiff/v1"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
# The name of another resource a field refers to: what metadata.name allows, no more (it
# becomes part of names elsewhere, e.g. HAProxy's backends).
ResourceName = Annotated[str, Field(pattern=NAME_PATTERN)]

Path = tuple[str | int, ...]


class SpecModel(BaseModel):
    """Base of every spec model: camelCase aliases, unknown fields forbidden, immutable, and
    strict types (no "3" for 3, no 3.0 nor true for an integer), as the JSON Schema says."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        json_schema_extra=describe_fields,  # a field's docstring is its schema description
    )

    def to_wire(self) -> dict[str, Any]:
        """The spec as the user would write it (camelCase, defaults included)."""
        return self.model_dump(mode="json", by_alias=True)


class Metadata(SpecModel):
    name: str = Field(
        pattern=NAME_PATTERN, description="Unique name of the resource within its kind."
    )
    labels: dict[str, str] = Field(default_factory=dict)
    """Key/value pairs that tag the resource; Skiff copies them onto the containers it creates."""


@dataclass(frozen=True)
class FieldError:
    """One problem with a manifest, located as precisely as we can: its file, its document
    (numbered from 1 as editors show them; 0 is the file as a whole), the field's path, and
    the line and column (from 1) of the node at fault when the YAML was read that far."""

    file: str
    document: int
    path: Path
    message: str
    kind: str | None = None
    name: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path) or "(document)"

    @property
    def where(self) -> str:
        """`file:line:column`, the prefix editors and terminals make clickable, or the file."""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def __str__(self) -> str:
        if self.document == 0 and not self.path:  # the file (or directory) as a whole
            return f"{self.where}: {self.message}"
        what = f" {self.kind}/{self.name}" if self.kind and self.name else ""
        return f"{self.where}: document {self.document}{what}: {self.field}: {self.message}"


_CPU_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpus?\s*$", re.IGNORECASE)
_MEM_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mib|mb|gib|gb)\s*$", re.IGNORECASE)


def _whole_or_text(value: object, what: str, example: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value
    raise ValueError(
        f"{what} must be a whole number or a string like {example!r}, not {quote(value)}"
    )


def parse_cpu_units(value: object) -> int:
    """ECS task cpu: 1024 units per vCPU, given as `512`, `"512"` or `"0.5 vCPU"`."""
    value = _whole_or_text(value, "cpu", "0.5 vCPU")
    if isinstance(value, int):
        return value
    if value.strip().isdigit():
        return int(value)
    match = _CPU_VCPU.match(value)
    if not match:
        raise ValueError(
            f"cpu must be CPU units (e.g. 512) or vCPUs (e.g. '0.5 vCPU'), not {quote(value)}"
        )
    return round(float(match.group(1)) * 1024)


def parse_memory_mib(value: object) -> int:
    """ECS task memory in MiB, given as `2048`, `"2048"` or `"2 GB"`."""
    value = _whole_or_text(value, "memory", "2 GB")
    if isinstance(value, int):
        return value
    if value.strip().isdigit():
        return int(value)
    match = _MEM_UNIT.match(value)
    if not match:
        raise ValueError(
            f"memory must be MiB (e.g. 512) or with a unit (e.g. '2 GB'), not {quote(value)}"
        )
    amount, unit = float(match.group(1)), match.group(2).lower()
    return round(amount * 1024) if unit in ("gb", "gib") else round(amount)


# Directories a mount cannot hide: the kernel's and the engine's own.
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")


def absolute_path_problem(value: str, *, mount: bool = False) -> str | None:
    """Why `value` is not a clean absolute path (no `.` or `..` part, no `//`, no trailing
    `/`, no control characters nor surrounding spaces), or None. A `mount` point also cannot
    be `/` nor under /proc, /sys or /dev, and holds no whitespace, ':' or ',' (Docker's mount
    syntax would split it)."""
    if not value.startswith("/"):
        return "must be an absolute path (start with /)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "may hold no control characters"
    if value != value.strip():
        return "may not start or end with spaces"
    if value == "/":
        return "cannot be / itself" if mount else None
    parts = value[1:].split("/")
    if "" in parts:
        return "may hold no empty part (// or a trailing /)"
    if "." in parts or ".." in parts:
        return "may hold no . or .. part"
    if mount:
        if any(c.isspace() or c in ":," for c in value):
            return "may hold no whitespace, ':' or ','"
        if any(value == d or value.startswith(d + "/") for d in _SYSTEM_DIRS):
            return "cannot be /proc, /sys, /dev or below them"
    return None
