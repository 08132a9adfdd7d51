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


def json_schema(kinds: Mapping[str, Kind]) -> dict[str, Any]:
    """A JSON Schema accepting any one Skiff manifest document, for editors and `skiff schema`."""
    defs: dict[str, Any] = {}
    variants = []
    for kind in kinds.values():
        spec_schema = kind.spec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(spec_schema.pop("$defs", {}))
        defs[f"{kind.name}Spec"] = spec_schema
        variants.append(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": {"const": API_VERSION},
                    "kind": {"const": kind.name},
                    "metadata": {"$ref": "#/$defs/Metadata"},
                    "spec": {"$ref": f"#/$defs/{kind.name}Spec"},
                },
            }
        )
    defs["Metadata"] = _strip_defs(Metadata)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Skiff manifest",
        "oneOf": variants,
        "$defs": defs,
    }


def _strip_defs(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("$defs", None)
    return schema
