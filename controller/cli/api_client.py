"""What the CLI's commands share when they talk to the running daemon's API: the flags that say
where it is (`--listen`, `--data-dir`, `--token-file`), where the token comes from, the one
authenticated request they all send, and how a refusal and an unreachable daemon are worded.

The token: `--token-file` if given, else `SKIFF_TOKEN`, else the file `token` in the daemon's
data directory (`--data-dir`, default as `skiff run`'s). Nothing here prints.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
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


def add_arguments(parser: argparse.ArgumentParser, default_listen: str) -> None:
    """The flags of every command that calls the daemon."""
    parser.add_argument("--listen", default=default_listen, help="the daemon's API address")
    parser.add_argument(
        "--data-dir",
        help="the daemon's data directory, where it keeps its API token "
        "(default: $SKIFF_DATA_DIR or ~/.local/state/skiff, as for skiff run)",
    )
    parser.add_argument(
        "--token-file",
        help=f"a file holding the API token (default: ${TOKEN_ENV}, else DATA_DIR/token)",
    )


class Refused(Exception):
    """The daemon refused the request, or could not be reached: str() says which, printable."""


@dataclass(frozen=True)
class Client:
    """The daemon at `listen`, called with `token` (None: none was found)."""

    listen: str
    token: str | None
    found: str  # where the token came from, or where it was looked for

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Client:
        token, found = find_token(args.token_file, args.data_dir, environ)
        return cls(args.listen, token, found)

    def open(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> HTTPResponse:
        """The daemon's answer to a request with the token; Refused when it is not a 2xx."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(
            f"http://{self.listen}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
            method=method,
        )
        try:
            resp: HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            message = refusal(exc)
            if exc.code == 401:
                message = f"{message} (this command {self.found})"
            raise Refused(printable(message)) from None
        except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
            raise Refused(printable(unreachable(self.listen, exc))) from None
        return resp

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The daemon's JSON answer."""
        with self.open(method, path, body) as resp:
            try:
                return json.load(resp)
            except (ValueError, OSError) as exc:
                raise Refused(printable(unreachable(self.listen, exc))) from None


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


def refusal(exc: urllib.error.HTTPError) -> str:
    """The daemon's {"message": ...} for a refused request, or the HTTP error itself."""
    try:
        return str(json.load(exc)["message"])
    except (ValueError, KeyError, TypeError):
        return str(exc)


def unreachable(listen: str, exc: Exception) -> str:
    return f"cannot reach the daemon at {listen}: {exc}"
