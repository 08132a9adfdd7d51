"""Docker's errors as Skiff's: every Docker SDK or transport exception a call raises becomes
a `RuntimeFailure` (NotFound, Conflict, InvalidRequest, EngineUnavailable, ...), and a failed
start says what it means (a port held elsewhere, a command that does not exist). Used by the
Docker backend only; it must not talk to dockerd itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import docker.errors
import requests

from controller.runtime.errors import (
    Conflict,
    EngineUnavailable,
    ImageNotFound,
    InvalidRequest,
    NotFound,
    PortTaken,
    RuntimeFailure,
    StartFailed,
)

T = TypeVar("T")
# dockerd resolves a container's user network only at start, and answers 404 when it is gone.
_NETWORK_NOT_FOUND = re.compile(r"^network \S+ not found")
# A published port held by another container of the engine, or by any socket (docker-proxy).
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use")


def call_docker(fn: Callable[[], T]) -> T:
    """fn(), one call to dockerd, with its exceptions turned into RuntimeFailures."""
    try:
        return fn()
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFound(_explain(exc)) from exc
    except docker.errors.NotFound as exc:
        if "image" in _explain(exc).lower():
            raise ImageNotFound(_explain(exc)) from exc
        raise NotFound(_explain(exc)) from exc
    except docker.errors.APIError as exc:
        code = exc.status_code or 0
        if code == 409:
            raise Conflict(_explain(exc)) from exc
        if 400 <= code < 500:
            raise InvalidRequest(_explain(exc)) from exc
        if "OCI runtime" in _explain(exc) or "starting container process" in _explain(exc):
            raise InvalidRequest(_explain(exc)) from exc
        raise EngineUnavailable(_explain(exc)) from exc
    except (
        requests.exceptions.RequestException,
        docker.errors.DockerException,
        OSError,
    ) as exc:
        raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _explain(exc: docker.errors.DockerException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)


def _network_missing(exc: RuntimeFailure) -> bool:
    return bool(_NETWORK_NOT_FOUND.match(str(exc)))


def start_failure(exc: RuntimeFailure) -> RuntimeFailure:
    """What a failed start means. dockerd answers a published port held elsewhere with a 500,
    though the engine is fine: the container stays created, and another port would do."""
    if _PORT_TAKEN.search(str(exc)):
        return PortTaken(f"CannotStartContainerError: {exc}")
    if isinstance(exc, (InvalidRequest, Conflict)) or (
        isinstance(exc, (NotFound, ImageNotFound)) and _network_missing(exc)
    ):  # e.g. a command that does not exist; a network gone while the container exists
        return StartFailed(f"CannotStartContainerError: {exc}")
    return exc
