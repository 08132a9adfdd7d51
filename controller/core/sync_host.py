"""The `Host` kind, the core's own: its registry entry, and its sync, which reads an engine's
facts and reports the host's status, and drops a drained host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.outcomes import Retry
from controller.core.registry import Domain, Entry
from controller.manifests.host import HostSpec, check_host
from controller.manifests.kinds import Kind
from controller.runtime import RuntimeFailure

if TYPE_CHECKING:
    from controller.core.context import Context


def sync_host(ctl: Context, name: str) -> float | None:
    handle = ctl.hosts.get(name)
    if handle is not None and handle.draining and (not handle.up or not handle.observer.snapshot()):
        ctl.drop_host(name)
        ctl.actions.record("Host", name, "host.removed", "manifest removed; no tasks left")
        handle = None
    if handle is None:
        ctl.forget_status(("Host", name))
        return None
    try:
        if handle.info is None:  # otherwise the resync reads it every INFO_EVERY
            handle.refresh_info(ctl.monotonic())
        if not handle.observer.synced:
            handle.observer.resync()
    except RuntimeFailure as exc:
        raise Retry(f"engine at {handle.spec.url} unreachable: {exc}") from exc
    slot = next(s for s in ctl.host_slots(ctl.observed_tasks()) if s.name == name)
    info = handle.info
    ctl.set_status(
        ("Host", name),
        "DRAINING" if handle.draining else "ACTIVE" if handle.up else "ERROR",
        handle.observer.error,
        url=handle.spec.url,
        zone=handle.spec.zone,
        address=handle.address,
        attributes=handle.spec.attributes,
        engineVersion=info.server_version if info else "",
        connected=handle.up,
        capacity={"cpu": slot.cpu, "memory": slot.memory},
        allocated={"cpu": slot.cpu_used, "memory": slot.memory_used},
    )
    return None


HOSTS = Domain("hosts", entries=(Entry(Kind("Host", HostSpec, check_host), sync=sync_host),))
