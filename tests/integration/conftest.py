"""Fixtures that run the real daemon (`python -m controller run`, through tests.support.daemon)
against a real dockerd, and the extra engines of tests.support.engines.

Each test gets its own manifest and data directories, a free API port and a unique name prefix;
whatever containers carry that prefix are removed afterwards. Tests wait on conditions, never
on fixed sleeps.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.daemon import Skiff, free_port
from tests.support.documents import IMAGE

pytestmark = pytest.mark.integration


@pytest.fixture
def skiff(tmp_path: Path) -> Iterator[Skiff]:
    s = Skiff(tmp_path, prefix=f"t{uuid.uuid4().hex[:6]}-")
    try:
        yield s
    finally:
        s.stop()
        s.stop_haproxy()
        print(s.tail(60), file=sys.stderr)  # pytest shows it when the test fails
        s.cleanup()


@pytest.fixture(scope="session")
def image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test image, saved once, to load into extra engines."""
    tar = tmp_path_factory.mktemp("image") / "image.tar"
    with open(tar, "wb") as f:
        for chunk in docker.from_env().images.get(IMAGE).save(named=True):
            f.write(chunk)
    return tar


@pytest.fixture(scope="session")
def second_engine(tmp_path_factory: pytest.TempPathFactory, image_tar: Path) -> Iterator[Any]:
    """A second dockerd behind tcp:// with TLS, holding the test image too."""
    from tests.support.engines import tls_engine

    root = tmp_path_factory.mktemp("engine-b")
    with tls_engine(root / "engine", free_port(), image_tar) as engine:
        yield engine


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory, image_tar: Path) -> Iterator[dict[str, Any]]:
    """Three engines in two zones: the local one and a2 in zone-a, b1 (live-restore) in zone-b."""
    from tests.support.engines import Dockerd

    root = tmp_path_factory.mktemp("pool")
    engines = {
        "a2": Dockerd(root / "a2", "skiffa2", "172.31.251.1/24"),
        "b1": Dockerd(root / "b1", "skiffb1", "172.31.252.1/24", live_restore=True),
    }
    try:
        for d in engines.values():
            d.start()
            d.load(image_tar)
        yield engines
    finally:
        for d in engines.values():
            d.destroy()


@pytest.fixture(scope="session")
def ssh_access(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """ssh:// to this machine's own engine, through a throw-away sshd on loopback."""
    from tests.support.engines import ssh_to_local_engine

    with ssh_to_local_engine(tmp_path_factory.mktemp("ssh"), free_port()) as access:
        yield access
