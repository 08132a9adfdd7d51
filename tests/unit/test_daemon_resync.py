"""The daemon's resync loop outlives a failing resync: one that cannot read the store (or hits
a bug) is logged, and the next period resyncs again instead of never again."""

from __future__ import annotations

import threading
from pathlib import Path

from controller.core.settings import Settings
from controller.daemon import Daemon
from controller.runtime.fake import FakeRuntime
from controller.store import StoreFailure


def test_a_resync_that_fails_does_not_end_the_resync_loop(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    fake = FakeRuntime()
    daemon = Daemon(
        str(tmp_path / "m"),
        str(tmp_path / "data"),
        "127.0.0.1:0",
        Settings(resync_seconds=0.01),
        runtime_factory=lambda name, spec: fake,
    )
    calls: list[int] = []
    again = threading.Event()

    def resync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StoreFailure("cannot read the store: disk I/O error", "io")
        again.set()

    daemon.controller.resync = resync  # type: ignore[method-assign]
    loop = threading.Thread(target=daemon._resync)
    loop.start()
    try:
        assert again.wait(5), "the loop stopped after the failed resync"
    finally:
        daemon.stop()
        loop.join(5)
        daemon.store.close()
    assert len(calls) >= 2
