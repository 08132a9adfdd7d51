"""A family's history grows with every change of its manifest, as in ECS (revisions are never
deleted); what a service pass reads and what the daemon keeps in memory must not grow with it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from controller.core import labels as L
from controller.ecs.sync import state as ecs_state
from controller.ecs.sync.service import sync_service
from controller.ecs.sync.state import ecs, revision
from controller.ecs.sync.task_definition import sync_task_definition
from tests.support.harness import Harness, manifest

OLD = 300  # revisions registered before the manifest's own


def long_history(tmp_path: Path) -> Harness:
    """web:1 to web:OLD, each with its own command (c1, c2, ...), then the manifest's own
    task definition, web:OLD+1, running 2 tasks."""
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2, command="c1"))
    first = h.store.revision("web", 1)
    assert first is not None
    for n in range(2, OLD + 1):
        spec = copy.deepcopy(first.spec)
        spec["containerDefinitions"][0]["command"] = ["sh", "-c", f"c{n}"]
        h.store.register_revision("web", spec, f"old{n}", now=float(n))
    h.apply("web.yaml", manifest(2, command="now"))
    return h


def command(h: Harness) -> set[str]:
    """The commands the running tasks' containers were created with."""
    return {(h.fake.specs[c.id].command or ("",))[-1] for c in h.running()}


def test_a_service_pass_reads_the_newest_revision_not_the_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = long_history(tmp_path)
    assert {c.labels[L.REVISION] for c in h.running()} == {f"web:{OLD + 1}"}

    def whole_history(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a service pass read the family's whole history")

    monkeypatch.setattr(h.store, "revisions", whole_history)
    h.fake.exit(h.running()[0].id, 137)
    sync_service(h.ctl, "web")  # replaces the task: it raises if it reads the whole history
    monkeypatch.undo()
    h.converge()
    assert len(h.running()) == 2
    assert {c.labels[L.REVISION] for c in h.running()} == {f"web:{OLD + 1}"}


def test_a_service_pinned_to_an_old_revision_of_a_long_history_runs_that_one(
    tmp_path: Path,
) -> None:
    h = long_history(tmp_path)
    pinned = manifest(2, command="now").replace("taskDefinition: web", "taskDefinition: web:7")
    h.apply("web.yaml", pinned)
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:7"}
    assert command(h) == {"c7"}
    h.apply("web.yaml", pinned.replace("web:7", f"web:{OLD + 2}"))
    st = h.status("Service", "web")
    assert (st["status"], st["message"]) == (
        "ERROR",
        f"task definition web:{OLD + 2} does not exist",
    )


def test_the_daemon_keeps_the_revisions_used_last_parsed_and_reads_any_other_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = long_history(tmp_path)
    monkeypatch.setattr(ecs_state, "REVISIONS_KEPT", 3)

    def its_command(key: str) -> str:
        rev = revision(h.ctl, key)
        assert rev is not None
        return rev.spec.container_definitions[0].command[-1]  # type: ignore[index]

    assert [its_command(f"web:{n}") for n in range(2, 12)] == [f"c{n}" for n in range(2, 12)]
    assert its_command("web:2") == "c2"  # dropped from memory, read again
    assert list(ecs(h.ctl)._revisions) == ["web:10", "web:11", "web:2"]


def test_revisions_no_task_uses_any_more_leave_memory_and_those_in_use_stay(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    for n in range(1, 21):  # twenty deployments, each completed
        h.apply("web.yaml", manifest(2, command=f"v{n}"))
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:20"}
    kept = set(ecs(h.ctl)._revisions)
    assert "web:20" in kept and len(kept) > 1  # older ones still parsed, for now

    h.clock.advance(ecs_state.REVISION_IDLE + 1)
    h.converge()  # a resync: every service pass reads what it uses
    # The revisions still in use: the running tasks' and those of the few stopped tasks kept
    # for inspection (their view needs them).
    in_use = {c.labels[L.REVISION] for c in h.fake.containers.values() if L.is_managed(c.labels)}
    assert set(ecs(h.ctl)._revisions) == in_use
    assert "web:20" in in_use and len(in_use) < 20
    assert command(h) == {"v20"}


def test_a_long_history_is_listed_again_only_when_a_registration_cannot_extend_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = long_history(tmp_path)

    def listed() -> list[tuple[int, str]]:
        revs = h.status("TaskDefinition", "web")["revisions"]
        return [(r["revision"], r["status"]) for r in revs]  # type: ignore[attr-defined]

    assert listed() == [(n, "ACTIVE") for n in range(1, OLD + 2)]

    def whole_history(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an unchanged family's whole history was read again")

    monkeypatch.setattr(h.store, "revisions", whole_history)
    sync_task_definition(h.ctl, "web")  # what every resync does
    monkeypatch.undo()
    assert listed() == [(n, "ACTIVE") for n in range(1, OLD + 2)]

    monkeypatch.setattr(h.store, "revisions", whole_history)
    h.apply("web.yaml", manifest(2, command="next"))  # a deployment adds one to the list
    monkeypatch.undo()
    assert listed() == [(n, "ACTIVE") for n in range(1, OLD + 3)]
    (h.root / "web.yaml").unlink()
    h.load()
    h.converge()
    assert listed() == [(n, "INACTIVE") for n in range(1, OLD + 3)]
