"""What Docker cannot hold: revisions, last valid manifests, task records, history."""

from controller.store.records import EventRecord, Revision, TaskRecord
from controller.store.sqlite import Store

__all__ = ["EventRecord", "Revision", "Store", "TaskRecord"]
