"""Each engine's connection pool holds as many connections as calls can be in flight to it:
the workers' pool, the metrics pool, the queue's workers, the refreshers, the event stream and a
resync, so no call under load opens and closes a socket of its own."""

from __future__ import annotations

import pytest

from controller.core.observer import REFRESHERS, engine_pool_size
from controller.core.settings import Settings


@pytest.mark.parametrize("parallelism,workers", [(10, 4), (1, 1), (50, 8)])
def test_the_pool_covers_every_call_that_can_be_in_flight(parallelism: int, workers: int) -> None:
    settings = Settings(parallelism=parallelism, workers=workers)
    docker_pool = metrics_pool = parallelism  # Controller.pool and Controller.metrics_pool
    in_flight = docker_pool + metrics_pool + workers + REFRESHERS + 1 + 1  # events, resync
    assert engine_pool_size(settings) >= in_flight


def test_the_daemon_gives_its_engines_that_pool(tmp_path: object) -> None:
    from pathlib import Path

    from controller.daemon import Daemon
    from controller.manifests.host import HostSpec

    root = Path(str(tmp_path))
    settings = Settings(parallelism=20, workers=6)
    daemon = Daemon(str(root), str(root / "data"), "127.0.0.1:0", settings)
    runtime = daemon.controller._factory("local", HostSpec(url="unix:///nonexistent.sock"))
    adapter = runtime._api.get_adapter("http+docker://localhost")  # type: ignore[attr-defined]
    assert adapter.max_pool_size == engine_pool_size(settings) >= 20 + 20 + 6 + REFRESHERS + 2
