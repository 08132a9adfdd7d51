"""`skiff get KIND [NAME]` and `skiff describe KIND NAME`: the resources of the running daemon's
/v1/status, as kubectl shows them. `get` prints a table (NAME, STATUS, the counts the kind
reports, AGE; `-o wide` adds its other fields and the message); `describe` prints one
resource's fields, its deployments, tasks, instances and activities, and its recent events.

KIND is any word `kinds.resolve` accepts (`svc`, `tg`, `asg`, `services`, ...), or KIND/NAME.
The columns come from the documents themselves (every whole-number field named ...Count, and a
group's capacity and sizes), so a kind's new count shows without an edit here.

AGE is since the oldest thing the daemon reports of the resource (its first deployment, task,
instance or revision); "-" when it reports none.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from typing import Any

from controller.cli import kinds
from controller.cli.api_client import Client, Refused
from controller.cli.output import render
from controller.cli.status_table import (
    activity_rows,
    age,
    deployment_rows,
    instance_rows,
    task_rows,
)
from controller.terminal import printable, table

SIZES = ("desiredCapacity", "minSize", "maxSize")
HIDDEN = {"kind", "name", "status", "message", "source", "manifestError", "updatedAt", "events"}
WATCH_SECONDS = 2.0


def _header(key: str) -> str:
    """desiredCount -> DESIRED, inServiceCount -> IN-SERVICE, minSize -> MIN-SIZE."""
    key = key.removesuffix("Count") if key != "Count" else key
    return "-".join(re.findall(r"[A-Za-z][a-z0-9]*", key)).upper()


def _is_count(key: str, value: Any) -> bool:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return whole and (key.endswith("Count") or key in SIZES)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _created(r: dict[str, Any]) -> float | None:
    """The oldest time the document holds of what the resource made or registered."""
    times = [
        item.get(field)
        for key, field in (
            ("deployments", "createdAt"),
            ("tasks", "createdAt"),
            ("instances", "launchTime"),
            ("revisions", "registeredAt"),
        )
        for item in r.get(key) or []
        if isinstance(item, dict)
    ]
    known = [t for t in times if isinstance(t, int | float) and t > 0]
    return min(known) if known else None


def select(doc: dict[str, Any], kind: str, name: str | None) -> list[dict[str, Any]]:
    """The resources of `kind` (and `name`); Refused ("not found") when a name matches none."""
    found = [
        r
        for r in doc["resources"]
        if r.get("kind") == kind and (name is None or r.get("name") == name)
    ]
    if name is not None and not found:
        raise Refused(printable(f'{kind} "{name}" not found'))
    return found


def get_rows(resources: list[dict[str, Any]], wide: bool, ages: bool = True) -> list[list[str]]:
    """The table `get` prints: its header and a row per resource; without `ages` (--watch's
    comparison), the AGE column is left out."""
    counts: list[str] = []
    extra: list[str] = []
    for r in resources:
        for key, value in r.items():
            if _is_count(key, value):
                counts += [key] if key not in counts else []
            elif wide and key not in HIDDEN and _scalar(value) and key not in extra:
                extra.append(key)
    header = ["NAME", "STATUS", *(_header(k) for k in counts)] + (["AGE"] if ages else [])
    if wide:
        header += [_header(k) for k in extra] + ["MESSAGE"]
    rows = [header]
    for r in resources:
        row = [str(r.get("name", "")), str(r.get("status", ""))]
        row += [str(r.get(k, "")) for k in counts]
        row += [age(_created(r))] if ages else []
        if wide:
            row += ["" if r.get(k) is None else str(r.get(k)) for k in extra]
            row.append(str(r.get("manifestError") or r.get("message") or ""))
        rows.append(row)
    return rows


def describe_lines(r: dict[str, Any], ages: bool = True) -> list[str]:
    """One resource as kubectl describe shows one: fields, then its parts, then events."""
    out = [f"Name:    {r.get('name', '')}", f"Kind:    {r.get('kind', '')}"]
    out.append(f"Status:  {r.get('status', '')}")
    for key in ("message", "manifestError", "source"):
        if r.get(key):
            out.append(f"{_title(key)}:  {r[key]}")
    fields = [(k, v) for k, v in r.items() if k not in HIDDEN and _scalar(v)]
    width = max((len(_title(k)) for k, _ in fields), default=0) + 2
    out += [f"{(_title(k) + ':').ljust(width)} {'' if v is None else v}" for k, v in fields]
    for key, value in r.items():
        if key in HIDDEN or _scalar(value):
            continue
        out += ["", f"{_title(key)}:"]
        out += ["  " + line for line in _part(key, value, ages)]
    out += ["", "Events:"]
    events = r.get("events") or []
    if not events:
        out.append("  <none>")
    else:
        rows = [["AGE", "ACTION", "REASON", "MESSAGE"]] if ages else [["ACTION", "REASON"]]
        for e in events:
            row = [str(e.get("action", "")), str(e.get("reason", ""))]
            rows.append([age(e.get("at")), *row, str(e.get("message", ""))] if ages else row)
        out += ["  " + line for line in table(rows)]
    return [printable(line) for line in out]


def _title(key: str) -> str:
    """desiredCount -> Desired Count."""
    return " ".join(w.capitalize() for w in re.findall(r"[A-Za-z][a-z0-9]*", key)) or key


PARTS: dict[str, Callable[[list[dict[str, Any]], bool], list[list[str]]]] = {
    "deployments": lambda items, ages: deployment_rows(items),
    "tasks": task_rows,
    "instances": instance_rows,
    "activities": activity_rows,
}


def _part(key: str, value: Any, ages: bool) -> list[str]:
    """A list or object field: the status tables' rendering for the parts they know, else
    indented `key: value` lines."""
    if not value:
        return ["<none>"]
    if key in PARTS and isinstance(value, list) and all(isinstance(v, dict) for v in value):
        try:
            return table(PARTS[key](value, ages))
        except (KeyError, TypeError):
            pass  # another shape under the same name: shown as it is
    return _nested(value)


def _nested(value: Any, indent: str = "") -> list[str]:
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if _scalar(v):
                lines.append(f"{indent}{k}: {v}")
            else:
                lines += [f"{indent}{k}:", *_nested(v, indent + "  ")]
        return lines
    if isinstance(value, list):
        lines = []
        for v in value:
            inner = _nested(v, indent + "  ")
            if inner and _scalar(v):
                lines.append(f"{indent}- {v}")
            elif inner:
                lines += [f"{indent}- {inner[0].strip()}", *inner[1:]]
        return lines
    return [f"{indent}{value}"]


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    word, name = kinds.split_reference(args.kind)
    if args.name is not None:
        if name is not None:
            raise Refused(printable(f"give the name once: {args.kind} or {word} {args.name}"))
        name = args.name
    try:
        return kinds.resolve(word), name
    except kinds.UnknownKind as exc:
        raise Refused(printable(str(exc))) from None


def run_get(args: argparse.Namespace) -> int:
    kind, name = _target(args)
    client = Client.from_args(args)

    def show() -> tuple[str, str]:
        found = select(client.status(), kind, name)
        fmt = args.output
        doc: Any = found[0] if name is not None else found
        if fmt in ("json", "yaml"):
            text = render(doc, fmt, lambda wide: "")
            return text, text
        if not found:
            return f"No {kind} resources found.", f"none {kind}"
        fingerprint = "\n".join(table(get_rows(found, fmt == "wide", ages=False)))
        return "\n".join(table(get_rows(found, fmt == "wide"))), fingerprint

    return print_or_watch(args, show)


def run_describe(args: argparse.Namespace) -> int:
    kind, name = _target(args)
    if name is None:
        raise Refused(f"describe needs a name: skiff describe {args.kind} NAME")
    r = select(Client.from_args(args).status(), kind, name)[0]
    print(render(r, args.output, lambda wide: "\n".join(describe_lines(r))))
    return 0


def print_or_watch(args: argparse.Namespace, show: Callable[[], tuple[str, str]]) -> int:
    """Prints `show`'s text once, or with --watch again whenever its fingerprint (the text
    without ages) changes, polling every WATCH_SECONDS, until Ctrl-C (exit 0)."""
    text, last = show()
    print(text, flush=True)
    if not getattr(args, "watch", False):
        return 0
    try:
        while True:
            time.sleep(WATCH_SECONDS)
            text, fingerprint = show()
            if fingerprint != last:
                print("", flush=True)
                print(text, flush=True)
                last = fingerprint
    except KeyboardInterrupt:
        return 0


def add_watch_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help=f"print again whenever what is shown changes (polls every {WATCH_SECONDS:g} s; "
        "Ctrl-C ends it)",
    )
