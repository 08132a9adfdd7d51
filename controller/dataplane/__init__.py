"""The load balancers' data plane: the `DataPlane` protocol, the values it speaks (targets,
target groups, load balancers), HAProxy, and a fake for tests. It imports no AWS service:
the ELB package translates its manifests into these values."""

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
from controller.dataplane.haproxy_names import target_problem
from controller.dataplane.values import (
    PRIMARY,
    TWIN,
    Action,
    Condition,
    FixedResponse,
    Forward,
    HealthCheck,
    Listener,
    LoadBalancer,
    Redirect,
    Rule,
    Server,
    Target,
    TargetGroup,
)

__all__ = [
    "PRIMARY",
    "TWIN",
    "Action",
    "BackendStats",
    "CommandRefused",
    "Condition",
    "Configuration",
    "DataPlane",
    "DataPlaneError",
    "FixedResponse",
    "Forward",
    "HealthCheck",
    "Key",
    "Listener",
    "LoadBalancer",
    "Redirect",
    "Role",
    "Rule",
    "Server",
    "ServerState",
    "Target",
    "TargetGroup",
    "UnsafeValue",
    "target_problem",
]
