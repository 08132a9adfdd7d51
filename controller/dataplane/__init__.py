"""The load balancers' data plane: the `DataPlane` protocol, HAProxy, and a fake for tests."""

from controller.dataplane.base import (
    BackendStats,
    CommandRefused,
    Configuration,
    DataPlane,
    DataPlaneError,
    Key,
    Role,
    ServerState,
    UnsafeValue,
)

__all__ = [
    "BackendStats",
    "CommandRefused",
    "Configuration",
    "DataPlane",
    "DataPlaneError",
    "Key",
    "Role",
    "ServerState",
    "UnsafeValue",
]
