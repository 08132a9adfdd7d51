"""A removal or a start that never reached Docker leaves no expectation behind. The reliability
suite's engine restart found stopped tasks whose removal failed while dockerd was going down:
their containers stayed, out of the daemon's sight (not in its status, not removed again) for
the expectation's 60 s, as if removed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controller.runtime import EngineUnavailable, RuntimeFailure
from tests.support.harness import Harness, manifest


def listed(h: Harness) -> set[str]:
    return {str(t["taskId"]) for t in h.status()["tasks"]}  # type: ignore[union-attr]


def test_a_stopped_task_whose_removal_failed_stays_listed_and_is_removed_on_the_next_pass(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.ctl.settings = replace(h.ctl.settings, stopped_tasks_kept=0)
    h.apply("web.yaml", manifest(2))
    victim = h.running()[0]
    task = victim.labels["skiff.task"]
    h.fake.exit(victim.id, 137)
    h.fake.fail("remove", EngineUnavailable("engine going down"))
    h.ctl.resync()
    h.ctl.run_until_idle()
    assert victim.id in h.fake.containers, "the removal failed"
    assert task in listed(h), "the task is still the daemon's to show and to remove"
    h.clock.advance(1)  # the retry's backoff, far short of an expectation's 60 s
    h.converge(rounds=5)
    assert victim.id not in h.fake.containers
    assert len(h.running()) == 2


def test_containers_whose_start_did_not_reach_docker_are_started_on_the_next_pass(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(1))
    victim = h.running()[0]
    h.fake.exit(victim.id, 137)
    # The replacement is created; its start fails as an engine restarting would fail it.
    h.fake.fail("start", EngineUnavailable("engine going down"))
    h.ctl.resync()
    h.ctl.run_until_idle()
    assert not h.running()
    h.clock.advance(1)
    h.converge(rounds=5)
    assert len(h.running()) == 1


def test_a_stopped_task_docker_cannot_remove_leaves_the_service_steady_and_tells_why(
    tmp_path: Path,
) -> None:
    """dockerd 20.10, restarted while a start was under way, can keep the container's root file
    system mounted: every removal fails ("device or resource busy") until someone unmounts it.
    Nothing runs in it, so, as in ECS, the service's running tasks decide its steady state;
    the removal is retried and its error shown."""
    h = Harness(tmp_path / "m")
    h.ctl.settings = replace(h.ctl.settings, stopped_tasks_kept=0)
    h.apply("web.yaml", manifest(2))
    victim = h.running()[0]
    h.fake.exit(victim.id, 137)
    busy = RuntimeFailure("unlinkat /var/lib/docker/overlay2/x/merged: device or resource busy")
    h.fake.fail("remove", busy, times=1000, match=lambda cid: cid == victim.id)
    for _ in range(5):  # passes, the removal failing in each (converge() waits for quiet)
        h.clock.advance(1)
        h.ctl.resync()
        h.ctl.run_until_idle()
    assert victim.id in h.fake.containers, "Docker refused every removal"
    status = h.status()
    assert len(h.running()) == 2
    assert status["steadyState"] is True
    assert status["status"] == "ACTIVE"
    assert "device or resource busy" in str(status["message"])
