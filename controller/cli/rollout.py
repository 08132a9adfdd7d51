"""`skiff rollout status Service/NAME` (or `svc/NAME`, `AutoScalingGroup/NAME`, `asg/NAME`):
follows a service's deployment (the one PRIMARY when it starts: a circuit breaker's rollback
then makes another PRIMARY, and the one followed is reported FAILED), or a group's instance
refresh, printing a progress line each time it changes, as `kubectl rollout status` does.

Exit 0 when the deployment's rolloutState is COMPLETED (the refresh's status Successful); 1 when
it is FAILED (Failed), with the reason; 1 with "timed out" when --timeout passes first.

It reads the state the daemon reports now: right after a manifest edit, before the daemon has
read it, the previous (finished) rollout is what it finds.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from controller.cli import kinds
from controller.cli.api_client import Client, Refused
from controller.cli.durations import duration
from controller.cli.get import select
from controller.terminal import printable

POLL_SECONDS = 1.0
ROLLABLE = ("Service", "AutoScalingGroup")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    rollout = sub.add_parser("rollout", help="follow a service's deployment or a group's refresh")
    verbs = rollout.add_subparsers(dest="verb", required=True)
    status = verbs.add_parser(
        "status", help="wait for a rollout to finish: exit 0 when it completes, 1 when it fails"
    )
    status.add_argument(
        "resource",
        metavar="KIND/NAME",
        help="Service/NAME (svc/NAME) or AutoScalingGroup/NAME (asg/NAME)",
    )
    status.add_argument(
        "--timeout",
        type=duration,
        default=None,
        metavar="DURATION",
        help="give up (exit 1) after this long: 90s, 5m, 1h (default: wait for ever)",
    )
    parser: argparse.ArgumentParser = status
    return parser


def _target(text: str) -> tuple[str, str]:
    word, name = kinds.split_reference(text)
    try:
        kind = kinds.resolve(word)
    except kinds.UnknownKind as exc:
        raise Refused(printable(str(exc))) from None
    if kind not in ROLLABLE or not name:
        raise Refused(
            printable(f"{text!r}: write Service/NAME or AutoScalingGroup/NAME (svc/NAME, asg/NAME)")
        )
    return kind, name


def run(args: argparse.Namespace) -> int:
    kind, name = _target(args.resource)
    client = Client.from_args(args)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    last, followed = None, None
    while True:
        r = select(client.status(), kind, name)[0]
        if kind == "Service":
            followed = followed or primary_id(r)
            line, outcome = service_progress(r, followed)
        else:
            line, outcome = refresh_progress(r)
        if line != last:
            print(printable(line), file=sys.stderr if outcome == 1 else sys.stdout, flush=True)
            last = line
        if outcome is not None:
            return outcome
        if deadline is not None and time.monotonic() >= deadline:
            print(
                printable(f"timed out waiting for the rollout of {kind}/{name}"),
                file=sys.stderr,
            )
            return 1
        wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
        time.sleep(max(0.0, wait))


def primary_id(r: dict[str, Any]) -> str | None:
    primary = next((d for d in r.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
    return None if primary is None else primary.get("id")


def service_progress(r: dict[str, Any], followed: str | None = None) -> tuple[str, int | None]:
    """The progress line of a service's deployment `followed` (default, or when it is gone: the
    PRIMARY one), and the exit code once it ends."""
    name = r["name"]
    deployments = r.get("deployments") or []
    primary = next((d for d in deployments if followed and d.get("id") == followed), None)
    primary = primary or next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return f"Waiting for deployment {name} to start", None
    state = primary.get("rolloutState")
    revision = primary.get("taskDefinition")
    if state == "COMPLETED":
        return f'deployment "{name}" successfully rolled out ({revision})', 0
    if state == "FAILED":
        return f'deployment "{name}" failed: {primary.get("rolloutStateReason") or state}', 1
    tasks = [t for t in r.get("tasks") or [] if t.get("desiredStatus") == "RUNNING"]
    new = [t for t in tasks if t.get("taskDefinition") == revision]
    old = [t for t in tasks if t.get("taskDefinition") != revision]
    running = sum(1 for t in new if t.get("lastStatus") == "RUNNING")
    checked = [t for t in new if t.get("healthStatus") in ("HEALTHY", "UNHEALTHY")]
    healthy = sum(1 for t in checked if t["healthStatus"] == "HEALTHY")
    line = (
        f"Waiting for deployment {name} ({revision}) rollout to finish: "
        f"{running} of {r.get('desiredCount', '?')} new tasks running"
    )
    if checked:
        line += f", {healthy} healthy"
    if old:
        line += f"; {len(old)} old task{'s' if len(old) != 1 else ''} still running"
    return line, None


def refresh_progress(r: dict[str, Any]) -> tuple[str, int | None]:
    """The progress line of a group's instance refresh, and the exit code once it ends."""
    name = r["name"]
    refresh = r.get("instanceRefresh")
    if not isinstance(refresh, dict):
        raise Refused(printable(f"the daemon reports no instanceRefresh for group {name}"))
    status = refresh.get("status")
    reason = refresh.get("statusReason") or ""
    if status == "Successful":
        return f'instance refresh of group "{name}" successful ({r.get("launchTemplate")})', 0
    if status == "Failed":
        return f'instance refresh of group "{name}" failed: {reason}', 1
    return (
        f"Waiting for instance refresh of group {name}: {status}, "
        f"{refresh.get('percentageComplete')}% complete, "
        f"{refresh.get('instancesToUpdate')} instance(s) to update ({reason})",
        None,
    )
