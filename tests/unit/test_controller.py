"""The whole controller on the fake runtime with a fixed clock: manifests in, containers out."""

from __future__ import annotations

from pathlib import Path

from controller.core import labels as L
from controller.ecs.planners.task_containers import TaskIdentity, container_specs
from controller.ecs.sync.state import revision
from controller.runtime import EngineUnavailable, PortTaken, StartFailed
from controller.runtime.fake import FakeRuntime
from tests.support.documents import container, dump, service_doc, td_doc
from tests.support.harness import Harness, hosts_yaml, manifest, web_docs


def test_a_service_converges_to_five_running_tasks_with_ownership_labels(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(5))
    running = h.running()
    assert len(running) == 5
    assert {c.labels[L.REVISION] for c in running} == {"web:1"}
    assert all(c.labels[L.KIND] == "Service" and c.labels[L.CONTAINER] == "app" for c in running)
    assert len({c.labels[L.TASK] for c in running}) == 5
    st = h.status()
    assert (st["desiredCount"], st["runningCount"], st["steadyState"]) == (5, 5, True)


def test_restarting_a_converged_daemon_makes_no_docker_writes(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    writes = len(h.fake.writes())
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert len(h.fake.writes()) == writes
    assert again.status()["runningCount"] == 3


def test_containers_without_the_managed_by_label_are_never_touched(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    lookalike = h.fake.add_unmanaged(
        "skiff-web-app-deadbeef",
        {
            L.KIND: "Service",
            L.NAME: "web",
            L.TASK: "deadbeef",
            L.CONTAINER: "app",
            L.REVISION: "web:1",
        },
    )
    h.apply("web.yaml", manifest(2))
    h.apply("web.yaml", manifest(0))
    assert h.fake.containers[lookalike].running
    assert not any(arg == lookalike for _, arg in h.fake.writes())


def test_a_task_whose_container_is_killed_is_replaced(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    victim = h.running()[0]
    h.fake.exit(victim.id, 137)
    h.converge()
    assert len(h.running()) == 3
    assert victim.id not in {c.id for c in h.running()}
    stopped = [t for t in h.status()["tasks"] if t["lastStatus"] == "STOPPED"]  # type: ignore[union-attr]
    assert [t["stoppedReason"] for t in stopped] == ["Essential container in task exited"]


def test_scaling_5_to_2_to_6(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    for count in (5, 2, 6):
        h.write("web.yaml", manifest(count))
        h.load()
        h.converge()
        assert len(h.running()) == count


def test_editing_the_task_definition_registers_a_revision_and_replaces_every_task(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3, command="v1"))
    h.apply("web.yaml", manifest(3, command="v2"))
    assert [r.key for r in h.store.revisions("web")] == ["web:1", "web:2"]
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:2"}
    assert len(h.running()) == 3
    assert h.status("TaskDefinition", "web")["latestRevision"] == "web:2"


def test_an_invalid_edit_keeps_the_last_valid_version_running(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(2))
    h.apply("other.yaml", manifest(1).replace("name: web", "name: api"))
    before = {c.id for c in h.running()}
    h.apply("web.yaml", manifest(2).replace("desiredCount: 2", "desiredCount: -4"))
    assert {c.id for c in h.running()} == before
    assert "desiredCount" in str(h.status()["manifestError"])
    assert len(h.running("api")) == 1


def test_a_file_that_no_longer_parses_keeps_its_resources_even_after_a_restart(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    h.write("web.yaml", "apiVersion: skiff/v1\nkind: [unclosed\n")
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert len(again.running()) == 2


def test_deleting_the_manifest_removes_everything_it_owned(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    (tmp_path / "m" / "web.yaml").unlink()
    h.load()
    h.converge()
    assert not [c for c in h.fake.containers.values() if c.labels.get(L.NAME) == "web"]
    assert ("Service", "web") not in h.ctl.status
    assert {r.status for r in h.store.revisions("web")} == {"INACTIVE"}


def test_a_missing_image_is_reported_and_retried_with_backoff(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(2, image="nope:1"))
    h.load()
    h.ctl.resync()
    h.ctl.run_until_idle()
    st = h.status()
    assert st["status"] == "ERROR"
    assert "CannotPullContainerError" in str(st["message"])
    assert h.ctl.queue.requeues(("Service", "web")) >= 1
    assert not h.running()
    h.fake.images.add("nope:1")
    h.clock.advance(120)
    h.converge()
    assert len(h.running()) == 2


def test_an_engine_error_during_launch_is_retried_without_duplicates(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.fake.fail("create", EngineUnavailable("connection reset"), times=1)
    h.apply("web.yaml", manifest(4))
    assert len(h.running()) == 4
    assert len({c.labels[L.TASK] for c in h.fake.containers.values()}) == 4


def test_a_restart_after_a_crash_mid_launch_starts_what_was_created_without_duplicates(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    # The daemon died right after creating a fourth task's container, before starting it.
    rev = revision(h.ctl, "web:1")
    assert rev is not None
    ident = TaskIdentity("default", "Service", "web", "f" * 32, rev.key, rev.spec_hash)
    (spec,) = container_specs(ident, rev.spec)
    orphan = h.fake.create(spec)
    h.write("web.yaml", manifest(4))
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert len(again.running()) == 4
    assert len(h.fake.containers) == 4
    assert h.fake.containers[orphan].running


def test_one_edit_to_a_task_definition_and_its_service_launches_only_the_new_revision(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2, command="v1"))
    h.apply("web.yaml", manifest(3, command="v2"))
    created = [s.labels[L.REVISION] for s in h.fake.specs.values()]
    assert sorted(created) == ["web:1", "web:1", "web:2", "web:2", "web:2"]


def test_a_service_pinned_to_a_revision_keeps_it_when_the_family_moves_on(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2, command="v1"))
    h.write(
        "web.yaml",
        manifest(2, command="v2").replace("taskDefinition: web", "taskDefinition: web:1"),
    )
    h.load()
    h.converge()
    assert [r.key for r in h.store.revisions("web")] == ["web:1", "web:2"]
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:1"}


def test_a_service_naming_an_unregistered_revision_reports_it_and_touches_nothing(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    h.apply("web.yaml", manifest(5).replace("taskDefinition: web", "taskDefinition: web:7"))
    assert len(h.running()) == 2
    st = h.status()
    assert (st["status"], st["message"]) == ("ERROR", "task definition web:7 does not exist")


def test_a_removed_host_drains_its_tasks_to_the_others_then_leaves_the_pool(tmp_path: Path) -> None:
    a, b = FakeRuntime(name="a"), FakeRuntime(name="b")
    h = Harness(tmp_path / "m", engines={"a": a, "b": b})
    h.write("hosts.yaml", hosts_yaml("a", "b"))
    h.apply("web.yaml", manifest(4))
    assert sorted(len([c for c in e.containers.values() if c.running]) for e in (a, b)) == [2, 2]
    h.apply("hosts.yaml", hosts_yaml("a"))
    assert len([c for c in a.containers.values() if c.running]) == 4
    assert not b.containers
    assert set(h.ctl.hosts) == {"a"}
    assert ("Host", "b") not in h.ctl.status


def test_a_typo_in_kind_or_metadata_keeps_what_the_file_described(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(3))
    for typo in ("kind", "metadata"):
        td, svc = web_docs(3)
        if typo == "kind":
            svc["kind"] = "Servce"
        else:
            svc = {("metdata" if k == "metadata" else k): v for k, v in svc.items()}
        broken = dump(td, svc)
        h.write("web.yaml", broken)
        h.load()
        h.converge()
        assert len(h.running()) == 3, typo
        assert h.ctl.manifest_errors


def test_a_task_that_cannot_start_does_not_hold_its_host_port(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    td, svc = web_docs(1)
    td["spec"]["containerDefinitions"][0]["portMappings"] = [
        {"containerPort": 80, "hostPort": 8080}
    ]
    ported = dump(td, svc)
    h.fake.fail("start", StartFailed('exec: "serve": not found'), times=1)
    h.apply("web.yaml", ported)
    assert len(h.running()) == 1  # the replacement got port 8080


def test_deleting_the_task_definition_keeps_its_service_running_the_inactive_revision(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    h.write("web.yaml", manifest(2).split("---")[1])  # the Service alone
    h.load()
    h.converge()
    assert {r.status for r in h.store.revisions("web")} == {"INACTIVE"}
    h.fake.exit(h.running()[0].id, 1)
    h.converge()
    assert len(h.running()) == 2  # replaced, on web:1
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:1"}
    st = h.status()
    assert "runs web:1, the revision of its last valid manifest" in str(st["message"])
    assert "no TaskDefinition named 'web'" in str(st["manifestError"])


def test_tasks_made_from_another_spec_under_the_same_revision_number_are_replaced(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2, command="v1"))
    # The data directory is lost, and the manifest changed meanwhile: web:1 is a new spec.
    h.write("web.yaml", manifest(2, command="v2"))
    again = Harness(tmp_path / "m", fake=h.fake, clock=h.clock)
    again.load()
    again.converge()
    assert {h.fake.specs[c.id].command for c in again.running()} == {("v2",)}


def test_tasks_of_a_lost_host_are_replaced_and_their_stale_copies_stopped_when_it_returns(
    tmp_path: Path,
) -> None:
    a, b = FakeRuntime(name="a"), FakeRuntime(name="b")
    h = Harness(tmp_path / "m", engines={"a": a, "b": b})
    h.apply("hosts.yaml", hosts_yaml("a", "b"))
    h.apply("web.yaml", manifest(4))
    b_tasks = {c.id for c in b.containers.values() if c.running}
    assert len(b_tasks) == 2

    b.down = True
    h.ctl.resync()
    h.ctl.run_until_idle()
    assert len([c for c in a.containers.values() if c.running]) == 2  # not lost yet: wait
    h.clock.advance(61)  # past the default 60 s
    h.converge()
    assert len([c for c in a.containers.values() if c.running]) == 4
    lost = [t for t in h.status()["tasks"] if t["host"] == "b"]  # type: ignore[union-attr]
    assert {t["stoppedReason"] for t in lost} == {"Task lost: host b is unreachable"}

    b.down = False  # back, with its two tasks still running (live-restore)
    h.converge()
    assert not [c for c in b.containers.values() if c.running]
    assert len(h.running()) == 4


def test_a_restart_while_a_host_is_down_waits_for_it_before_replacing_its_tasks(
    tmp_path: Path,
) -> None:
    a, b = FakeRuntime(name="a"), FakeRuntime(name="b")
    h = Harness(tmp_path / "m", engines={"a": a, "b": b})
    h.apply("hosts.yaml", hosts_yaml("a", "b"))
    h.apply("web.yaml", manifest(4))
    b.down = True  # and the daemon restarts
    again = Harness(tmp_path / "m", store=h.store, clock=h.clock, engines={"a": a, "b": b})
    again.ctl.restore()
    again.load()
    again.converge()
    assert len([c for c in a.containers.values() if c.running]) == 2  # nothing duplicated
    assert "waiting to list host(s) b" in str(again.status()["message"])
    b.down = False
    again.converge()
    assert len(again.running()) == 4


# --- dynamic host ports ---------------------------------------------------------------------------


def ported(count: int = 3) -> str:
    """Service web of `count` tasks whose container publishes port 80 on a port Skiff picks."""
    app = container("app", image="skiff/busybox:latest", portMappings=[{"containerPort": 80}])
    return dump(td_doc("web", containerDefinitions=[app]), service_doc("web", desiredCount=count))


TAKEN = PortTaken(
    "CannotStartContainerError: Error starting userland proxy: listen tcp4 0.0.0.0:20000: "
    "bind: address already in use"
)


def test_tasks_publish_dynamic_ports_skiff_chose_outside_the_kernels_ephemeral_range(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", ported())
    low, high = h.ctl.port_range
    ports = [p.host_port for c in h.running() for p in c.ports]
    assert len(ports) == 3 and len(set(ports)) == 3
    assert all(p is not None and low <= p <= high for p in ports)
    assert high < 32768  # below Linux's default ip_local_port_range (32768-60999)


def test_a_port_taken_at_start_is_chosen_again_at_once_with_no_relaunch_delay(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.fake.fail("start", TAKEN, times=2)  # e.g. an outgoing connection holds the chosen port
    h.write("web.yaml", ported())
    h.load()
    h.ctl.run_until_idle()  # one pass, no clock advance: the retries happen within it
    assert len(h.running()) == 3
    assert not [c for c in h.fake.containers.values() if not c.running]  # nothing left behind
    assert "delayed" not in str(h.status().get("message"))
    events = [e.action for e in h.store.events("Service", "web", limit=50)]
    assert events.count("task.port_taken") == 2 and "task.start_failed" not in events


def test_a_task_whose_ports_stay_taken_stops_with_dockers_reason(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.fake.fail("start", TAKEN, times=100)
    h.write("web.yaml", ported(1))
    h.load()
    h.ctl.run_until_idle()
    (left,) = h.fake.containers.values()  # the last attempt's container, as Docker left it
    assert left.state == "created" and "address already in use" in left.error
    events = [e.action for e in h.store.events("Service", "web", limit=50)]
    assert events.count("task.port_taken") == 3 and "task.start_failed" in events
