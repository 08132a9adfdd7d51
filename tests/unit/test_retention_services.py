"""Retention of a deleted service's task records and deployments: they go once it has drained
(its manifest removed, no task of it left on any listed host), never while it drains, never
while its manifest is only invalid (its last valid version is kept), and a restart loses none
of a service that still exists. The retention pass is run alone here (no key is processed), as
it finds records the service's own sync never saw go."""

from __future__ import annotations

from pathlib import Path

from controller.catalog import CATALOG
from controller.core import labels as L
from controller.core.controller import Controller
from controller.core.retention import RetentionState, sync_retention
from controller.core.settings import Settings
from controller.store import TaskRecord
from controller.telemetry import Metrics
from tests.support.harness import Harness, manifest


def prune(ctl: Controller) -> None:
    ctl.part(RetentionState).last = None
    sync_retention(ctl)


def records(h: Harness, name: str = "web") -> tuple[int, int]:
    return len(h.store.tasks("Service", name)), len(h.store.deployments(name))


def remove_tasks(h: Harness, name: str = "web") -> None:
    """The service's containers go (as its drain, or a user, removes them), and the daemon's
    cache sees it."""
    for c in list(h.fake.containers.values()):
        if c.labels.get(L.NAME) == name:
            h.fake.kill(c.id, "SIGKILL")
            h.fake.remove(c.id)
    h.ctl.resync()


def converged(tmp_path: Path) -> Harness:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    assert records(h) == (2, 1)
    return h


def test_a_deleted_service_keeps_its_records_while_it_drains_and_loses_them_once_drained(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path)
    (h.root / "web.yaml").unlink()
    h.load()
    h.ctl.resync()
    prune(h.ctl)
    assert records(h) == (2, 1)  # its tasks still run
    remove_tasks(h)
    prune(h.ctl)
    assert records(h) == (0, 0)


def test_an_invalid_manifest_keeps_the_last_valid_version_and_its_records(tmp_path: Path) -> None:
    h = converged(tmp_path)
    h.write("web.yaml", manifest(2).replace("desiredCount: 2", "desiredCount: many"))
    h.load()
    assert ("Service", "web") in h.ctl.stale
    remove_tasks(h)
    prune(h.ctl)
    assert records(h) == (2, 1)


def test_a_restart_loses_no_record_of_a_service_that_still_exists(tmp_path: Path) -> None:
    h = converged(tmp_path)
    remove_tasks(h)  # say its containers were removed while the daemon was down
    again = Controller(
        h.store,
        Metrics(),
        lambda name, spec: h.fake,
        Settings(parallelism=2),
        clock=h.clock,
        monotonic=h.clock,
        catalog=CATALOG,
    )
    again.resync()
    prune(again)  # before restore: desired state is still empty, the store is not
    assert records(h) == (2, 1)
    again.restore()
    prune(again)
    assert records(h) == (2, 1)


def test_records_on_a_host_not_listed_yet_wait_for_it(tmp_path: Path) -> None:
    h = converged(tmp_path)
    (h.root / "web.yaml").unlink()
    h.load()
    remove_tasks(h)
    host = next(iter(h.ctl.hosts))
    stray = TaskRecord("t-elsewhere", "Service", "web", "web:1", "unlisted", "RUNNING", h.clock())
    h.store.put_tasks([stray])
    h.ctl.hosts[host].observer.synced = False  # e.g. the daemon just started
    h.store.put_tasks([TaskRecord("t-here", "Service", "web", "web:1", host, "RUNNING", h.clock())])
    prune(h.ctl)
    assert records(h)[0] == 4
    h.ctl.resync()
    prune(h.ctl)  # the host is listed: nothing of it is left ("unlisted" is no host now)
    assert records(h) == (0, 0)


def test_records_of_services_never_seen_go_and_those_of_live_services_stay(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path)
    orphan = TaskRecord("t-old", "Service", "old", "old:1", "local", "STOPPED", h.clock())
    h.store.put_tasks([orphan])
    prune(h.ctl)
    assert records(h, "old") == (0, 0)
    assert records(h) == (2, 1)
