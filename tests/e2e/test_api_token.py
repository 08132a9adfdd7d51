"""The API's token end to end: a daemon started as a user would generates its token in its data
directory, the `skiff` commands find it there with no flag but the address, a request without
it (or from a DNS-rebinding page) is refused, and a restart keeps the token."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.support.daemon import Skiff

pytestmark = pytest.mark.integration


def skiff_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def raw(skiff: Skiff, path: str, **headers: str) -> tuple[int, str]:
    """A request with no help from the harness: status and body."""
    body = b"{}" if path == "/v1/batch/jobs" else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(f"http://127.0.0.1:{skiff.port}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_cli_finds_the_generated_token_and_a_caller_without_it_is_refused(
    skiff: Skiff,
) -> None:
    user = {k: v for k, v in os.environ.items() if k != "SKIFF_TOKEN"}
    user["SKIFF_DATA_DIR"] = str(skiff.data)  # the daemon's and the commands' default alike
    skiff.env = dict(user)
    skiff.start(data_dir_flag=False)
    token_file = skiff.data / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()

    listen = ["--api", f"127.0.0.1:{skiff.port}"]
    for command in (["status"], ["batch", "list"], ["events", "--all", "--no-follow"]):
        done = skiff_cli(user, *command, *listen)
        assert done.returncode == 0, (command, done.stderr)

    code, body = raw(skiff, "/v1/status")
    assert code == 401
    assert "Authorization: Bearer TOKEN" in json.loads(body)["message"]
    code, _ = raw(skiff, "/v1/status", Authorization="Bearer not-it")
    assert code == 401
    rebinding = {"Authorization": f"Bearer {token}", "Host": "attacker.example"}
    assert raw(skiff, "/v1/batch/jobs", **rebinding)[0] == 421
    assert raw(skiff, "/healthz") == (200, "ok\n")
    assert raw(skiff, "/metrics")[0] == 200

    elsewhere = dict(user, SKIFF_DATA_DIR=str(skiff.data.parent / "another"))
    refused = skiff_cli(elsewhere, "status", *listen)
    assert refused.returncode == 1
    assert "this API needs a token" in refused.stderr
    assert "does not exist" in refused.stderr

    skiff.stop()
    skiff.start(data_dir_flag=False)
    assert token_file.read_text().strip() == token  # kept across the restart
    assert skiff_cli(user, "status", *listen).returncode == 0
