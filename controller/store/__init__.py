"""What Docker cannot hold: revisions, last valid manifests, task records, history."""

from controller.store.records import (
    Activity,
    Deployment,
    EventRecord,
    InstanceRecord,
    Revision,
    TaskRecord,
    TemplateVersion,
)
from controller.store.sqlite import Store

__all__ = [
    "Activity",
    "Deployment",
    "EventRecord",
    "InstanceRecord",
    "Revision",
    "Store",
    "TaskRecord",
    "TemplateVersion",
]
