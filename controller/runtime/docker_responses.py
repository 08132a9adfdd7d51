"""Docker's answers as Skiff's types: an inspected container (state, health, ports, address,
timestamps), a stats reading (memory as `docker stats` counts it) and the event stream. Pure
translation of the JSON dockerd returns; it must not call dockerd.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import docker.errors
import requests

from controller.runtime.errors import Conflict, EngineUnavailable
from controller.runtime.types import ContainerEvent, ContainerInfo, ContainerStats, PortBinding

NANO = 1_000_000_000


class DockerEvents:
    """The container events of one `docker events` stream, as ContainerEvents."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[ContainerEvent]:
        try:
            for raw in self._stream:
                actor = raw.get("Actor") or {}
                attrs = actor.get("Attributes") or {}
                time_nano = raw.get("timeNano") or int(raw.get("time", 0)) * NANO
                yield ContainerEvent(
                    container_id=actor.get("ID") or raw.get("id", ""),
                    action=str(raw.get("Action") or raw.get("status", "")),
                    time=time_nano / NANO,
                    labels={k: v for k, v in attrs.items() if k.startswith("skiff.")},
                    exit_code=_exit_code(attrs.get("exitCode")),
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


def _exit_code(value: object) -> int | None:
    """A `die` event's exitCode attribute (a string of digits), or None."""
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


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


def container_info(data: dict[str, Any]) -> ContainerInfo:
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
        pid=int(state.get("Pid") or 0),
        cgroup_parent=str((data.get("HostConfig") or {}).get("CgroupParent") or ""),
    )


def container_stats(container_id: str, data: dict[str, Any]) -> ContainerStats:
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
