"""Reads a manifest directory into valid resources and a list of every error found.

A bad document never hides the others: each is validated on its own and every problem is
reported at once, with its file, document index and field path. The loader remembers which
resources a broken file or document still claims, so the daemon can keep their last valid
version instead of treating them as deleted.

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
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.autoscaling.models.references import scaling_problems
from controller.ecs.models.service import ServiceSpec
from controller.ecs.models.task_definition import TaskDefinitionSpec, check_fargate
from controller.elb.models.load_balancer import Action, LoadBalancerSpec
from controller.manifests.base import (
    API_VERSION,
    SHOWN_CHARACTERS,
    FieldError,
    Metadata,
    Path,
    quote,
)
from controller.manifests.host import LOCAL_HOST_NAME, HostSpec
from controller.manifests.kinds import KINDS, Kind, Resource, ResourceKey
from controller.manifests.placement import BUILT_IN, attributes_of, parse
from controller.manifests.policy import BASELINE, Policy
from controller.manifests.policy import problems as policy_problems
from controller.manifests.reader import DirectoryProblem, ManifestFile, read_tree
from controller.manifests.yaml_documents import DocumentError, YamlLimits, documents

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


def load_directory(
    root: str, policy: Policy = BASELINE, *, limits: Limits = Limits()
) -> LoadResult:
    """Every manifest below root; a document asking for more than `policy` allows is invalid."""
    result = LoadResult()
    try:
        for found in read_tree(root, limits.max_bytes):
            if isinstance(found, DirectoryProblem):
                result.unreadable_dirs.add(found.scope)
                result.errors.append(FieldError(found.shown, 0, (), found.problem))
                continue
            result.files.append(found.path)
            _load_file(found, result, limits, policy)
        _check_references(root, result)
    except Exception as exc:  # a bug, or memory: never a traceback, never a deletion
        failed = LoadResult.failed(root, f"cannot load the manifests: {_exception(exc)}")
        failed.errors = result.errors + failed.errors
        failed.files = result.files
        result = failed
    result.errors = [_bounded(e) for e in result.errors]
    return result


def _check_references(root: str, result: LoadResult) -> None:
    try:
        references = check_references(result.resources, result.claimed)
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


def _load_file(found: ManifestFile, result: LoadResult, limits: Limits, policy: Policy) -> None:
    shown = found.shown
    if found.data is None:
        result.unreadable.add(shown)
        result.errors.append(FieldError(shown, 0, (), found.problem))
        return
    yaml_limits = YamlLimits(limits.max_nodes, limits.max_depth)
    try:
        text = found.data.decode("utf-8-sig")
        for index, doc in documents(text, shown, yaml_limits):
            try:
                _load_document(doc, shown, index, result, policy)
            except Exception as exc:  # a validator's bug is this document's error, not a crash
                result.unreadable.add(shown)
                result.errors.append(
                    FieldError(shown, index, (), f"cannot validate: {_exception(exc)}")
                )
    except DocumentError as exc:
        result.unreadable.add(shown)
        result.errors.append(FieldError(shown, exc.document, (), exc.message))
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
    return FieldError(err.file, err.document, path, message, err.kind, err.name)


def _load_document(doc: Any, file: str, index: int, result: LoadResult, policy: Policy) -> None:
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
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        error(("kind",), f"unknown kind {quote(kind_name)}; expected one of {', '.join(KINDS)}")
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
    return spec, [*kind.check(spec), *policy_problems(kind.name, spec, policy)]


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
    resources: dict[ResourceKey, Resource],
    claimed: set[ResourceKey] = frozenset(),  # type: ignore[assignment]
) -> list[FieldError]:
    """Checks between documents: a Service must name a TaskDefinition it can run.

    A TaskDefinition that is present but invalid (`claimed`) has its own errors; the Service
    is not told it is missing.
    """
    errors = []
    hosts = {k[1]: r.spec for k, r in resources.items() if k[0] == "Host"} or {
        LOCAL_HOST_NAME: HostSpec(url="unix:///var/run/docker.sock")
    }
    errors += _shared_ports(resources)
    for res in resources.values():
        if res.kind == "LoadBalancer":
            errors += _missing_groups(res, resources, claimed)
        problems: list[tuple[Path, str]] = []
        if res.kind in ("Instance", "AutoScalingGroup"):
            problems += _fleet_problems(res, resources, claimed, hosts)
        if res.kind in ("JobQueue", "ComputeEnvironment"):
            problems += _batch_problems(res, resources, claimed, hosts)
        if res.kind in ("Alarm", "ScalingPolicy", "ScheduledAction"):
            problems += scaling_problems(res, resources, claimed)
        errors += [
            FieldError(res.source, res.document, ("spec", *path), message, res.kind, res.name)
            for path, message in problems
        ]
        if res.kind != "Service":
            continue
        spec: ServiceSpec = res.spec
        errors += _load_balancer_problems(res, resources, claimed)
        for i, message in placement_problems(spec, hosts):
            path = ("spec", "placementConstraints", i)
            errors.append(FieldError(res.source, res.document, path, message, res.kind, res.name))
        td = resources.get(("TaskDefinition", spec.family))
        at = (res.source, res.document)
        if td is None and ("TaskDefinition", spec.family) in claimed:
            continue
        if td is None:
            errors.append(
                FieldError(
                    *at,
                    ("spec", "taskDefinition"),
                    f"no TaskDefinition named {quote(spec.family)} in these manifests",
                    res.kind,
                    res.name,
                )
            )
        elif spec.launch_type == "FARGATE":
            td_spec: TaskDefinitionSpec = td.spec
            for message in check_fargate(td_spec):
                errors.append(
                    FieldError(
                        *at,
                        ("spec", "launchType"),
                        f"TaskDefinition {quote(spec.family)}: {message}",
                        res.kind,
                        res.name,
                    )
                )
    return errors


def placement_problems(spec: ServiceSpec, hosts: dict[str, HostSpec]) -> list[tuple[int, str]]:
    """Constraints naming an attribute no Host of the pool has: a typo, known before anything
    runs. A constraint the pool cannot meet today is no error: as in ECS, what fits is placed
    and the rest waits, with the reason, for a host that meets it."""
    problems: list[tuple[int, str]] = []
    known = set(BUILT_IN).union(*(h.attributes for h in hosts.values()))
    for i, c in enumerate(spec.placement_constraints):
        if c.type != "memberOf" or not c.expression:
            continue
        unknown = sorted(a for a in attributes_of(parse(c.expression)) if a not in known)
        if unknown:
            problems.append(
                (
                    i,
                    f"attribute {quote(unknown[0])} is on no Host "
                    f"(known: {', '.join(sorted(known))})",
                )
            )
    return problems


def _shared_ports(resources: dict[ResourceKey, Resource]) -> list[FieldError]:
    """A port is one listener's: two LoadBalancers on one port would split its traffic. The
    listener met later (by file, then document) is at fault."""
    errors = []
    first: dict[int, tuple[Resource, int]] = {}
    balancers = [r for r in resources.values() if r.kind == "LoadBalancer"]
    for res in sorted(balancers, key=lambda r: (r.source, r.document, r.name)):
        spec: LoadBalancerSpec = res.spec
        for i, listener in enumerate(spec.listeners):
            owner = first.setdefault(listener.port, (res, i))
            if owner[0] is res:
                continue  # a port twice in one LoadBalancer is its own check's
            other, j = owner
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    ("spec", "listeners", i, "port"),
                    f"port {listener.port} is already a listener of LoadBalancer "
                    f"{quote(other.name)} "
                    f"({other.source} document {other.document}, listener {j})",
                    res.kind,
                    res.name,
                )
            )
    return errors


def _missing_groups(
    res: Resource, resources: dict[ResourceKey, Resource], claimed: set[ResourceKey]
) -> list[FieldError]:
    """Target groups a LoadBalancer's actions name that are not in these manifests."""
    errors = []
    spec: LoadBalancerSpec = res.spec
    for i, listener in enumerate(spec.listeners):
        places: list[tuple[Path, Action]] = [
            (("spec", "listeners", i, "defaultActions", 0), listener.default_actions[0])
        ] + [
            (("spec", "listeners", i, "rules", j, "actions", 0), rule.actions[0])
            for j, rule in enumerate(listener.rules)
        ]
        for path, action in places:
            for tg, _ in action.target_groups():
                if ("TargetGroup", tg) not in resources and ("TargetGroup", tg) not in claimed:
                    errors.append(
                        FieldError(
                            res.source,
                            res.document,
                            path,
                            f"no TargetGroup named {quote(tg)} in these manifests",
                            res.kind,
                            res.name,
                        )
                    )
    return errors


def _load_balancer_problems(
    res: Resource, resources: dict[ResourceKey, Resource], claimed: set[ResourceKey]
) -> list[FieldError]:
    """A Service's loadBalancers must name groups that exist, that a LoadBalancer forwards
    to (as ECS refuses a target group with no load balancer: its tasks could never turn
    healthy), and ports its tasks map."""
    errors = []
    spec: ServiceSpec = res.spec
    td = resources.get(("TaskDefinition", spec.family))
    forwarded: set[str] = set()
    for key, other in resources.items():
        if key[0] == "LoadBalancer":
            forwarded |= other.spec.target_groups()
    unsure = any(k[0] == "LoadBalancer" for k in claimed)  # an invalid one may forward to it
    for i, lb in enumerate(spec.load_balancers):
        at: Path = ("spec", "loadBalancers", i)
        group = resources.get(("TargetGroup", lb.target_group))
        if group is None and ("TargetGroup", lb.target_group) not in claimed:
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    (*at, "targetGroup"),
                    f"no TargetGroup named {quote(lb.target_group)} in these manifests",
                    res.kind,
                    res.name,
                )
            )
        elif lb.target_group not in forwarded and not unsure:
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    (*at, "targetGroup"),
                    f"TargetGroup {quote(lb.target_group)} has no LoadBalancer: no listener "
                    "forwards to it, so its targets could never turn healthy",
                    res.kind,
                    res.name,
                )
            )
        if td is None:
            continue
        td_spec: TaskDefinitionSpec = td.spec
        container = next(
            (c for c in td_spec.container_definitions if c.name == lb.container_name), None
        )
        if container is None:
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    (*at, "containerName"),
                    f"TaskDefinition {quote(spec.family)} has no container "
                    f"{quote(lb.container_name)}",
                    res.kind,
                    res.name,
                )
            )
        elif not any(p.container_port == lb.container_port for p in container.port_mappings):
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    (*at, "containerPort"),
                    f"container {quote(lb.container_name)} maps no port {lb.container_port}",
                    res.kind,
                    res.name,
                )
            )
        if (
            group is not None
            and group.spec.target_type == "ip"
            and td_spec.network_mode != "awsvpc"
        ):
            errors.append(
                FieldError(
                    res.source,
                    res.document,
                    (*at, "targetGroup"),
                    f"TargetGroup {quote(lb.target_group)} has targetType ip, which needs "
                    "networkMode awsvpc",
                    res.kind,
                    res.name,
                )
            )
    return errors


def _fleet_problems(
    res: Resource,
    resources: dict[ResourceKey, Resource],
    claimed: set[ResourceKey],
    hosts: dict[str, HostSpec],
) -> list[tuple[Path, str]]:
    """Templates, zones and target groups an Instance or AutoScalingGroup names must exist."""
    errors: list[tuple[Path, str]] = []

    def error(path: Path, message: str) -> None:
        errors.append((path, message))

    ref = res.spec.launch_template
    if ref is not None:
        key = ("LaunchTemplate", ref.launch_template_name)
        if key not in resources and key not in claimed:
            error(
                ("launchTemplate", "launchTemplateName"),
                f"no LaunchTemplate named {quote(ref.launch_template_name)} in these manifests",
            )
    zones = {h.zone for h in hosts.values()}
    wanted = list(getattr(res.spec, "availability_zones", None) or [])
    if res.kind == "Instance" and res.spec.availability_zone:
        wanted = [res.spec.availability_zone]
    for i, zone in enumerate(wanted):
        if zone not in zones:
            path = (
                ("availabilityZones", i)
                if res.kind == "AutoScalingGroup"
                else ("availabilityZone",)
            )
            error(path, _no_zone(zone, zones))
    for i, tg in enumerate(getattr(res.spec, "target_groups", [])):
        key = ("TargetGroup", tg.target_group)
        if key not in resources and key not in claimed:
            error(
                ("targetGroups", i, "targetGroup"),
                f"no TargetGroup named {quote(tg.target_group)} in these manifests",
            )
    return errors


def _batch_problems(
    res: Resource,
    resources: dict[ResourceKey, Resource],
    claimed: set[ResourceKey],
    hosts: dict[str, HostSpec],
) -> list[tuple[Path, str]]:
    """A queue's environments, and an environment's hosts and zones, must exist."""
    errors: list[tuple[Path, str]] = []

    def error(path: Path, message: str) -> None:
        errors.append((path, message))

    if res.kind == "JobQueue":
        for i, entry in enumerate(res.spec.compute_environment_order):
            key = ("ComputeEnvironment", entry.compute_environment)
            if key not in resources and key not in claimed:
                error(
                    ("computeEnvironmentOrder", i, "computeEnvironment"),
                    f"no ComputeEnvironment named {quote(entry.compute_environment)} "
                    "in these manifests",
                )
        return errors
    zones = {h.zone for h in hosts.values()}
    for i, host in enumerate(res.spec.hosts):
        if host not in hosts:
            error(("hosts", i), f"no Host named {quote(host)} (hosts: {', '.join(sorted(hosts))})")
    for i, zone in enumerate(res.spec.zones):
        if zone not in zones:
            error(("zones", i), _no_zone(zone, zones))
    return errors


def _no_zone(zone: str, zones: set[str]) -> str:
    return f"no Host is in zone {quote(zone)} (zones: {', '.join(sorted(zones))})"
