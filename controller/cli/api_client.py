"""What the CLI's commands share when they talk to the running daemon's API: the flags that say
where it is (`--api`, `--data-dir`, `--token-file`), where the token comes from, the one
authenticated request they all send, and how a refusal and an unreachable daemon are worded.

The address: `--api URL`, else `SKIFF_API`, else http://127.0.0.1:9464 (`skiff run`'s default
`--listen`). A refusal raises `Refused` (exit 1); no daemon, or something that is not the Skiff
API answering there, raises `Unreachable` (exit 3).

The token: `--token-file` if given, else `SKIFF_TOKEN`, else the file `token` in the daemon's
data directory (`--data-dir`, default as `skiff run`'s). Nothing here prints.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from typing import Any

from controller.api.auth import TOKEN_ENV, TOKEN_FILE
from controller.terminal import printable


def default_data_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.environ.get("SKIFF_DATA_DIR") or os.path.join(base, "skiff")


DEFAULT_LISTEN = "127.0.0.1:9464"  # `skiff run --listen`'s default
DEFAULT_API = f"http://{DEFAULT_LISTEN}"
API_ENV = "SKIFF_API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that calls the daemon."""
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"the daemon's API, http://HOST:PORT or HOST:PORT "
        f"(default: ${API_ENV}, else {DEFAULT_API})",
    )
    parser.add_argument(
        "--data-dir",
        help="the daemon's data directory, where it keeps its API token "
        "(default: $SKIFF_DATA_DIR or ~/.local/state/skiff, as for skiff run)",
    )
    parser.add_argument(
        "--token-file",
        help=f"a file holding the API token (default: ${TOKEN_ENV}, else DATA_DIR/token)",
    )


class ApiError(Exception):
    """A command to the daemon did not get its answer: str() says why, printable;
    `exit_code` is what the command exits with."""

    exit_code = 1


class Refused(ApiError):
    """The daemon answered and refused the request (or the request was invalid): exit 1."""


class Unreachable(ApiError):
    """No Skiff daemon answered at the address: nothing listens there, it did not answer in
    time, or what answered is not the Skiff API: exit 3."""

    exit_code = 3


def api_address(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """The daemon's base URL (http://HOST:PORT) and where it came from: --api, else $SKIFF_API,
    else the default. Refused when it is not an http address."""
    if flag:
        text, source = flag, "--api"
    elif environ.get(API_ENV):
        text, source = environ[API_ENV], f"${API_ENV}"
    else:
        return DEFAULT_API, "the default"
    text = text.strip()
    url = text if "://" in text else f"http://{text}"
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise Refused(printable(f"{source} {text!r} is not an address: {exc}")) from None
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise Refused(
            printable(f"{source} {text!r} is not an address: write http://HOST:PORT or HOST:PORT")
        )
    return f"http://{parts.netloc}", source


@dataclass(frozen=True)
class Client:
    """The daemon at `base` (http://HOST:PORT, found in `source`), called with `token` (None:
    none was found)."""

    base: str
    token: str | None
    found: str  # where the token came from, or where it was looked for
    source: str = "the default"  # where the address came from

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Client:
        base, source = api_address(args.api, environ)
        token, found = find_token(args.token_file, args.data_dir, environ)
        return cls(base, token, found, source)

    def open(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> HTTPResponse:
        """The daemon's answer to a request with the token: Refused when the daemon said no,
        Unreachable when no Skiff API answered."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            f"{self.base}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
            method=method,
        )
        try:
            resp: HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            message = refusal(exc)
            if message is None:
                raise self.not_skiff(f"HTTP {exc.code} {_content_type(exc.headers)}") from None
            if exc.code == 401:
                message = f"{message} (this command {self.found})"
            raise Refused(printable(message)) from None
        except (HTTPException, ValueError) as exc:  # a status line that is not HTTP
            raise self.not_skiff(f"not HTTP ({type(exc).__name__}: {exc})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise self.unreachable(exc) from None
        return resp

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The daemon's JSON answer (a JSON object: every answer of the Skiff API is one)."""
        with self.open(method, path, body) as resp:
            kind = _content_type(resp.headers)
            try:
                doc = json.load(resp)
            except (ValueError, UnicodeDecodeError):
                raise self.not_skiff(f"HTTP {resp.status} {kind}, not JSON") from None
            except OSError as exc:
                raise self.unreachable(exc) from None
        if not isinstance(doc, dict):
            raise self.not_skiff(f"JSON that is not an object ({type(doc).__name__})")
        return doc

    def expect(self, doc: dict[str, Any], *keys: str) -> dict[str, Any]:
        """`doc` when it holds `keys` (the shape of the answer asked for), else Unreachable."""
        missing = [k for k in keys if k not in doc]
        if missing:
            raise self.not_skiff(f"JSON without {', '.join(missing)}")
        return doc

    def status(self) -> dict[str, Any]:
        """GET /v1/status, checked to be the daemon's status document."""
        doc = self.expect(self.call("GET", "/v1/status"), "resources")
        if not isinstance(doc["resources"], list) or not all(
            isinstance(r, dict) and "kind" in r and "name" in r for r in doc["resources"]
        ):
            raise self.not_skiff("JSON whose resources are not a list of resources")
        return doc

    def where(self) -> str:
        return f"{self.base} ({self.source})"

    def unreachable(self, exc: BaseException) -> Unreachable:
        return Unreachable(printable(unreachable(self.where(), exc)))

    def not_skiff(self, what: str) -> Unreachable:
        return Unreachable(
            printable(
                f"{self.where()} answered, but not as the Skiff API: {what}; "
                "is --api (or $SKIFF_API) the address `skiff run --listen` serves?"
            )
        )


def find_token(
    token_file: str | None, data_dir: str | None, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The token and where it came from: --token-file, else SKIFF_TOKEN, else DATA_DIR/token."""
    if token_file:
        try:
            return _sendable(_read(token_file), f"--token-file {token_file}")
        except OSError as exc:
            raise Refused(printable(f"--token-file {token_file}: cannot read it: {exc}")) from None
    if environ.get(TOKEN_ENV):
        return _sendable(environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}")
    path = os.path.join(data_dir or default_data_dir(), TOKEN_FILE)
    try:
        token = _read(path)
    except FileNotFoundError:
        return None, f"found no token: ${TOKEN_ENV} is not set and {path} does not exist"
    except OSError as exc:
        return None, f"found no token: ${TOKEN_ENV} is not set and {path}: {exc.strerror}"
    return _sendable(token, path) if token else (None, f"found {path} empty")


def _sendable(token: str, source: str) -> tuple[str, str]:
    """A token that fits in a header (else Refused), and where it came from."""
    if not token or not all("!" <= c <= "~" for c in token):
        raise Refused(f"the token in {source} is empty or has spaces or control characters")
    return token, f"sent the token in {source}"


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().strip()


def refusal(exc: urllib.error.HTTPError) -> str | None:
    """The daemon's {"message": ...} for a refused request; None when the answer is not that
    (it did not come from the Skiff API)."""
    try:
        doc = json.load(exc)
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
        return None
    return str(doc["message"])


def _content_type(headers: Any) -> str:
    return str(headers.get("Content-Type") or "without a Content-Type") if headers else ""


def unreachable(where: str, exc: BaseException) -> str:
    """One line: what was tried, where the address came from, why it failed, and the hint."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, TimeoutError):
        why = "no answer in time"
    else:
        why = str(reason) or type(reason).__name__
    return f"cannot reach the daemon at {where}: {why}; is `skiff run` running?"
