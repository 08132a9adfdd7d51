"""The Docker SDK backend of `ContainerRuntime`: the only module that talks to dockerd.

It uses the SDK's low-level APIClient (one HTTP call per operation, no hidden inspects) and
turns every Docker or transport exception into a `RuntimeFailure`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import docker
import docker.errors
import docker.tls
import docker.utils
import requests

from controller.runtime.errors import (
    Conflict,
    EngineUnavailable,
    ImageNotFound,
    InvalidRequest,
    NotFound,
    PortTaken,
    RuntimeFailure,
    StartFailed,
)
from controller.runtime.types import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    ContainerStats,
    ContainerSummary,
    EngineInfo,
    PortBinding,
    VolumeSpec,
    is_user_network,
    publishes_ports,
)

T = TypeVar("T")
_NANO = 1_000_000_000
_ONE_SHOT_API = "1.41"  # stats?one-shot=true: one reading at once instead of two a second apart
# dockerd resolves a container's user network only at start, and answers 404 when it is gone.
_NETWORK_NOT_FOUND = re.compile(r"^network \S+ not found")
# A published port held by another container of the engine, or by any socket (docker-proxy).
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use")


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
        return _container_info(data)

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
                "interval": int(hc.interval * _NANO),
                "timeout": int(hc.timeout * _NANO),
                "retries": hc.retries,
                "start_period": int(hc.start_period * _NANO),
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
            raise _start_failure(exc) from exc

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
        return _container_stats(container_id, data)

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

    def events(self, since: float | None, labels: Mapping[str, str]) -> _Events:
        filters = {"type": ["container"], "label": [f"{k}={v}" for k, v in labels.items()]}
        stream = self._call(
            lambda: self._api.events(  # type: ignore[call-overload]
                # Docker takes seconds with a nanosecond fraction; the SDK passes it through.
                since=f"{since:.9f}" if since is not None else None,
                filters=filters,
                decode=True,
            )
        )
        return _Events(stream)

    def close(self) -> None:
        self._api.close()

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(_explain(exc)) from exc
        except docker.errors.NotFound as exc:
            if "image" in _explain(exc).lower():
                raise ImageNotFound(_explain(exc)) from exc
            raise NotFound(_explain(exc)) from exc
        except docker.errors.APIError as exc:
            code = exc.status_code or 0
            if code == 409:
                raise Conflict(_explain(exc)) from exc
            if 400 <= code < 500:
                raise InvalidRequest(_explain(exc)) from exc
            if "OCI runtime" in _explain(exc) or "starting container process" in _explain(exc):
                raise InvalidRequest(_explain(exc)) from exc
            raise EngineUnavailable(_explain(exc)) from exc
        except (
            requests.exceptions.RequestException,
            docker.errors.DockerException,
            OSError,
        ) as exc:
            raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc


class _Events:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[ContainerEvent]:
        try:
            for raw in self._stream:
                actor = raw.get("Actor") or {}
                attrs = actor.get("Attributes") or {}
                time_nano = raw.get("timeNano") or int(raw.get("time", 0)) * _NANO
                yield ContainerEvent(
                    container_id=actor.get("ID") or raw.get("id", ""),
                    action=str(raw.get("Action") or raw.get("status", "")),
                    time=time_nano / _NANO,
                    labels={k: v for k, v in attrs.items() if k.startswith("skiff.")},
                )
        except (
            requests.exceptions.RequestException,
            docker.errors.DockerException,
            OSError,
            AttributeError,
            ValueError,
        ) as exc:
            # AttributeError/ValueError: the socket was closed under us by close().
            raise EngineUnavailable(f"event stream ended: {exc}") from exc

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # closing a broken stream must never raise
            # Over ssh:// the SDK cannot cancel a stream; closing the shelled-out ssh socket
            # ends its `docker system dial-stdio` process, which ends the stream.
            raw = getattr(getattr(self._stream, "_response", None), "raw", None)
            channel = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "channel", None)
            if channel is not None:
                try:
                    channel.close()
                except Exception:
                    pass


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


def _explain(exc: docker.errors.DockerException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)


def _tls_config(tls: dict[str, Any]) -> docker.tls.TLSConfig:
    cert = (tls["clientCert"], tls["clientKey"]) if tls.get("clientCert") else None
    return docker.tls.TLSConfig(
        client_cert=cert, ca_cert=tls.get("caCert"), verify=tls.get("verify", True)
    )


def _network_missing(exc: RuntimeFailure) -> bool:
    return bool(_NETWORK_NOT_FOUND.match(str(exc)))


def _start_failure(exc: RuntimeFailure) -> RuntimeFailure:
    """What a failed start means. dockerd answers a published port held elsewhere with a 500,
    though the engine is fine: the container stays created, and another port would do."""
    if _PORT_TAKEN.search(str(exc)):
        return PortTaken(f"CannotStartContainerError: {exc}")
    if isinstance(exc, (InvalidRequest, Conflict)) or (
        isinstance(exc, (NotFound, ImageNotFound)) and _network_missing(exc)
    ):  # e.g. a command that does not exist; a network gone while the container exists
        return StartFailed(f"CannotStartContainerError: {exc}")
    return exc


def _ip_address(data: dict[str, Any]) -> str:
    """The address on the container's own network (the one its network mode names), else on
    the first network that gave it one; "" while it is stopped or has no network of its own."""
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    mode = (data.get("HostConfig") or {}).get("NetworkMode") or ""
    own = (networks.get(mode) or {}).get("IPAddress") if mode else ""
    if own:
        return str(own)
    return next((str(n["IPAddress"]) for n in networks.values() if (n or {}).get("IPAddress")), "")


def _timestamp(value: str | None) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    tz = "+00:00"
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, offset = frac.partition(sign)
            tz = sign + offset
    stamp = dt.datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}{tz}")
    return stamp.timestamp()


def _ipv4_port(bindings: list[dict[str, str]]) -> int | None:
    """The host port reached over IPv4. Docker may publish one container port on different
    host ports for IPv4 and IPv6 (0.0.0.0:35006 and [::]:35005): the IPv4 one is the one
    addresses like 127.0.0.1 reach."""
    v4 = [b for b in bindings if b.get("HostPort") and ":" not in (b.get("HostIp") or "")]
    chosen = v4 or [b for b in bindings if b.get("HostPort")]
    return int(chosen[0]["HostPort"]) if chosen else None


def _container_info(data: dict[str, Any]) -> ContainerInfo:
    state = data.get("State") or {}
    config = data.get("Config") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    ports: list[PortBinding] = []
    published = (data.get("NetworkSettings") or {}).get("Ports") or {}
    if not published and state.get("Status") == "created":
        # Not started yet: what it asked for (explicit host ports) is already spoken for.
        published = (data.get("HostConfig") or {}).get("PortBindings") or {}
    for key, bindings in published.items():
        port, _, proto = key.partition("/")
        ports.append(PortBinding(int(port), proto or "tcp", _ipv4_port(bindings or [])))
    started = state.get("Status") != "created"
    return ContainerInfo(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        labels=config.get("Labels") or {},
        image=config.get("Image", ""),
        state=state.get("Status", ""),
        health=health,
        exit_code=int(state["ExitCode"]) if started or state.get("Error") else None,
        error=state.get("Error") or "",
        oom_killed=bool(state.get("OOMKilled")),
        created_at=_timestamp(data.get("Created")) or 0.0,
        started_at=_timestamp(state.get("StartedAt")),
        finished_at=_timestamp(state.get("FinishedAt")),
        ports=tuple(sorted(ports, key=lambda p: (p.container_port, p.protocol))),
        ip_address=_ip_address(data),
    )


def _container_stats(container_id: str, data: dict[str, Any]) -> ContainerStats:
    read = _timestamp(data.get("read"))
    if read is None:  # dockerd answers a stopped container with a zero time and zero counters
        raise Conflict(f"container {container_id} is not running: Docker has no stats for it")
    cpu = data.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    memory = data.get("memory_stats") or {}
    return ContainerStats(
        read=read,
        cpu_total_ns=int(usage.get("total_usage") or 0),
        system_cpu_ns=int(cpu["system_cpu_usage"]) if cpu.get("system_cpu_usage") else None,
        online_cpus=int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or ())),
        memory_used_bytes=_memory_used(memory),
        memory_limit_bytes=int(memory.get("limit") or 0),
    )


def _memory_used(memory: dict[str, Any]) -> int:
    """Usage without the page cache the kernel can drop at once, as `docker stats` computes it:
    cgroup v1 subtracts total_inactive_file (engines before 19.03 lacked it: cache), cgroup v2
    inactive_file. Subtracting all of v1's `cache` would hide tmpfs pages, which cannot be
    dropped and count against the limit."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file", "cache"):
        if key in stats:
            reclaimable = int(stats[key] or 0)
            return usage - reclaimable if reclaimable < usage else usage
    return usage
