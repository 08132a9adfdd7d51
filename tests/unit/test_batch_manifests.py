"""Batch's manifests in the daemon: job definitions register revisions as
RegisterJobDefinition does, and queues and environments must name what exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.batch.sync.job_definition import resolve_definition, sync_job_definition
from controller.catalog import load_directory
from tests.support.documents import (
    compute_environment_doc,
    dump,
    job_definition_doc,
    job_queue_doc,
    write,
)
from tests.support.harness import Harness


def definition(command: str) -> str:
    properties = {"image": "skiff/busybox:latest", "command": ["sh", "-c", command], "vcpus": 1}
    return dump(job_definition_doc("sleeper", containerProperties=properties))


def test_each_change_of_a_job_definition_is_a_new_revision(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("jd.yaml", definition("sleep 1"))
    h.load()
    h.converge()
    assert h.status("JobDefinition", "sleeper")["latestRevision"] == "sleeper:1"
    h.load()  # read again, unchanged: no new revision
    h.converge()
    h.write("jd.yaml", definition("sleep 2"))
    h.load()
    h.converge()
    st = h.status("JobDefinition", "sleeper")
    assert st["latestRevision"] == "sleeper:2"
    assert st["revisions"] == [
        {"revision": 1, "status": "ACTIVE"},
        {"revision": 2, "status": "ACTIVE"},
    ]
    latest = resolve_definition(h.ctl, "sleeper")
    first = resolve_definition(h.ctl, "sleeper:1")
    assert latest is not None and first is not None
    assert latest[0] == "sleeper:2" and first[0] == "sleeper:1"
    assert first[1].container_properties is not None
    assert first[1].container_properties.command == ["sh", "-c", "sleep 1"]
    assert resolve_definition(h.ctl, "sleeper:9") is None


def test_removing_a_job_definition_makes_its_revisions_inactive(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("jd.yaml", definition("sleep 1"))
    h.load()
    h.converge()
    (tmp_path / "m" / "jd.yaml").unlink()
    h.load()
    h.converge()
    st = h.status("JobDefinition", "sleeper")
    assert st["status"] == "INACTIVE" and st["latestRevision"] is None
    assert resolve_definition(h.ctl, "sleeper") is None
    assert resolve_definition(h.ctl, "sleeper:1") is not None  # still described, as on AWS


def test_a_resync_lists_a_long_job_definition_history_again_only_once_it_has_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path / "m")
    for n in range(1, 201):
        h.write("jd.yaml", definition(f"sleep {n}"))
        h.load()
        h.converge()

    def listed() -> list[tuple[int, str]]:
        revs = h.status("JobDefinition", "sleeper")["revisions"]
        return [(r["revision"], r["status"]) for r in revs]  # type: ignore[attr-defined]

    assert listed() == [(n, "ACTIVE") for n in range(1, 201)]

    def whole_history(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an unchanged family's whole history was read again")

    monkeypatch.setattr(h.store, "revisions", whole_history)
    sync_job_definition(h.ctl, "sleeper")  # what every resync does
    monkeypatch.undo()
    assert listed() == [(n, "ACTIVE") for n in range(1, 201)]
    assert h.status("JobDefinition", "sleeper")["latestRevision"] == "sleeper:200"

    h.write("jd.yaml", definition("sleep again"))
    h.load()
    h.converge()
    assert listed()[-2:] == [(200, "ACTIVE"), (201, "ACTIVE")]
    (tmp_path / "m" / "jd.yaml").unlink()
    h.load()
    h.converge()
    assert listed() == [(n, "INACTIVE") for n in range(1, 202)]
    assert h.status("JobDefinition", "sleeper")["latestRevision"] is None


def test_a_queue_and_an_environment_must_name_what_exists(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    write(
        root,
        "batch.yaml",
        job_queue_doc("q", "nowhere"),
        compute_environment_doc("ce", maxvCpus=2, hosts=["big"], zones=["mars"]),
    )
    result = load_directory(str(root))
    assert {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors} == {
        "batch.yaml#1:spec.computeEnvironmentOrder.0.computeEnvironment": "no ComputeEnvironment "
        "named 'nowhere' in these manifests",
        "batch.yaml#2:spec.hosts.0": "no Host named 'big' (hosts: local)",
        "batch.yaml#2:spec.zones.0": "no Host is in zone 'mars' (zones: local)",
    }


def test_a_valid_queue_and_environment_load(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    write(root, "batch.yaml", job_queue_doc("q", "ce"), compute_environment_doc("ce", maxvCpus=2))
    result = load_directory(str(root))
    assert result.errors == []
    assert set(result.resources) == {("JobQueue", "q"), ("ComputeEnvironment", "ce")}
