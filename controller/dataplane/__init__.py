"""The load balancers' data plane: the `DataPlane` protocol, HAProxy, and a fake for tests."""

from controller.dataplane.base import CommandRefused, DataPlane, DataPlaneError, ServerState

__all__ = ["CommandRefused", "DataPlane", "DataPlaneError", "ServerState"]
