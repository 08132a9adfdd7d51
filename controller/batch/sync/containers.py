"""A Batch job's containers on the pool: how they are named and labelled, launched, found,
stopped and cleared away (output kept first).

Names are fixed per job, attempt and node, so an attempt cannot be created twice on an engine:
a second create (say, after a pass that launched but died before saving) conflicts, and the
next pass adopts what runs instead of starting it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from controller.batch.models.batch import ContainerProperties, JobDefinitionSpec
from controller.batch.needs import job_definition_needs
from controller.batch.planners.jobs import Job, attempt_environment, command_for
from controller.core import labels as L
from controller.core.container_settings import with_linux, with_security
from controller.core.outcomes import Retry
from controller.manifests.container_security import scoped_volume_name
from controller.manifests.policy import problems as policy_problems
from controller.runtime import (
    Conflict,
    ContainerInfo,
    ContainerSpec,
    ImageNotFound,
    NotFound,
    RuntimeFailure,
)
from controller.runtime.types import MountSpec, VolumeSpec

if TYPE_CHECKING:
    from controller.core.context import Context

JOB_LABEL, ATTEMPT_LABEL, NODE_LABEL = "skiff.job", "skiff.job-attempt", "skiff.job-node"
ENVIRONMENT_LABEL = "skiff.job-environment"  # the compute environment the attempt runs in
RESERVED_LABEL = L.RESERVED  # "cpu units,MiB", as instances carry it
STOP_TIMEOUT = 10  # seconds from SIGTERM to SIGKILL, for terminate as for `docker stop`

log = structlog.get_logger("skiff.batch")


@dataclass(frozen=True)
class JobContainer:
    host: str
    info: ContainerInfo

    @property
    def job_id(self) -> str:
        return self.info.labels.get(JOB_LABEL, "")

    @property
    def attempt(self) -> int:
        value = self.info.labels.get(ATTEMPT_LABEL, "0")
        return int(value) if value.isdigit() else 0

    @property
    def node(self) -> int:
        value = self.info.labels.get(NODE_LABEL, "0")
        return int(value) if value.isdigit() else 0

    @property
    def live(self) -> bool:
        """Running, or created and still to start: it holds its reservation."""
        c = self.info
        return c.running or (c.state == "created" and not c.failed_to_start)

    @property
    def ended(self) -> bool:
        return self.info.exited or self.info.failed_to_start


class LaunchFailed(Exception):
    """The attempt could not start, for a reason retrying the launch will not change: the
    attempt fails with `reason` (AWS's CannotPullContainerError, CannotStartContainerError)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImagePulls:
    """Images made present on hosts in the background. A pass holds the Batch lock, so it
    never waits on a pull: cancels, terminates and every other job would wait with it."""

    def __init__(self, on_done: Callable[[Context], None]) -> None:
        self._on_done = on_done
        self._lock = threading.Lock()
        self._ready: set[tuple[str, str]] = set()
        self._pulling: set[tuple[str, str]] = set()
        self._failed: dict[tuple[str, str], str] = {}
        self._threads: list[threading.Thread] = []

    def ready(self, ctl: Context, host: str, image: str) -> bool:
        """True when the image is on the host; else starts (or lets run) its pull and says
        False. Raises LaunchFailed, once, when the pull failed (a later attempt pulls again),
        and RuntimeFailure or Retry when the engine cannot say."""
        key = (host, image)
        with self._lock:
            if key in self._ready:
                return True
            failed = self._failed.pop(key, None)
            if failed is not None:
                raise LaunchFailed(failed)
            if key in self._pulling:
                return False
        if ctl.runtime_for(host).has_image(image):
            with self._lock:
                self._ready.add(key)
            return True
        with self._lock:
            if key in self._pulling:
                return False
            self._pulling.add(key)
        thread = threading.Thread(target=self._pull, args=(ctl, key), name="pull", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return False

    def settle(self, timeout: float) -> None:
        """Waits for the pulls under way (tests, and a daemon stopping)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(timeout)

    def _pull(self, ctl: Context, key: tuple[str, str]) -> None:
        host, image = key
        ready, failed = False, None
        try:
            ctl.runtime_for(host).pull_image(image)
            ready = True
        except ImageNotFound as exc:
            failed = _cannot_pull(exc)
        except (RuntimeFailure, Retry) as exc:  # the engine: tried again on the next pass
            log.warning("job.pull_failed", host=host, image=image, error=str(exc))
        with self._lock:
            self._pulling.discard(key)
            if ready:
                self._ready.add(key)
            if failed is not None:
                self._failed[key] = failed
        if ready or failed is not None:  # (after an engine error, the next poll tries again)
            self._on_done(ctl)


def _cannot_pull(exc: Exception) -> str:
    text = str(exc)
    return (
        text if text.startswith("CannotPullContainerError") else f"CannotPullContainerError: {text}"
    )


def job_containers(ctl: Context) -> dict[str, list[JobContainer]]:
    """Every Batch container the observers see, by job id."""
    out: dict[str, list[JobContainer]] = {}
    for h in list(ctl.hosts.values()):
        for c in h.observer.snapshot():
            if JOB_LABEL in c.labels:
                out.setdefault(c.labels[JOB_LABEL], []).append(JobContainer(h.name, c))
    return out


def network_name(job_id: str, attempt: int) -> str:
    return f"skiff-job-{job_id.replace(':', '-')}-{attempt}"


def launch(
    ctl: Context, job: Job, spec: JobDefinitionSpec, environment: str, hosts: tuple[str, ...]
) -> list[str]:
    """The attempt's containers, created and started. A multi-node job's nodes share a
    network of their own (per host), and the main node starts first so the others learn its
    address. Half a launch is undone. Raises LaunchFailed when the attempt cannot start, and
    RuntimeFailure or Retry when it may on a later pass."""
    refused = policy_problems(job_definition_needs(spec), ctl.settings.policy)
    if refused:  # nothing is created: a definition kept from before a restart, say
        path, message = refused[0]
        raise LaunchFailed(
            f"CannotStartContainerError: {'.'.join(str(p) for p in path)}: {message}"
        )
    made: list[tuple[str, str]] = []
    volumes: list[tuple[str, str]] = []
    nodes = spec.node_properties
    attempt = job.attempt_number
    network = network_name(job.job_id, attempt) if nodes is not None else None
    try:
        if network is not None:
            for host in sorted(set(hosts)):
                ctl.runtime_for(host).create_network(network, L.selector(ctl.settings.cluster))
        order = sorted(range(len(hosts)), key=lambda n: n != (nodes.main_node if nodes else 0))
        main_ip: str | None = None
        for node in order:
            host = hosts[node]
            container = spec.container_properties if nodes is None else nodes.container_for(node)
            assert container is not None
            env = attempt_environment(
                job,
                spec,
                node_index=node if nodes is not None else None,
                num_nodes=len(hosts) if nodes is not None else None,
                main_ip=main_ip if node != order[0] else None,
                compute_environment=environment,
            )
            name = f"{network_name(job.job_id, attempt)}-{node}"
            labels = {
                **L.ownership(ctl.settings.cluster, "JobQueue", job.job_queue),
                JOB_LABEL: job.job_id,
                ATTEMPT_LABEL: str(attempt),
                NODE_LABEL: str(node),
                ENVIRONMENT_LABEL: environment,
                RESERVED_LABEL: f"{int(container.vcpus * 1024)},{container.memory}",
            }
            for volume in attempt_volumes(name, container, labels):
                ctl.runtime_for(host).create_volume(volume)
                volumes.append((host, volume.name))
            command = tuple(command_for(container, job.parameters)) or None
            cid = ctl.runtime_for(host).create(
                container_spec(name, container, labels, command, env, network or "bridge")
            )
            made.append((host, cid))
            ctl.runtime_for(host).start(cid)
            if node == order[0] and nodes is not None:
                main_ip = ctl.runtime_for(host).inspect(cid).ip_address
    except (RuntimeFailure, Retry, ValueError) as exc:
        for host, cid in made:
            remove(ctl, host, cid)
        for host, volume_name in volumes:
            drop_volume(ctl, host, volume_name)
        if network is not None:
            drop_network(ctl, network, hosts)
        if isinstance(exc, ImageNotFound):
            raise LaunchFailed(_cannot_pull(exc)) from exc
        if isinstance(exc, RuntimeFailure) and not exc.transient and not isinstance(exc, Conflict):
            text = str(exc)
            if not text.startswith("Cannot"):
                text = f"CannotStartContainerError: {text}"
            raise LaunchFailed(text) from exc
        if isinstance(exc, ValueError):
            raise LaunchFailed(f"CannotStartContainerError: {exc}") from exc
        raise
    return [cid for _, cid in made]


def attempt_volumes(
    name: str, container: ContainerProperties, labels: dict[str, str]
) -> list[VolumeSpec]:
    """The Docker volumes of an attempt's container (its volumes without a host path, that a
    mount point uses), named after the container: they go when it is cleared away."""
    mounted = {m.source_volume for m in container.mount_points}
    return [
        VolumeSpec(scoped_volume_name(name, v.name), {**labels, L.SCOPE: "task"})
        for v in container.volumes
        if v.source_path is None and v.name in mounted
    ]


def container_spec(
    name: str,
    container: ContainerProperties,
    labels: dict[str, str],
    command: tuple[str, ...] | None,
    env: dict[str, str],
    network: str,
) -> ContainerSpec:
    volumes = {v.name: v for v in container.volumes}
    own = attempt_volumes(name, container, labels)
    spec = ContainerSpec(
        name=name,
        image=container.image,
        labels={**labels, **({L.VOLUMES: ",".join(v.name for v in own)} if own else {})},
        command=command,
        env=env,
        nano_cpus=int(container.vcpus * 1_000_000_000),
        memory_mib=container.memory,
        stop_timeout=STOP_TIMEOUT,
        network_mode=network,
        mounts=tuple(
            MountSpec(
                volumes[m.source_volume].source_path or scoped_volume_name(name, m.source_volume),
                m.container_path,
                m.read_only,
                bind=volumes[m.source_volume].source_path is not None,
            )
            for m in container.mount_points
        ),
    )
    return with_linux(with_security(spec, container), container.linux_parameters)


def signal(ctl: Context, c: JobContainer, name: str) -> None:
    try:
        ctl.runtime_for(c.host).kill(c.info.id, name)
    except (RuntimeFailure, Retry) as exc:
        log.warning("job.signal_failed", container=c.info.id, signal=name, error=str(exc))


def start_if_created(ctl: Context, c: JobContainer) -> None:
    """Starts a container a broken launch left created. The cache may lag behind a start
    already made, and starting an exited container would run the attempt again: Docker is
    asked first."""
    try:
        runtime = ctl.runtime_for(c.host)
        now = runtime.inspect(c.info.id)
        if now.state == "created" and not now.failed_to_start:
            runtime.start(c.info.id)
    except (RuntimeFailure, Retry) as exc:
        log.warning("job.start_failed", container=c.info.id, error=str(exc))


def remove(ctl: Context, host: str, container_id: str) -> None:
    try:
        ctl.runtime_for(host).remove(container_id)
    except NotFound:
        pass
    except (RuntimeFailure, Retry) as exc:
        log.warning("job.remove_failed", container=container_id, error=str(exc))


def clear(ctl: Context, containers: list[JobContainer], *, multinode: bool) -> None:
    """Containers of an attempt that is over: output kept in the store, then stopped (if
    still running) and removed, with a multi-node attempt's network. A container whose output
    cannot be read yet is left for the next pass, which still sees it."""
    for c in containers:
        try:
            text = ctl.runtime_for(c.host).logs(c.info.id)
        except NotFound:
            continue  # already gone: its output was kept when it was removed
        except Retry:
            continue  # its host is not in the pool now: cleared when it is back
        except RuntimeFailure as exc:
            if exc.transient:
                continue  # the engine may answer on the next pass: the output must not be lost
            note = f"(the output could not be read: {exc})\n"
            ctl.store.put_job_log(c.job_id, c.attempt, c.node, note, replace=False)
        else:
            ctl.store.put_job_log(c.job_id, c.attempt, c.node, text)
        if c.info.running:
            signal(ctl, c, "SIGKILL")
        remove(ctl, c.host, c.info.id)
        for volume in L.volumes_of(c.info.labels):
            drop_volume(ctl, c.host, volume)
    if multinode:
        for network, host in sorted(
            {(network_name(c.job_id, c.attempt), c.host) for c in containers}
        ):
            drop_network(ctl, network, [host])


def drop_volume(ctl: Context, host: str, volume: str) -> None:
    try:
        ctl.runtime_for(host).remove_volume(volume)
    except (RuntimeFailure, Retry) as exc:
        log.warning("job.volume_left", volume=volume, host=host, error=str(exc))


def drop_network(ctl: Context, network: str, hosts: Iterable[str]) -> None:
    for host in sorted(set(hosts)):
        try:
            ctl.runtime_for(host).remove_network(network)
        except NotFound:
            pass
        except (RuntimeFailure, Retry) as exc:
            log.warning("job.network_left", network=network, host=host, error=str(exc))
