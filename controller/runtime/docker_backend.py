"""The Docker SDK backend of `ContainerRuntime`: the only module that talks to dockerd.

It uses the SDK's low-level APIClient (one HTTP call per operation, no hidden inspects) and
turns every Docker or transport exception into a `RuntimeFailure`.

The mapping of Docker's errors is docker_errors; of its answers (inspect, stats, events)
docker_responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import docker
import docker.errors
import docker.tls
import docker.utils

from controller.runtime.cgroups import CgroupReader, is_local
from controller.runtime.docker_connections import one_pool_per_engine
from controller.runtime.docker_errors import call_docker, start_failure
from controller.runtime.docker_responses import NANO, DockerEvents, container_info, container_stats
from controller.runtime.errors import (
    Conflict,
    EngineUnavailable,
    ImageNotFound,
    InvalidRequest,
    NotFound,
    RuntimeFailure,
    StartFailed,
)
from controller.runtime.types import (
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    VolumeSpec,
    is_user_network,
    publishes_ports,
)

T = TypeVar("T")
_ONE_SHOT_API = "1.41"  # stats?one-shot=true: one reading at once instead of two a second apart


class DockerRuntime:
    def __init__(
        self,
        url: str | None = None,
        *,
        tls: dict[str, Any] | None = None,
        timeout: float = 60,
        pool_size: int = 16,
    ) -> None:
        """url None: DOCKER_HOST or the default socket, like the docker CLI."""
        try:
            if url is None:
                env = docker.utils.kwargs_from_env()
                url = env.pop("base_url", None) or "unix:///var/run/docker.sock"
                tls_config = env.get("tls")
            else:
                tls_config = _tls_config(tls) if tls else None
            self.url = url
            self._api = docker.APIClient(
                base_url=url,
                version="1.41",
                timeout=int(timeout),
                tls=tls_config or False,
                max_pool_size=pool_size,
                use_ssh_client=url.startswith("ssh://"),
            )
            one_pool_per_engine(self._api)
            if tls_config:
                # requests lets REQUESTS_CA_BUNDLE override a session's own CA (psf/requests
                # #3829), which would silently replace the Host's caCert: ignore the environment.
                self._api.trust_env = False
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot connect to {url}: {exc}") from exc

    def info(self) -> EngineInfo:
        data = self._call(self._api.info)
        return EngineInfo(
            name=data.get("Name", ""),
            server_version=data.get("ServerVersion", ""),
            cpus=int(data.get("NCPU", 1)),
            memory_bytes=int(data.get("MemTotal", 0)),
        )

    def ping(self) -> None:
        self._call(self._api.ping)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerSummary]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        rows = self._call(lambda: self._api.containers(all=True, filters=filters))
        return [
            ContainerSummary(
                id=row["Id"],
                name=(row.get("Names") or ["/"])[0].lstrip("/"),
                labels=row.get("Labels") or {},
                state=row.get("State", ""),
                status=row.get("Status", ""),
            )
            for row in rows
        ]

    def inspect(self, container_id: str) -> ContainerInfo:
        data = self._call(lambda: self._api.inspect_container(container_id))
        return container_info(data)

    def create(self, spec: ContainerSpec) -> str:
        try:
            return self._create(spec)
        except ImageNotFound:
            self._pull(spec.image)
            return self._create(spec)

    def _create(self, spec: ContainerSpec) -> str:
        bridge = publishes_ports(spec.network_mode)
        host_config = self._api.create_host_config(
            network_mode=spec.network_mode,
            port_bindings={
                f"{p.container_port}/{p.protocol}": p.host_port or None for p in spec.ports
            }
            if bridge
            else None,
            cpu_shares=spec.cpu_shares,
            mem_limit=f"{spec.memory_mib}m" if spec.memory_mib else None,
            mem_reservation=f"{spec.memory_reservation_mib}m"
            if spec.memory_reservation_mib
            else None,
            nano_cpus=spec.nano_cpus,
            binds=_binds(spec) or None,
            tmpfs={t.path: t.docker_options() for t in spec.tmpfs} or None,
            **_security(spec),
        )
        healthcheck = None
        if spec.healthcheck:
            hc = spec.healthcheck
            healthcheck = {
                "test": list(hc.test),
                "interval": int(hc.interval * NANO),
                "timeout": int(hc.timeout * NANO),
                "retries": hc.retries,
                "start_period": int(hc.start_period * NANO),
            }
        result = self._call(
            lambda: self._api.create_container(
                image=spec.image,
                name=spec.name,
                command=list(spec.command) if spec.command is not None else None,
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
                environment=dict(spec.env) or None,
                labels=dict(spec.labels),
                working_dir=spec.working_dir,
                user=spec.user,
                ports=[(p.container_port, p.protocol) for p in spec.ports] if bridge else None,
                host_config=host_config,
                healthcheck=healthcheck,
                stop_timeout=spec.stop_timeout,
            )
        )
        return str(result["Id"])

    def has_image(self, image: str) -> bool:
        try:
            self._call(lambda: self._api.inspect_image(image))  # type: ignore[no-untyped-call]
        except (NotFound, ImageNotFound):
            return False
        return True

    def pull_image(self, image: str) -> None:
        self._pull(image)

    def _pull(self, image: str) -> None:
        repository, tag = docker.utils.parse_repository_tag(image)  # also name@sha256:digest
        try:
            self._call(lambda: self._api.pull(repository, tag=tag or "latest"))
        except RuntimeFailure as exc:
            raise ImageNotFound(f"CannotPullContainerError: {image}: {exc}") from exc

    def start(self, container_id: str) -> None:
        try:
            self._call(lambda: self._api.start(container_id))
        except RuntimeFailure as exc:
            raise start_failure(exc) from exc

    def restart(self, container_id: str, timeout: int = 10) -> None:
        try:
            self._call(lambda: self._api.restart(container_id, timeout=timeout))
        except (InvalidRequest, Conflict) as exc:
            raise StartFailed(f"CannotStartContainerError: {exc}") from exc

    def kill(self, container_id: str, signal: str) -> None:
        try:
            self._call(lambda: self._api.kill(container_id, signal=signal))
        except Conflict:
            pass  # not running: already what we wanted

    def remove(self, container_id: str) -> None:
        try:
            self._call(lambda: self._api.remove_container(container_id, force=True, v=True))
        except (NotFound, Conflict):
            pass  # gone, or removal already in progress

    def create_volume(self, spec: VolumeSpec) -> None:
        self._call(
            lambda: self._api.create_volume(
                spec.name,
                driver=spec.driver,
                driver_opts=dict(spec.driver_opts) or None,
                labels=dict(spec.labels),
            )
        )

    def has_volume(self, name: str) -> bool:
        try:
            self._call(lambda: self._api.inspect_volume(name))
        except NotFound:
            return False
        return True

    def volume(self, name: str) -> VolumeSpec | None:
        try:
            data = self._call(lambda: self._api.inspect_volume(name))
        except NotFound:
            return None
        return VolumeSpec(
            str(data.get("Name") or name),
            dict(data.get("Labels") or {}),
            driver=str(data.get("Driver") or "local"),
            driver_opts={str(k): str(v) for k, v in (data.get("Options") or {}).items()},
        )

    def remove_volume(self, name: str) -> None:
        try:
            self._call(lambda: self._api.remove_volume(name, force=True))
        except NotFound:
            pass

    def stats(self, container_id: str) -> ContainerStats:
        # Without one-shot, dockerd discards its collector's first round to fill `precpu_stats`
        # and answers with the second (one to two seconds); Skiff computes rates from its own
        # successive samples. One-shot still waits for the next round (up to a second; a round
        # serves every container being waited for, so concurrent calls share it).
        one_shot = not docker.utils.version_lt(self._api.api_version, _ONE_SHOT_API)
        data = self._call(
            lambda: self._api.stats(container_id, stream=False, one_shot=True if one_shot else None)
        )
        return container_stats(container_id, data)

    def cgroups(self) -> CgroupReader | None:
        # An engine on this machine: its containers' counters are files here (made once).
        if not hasattr(self, "_cgroups"):
            reader = CgroupReader() if is_local(self.url) else None
            self._cgroups = reader if reader is not None and reader.available else None
        return self._cgroups

    def logs(self, container_id: str, tail: int | None = None) -> str:
        data = self._call(
            lambda: self._api.logs(
                container_id,
                stdout=True,
                stderr=True,
                stream=False,
                tail="all" if tail is None else tail,
            )
        )
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        if not is_user_network(name):
            raise InvalidRequest(f"{name!r} is a predefined network mode, not a user network")
        try:
            result = self._call(
                lambda: self._api.create_network(
                    name, driver="bridge", labels=dict(labels), check_duplicate=True
                )
            )
            return str(result["Id"])
        except Conflict:  # it exists already (maybe created concurrently): reuse it
            return str(self._call(lambda: self._api.inspect_network(name))["Id"])

    def remove_network(self, name: str) -> None:
        try:
            self._call(lambda: self._api.remove_network(name))
        except NotFound:
            pass
        except InvalidRequest as exc:
            if "active endpoints" in str(exc):  # dockerd says 403 while containers run on it
                raise Conflict(str(exc)) from exc
            raise

    def events(self, since: float | None, labels: Mapping[str, str]) -> DockerEvents:
        filters = {"type": ["container"], "label": [f"{k}={v}" for k, v in labels.items()]}
        stream = self._call(
            lambda: self._api.events(  # type: ignore[call-overload]
                # Docker takes seconds with a nanosecond fraction; the SDK passes it through.
                since=f"{since:.9f}" if since is not None else None,
                filters=filters,
                decode=True,
            )
        )
        return DockerEvents(stream)

    def close(self) -> None:
        self._api.close()

    def _call(self, fn: Callable[[], T]) -> T:
        return call_docker(fn)


def _binds(spec: ContainerSpec) -> list[str]:
    """Docker's Binds, `source:target:mode`: named volumes, and host paths Docker creates when
    missing, as ECS's host volumes are. Paths were checked to hold no ':' or ','."""
    binds = [f"{name}:{path}:rw" for name, path in spec.volumes]
    return binds + [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts]


def _security(spec: ContainerSpec) -> dict[str, Any]:
    """The HostConfig of the container's user-facing security and mount settings; every value
    goes in a field of its own (lists and maps), never through an option string."""
    return {
        "privileged": spec.privileged,
        "read_only": spec.read_only_rootfs or None,
        "cap_add": list(spec.cap_add) or None,
        "cap_drop": list(spec.cap_drop) or None,
        "devices": [
            {
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": d.permissions,
            }
            for d in spec.devices
        ]
        or None,
        "ulimits": [
            docker.types.Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in spec.ulimits
        ]
        or None,
        "extra_hosts": [f"{host}:{ip}" for host, ip in spec.extra_hosts] or None,
        "dns": list(spec.dns) or None,
        "init": spec.init or None,
        "shm_size": f"{spec.shm_size_mib}m" if spec.shm_size_mib else None,
        "volumes_from": [f"{c}:{'ro' if ro else 'rw'}" for c, ro in spec.volumes_from] or None,
        "pid_mode": spec.pid_mode,
        "ipc_mode": spec.ipc_mode,
    }


def _tls_config(tls: dict[str, Any]) -> docker.tls.TLSConfig:
    cert = (tls["clientCert"], tls["clientKey"]) if tls.get("clientCert") else None
    return docker.tls.TLSConfig(
        client_cert=cert, ca_cert=tls.get("caCert"), verify=tls.get("verify", True)
    )
