"""The load balancer sync on an in-memory HAProxy (`FakeDataPlane`), the fake Docker runtime and a
fixed clock: how a service's tasks become targets, are checked, drained and deregistered, and
what the LoadBalancer and TargetGroup statuses tell the user when the data plane refuses
something. No HAProxy process, socket or sleep; time moves only when a test advances it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.catalog import CATALOG, load_directory
from controller.core import labels as L
from controller.core.controller import Controller
from controller.core.settings import Settings
from controller.dataplane.fake import Call, FakeDataPlane, FakeServer
from controller.dataplane.haproxy_names import backup_name, server_name
from controller.elb.sync.load_balancers import DATA_PLANE
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics
from tests.support.builders import FakeClock
from tests.support.documents import (
    container,
    dump,
    load_balancer_doc,
    service_doc,
    target_group_doc,
    td_doc,
)

GROUP, BACKEND = "web", "tg_web"
FRONT, OTHER = 8080, 9090  # listener ports; the fake binds nothing


def service(count: int) -> str:
    """Service web of `count` tasks (container app serving on 8080) behind target group web."""
    app = container(
        "app",
        image="skiff/busybox:latest",
        command=["serve"],
        portMappings=[{"containerPort": 8080}],
    )
    target = {"targetGroup": "web", "containerName": "app", "containerPort": 8080}
    return dump(
        td_doc("web", containerDefinitions=[app]),
        service_doc("web", desiredCount=count, loadBalancers=[target]),
    )


def balancer(*ports: int, delay: int = 30) -> str:
    """Target group web (HTTP checks of /health every 5 s) and load balancer front listening
    on `ports`."""
    check = {
        "path": "/health",
        "intervalSeconds": 5,
        "timeoutSeconds": 2,
        "healthyThresholdCount": 2,
        "unhealthyThresholdCount": 2,
    }
    return dump(
        target_group_doc("web", healthCheck=check, deregistrationDelay=delay),
        load_balancer_doc("front", *ports),
    )


class Harness:
    """The controller on the fake runtime, a fixed clock and the fake data plane."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(exist_ok=True)
        self.clock = FakeClock()
        self.fake = FakeRuntime(clock=self.clock)
        self.dp = FakeDataPlane()
        self.store = Store(":memory:")
        self.ctl = self._controller()

    def _controller(self) -> Controller:
        return Controller(
            self.store,
            Metrics(),
            lambda name, spec: self.fake,
            Settings(parallelism=2),
            clock=self.clock,
            monotonic=self.clock,
            dataplane_factory=lambda: self.dp,
            catalog=CATALOG,
        )

    def restart_daemon(self) -> None:
        """A new daemon on the same engine, store and data plane (HAProxy outlives it)."""
        self.ctl.stop()
        self.ctl = self._controller()
        self.ctl.restore()
        self.load()
        self.converge()

    def apply(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)
        self.load()
        self.converge()

    def delete(self, name: str) -> None:
        (self.root / name).unlink()
        self.load()
        self.converge()

    def load(self) -> None:
        self.ctl.apply_manifests(load_directory(str(self.root)))

    def converge(self, rounds: int = 30) -> None:
        """Resync and reconcile, a second of fixed time per round, until neither Docker nor
        the data plane is told anything new."""
        last = (-1, -1)
        for _ in range(rounds):
            self.ctl.resync()
            self.ctl.run_until_idle()
            now = (len(self.fake.writes()), len(self.dp.calls) + self.dp.starts)
            if now == last:
                return
            last = now
            self.clock.advance(1)
        raise AssertionError("did not converge")

    def one_pass(self) -> None:
        """Exactly one load balancer sync, on what the hosts list now."""
        for handle in self.ctl.hosts.values():
            handle.observer.resync()
        self.ctl.sync(DATA_PLANE)

    def tasks(self) -> dict[str, bool]:
        """Task id -> whether its container runs, for every web task Docker still has."""
        return {
            c.labels[L.TASK]: c.running
            for c in self.fake.containers.values()
            if c.labels.get(L.NAME) == "web" and L.is_managed(c.labels)
        }

    def running(self) -> list[str]:
        return sorted(t for t, up in self.tasks().items() if up)

    def primary(self, task_id: str) -> FakeServer:
        return self.dp.server(BACKEND, server_name(task_id))

    def twin(self, task_id: str) -> FakeServer:
        return self.dp.server(BACKEND, backup_name(task_id))

    def registered(self) -> list[str]:
        """Task ids with a primary server in the target group's backend."""
        names = set(self.dp.backends.get(BACKEND, {}))
        return sorted(t for t in self.tasks() if server_name(t) in names)

    def pass_checks(self) -> None:
        for task_id in self.registered():
            self.dp.check_result(BACKEND, server_name(task_id), True)

    def status(self, kind: str, name: str) -> dict[str, object]:
        return self.ctl.status[(kind, name)].to_json()

    def target_states(self) -> dict[str, str]:
        targets = self.status("TargetGroup", GROUP)["targets"]
        assert isinstance(targets, list)
        return {t["taskId"]: t["state"] for t in targets}


POOL = "pool-max-conn -1 pool-purge-delay 5s"  # idle connections to reuse, kept 5 s


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "m")


def serving(h: Harness, count: int) -> list[str]:
    """A load-balanced service of `count` tasks whose targets passed their checks."""
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(count))
    h.pass_checks()
    h.converge()
    tasks = h.running()
    assert h.target_states() == dict.fromkeys(tasks, "healthy")
    return tasks


def test_running_tasks_register_as_initial_targets_that_get_traffic_only_after_a_passed_check(
    h: Harness,
) -> None:
    h.apply("lb.yaml", balancer(FRONT))
    h.apply("web.yaml", service(2))
    tasks = h.running()
    assert len(tasks) == 2 and h.registered() == tasks
    assert h.target_states() == dict.fromkeys(tasks, "initial")
    for t in tasks:
        # The group's checks; idle connections kept for reuse (none by default for a server
        # added at run time: each request would open a connection through docker-proxy).
        assert h.primary(t).options == "check inter 5s fall 2 rise 2 " + POOL
        assert h.primary(t).checking
        assert h.twin(t).options == "backup " + POOL
        assert (h.primary(t).admin, h.twin(t).admin) == ("drain", "drain")  # no traffic yet
    assert h.status("Service", "web")["healthyCount"] == 0

    h.pass_checks()
    h.converge()
    assert h.target_states() == dict.fromkeys(tasks, "healthy")
    assert all((h.primary(t).admin, h.twin(t).admin) == ("ready", "ready") for t in tasks)
    assert h.status("Service", "web")["healthyCount"] == 2
    assert h.status("LoadBalancer", "front")["status"] == "ACTIVE"


def test_scale_in_drains_a_task_and_stops_it_only_after_its_connections_end(h: Harness) -> None:
    tasks = serving(h, 2)
    for t in tasks:
        h.primary(t).sessions = 1  # a client is mid-request on every target
    h.apply("web.yaml", service(1))
    leaving = next(t for t, st in h.target_states().items() if st == "draining")
    assert h.tasks()[leaving]  # deregistered before it is stopped
    assert (h.primary(leaving).admin, h.twin(leaving).admin) == ("drain", "drain")
    shown = h.status("Service", "web")["tasks"]
    assert isinstance(shown, list)
    assert {t["taskId"]: t["lastStatus"] for t in shown}[leaving] == "DEACTIVATING"

    h.primary(leaving).sessions = 0  # the request finished
    h.one_pass()
    assert leaving not in h.registered()
    assert h.tasks()[leaving]  # out of the load balancer first...
    h.converge()
    assert not h.tasks().get(leaving, False)  # ...then stopped
    assert h.running() == [t for t in tasks if t != leaving]
    assert Call("remove", GROUP, leaving) in h.dp.calls  # its sessions had ended: none was cut
    assert not any(c.detail == "cut" for c in h.dp.calls)


def test_a_deregistered_target_leaves_its_group_at_once_and_is_not_drained_again(
    h: Harness,
) -> None:
    tasks = serving(h, 2)
    for t in tasks:
        h.primary(t).sessions = 1
    h.apply("web.yaml", service(1))
    leaving = next(t for t, st in h.target_states().items() if st == "draining")
    h.primary(leaving).sessions = 0
    h.one_pass()
    assert leaving not in h.registered()
    history = [
        e.action
        for e in h.store.events("TargetGroup", GROUP, limit=100)
        if f"task={leaving}" in e.message
    ]
    assert history == ["target.register", "target.drain", "target.deregister"]
    assert leaving not in h.target_states()


def test_the_deregistration_delay_cuts_connections_that_never_end(h: Harness) -> None:
    tasks = serving(h, 2)
    for t in tasks:
        h.primary(t).sessions = 1  # a long poll that never ends
    h.apply("web.yaml", service(1))
    leaving = next(t for t, st in h.target_states().items() if st == "draining")
    h.clock.advance(20)
    h.converge()
    assert h.tasks()[leaving] and h.target_states()[leaving] == "draining"  # 30 s not over

    h.clock.advance(10)
    h.converge()
    assert Call("remove", GROUP, leaving, "cut") in h.dp.calls
    assert leaving not in h.registered()
    assert not h.tasks().get(leaving, False)
    assert len(h.running()) == 1


def test_after_a_reload_a_draining_target_waits_for_the_old_process_to_finish(
    h: Harness,
) -> None:
    tasks = serving(h, 2)
    for t in tasks:
        h.primary(t).sessions = 1
    h.apply("web.yaml", service(1))
    leaving = next(t for t, st in h.target_states().items() if st == "draining")
    h.dp.old_workers = 1  # the process before the reload still serves the leaving target
    h.apply("lb.yaml", balancer(FRONT, OTHER))
    assert h.dp.reloads == 1
    assert h.primary(leaving).sessions == 0  # the new process has none of the old's sessions
    assert h.tasks()[leaving] and h.target_states()[leaving] == "draining"

    h.dp.old_workers = 0  # its requests are done; the old process exits
    h.converge()
    assert leaving not in h.registered()
    assert not h.tasks().get(leaving, False)


def test_a_listener_the_data_plane_refuses_is_left_out_and_reported_while_others_serve(
    h: Harness,
) -> None:
    serving(h, 1)
    h.dp.refuse = lambda text: (
        f"[ALERT] cannot bind socket [127.0.0.1:{OTHER}]" if f":{OTHER}\n" in text else None
    )
    h.apply("lb.yaml", balancer(FRONT, OTHER))
    h.apply("web.yaml", service(2))

    st = h.status("LoadBalancer", "front")
    assert st["status"] == "ERROR"
    assert st["message"] == (
        f"listener {OTHER}: the configuration was refused: "
        f"[ALERT] cannot bind socket [127.0.0.1:{OTHER}]"
    )
    listeners = st["listeners"]
    assert isinstance(listeners, list)
    assert {x["port"]: x["state"] for x in listeners} == {FRONT: "active", OTHER: "failed"}
    assert f"bind 127.0.0.1:{FRONT}" in h.dp.config
    assert f"bind 127.0.0.1:{OTHER}" not in h.dp.config
    assert h.dp.alive and ("LoadBalancer", "*") not in h.ctl.status  # the data plane is fine
    assert len(h.running()) == 2 and h.registered() == h.running()  # targets still move


def test_a_refused_target_command_is_reported_on_its_group_and_retried_next_pass(
    h: Harness,
) -> None:
    (old,) = serving(h, 1)
    (h.root / "web.yaml").write_text(service(3))
    h.load()
    h.ctl.sync(("Service", "web"))  # two tasks start; no load balancer pass yet
    unlucky, lucky = (t for t in h.running() if t != old)
    h.dp.fail("add", GROUP, unlucky, "Backend is full.")

    h.one_pass()
    st = h.status("TargetGroup", GROUP)
    assert st["message"] == f"target {unlucky}: Backend is full."
    assert h.registered() == sorted([old, lucky])
    assert h.target_states()[old] == "healthy" and h.primary(old).admin == "ready"

    h.one_pass()
    assert h.status("TargetGroup", GROUP)["message"] == ""
    assert h.registered() == sorted([old, lucky, unlucky])
    assert h.target_states()[unlucky] == "initial"


def test_when_every_target_fails_its_checks_the_backup_twins_keep_serving(h: Harness) -> None:
    tasks = serving(h, 2)
    for t in tasks:
        h.dp.check_result(BACKEND, server_name(t), False)
    h.one_pass()
    assert h.target_states() == dict.fromkeys(tasks, "unhealthy")
    assert all(h.twin(t).admin == "ready" for t in tasks)  # ALB's fail open


def test_a_data_plane_that_died_is_started_again_with_every_target_still_in_service(
    h: Harness,
) -> None:
    tasks = serving(h, 2)
    h.dp.stop()  # HAProxy was killed
    h.converge()
    assert h.dp.alive and h.dp.starts == 2
    assert h.target_states() == dict.fromkeys(tasks, "healthy")  # no new check needed
    assert all((h.primary(t).admin, h.twin(t).admin) == ("ready", "ready") for t in tasks)
    assert h.status("Service", "web")["healthyCount"] == 2


def test_a_restarted_daemon_adopts_the_running_data_plane_without_a_reload_or_command(
    h: Harness,
) -> None:
    tasks = serving(h, 2)
    calls, writes = len(h.dp.calls), len(h.fake.writes())
    h.restart_daemon()
    assert (h.dp.starts, h.dp.reloads) == (1, 0)
    assert len(h.dp.calls) == calls and len(h.fake.writes()) == writes
    assert h.target_states() == dict.fromkeys(tasks, "healthy")
    assert h.status("Service", "web")["healthyCount"] == 2


def test_deleting_the_load_balancer_and_target_group_forgets_them_and_stops_the_data_plane(
    h: Harness,
) -> None:
    tasks = serving(h, 2)
    writes = len(h.fake.writes())
    h.delete("lb.yaml")
    assert ("LoadBalancer", "front") not in h.ctl.status
    assert ("TargetGroup", GROUP) not in h.ctl.status
    assert ("LoadBalancer", "*") not in h.ctl.status
    assert not h.dp.alive and h.dp.backends == {}
    assert h.ctl.target_states == {}
    assert h.running() == tasks and len(h.fake.writes()) == writes  # the tasks are untouched
