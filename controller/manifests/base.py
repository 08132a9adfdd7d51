"""Shared pieces of every manifest: the envelope, the model base class and field errors.

Spec fields use the AWS spelling (camelCase) in YAML and snake_case in Python; unknown fields
are rejected so that a typo is an error, never a silently ignored setting.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_VERSION = "skiff/v1"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"

Path = tuple[str | int, ...]


class SpecModel(BaseModel):
    """Base of every spec model: camelCase aliases, unknown fields forbidden, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The spec as the user would write it (camelCase, defaults included)."""
        return self.model_dump(mode="json", by_alias=True)


class Metadata(SpecModel):
    name: str = Field(
        pattern=NAME_PATTERN, description="Unique name of the resource within its kind."
    )
    labels: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class FieldError:
    """One problem with a manifest, located as precisely as we can."""

    file: str
    document: int
    path: Path
    message: str
    kind: str | None = None
    name: str | None = None

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path) or "(document)"

    def __str__(self) -> str:
        what = f" {self.kind}/{self.name}" if self.kind and self.name else ""
        return f"{self.file}: document {self.document}{what}: {self.field}: {self.message}"


SHOWN_CHARACTERS = 60  # of a user's value in a message; the rest is counted, not echoed
_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother = 3, SHOWN_CHARACTERS, SHOWN_CHARACTERS


def quote(value: object) -> str:
    """A user's value as a message shows it: its repr(), or, when long, the first 60 characters
    and its size, so that no message echoes a whole document (an alias bomb, a file's content).

    Every message that names a value from a manifest goes through this one helper.
    """
    if isinstance(value, str | bytes):
        if len(value) <= SHOWN_CHARACTERS:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value)} {unit})"
    if isinstance(value, int) and value.bit_length() > 128:  # repr() refuses past 4300 digits
        return f"a number of {len(hex(value)) - 2} hexadecimal digits"
    try:
        text = _BOUNDED.repr(value)  # bounded: never walks a whole nested structure
    except Exception:  # a value whose repr() fails is still worth an error message
        return f"a {type(value).__name__}"
    if len(text) <= SHOWN_CHARACTERS:
        return text
    if isinstance(value, list | tuple | dict | set):
        return f"{text[:SHOWN_CHARACTERS]}... ({len(value)} item{'s' * (len(value) != 1)})"
    return f"{text[:SHOWN_CHARACTERS]}..."


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
