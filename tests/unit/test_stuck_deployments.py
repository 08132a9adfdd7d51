"""Deployments ECS accepts but cannot move, and a Service whose manifest turned invalid, on
the whole controller with the fake runtime and a fixed clock.

ECS accepts minimumHealthyPercent 100 with maximumPercent 100: a new revision's deployment then
stays IN_PROGRESS, the old task keeps running, and the service's events say it could neither
stop nor start a task within the bounds. A Service whose manifest is invalid keeps its last
valid version, which keeps running the revision it resolved to, not a revision registered
since."""

from __future__ import annotations

from pathlib import Path

from controller.core import labels as L
from tests.support.harness import Harness, manifest

STUCK = """
  deploymentConfiguration: {minimumHealthyPercent: 100, maximumPercent: 100}
"""


def bounded(text: str) -> str:
    return text.rstrip("\n") + STUCK


def events(h: Harness, action: str) -> list[str]:
    return [e.reason for _, e in h.store.events_after(0, "Service", "web") if e.action == action]


def revisions(h: Harness) -> set[str]:
    return {c.labels[L.REVISION] for c in h.running()}


def test_a_100_100_service_is_accepted_and_its_deployment_waits_saying_why(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", bounded(manifest(1, command="v1")))
    assert not h.ctl.manifest_errors
    before = {c.id for c in h.running()}
    assert revisions(h) == {"web:1"}

    h.apply("web.yaml", bounded(manifest(1, command="v2")))
    for _ in range(3):
        h.clock.advance(60)
        h.converge()
    assert {c.id for c in h.running()} == before  # the old task keeps running
    st = h.status()
    assert st["taskDefinition"] == "web:2"
    primary = st["deployments"][0]
    assert (primary["taskDefinition"], primary["rolloutState"]) == ("web:2", "IN_PROGRESS")
    reason = (
        "(service web) was unable to stop or start tasks during a deployment because of the "
        "service deployment configuration: with desiredCount 1, maximumPercent 100 allows 1 "
        "task(s) and minimumHealthyPercent 100 keeps 1 healthy. Update the "
        "minimumHealthyPercent or maximumPercent value and try again."
    )
    assert reason in str(st["message"])
    assert events(h, "deployment.blocked") == [reason]  # told once, not every pass

    h.apply("web.yaml", manifest(1, command="v2"))  # ECS's defaults, 100/200: it moves
    assert revisions(h) == {"web:2"}
    assert h.status()["deployments"][0]["rolloutState"] == "COMPLETED"
    assert "unable to stop or start" not in str(h.status()["message"])


def test_an_invalid_service_keeps_running_its_revision_when_a_new_one_is_registered(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2, command="v1"))  # taskDefinition: web, the latest
    before = {c.id for c in h.running()}
    # One edit: a new revision, and a Service that is no longer valid.
    broken = manifest(2, command="v2").replace("desiredCount: 2", "desiredCount: -1")
    h.apply("web.yaml", broken)
    for _ in range(3):
        h.clock.advance(60)
        h.converge()
    assert [r.key for r in h.store.revisions("web")] == ["web:1", "web:2"]
    assert {c.id for c in h.running()} == before
    assert revisions(h) == {"web:1"}
    st = h.status()
    assert st["taskDefinition"] == "web:1"
    assert "desiredCount" in str(st["manifestError"])
    assert "runs web:1, the revision of its last valid manifest" in str(st["message"])
    assert [d["taskDefinition"] for d in st["deployments"]] == ["web:1"]

    # The same across a daemon restart, with the manifest still invalid.
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert {c.id for c in again.running()} == before

    again.apply("web.yaml", manifest(2, command="v2"))  # fixed: it follows latest again
    assert revisions(again) == {"web:2"}
    assert len(again.running()) == 2
