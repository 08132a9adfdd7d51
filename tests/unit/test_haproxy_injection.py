"""Write access to a manifest must never become code execution in HAProxy's configuration.

Every field whose value reaches HAProxy's configuration or its runtime API gets hostile values
(a newline then `global` and a `lua-load`, `;`, `#`, quotes, a backslash, `%[`, a space, NUL,
100,000 characters). `skiff validate` refuses each one that is not legitimate text for its
field, naming file, document and field; forced past validation (models built with
model_construct), the configuration keeps the structure a clean one has (or the value is
refused as it is written), and `haproxy -c` runs no injected Lua.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from controller.catalog import load_directory
from controller.cli.main import main
from controller.dataplane.haproxy_config import render
from controller.dataplane.haproxy_syntax import UnsafeValue
from controller.dataplane.values import Target
from controller.elb.models.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.elb.planners.data_plane import load_balancer, target_group
from controller.manifests.host import HostSpec
from controller.manifests.kinds import Resource
from tests.support.documents import document, write
from tests.unit.haproxy_injection_support import HOSTILE, LUA_MARKER, hostile, lua_script


@pytest.fixture
def lua(tmp_path: Path) -> Path:
    return lua_script(tmp_path)


def stack() -> list[dict[str, Any]]:
    """A valid stack using every field that reaches HAProxy, as documents 0-4 of one file."""
    return [
        document("Host", "h1", {"url": "tcp://10.0.0.5:2376", "address": "10.0.0.5"}),
        document(
            "TargetGroup",
            "web",
            {
                "healthCheck": {"path": "/health", "matcher": {"httpCode": "200"}},
                "deregistrationDelay": 30,
            },
        ),
        document(
            "LoadBalancer",
            "front",
            {
                "listeners": [
                    {
                        "port": 8080,
                        "defaultActions": [{"type": "forward", "targetGroup": "web"}],
                        "rules": [
                            {
                                "priority": 10,
                                "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
                                "actions": [
                                    {
                                        "type": "forward",
                                        "forwardConfig": {
                                            "targetGroups": [{"targetGroup": "web", "weight": 1}]
                                        },
                                    }
                                ],
                            },
                            {
                                "priority": 20,
                                "conditions": [
                                    {"field": "host-header", "values": ["a.example.com"]}
                                ],
                                "actions": [
                                    {
                                        "type": "fixed-response",
                                        "fixedResponseConfig": {
                                            "statusCode": "200",
                                            "contentType": "text/plain",
                                            "messageBody": "ok",
                                        },
                                    }
                                ],
                            },
                        ],
                    },
                    {
                        "port": 8081,
                        "defaultActions": [
                            {
                                "type": "redirect",
                                "redirectConfig": {
                                    "statusCode": "HTTP_301",
                                    "protocol": "HTTPS",
                                    "host": "example.com",
                                    "port": "443",
                                    "path": "/new",
                                    "query": "a=1",
                                },
                            }
                        ],
                    },
                ],
            },
        ),
        document(
            "TaskDefinition",
            "web",
            {
                "containerDefinitions": [
                    {
                        "name": "app",
                        "image": "busybox",
                        "memory": 64,
                        "portMappings": [{"containerPort": 8080}],
                    }
                ]
            },
        ),
        document(
            "Service",
            "web",
            {
                "taskDefinition": "web",
                "loadBalancers": [
                    {"targetGroup": "web", "containerName": "app", "containerPort": 8080}
                ],
            },
        ),
    ]


# Which hostile texts are legitimate values of a free-text field (quoted when written):
URL_TEXT = {"semicolon", "hash", "quotes", "backslash", "expr"}  # printable, no space
BODY_TEXT = URL_TEXT | {"newline", "trailing newline", "space"}  # a body may span lines
PATTERN_TEXT = {"quotes"}  # ALB's path-pattern characters

# A reference names a group: a hostile one names none, so compare with a group that is missing.
MISSING = "nowhere"
R0 = ("spec", "listeners", 0, "rules", 0)
R1 = ("spec", "listeners", 0, "rules", 1)
FIXED = (*R1, "actions", 0, "fixedResponseConfig")
REDIRECT = ("spec", "listeners", 1, "defaultActions", 0, "redirectConfig")


@dataclasses.dataclass(frozen=True)
class Field:
    """Where in the stack a value goes, how it is written there, and what may pass."""

    document: int
    path: tuple[str | int, ...]
    shape: Callable[[str], Any] = lambda v: v
    accepted: frozenset[str] = frozenset()  # hostile texts that are valid values here
    reported: tuple[str | int, ...] | None = None  # the field the error names, if not `path`
    benign: str | None = None  # a valid value to compare with (None: the stack's own)

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in (self.reported or self.path))


FIELDS = {
    "host address": Field(0, ("spec", "address")),
    "host url": Field(0, ("spec", "url"), lambda v: f"tcp://{v}:2376"),
    "target group name": Field(1, ("metadata", "name")),
    "health-check path": Field(
        1, ("spec", "healthCheck", "path"), lambda v: "/" + v, frozenset(URL_TEXT)
    ),
    "matcher": Field(1, ("spec", "healthCheck", "matcher", "httpCode")),
    "deregistration delay": Field(1, ("spec", "deregistrationDelay")),
    "health-check interval": Field(1, ("spec", "healthCheck", "intervalSeconds")),
    "load balancer name": Field(2, ("metadata", "name")),
    "listener port": Field(2, ("spec", "listeners", 0, "port")),
    "default target group": Field(
        2, ("spec", "listeners", 0, "defaultActions", 0, "targetGroup"), benign=MISSING
    ),
    "rule priority": Field(2, (*R0, "priority")),
    "path pattern": Field(
        2,
        (*R0, "conditions", 0, "values", 0),
        lambda v: "/" + v,
        frozenset(PATTERN_TEXT),
        reported=(*R0, "conditions", 0, "values"),
    ),
    "weighted target group": Field(
        2, (*R0, "actions", 0, "forwardConfig", "targetGroups", 0, "targetGroup"), benign=MISSING
    ),
    "weight": Field(2, (*R0, "actions", 0, "forwardConfig", "targetGroups", 0, "weight")),
    "host header": Field(
        2, (*R1, "conditions", 0, "values", 0), reported=(*R1, "conditions", 0, "values")
    ),
    "fixed status": Field(2, (*FIXED, "statusCode")),
    "fixed content type": Field(2, (*FIXED, "contentType")),
    "fixed body": Field(2, (*FIXED, "messageBody"), accepted=frozenset(BODY_TEXT)),
    "redirect protocol": Field(2, (*REDIRECT, "protocol")),
    "redirect host": Field(2, (*REDIRECT, "host"), accepted=frozenset(URL_TEXT)),
    "redirect port": Field(2, (*REDIRECT, "port")),
    "redirect path": Field(2, (*REDIRECT, "path"), lambda v: "/" + v, frozenset(URL_TEXT)),
    "redirect query": Field(2, (*REDIRECT, "query"), accepted=frozenset(URL_TEXT)),
    "redirect status": Field(2, (*REDIRECT, "statusCode")),
    "service target group": Field(4, ("spec", "loadBalancers", 0, "targetGroup"), benign=MISSING),
}

CASES = [(f, h) for f in FIELDS for h in HOSTILE]


def put(tree: Any, path: tuple[str | int, ...], value: Any) -> None:
    for step in path[:-1]:
        tree = tree[step]
    tree[path[-1]] = value


# --- (a) skiff validate -------------------------------------------------------------------------


def test_the_stack_is_valid_as_written(tmp_path: Path) -> None:
    write(tmp_path, "stack.yaml", *stack())
    assert load_directory(str(tmp_path)).errors == []


@pytest.mark.parametrize(("field", "kind"), CASES)
def test_skiff_validate_refuses_a_hostile_value_naming_file_document_and_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lua: Path,
    field: str,
    kind: str,
) -> None:
    where = FIELDS[field]
    docs = stack()
    put(docs[where.document], where.path, where.shape(hostile(kind, lua)))
    write(tmp_path / "m", "stack.yaml", *docs)

    code = main(["validate", str(tmp_path / "m")])

    err = capsys.readouterr().err
    if kind in where.accepted:
        assert code == 0, err  # legitimate text for this field: written as one quoted word
        return
    assert code == 1
    lines = err.splitlines()
    shown = re.escape(f"{tmp_path / 'm' / 'stack.yaml'}:")
    assert all(re.match(rf"{shown}\d+:\d+: document ", line) for line in lines), err[:500]
    assert all(len(line) < 400 for line in lines)  # never echoes a huge value
    # file:line:column, then the document counted from 1 as editors do (`docs` is a list)
    expected = re.compile(rf"{shown}\d+:\d+: document {where.document + 1}[ :]")
    assert any(expected.match(line) and f": {where.field}: " in line for line in lines), lines


# --- (b) forced past validation --------------------------------------------------------------


def forced(model: BaseModel, path: tuple[str | int, ...], value: Any) -> Any:
    """`model` with the value at `path` replaced, no validator asked (model_construct)."""
    if not path:
        return value
    step, rest = path[0], path[1:]
    if isinstance(model, list):
        items = list(model)
        assert isinstance(step, int)
        items[step] = forced(items[step], rest, value)
        return items
    name = _attribute(type(model), str(step))
    fields = {k: getattr(model, k) for k in type(model).model_fields}
    fields[name] = forced(fields[name], rest, value)
    return type(model).model_construct(_fields_set=model.model_fields_set, **fields)


def _attribute(cls: type[BaseModel], alias: str) -> str:
    return next(k for k, f in cls.model_fields.items() if alias in (k, f.alias))


def valid_stack(tmp_path: Path) -> dict[str, Resource]:
    write(tmp_path / "valid", "stack.yaml", *stack())
    result = load_directory(str(tmp_path / "valid"))
    return {r.kind: r for r in result.resources.values()}


def configuration(
    tmp_path: Path,
    field: str | None = None,
    value: Any = None,
    *,
    admin_socket: str = "/run/skiff/haproxy.sock",
    bind: str = "127.0.0.1",
    task_id: str = "a" * 32,
) -> str:
    """The stack's configuration with one target, maybe a field forced to `value`."""
    res = valid_stack(tmp_path)
    specs: dict[str, Any] = {k: r.spec for k, r in res.items()}
    names = {"TargetGroup": "web", "LoadBalancer": "front"}
    kinds = {0: "Host", 1: "TargetGroup", 2: "LoadBalancer", 4: "Service"}
    if field is not None:
        where = FIELDS[field]
        kind = kinds[where.document]
        if where.path == ("metadata", "name"):
            names[kind] = where.shape(value)
        else:
            specs[kind] = forced(specs[kind], where.path[1:], where.shape(value))
    host: HostSpec = specs["Host"]
    groups: dict[str, TargetGroupSpec] = {names["TargetGroup"]: specs["TargetGroup"]}
    lbs: dict[str, LoadBalancerSpec] = {names["LoadBalancer"]: specs["LoadBalancer"]}
    group = specs["Service"].load_balancers[0].target_group
    target = Target(task_id, host.reach_address(), 32768)
    return render(
        admin_socket=admin_socket,
        bind_address=bind,
        load_balancers={n: load_balancer(s) for n, s in lbs.items()},
        groups={n: target_group(s) for n, s in groups.items()},
        targets={group: [target]},
        log_socket="/run/skiff/requests.sock",  # with the request log's sampling rules
    )


def structure(text: str) -> list[tuple[str, list[str]]]:
    """Sections (their header line) and the keyword of each of their lines, as HAProxy
    splits the file: on newlines only."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line[0] in " \t":
            sections[-1][1].append(line.split()[0])
        else:
            sections.append((line, []))
    return sections


# Fields written as (part of) one quoted word: forced hostile, they stay inside it.
FREE_TEXT = {
    "health-check path",
    "path pattern",
    "host header",
    "fixed content type",
    "fixed body",
    "redirect protocol",
    "redirect host",
    "redirect port",
    "redirect path",
    "redirect query",
}


@pytest.mark.parametrize(("field", "kind"), CASES)
def test_a_forced_hostile_value_is_refused_or_keeps_the_configuration_as_it_is(
    tmp_path: Path, lua: Path, field: str, kind: str
) -> None:
    benign = FIELDS[field].benign
    clean = configuration(tmp_path) if benign is None else configuration(tmp_path, field, benign)
    value = hostile(kind, lua)
    try:
        text = configuration(tmp_path, field, value)
    except UnsafeValue:
        # Refused as it was written: allowed for a token, and for free text only with NUL.
        assert field not in FREE_TEXT or kind == "nul"
        return
    assert structure(text) == structure(clean)
    assert text.count("\n") == clean.count("\n")
    if field not in FREE_TEXT:
        assert value not in text  # a token is never quoted: it is written as is, or not at all
    assert "lua-load" not in [w for line in text.split("\n") for w in line.split()[:1]]


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_admin_sockets_bind_addresses_and_task_ids_are_refused_or_quoted(
    tmp_path: Path, lua: Path, kind: str
) -> None:
    value = hostile(kind, lua)
    clean = structure(configuration(tmp_path))
    try:
        assert structure(configuration(tmp_path, admin_socket="/run/" + value)) == clean
    except UnsafeValue:
        # control characters: no file Skiff makes has them
        assert kind in ("newline", "trailing newline", "nul")
    with pytest.raises(UnsafeValue):
        configuration(tmp_path, bind=value)
    if kind != "long":  # a server's name keeps 12 characters of its task's id
        with pytest.raises(UnsafeValue):
            configuration(tmp_path, task_id=value)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
def test_haproxy_check_of_forced_hostile_configurations_runs_no_injected_lua(
    tmp_path: Path, lua: Path
) -> None:
    marker = lua.parent / LUA_MARKER
    cfg = tmp_path / "haproxy.cfg"

    def check(text: str) -> subprocess.CompletedProcess[str]:
        cfg.write_text(text)
        return subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)

    # The proof is worth something only if an injected directive would run the script.
    clean = configuration(tmp_path)
    injected = clean.replace("defaults\n", f"defaults\n    lua-load {lua}\n", 1)
    injected = injected.replace("    lua-load", "global\n    lua-load", 1) + "\n"
    check(injected)
    assert marker.exists()
    marker.unlink()

    variants: list[tuple[str, str, dict[str, Any]]] = [
        (field, kind, {"field": field, "value": hostile(kind, lua)})
        for field in FIELDS
        for kind in HOSTILE
    ]
    for kind in HOSTILE:
        value = hostile(kind, lua)
        variants += [
            ("admin socket", kind, {"admin_socket": "/run/" + value}),
            ("bind address", kind, {"bind": value}),
            ("task id", kind, {"task_id": value}),
        ]
    checked = 0
    for field, kind, forced_value in variants:
        try:
            text = configuration(tmp_path, **forced_value)
        except UnsafeValue:
            continue  # refused as it was written: nothing reaches HAProxy
        out = check(text)
        checked += 1
        assert not marker.exists(), (field, kind, out.stderr[:500])
        if field in FREE_TEXT or field == "admin socket":
            # Valid as written; but a 100,000-character regex is more than PCRE takes, and a
            # socket path more than a unix socket takes: HAProxy refuses them.
            too_long = kind == "long" and field in ("path pattern", "host header", "admin socket")
            assert out.returncode == (1 if too_long else 0), (field, kind, out.stderr[:500])
    text = configuration(tmp_path, admin_socket=str(tmp_path / "a b'c#d.sock"))
    assert check(text).returncode == 0
    assert not marker.exists()
    assert checked >= 90
