"""`skiff down`: removes what a cluster left running once its daemon has stopped, as
`docker compose down` does: on every engine of the pool, the containers carrying the cluster's
labels (tasks, their awsvpc sandboxes, instances, Batch job containers), the task-scoped volumes
and networks Skiff made for them, and the HAProxy the daemon started from its data directory.

Labels are the only thing trusted: nothing of another cluster, or not Skiff's, is touched.
Instances' `ebs` root volumes and shared task volumes are kept unless `--volumes` is given
(Docker made an instance's root volume for its container's bind, without labels: it is found by
its instance's name, from the instance containers on the engine and the instances the data
directory's store recorded).

It prints what it will remove and asks first (unless `--yes`; without a terminal it refuses).
It refuses while the daemon of the data directory runs: the daemon would make everything again.
Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 usage, 3 an engine unreachable.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sqlite3
import struct
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from controller.cli.api_client import default_data_dir
from controller.core import labels as L
from controller.data_dir import STORE_FILE
from controller.terminal import printable

if TYPE_CHECKING:
    from controller.dataplane import haproxy_process
    from controller.manifests.host import HostSpec
    from controller.runtime import ContainerSummary
    from controller.runtime.docker_backend import DockerRuntime
    from controller.runtime.teardown import Inventory

JOB_LABEL = "skiff.job"  # Batch's label on a job attempt's containers (batch/sync/containers)
INSTANCE_LABEL = "skiff.instance"  # core.instances.instance's (not imported: 0.2 s per command)
HAPROXY_DIR = "haproxy"  # the daemon's HAProxy working directory in its data directory
# SQLite (WAL mode) holds a read lock on this byte of the store's -shm file for as long as a
# connection is open: the "DMS" lock, at WALINDEX_LOCK_OFFSET (120) + SQLITE_SHM_NLOCK (8).
_SHM_DMS_BYTE = 128
DONE, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3

# Kinds, in the order they are listed and counted.
CONTAINER_KINDS = ("task", "sandbox", "instance", "job", "container")
VOLUME_KINDS = ("task volume", "instance volume", "shared volume", "volume")
KEPT_WITHOUT_FLAG = ("instance volume", "shared volume", "volume")


def add_parser(sub: Any) -> None:
    down = sub.add_parser(
        "down",
        help="remove what a cluster left running (containers, volumes, HAProxy) after its "
        "daemon stopped",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    down.add_argument(
        "--manifests",
        help="directory of manifests whose Host documents name the engines "
        "(default: the local engine alone)",
    )
    down.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="the daemon's data directory (its store and HAProxy), as for skiff run",
    )
    down.add_argument("--cluster", default="default", help="the cluster whose things go")
    down.add_argument(
        "--volumes",
        action="store_true",
        help="also remove instances' ebs volumes and shared task volumes",
    )
    down.add_argument("--yes", "-y", action="store_true", help="do not ask before removing")


# --- the plan (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    host: str
    kind: str  # one of CONTAINER_KINDS, VOLUME_KINDS or "network"
    name: str  # what Docker calls it
    ident: str  # what removes it: the container id, or the volume's or network's name
    owner: str = ""  # Kind/name of the resource it belongs to, from its labels


@dataclass
class Plan:
    remove: list[Item] = field(default_factory=list)
    keep: list[Item] = field(default_factory=list)  # volumes kept without --volumes
    haproxy: haproxy_process.Found | None = None

    def empty(self) -> bool:
        return not self.remove and (self.haproxy is None or self.haproxy.pid is None)


def container_kind(labels: dict[str, str]) -> str:
    if labels.get(INSTANCE_LABEL):
        return "instance"
    if labels.get(JOB_LABEL):
        return "job"
    if labels.get(L.CONTAINER) == L.PAUSE_CONTAINER:
        return "sandbox"
    if labels.get(L.TASK):
        return "task"
    return "container"


def volume_kind(name: str, labels: dict[str, str], instance_volumes: set[str]) -> str:
    scope = labels.get(L.SCOPE)
    if scope == "task":
        return "task volume"
    if scope == "shared":
        return "shared volume"
    if name in instance_volumes or labels.get(INSTANCE_LABEL):
        return "instance volume"
    return "volume"


def instance_volumes(containers: Iterable[ContainerSummary], cluster: str) -> set[str]:
    """The root volume names of the cluster's instance containers."""
    return {
        volume_name(c.labels[INSTANCE_LABEL])
        for c in containers
        if L.in_cluster(c.labels, cluster) and c.labels.get(INSTANCE_LABEL)
    }


def volume_name(instance_id: str) -> str:
    from controller.core.instances.instance import volume_name

    return volume_name(instance_id)


def _owner(labels: dict[str, str]) -> str:
    kind, name = labels.get(L.KIND, ""), labels.get(L.NAME, "")
    return f"{kind}/{name}" if kind and name else ""


def plan(
    engines: dict[str, Inventory],
    cluster: str,
    recorded_volumes: dict[str, set[str]],
    *,
    volumes: bool,
    haproxy: haproxy_process.Found | None = None,
) -> Plan:
    """What goes and what stays. `recorded_volumes`: the instance root volumes the store
    recorded, by host; a volume counts only when its labels are this cluster's or it has none
    and is an instance's root volume."""
    out = Plan(haproxy=haproxy)
    for host in sorted(engines):
        inv = engines[host]
        ours = [c for c in inv.containers if L.in_cluster(c.labels, cluster)]
        roots = instance_volumes(ours, cluster) | recorded_volumes.get(host, set())
        # By kind (sandboxes after the containers sharing their namespaces), then by name.
        by_kind = sorted(ours, key=lambda c: CONTAINER_KINDS.index(container_kind(c.labels)))
        for c in by_kind:
            item = Item(host, container_kind(c.labels), c.name, c.id, _owner(c.labels))
            out.remove.append(item)
        for v in inv.volumes:
            labelled = L.in_cluster(v.labels, cluster)
            if not labelled and (v.labels or v.name not in roots):
                continue  # another cluster's, or not Skiff's
            kind = volume_kind(v.name, v.labels, roots)
            item = Item(host, kind, v.name, v.name, _owner(v.labels))
            keep = kind in KEPT_WITHOUT_FLAG and not volumes
            (out.keep if keep else out.remove).append(item)
        for n in inv.networks:
            if L.in_cluster(n.labels, cluster):
                out.remove.append(Item(host, "network", n.name, n.name))
    return out


NOUNS = {
    "task": "task container",
    "sandbox": "awsvpc sandbox",
    "instance": "instance container",
    "job": "Batch job container",
    "container": "other container",
}


def _plural(n: int, kind: str) -> str:
    noun = NOUNS.get(kind, kind)
    return f"{n} {noun}{'' if n == 1 else ('es' if noun.endswith('x') else 's')}"


def counts(items: Sequence[Item]) -> str:
    """`2 task containers, 1 instance container, 1 volume` in the listing's order."""
    by = Counter(i.kind for i in items)
    order = [*CONTAINER_KINDS, *VOLUME_KINDS, "network"]
    return ", ".join(_plural(by[k], k) for k in order if by[k])


def render(p: Plan, cluster: str) -> str:
    """The listing shown before anything is removed: counts, then one line per thing."""
    lines = []
    width = max([len(i.kind) for i in [*p.remove, *p.keep]] + [7])
    if not p.empty():
        parts = [counts(p.remove)] if p.remove else []
        if _stops(p):
            parts.append("1 HAProxy process")
        lines.append(f"To remove from cluster {cluster!r}: {', '.join(parts)}")
        for i in p.remove:
            owner = f"  ({i.owner})" if i.owner else ""
            lines.append(f"  {i.kind:<{width}}  {i.host}  {i.name}{owner}")
        if p.haproxy is not None and p.haproxy.pid is not None:
            lines.append(f"  {'haproxy':<{width}}  pid {p.haproxy.pid}  ({p.haproxy.pid_file})")
    else:
        lines.append(f"Nothing to remove for cluster {cluster!r}.")
    if p.keep:
        lines.append(f"Kept (pass --volumes to remove them too): {counts(p.keep)}")
        lines.extend(f"  {i.kind:<{width}}  {i.host}  {i.name}" for i in p.keep)
    if p.haproxy is not None and p.haproxy.note:
        lines.append(f"Note: {p.haproxy.note}")
    return "\n".join(printable(line) for line in lines)


def _stops(p: Plan) -> bool:
    return p.haproxy is not None and p.haproxy.pid is not None


# --- asking ------------------------------------------------------------------------------------


def confirm(yes: bool, stdin: IO[str], stdout: IO[str]) -> str | None:
    """None when the removal may go ahead; else why not (printed by the caller)."""
    if yes:
        return None
    if not stdin.isatty():
        return "standard input is not a terminal, so nobody can answer: pass --yes to remove"
    stdout.write("Remove these? [y/N] ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    return None if answer in ("y", "yes") else "nothing was removed"


# --- the daemon and the pool -------------------------------------------------------------------


def store_holder(data_dir: str) -> int | None:
    """The process that has the data directory's store open (the running daemon), if any:
    SQLite's shared lock on the store's -shm file, which every open connection holds. 0: a
    process this one cannot see (in another PID namespace: a daemon in a container)."""
    shm = os.path.join(data_dir, f"{STORE_FILE}-shm")
    try:
        fd = os.open(shm, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # no store, or none left open since it was last closed
    try:
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, _SHM_DMS_BYTE, 1, 0)
        kind, _, _, _, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except OSError:
        return None
    finally:
        os.close(fd)
    return max(pid, 0) if kind != fcntl.F_UNLCK else None


def _command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)


def host_specs(manifests: str | None) -> tuple[dict[str, HostSpec], list[str]]:
    """The pool: the Host documents in `manifests` (else the local engine), and the errors of
    Host documents that could not be read."""
    from controller.core.hosts import implicit_name

    if manifests is None:
        return implicit_name({}), []
    from controller.catalog import load_directory

    result = load_directory(manifests)
    specs = {k[1]: r.spec for k, r in result.resources.items() if k[0] == "Host"}
    errors = [str(e) for e in result.errors if e.kind == "Host"]
    return implicit_name(specs), errors


def recorded_root_volumes(data_dir: str) -> dict[str, set[str]]:
    """Root volume names of every instance the store recorded, by host (an instance whose
    container is gone still has its ebs volume)."""
    if not os.path.exists(os.path.join(data_dir, STORE_FILE)):
        return {}
    from controller.store import Store

    out: dict[str, set[str]] = {}
    store = Store.snapshot_of(data_dir)
    try:
        for kind, owner in store.instance_owners():
            for record in store.instances(kind, owner).values():
                out.setdefault(record.host, set()).add(volume_name(record.instance_id))
    finally:
        store.close()
    return out


# --- the command -------------------------------------------------------------------------------


def run(args: argparse.Namespace, *, stdin: IO[str] | None = None) -> int:
    """The command; `stdin` is where the answer is read (the terminal's, unless a test's)."""
    stdin = stdin or sys.stdin

    def say(text: str) -> None:
        print(f"skiff down: {text}", file=sys.stderr)

    holder = store_holder(args.data_dir)
    if holder is not None:
        what = _command_of(holder) if holder else "in another PID namespace"
        process = f"process {holder}" if holder else "a process"
        say(
            f"the daemon of {args.data_dir} is still running ({process}"
            f"{': ' + printable(what) if what else ''}); stop it first, or it would make "
            "everything again"
        )
        return REFUSED
    if args.manifests is not None and not os.path.isdir(args.manifests):
        say(f"--manifests {printable(args.manifests)} is not a directory")
        return USAGE
    specs, errors = host_specs(args.manifests)
    if errors:
        for e in errors:
            say(printable(e))
        say("fix the Host documents above: their engines cannot be reached; nothing was removed")
        return REFUSED
    try:
        recorded = recorded_root_volumes(args.data_dir)
    except (OSError, sqlite3.Error) as exc:
        say(
            f"warning: cannot read the store in {args.data_dir} ({exc}): ebs volumes of "
            "instances without a container are not found"
        )
        recorded = {}
    engines, runtimes, unreachable = _inventories(specs, args.cluster, recorded, _connect)
    try:
        if unreachable:
            for host, why in unreachable.items():
                say(
                    f"cannot reach engine {host!r} ({printable(specs[host].url)}): {printable(why)}"
                )
            say("nothing was removed")
            return UNREACHABLE
        from controller.dataplane import haproxy_process

        found = haproxy_process.find(os.path.join(args.data_dir, HAPROXY_DIR))
        p = plan(engines, args.cluster, recorded, volumes=args.volumes, haproxy=found)
        print(render(p, args.cluster))
        if p.empty():
            return DONE
        refusal = confirm(args.yes, stdin, sys.stdout)
        if refusal is not None:
            say(refusal)
            return REFUSED
        failures = _execute(p, runtimes, args.data_dir)
    finally:
        for runtime in runtimes.values():
            runtime.close()
    for failure in failures:
        say(printable(failure))
    if failures:
        say(f"{len(failures)} thing(s) could not be removed; run skiff down again to retry")
        return REFUSED
    print(f"Removed {counts(p.remove) or 'nothing'}" + ("; stopped HAProxy." if _stops(p) else "."))
    return DONE


def _connect(name: str, spec: HostSpec) -> DockerRuntime:
    from controller.runtime.docker_backend import DockerRuntime

    return DockerRuntime(spec.url, tls=spec.tls.to_wire() if spec.tls else None, timeout=30)


def _inventories(
    specs: dict[str, HostSpec],
    cluster: str,
    recorded: dict[str, set[str]],
    connect: Callable[[str, HostSpec], DockerRuntime],
) -> tuple[dict[str, Inventory], dict[str, DockerRuntime], dict[str, str]]:
    """Each engine's inventory of the cluster's things (and of the instance root volumes its
    instance containers and the store name), its runtime, and the engines not reached."""
    from controller.runtime import RuntimeFailure, teardown

    engines: dict[str, Inventory] = {}
    runtimes: dict[str, DockerRuntime] = {}
    unreachable: dict[str, str] = {}
    for host in sorted(specs):
        try:
            runtime = connect(host, specs[host])
            runtimes[host] = runtime
            engines[host] = teardown.inventory(
                runtime, L.selector(cluster), _roots(cluster, recorded.get(host, set()))
            )
        except RuntimeFailure as exc:
            unreachable[host] = str(exc)
    return engines, runtimes, unreachable


def _roots(cluster: str, known: set[str]) -> Callable[[Sequence[ContainerSummary]], set[str]]:
    """The instance root volumes to look for: the cluster's instance containers' and `known`."""
    return lambda containers: instance_volumes(containers, cluster) | known


def _execute(p: Plan, runtimes: dict[str, DockerRuntime], data_dir: str) -> list[str]:
    """Removes the plan's items, engine by engine (containers, then volumes, then networks),
    then stops HAProxy; returns what failed."""
    from controller.runtime import teardown

    failures: list[str] = []
    for host, runtime in runtimes.items():
        mine = [i for i in p.remove if i.host == host]
        containers = [i for i in mine if i.kind in CONTAINER_KINDS]
        # Sandboxes last: the containers sharing their namespaces go first.
        for group in (
            [i for i in containers if i.kind != "sandbox"],
            [i for i in containers if i.kind == "sandbox"],
        ):
            failed = teardown.remove_containers(runtime, [i.ident for i in group])
            group = [i for i in group if i.ident in failed]
            failures += [
                f"{host}: container {i.name}: {failed[i.ident]}" for i in group if i.ident in failed
            ]
        volumes = [i.ident for i in mine if i.kind in VOLUME_KINDS]
        for name, why in teardown.remove_volumes(runtime, volumes).items():
            failures.append(f"{host}: volume {name}: {why}")
        networks = [i.ident for i in mine if i.kind == "network"]
        for name, why in teardown.remove_networks(runtime, networks).items():
            failures.append(f"{host}: network {name}: {why}")
    if _stops(p):
        from controller.dataplane import haproxy_process

        problem = haproxy_process.stop_started(os.path.join(data_dir, HAPROXY_DIR))
        if problem is not None:
            failures.append(problem)
    return failures
