"""The one pass that runs every metrics period, declared in the core because several services
share it: CloudWatch registers it and, once a period, collects the metrics the services
publish and evaluates the alarms (whose actions run through the handlers services register);
then each service's step runs, such as Auto Scaling's scaling policies and scheduled actions
(core/metrics.py). Alarms, policies and schedules route to its key."""

from __future__ import annotations

from controller.manifests.kinds import ResourceKey

PERIOD: ResourceKey = ("Monitoring", "*")
