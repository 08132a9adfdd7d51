"""The data plane's sockets under a long data directory: HAProxy accepts the configuration
(its `log` target allows 97 characters), through a short alias only this user can change."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.dataplane import Configuration, Forward, Listener, LoadBalancer, TargetGroup
from controller.dataplane.base import DataPlaneError
from controller.dataplane.haproxy import HAProxy
from controller.dataplane.socket_dir import MAX_SOCKET_PATH, socket_dir

NAME = "requests.sock"


def deep(tmp_path: Path) -> Path:
    """A data directory's haproxy folder, 120 characters or more down."""
    path = tmp_path / ("d" * 60) / ("e" * 60) / "haproxy"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory to make aliases in, as /tmp is to the daemon."""
    path = Path(tempfile.mkdtemp(prefix="sd", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def test_a_short_folder_names_its_sockets_itself(tmp_path: Path) -> None:
    assert socket_dir(tmp_path, NAME, root=tmp_path) == tmp_path


def test_a_long_folder_names_its_sockets_through_the_same_short_alias_at_every_start(
    tmp_path: Path, root: Path
) -> None:
    workdir = deep(tmp_path)
    alias = socket_dir(workdir, NAME, root=root)
    assert len(str(alias / NAME)) <= MAX_SOCKET_PATH < len(str(workdir / NAME))
    assert alias.parent == root / f"skiff-{os.getuid()}"
    assert oct(alias.parent.stat().st_mode & 0o777) == "0o700"
    assert socket_dir(workdir, NAME, root=root) == alias  # a restarted daemon: same text
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(alias / NAME))
    assert (workdir / NAME).is_socket()  # the socket is in the data directory itself


def test_a_stale_alias_is_pointed_again_and_anything_not_ours_is_refused(
    tmp_path: Path, root: Path
) -> None:
    workdir = deep(tmp_path)
    alias = socket_dir(workdir, NAME, root=root)
    alias.unlink()
    alias.symlink_to(tmp_path)  # left by an older data directory of the same hash: ours
    assert socket_dir(workdir, NAME, root=root) == alias and alias.resolve() == workdir
    alias.unlink()
    alias.mkdir()  # not a link: never followed, never removed
    with pytest.raises(DataPlaneError, match="socket alias"):
        socket_dir(workdir, NAME, root=root)
    alias.rmdir()

    private = alias.parent
    private.chmod(0o777)  # others could swap the alias: the admin socket controls the LBs
    with pytest.raises(DataPlaneError, match="not private"):
        socket_dir(workdir, NAME, root=root)
    shutil.rmtree(private)
    private.symlink_to(tmp_path)  # squatted with a link to somewhere else
    with pytest.raises(DataPlaneError, match="not a directory"):
        socket_dir(workdir, NAME, root=root)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs the haproxy binary")
def test_haproxy_accepts_the_configuration_of_a_long_data_directory(tmp_path: Path) -> None:
    workdir = deep(tmp_path)
    dp = HAProxy(str(workdir))
    front = LoadBalancer((Listener(8080, Forward((("web", 1),))),))
    config = Configuration("127.0.0.1", {"my_front": front}, {"web": TargetGroup()})
    assert dp.check(config) is None, dp.check(config)
    assert len(dp.admin_socket()) <= MAX_SOCKET_PATH
    assert Path(dp.admin_socket()).parent.resolve() == workdir
