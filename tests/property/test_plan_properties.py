"""Properties of the service planner over arbitrary observed states (hypothesis).

Whatever Docker reports, a plan never touches a container Skiff did not create (or that belongs
to another resource), and never launches past the desired count or maximumPercent.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.observed import group_tasks
from controller.ecs.planners.service import InFlight, ServiceDesired, plan_service
from controller.runtime.types import ContainerInfo
from controller.store.records import TaskRecord
from tests.support.builders import T0, container, hosts, revision, td

HC = td(
    containerDefinitions=[
        {"name": "app", "image": "i", "memory": 64, "healthCheck": {"command": ["CMD", "true"]}}
    ]
)
REVS = {"web:1": revision("web:1", HC), "web:2": revision("web:2", td())}


@st.composite
def containers(draw: st.DrawFn) -> list[tuple[str, ContainerInfo]]:
    out = []
    for i in range(draw(st.integers(0, 12))):
        state = draw(st.sampled_from(["created", "running", "exited"]))
        c = container(
            f"t{i}",
            state=state,
            owner=draw(st.sampled_from(["web", "web", "web", "api"])),
            rev=draw(st.sampled_from(["web:1", "web:2"])),
            health=draw(st.sampled_from(["none", "starting", "healthy", "unhealthy"])),
            exit_code=draw(st.sampled_from([0, 1, 137])) if state == "exited" else None,
            created=T0 + draw(st.integers(0, 100)),
            managed=draw(st.booleans()) if draw(st.booleans()) else True,
        )
        out.append((draw(st.sampled_from(["h1", "h2"])), c))
    return out


@settings(max_examples=300, deadline=None)
@given(
    observed=containers(),
    count=st.integers(0, 10),
    target=st.sampled_from(["web:1", "web:2"]),
    max_percent=st.sampled_from([100, 150, 200]),
    min_percent=st.sampled_from([0, 50, 100]),
    flights=st.integers(0, 3),
    stops=st.sets(st.integers(0, 12), max_size=4),
    now=st.integers(0, 200),
)
def test_plans_touch_only_the_services_managed_containers_and_respect_the_count(
    observed: list[tuple[str, ContainerInfo]],
    count: int,
    target: str,
    max_percent: int,
    min_percent: int,
    flights: int,
    stops: set[int],
    now: int,
) -> None:
    tasks = group_tasks(observed)
    mine = [t for t in tasks.values() if (t.owner_kind, t.owner) == ("Service", "web")]
    records = {
        f"t{i}": TaskRecord(f"t{i}", "Service", "web", "web:1", "h1", "STOPPED", T0, "stop", T0 + i)
        for i in stops
    }
    in_flight = [InFlight(f"f{i}", target, "h1") for i in range(flights)]
    desired = ServiceDesired(
        "web", count, REVS[target], maximum_percent=max_percent, minimum_healthy_percent=min_percent
    )
    plan = plan_service(
        desired,
        mine,
        records,
        in_flight,
        {k: r.spec for k, r in REVS.items()},
        hosts("h1", "h2"),
        now=T0 + now,
    )

    allowed = {c.id for t in mine for c in t.containers.values()}
    touched = {
        cid for a in (*plan.start, *plan.stop, *plan.kill, *plan.remove) for cid in a.container_ids
    }
    assert touched <= allowed
    unmanaged = {c.id for _, c in observed if "skiff.managed-by" not in c.labels}
    assert not touched & unmanaged

    stopping = {s.task_id for s in (*plan.stop, *plan.kill)} | {
        m.task_id for m in plan.mark_stopped
    }
    active = [t for t in plan.tasks if t.active and t.id not in stopping]
    current = [t for t in active if t.revision == target]
    assert len(current) + len(plan.launch) <= max(count, len([t for t in current if t.in_flight]))
    if plan.launch:
        ceiling = max(math.floor(count * max_percent / 100), count)
        assert len(active) + len(plan.launch) <= ceiling
