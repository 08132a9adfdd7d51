"""Renders `/v1/status` as the tables `skiff status` prints; every cell and line goes through
`terminal`, so nothing the daemon reports can put a control character on the screen."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from controller.terminal import printable, table


def age(at: float | None, ages: bool = True) -> str:
    """How long ago `at` was (45s, 12m, 3h); "" when `ages` is off (a rendering compared across
    polls by --watch, which must not change only because time passed)."""
    if not ages:
        return ""
    if not at:
        return "-"
    s = max(0, int(time.time() - at))
    if s >= 172800:
        return f"{s // 86400}d"
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


HEADER = ["KIND", "NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "HEALTHY", "REVISION"]


def _where(error: dict[str, Any]) -> str:
    """file:line:column, as editors open it (file alone when the daemon gave no position)."""
    if error.get("line"):
        return f"{error['file']}:{error['line']}:{error.get('column') or 1}"
    return str(error["file"])


def _error_line(e: dict[str, Any]) -> str:
    """As `skiff validate` prints it: a whole file's problem has no document or field."""
    if not e.get("document") and e.get("field") == "(document)":
        return f"{_where(e)}: {e['message']}"
    return f"{_where(e)}: document {e['document']}: {e['field']}: {e['message']}"


def render_status(doc: dict[str, Any], ages: bool = True) -> str:
    resources = doc.get("resources", [])
    out = table([[*HEADER, "MESSAGE"], *(_summary_row(r) for r in resources)])
    for r in resources:
        out += details(r, ages)
    if doc.get("errors"):
        out += ["", "Manifest errors:"]
        out += [f"  {_error_line(e)}" for e in doc["errors"]]
    if not doc.get("ready", True):
        out += ["", "(the daemon is still starting: not every host has been listed yet)"]
    if ages and isinstance(doc.get("store"), dict):  # it changes with every write, as ages do
        out += ["", store_line(doc["store"])]
    return "\n".join(printable(line) for line in out)  # table cells are already printable


def store_line(store: dict[str, Any]) -> str:
    """Store: 12.3 MiB (jobs 2,031, activities 512, tasks 1,020)."""
    rows = store.get("rows") or {}
    counts = ", ".join(
        f"{name} {rows[name]:,}" for name in ("jobs", "activities", "tasks") if name in rows
    )
    size = f"Store: {int(store.get('bytes') or 0) / 1048576:.1f} MiB"
    return f"{size} ({counts})" if counts else size


def _summary_row(r: dict[str, Any]) -> list[str]:
    """A resource's line in the first table: its counts, revision and message by kind."""
    rev = r.get("taskDefinition") or r.get("latestRevision") or ""
    message = r.get("manifestError") or r.get("message") or ""
    counts = [
        str(r.get(k, "")) for k in ("desiredCount", "runningCount", "pendingCount", "healthyCount")
    ]
    if r["kind"] == "AutoScalingGroup":
        views = [i for i in r.get("instances", []) if i["lifecycleState"] != "Terminated"]
        counts = [
            str(r.get("desiredCapacity", "")),
            str(r.get("inServiceCount", "")),
            str(sum(1 for i in views if i["lifecycleState"].startswith("Pending"))),
            str(sum(1 for i in views if i["healthStatus"] == "Healthy")),
        ]
        rev = r.get("launchTemplate") or ""
    if r["kind"] == "Instance":
        counts = ["", "", "", ""]
        rev = next((i["launchTemplate"] for i in r.get("instances", [])), "")
        message = message or f"{r.get('instanceId') or '-'} {r.get('state', '')}"
    if r["kind"] == "LaunchTemplate":
        rev = f"latest {r.get('latestVersionNumber')} default {r.get('defaultVersionNumber')}"
    if r["kind"] == "ScheduledAction" and r.get("nextTime"):
        message = message or f"next {_when(r['nextTime'])}"
    if r["kind"] == "Host":
        cap, alloc = r.get("capacity", {}), r.get("allocated", {})
        message = message or (
            f"{r.get('zone')} cpu {alloc.get('cpu', 0)}/{cap.get('cpu', 0)} "
            f"mem {alloc.get('memory', 0)}/{cap.get('memory', 0)}MiB"
        )
    return [r["kind"], r["name"], r["status"], *counts, rev, message[:100]]


def details(r: dict[str, Any], ages: bool = True) -> list[str]:
    """The sections under the first table for one resource: revisions, deployments, tasks,
    instances, activities."""
    out: list[str] = []
    if r["kind"] == "TaskDefinition":
        revs = ", ".join(
            f"{r['name']}:{v['revision']} {v['status']}" for v in r.get("revisions", [])
        )
        out += ["", f"TaskDefinition/{r['name']} revisions: {revs}"]
    if r["kind"] == "Service" and r.get("deployments"):
        out += ["", f"Service/{r['name']} deployments:"]
        out += ["  " + line for line in table(deployment_rows(r["deployments"]))]
    if r["kind"] == "Service" and r.get("tasks"):
        out += ["", f"Service/{r['name']} tasks:"]
        out += ["  " + line for line in table(task_rows(r["tasks"], ages))]
    if r["kind"] in ("AutoScalingGroup", "Instance") and r.get("instances"):
        out += ["", f"{r['kind']}/{r['name']} instances:"]
        out += ["  " + line for line in table(instance_rows(r["instances"], ages))]
    refresh = r.get("instanceRefresh") if r["kind"] == "AutoScalingGroup" else None
    if isinstance(refresh, dict) and refresh.get("status") != "Successful":
        out += [
            "",
            f"AutoScalingGroup/{r['name']} instance refresh: {refresh.get('status')}, "
            f"{refresh.get('percentageComplete')}% complete, "
            f"{refresh.get('instancesToUpdate')} to update: {refresh.get('statusReason')}",
        ]
    if r["kind"] in ("AutoScalingGroup", "Service") and r.get("activities"):
        out += ["", f"{r['kind']}/{r['name']} activities (newest first):"]
        out += ["  " + line for line in table(activity_rows(r["activities"], ages))]
    return out


def activity_rows(activities: list[dict[str, Any]], ages: bool = True) -> list[list[str]]:
    rows = [["STATUS", "STARTED", "DESCRIPTION", "CAUSE"]]
    for a in activities:
        rows.append(
            [a["statusCode"], age(a["startTime"], ages), a["description"], a["cause"][:160]]
        )
    return rows


def deployment_rows(deployments: list[dict[str, Any]]) -> list[list[str]]:
    rows = [["ID", "STATUS", "REVISION", "ROLLOUT", "RUNNING", "PENDING", "FAILED", "REASON"]]
    for d in deployments:
        rows.append(
            [
                d["id"],
                d["status"],
                d["taskDefinition"],
                d["rolloutState"],
                str(d["runningCount"]),
                str(d["pendingCount"]),
                str(d["failedTasks"]),
                d["rolloutStateReason"][:80],
            ]
        )
    return rows


def task_rows(tasks: list[dict[str, Any]], ages: bool = True) -> list[list[str]]:
    rows = [
        ["TASK", "REVISION", "HOST", "LAST", "DESIRED", "HEALTH", "AGE", "PORTS", "STOPPED REASON"]
    ]
    for t in tasks:
        ports = ",".join(
            f"{b['bindIP']}:{b['hostPort']}->{b['containerPort']}"
            for c in t["containers"]
            for b in c["networkBindings"]
        )
        rows.append(
            [
                t["taskId"][:12],
                t["taskDefinition"],
                t["host"],
                t["lastStatus"],
                t["desiredStatus"],
                t["healthStatus"],
                age(t.get("createdAt"), ages),
                ports or "-",
                t.get("stoppedReason") or "",
            ]
        )
    return rows


def instance_rows(instances: list[dict[str, Any]], ages: bool = True) -> list[list[str]]:
    rows = [
        [
            "INSTANCE",
            "ZONE",
            "HOST",
            "STATE",
            "CHECK",
            "LIFECYCLE",
            "HEALTH",
            "PROTECTED",
            "TEMPLATE",
            "AGE",
            "PORTS",
            "REASON",
        ]
    ]
    for i in instances:
        ports = ",".join(f"{p['bindIP']}:{p['hostPort']}->{p['containerPort']}" for p in i["ports"])
        rows.append(
            [
                i["instanceId"],
                i["availabilityZone"],
                i["host"],
                i["state"],
                i.get("statusCheck") or "-",
                i.get("lifecycleState", "-"),
                i.get("healthStatus", "-"),
                "yes" if i.get("protectedFromScaleIn") else "-",
                i["launchTemplate"],
                age(i.get("launchTime"), ages),
                ports or "-",
                (i.get("stateReason") or "")[:60],
            ]
        )
    return rows
