"""Builders of manifest documents as users write them (dicts: a test changes one field by
changing one key), and their YAML text or files.

Builders fill in only what a kind requires, with the values most tests want; they validate
nothing themselves, so a test can build an invalid document on purpose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

# The image the tests run on a real engine (`docker import` of busybox-static by default).
IMAGE = os.environ.get("SKIFF_TEST_IMAGE", "skiff/busybox:latest")
# Serves $VERSION on port 8080 and exits at once on SIGTERM.
HTTPD = (
    "mkdir -p /www && echo $VERSION > /www/index.html && httpd -f -p 8080 -h /www "
    "& trap 'exit 0' TERM; wait"
)
# Sleeps an hour and exits at once on SIGTERM: an instance's or a task's idle command.
SLEEPER = "trap 'exit 0' TERM; sleep 3600 & wait"
# The smallest custom instance type the tests launch (a quarter of a vCPU, 64 MiB).
SMALL = {"instanceType": "custom", "customInstanceType": {"vCpus": 0.25, "memoryMiB": 64}}


def dump(*docs: dict[str, Any] | str) -> str:
    """The text of a manifest file of these documents (dicts as YAML, strings verbatim)."""
    parts = [d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs]
    return "---\n".join(parts)


def write(root: Path, rel: str, *docs: dict[str, Any] | str) -> Path:
    """Writes documents (dicts as YAML, strings verbatim) into root/rel, separated by `---`."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(*docs), encoding="utf-8")
    return path


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "memory": 64, **fields}


def document(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "skiff/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def td_doc(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("containerDefinitions", [container()])
    return document("TaskDefinition", name, spec)


def service_doc(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("taskDefinition", name)
    return document("Service", name, spec)


def host_doc(name: str = "h1", **spec: Any) -> dict[str, Any]:
    spec.setdefault("url", "unix:///var/run/docker.sock")
    return document("Host", name, spec)


def web_service_docs(
    name: str,
    count: int,
    *,
    family: str | None = None,
    env: str = "v1",
    service: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Task definition `family` (default: `name`) with one container `web` of IMAGE serving
    $VERSION (`env`) on port 8080 (HTTPD), and Service `name` of `count` tasks. `service` adds
    fields to the Service's spec, `health` is the container's healthCheck."""
    family = family or name
    web = container(
        "web",
        image=IMAGE,
        command=["sh", "-c", HTTPD],
        environment=[{"name": "VERSION", "value": env}],
        memoryReservation=16,
        portMappings=[{"containerPort": 8080}],
        stopTimeout=2,
    )
    del web["memory"]
    if health is not None:
        web["healthCheck"] = health
    return [
        td_doc(family, containerDefinitions=[web]),
        service_doc(name, taskDefinition=family, desiredCount=count, **(service or {})),
    ]


def service_manifest(name: str, count: int, **options: Any) -> str:
    """web_service_docs as the text of a manifest file."""
    return dump(*web_service_docs(name, count, **options))


# --- Batch ------------------------------------------------------------------------------------


def compute_environment_doc(name: str = "ce", **spec: Any) -> dict[str, Any]:
    spec.setdefault("maxvCpus", 2)
    return document("ComputeEnvironment", name, spec)


def job_queue_doc(name: str = "q", *environments: str, **spec: Any) -> dict[str, Any]:
    """A queue of priority 1 over `environments` (default: `ce`), in that order."""
    spec.setdefault("priority", 1)
    order = [{"order": i, "computeEnvironment": e} for i, e in enumerate(environments or ["ce"], 1)]
    spec.setdefault("computeEnvironmentOrder", order)
    return document("JobQueue", name, spec)


def job_definition_doc(name: str = "work", **spec: Any) -> dict[str, Any]:
    """A definition of one container (`sh -c NAME`, 1 vCPU, 64 MiB) unless told otherwise
    (containerProperties, or nodeProperties for a multi-node job)."""
    if "nodeProperties" not in spec:
        spec.setdefault(
            "containerProperties",
            {
                "image": "skiff/busybox:latest",
                "command": ["sh", "-c", name],
                "vcpus": 1,
                "memory": 64,
            },
        )
    return document("JobDefinition", name, spec)


# --- EC2 --------------------------------------------------------------------------------------


def launch_template_doc(name: str = "app", **data: Any) -> dict[str, Any]:
    """A launch template whose launchTemplateData is `data` (default image: busybox)."""
    data.setdefault("imageId", "skiff/busybox:latest")
    return document("LaunchTemplate", name, {"launchTemplateData": data})


def instance_doc(name: str = "one", template: str = "app", **spec: Any) -> dict[str, Any]:
    """An instance of launch template `template`, unless its own launchTemplateData is given."""
    if "launchTemplateData" not in spec:
        spec.setdefault("launchTemplate", {"launchTemplateName": template})
    return document("Instance", name, spec)


def asg_doc(name: str = "web", template: str = "web", **spec: Any) -> dict[str, Any]:
    """An Auto Scaling group of launch template `template` ($Latest), 1 to 6 instances."""
    spec.setdefault("launchTemplate", {"launchTemplateName": template, "version": "$Latest"})
    spec.setdefault("minSize", 1)
    spec.setdefault("maxSize", 6)
    return document("AutoScalingGroup", name, spec)


# --- Elastic Load Balancing ------------------------------------------------------------------


def target_group_doc(name: str = "web", **spec: Any) -> dict[str, Any]:
    return document("TargetGroup", name, spec)


def forward(target_group: str) -> list[dict[str, Any]]:
    """A listener's defaultActions: forward everything to `target_group`."""
    return [{"type": "forward", "targetGroup": target_group}]


def load_balancer_doc(
    name: str = "front", *ports: int, target_group: str = "web", **spec: Any
) -> dict[str, Any]:
    """A load balancer with one listener per port, each forwarding to `target_group`."""
    listeners = [{"port": p, "defaultActions": forward(target_group)} for p in ports]
    spec.setdefault("listeners", listeners)
    return document("LoadBalancer", name, spec)


def health_check(path: str | None = "/health", **fields: Any) -> dict[str, Any]:
    """A target group's healthCheck that decides within seconds: every 5 s, 2 s timeout, 2
    checks either way (`path` None: the default path)."""
    check: dict[str, Any] = {} if path is None else {"path": path}
    check.update(
        intervalSeconds=5, timeoutSeconds=2, healthyThresholdCount=2, unhealthyThresholdCount=2
    )
    return {**check, **fields}


# --- CloudWatch and Application Auto Scaling --------------------------------------------------


def scaling_policy_doc(
    name: str = "web-policy", target: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    """A policy on `target` (default: `{service: web}`); policyType and its configuration are
    the caller's, e.g. `policyType="StepScaling", stepScalingConfiguration={...}`."""
    return document("ScalingPolicy", name, {"target": target or {"service": "web"}, **spec})


def alarm_doc(
    name: str = "web-alarm", metric: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """An alarm on `metric` (default: the CPU of service `web`), over 1 unless told otherwise."""
    spec.setdefault("threshold", 1)
    spec.setdefault("comparisonOperator", "GreaterThanThreshold")
    metric = metric or {"metricName": "CPUUtilization", "service": "web"}
    return document("Alarm", name, {"metric": metric, **spec})


def scheduled_action_doc(
    name: str = "web-schedule", target: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    """An action on `target` (default: `{service: web}`); its time and sizes are the caller's,
    e.g. `startTime="2030-01-01T00:00:00Z", desiredCapacity=3`."""
    return document("ScheduledAction", name, {"target": target or {"service": "web"}, **spec})
