"""The load balancers' data plane: the `DataPlane` protocol, HAProxy, and a fake for tests."""

from controller.dataplane.base import DataPlane, DataPlaneError, ServerState

__all__ = ["DataPlane", "DataPlaneError", "ServerState"]
