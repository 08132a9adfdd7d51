"""`/readyz` says ready only once every resource of the first load has been looked at: a script
that waits for it, then submits a job to a job definition of its manifests, is never told the
definition does not exist (its revision is registered by the definition's first reconcile)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from controller.batch.sync.job_definition import resolve_definition
from controller.core.settings import Settings
from controller.daemon import Daemon
from controller.manifests.kinds import ResourceKey
from controller.runtime.fake import FakeRuntime
from tests.support.daemon import wait_for
from tests.support.documents import (
    compute_environment_doc,
    job_definition_doc,
    job_queue_doc,
    write,
)


def test_ready_waits_for_the_first_look_at_each_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # run() is off the main thread
    root = tmp_path / "m"
    write(
        root,
        "batch.yaml",
        compute_environment_doc("ce"),
        job_queue_doc("q", "ce"),
        job_definition_doc("work"),
    )
    fake = FakeRuntime()
    daemon = Daemon(
        str(root), str(tmp_path / "data"), "127.0.0.1:0", Settings(), lambda name, spec: fake
    )
    held = threading.Event()
    real_sync = daemon.controller.sync

    def sync(key: ResourceKey) -> float | None:
        if key[0] == "JobDefinition":
            held.wait(10)  # its first reconcile is slow
        return real_sync(key)

    daemon.controller.sync = sync  # type: ignore[method-assign]
    run = threading.Thread(target=daemon.run)
    run.start()
    try:
        wait_for(lambda: daemon._loaded and daemon.controller.synced, 10, "hosts listed")
        assert not daemon.ready(), "ready before the job definition was registered"
        assert resolve_definition(daemon.controller, "work") is None
        held.set()
        wait_for(daemon.ready, 10, "ready once the definition was looked at")
        assert resolve_definition(daemon.controller, "work") is not None
    finally:
        held.set()
        daemon.stop()
        run.join(15)
