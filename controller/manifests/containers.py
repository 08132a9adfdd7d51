"""Container vocabulary shared by the kinds that run containers: ECS task definitions, EC2 launch
templates and Batch job definitions all spell an environment variable and a Docker health check
the same way, so these models live here, where each of those services may import them.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from controller.manifests.base import SpecModel


class KeyValuePair(SpecModel):
    name: str = Field(min_length=1)
    """The name of the key-value pair; for environment variables, the name of the variable."""
    value: str
    """The value of the key-value pair; for environment variables, the value of the variable."""


class HealthCheck(SpecModel):
    command: list[str] = Field(
        min_length=2, description='["CMD-SHELL", "curl -f localhost"] or ["CMD", "prog", "arg"].'
    )
    interval: int = Field(30, ge=5, le=300)
    """The time period in seconds between each health check execution."""
    timeout: int = Field(5, ge=2, le=60)
    """The time period in seconds to wait for a health check to succeed before it is considered a
    failure."""
    retries: int = Field(3, ge=1, le=10)
    """The number of times to retry a failed health check before the container is considered
    unhealthy."""
    start_period: int = Field(0, ge=0, le=300)
    """The optional grace period, in seconds, for containers to bootstrap before failed health
    checks count towards the maximum number of retries."""

    @field_validator("command")
    @classmethod
    def _command_form(cls, command: list[str]) -> list[str]:
        if command[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError('the first element must be "CMD" or "CMD-SHELL"')
        return command
