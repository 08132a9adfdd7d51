"""Skiff's own runtime errors; callers never see a Docker exception.

`transient` tells the engine whether to retry with backoff (the engine was unreachable, an
image may appear) or to record a terminal failure until the manifest changes.
"""


class RuntimeFailure(Exception):
    transient = True


class EngineUnavailable(RuntimeFailure):
    """The Docker engine did not answer."""


class NotFound(RuntimeFailure):
    """The container (or image) does not exist."""

    transient = False


class Conflict(RuntimeFailure):
    """A name is taken, or the container is in a state that forbids the call."""

    transient = False


class ImageNotFound(RuntimeFailure):
    """The image is neither on the engine nor pullable (ECS: CannotPullContainerError)."""


class InvalidRequest(RuntimeFailure):
    """Docker refused the request as malformed."""

    transient = False


class StartFailed(RuntimeFailure):
    """The container exists but its process could not start (ECS: CannotStartContainerError)."""

    transient = False


class PortTaken(StartFailed):
    """The container exists, but a host port it publishes is held by another container or
    process: on another port it would start."""


class PolicyRefused(RuntimeFailure):
    """The daemon's container policy does not allow what the container asks of the host;
    nothing was sent to Docker. Terminal until the spec or the daemon's --allow changes."""

    transient = False
