"""The daemon's settings: its flags, as every part of the controller reads them."""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.host_ports import PortRange
from controller.core.labels import DEFAULT_CLUSTER
from controller.manifests.loader import DEFAULT_MAX_MANIFEST_BYTES
from controller.manifests.policy import BASELINE, Policy


@dataclass(frozen=True)
class Settings:
    workers: int = 4
    parallelism: int = 10
    resync_seconds: float = 30.0
    max_launches_per_pass: int = 100
    stopped_tasks_kept: int = 5
    expectation_ttl: float = 60.0
    backoff_base: float = 0.05
    backoff_cap: float = 60.0
    pause_image: str | None = None
    cluster: str = DEFAULT_CLUSTER
    host_lost_seconds: float = 60.0  # an engine unreachable this long: its tasks are replaced
    healthy_after_seconds: float = 40.0  # RUNNING this long, a task with no checks is healthy
    lb_address: str = "127.0.0.1"  # where load balancer listeners bind
    lb_threads: int | None = None  # HAProxy's threads; None: one fewer than the CPUs, at least 1
    dataplane_dir: str | None = None  # HAProxy's files; None: a temporary directory
    status_check_seconds: float = 60.0  # how often instances' status checks run
    metrics_period: float = 60.0  # seconds between metric collections (CloudWatch: 60 or 300)
    prometheus_url: str | None = None  # for prometheusQuery metrics that name no server
    monitoring: bool = True  # collect metrics and run alarms, policies and schedules
    batch_min_timeout: float = 60.0  # attemptDurationSeconds' floor (AWS: 60)
    host_port_range: PortRange | None = None  # dynamic host ports; None: beside the kernel's
    policy: Policy = BASELINE  # what containers may ask of the hosts beyond the baseline
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES  # a larger file is an error, unread
    # Retention: seconds a finished Batch job (with its logs and events) is kept after it
    # ended (AWS Batch: at least 7 days), and a scaling activity after it ended (AWS: 6 weeks).
    batch_job_retention: float = 7 * 86400.0
    activity_retention: float = 6 * 7 * 86400.0


DEFAULTS = Settings()
