"""What the reliability cases share: manifests of cheap services, Docker-side readers of a
cluster's containers, the duplicate and orphan checks, and a sampler that watches a rollout.

Everything here reads Docker directly (one list call, no per-container inspect), so the checks
see what a user's `docker ps` would, independently of the daemon's own view.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker

from tests.support.daemon import Skiff
from tests.support.documents import IMAGE, dump, host_doc, service_doc, td_doc

# Docker names a container by its process first: one being removed while it runs is still
# "running" (moby's State.StateString), so "removing", like "dead", holds no process. dockerd
# 20.10 can leave a container "removing" for good (its root file system still mounted after
# an engine restart): Docker's leftover, not a task alive.
LIVE_STATES = ("created", "running", "restarting", "paused")


def service(
    name: str,
    count: int,
    *,
    version: str = "v1",
    deployment: dict[str, Any] | None = None,
    network: str = "",
    memory: int = 8,
) -> str:
    """A one-container busybox service that sleeps and exits at once on SIGTERM."""
    app = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
        "environment": [{"name": "VERSION", "value": version}],
        "memoryReservation": memory,
        "stopTimeout": 2,
    }
    td = td_doc(name, containerDefinitions=[app])
    if network:
        td["spec"] = {"networkMode": network, **td["spec"]}
    svc = service_doc(name, taskDefinition=name, desiredCount=count)
    if deployment:
        svc["spec"]["deploymentConfiguration"] = deployment
    return dump(td, svc)


def host(name: str, url: str, *, capacity: dict[str, int] | None = None) -> str:
    spec: dict[str, Any] = {"url": url, "zone": "local"}
    if capacity:
        spec["capacity"] = capacity
    return dump(host_doc(name, **spec))


def containers(client: docker.DockerClient, cluster: str, name: str = "") -> list[dict[str, Any]]:
    """The cluster's containers (of service `name` when given), as one `docker ps -a` lists them:
    dicts with Id, State and Labels."""
    labels = ["skiff.managed-by=skiff", f"skiff.cluster={cluster}"]
    if name:
        labels.append(f"skiff.name={name}")
    rows: list[dict[str, Any]] = client.api.containers(all=True, filters={"label": labels})
    return rows


def live(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Containers not exited: running, or created and not yet started (pending)."""
    return [r for r in rows if r["State"] in LIVE_STATES]


def revisions(rows: Iterable[dict[str, Any]]) -> set[str]:
    return {r["Labels"].get("skiff.revision", "") for r in rows}


def duplicates(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(task, container) pairs held by more than one container: one task slot twice."""
    seen = Counter(
        (r["Labels"].get("skiff.task", ""), r["Labels"].get("skiff.container", "")) for r in rows
    )
    return sorted(k for k, n in seen.items() if n > 1)


def orphans(rows: Iterable[dict[str, Any]], known_tasks: set[str]) -> list[str]:
    """Container ids the daemon cannot account for: no task label, or a task it does not list."""
    return sorted(
        r["Id"][:12]
        for r in rows
        if not r["Labels"].get("skiff.task") or r["Labels"]["skiff.task"] not in known_tasks
    )


def assert_no_orphans(
    skiff: Skiff, client: docker.DockerClient, name: str, timeout: float = 10.0
) -> None:
    """Every container of the service belongs to a task the daemon lists (its status may be a
    pass behind Docker: it is given `timeout` seconds to catch up)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = containers(client, skiff.cluster, name)
        known = known_tasks(skiff, name)
        left = [r for r in rows if r["Id"][:12] in orphans(rows, known)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, (
        "containers no task the daemon lists accounts for: "
        + "; ".join(
            f"{r['Id'][:12]} {r['State']} ({r['Status']}) task {r['Labels'].get('skiff.task')} "
            f"{r['Labels'].get('skiff.revision')}"
            for r in left
        )
        + f"; the daemon lists {sorted(known)}"
    )


def never_started(rows: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(r["Id"][:12] for r in rows if r["State"] == "created")


def known_tasks(skiff: Skiff, service_name: str) -> set[str]:
    """Task ids the daemon lists for the service (running, stopping and the kept stopped)."""
    return {t["taskId"] for t in skiff.resource("Service", service_name)["tasks"] if t["taskId"]}


def remove_cluster(client: docker.DockerClient, cluster: str) -> None:
    """Removes the cluster's containers, several at a time (the daemon must be stopped)."""
    ids = [r["Id"] for r in containers(client, cluster)]

    def remove(cid: str) -> None:
        try:
            client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(remove, ids))


@dataclass
class Sample:
    live_tasks: int
    duplicates: list[tuple[str, str]]


@dataclass
class Sampler:
    """Lists a service's containers every `interval` seconds in a thread and keeps the most
    tasks seen alive at once and any task slot seen held twice."""

    client: docker.DockerClient
    cluster: str
    name: str
    interval: float = 0.05
    most_live: int = 0
    samples: int = 0
    doubled: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rows = live(containers(self.client, self.cluster, self.name))
            except Exception:  # the engine is restarting: nothing to see this round
                rows = None
            if rows is not None:
                tasks = {r["Labels"].get("skiff.task") for r in rows}
                self.most_live = max(self.most_live, len(tasks))
                self.doubled += duplicates(rows)
                self.samples += 1
            self._stop.wait(self.interval)


class Unmet(str):
    """A condition's answer when it does not hold: falsy, and it says what is missing (wait_for
    shows the last one when it times out)."""

    def __bool__(self) -> bool:
        return False


def finished(
    skiff: Skiff, client: docker.DockerClient, name: str, revision: str, desired: int
) -> bool | Unmet:
    """The service runs `desired` tasks of `revision` and nothing else, its deployment to it
    COMPLETED, as the daemon and as Docker tell it."""
    svc = skiff.resource("Service", name)
    primary = svc["deployments"][0] if svc.get("deployments") else {}
    alive = live(containers(client, skiff.cluster, name))
    unmet = [
        what
        for what, holds in (
            (
                f"primary deployment {primary.get('taskDefinition')}",
                primary.get("taskDefinition") == revision,
            ),
            (
                f"rolloutState {primary.get('rolloutState')}",
                primary.get("rolloutState") == "COMPLETED",
            ),
            (f"runningCount {svc['runningCount']}", svc["runningCount"] == desired),
            (f"steadyState {svc['steadyState']}", bool(svc["steadyState"])),
            (f"{len(alive)} live containers", len(alive) == desired),
            (
                f"states {sorted(r['State'] for r in alive)}",
                all(r["State"] == "running" for r in alive),
            ),
            (f"revisions {sorted(revisions(alive))}", revisions(alive) == {revision}),
        )
        if not holds
    ]
    return Unmet(f"{revision} x{desired} not finished: " + "; ".join(unmet)) if unmet else True


def elapsed_since(started: float) -> float:
    return round(time.monotonic() - started, 2)
