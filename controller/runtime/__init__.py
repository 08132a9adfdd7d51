"""The one boundary to Docker: a small protocol, the Docker SDK backend and an in-memory fake.

Only this package imports `docker`; Docker's exceptions become Skiff's own errors here.
"""

from controller.runtime.base import ContainerRuntime, EventStream
from controller.runtime.cgroups import CgroupReader
from controller.runtime.errors import (
    Conflict,
    EngineUnavailable,
    ImageNotFound,
    InvalidRequest,
    NotFound,
    PolicyRefused,
    PortTaken,
    RuntimeFailure,
    StartFailed,
)
from controller.runtime.types import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    HealthcheckSpec,
    PortBinding,
)

__all__ = [
    "CgroupReader",
    "Conflict",
    "ContainerEvent",
    "ContainerInfo",
    "ContainerRuntime",
    "ContainerSpec",
    "ContainerStats",
    "ContainerSummary",
    "EngineInfo",
    "EngineUnavailable",
    "EventStream",
    "HealthcheckSpec",
    "ImageNotFound",
    "InvalidRequest",
    "NotFound",
    "PolicyRefused",
    "PortBinding",
    "PortTaken",
    "RuntimeFailure",
    "StartFailed",
]
