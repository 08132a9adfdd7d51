"""The grammar of a network address Skiff writes anywhere (HAProxy's configuration and runtime
API, Docker, the sockets the daemon binds): an IP literal or an RFC 1123 host name.

Pure and dependency-free, so the manifests, the command line and the HAProxy escaping layer
all check an address the same way. It decides only whether text is an address; it must not
resolve names nor open sockets.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from controller.quoting import quote

MAX_HOST_NAME = 253  # RFC 1123 / RFC 1035: a name's length in text, without a final dot
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def ip_literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `text` spells exactly (no brackets, no zone), or None."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return None
    return ip


def host_name_problem(text: str) -> str | None:
    """Why `text` is not an RFC 1123 host name (labels of letters, digits and inner hyphens,
    1-63 characters each, 253 in all, the last not all digits), or None."""
    if not text:
        return "is empty"
    if len(text) > MAX_HOST_NAME:
        return f"is {len(text)} characters long; a host name has at most {MAX_HOST_NAME}"
    labels = text.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label):
            return f"label {quote(label)} is not 1-63 letters, digits or inner hyphens (RFC 1123)"
    if labels[-1].isdigit():
        return "is neither an IP address nor a host name (its last label is all digits)"
    return None


def address_problem(text: object) -> str | None:
    """Why `text` is neither an IP literal nor an RFC 1123 host name, or None."""
    if not isinstance(text, str):
        return f"must be a string, not {type(text).__name__}"
    if ip_literal(text) is not None:
        return None
    if "%" in text and ip_literal(text.split("%", 1)[0]) is not None:
        return "an IPv6 zone (%...) cannot be used here"
    if ":" in text:
        return f"{quote(text)} is not an IP address (write IPv6 without brackets or port)"
    problem = host_name_problem(text)
    return (
        None if problem is None else f"{quote(text)} is not an IP address or host name: {problem}"
    )


def check_address(text: str) -> str:
    """`text` if it is an IP literal or a host name; ValueError saying why not otherwise."""
    problem = address_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def with_port(host: str, port: int) -> str:
    """host:port as HAProxy and URLs write it: an IPv6 literal in brackets."""
    ip = ip_literal(host)
    return f"[{host}]:{port}" if isinstance(ip, ipaddress.IPv6Address) else f"{host}:{port}"


def http_url_problem(url: object) -> str | None:
    """Why `url` is not an http:// or https:// URL of a server Skiff can call (a host, maybe a
    port and a path; no credentials, query or fragment; no whitespace or control characters),
    or None. The scheme is matched as written: Python's URL parser would lowercase it and
    drop spaces, tabs and newlines."""
    if not isinstance(url, str):
        return f"must be a string, not {type(url).__name__}"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "may hold no spaces or control characters"
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        return f"{quote(url)} must start with http:// or https://"
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "may have no query (?) or fragment (#)"
    if "@" in parts.netloc:
        return "may hold no user or password"
    if not parts.hostname:
        return f"{quote(url)} has no host"
    problem = address_problem(parts.hostname)
    if problem is not None:
        return f"host: {problem}"
    return port_problem(parts)


def port_problem(parts: SplitResult) -> str | None:
    """Why a url's port is not one from 1 to 65535 (none at all is fine), or None."""
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "port must be a number from 1 to 65535"
    return None
