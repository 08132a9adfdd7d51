"""The `Host` kind: one Docker engine in the pool, the Skiff analogue of a container instance."""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import Field, field_validator

from controller.manifests.base import Path, SpecModel

LOCAL_HOST_NAME = "local"


class Capacity(SpecModel):
    cpu: int | None = Field(None, ge=128, description="CPU units, 1024 per core.")
    memory: int | None = Field(None, ge=64, description="Memory in MiB.")


class Tls(SpecModel):
    ca_cert: str | None = Field(None, description="Path of the CA certificate.")
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


class HostSpec(SpecModel):
    url: str = Field(description="unix:///path, tcp://host:port (with tls) or ssh://user@host.")
    zone: str = Field("local", min_length=1, description="Availability zone of the host.")
    address: str | None = Field(
        None, description="Where published ports are reached; 127.0.0.1 for a unix socket."
    )
    capacity: Capacity = Field(default_factory=Capacity)
    attributes: dict[str, str] = Field(default_factory=dict)
    tls: Tls | None = None

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, url: str) -> str:
        scheme = urlparse(url).scheme
        if scheme not in ("unix", "tcp", "ssh", "http", "https"):
            raise ValueError("url must start with unix://, tcp://, ssh://, http:// or https://")
        if scheme != "unix" and not urlparse(url).hostname:
            raise ValueError("url has no host name")
        return url

    def reach_address(self) -> str:
        """The address at which this host's published ports are reached."""
        if self.address:
            return self.address
        parsed = urlparse(self.url)
        return parsed.hostname if parsed.scheme != "unix" and parsed.hostname else "127.0.0.1"


def check_host(spec: HostSpec) -> list[tuple[Path, str]]:
    if spec.tls and urlparse(spec.url).scheme not in ("tcp", "https"):
        return [(("tls",), "tls applies only to tcp:// and https:// urls")]
    return []
