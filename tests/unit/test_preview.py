"""`skiff plan`: the preview of a change, computed on a copy, changing nothing."""

from __future__ import annotations

import socket
from pathlib import Path

from controller.catalog import load_directory
from controller.preview import preview, render
from controller.store import Store
from tests.support.documents import dump, load_balancer_doc, target_group_doc
from tests.support.harness import Harness, manifest


def converged(tmp_path: Path, count: int) -> Harness:
    h = Harness(tmp_path / "m", store=Store.in_data_dir(str(tmp_path / "data")))
    h.write("web.yaml", manifest(count, command="v1"))
    h.load()
    h.converge()
    return h


def plan_text(h: Harness, tmp_path: Path) -> str:
    previews, warnings = preview(
        load_directory(str(tmp_path / "m")), str(tmp_path / "data"), lambda name, spec: h.fake
    )
    assert warnings == []
    return render(previews)


def test_a_new_revision_with_a_larger_count_is_a_replacement_plus_a_creation(
    tmp_path: Path,
) -> None:
    h = converged(tmp_path, 2)
    h.write("web.yaml", manifest(3, command="v2"))
    writes = len(h.fake.writes())
    assert plan_text(h, tmp_path) == (
        "TaskDefinition/web\n"
        "  + register revision web:2\n"
        "Service/web\n"
        "  ~ replace 2 task(s): web:1 -> web:2\n"
        "  + create 1 task(s) of web:2 (local: 1)"
    )
    assert len(h.fake.writes()) == writes  # the hosts were not touched
    assert [r.key for r in h.store.revisions("web")] == ["web:1"]  # nor the store


def test_scale_in_and_deletion_are_shown(tmp_path: Path) -> None:
    h = converged(tmp_path, 3)
    h.write("web.yaml", manifest(1, command="v1"))
    assert "Service/web\n  - stop 2 task(s): scale-in or replacement" in plan_text(h, tmp_path)
    (tmp_path / "m" / "web.yaml").unlink()
    text = plan_text(h, tmp_path)
    assert "Service/web\n  - stop and remove 3 task(s): the service was deleted" in text
    assert "TaskDefinition/web\n  - deregister revision web:1 (ACTIVE -> INACTIVE)" in text


def test_a_converged_directory_has_no_changes(tmp_path: Path) -> None:
    h = converged(tmp_path, 2)
    assert plan_text(h, tmp_path) == "no changes: TaskDefinition/web, Service/web"


def test_a_new_group_shows_its_template_version_and_the_instances_it_would_launch(
    tmp_path: Path,
) -> None:
    from tests.unit.test_fleet_engine import group, pool, template

    h = Harness(tmp_path / "m", store=Store.in_data_dir(str(tmp_path / "data")))
    h.write("hosts.yaml", pool())
    h.write("lt.yaml", template())
    h.write("asg.yaml", group(3))
    text = plan_text(h, tmp_path)
    assert "LaunchTemplate/web\n  + create version web:1" in text
    assert "AutoScalingGroup/web\n  + launch 3 instance(s) of web:1 (zone-a: 2, zone-b: 1)" in text
    assert h.fake.writes() == []


def test_a_group_that_fits_nowhere_says_why(tmp_path: Path) -> None:
    from tests.unit.test_fleet_engine import group, pool, template

    h = Harness(tmp_path / "m", store=Store.in_data_dir(str(tmp_path / "data")))
    h.write("hosts.yaml", pool())
    h.write("lt.yaml", template(instanceType="r5.xlarge"))  # 32 GiB: more than a host
    h.write("asg.yaml", group(2))
    text = plan_text(h, tmp_path)
    assert "AutoScalingGroup/web\n  ! cannot launch an instance: zone-a:" in text
    assert "memory" in text


def test_a_plan_with_a_load_balancer_binds_no_port_and_starts_no_haproxy(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = converged(tmp_path, 1)
    h.write(
        "lb.yaml",
        dump(target_group_doc("web"), load_balancer_doc("front", port)),
    )
    plan_text(h, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # still free: the plan's HAProxy was not a real one
