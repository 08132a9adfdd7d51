"""ECS's task executor: the only writer of tasks. It carries out a service plan on the hosts'
runtimes, through the core's `run_each`.

Launches run on a shared thread pool in slow-start batches (the first as wide as the pool,
then doubling) and stop at the first failing batch, so one broken resource never floods Docker.
Every write records its expectation first and its outcome in the action log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from controller.core.actions import ActionLog
from controller.core.executor import PORT_ATTEMPTS, Failure, run_each
from controller.core.host_ports import HostPorts, PortKey
from controller.core.labels import DEFAULT_CLUSTER
from controller.core.outcomes import Retry
from controller.ecs.models.task_definition import has_sandbox, start_order
from controller.ecs.planners.service import InFlight
from controller.ecs.planners.service_plan import RemoveTask, ServicePlan, StopTask
from controller.ecs.planners.task_containers import (
    TaskIdentity,
    container_specs,
    pause_spec,
    task_volumes,
)
from controller.ecs.planners.task_definition import ResolvedRevision
from controller.ecs.planners.task_state import STOPPED, TaskView, expected_containers
from controller.ecs.sync.expectations import Expectations
from controller.runtime import (
    ContainerRuntime,
    InvalidRequest,
    PortTaken,
    RuntimeFailure,
    StartFailed,
)
from controller.store import Store, StoreFailure, TaskRecord

KIND = "Service"
T = TypeVar("T")
# (host, [(containerPort, protocol)], host ports to avoid) -> a free host port for each
ChoosePorts = Callable[[str, Sequence[tuple[int, str]], Collection[PortKey]], HostPorts]


class _NotStarted(Exception):
    """A task's containers were created, and one would not start."""

    def __init__(self, error: StartFailed, created: list[str]) -> None:
        super().__init__(str(error))
        self.error, self.created = error, created


class Executor:
    def __init__(
        self,
        runtime: Callable[[str], ContainerRuntime],
        store: Store,
        expectations: Expectations,
        actions: ActionLog,
        pool: ThreadPoolExecutor,
        *,
        parallelism: int,
        pause_image: str | None = None,
        cluster: str = DEFAULT_CLUSTER,
        clock: Callable[[], float] = time.time,
        choose_ports: ChoosePorts | None = None,
    ) -> None:
        self._runtime, self._store, self._expect = runtime, store, expectations
        self._actions, self._pool, self._parallelism = actions, pool, parallelism
        self._pause_image, self._cluster, self._clock = pause_image, cluster, clock
        self._choose_ports = choose_ports or (lambda host, wanted, avoid: ())

    def run(
        self,
        owner: str,
        plan: ServicePlan,
        flights: Sequence[InFlight],
        revisions: Mapping[str, ResolvedRevision],
    ) -> list[Failure]:
        """Carries out `plan`; `flights` are its launches, already reserved with ids."""
        key = (KIND, owner)
        views = {t.id: t for t in plan.tasks}
        failures: list[Failure] = []
        try:
            self._record_stops(owner, plan, views)
        except StoreFailure:
            self._abandon(owner, flights)  # nothing was written to Docker; launch nothing
            raise
        failures += self._each(plan.stop, lambda s: self._signal(owner, s))
        failures += self._each(plan.kill, lambda s: self._signal(owner, s))
        failures += self._each(
            plan.start, lambda s: self._start(owner, s.task_id, s.host, s.container_ids)
        )
        failures += self._launch_all(owner, flights, revisions)
        # Cleanup last: a replacement does not wait for an older stopped task's `docker rm`.
        for r in plan.remove:
            self._expect.expect_removal(key, r.container_ids)
        removals = self._each(plan.remove, lambda r: self._remove(owner, r))
        failures += [replace(f, cleanup=True) for f in removals]
        return failures

    def _record_stops(self, owner: str, plan: ServicePlan, views: Mapping[str, TaskView]) -> None:
        """Stores the stop decisions before any Docker call, so a restart knows them."""
        now = self._clock()
        if plan.mark_stopped:
            self._store.put_tasks(
                [self._record(owner, views[m.task_id], m.reason, None) for m in plan.mark_stopped]
            )
            for m in plan.mark_stopped:
                self._actions.record(KIND, owner, "task.stopped", m.reason, task=m.task_id)
        if plan.deactivate:
            self._store.put_tasks(
                [self._record(owner, views[d.task_id], d.reason, None) for d in plan.deactivate]
            )
            for d in plan.deactivate:
                self._actions.record(KIND, owner, "task.deactivate", d.reason, task=d.task_id)
        if plan.stop:
            self._store.put_tasks(
                [self._record(owner, views[s.task_id], s.reason, now) for s in plan.stop]
            )

    def _record(self, owner: str, t: TaskView, reason: str, requested: float | None) -> TaskRecord:
        return TaskRecord(
            t.id, KIND, owner, t.revision, t.host, STOPPED, t.created_at, reason, requested
        )

    def _each(self, items: Sequence[T], job: Callable[[T], None]) -> list[Failure]:
        return run_each(self._pool, items, job)

    def _signal(self, owner: str, s: StopTask) -> None:
        runtime = self._runtime(s.host)
        for cid in s.container_ids:
            runtime.kill(cid, s.signal)
        action = "task.stop" if s.signal == "SIGTERM" else "task.kill"
        self._actions.record(
            KIND, owner, action, s.reason, task=s.task_id, host=s.host, signal=s.signal
        )

    def _remove(self, owner: str, r: RemoveTask) -> None:
        task_id, host = r.task_id, r.host
        try:
            runtime = self._runtime(host)
            for cid in reversed(r.container_ids):
                runtime.remove(cid)
            for volume in r.volumes:  # scope task: the volume goes with the task
                runtime.remove_volume(volume)
        except (RuntimeFailure, Retry):
            self._expect.removal_failed((KIND, owner), r.container_ids)
            raise
        self._store.delete_tasks([task_id])
        self._actions.record(
            KIND,
            owner,
            "task.remove",
            "stopped task cleaned up",
            keep=False,
            task=task_id,
            host=host,
        )

    def _start(self, owner: str, task_id: str, host: str, container_ids: Sequence[str]) -> None:
        runtime = self._runtime(host)
        self._expect.expect_started((KIND, owner), container_ids)
        for i, cid in enumerate(container_ids):
            try:
                runtime.start(cid)
            except StartFailed as exc:
                self._actions.record(
                    KIND, owner, "container.start_failed", str(exc), level="warning", task=task_id
                )
                return
            except RuntimeFailure:  # the engine did not answer: these were never started
                self._expect.start_failed((KIND, owner), container_ids[i:])
                raise
        self._actions.record(
            KIND,
            owner,
            "task.start_containers",
            "dependencies met",
            keep=False,
            task=task_id,
            containers=len(container_ids),
        )

    # --- launches ------------------------------------------------------------------------------
    def _launch_all(
        self, owner: str, flights: Sequence[InFlight], revisions: Mapping[str, ResolvedRevision]
    ) -> list[Failure]:
        if not flights:
            return []
        failures: list[Failure] = []
        batch, at = self._parallelism, 0
        while at < len(flights):
            chunk = flights[at : at + batch]
            at += len(chunk)
            results = self._each(chunk, lambda f: self._launch(owner, f, revisions[f.revision]))
            failures += results
            if results:
                self._abandon(owner, flights[at:])  # an earlier launch in this pass failed
                break
            batch *= 2
        return failures

    def _abandon(self, owner: str, flights: Sequence[InFlight]) -> None:
        """Launches that will not happen: nothing is expected of them any more."""
        for f in flights:
            self._expect.launch_done((KIND, owner), f.task_id)
        if not flights:
            return
        try:
            self._store.delete_tasks([f.task_id for f in flights])
        except StoreFailure:
            pass  # records of tasks that never ran: the service's next pass prunes them

    def _launch(self, owner: str, flight: InFlight, rev: ResolvedRevision) -> None:
        """Creates and starts a task's containers. A dynamic host port something else took
        meanwhile is chosen again at once, the task launched anew on other ports."""
        tried: set[PortKey] = set()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._create_task(owner, flight, rev)
                break
            except _NotStarted as failed:
                why = str(failed.error)
                taken = isinstance(failed.error, PortTaken)
                if not (attempt < PORT_ATTEMPTS and taken and flight.host_ports):
                    # The containers stay: the task shows as STOPPED with the reason (and logs).
                    self._launch_event(owner, "task.start_failed", why, flight, rev.key, "warning")
                    raise failed.error from None
                flight = self._other_ports(owner, flight, rev, tried, failed)
        self._launch_event(owner, "task.launch", "desired count not met", flight, rev.key)

    def _other_ports(
        self,
        owner: str,
        flight: InFlight,
        rev: ResolvedRevision,
        tried: set[PortKey],
        failed: _NotStarted,
    ) -> InFlight:
        """Clears a launch whose host port was taken; the same task on new ports."""
        runtime = self._runtime(flight.host)
        for cid in reversed(failed.created):
            runtime.remove(cid)
        tried |= {(hp, proto) for _, proto, hp in flight.host_ports}
        wanted = [(cp, proto) for cp, proto, _ in flight.host_ports]
        moved = replace(flight, host_ports=self._choose_ports(flight.host, wanted, tried))
        self._expect.expect_launch((KIND, owner), moved, len(expected_containers(rev.spec)))
        self._launch_event(owner, "task.port_taken", str(failed.error), flight, rev.key, "warning")
        return moved

    def _create_task(self, owner: str, flight: InFlight, rev: ResolvedRevision) -> None:
        ident = TaskIdentity(
            self._cluster, KIND, owner, flight.task_id, rev.key, rev.spec_hash, flight.config
        )
        runtime = self._runtime(flight.host)
        created: list[str] = []
        volumes = task_volumes(ident, rev.spec)
        made: list[str] = []
        try:
            for name in volumes.must_exist:
                if not runtime.has_volume(name):
                    raise InvalidRequest(
                        f"CannotCreateContainerError: shared volume {name} does not exist and "
                        "autoprovision is false: create it first (docker volume create)"
                    )
            for volume in volumes.create:
                runtime.create_volume(volume)
                if volume.name in volumes.scoped:
                    made.append(volume.name)
            pause_id = None
            ports = {(cp, proto): hp for cp, proto, hp in flight.host_ports}
            if has_sandbox(rev.spec):
                pause_id = runtime.create(pause_spec(ident, rev.spec, self._pause_image, ports))
                created.append(pause_id)
                runtime.start(pause_id)
            ids = {}
            for name, spec in zip(
                start_order(rev.spec),
                container_specs(ident, rev.spec, pause_id, ports),
                strict=True,
            ):
                ids[name] = runtime.create(spec)
                created.append(ids[name])
            for name in start_order(rev.spec):
                if not rev.spec.container(name).depends_on:
                    runtime.start(ids[name])
        except StartFailed as exc:
            raise _NotStarted(exc, created) from exc  # the caller decides what becomes of them
        except RuntimeFailure as exc:
            for cid in reversed(created):
                try:
                    runtime.remove(cid)
                except RuntimeFailure:
                    pass  # the engine is failing; the next pass sees what is left
            for name in made:
                try:
                    runtime.remove_volume(name)
                except RuntimeFailure:
                    pass
            self._abandon(owner, [flight])
            self._launch_event(owner, "task.launch_failed", str(exc), flight, rev.key, "warning")
            raise

    def _launch_event(
        self,
        owner: str,
        action: str,
        reason: str,
        flight: InFlight,
        revision: str,
        level: str = "info",
    ) -> None:
        self._actions.record(
            KIND,
            owner,
            action,
            reason,
            level=level,
            task=flight.task_id,
            host=flight.host,
            revision=revision,
        )
