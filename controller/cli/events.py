"""`skiff events`: follows the running daemon's event stream (every kept action, and Batch job
state changes), one line per event, or one JSON document per line with `-o json`."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Iterator
from typing import IO, Any

from controller.cli import api_client
from controller.cli.api_client import Client, Refused
from controller.terminal import printable

READ_TIMEOUT = 60.0  # the daemon sends a keep-alive every 15 s, so silence this long is a fault


def add_parser(sub: Any, default_listen: str) -> None:
    events = sub.add_parser("events", help="follow the daemon's event stream")
    events.add_argument("--since", type=int, metavar="ID", help="start after this event id")
    events.add_argument("--all", action="store_true", help="start with the oldest kept event")
    events.add_argument("--kind", help="only this kind (Job for Batch job state changes)")
    events.add_argument("--name", help="only this resource (a job id for --kind Job)")
    events.add_argument("--no-follow", action="store_true", help="stop once caught up")
    events.add_argument("-o", "--output", choices=["text", "json"], default="text")
    api_client.add_arguments(events, default_listen)


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
    try:
        with Client.from_args(args).open("GET", path, timeout=READ_TIMEOUT) as resp:
            for doc in server_sent_events(resp):
                print(json.dumps(doc) if args.output == "json" else line(doc), flush=True)
    except Refused as exc:
        print(f"skiff: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the stream broke after it started
        print(f"skiff: {api_client.unreachable(args.listen, exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


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
