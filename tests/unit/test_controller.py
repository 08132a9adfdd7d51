"""The whole controller on the fake runtime with a fixed clock: manifests in, containers out."""

from __future__ import annotations

import textwrap
from pathlib import Path

from controller.engine.controller import Controller, Settings
from controller.manifests.loader import load_directory
from controller.metrics import Metrics
from controller.reconcilers.task_containers import TaskIdentity, container_specs
from controller.runtime import ContainerInfo, EngineUnavailable
from controller.runtime.fake import FakeRuntime
from controller.state import labels as L
from controller.store import Store
from tests.builders import T0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def manifest(count: int = 5, command: str = "serve", image: str = "skiff/busybox:latest") -> str:
    return textwrap.dedent(f"""\
        apiVersion: skiff/v1
        kind: TaskDefinition
        metadata: {{name: web}}
        spec:
          containerDefinitions:
            - name: app
              image: {image}
              command: [{command}]
              memory: 64
        ---
        apiVersion: skiff/v1
        kind: Service
        metadata: {{name: web}}
        spec:
          taskDefinition: web
          desiredCount: {count}
        """)


class Harness:
    def __init__(
        self,
        root: Path,
        fake: FakeRuntime | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(exist_ok=True)
        self.clock = clock or Clock()
        self.fake = fake or FakeRuntime(clock=self.clock)
        self.store = store or Store(":memory:")
        self.ctl = Controller(
            self.store,
            Metrics(),
            lambda name, spec: self.fake,
            Settings(parallelism=2),
            clock=self.clock,
            monotonic=self.clock,
        )

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def load(self) -> None:
        self.ctl.apply_manifests(load_directory(str(self.root)))

    def converge(self, rounds: int = 30) -> None:
        """Resync and reconcile until a round makes no Docker write (the fake stops changing)."""
        last = -1
        for _ in range(rounds):
            self.ctl.resync()
            self.ctl.run_until_idle()
            if len(self.fake.writes()) == last:
                return
            last = len(self.fake.writes())
            self.clock.advance(1)
        raise AssertionError("did not converge")

    def running(self, owner: str = "web") -> list[ContainerInfo]:
        return [
            c
            for c in self.fake.containers.values()
            if c.running and c.labels.get(L.NAME) == owner and L.is_managed(c.labels)
        ]

    def status(self, kind: str = "Service", name: str = "web") -> dict[str, object]:
        return self.ctl.status[(kind, name)].to_json()


def test_a_service_converges_to_five_running_tasks_with_ownership_labels(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(5))
    h.load()
    h.converge()
    running = h.running()
    assert len(running) == 5
    assert {c.labels[L.REVISION] for c in running} == {"web:1"}
    assert all(c.labels[L.KIND] == "Service" and c.labels[L.CONTAINER] == "app" for c in running)
    assert len({c.labels[L.TASK] for c in running}) == 5
    st = h.status()
    assert (st["desiredCount"], st["runningCount"], st["steadyState"]) == (5, 5, True)


def test_restarting_a_converged_daemon_makes_no_docker_writes(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(3))
    h.load()
    h.converge()
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
    h.write("web.yaml", manifest(2))
    h.load()
    h.converge()
    h.write("web.yaml", manifest(0))
    h.load()
    h.converge()
    assert h.fake.containers[lookalike].running
    assert not any(arg == lookalike for _, arg in h.fake.writes())


def test_a_task_whose_container_is_killed_is_replaced(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(3))
    h.load()
    h.converge()
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
    h.write("web.yaml", manifest(3, command="v1"))
    h.load()
    h.converge()
    h.write("web.yaml", manifest(3, command="v2"))
    h.load()
    h.converge()
    assert [r.key for r in h.store.revisions("web")] == ["web:1", "web:2"]
    assert {c.labels[L.REVISION] for c in h.running()} == {"web:2"}
    assert len(h.running()) == 3
    assert h.status("TaskDefinition", "web")["latestRevision"] == "web:2"


def test_an_invalid_edit_keeps_the_last_valid_version_running(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(2))
    h.write("other.yaml", manifest(1).replace("name: web", "name: api"))
    h.load()
    h.converge()
    before = {c.id for c in h.running()}
    h.write("web.yaml", manifest(2).replace("desiredCount: 2", "desiredCount: -4"))
    h.load()
    h.converge()
    assert {c.id for c in h.running()} == before
    assert "desiredCount" in str(h.status()["manifestError"])
    assert len(h.running("api")) == 1


def test_a_file_that_no_longer_parses_keeps_its_resources_even_after_a_restart(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(2))
    h.load()
    h.converge()
    h.write("web.yaml", "apiVersion: skiff/v1\nkind: [unclosed\n")
    again = Harness(tmp_path / "m", fake=h.fake, store=h.store, clock=h.clock)
    again.ctl.restore()
    again.load()
    again.converge()
    assert len(again.running()) == 2


def test_deleting_the_manifest_removes_everything_it_owned(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(3))
    h.load()
    h.converge()
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
    h.write("web.yaml", manifest(4))
    h.load()
    h.converge()
    assert len(h.running()) == 4
    assert len({c.labels[L.TASK] for c in h.fake.containers.values()}) == 4


def test_a_restart_after_a_crash_mid_launch_starts_what_was_created_without_duplicates(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(3))
    h.load()
    h.converge()
    # The daemon died right after creating a fourth task's container, before starting it.
    rev = h.ctl.revision("web:1")
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
    h.write("web.yaml", manifest(2, command="v1"))
    h.load()
    h.converge()
    h.write("web.yaml", manifest(3, command="v2"))
    h.load()
    h.converge()
    created = [s.labels[L.REVISION] for s in h.fake.specs.values()]
    assert sorted(created) == ["web:1", "web:1", "web:2", "web:2", "web:2"]


def test_a_service_pinned_to_a_revision_keeps_it_when_the_family_moves_on(tmp_path: Path) -> None:
    h = Harness(tmp_path / "m")
    h.write("web.yaml", manifest(2, command="v1"))
    h.load()
    h.converge()
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
    h.write("web.yaml", manifest(2))
    h.load()
    h.converge()
    h.write("web.yaml", manifest(5).replace("taskDefinition: web", "taskDefinition: web:7"))
    h.load()
    h.converge()
    assert len(h.running()) == 2
    st = h.status()
    assert (st["status"], st["message"]) == ("ERROR", "task definition web:7 does not exist")
