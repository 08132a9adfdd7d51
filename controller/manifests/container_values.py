"""The values a container setting may hold, checked to be what they claim to be: an absolute
path without `.` or `..`, an IP literal, a host name, a user (ECS's forms), text without
control characters; and the Docker volume name Skiff gives a task's or job's volume. So no
value can smuggle a second setting into Docker's option strings. Whether a setting is allowed
on this daemon is not decided here (controller.manifests.policy).
"""

from __future__ import annotations

import hashlib
import re

from controller import addresses
from controller.manifests.base import quote

MAX_ID = 2**32 - 2  # the largest uid/gid Linux gives out
MAX_PATH = 4096

_PATH = re.compile(r"/[A-Za-z0-9._@+=~/-]*")
_NAME_OR_ID = r"(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})"
_USER = re.compile(rf"({_NAME_OR_ID})(?::({_NAME_OR_ID}))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def absolute_path(value: str, *, root_ok: bool = True) -> str:
    """An absolute path of plain characters, without `.` or `..` components: it names one
    place, the same one for Docker and for the policy's prefix checks."""
    if not value.startswith("/"):
        raise ValueError(f"must be an absolute path (starting with /), not {quote(value)}")
    if len(value) > MAX_PATH:
        raise ValueError(f"is {len(value)} characters long; at most {MAX_PATH}")
    if not _PATH.fullmatch(value):
        raise ValueError(
            f"{quote(value)} has a character paths here may not use: letters, digits, "
            "'.', '_', '-', '@', '+', '=', '~' and '/' only"
        )
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{quote(value)} must not contain '.' or '..' components")
    if not root_ok and not path_parts(value):
        raise ValueError("cannot be / itself")
    return value


def path_parts(path: str) -> tuple[str, ...]:
    """A checked absolute path as its components (repeated slashes mean nothing)."""
    return tuple(p for p in path.split("/") if p)


def under(path: str, prefix: str) -> bool:
    """Whether checked absolute `path` is `prefix` or inside it."""
    mine, theirs = path_parts(path), path_parts(prefix)
    return mine[: len(theirs)] == theirs


def ip_literal(value: str) -> str:
    """An IPv4 or IPv6 address, written as an address (no zone, no name, no port)."""
    if addresses.ip_literal(value) is None:
        raise ValueError(f"{quote(value)} is not an IPv4 or IPv6 address")
    return value


def host_name(value: str) -> str:
    """A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens."""
    problem = addresses.host_name_problem(value)
    if problem is not None:
        raise ValueError(f"{quote(value)} is not a host name ({problem})")
    return value


def user_spec(value: str) -> str:
    """ECS's user forms: user, user:group, uid, uid:gid, user:gid, uid:group."""
    match = _USER.fullmatch(value)
    if not match:
        raise ValueError(
            f"{quote(value)} is not a user: use user, user:group, uid, uid:gid, user:gid or "
            "uid:group "
            "(names of letters, digits, '_', '.', '-', starting with a letter or '_')"
        )
    for part in match.groups():
        if part is not None and part.isdigit() and int(part) > MAX_ID:
            raise ValueError(f"id {part} is larger than {MAX_ID}")
    return value


def plain_text(value: str, what: str, limit: int = 4096) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            f"{what} {quote(value)} contains a control character (a newline, a tab...)"
        )
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long; at most {limit}")
    return value


def scoped_volume_name(prefix: str, name: str) -> str:
    """A Docker volume name of Skiff's for volume `name` of one task or job attempt; kept
    short enough to be a directory name, unique through a hash when cut."""
    full = f"{prefix}-{name}"
    if len(full) <= 200:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[:180]}-{digest}"
