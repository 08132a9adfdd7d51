"""Fixtures of the reliability suite: the integration harness's daemon (`skiff`), an extra
dockerd of the suite's own (never the main engine, which other tests share), and a data
directory on a small tmpfs that a test can fill.

Every case is marked `integration` (it drives a real engine) and `reliability`.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import image_tar, skiff  # noqa: F401 (fixtures used here)
from tests.support.engines import Dockerd


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: the daemon under kills, restarts, lost events and a full disk"
    )


@pytest.fixture
def extra_engine(image_tar: Path) -> Iterator[Dockerd]:  # noqa: F811
    """A dockerd of this test alone, on its own bridge, holding the test image; destroyed
    (containers, bridge, files) afterwards. Stoppable and startable again.

    Its files live under a short directory of their own, not the test's tmp_path: containerd's
    sockets go below it, and a unix socket's path may not exceed 107 bytes (pytest's numbered
    directories grow past that after a few hundred sessions)."""
    suffix = uuid.uuid4().hex[:6]
    subnet = f"10.213.{random.randrange(1, 255)}.1/24"  # not in Docker's default pools
    engine = Dockerd(Path(tempfile.mkdtemp(prefix="skrel-")), f"skrel{suffix}", subnet)
    try:
        engine.start()
        engine.load(image_tar)
        yield engine
    finally:
        engine.destroy()


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A directory on a tmpfs of 8 MiB: room for the store, and quick to fill."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root is needed): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
