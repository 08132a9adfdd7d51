"""`skiff batch`: submit, list, describe, cancel and terminate Batch jobs, and read their logs,
through the running daemon's API (the AWS Batch CLI's verbs, shortened)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from controller.cli import api_client
from controller.cli.api_client import Client, Refused
from controller.terminal import printable, table

DEPENDENCY_TYPES = ("N_TO_N", "SEQUENTIAL")


def add_parser(sub: Any, default_listen: str) -> None:
    batch = sub.add_parser("batch", help="Batch jobs: submit, list, describe, cancel, logs")
    verbs = batch.add_subparsers(dest="verb", required=True)
    submit = verbs.add_parser("submit", help="submit a job to a queue")
    submit.add_argument("--queue", required=True)
    submit.add_argument("--definition", required=True, help="name (its latest) or name:N")
    submit.add_argument("--name")
    submit.add_argument("--array-size", type=int)
    submit.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="ID[:N_TO_N|SEQUENTIAL]",
        help="a job this one waits for; SEQUENTIAL alone chains an array's children",
    )
    submit.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--share-id")
    listing = verbs.add_parser("list", help="jobs, newest last")
    listing.add_argument("--queue")
    listing.add_argument("--status")
    for verb in ("describe", "cancel", "terminate", "logs"):
        p = verbs.add_parser(verb, help=f"{verb} a job")
        p.add_argument("job_id")
        if verb in ("cancel", "terminate"):
            p.add_argument("--reason")
    for p in verbs.choices.values():
        api_client.add_arguments(p, default_listen)


def run(args: argparse.Namespace) -> int:
    try:
        daemon = Client.from_args(args)
        if args.verb == "submit":
            answer = daemon.call("POST", "/v1/batch/jobs", _submission(args))
            print(printable(answer["jobId"]))
        elif args.verb == "list":
            query = {k: v for k, v in (("queue", args.queue), ("status", args.status)) if v}
            path = "/v1/batch/jobs" + (f"?{urllib.parse.urlencode(query)}" if query else "")
            _print_list(daemon.call("GET", path)["jobSummaryList"])
        elif args.verb == "describe":
            print(json.dumps(daemon.call("GET", _job(args.job_id)), indent=2))
        elif args.verb == "logs":  # the job's own output, as `docker logs` prints it
            for entry in daemon.call("GET", _job(args.job_id) + "/logs")["logs"]:
                sys.stdout.write(entry["text"])
        else:
            body = {"reason": args.reason} if args.reason else {}
            answer = daemon.call("POST", f"{_job(args.job_id)}/{args.verb}", body)
            print(printable(answer["message"]))
    except Refused as exc:
        print(f"skiff: {exc}", file=sys.stderr)
        return 1
    return 0


def _submission(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"jobQueue": args.queue, "jobDefinition": args.definition}
    if args.name:
        body["jobName"] = args.name
    if args.array_size is not None:
        body["arrayProperties"] = {"size": args.array_size}
    depends = []
    for d in args.depends_on:
        if d in DEPENDENCY_TYPES:
            depends.append({"type": d})
            continue
        job_id, _, kind = d.rpartition(":") if d.endswith(DEPENDENCY_TYPES) else (d, "", "")
        depends.append({"jobId": job_id, **({"type": kind} if kind else {})})
    if depends:
        body["dependsOn"] = depends
    parameters = {}
    for p in args.parameter:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise Refused(printable(f"--parameter {p!r}: write KEY=VALUE"))
        parameters[key] = value
    if parameters:
        body["parameters"] = parameters
    if args.share_id:
        body["shareIdentifier"] = args.share_id
    return body


def _job(job_id: str) -> str:
    return f"/v1/batch/jobs/{urllib.parse.quote(job_id, safe='')}"


def _print_list(jobs: list[dict[str, Any]]) -> None:
    rows = [["JOB ID", "NAME", "QUEUE", "STATUS", "REASON"]]
    for j in jobs:
        rows.append(
            [j["jobId"], j["jobName"], j["jobQueue"], j["status"], j.get("statusReason") or ""]
        )
    for line in table(rows):
        print(line)
