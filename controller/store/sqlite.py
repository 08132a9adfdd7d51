"""The embedded SQLite store: one connection and the repositories of every domain over it.

It keeps task-definition and job-definition revisions (immutable, with history), the last valid
version of every manifest resource, the decisions made about tasks and deployments, instances
and scaling activities, Batch jobs, the history of actions and hourly metric averages, and says
how big it is. Each domain's queries live in its own repository module; `Store` is the one
object callers hold.
"""

from __future__ import annotations

from controller.store.connection import Connection, StoreFailure
from controller.store.definitions import JOB_DEFINITIONS, TASK_DEFINITIONS, Definitions
from controller.store.events import Events
from controller.store.instances import Instances
from controller.store.jobs import Jobs
from controller.store.metric_history import MetricHistory
from controller.store.resources import Resources
from controller.store.size import Size
from controller.store.tasks import Tasks

__all__ = ["JOB_DEFINITIONS", "TASK_DEFINITIONS", "Store", "StoreFailure"]


class Store(
    Definitions, Resources, Tasks, Instances, Jobs, Events, MetricHistory, Size, Connection
):
    """Every repository over one connection: `Store(path)`, `Store.in_data_dir(...)`."""
