"""The one pass that runs every metrics period, declared in the core because two services
share it: CloudWatch's collection and alarm evaluation, then the scaling policies and
scheduled actions the alarms and clocks drive. Auto Scaling registers the pass; alarms,
policies and schedules route to its key."""

from __future__ import annotations

from controller.manifests.kinds import ResourceKey

PERIOD: ResourceKey = ("Monitoring", "*")
