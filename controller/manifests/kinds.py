"""What a manifest kind is to the loader: its spec model, its checks within one document, what
its containers ask of the host, and its checks against the other documents.

Each AWS service package declares its kinds with `Kind`; `controller.catalog` gathers them. The
loader, `skiff schema` and the daemon read the catalog, never a service package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from controller.manifests.base import API_VERSION, Metadata, Path, SpecModel, quote
from controller.manifests.host import HostSpec
from controller.manifests.policy import Need

ResourceKey = tuple[str, str]


@dataclass(frozen=True)
class Resource:
    """One valid manifest document: the desired state of one resource."""

    kind: str
    name: str
    spec: Any
    source: str
    document: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> ResourceKey:
        return (self.kind, self.name)


def key_str(key: ResourceKey) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass(frozen=True)
class Manifests:
    """What a check between documents reads: every valid resource, the keys that documents
    which failed validation still claim (their errors are their own: nobody else is told
    they are missing), and the pool's hosts."""

    resources: Mapping[ResourceKey, Resource]
    claimed: Set[ResourceKey]
    hosts: Mapping[str, HostSpec]

    def named(self, kind: str, name: str) -> bool:
        """Whether a document names this resource, valid or not."""
        return (kind, name) in self.resources or (kind, name) in self.claimed

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for k, r in self.resources.items() if k[0] == kind]


Problems = list[tuple[Path, str]]  # (field path below `spec`, message)


def no_zone(zone: str, zones: set[str]) -> str:
    """The message for a zone no Host of the pool is in."""
    return f"no Host is in zone {quote(zone)} (zones: {', '.join(sorted(zones))})"


def _none(*_: Any) -> list[Any]:
    return []


@dataclass(frozen=True)
class Kind:
    """One manifest kind: what the loader needs to accept a document of it."""

    name: str
    spec: type[SpecModel]
    check: Callable[[Any], Problems] = _none  # within the document
    needs: Callable[[Any], list[Need]] = _none  # what its containers ask of the host
    references: Callable[[Resource, Manifests], Problems] = _none  # against the other documents


_ENVELOPE = {
    "apiVersion": {"const": API_VERSION, "description": "The manifest format: skiff/v1."},
    "metadata": {
        "$ref": "#/$defs/Metadata",
        "description": "The resource's name and labels.",
    },
}
_KIND = "The kind of resource this document declares, as AWS names it."
_SPEC = "The desired state of the resource, in its kind's fields."
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(kinds: Mapping[str, Kind]) -> dict[str, Any]:
    """A JSON Schema accepting any one Skiff manifest document, for editors and `skiff schema`.

    Discriminated by `kind`: each kind's spec applies through `if kind is X then spec is XSpec`
    (inside allOf), never through oneOf, so a validator or an editor reports a typo as that
    field of that kind ("desiredCont" is not allowed), and an unknown kind as not one of them.
    """
    defs: dict[str, Any] = {}
    for kind in kinds.values():
        _merge(defs, _kind_defs(kind))
    return {
        "$schema": _DIALECT,
        "title": "Skiff manifest",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": _ENVELOPE["apiVersion"],
            "kind": {"enum": list(kinds), "description": _KIND},
            "metadata": _ENVELOPE["metadata"],
            "spec": {"type": "object", "description": _SPEC},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind.name}}, "required": ["kind"]},
                "then": {"properties": {"spec": {"$ref": f"#/$defs/{kind.name}Spec"}}},
            }
            for kind in kinds.values()
        ],
        "$defs": defs,
    }


def kind_json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of a document of one kind alone (`skiff schema --kind Service`)."""
    return {
        "$schema": _DIALECT,
        "title": f"Skiff {kind.name} manifest",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": _ENVELOPE["apiVersion"],
            "kind": {"const": kind.name, "description": _KIND},
            "metadata": _ENVELOPE["metadata"],
            "spec": {"$ref": f"#/$defs/{kind.name}Spec", "description": _SPEC},
        },
        "$defs": _kind_defs(kind),
    }


def _kind_defs(kind: Kind) -> dict[str, Any]:
    """The definitions a document of `kind` needs: its spec's models, its spec, Metadata."""
    spec_schema = kind.spec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = spec_schema.pop("$defs", {})
    defs[f"{kind.name}Spec"] = spec_schema
    defs["Metadata"] = _strip_defs(Metadata)
    one_line: dict[str, Any] = _one_line_descriptions(defs)
    return one_line


def _one_line_descriptions(node: Any) -> Any:
    """The schema with each description on one line (a field's docstring may wrap)."""
    if isinstance(node, dict):
        return {
            k: " ".join(v.split())
            if k == "description" and isinstance(v, str)
            else _one_line_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_one_line_descriptions(v) for v in node]
    return node


def _merge(defs: dict[str, Any], more: Mapping[str, Any]) -> None:
    for name, schema in more.items():
        if defs.setdefault(name, schema) != schema:  # two models of one name: one would be lost
            raise ValueError(f"two different models are both named {name} in the JSON Schema")


def _strip_defs(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("$defs", None)
    return schema
