"""Deployments through the whole controller on the fake runtime."""

from __future__ import annotations

from pathlib import Path

from controller.core import labels as L
from controller.runtime import StartFailed
from controller.runtime.fake import FakeRuntime
from tests.support.harness import Harness, hosts_yaml, manifest

BREAKER = """
  deploymentConfiguration:
    deploymentCircuitBreaker: {enable: true, rollback: true}
"""


def with_breaker(text: str) -> str:
    return text.rstrip("\n") + BREAKER


def test_a_revision_that_cannot_start_trips_the_breaker_and_rolls_back(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", with_breaker(manifest(4, command="v1")))
    assert h.status()["deployments"][0]["rolloutState"] == "COMPLETED"
    h.fake.fail(
        "start",
        StartFailed('exec: "v2": not found'),
        times=1000,
        match=lambda cid: h.fake.specs[cid].command == ("v2",),
    )
    h.write("web.yaml", with_breaker(manifest(4, command="v2")))
    h.load()
    for _ in range(12):  # relaunches are throttled: let time pass between rounds
        h.converge()
        h.clock.advance(30)
    st = h.status()
    primary, failed, _first = st["deployments"]
    assert (failed["taskDefinition"], failed["rolloutState"]) == ("web:2", "FAILED")
    assert (primary["taskDefinition"], primary["status"], primary["rolloutState"]) == (
        "web:1",
        "PRIMARY",
        "COMPLETED",
    )
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:1"}
    assert len(h.running()) == 4
    assert st["taskDefinition"] == "web:1"


def test_a_deployment_survives_a_restart_and_completes(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3, command="v1"))
    h.write("web.yaml", manifest(3, command="v2"))
    h.load()
    h.ctl.resync()
    h.ctl.run_until_idle()  # one pass: new tasks launched, old ones still up
    mid = {d["id"]: d["rolloutState"] for d in h.status()["deployments"]}
    assert list(mid.values()) == ["IN_PROGRESS", "COMPLETED"]
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    after = again.status()["deployments"]
    assert [d["id"] for d in after] == list(mid)  # the same deployment, continued
    assert [(d["status"], d["rolloutState"]) for d in after] == [
        ("PRIMARY", "COMPLETED"),
        ("INACTIVE", "COMPLETED"),
    ]
    assert {c.labels[L.REVISION] for c in again.running()} == {"web:2"}


def test_a_placement_change_is_a_deployment_that_moves_the_tasks(tmp_path: Path) -> None:
    a, b = FakeRuntime(name="a"), FakeRuntime(name="b")
    h = Harness(tmp_path / "m", engines={"a": a, "b": b})
    h.apply("hosts.yaml", hosts_yaml("a", "b"))
    h.apply("web.yaml", manifest(4))
    assert len([c for c in b.containers.values() if c.running]) == 2
    only_a = (
        "\n  placementConstraints: [{type: memberOf, expression: 'attribute:zone == zone-a'}]\n"
    )
    h.apply("web.yaml", manifest(4).rstrip("\n") + only_a)
    assert len([c for c in a.containers.values() if c.running]) == 4
    assert not [c for c in b.containers.values() if c.running]
    deployments = h.status()["deployments"]
    assert [(d["taskDefinition"], d["status"]) for d in deployments] == [
        ("web:1", "PRIMARY"),
        ("web:1", "INACTIVE"),
    ]
    assert "new settings" in deployments[0]["rolloutStateReason"] or (
        deployments[0]["rolloutState"] == "COMPLETED"
    )


def test_a_deleted_service_retires_its_deployments_so_a_new_one_starts_afresh(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    (tmp_path / "m" / "web.yaml").unlink()
    h.load()
    h.ctl.resync()
    h.ctl.run_until_idle()  # one pass: deletion under way
    assert {d.status for d in h.store.deployments("web")} == {"INACTIVE"}
    h.apply("web.yaml", manifest(2))
    assert h.status()["deployments"][0]["status"] == "PRIMARY"
    assert len(h.running()) == 2


def test_a_service_naming_a_missing_task_definition_keeps_its_last_valid_version(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    before = {c.id for c in h.running()}
    h.apply("web.yaml", manifest(2).replace("taskDefinition: web", "taskDefinition: nowhere"))
    assert {c.id for c in h.running()} == before
    assert "no TaskDefinition named 'nowhere'" in str(h.status()["manifestError"])


def test_a_rollout_stops_the_old_tasks_once_the_new_ones_have_run_long_enough(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m", healthy_after=5.0)

    def observe() -> None:
        """Lists the engine again (queueing only services whose containers changed) and runs
        what is due: no resync, so a service waiting on a clock must have asked for it."""
        for handle in list(h.ctl.hosts.values()):
            handle.observer.safe_resync()
        h.ctl.run_until_idle()

    h.apply("web.yaml", manifest(2, command="v1"))
    h.clock.advance(5)
    observe()
    old = {c.id for c in h.running()}
    h.write("web.yaml", manifest(2, command="v2"))
    h.load()
    h.ctl.resync()
    h.ctl.run_until_idle()
    observe()  # the new tasks run; with no health check they do not count yet
    st = h.status()
    assert (st["runningCount"], st["healthyCount"], st["steadyState"]) == (4, 2, False)
    h.clock.advance(4.9)
    observe()
    assert old <= {c.id for c in h.running()}
    h.clock.advance(0.1)
    observe()
    assert not old & {c.id for c in h.running()}
    h.clock.advance(1)
    observe()
    st = h.status()
    assert (st["runningCount"], st["healthyCount"], st["steadyState"]) == (2, 2, True)
    assert st["deployments"][0]["rolloutState"] == "COMPLETED"
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:2"}
