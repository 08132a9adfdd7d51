"""What Skiff's Grafana dashboards show: each dashboard's rows, panels and PromQL, as plain
data. deploy/grafana/generate.py turns it into Grafana's JSON with grafana-foundation-sdk.

Every query is written to return at least one series in a working installation with one
service, one load balancer with traffic, one Auto Scaling group with a policy and an alarm, and
one job queue with a job (the dashboards' integration test runs each one on a real Prometheus).
A counter that only exists once something happened (a task stopped, a job failed) is completed
with a zero per service, queue or group (`or on(label) ... * 0`), so "nothing happened" shows as
0, not as "No data". Template variables are matched with =~, so "All" (.*) works. The metric
names are controller/telemetry.py's.
"""

from __future__ import annotations

from panel_model import Dashboard, Panel, Query, Row, Variable, or_zero, p, rate

# Overview ------------------------------------------------------------------------------------

ENGINES = Row(
    "Engines and resources",
    [
        Panel(
            "Docker engines",
            "1 when the daemon reaches the host's Docker engine, 0 when it does not.",
            [Query("skiff_host_up", "{{host}}")],
            kind="stat",
            width=8,
            mappings={"0": ("down", "red"), "1": ("up", "green")},
        ),
        Panel(
            "Resources by kind",
            "Valid resources in the manifests.",
            [Query("sum by (kind) (skiff_resources)", "{{kind}}")],
            kind="stat",
            width=8,
        ),
        Panel(
            "Manifest errors",
            "Errors in the manifest directory (0: every file is valid). "
            "`skiff validate` names the file, document and field.",
            [Query("sum(skiff_manifest_errors) or vector(0)", "errors")],
            kind="stat",
            width=8,
        ),
        Panel(
            "Resources by kind and status",
            "Resources in each status (ACTIVE, PENDING, DRAINING, ERROR).",
            [Query("sum by (kind, status) (skiff_resource_status)", "{{kind}} {{status}}")],
            width=12,
            stack=True,
        ),
        Panel(
            "Manifest errors by file",
            "Errors per manifest file; 0 when there are none.",
            [Query("sum by (file) (skiff_manifest_errors) or on() vector(0)", "{{file}}")],
            width=12,
        ),
    ],
)

FAILED_CALLS = 'outcome!="success"'  # the outcome of a failed call is the error's type

DAEMON = Row(
    "The daemon",
    [
        Panel(
            "Reconciles",
            "Reconciles per second, by kind and result.",
            [
                Query(
                    f"sum by (kind, result) ({rate('skiff_reconcile_total')})",
                    "{{kind}} {{result}}",
                )
            ],
            unit="ops",
        ),
        Panel(
            "Reconcile latency",
            "Time one reconcile takes, p50 and p99 over every kind.",
            [
                Query(p(0.5, "skiff_reconcile_duration_seconds_bucket"), "p50"),
                Query(p(0.99, "skiff_reconcile_duration_seconds_bucket"), "p99"),
            ],
            unit="s",
        ),
        Panel(
            "Work queue",
            "Keys waiting for a worker, and keys requeued after an error per second.",
            [
                Query("skiff_workqueue_depth", "depth"),
                Query(f"sum({rate('skiff_workqueue_retries_total')})", "retries/s"),
            ],
        ),
        Panel(
            "Docker API latency",
            "Docker API call latency by operation, p99.",
            [
                Query(
                    p(0.99, "skiff_docker_api_duration_seconds_bucket", "operation"),
                    "{{operation}} p99",
                )
            ],
            unit="s",
        ),
        Panel(
            "Docker API calls and errors",
            "Calls per second by host, and the calls that failed (0 when none did).",
            [
                Query(f"sum by (host) ({rate('skiff_docker_api_calls_total')})", "{{host}} calls"),
                Query(
                    or_zero(
                        f"sum by (host) ({rate('skiff_docker_api_calls_total', FAILED_CALLS)})",
                        "host",
                        rate("skiff_docker_api_calls_total"),
                    ),
                    "{{host}} errors",
                ),
            ],
            unit="ops",
        ),
        Panel(
            "Docker event lag",
            "From Docker's event to the daemon handling it, p50 and p99.",
            [
                Query(p(0.5, "skiff_docker_event_lag_seconds_bucket"), "p50"),
                Query(p(0.99, "skiff_docker_event_lag_seconds_bucket"), "p99"),
            ],
            unit="s",
        ),
    ],
)

OVERVIEW = Dashboard(
    "skiff-overview",
    "Skiff / Overview",
    "Docker engines, resources, manifest errors and the daemon's own health.",
    [],
    [ENGINES, DAEMON],
)

# Services ------------------------------------------------------------------------------------

SERVICE = 'service=~"$service"'
SERVICES_DESIRED = f"skiff_service_desired_tasks{{{SERVICE}}}"

SERVICES = Dashboard(
    "skiff-services",
    "Skiff / Services",
    "ECS services: desired, running and healthy tasks, deployments, stopped tasks.",
    [Variable("service", "Service", "skiff_service_desired_tasks")],
    [
        Row(
            "Tasks",
            [
                Panel(
                    "Tasks: desired, running, healthy",
                    "desiredCount, RUNNING tasks, and RUNNING tasks whose health checks pass.",
                    [
                        Query(f"sum by (service) ({SERVICES_DESIRED})", "{{service}} desired"),
                        Query(
                            f"sum by (service) (skiff_service_running_tasks{{{SERVICE}}})",
                            "{{service}} running",
                        ),
                        Query(
                            f"sum by (service) (skiff_service_healthy_tasks{{{SERVICE}}})",
                            "{{service}} healthy",
                        ),
                    ],
                    width=16,
                ),
                Panel(
                    "Services below desired",
                    "Services with fewer RUNNING tasks than desired.",
                    [
                        Query(
                            f"count(skiff_service_running_tasks{{{SERVICE}}} "
                            f"< {SERVICES_DESIRED}) or vector(0)",
                            "services",
                        )
                    ],
                    kind="stat",
                    width=8,
                ),
                Panel(
                    "Pending tasks",
                    "Tasks launched and not yet RUNNING.",
                    [
                        Query(
                            f"sum by (service) (skiff_service_pending_tasks{{{SERVICE}}})",
                            "{{service}}",
                        )
                    ],
                ),
                Panel(
                    "Tasks stopped by reason",
                    "Tasks stopped per second, by ECS stop code (0 when none stopped).",
                    [
                        Query(
                            or_zero(
                                f"sum by (service, reason) "
                                f"({rate('skiff_tasks_stopped_total', SERVICE)})",
                                "service",
                                SERVICES_DESIRED,
                            ),
                            "{{service}} {{reason}}",
                        )
                    ],
                    unit="ops",
                ),
            ],
        ),
        Row(
            "Deployments",
            [
                Panel(
                    "Deployments by rollout state",
                    "A service's deployments by rolloutState: IN_PROGRESS, COMPLETED, FAILED.",
                    [
                        Query(
                            f"sum by (service, rollout_state) "
                            f"(skiff_service_deployments{{{SERVICE}}})",
                            "{{service}} {{rollout_state}}",
                        )
                    ],
                    stack=True,
                ),
                Panel(
                    "Circuit breaker trips",
                    "Deployments the circuit breaker failed, in the last hour.",
                    [
                        Query(
                            or_zero(
                                f"sum by (service) (increase("
                                f"skiff_service_circuit_breaker_trips_total{{{SERVICE}}}[1h]))",
                                "service",
                                SERVICES_DESIRED,
                            ),
                            "{{service}}",
                        )
                    ],
                ),
            ],
        ),
    ],
)

# Load balancers ------------------------------------------------------------------------------

TG = 'target_group=~"$target_group"'
RESPONSE_TIME = "skiff_target_group_response_time_seconds_bucket"


def responses(code: str) -> str:
    selector = f'{TG}, code="{code}"'
    return f"sum by (target_group) ({rate('skiff_target_group_responses_total', selector)})"


def targets(state: str) -> str:
    return f'sum by (target_group) (skiff_target_group_targets{{{TG}, state="{state}"}})'


LOAD_BALANCERS = Dashboard(
    "skiff-load-balancers",
    "Skiff / Load balancers",
    "Target groups: requests, errors, latency and target health.",
    [Variable("target_group", "Target group", "skiff_target_group_targets")],
    [
        Row(
            "Traffic",
            [
                Panel(
                    "Requests",
                    "HTTP requests per second a target group served.",
                    [
                        Query(
                            "sum by (target_group) "
                            f"({rate('skiff_target_group_requests_total', TG)})",
                            "{{target_group}}",
                        )
                    ],
                    unit="reqps",
                ),
                Panel(
                    "4xx and 5xx",
                    "Responses per second with a 4xx or 5xx status.",
                    [
                        Query(responses("4xx"), "{{target_group}} 4xx"),
                        Query(responses("5xx"), "{{target_group}} 5xx"),
                    ],
                    unit="reqps",
                ),
                Panel(
                    "Response time",
                    "Target response time, p50 and p99.",
                    [
                        Query(
                            p(0.5, RESPONSE_TIME, "target_group", TG),
                            "{{target_group}} p50",
                        ),
                        Query(
                            p(0.99, RESPONSE_TIME, "target_group", TG),
                            "{{target_group}} p99",
                        ),
                    ],
                    unit="s",
                    width=24,
                ),
            ],
        ),
        Row(
            "Targets",
            [
                Panel(
                    "Healthy and unhealthy targets",
                    "Targets passing and failing their health checks.",
                    [
                        Query(targets("healthy"), "{{target_group}} healthy"),
                        Query(targets("unhealthy"), "{{target_group}} unhealthy"),
                    ],
                ),
                Panel(
                    "Targets by state",
                    "Targets by ELB state: initial, healthy, unhealthy, draining, unused.",
                    [
                        Query(
                            f"sum by (target_group, state) (skiff_target_group_targets{{{TG}}})",
                            "{{target_group}} {{state}}",
                        )
                    ],
                    stack=True,
                ),
            ],
        ),
    ],
)

# Auto Scaling ---------------------------------------------------------------------------------

GROUP = 'group=~"$group"'
GROUPS_DESIRED = f"skiff_autoscaling_group_desired_capacity{{{GROUP}}}"
ALARM_STATES = {
    "-1": ("INSUFFICIENT_DATA", "orange"),
    "0": ("OK", "green"),
    "1": ("ALARM", "red"),
}

AUTOSCALING = Dashboard(
    "skiff-autoscaling",
    "Skiff / Auto Scaling",
    "Auto Scaling groups: capacity, activities, alarms and policy decisions.",
    [Variable("group", "Group", "skiff_autoscaling_group_desired_capacity")],
    [
        Row(
            "Capacity",
            [
                Panel(
                    "Desired and InService",
                    "A group's desired capacity against its InService instances.",
                    [
                        Query(f"sum by (group) ({GROUPS_DESIRED})", "{{group}} desired"),
                        Query(
                            "sum by (group) (skiff_autoscaling_group_instances"
                            f'{{{GROUP}, lifecycle_state="InService"}})',
                            "{{group}} InService",
                        ),
                    ],
                ),
                Panel(
                    "Instances by lifecycle state",
                    "Pending, InService, Terminating, and the lifecycle hooks' waits.",
                    [
                        Query(
                            "sum by (group, lifecycle_state) "
                            f"(skiff_autoscaling_group_instances{{{GROUP}}})",
                            "{{group}} {{lifecycle_state}}",
                        )
                    ],
                    stack=True,
                ),
                Panel(
                    "Activities",
                    "Scaling activities in the last hour, by status (0 when there were none).",
                    [
                        Query(
                            or_zero(
                                "sum by (group, status) (increase("
                                f"skiff_autoscaling_activities_total{{{GROUP}}}[1h]))",
                                "group",
                                GROUPS_DESIRED,
                            ),
                            "{{group}} {{status}}",
                        )
                    ],
                    width=24,
                ),
            ],
        ),
        Row(
            "Alarms and policies",
            [
                Panel(
                    "Alarm states",
                    "Each CloudWatch alarm's state.",
                    [Query("max by (alarm) (skiff_alarm_state)", "{{alarm}}")],
                    kind="stat",
                    mappings=ALARM_STATES,
                ),
                Panel(
                    "Policy decisions",
                    "Scaling policy evaluations per second, by decision "
                    "(scale_out, scale_in, no_change).",
                    [
                        Query(
                            "sum by (policy, decision) "
                            f"({rate('skiff_scaling_policy_decisions_total')})",
                            "{{policy}} {{decision}}",
                        )
                    ],
                    unit="ops",
                ),
            ],
        ),
    ],
)

# Batch ---------------------------------------------------------------------------------------

QUEUE = 'queue=~"$queue"'
QUEUES = f"skiff_batch_jobs{{{QUEUE}}}"

BATCH = Dashboard(
    "skiff-batch",
    "Skiff / Batch",
    "Job queues: jobs by status, throughput and failed attempts.",
    [Variable("queue", "Job queue", "skiff_batch_jobs")],
    [
        Row(
            "Jobs",
            [
                Panel(
                    "Jobs by queue and status",
                    "Jobs waiting or running: SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING.",
                    [
                        Query(
                            f"sum by (queue, status) ({QUEUES})",
                            "{{queue}} {{status}}",
                        )
                    ],
                    stack=True,
                ),
                Panel(
                    "RUNNABLE backlog",
                    "Jobs ready to run and waiting for capacity.",
                    [
                        Query(
                            f'sum by (queue) (skiff_batch_jobs{{{QUEUE}, status="RUNNABLE"}})',
                            "{{queue}}",
                        )
                    ],
                ),
                Panel(
                    "Throughput",
                    "Jobs finished per second, SUCCEEDED and FAILED (0 before the first).",
                    [
                        Query(
                            or_zero(
                                "sum by (queue, status) "
                                f"({rate('skiff_batch_jobs_finished_total', QUEUE)})",
                                "queue",
                                QUEUES,
                            ),
                            "{{queue}} {{status}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Failed attempts",
                    "Job attempts that failed per second (a retried job fails several).",
                    [
                        Query(
                            or_zero(
                                "sum by (queue) "
                                f"({rate('skiff_batch_attempts_failed_total', QUEUE)})",
                                "queue",
                                QUEUES,
                            ),
                            "{{queue}}",
                        )
                    ],
                    unit="ops",
                ),
            ],
        ),
    ],
)

DASHBOARDS = (OVERVIEW, SERVICES, LOAD_BALANCERS, AUTOSCALING, BATCH)
