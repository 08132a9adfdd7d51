"""`skiff batch`: submit, list, describe, cancel and terminate Batch jobs, and read their logs,
through the running daemon's API (the AWS Batch CLI's verbs, shortened)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.parse
from typing import Any

from controller.cli import api_client
from controller.cli.api_client import Client, Refused
from controller.cli.output import add_output_flag, render
from controller.terminal import printable, table

DEPENDENCY_TYPES = ("N_TO_N", "SEQUENTIAL")


def add_parser(sub: Any) -> None:
    batch = sub.add_parser("batch", help="Batch jobs: submit, list, describe, cancel, logs")
    verbs = batch.add_subparsers(dest="verb", required=True)
    submit = verbs.add_parser("submit", help="submit a job to a queue")
    submit.add_argument("--queue", required=True, help="the job queue")
    submit.add_argument("--definition", required=True, help="name (its latest) or name:N")
    submit.add_argument("--name", help="the jobName (default: the definition's name)")
    submit.add_argument("--array-size", type=int, help="run an array job of this many children")
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
    listing.add_argument("--queue", help="only this queue's jobs")
    listing.add_argument("--status", help="only jobs in this status (RUNNABLE, RUNNING, ...)")
    add_output_flag(listing)
    for verb in ("describe", "cancel", "terminate", "logs"):
        p = verbs.add_parser(verb, help=f"{verb} a job")
        p.add_argument("job_id", help="the job's id (as submit printed it)")
        if verb in ("cancel", "terminate"):
            p.add_argument("--reason", help="why, kept as the job's statusReason")
        if verb == "describe":
            add_output_flag(p, default="json")
    for p in verbs.choices.values():
        api_client.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Refused and Unreachable go up to main, which prints them and exits 1 or 3."""
    daemon = Client.from_args(args)
    if args.verb == "submit":
        answer = daemon.expect(daemon.call("POST", "/v1/batch/jobs", _submission(args)), "jobId")
        print(printable(answer["jobId"]))
    elif args.verb == "list":
        query = {k: v for k, v in (("queue", args.queue), ("status", args.status)) if v}
        path = "/v1/batch/jobs" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        jobs = daemon.expect(daemon.call("GET", path), "jobSummaryList")["jobSummaryList"]
        print(render(jobs, args.output, lambda wide: "\n".join(_list_lines(jobs, wide))))
    elif args.verb == "describe":
        job = daemon.expect(daemon.call("GET", _job(args.job_id)), "jobId", "status")
        print(render(job, args.output, lambda wide: "\n".join(_describe_lines(job))))
    elif args.verb == "logs":  # the job's own output, as `docker logs` prints it
        for entry in daemon.expect(daemon.call("GET", _job(args.job_id) + "/logs"), "logs")["logs"]:
            sys.stdout.write(entry["text"])
    else:
        body = {"reason": args.reason} if args.reason else {}
        answer = daemon.call("POST", f"{_job(args.job_id)}/{args.verb}", body)
        print(printable(daemon.expect(answer, "message")["message"]))
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


def _list_lines(jobs: list[dict[str, Any]], wide: bool) -> list[str]:
    rows = [
        ["JOB ID", "NAME", "QUEUE", "STATUS", "REASON"] + (["CREATED", "STOPPED"] if wide else [])
    ]
    for j in jobs:
        row = [j["jobId"], j["jobName"], j["jobQueue"], j["status"], j.get("statusReason") or ""]
        if wide:
            row += [_when(j.get("createdAt")), _when(j.get("stoppedAt"))]
        rows.append(row)
    return table(rows)


def _when(ms: Any) -> str:
    """An AWS Batch time (milliseconds since the epoch) as UTC, "-" when unset."""
    if not isinstance(ms, int | float) or not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe_lines(job: dict[str, Any]) -> list[str]:
    """The job's fields, one per line, nested ones indented (`-o table`: describe's default
    stays JSON, the shape DescribeJobs returns)."""
    lines: list[str] = []

    def walk(value: Any, indent: str) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            label = f"{indent}{k}:" if isinstance(value, dict) else f"{indent}-"
            if isinstance(v, dict | list) and v:
                lines.append(label)
                walk(v, indent + "  ")
            else:
                lines.append(f"{label} {json.dumps(v) if isinstance(v, dict | list) else v}")

    walk(job, "")
    return [printable(line) for line in lines]
