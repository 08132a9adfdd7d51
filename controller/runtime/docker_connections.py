"""One pool of kept-alive connections per engine for the Docker SDK's Unix socket transport.

docker-py's Unix socket adapter keys its urllib3 pools by the whole request URL, so every
container's own URLs (`/containers/<id>/start`, `.../json`, `.../kill`) got a pool, and a new
socket, of their own; after 25 pools the oldest were closed. No call to a container ever reused
a connection: each one connected anew, and made and dropped a pool, a socket and its buffers,
however large the pool the daemon asked for. Here every request of the adapter goes to one pool,
of the size the daemon asked for (`engine_pool_size`). TCP engines need nothing: requests' own
adapter keys its pools by host. SSH engines (the `ssh` command, `use_ssh_client`) get a new pool
per call by the SDK's design, whatever the key.
"""

from __future__ import annotations

import types
from typing import Any

import docker
from docker.transport import UnixHTTPAdapter

ENGINE = "engine"  # the one key: the adapter's socket decides where it connects


def one_pool_per_engine(api: docker.APIClient) -> None:
    """Routes every request of `api`'s Unix socket adapter to a single pool."""
    adapter = api.get_adapter(api.base_url)
    if not isinstance(adapter, UnixHTTPAdapter):
        return

    def pooled(self: Any, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        return self.get_connection(ENGINE, proxies)

    adapter.get_connection_with_tls_context = types.MethodType(pooled, adapter)  # type: ignore[method-assign]
