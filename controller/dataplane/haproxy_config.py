"""HAProxy's configuration file as the data plane writes and reads it: a typed `Configuration`
rendered to text (through the planner's `render`, built on haproxy_syntax), the ports a file's
listeners bind, and whether a port could be bound.

Pure apart from `port_free`, which binds a socket for an instant; it decides nothing.
"""

from __future__ import annotations

import socket

from controller.dataplane.base import Configuration
from controller.elb.planners.load_balancer import render


def configuration_text(config: Configuration, admin_socket: str) -> str:
    """The whole file. UnsafeValue: a value that cannot be written as the word it must be."""
    return render(
        admin_socket=admin_socket,
        bind_address=config.bind_address,
        load_balancers=config.load_balancers,
        groups=config.groups,
        targets=config.targets,
        skip=config.skip,
        threads=config.threads,
    )


def bound_ports(text: str) -> dict[int, str]:
    """Port -> the LoadBalancer whose frontend binds it, in a configuration file."""
    bound: dict[int, str] = {}
    lb = ""
    for line in text.splitlines():
        if line.startswith("frontend "):
            lb = line.split()[1].removeprefix("lb_").rsplit("_", 1)[0]
        elif line.strip().startswith("bind "):
            bound[int(line.rsplit(":", 1)[1])] = lb
    return bound


def port_free(address: str, port: int) -> bool:
    """Whether HAProxy could bind the port. Like HAProxy, with SO_REUSEADDR: a port whose last
    connection is in TIME_WAIT is free."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False
