"""What a read error keeps (issue 12, item 4): an unreadable or vanished directory is an error,
never an empty directory, so its tasks keep running; and the daemon's reload reports a failure
and keeps everything.

Each test builds a real manifest directory under tmp_path and checks what a user would notice:
an error naming the path (never a traceback, never a hang, never the content of a file outside
the directory), and, through the controller on the fake runtime, that a read error keeps the
resources instead of deleting them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core.settings import Settings
from controller.daemon import Daemon
from controller.manifests.loader import LoadResult
from controller.runtime.fake import FakeRuntime
from tests.support.documents import service_doc, td_doc, write
from tests.support.harness import Harness, manifest
from tests.unit.manifest_reading_support import errors_of, load

# --- item 4: a read error keeps, never deletes ----------------------------------------------------


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Makes directories named `name` fail to list, as EACCES or EIO would (root ignores
    chmod 000, so the failure is injected where the loader lists a directory)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        where = os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else str(path)
        if os.path.basename(where) == name:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subdirectory_is_an_error_not_an_empty_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "teams/api.yaml", td_doc("api"))
    _unreadable(monkeypatch, "teams")

    result = load(tmp_path)

    assert errors_of(result) == {
        "teams/#0:(document)": "cannot read this directory: Permission denied"
    }
    assert result.keeps("teams/api.yaml") and result.keeps("teams/deeper/x.yaml")
    assert not result.keeps("web.yaml") and not result.keeps("teamsters.yaml")


def test_a_vanished_root_is_an_error_that_keeps_everything(tmp_path: Path) -> None:
    result = load(tmp_path / "gone")

    assert [str(e) for e in result.errors] == [
        f"{tmp_path / 'gone'}: cannot read the manifest directory: No such file or directory"
    ]
    assert result.keeps("web.yaml") and result.keeps("teams/api.yaml")


def test_validate_reports_an_unreadable_directory_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "teams/api.yaml", td_doc("api"))
    _unreadable(monkeypatch, "teams")

    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'teams'}/: cannot read this directory" in err


def test_tasks_of_an_unreadable_directory_keep_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path / "m")
    (h.root / "teams").mkdir()
    h.write("teams/web.yaml", manifest(2))
    h.apply("api.yaml", manifest(1).replace("web", "api"))
    before = {c.id for c in h.running()}
    assert len(before) == 2

    _unreadable(monkeypatch, "teams")
    h.apply("api.yaml", manifest(3).replace("web", "api"))

    assert {c.id for c in h.running()} == before
    assert len(h.running("api")) == 3  # the readable rest still converges
    assert [e.file for e in h.ctl.manifest_errors] == ["teams/"]
    assert _sample(h.ctl.metrics, "skiff_manifest_errors", file="teams/") == 1


def test_tasks_keep_running_when_the_whole_directory_vanishes_even_after_a_restart(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    before = {c.id for c in h.running()}

    os.rename(h.root, tmp_path / "elsewhere")
    h.load()
    h.converge()
    assert {c.id for c in h.running()} == before
    assert "cannot read the manifest directory" in h.ctl.manifest_errors[0].message

    again = Harness(tmp_path / "m2", fake=h.fake, store=h.store, clock=h.clock)
    again.root.rmdir()
    again.ctl.restore()
    again.load()
    again.converge()
    assert {c.id for c in again.running()} == before


# --- the daemon's reload --------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    fake = FakeRuntime()
    root = tmp_path / "m"
    write(root, "web.yaml", td_doc("web"), service_doc("web"))
    d = Daemon(str(root), str(tmp_path / "data"), "127.0.0.1:0", Settings(), lambda n, s: fake)
    yield d
    d.controller.stop()
    d.store.close()


def test_a_reload_that_raises_is_reported_and_keeps_everything(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.reload()
    assert ("Service", "web") in daemon.controller.desired

    def crash(*args: Any, **kwargs: Any) -> LoadResult:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("controller.daemon.load_directory", crash)
    daemon.reload()  # the first reload at start-up is this same call: it must not raise

    assert ("Service", "web") in daemon.controller.desired
    assert [e.message for e in daemon.controller.manifest_errors] == [
        "reload failed: RecursionError"
    ]
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 1


def test_a_reload_whose_apply_raises_does_not_raise(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(result: LoadResult) -> set[Any]:
        raise MemoryError()

    monkeypatch.setattr(daemon.controller, "apply_manifests", crash)
    daemon.reload()
    daemon.reload()

    assert [e.message for e in daemon.controller.manifest_errors] == ["reload failed: MemoryError"]
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 2


def test_an_unreadable_root_counts_as_a_reload_failure(daemon: Daemon) -> None:
    daemon.reload()
    os.rename(daemon.manifests, daemon.manifests + ".moved")
    daemon.reload()

    assert ("Service", "web") in daemon.controller.desired
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 1
    assert _sample(daemon.metrics, "skiff_manifest_errors", file=daemon.manifests) == 1


def _sample(metrics: Any, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)
