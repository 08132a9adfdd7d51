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
from controller.store.sqlite import JOB_DEFINITIONS, TASK_DEFINITIONS, Store, StoreFailure

__all__ = [
    "JOB_DEFINITIONS",
    "TASK_DEFINITIONS",
    "Activity",
    "Deployment",
    "EventRecord",
    "InstanceRecord",
    "Revision",
    "Store",
    "StoreFailure",
    "TaskRecord",
    "TemplateVersion",
]
