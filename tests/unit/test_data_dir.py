"""The data directory is the daemon's alone. Its store holds what the API's token guards
(task definitions' environment, Batch output, events): other users must not read it, nor plant
a store or a token of their own in the directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.api.auth import AccessError, load_or_create_token
from controller.core.settings import Settings
from controller.daemon import Daemon
from controller.data_dir import prepare
from controller.store import Store

ROOT = os.geteuid() == 0
OTHER_USER = 65534  # nobody


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_and_its_store_are_private(tmp_path: Path) -> None:
    data = tmp_path / "state" / "skiff"
    old = os.umask(0o022)  # the usual umask, which left the store 0644 for everyone to read
    try:
        daemon = Daemon(str(tmp_path), str(data), "127.0.0.1:0", Settings())
    finally:
        os.umask(old)
    try:
        assert mode(data) == 0o700
        files = [p for p in data.iterdir() if p.name.startswith("skiff.db")]
        assert {p.name for p in files} >= {"skiff.db", "skiff.db-wal"}  # open: WAL is there
        assert all(mode(p) == 0o600 for p in files), [(p.name, oct(mode(p))) for p in files]
    finally:
        daemon.store.close()


def test_a_store_an_older_skiff_left_readable_is_made_private(tmp_path: Path) -> None:
    Store.in_data_dir(str(tmp_path)).close()
    (tmp_path / "skiff.db").chmod(0o644)
    prepare(str(tmp_path))
    assert mode(tmp_path / "skiff.db") == 0o600


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o775])
def test_a_data_directory_others_may_write_to_is_refused(tmp_path: Path, bits: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(bits)
    with pytest.raises(PermissionError, match="other users may write to it"):
        prepare(str(data))


@pytest.mark.skipif(not ROOT, reason="giving a directory to another user needs root")
def test_a_data_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, OTHER_USER, OTHER_USER)
    with pytest.raises(PermissionError, match="belongs to user id 65534"):
        prepare(str(data))


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_a_token_file_another_user_planted_is_refused(tmp_path: Path) -> None:
    """Mode 0600 is not enough: its owner wrote it, so its owner knows the token."""
    token = tmp_path / "token"
    token.write_text("planted-by-someone-else-0123456789\n")
    token.chmod(0o600)
    os.chown(token, OTHER_USER, OTHER_USER)
    with pytest.raises(AccessError, match="belongs to user id 65534"):
        load_or_create_token(str(tmp_path))
