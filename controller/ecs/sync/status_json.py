"""A service's tasks, containers and deployments in the shapes `/v1/status` returns, with the
field names of ECS's DescribeServices and DescribeTasks (desiredCount, lastStatus,
stoppedReason, ...)."""

from __future__ import annotations

from typing import Any

from controller.ecs.planners.task_state import TaskView
from controller.runtime import ContainerInfo
from controller.store import Deployment


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
