"""Reads a manifest directory into valid resources and a list of every error found.

A bad document never hides the others: each is validated on its own and every problem is
reported at once, with its file, document number (from 1, as editors count), field path, and
the line and column of the node at fault (a missing field: the mapping it is missing from).
The loader remembers which resources a broken file or document still claims, so the daemon can
keep their last valid version instead of treating them as deleted.

What it reads is bounded (the rules are the reader's and yaml_documents' docstrings, and the
README's "Reading the manifest directory"): regular `*.yaml`/`*.yml` files inside the root, no
symbolic link out of it (a link to a file inside is read, a link to a directory is never
descended), `Limits.max_bytes` per file, a node and depth cap per document with aliases
expanded. A directory that cannot be read (the root itself, gone or unreadable) is an error, and
every resource from below it keeps its last valid version: a read error never deletes.
No exception escapes `load_directory`: whatever fails is a FieldError of a file (or directory),
and every value a message quotes goes through `base.quote`, so no error echoes a whole value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from controller.manifests.base import (
    API_VERSION,
    SHOWN_CHARACTERS,
    FieldError,
    Metadata,
    Path,
    quote,
)
from controller.manifests.host import LOCAL_HOST_NAME, HostSpec
from controller.manifests.kinds import Kind, Manifests, Resource, ResourceKey
from controller.manifests.policy import BASELINE, Policy
from controller.manifests.policy import problems as policy_problems
from controller.manifests.reader import DirectoryProblem, ManifestFile, read_tree
from controller.manifests.yaml_documents import DocumentError, Positions, YamlLimits, documents

DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024
MAX_MESSAGE_CHARACTERS = 1000  # a message longer than this is cut: the last guard against echoes


@dataclass(frozen=True)
class Limits:
    """What the loader reads at most: per file, and per document once aliases are expanded."""

    max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    max_nodes: int = YamlLimits.max_nodes
    max_depth: int = YamlLimits.max_depth


@dataclass
class LoadResult:
    resources: dict[ResourceKey, Resource] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    # Resources named by documents that failed validation: keep their previous version.
    claimed: set[ResourceKey] = field(default_factory=set)
    # Files not read in full (a YAML error, a document of unknown kind or name): keep every
    # resource they held before.
    unreadable: set[str] = field(default_factory=set)
    # Directories not read in full, relative to the root ("." for the root itself): every
    # resource from a file below one keeps its previous version.
    unreadable_dirs: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def keeps(self, source: str) -> bool:
        """Whether a resource last read from `source` keeps its previous version: its file, or
        a directory above it, could not be read in full."""
        if source in self.unreadable or "." in self.unreadable_dirs:
            return True
        return any(source.startswith(d + os.sep) for d in self.unreadable_dirs)

    @classmethod
    def failed(cls, root: str, message: str) -> LoadResult:
        """The result of a load that could not run at all: one error, everything kept."""
        return cls(errors=[FieldError(root, 0, (), message)], unreadable_dirs={"."})


def load_manifests(
    root: str,
    kinds: Mapping[str, Kind],
    policy: Policy = BASELINE,
    *,
    limits: Limits = Limits(),
) -> LoadResult:
    """Every manifest below root, of the given kinds; a document asking for more than `policy`
    allows is invalid."""
    return load_files(read_tree(root, limits.max_bytes), root, kinds, policy, limits=limits)


def load_files(
    found: Iterable[ManifestFile | DirectoryProblem],
    root: str,
    kinds: Mapping[str, Kind],
    policy: Policy = BASELINE,
    *,
    limits: Limits = Limits(),
) -> LoadResult:
    """The manifests of these files (read by the reader, or from standard input), checked
    against one another as one set; `root` names the whole in an error about all of them."""
    result = LoadResult()
    positions: dict[tuple[str, int], Positions] = {}
    try:
        for each in found:
            if isinstance(each, DirectoryProblem):
                result.unreadable_dirs.add(each.scope)
                result.errors.append(FieldError(each.shown, 0, (), each.problem))
                continue
            result.files.append(each.path)
            _load_file(each, result, kinds, limits, policy, positions)
        _check_references(root, result, kinds)
    except Exception as exc:  # a bug, or memory: never a traceback, never a deletion
        failed = LoadResult.failed(root, f"cannot load the manifests: {_exception(exc)}")
        failed.errors = result.errors + failed.errors
        failed.files = result.files
        result = failed
    result.errors = [_bounded(_located(e, positions)) for e in result.errors]
    return result


def _located(err: FieldError, positions: Mapping[tuple[str, int], Positions]) -> FieldError:
    """The error with the line and column of its field (an unknown field: of its name)."""
    where = positions.get((err.file, err.document))
    if err.line is not None or where is None:
        return err
    mark = where.of(err.path, key=err.message == "unknown field")
    if mark is None:
        return err
    return replace(err, line=mark[0], column=mark[1])


def _check_references(root: str, result: LoadResult, kinds: Mapping[str, Kind]) -> None:
    try:
        references = check_references(result.resources, kinds, result.claimed)
    except Exception as exc:  # cannot tell which resource is at fault: none changes
        result.errors.append(FieldError(root, 0, (), f"cannot check references: {_exception(exc)}"))
        result.claimed |= result.resources.keys()
        result.resources.clear()
        return
    result.errors += references
    for err in references:  # a Service wrong about others is as invalid as any other
        key = (err.kind or "", err.name or "")
        # A LoadBalancer stays: its listener at fault is left out, the others keep serving.
        if key[0] != "LoadBalancer" and result.resources.pop(key, None) is not None:
            result.claimed.add(key)


def _load_file(
    found: ManifestFile,
    result: LoadResult,
    kinds: Mapping[str, Kind],
    limits: Limits,
    policy: Policy,
    positions: dict[tuple[str, int], Positions],
) -> None:
    shown = found.shown
    if found.data is None:
        result.unreadable.add(shown)
        result.errors.append(FieldError(shown, 0, (), found.problem))
        return
    yaml_limits = YamlLimits(limits.max_nodes, limits.max_depth)
    try:
        text = found.data.decode("utf-8-sig")
        for index, doc, where in documents(text, shown, yaml_limits):
            positions[(shown, index)] = where
            try:
                _load_document(doc, shown, index, result, kinds, policy)
            except Exception as exc:  # a validator's bug is this document's error, not a crash
                result.unreadable.add(shown)
                result.errors.append(
                    FieldError(shown, index, (), f"cannot validate: {_exception(exc)}")
                )
    except DocumentError as exc:
        result.unreadable.add(shown)
        line, column = exc.mark or (None, None)
        result.errors.append(
            FieldError(shown, exc.document, (), exc.message, line=line, column=column)
        )
    except UnicodeDecodeError as exc:
        result.unreadable.add(shown)
        result.errors.append(FieldError(shown, 0, (), f"cannot parse: {_one_line(exc)}"))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _exception(exc: Exception) -> str:
    return f"{type(exc).__name__}: {_one_line(exc)}"


def _bounded(err: FieldError) -> FieldError:
    """The error with no path part or message long enough to echo a document."""
    path = tuple(
        f"{p[:SHOWN_CHARACTERS]}... ({len(p)} characters)"
        if isinstance(p, str) and len(p) > SHOWN_CHARACTERS
        else p
        for p in err.path
    )
    message = err.message
    if len(message) > MAX_MESSAGE_CHARACTERS:
        message = f"{message[:MAX_MESSAGE_CHARACTERS]}... ({len(message)} characters)"
    if (path, message) == (err.path, err.message):
        return err
    return replace(err, path=path, message=message)


def _load_document(
    doc: Any,
    file: str,
    index: int,
    result: LoadResult,
    kinds: Mapping[str, Kind],
    policy: Policy,
) -> None:
    def error(path: Path, message: str, kind: str | None = None, name: str | None = None) -> None:
        result.errors.append(FieldError(file, index, path, message, kind, name))

    errors_before = len(result.errors)
    if not isinstance(doc, dict):
        error((), f"a document must be a mapping, not {type(doc).__name__}")
        return
    for unknown in sorted(set(doc) - {"apiVersion", "kind", "metadata", "spec"}, key=str):
        error((str(unknown),), "unknown field")
    if doc.get("apiVersion") != API_VERSION:
        error(("apiVersion",), f"must be {API_VERSION!r}, not {quote(doc.get('apiVersion'))}")
    kind_name = doc.get("kind")
    kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        error(("kind",), f"unknown kind {quote(kind_name)}; expected one of {', '.join(kinds)}")
    metadata = None
    try:
        metadata = Metadata.model_validate(doc.get("metadata"))
    except ValidationError as exc:
        for path, message in pydantic_errors(exc):
            error(("metadata", *path), message)
    if kind is None or metadata is None:
        # Which resource this document meant is unknown (a typo in kind or metadata): keep
        # everything its file held before rather than treat one of them as deleted.
        result.unreadable.add(file)
        return
    key = (kind.name, metadata.name)
    spec = None
    if "spec" not in doc:
        error(("spec",), "missing", kind.name, metadata.name)
    else:
        spec, problems = _load_spec(kind, doc["spec"], policy)
        for path, message in problems:
            error(("spec", *path), message, kind.name, metadata.name)
    if key in result.resources or key in result.claimed:
        first = result.resources.get(key)
        where = f" (first in {first.source}, document {first.document})" if first else ""
        error(("metadata", "name"), f"{kind.name} {quote(metadata.name)} is defined twice{where}")
        return
    if len(result.errors) > errors_before or spec is None:
        result.claimed.add(key)
        return
    result.resources[key] = Resource(kind.name, metadata.name, spec, file, index, metadata.labels)


def _load_spec(kind: Kind, raw: Any, policy: Policy) -> tuple[Any, list[tuple[Path, str]]]:
    """A document's spec validated by its kind (None if it is not valid), and the problems
    found: the model's errors, else the kind's own checks and the daemon's policy."""
    try:
        spec = kind.spec.model_validate(raw)
    except ValidationError as exc:
        return None, pydantic_errors(exc)
    return spec, [*kind.check(spec), *policy_problems(kind.needs(spec), policy)]


def pydantic_errors(exc: ValidationError) -> list[tuple[Path, str]]:
    """Pydantic's errors as (field path, readable message) pairs."""
    out: list[tuple[Path, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
        out.append((loc, message))
    return out


def check_references(
    resources: Mapping[ResourceKey, Resource],
    kinds: Mapping[str, Kind],
    claimed: Set[ResourceKey] = frozenset(),
) -> list[FieldError]:
    """Checks between documents, each kind's own: a Service must name a TaskDefinition it can
    run, a LoadBalancer target groups that exist, and so on.

    A resource that is present but invalid (`claimed`) has its own errors; those naming it are
    not told it is missing. With no Host document, the pool is the local engine.
    """
    hosts = {k[1]: r.spec for k, r in resources.items() if k[0] == "Host"} or {
        LOCAL_HOST_NAME: HostSpec(url="unix:///var/run/docker.sock")
    }
    manifests = Manifests(resources, claimed, hosts)
    return [
        FieldError(res.source, res.document, ("spec", *path), message, res.kind, res.name)
        for res in list(resources.values())
        if res.kind in kinds
        for path, message in kinds[res.kind].references(res, manifests)
    ]
