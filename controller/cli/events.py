"""`skiff events`: follows the running daemon's event stream (every kept action, and Batch job
state changes), one line per event (`-o wide`: with the event's type and source), one JSON
document per line with `-o json` (JSON Lines, so a stream can be read line by line), or one
YAML document per event, each starting with `---`, with `-o yaml`."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Iterator
from typing import IO, Any

import yaml

from controller.cli import api_client
from controller.cli.api_client import Client
from controller.cli.output import add_output_flag
from controller.terminal import printable

READ_TIMEOUT = 60.0  # the daemon sends a keep-alive every 15 s, so silence this long is a fault


def add_parser(sub: Any) -> None:
    events = sub.add_parser("events", help="follow the daemon's event stream")
    events.add_argument("--since", type=int, metavar="ID", help="start after this event id")
    events.add_argument("--all", action="store_true", help="start with the oldest kept event")
    events.add_argument("--kind", help="only this kind (Job for Batch job state changes)")
    events.add_argument("--name", help="only this resource (a job id for --kind Job)")
    events.add_argument("--no-follow", action="store_true", help="stop once caught up")
    add_output_flag(events)
    api_client.add_arguments(events)


def run(args: argparse.Namespace) -> int:
    query: dict[str, str] = {}
    since = 0 if args.all else args.since
    if since is not None:
        query["since"] = str(since)
    for key in ("kind", "name"):
        if getattr(args, key):
            query[key] = getattr(args, key)
    if args.no_follow:
        query["follow"] = "false"
    path = f"/v1/events?{urllib.parse.urlencode(query)}"
    client = Client.from_args(args)
    try:
        with client.open("GET", path, timeout=READ_TIMEOUT) as resp:
            if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
                raise client.not_skiff(
                    f"HTTP {resp.status} {resp.headers.get('Content-Type')}, not an event stream"
                )
            for doc in server_sent_events(resp):
                print(show(doc, args.output), flush=True)
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise client.not_skiff(f"an event that is not Skiff's ({type(exc).__name__})") from None
    except OSError as exc:  # the stream broke after it started
        raise client.unreachable(exc) from None
    except KeyboardInterrupt:
        return 0
    return 0


def show(doc: dict[str, Any], fmt: str) -> str:
    """One event in `fmt` (json: one line; yaml: a document of its own)."""
    if fmt == "json":
        return json.dumps(doc)
    if fmt == "yaml":
        return "---\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=False).rstrip("\n")
    text = line(doc)
    if fmt == "wide":
        text += printable(f"  [{doc.get('detail-type', '')} from {doc.get('source', '')}]")
    return text


def server_sent_events(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON `data` of each event in a text/event-stream; comments (keep-alives) skipped."""
    data: list[str] = []
    for raw in stream:
        text = raw.decode().rstrip("\r\n")
        if text.startswith("data:"):
            data.append(text[5:].lstrip())
        elif not text and data:
            yield json.loads("\n".join(data))
            data = []


def line(doc: dict[str, Any]) -> str:
    """id, time, resource, what happened and why: a Job's status, or another kind's action;
    printable, whatever the event holds."""
    detail = doc.get("detail", {})
    what = detail.get("status") or detail.get("action") or ""
    why = detail.get("statusReason") or detail.get("reason") or ""
    return printable(
        f"{doc['id']:>6}  {doc['time']}  {doc['resources'][0]}  {what}  {why}".rstrip()
    )
