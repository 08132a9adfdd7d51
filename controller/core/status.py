"""Status of each resource as the daemon last saw it, in the shapes `/v1/status` returns.

Field names follow the AWS APIs (desiredCount, runningCount, lastStatus, stoppedReason, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.ecs.planners.task_state import TaskView
from controller.runtime import ContainerInfo
from controller.store import Deployment


@dataclass
class ResourceStatus:
    kind: str
    name: str
    status: str = "PENDING"  # ACTIVE | ERROR | DRAINING | PENDING
    message: str = ""
    source: str = ""
    manifest_error: str = ""  # the manifest's current version is invalid; the last valid one runs
    details: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "source": self.source,
            "manifestError": self.manifest_error,
            "updatedAt": self.updated_at,
            **self.details,
        }


def container_json(name: str, c: ContainerInfo, address: str) -> dict[str, Any]:
    return {
        "name": name,
        "containerId": c.id[:12],
        "dockerName": c.name,
        "state": c.state,
        "health": c.health,
        "exitCode": c.exit_code if c.exited or c.failed_to_start else None,
        "reason": c.error
        or ("OutOfMemoryError: container killed due to memory usage" if c.oom_killed else ""),
        "networkBindings": [
            {
                "containerPort": p.container_port,
                "hostPort": p.host_port,
                "protocol": p.protocol,
                "bindIP": address,
            }
            for p in c.ports
            if p.host_port
        ],
    }


def deployment_json(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.revision,
        "rolloutState": d.rollout_state,
        "rolloutStateReason": d.reason,
        "runningCount": d.running,
        "pendingCount": d.pending,
        "failedTasks": len(d.failed_tasks),
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    }


def unplaced_task_json(revision: str, reason: str) -> dict[str, Any]:
    """A task no host can take yet: PROVISIONING, with what each host lacked."""
    return {
        "taskId": "",
        "taskDefinition": revision,
        "host": "",
        "lastStatus": "PROVISIONING",
        "desiredStatus": "RUNNING",
        "healthStatus": "UNKNOWN",
        "stoppedReason": None,
        "provisioningReason": f"no host met all of its requirements: {reason}",
        "createdAt": None,
        "startedAt": None,
        "containers": [],
    }


def task_json(t: TaskView, address: str) -> dict[str, Any]:
    return {
        "taskId": t.id,
        "taskDefinition": t.revision,
        "host": t.host,
        "lastStatus": t.last_status,
        "desiredStatus": t.desired_status,
        "healthStatus": t.health,
        "stoppedReason": t.stopped_reason,
        "createdAt": t.created_at,
        "startedAt": t.started_at,
        "containers": [
            container_json(n, c, address) for n, c in sorted((t.containers or {}).items())
        ],
    }
