"""The daemon's container policy: what a manifest may ask of the host, and which `--allow`
flag grants the rest.

Pure. Containers get what Kubernetes' baseline Pod Security Standard allows. Privileged mode,
host paths, host devices, capabilities beyond Docker's default set and the host's network,
PID and IPC namespaces are each a `Need`; a need is met only when `skiff run --allow ...`
names it (`FLAGS`, in allow_flags.py, is the table). The loader refuses a manifest with an
unmet need, naming the field and the flag that would allow it; the engine checks every
container it creates against the same policy (`controller.core.policy_guard`), so a spec
restored from the store cannot bring back a privilege the running daemon was not given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.manifests.allow_flags import CAPABILITY_PREFIX, FLAGS, HOST_PATH_PREFIX
from controller.manifests.base import Path, quote
from controller.manifests.container_security import (
    CAPABILITIES,
    DockerVolumeConfiguration,
    LinuxParameters,
    LinuxParametersBase,
    TaskVolume,
    Volume,
    absolute_path,
    under,
)

# Docker's default capability set: adding one of these changes nothing.
DOCKER_DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


@dataclass(frozen=True)
class Need:
    """One thing a spec asks of the host that the baseline does not give."""

    flag: str  # a key of FLAGS
    path: Path  # the field asking for it
    what: str  # e.g. "privileged containers are", "host path /srv is"
    value: str | None = None  # the host path or capability, when a narrower flag can allow it

    def suggestion(self) -> str:
        """The narrowest --allow value that meets this need."""
        if self.flag == "host-path" and self.value is not None and self.value.strip("/"):
            return f"{HOST_PATH_PREFIX}{self.value}"
        if self.flag == "capabilities" and self.value not in (None, "ALL"):
            return f"{CAPABILITY_PREFIX}{self.value}"
        return self.flag

    def refusal(self) -> str:
        return (
            f"{self.what} not allowed by this daemon's policy "
            f"(start it with --allow {self.suggestion()})"
        )


@dataclass(frozen=True)
class Policy:
    """What `--allow` granted. The default, nothing, is the baseline."""

    flags: frozenset[str] = frozenset()
    host_paths: tuple[str, ...] = ()  # host-path:PREFIX
    capabilities: frozenset[str] = frozenset()  # capability:NAME

    @classmethod
    def parse(cls, values: Iterable[str]) -> Policy:
        """`--allow` values; raises ValueError naming a value it does not know."""
        flags: set[str] = set()
        paths: list[str] = []
        caps: set[str] = set()
        for value in values:
            if value in FLAGS:
                flags.add(value)
            elif value.startswith(HOST_PATH_PREFIX):
                prefix = value.removeprefix(HOST_PATH_PREFIX)
                try:
                    absolute_path(prefix)
                except ValueError as exc:
                    raise ValueError(f"--allow {value}: the prefix {exc}") from None
                if prefix.strip("/"):
                    paths.append(prefix)
                else:
                    flags.add("host-path")  # host-path:/ is every path
            elif value.startswith(CAPABILITY_PREFIX):
                name = value.removeprefix(CAPABILITY_PREFIX)
                if name == "ALL":
                    raise ValueError(f"--allow {value}: ALL is --allow capabilities")
                if name not in CAPABILITIES:
                    raise ValueError(
                        f"--allow {value}: unknown capability {quote(name)} (ECS's names, "
                        "e.g. NET_ADMIN, without CAP_)"
                    )
                caps.add(name)
            else:
                raise ValueError(
                    f"unknown --allow value {quote(value)}: one of {', '.join(FLAGS)}, "
                    f"{HOST_PATH_PREFIX}/PREFIX, {CAPABILITY_PREFIX}NAME"
                )
        return cls(frozenset(flags), tuple(sorted(set(paths))), frozenset(caps))

    def allows(self, need: Need) -> bool:
        if need.flag in self.flags:
            return True
        if need.flag == "host-path" and need.value is not None:
            return any(under(need.value, prefix) for prefix in self.host_paths)
        if need.flag == "capabilities" and need.value is not None:
            return need.value in self.capabilities
        return False

    def refusals(self, needs: Iterable[Need]) -> list[Need]:
        return [n for n in needs if not self.allows(n)]

    def describe(self) -> list[str]:
        """The --allow values in force, as they would be written."""
        return (
            sorted(self.flags)
            + [f"{HOST_PATH_PREFIX}{p}" for p in self.host_paths]
            + [f"{CAPABILITY_PREFIX}{c}" for c in sorted(self.capabilities)]
        )


BASELINE = Policy()


# --- what the host is asked for ------------------------------------------------------------------
def capability_beyond_default(name: str) -> bool:
    return name == "ALL" or name not in DOCKER_DEFAULT_CAPABILITIES


def driver_host_path(driver: str | None, options: Mapping[str, str]) -> tuple[bool, str | None]:
    """Whether a Docker volume with these driver options reaches into the host (the local
    driver mounting a `device`, or binding with `o: bind`), and the host path when it is one.
    A tmpfs (`type: tmpfs`) is memory, not the host's. Other drivers are plugins the host's
    administrator installed; their options are theirs to interpret."""
    if driver not in (None, "", "local"):
        return False, None
    mount_options = {o.strip() for o in options.get("o", "").split(",")}
    binds = bool(mount_options & {"bind", "rbind"})
    device = options.get("device")
    if device is None and not binds:
        return False, None
    if options.get("type") == "tmpfs" and not binds:
        return False, None
    try:
        return True, absolute_path(device) if device is not None else None
    except ValueError:
        return True, None  # not a plain host path (say, an NFS export): only host-path allows


def _host_path(path: Path, source: str) -> Need:
    return Need("host-path", path, f"host path {source} is", source)


def _linux_needs(linux: LinuxParametersBase | None, at: Path) -> list[Need]:
    if linux is None:
        return []
    needs = [
        Need(
            "devices",
            (*at, "linuxParameters", "devices", j, "hostPath"),
            f"host device {d.host_path} is",
        )
        for j, d in enumerate(linux.devices)
    ]
    caps = linux.capabilities if isinstance(linux, LinuxParameters) else None
    for j, name in enumerate(caps.add if caps else ()):
        if capability_beyond_default(name):
            what = (
                "every capability (ALL) is"
                if name == "ALL"
                else f"capability {name} (not in Docker's default set) is"
            )
            path = (*at, "linuxParameters", "capabilities", "add", j)
            needs.append(Need("capabilities", path, what, name))
    return needs


def container_needs(privileged: bool, linux: LinuxParametersBase | None, at: Path) -> list[Need]:
    needs = []
    if privileged:
        needs.append(Need("privileged", (*at, "privileged"), "privileged containers are"))
    return needs + _linux_needs(linux, at)


def volume_needs(volumes: Sequence[Volume], at: Path) -> list[Need]:
    needs = []
    for i, v in enumerate(volumes):
        if v.source_path is not None:
            needs.append(_host_path((*at, i, "host", "sourcePath"), v.source_path))
        config = v.docker_volume_configuration if isinstance(v, TaskVolume) else None
        if config is not None:
            needs += _driver_needs(config, (*at, i, "dockerVolumeConfiguration"))
    return needs


def _driver_needs(config: DockerVolumeConfiguration, at: Path) -> list[Need]:
    reaches, path = driver_host_path(config.driver, config.driver_opts)
    if not reaches:
        return []
    field = "device" if "device" in config.driver_opts else "o"
    where = (*at, "driverOpts", field)
    if path is not None:
        return [_host_path(where, path)]
    return [Need("host-path", where, f"a local volume bound to the host ({field}) is")]


def problems(needs: Iterable[Need], policy: Policy) -> list[tuple[Path, str]]:
    """The needs this policy does not meet, as (field path, message)."""
    return [(n.path, n.refusal()) for n in policy.refusals(needs)]
