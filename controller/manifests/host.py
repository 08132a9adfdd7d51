"""The `Host` kind: one Docker engine in the pool, the Skiff analogue of a container instance.

Its url and address reach Docker, the daemon's sockets and HAProxy's configuration (targets
are `server ADDRESS:PORT`), so both are held to a grammar here: a known scheme in lower case,
an IP literal or RFC 1123 host name, no whitespace or control characters anywhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from controller.addresses import address_problem, port_problem
from controller.manifests.base import Path, SpecModel, absolute_path_problem
from controller.quoting import quote

LOCAL_HOST_NAME = "local"
SCHEMES = ("unix", "tcp", "ssh", "http", "https")
MAX_URL = 2048


class Capacity(SpecModel):
    cpu: int | None = Field(None, ge=128, description="CPU units, 1024 per core.")
    memory: int | None = Field(None, ge=64, description="Memory in MiB.")


class Tls(SpecModel):
    ca_cert: str | None = Field(None, description="Path of the CA certificate.")
    client_cert: str | None = Field(None, description="Path of the client certificate.")
    client_key: str | None = Field(None, description="Path of the client certificate's key.")
    verify: bool = True
    """Whether the engine's certificate is checked against the CA certificate."""

    @field_validator("ca_cert", "client_cert", "client_key")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        problem = None if value is None else absolute_path_problem(value)
        if problem is not None:
            raise ValueError(f"a certificate path {problem}")
        return value

    @model_validator(mode="after")
    def _pair(self) -> Tls:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("clientCert and clientKey go together")
        return self


class HostSpec(SpecModel):
    url: str = Field(
        max_length=MAX_URL,
        description="unix:///path, tcp://host:port (with tls) or ssh://user@host.",
    )
    zone: str = Field("local", min_length=1, description="Availability zone of the host.")
    address: str | None = Field(
        None,
        description="Where published ports are reached (an IP address or host name); "
        "127.0.0.1 for a unix socket.",
    )
    capacity: Capacity = Field(default_factory=Capacity)
    """The CPU and memory the host offers to tasks."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Custom attributes of the host, matched by memberOf placement constraints."""
    tls: Tls | None = None
    """The TLS settings of a tcp:// engine."""

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("[") and value.endswith("]") and ":" in value:
            value = value[1:-1]  # an IPv6 literal as URLs write it
        problem = address_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def reach_address(self) -> str:
        """The address at which this host's published ports are reached."""
        if self.address:
            return self.address
        parsed = urlsplit(self.url)
        return parsed.hostname if parsed.scheme != "unix" and parsed.hostname else "127.0.0.1"


def url_problem(url: str) -> str | None:
    """Why a Host url is not one Skiff and Docker read alike, or None. The scheme is matched
    as written (Python's URL parser lowercases it and strips spaces, tabs and newlines, so
    ` TCP://h` or `t\\tcp://h` would pass it and reach Docker as written)."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "url may hold no spaces or control characters"
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in SCHEMES and scheme not in SCHEMES:
        return f"write the url's scheme in lower case: {scheme.lower()}://"
    if not sep or scheme not in SCHEMES:
        return "url must start with unix://, tcp://, ssh://, http:// or https://"
    if scheme == "unix":
        problem = absolute_path_problem(rest) if rest not in ("", "/") else "is missing"
        if problem is not None or set(rest) & set("?#"):
            return (
                "a unix:// url names the socket's absolute path, e.g. unix:///var/run/docker.sock"
            )
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "url may have no query (?) or fragment (#)"
    if parts.username is not None and scheme != "ssh":
        return f"a {scheme}:// url takes no user (only ssh:// does)"
    if scheme == "ssh" and parts.path:
        return "an ssh:// url has no path"
    host = parts.hostname
    if not host:
        return "url has no host name"
    problem = address_problem(host)
    if problem is not None:
        return f"url's host: {problem}"
    problem = port_problem(parts)
    return None if problem is None else f"url's {problem} ({quote(url)})"


def check_host(spec: HostSpec) -> list[tuple[Path, str]]:
    if spec.tls and urlsplit(spec.url).scheme not in ("tcp", "https"):
        return [(("tls",), "tls applies only to tcp:// and https:// urls")]
    return []
