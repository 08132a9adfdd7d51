"""Properties of the Batch job scheduler over arbitrary pools, environments, queues and jobs
(hypothesis).

Whatever the inputs: an environment's running plus newly placed vCPUs never exceed its
maxvCpus, and no host is given more than it has free; every job is either placed or waiting
with a reason; jobs of lower-priority queues never take anything from a higher-priority queue
(the higher queues' plan is the same with the lower queues' jobs removed); and within a queue
without fair share (within a share, with it) no job starts in an environment where an earlier
job of its queue waits for room.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.batch.models.batch import ComputeEnvironmentSpec, JobQueueSpec
from controller.batch.planners.scheduler import Candidate, SchedulePlan, schedule
from controller.core.placement import HostSlot

ENVIRONMENTS = ["ce1", "ce2", "ce3"]
QUEUES = ["q1", "q2", "q3"]
ZONES = ["a", "b"]
SHARES = [None, "A", "B", "C1", "C2"]


@dataclass(frozen=True)
class World:
    candidates: list[Candidate]
    queues: dict[str, JobQueueSpec]
    environments: dict[str, ComputeEnvironmentSpec]
    held: dict[str, float]
    hosts: list[HostSlot]
    usage: dict[tuple[str, str], float]
    active: frozenset[tuple[str, str]]

    def plan(self, candidates: list[Candidate] | None = None) -> SchedulePlan:
        return schedule(
            self.candidates if candidates is None else candidates,
            self.queues,
            self.environments,
            self.held,
            self.hosts,
            self.usage,
            active_shares=self.active,
        )


@st.composite
def hosts(draw: st.DrawFn) -> list[HostSlot]:
    slots = []
    for i in range(draw(st.integers(1, 4))):
        cpu = draw(st.sampled_from([1024, 2048, 4096, 8192]))
        memory = draw(st.sampled_from([1024, 4096, 8192]))
        slots.append(
            HostSlot(
                f"h{i}",
                draw(st.sampled_from(ZONES)),
                "127.0.0.1",
                cpu,
                memory,
                cpu_used=draw(st.sampled_from([0, 0, 0, cpu // 4, cpu // 2, cpu])),
                memory_used=draw(st.sampled_from([0, 0, memory // 2])),
                up=draw(st.sampled_from([True, True, True, False])),
                draining=draw(st.sampled_from([False, False, False, True])),
            )
        )
    return slots


def environment(draw: st.DrawFn, names: list[str]) -> ComputeEnvironmentSpec:
    return ComputeEnvironmentSpec.model_validate(
        {
            "maxvCpus": draw(st.integers(1, 8)),
            "state": "DISABLED" if draw(st.integers(0, 5)) == 0 else "ENABLED",
            "hosts": draw(st.sampled_from([[], [], draw(st.lists(st.sampled_from(names)))])),
            "zones": draw(st.sampled_from([[], [], [draw(st.sampled_from(ZONES))]])),
        }
    )


def queue(draw: st.DrawFn, environments: list[str]) -> JobQueueSpec:
    known = draw(st.permutations(environments))[: draw(st.integers(1, len(environments)))]
    order = (known + (["gone"] if draw(st.integers(0, 9)) == 0 else []))[:3]
    spec: dict[str, object] = {
        "priority": draw(st.integers(0, 3)),
        "state": "DISABLED" if draw(st.integers(0, 9)) == 0 else "ENABLED",
        "computeEnvironmentOrder": [
            {"order": i, "computeEnvironment": e} for i, e in enumerate(order)
        ],
    }
    if draw(st.booleans()):
        spec["fairSharePolicy"] = {
            "computeReservation": draw(st.sampled_from([0, 0, 25, 50, 90])),
            "shareDecaySeconds": draw(st.sampled_from([0, 60, 3600])),
            "shareDistribution": [
                {"shareIdentifier": s, "weightFactor": draw(st.sampled_from([0.25, 1, 3]))}
                for s in draw(st.lists(st.sampled_from(["A", "B", "C*"]), unique=True))
            ],
        }
    return JobQueueSpec.model_validate(spec)


@st.composite
def candidate(draw: st.DrawFn, job_id: str, queues: list[str]) -> Candidate:
    vcpus = draw(st.sampled_from([0.25, 0.5, 1, 2, 3]))
    memory = draw(st.sampled_from([128, 256, 512, 2048, 6000]))
    nodes: tuple[tuple[float, int], ...] = ()
    if draw(st.integers(0, 5)) == 0:
        nodes = tuple(
            (draw(st.sampled_from([0.5, 1, 2])), draw(st.sampled_from([256, 1024])))
            for _ in range(draw(st.integers(2, 3)))
        )
        vcpus = sum(v for v, _ in nodes)
    return Candidate(
        job_id,
        "gone" if draw(st.integers(0, 19)) == 0 else draw(st.sampled_from(queues)),
        float(draw(st.integers(0, 10))),  # ties on purpose: the job id breaks them
        vcpus,
        memory,
        draw(st.sampled_from(SHARES)),
        nodes,
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    pool = draw(hosts())
    names = [h.name for h in pool]
    environments = {e: environment(draw, names) for e in ENVIRONMENTS[: draw(st.integers(1, 3))]}
    queues = {q: queue(draw, list(environments)) for q in QUEUES[: draw(st.integers(1, 3))]}
    held = {e: draw(st.sampled_from([0, 0, 0.5, 1, 2, 9])) for e in environments}
    count = draw(st.integers(0, 25))
    candidates = [draw(candidate(f"j{i:02}", list(queues))) for i in range(count)]
    pairs = [(q, s or "") for q in QUEUES for s in SHARES]
    usage = draw(st.dictionaries(st.sampled_from(pairs), st.floats(0, 10_000), max_size=4))
    active = draw(st.frozensets(st.sampled_from(pairs), max_size=3))
    return World(candidates, queues, environments, held, pool, usage, active)


def _fifo(job: Candidate) -> tuple[float, str]:
    return (job.created_at, job.job_id)


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_limits_are_never_exceeded(world: World) -> None:
    plan = world.plan()
    jobs = {j.job_id: j for j in world.candidates}
    assert {p.job_id for p in plan.placements}.isdisjoint(plan.waiting)
    assert {p.job_id for p in plan.placements} | set(plan.waiting) == set(jobs)
    assert all(plan.waiting.values())

    placed_vcpus: dict[str, float] = defaultdict(float)
    cpu: dict[str, int] = defaultdict(int)
    memory: dict[str, int] = defaultdict(int)
    for p in plan.placements:
        job = jobs[p.job_id]
        spec = world.queues[job.queue]
        env = world.environments[p.environment]
        assert spec.state == "ENABLED" and env.state == "ENABLED"
        assert p.environment in spec.environments()
        assert len(p.hosts) == len(job.node_needs())
        placed_vcpus[p.environment] += p.vcpus
        for name, (vcpus, mib) in zip(p.hosts, job.node_needs(), strict=True):
            slot = next(h for h in world.hosts if h.name == name)
            assert slot.up and not slot.draining
            assert not env.hosts or name in env.hosts
            assert not env.zones or slot.zone in env.zones
            cpu[name] += round(vcpus * 1024)
            memory[name] += mib
    for name, vcpus in placed_vcpus.items():
        assert world.held[name] + vcpus <= world.environments[name].max_vcpus + 1e-9
    for h in world.hosts:
        assert cpu[h.name] <= h.cpu - h.cpu_used
        assert memory[h.name] <= h.memory - h.memory_used


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_lower_priority_queues_never_take_from_higher_ones(world: World) -> None:
    plan = world.plan()
    for floor in {q.priority for q in world.queues.values()}:
        above = {n for n, q in world.queues.items() if q.priority >= floor}
        kept = [j for j in world.candidates if j.queue in above]
        ids = {j.job_id for j in kept}
        alone = world.plan(kept)
        assert alone.placements == [p for p in plan.placements if p.job_id in ids]
        assert alone.waiting == {j: r for j, r in plan.waiting.items() if j in ids}


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_no_job_overtakes_an_earlier_one_waiting_for_room(world: World) -> None:
    plan = world.plan()
    where = {p.job_id: p.environment for p in plan.placements}
    order = {p.job_id: i for i, p in enumerate(plan.placements)}

    def lane(job: Candidate) -> tuple[str, str]:
        fair = world.queues[job.queue].fair_share_policy is not None
        return (job.queue, (job.share_identifier or "") if fair else "")

    def could_ever_start(job: Candidate, name: str) -> bool:
        env = world.environments[name]
        return job.vcpus <= env.max_vcpus and any(
            h.cpu >= round(job.vcpus * 1024) and h.memory >= job.memory_mib
            for h in world.hosts
            if (not env.hosts or h.name in env.hosts) and (not env.zones or h.zone in env.zones)
        )

    jobs = [j for j in world.candidates if j.queue in world.queues]
    for a in jobs:
        spec = world.queues[a.queue]
        if a.job_id not in plan.waiting or a.nodes or spec.state != "ENABLED":
            continue
        held_up = {
            e
            for e in spec.environments()
            if e in world.environments
            and world.environments[e].state == "ENABLED"
            and could_ever_start(a, e)
        }
        for b in jobs:
            if lane(b) == lane(a) and _fifo(b) > _fifo(a):
                assert where.get(b.job_id) not in held_up, (a, b, plan)
    for a in jobs:
        for b in jobs:
            if a.job_id in order and b.job_id in order and lane(a) == lane(b):
                assert (order[a.job_id] < order[b.job_id]) == (_fifo(a) < _fifo(b))


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_the_plan_depends_on_the_jobs_not_on_their_order(world: World, rng: Random) -> None:
    shuffled = list(world.candidates)
    rng.shuffle(shuffled)
    assert world.plan(shuffled) == world.plan()
