"""One pool of kept-alive connections per engine for the Docker SDK's socket transports.

docker-py's Unix socket and SSH adapters key their urllib3 pools by the whole request URL, so
every container's own URLs (`/containers/<id>/start`, `.../json`, `.../kill`) got a pool, and a
new socket, of their own; after 25 pools the oldest were closed. No call to a container ever
reused a connection: each one connected anew, and made and dropped a pool, a socket and its
buffers, however large the pool the daemon asked for. Requests' own adapter, used for TCP
engines, keys its pools by host. Here every request of an engine's adapter goes to one pool, of
the size the daemon asked for (`engine_pool_size`).
"""

from __future__ import annotations

import types
from typing import Any

import docker
import requests.adapters
from docker.transport import UnixHTTPAdapter

try:  # the SSH transport needs paramiko, an optional extra of the SDK
    from docker.transport import SSHHTTPAdapter

    _KEYED_BY_URL: tuple[type[requests.adapters.HTTPAdapter], ...] = (
        UnixHTTPAdapter,
        SSHHTTPAdapter,
    )
except ImportError:  # pragma: no cover
    _KEYED_BY_URL = (UnixHTTPAdapter,)

ENGINE = "engine"  # the one key: the adapter's socket or SSH host decides where it connects


def one_pool_per_engine(api: docker.APIClient) -> None:
    """Routes every request of `api`'s socket adapter to a single pool (TCP needs nothing)."""
    adapter = api.get_adapter(api.base_url)
    if not isinstance(adapter, _KEYED_BY_URL):
        return

    def pooled(self: Any, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        return self.get_connection(ENGINE, proxies)

    adapter.get_connection_with_tls_context = types.MethodType(pooled, adapter)  # type: ignore[method-assign]
