"""Who may call the daemon's `/v1` API: the bearer token and the Host check.

The token comes from the operator (`--token-file`, else `SKIFF_TOKEN`) or, when they set none,
from the file `token` in the data directory, generated at first start with mode 0600 and reused
afterwards. A non-loopback listen address needs a token the operator chose. A request must name
this daemon in its Host header (a DNS rebinding page names its own domain) and carry the token.

This module decides; it sends nothing and does no HTTP. It must not log the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from controller.quoting import quote

TOKEN_ENV = "SKIFF_TOKEN"
TOKEN_FILE = "token"  # in the data directory
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_PORT = re.compile(r"(:[0-9]{0,5})?")
_SHOWABLE_HOST = re.compile(r"[\x21-\x7e]+")  # one word: no folded line, no control

HOW_TO_GET_A_TOKEN = (
    "send 'Authorization: Bearer TOKEN'; the token is in the file 'token' in the daemon's "
    "data directory (skiff run --data-dir), unless the operator set SKIFF_TOKEN or "
    "--token-file; skiff commands read it from --token-file, SKIFF_TOKEN or that file"
)


class AccessError(Exception):
    """The API cannot be given a token, or may not listen where asked; the daemon must not start."""


@dataclass(frozen=True)
class ApiOptions:
    """What the operator configured for the API."""

    token_file: str | None = None  # --token-file
    env_token: str | None = None  # SKIFF_TOKEN's value
    hosts: tuple[str, ...] = ()  # --api-host: more names the Host header may carry


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Access:
    """The token and the Host names one daemon's API accepts."""

    token: str
    hosts: frozenset[str]
    source: str = ""  # where the token came from, for the log (never the token itself)

    def refusal(self, host_headers: list[str], authorization: str | None) -> Refusal | None:
        """Why a /v1 request is refused, or None: the Host is checked first, then the token."""
        if len(host_headers) != 1 or host_name(host_headers[0]) not in self.hosts:
            shown = ", ".join(_shown_host(h) for h in host_headers) or "none"
            return Refusal(  # the names it does accept are not told: they may be internal
                421,
                f"Host {shown} does not name this daemon; call it by its listen address "
                "(or localhost), or have the operator add the name with skiff run --api-host NAME",
            )
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Refusal(
                401,
                f"this API needs a token: {HOW_TO_GET_A_TOKEN}",
                (("WWW-Authenticate", 'Bearer realm="skiff"'),),
            )
        if not _same(given.strip(), self.token):
            return Refusal(
                401,
                f"the token is not this daemon's: {HOW_TO_GET_A_TOKEN}",
                (("WWW-Authenticate", 'Bearer realm="skiff", error="invalid_token"'),),
            )
        return None


def _shown_host(value: str) -> str:
    """A refused Host as the message (and the log) shows it: quoted when it is one plain word;
    a folded header could carry the next line, the Authorization header included."""
    return quote(value) if _SHOWABLE_HOST.fullmatch(value) else "(a malformed value)"


def _same(given: str, token: str) -> bool:
    """Constant time, whatever the lengths: digests of equal size are compared."""
    a = hashlib.sha256(given.encode()).digest()
    b = hashlib.sha256(token.encode()).digest()
    return hmac.compare_digest(a, b)


def host_name(value: str) -> str:
    """The name in a Host header or a listen address: lowercase, without its port, the brackets
    of an IPv6 address or a trailing dot. "" (no name) when what follows the name is not a port
    (`[::1]evil`, `localhost:x`)."""
    value = value.strip().lower()
    if value.startswith("["):
        value, bracket, rest = value[1:].partition("]")
        if not bracket or not _PORT.fullmatch(rest):
            return ""
    elif value.count(":") == 1:
        value, _, port = value.partition(":")
        if not _PORT.fullmatch(f":{port}"):
            return ""
    return value.rstrip(".")


def listen_host(listen: str) -> str:
    """The address part of `--listen` (as the server binds it: empty means 127.0.0.1)."""
    return host_name(listen.rpartition(":")[0] or "127.0.0.1")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    ip = _ip(host)
    return host == "localhost" if ip is None else ip.is_loopback


def allowed_hosts(listen: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Names a Host header may carry (any port: a `docker -p` mapping changes it, and a rebinding
    page already uses the real one). Loopback and wildcard listens accept the loopback names;
    an address of its own accepts that address; the operator's names are always accepted."""
    host = listen_host(listen)
    ip = _ip(host)
    names = {host_name(n) for n in extra}
    if ip is not None and ip.is_unspecified:
        return frozenset(names | LOOPBACK_NAMES)
    names.add(host)
    return frozenset(names | LOOPBACK_NAMES if is_loopback(host) else names)


def access_for(listen: str, options: ApiOptions, data_dir: str) -> Access:
    """The API's access rules; AccessError when the daemon must not start this way."""
    if any(not host_name(n) for n in options.hosts):
        raise AccessError("--api-host: give a host name or address, not an empty one")
    hosts = allowed_hosts(listen, options.hosts)
    token = configured_token(options)
    if token is not None:
        source = f"--token-file {options.token_file}" if options.token_file else TOKEN_ENV
        return Access(token, hosts, source)
    if not is_loopback(listen_host(listen)):
        raise AccessError(
            f"--listen {listen} is not a loopback address, so callers on other hosts need "
            f"a token you chose: set {TOKEN_ENV} in the daemon's environment or pass "
            "--token-file FILE (or listen on 127.0.0.1)"
        )
    return Access(load_or_create_token(data_dir), hosts, os.path.join(data_dir, TOKEN_FILE))


def configured_token(options: ApiOptions) -> str | None:
    """The operator's token: --token-file first, then SKIFF_TOKEN; None if they set neither."""
    if options.token_file:
        try:
            with open(options.token_file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessError(f"--token-file {options.token_file}: cannot read it: {exc}") from None
        return checked_token(text, f"--token-file {options.token_file}")
    if options.env_token:
        return checked_token(options.env_token, TOKEN_ENV)
    return None


def checked_token(text: str, source: str) -> str:
    token = text.strip()
    if len(token) < MIN_TOKEN_LENGTH or not all("!" <= c <= "~" for c in token):
        raise AccessError(
            f"{source}: a token is at least {MIN_TOKEN_LENGTH} printable ASCII characters "
            "without spaces (e.g. the output of `openssl rand -hex 32`)"
        )
    return token


def load_or_create_token(data_dir: str) -> str:
    """The token in DATA_DIR/token, created at the first start: mode 0600 from the moment it
    exists (O_EXCL, never a wider mode first), kept across restarts. Delete it to rotate."""
    path = os.path.join(data_dir, TOKEN_FILE)
    try:
        return _read_private(path)
    except FileNotFoundError:
        pass
    os.makedirs(data_dir, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process made it just now: share its token
        return _read_private(path)
    except OSError as exc:
        raise AccessError(f"cannot create the API token file {path}: {exc}") from None
    try:
        os.write(fd, f"{token}\n".encode())
        os.fsync(fd)
    except OSError as exc:
        os.unlink(path)  # a half-written token would be kept; the next start makes a new one
        raise AccessError(f"cannot write the API token file {path}: {exc}") from None
    finally:
        os.close(fd)
    return token


def _read_private(path: str) -> str:
    """The daemon's own token file: a regular file of the daemon's user that no other user can
    read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise AccessError(f"cannot read the API token file {path}: {exc}") from None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise AccessError(f"the API token file {path} is not a regular file")
        owner = os.fstat(f.fileno()).st_uid
        if owner != os.geteuid():
            raise AccessError(
                f"the API token file {path} belongs to user id {owner}, not to the daemon's "
                f"user ({os.geteuid()}): whoever made it knows the token; delete it and restart"
            )
        if mode & 0o077:
            raise AccessError(
                f"the API token file {path} has mode {stat.S_IMODE(mode):04o}: other users may "
                "have read it; delete it and restart for a new token (or chmod 600 it)"
            )
        return checked_token(f.read(), f"the API token file {path}")


def environment_options(
    token_file: str | None, hosts: list[str] | None, environ: Mapping[str, str]
) -> ApiOptions:
    """ApiOptions from `skiff run`'s flags and the daemon's environment."""
    return ApiOptions(token_file, environ.get(TOKEN_ENV) or None, tuple(hosts or ()))
