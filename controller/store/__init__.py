"""What Docker cannot hold: revisions, last valid manifests, task records, history."""

from controller.store.records import Deployment, EventRecord, Revision, TaskRecord
from controller.store.sqlite import Store

__all__ = ["Deployment", "EventRecord", "Revision", "Store", "TaskRecord"]
