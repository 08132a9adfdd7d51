"""`skiff plan`: what the daemon would do, computed by running the real controller on a copy.

The hosts' managed containers and the store are copied into in-memory fakes, the controller
converges that copy (health checks are taken to pass), and the difference between before and
after is reported per resource. Nothing on the hosts or in the data directory changes, and the
answer comes from the same planners the daemon runs, not from a second implementation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.catalog import CATALOG
from controller.core import labels as L
from controller.core.controller import Controller
from controller.core.hosts import implicit_name
from controller.core.instances.instance import ObservedInstance, group_instances
from controller.core.observed import ObservedTask, group_tasks
from controller.core.settings import Settings
from controller.dataplane.fake import FakeDataPlane
from controller.manifests.host import HostSpec
from controller.manifests.kinds import ResourceKey, key_str
from controller.manifests.loader import LoadResult
from controller.manifests.policy import BASELINE, Policy
from controller.runtime import ContainerRuntime, RuntimeFailure
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics

MAX_ROUNDS = 200


class _AnyImage(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


@dataclass
class ResourcePreview:
    key: ResourceKey
    lines: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.lines)


def _seed(name: str, runtime: ContainerRuntime, cluster: str) -> FakeRuntime:
    fake = FakeRuntime(images=_AnyImage(), name=name)
    for row in runtime.list_containers(L.selector(cluster)):
        info = runtime.inspect(row.id)
        fake.containers[info.id] = info
    return fake


def preview(
    result: LoadResult,
    data_dir: str,
    runtime_factory: Callable[[str, HostSpec], ContainerRuntime],
    cluster: str = L.DEFAULT_CLUSTER,
    policy: Policy = BASELINE,
) -> tuple[list[ResourcePreview], list[str]]:
    """Returns the changes per resource, and warnings (hosts that could not be read)."""
    warnings: list[str] = []
    specs = {k[1]: r.spec for k, r in result.resources.items() if k[0] == "Host"}
    fakes: dict[str, FakeRuntime] = {}
    for name, spec in implicit_name(specs).items():
        try:
            fakes[name] = _seed(name, runtime_factory(name, spec), cluster)
        except RuntimeFailure as exc:
            warnings.append(f"host {name} ({spec.url}) could not be read: {exc}")
            fakes[name] = FakeRuntime(images=_AnyImage(), name=name)
    before = group_tasks((h, c) for h, f in fakes.items() for c in f.containers.values())
    fleet_before = group_instances((h, c) for h, f in fakes.items() for c in f.containers.values())
    store = Store.snapshot_of(data_dir)
    revisions_before = {(r.family, r.number): r.status for r in store.revisions()}
    templates = {k[1] for k in result.resources if k[0] == "LaunchTemplate"}
    versions_before = {n: len(store.template_versions(n)) for n in templates}
    ctl = Controller(
        store,
        Metrics(),
        lambda name, spec: fakes[name],
        # no metrics, no alarms; the daemon's container policy
        Settings(parallelism=4, cluster=cluster, monitoring=False, policy=policy),
        dataplane_factory=FakeDataPlane,  # a plan binds no port and starts no HAProxy
        catalog=CATALOG,
    )
    try:
        ctl.restore()  # what the daemon last applied, so removed manifests show as removals
        ctl.apply_manifests(result)
        _converge(ctl, fakes)
        after = group_tasks((h, c) for h, f in fakes.items() for c in f.containers.values())
        out = _task_definition_changes(store, revisions_before)
        out += _service_changes(ctl, before, after)
        out += _template_changes(store, versions_before)
        fleet_after = group_instances(
            (h, c) for h, f in fakes.items() for c in f.containers.values()
        )
        out += _fleet_changes(ctl, fleet_before, fleet_after)
    finally:
        ctl.stop()
        store.close()
    return sorted(out, key=lambda p: (p.key[0] != "TaskDefinition", p.key)), warnings


def _converge(ctl: Controller, fakes: dict[str, FakeRuntime]) -> None:
    writes = -1
    for _ in range(MAX_ROUNDS):
        ctl.resync()
        ctl.run_until_idle()
        for fake in fakes.values():
            for c in list(fake.containers.values()):
                if c.running and c.health == "starting":
                    fake.set_health(c.id, "healthy")
        total = sum(len(f.writes()) for f in fakes.values())
        if total == writes:
            return
        writes = total


def _task_definition_changes(
    store: Store, before: dict[tuple[str, int], str]
) -> list[ResourcePreview]:
    out: dict[str, ResourcePreview] = {}
    for r in store.revisions():
        was = before.get((r.family, r.number))
        p = out.setdefault(r.family, ResourcePreview(("TaskDefinition", r.family)))
        if was is None:
            p.lines.append(f"+ register revision {r.key}")
        elif was != r.status:
            p.lines.append(f"- deregister revision {r.key} ({was} -> {r.status})")
    return list(out.values())


def _active(t: ObservedTask) -> bool:
    return not all(c.exited or c.failed_to_start for c in t.containers.values())


def _service_changes(
    ctl: Controller, before: dict[str, ObservedTask], after: dict[str, ObservedTask]
) -> list[ResourcePreview]:
    owners = {(t.owner_kind, t.owner) for t in [*before.values(), *after.values()]}
    owners |= {k for k in ctl.desired if k[0] == "Service"}
    out = []
    for key in sorted(owners):
        p = ResourcePreview(key)
        mine_before = {i: t for i, t in before.items() if (t.owner_kind, t.owner) == key}
        mine_after = {i: t for i, t in after.items() if (t.owner_kind, t.owner) == key}
        created = [t for i, t in mine_after.items() if i not in mine_before]
        stopped = [
            t
            for i, t in mine_before.items()
            if _active(t) and (i not in mine_after or not _active(mine_after[i]))
        ]
        cleaned = [t for i, t in mine_before.items() if not _active(t) and i not in mine_after]
        st = ctl.status.get(key)
        target = st.details.get("taskDefinition") if st else None
        replaced_old = [t for t in stopped if t.revision != target] if target else []
        replaced = min(len(replaced_old), len(created))
        if key not in ctl.desired:
            if stopped:
                p.lines.append(f"- stop and remove {len(stopped)} task(s): the service was deleted")
        else:
            if replaced:
                revs = ", ".join(sorted({t.revision for t in replaced_old}))
                p.lines.append(f"~ replace {replaced} task(s): {revs} -> {target}")
            if len(created) > replaced:
                hosts = Counter(t.host for t in created[replaced:])
                where = ", ".join(f"{h}: {n}" for h, n in sorted(hosts.items()))
                p.lines.append(f"+ create {len(created) - replaced} task(s) of {target} ({where})")
            if len(stopped) > replaced:
                p.lines.append(f"- stop {len(stopped) - replaced} task(s): scale-in or replacement")
        if cleaned:
            p.lines.append(f"- remove {len(cleaned)} stopped task(s)")
        if st and st.status == "ERROR":
            p.lines.append(f"! {st.message}")
        out.append(p)
    return out


def _template_changes(store: Store, before: dict[str, int]) -> list[ResourcePreview]:
    out = []
    for name, had in sorted(before.items()):
        p = ResourcePreview(("LaunchTemplate", name))
        for v in store.template_versions(name)[had:]:
            p.lines.append(f"+ create version {name}:{v.number}")
        out.append(p)
    return out


def _fleet_changes(
    ctl: Controller, before: dict[str, ObservedInstance], after: dict[str, ObservedInstance]
) -> list[ResourcePreview]:
    owners = {(i.owner_kind, i.owner) for i in [*before.values(), *after.values()]}
    owners |= {k for k in ctl.desired if k[0] in ("AutoScalingGroup", "Instance")}
    out = []
    for key in sorted(owners):
        p = ResourcePreview(key)
        mine_before = {i: x for i, x in before.items() if (x.owner_kind, x.owner) == key}
        mine_after = {i: x for i, x in after.items() if (x.owner_kind, x.owner) == key}
        launched = [x for i, x in mine_after.items() if i not in mine_before]
        ended = [
            x
            for i, x in mine_before.items()
            if x.container.running and (i not in mine_after or not mine_after[i].container.running)
        ]
        if launched:
            zones = Counter(ctl.hosts[x.host].spec.zone for x in launched if x.host in ctl.hosts)
            where = ", ".join(f"{z}: {n}" for z, n in sorted(zones.items()))
            versions = ", ".join(
                sorted({x.container.labels.get("skiff.launch-template", "") for x in launched})
            )
            p.lines.append(f"+ launch {len(launched)} instance(s) of {versions} ({where})")
        if ended:
            p.lines.append(f"- stop or terminate {len(ended)} instance(s)")
        st = ctl.status.get(key)
        if st and st.message:  # an error, or why it cannot launch yet
            p.lines.append(f"! {st.message}")
        out.append(p)
    return out


def render(previews: list[ResourcePreview]) -> str:
    lines = []
    unchanged = []
    for p in previews:
        if p.changed:
            lines.append(key_str(p.key))
            lines += [f"  {line}" for line in p.lines]
        else:
            unchanged.append(key_str(p.key))
    if unchanged:
        lines.append("no changes: " + ", ".join(unchanged))
    return "\n".join(lines) if lines else "no changes"


def as_json(previews: list[ResourcePreview]) -> dict[str, Any]:
    """The plan as `skiff plan -o json|yaml` prints it: each resource with the changes `run`
    would make (the lines `render` shows, without their indent), and the unchanged ones."""
    return {
        "changes": [
            {"kind": p.key[0], "name": p.key[1], "changes": list(p.lines)}
            for p in previews
            if p.changed
        ],
        "unchanged": [{"kind": p.key[0], "name": p.key[1]} for p in previews if not p.changed],
    }
