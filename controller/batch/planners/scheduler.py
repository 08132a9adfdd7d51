"""AWS Batch's job scheduler: which RUNNABLE jobs start now, in which compute environment and on
which hosts, and, for every job that stays RUNNABLE, why.

Pure: the caller passes the RUNNABLE jobs, the queues and environments, the vCPUs each
environment's running jobs hold, the hosts with what they have free, and fair-share usage; the
answer is a `SchedulePlan`. No I/O, no clock, no randomness: the same inputs give the same plan.
It must not start containers or change job states itself.

The rules, AWS Batch's where AWS documents them:

1. Only ENABLED job queues and ENABLED compute environments take part; jobs of a DISABLED queue
   stay RUNNABLE (`job queue q is DISABLED`).
2. Queues are evaluated in descending `priority`, so where queues share an environment the
   higher one's jobs are placed first; queues of equal priority interleave, older job first. A
   lower queue still runs jobs when a higher queue's next job does not fit: priority orders the
   evaluation, it reserves nothing (AWS: "a job is dispatched from a queue only if resources are
   available").
3. A job tries its queue's environments in ascending `order` and starts in the first with room.
4. Room: the environment's held plus newly placed vCPUs never exceed `maxvCpus`; each node (one,
   or every node of a multi-node job) fits on a host in the environment's `hosts` and `zones`
   (an empty list means any; both given means both must match), by placement.place() with CPU in
   units of 1024 per vCPU. The plan books what it places, so later jobs see less room (and the
   reasons count those vCPUs as held); a multi-node job starts with all its nodes at once or not
   at all, its nodes' vCPUs summed against maxvCpus.
5. FIFO within a queue, strict head of line per environment: a job that waits for room keeps
   every later job of its queue out of the environments it waits for (AWS calls this a blocked
   queue). A job that can never start in an environment (more vCPUs than `maxvCpus`, larger
   than any of its hosts when idle, no host at all) blocks nothing there: it waits with that
   reason. AWS would let it block the queue until jobStateTimeLimitActions cancels it; Skiff has
   no such action yet, so it steps aside instead.
6. Fair share (a queue with `fairSharePolicy`): the queue's next job comes from the share with
   the lowest usage x weightFactor (weight from shareDistribution: exact identifier, else the
   longest `prefix*` entry, else 1; a lower weight gets more), FIFO within a share, and head of
   line per share, not per queue. A job placed in this pass adds its vCPUs x shareDecaySeconds
   (600 s when 0) to its share's usage, so one pass alternates between shares. Jobs without a
   share identifier form the share "". `computeReservation` keeps maxvCpus x
   (computeReservation/100)^active of each environment for shares that run nothing yet, where
   active counts the queue's shares that run a job (given, or placed in this pass): a job of an
   active share must leave that much free, a job of an inactive share may use it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from controller.batch.models.batch import ComputeEnvironmentSpec, FairSharePolicy, JobQueueSpec
from controller.core.placement import HostSlot, Need, Rules, place

VCPU = 1024  # CPU units per vCPU, as placement counts them
DEFAULT_DECAY_SECONDS = 600  # AWS: shareDecaySeconds 0 means the minimum window, 600 s
PACK = Rules(strategies=(("binpack", "cpu"), ("binpack", "memory")))
NO_USAGE: Mapping[tuple[str, str], float] = MappingProxyType({})

Nodes = tuple[tuple[float, int], ...]


def decay_windows(queues: Mapping[str, JobQueueSpec]) -> dict[str, float]:
    """Seconds a fair-share queue counts an ended attempt's usage against its share
    (shareDecaySeconds, AWS's 600 s when it is 0), by queue; a FIFO queue counts none."""
    return {
        q: float(spec.fair_share_policy.share_decay_seconds or DEFAULT_DECAY_SECONDS)
        for q, spec in queues.items()
        if spec.fair_share_policy is not None
    }


@dataclass(frozen=True)
class Candidate:
    """A RUNNABLE job as the scheduler sees it. For a multi-node job `nodes` holds each node's
    (vCPUs, MiB) and is what counts; `vcpus` and `memory_mib` then only describe it."""

    job_id: str
    queue: str
    created_at: float
    vcpus: float
    memory_mib: int
    share_identifier: str | None = None
    nodes: Nodes = ()

    def node_needs(self) -> Nodes:
        return self.nodes or ((self.vcpus, self.memory_mib),)

    def total_vcpus(self) -> float:
        return sum(v for v, _ in self.node_needs())


@dataclass(frozen=True)
class Placement:
    job_id: str
    environment: str
    hosts: tuple[str, ...]  # one per node, in node order
    vcpus: float


@dataclass
class SchedulePlan:
    placements: list[Placement] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # job id -> why it is still RUNNABLE

    def is_noop(self) -> bool:
        return not self.placements


def schedule(
    candidates: Sequence[Candidate],
    queues: Mapping[str, JobQueueSpec],
    environments: Mapping[str, ComputeEnvironmentSpec],
    held: Mapping[str, float],
    hosts: Sequence[HostSlot],
    usage: Mapping[tuple[str, str], float] = NO_USAGE,
    *,
    active_shares: Collection[tuple[str, str]] = (),
    rules: Rules = PACK,
) -> SchedulePlan:
    """Places what can start now. `held`: vCPUs each environment's running jobs hold; `usage`:
    recent decayed vCPU-seconds per (queue, share identifier); `active_shares`: the (queue,
    share identifier) pairs that run a job now, for computeReservation; `rules`: host choice
    (binpack by default, so whole hosts stay free for large jobs; `spread` evens out the nodes
    this pass places, as it cannot see which hosts run earlier jobs)."""
    plan = SchedulePlan()
    lines: dict[str, _Line] = {}
    for job in sorted(candidates, key=_fifo):
        spec = queues.get(job.queue)
        if spec is None:
            plan.waiting[job.job_id] = f"job queue {job.queue} does not exist"
        elif spec.state != "ENABLED":
            plan.waiting[job.job_id] = f"job queue {job.queue} is DISABLED"
        else:
            if job.queue not in lines:
                lines[job.queue] = _Line(job.queue, spec, usage)
            lines[job.queue].push(job)
    state = _Pass(environments, held, hosts, active_shares, rules)
    while live := [line for line in lines.values() if line.pending()]:
        line = live[0] if len(live) == 1 else min(live, key=_turn)
        job = line.pop()
        outcome = state.consider(line, job)
        if isinstance(outcome, Placement):
            plan.placements.append(outcome)
            line.charge(job)
        else:
            plan.waiting[job.job_id] = outcome
    return plan


def share_weight(policy: FairSharePolicy, share: str) -> float:
    """The weightFactor of `share`: its own entry, else the longest matching `prefix*`, else 1."""
    prefixes: list[tuple[int, float]] = []
    for entry in policy.share_distribution:
        ident = entry.share_identifier
        if ident == share:
            return entry.weight_factor
        if ident.endswith("*") and share.startswith(ident[:-1]):
            prefixes.append((len(ident), entry.weight_factor))
    return max(prefixes)[1] if prefixes else 1.0


def _turn(line: _Line) -> tuple[float, float, str, str]:
    """Which queue offers the next job: the highest priority, then the oldest job."""
    return (-line.spec.priority, *_fifo(line.peek()), line.name)


def _fifo(job: Candidate) -> tuple[float, str]:
    return (job.created_at, job.job_id)


def _units(vcpus: float) -> int:
    return round(vcpus * VCPU)


def _num(value: float) -> str:
    return f"{round(value, 2):g}"


def _vcpus(value: float) -> str:
    return f"{_num(value)} vCPU" + ("" if value == 1 else "s")


class _Line:
    """One job queue's RUNNABLE jobs in the order it offers them: FIFO, or by fair share."""

    def __init__(
        self, name: str, spec: JobQueueSpec, usage: Mapping[tuple[str, str], float]
    ) -> None:
        self.name = name
        self.spec = spec
        self.policy = spec.fair_share_policy
        self.shares: dict[str, deque[Candidate]] = {}
        self.usage: dict[str, float] = {}
        self._all_usage = usage

    def share(self, job: Candidate) -> str:
        return (job.share_identifier or "") if self.policy else ""

    def push(self, job: Candidate) -> None:
        share = self.share(job)
        if share not in self.shares:
            self.shares[share] = deque()
            self.usage[share] = self._all_usage.get((self.name, share), 0.0)
        self.shares[share].append(job)

    def pending(self) -> bool:
        return any(self.shares.values())

    def _next_share(self) -> str:
        policy = self.policy
        if policy is None:
            return ""
        return min(
            (s for s, jobs in self.shares.items() if jobs),
            key=lambda s: (
                self.usage[s] * share_weight(policy, s),
                *_fifo(self.shares[s][0]),
                s,
            ),
        )

    def peek(self) -> Candidate:
        return self.shares[self._next_share()][0]

    def pop(self) -> Candidate:
        return self.shares[self._next_share()].popleft()

    def charge(self, job: Candidate) -> None:
        """Counts a job placed in this pass against its share for the rest of the pass."""
        if self.policy is not None:
            window = self.policy.share_decay_seconds or DEFAULT_DECAY_SECONDS
            self.usage[self.share(job)] += job.total_vcpus() * window

    def behind(self) -> str:
        return f"waiting behind earlier jobs of queue {self.name}"


class _Pass:
    """What one scheduling pass has booked so far: vCPUs per environment, host capacity, the
    (queue, share, environment) lanes whose head waits, and the shares that run something."""

    def __init__(
        self,
        environments: Mapping[str, ComputeEnvironmentSpec],
        held: Mapping[str, float],
        hosts: Sequence[HostSlot],
        active_shares: Collection[tuple[str, str]],
        rules: Rules,
    ) -> None:
        self.envs = environments
        self.used = {name: _units(held.get(name, 0.0)) for name in environments}
        self.slots = {h.name: h for h in hosts}
        self.scope = {
            name: [h.name for h in hosts if _in_scope(h, env)] for name, env in environments.items()
        }
        self.active = set(active_shares)
        self.rules = rules
        self.blocked: set[tuple[str, str, str]] = set()
        self.own: dict[str, int] = {}  # nodes placed per host in this pass, for `spread`
        self._never: dict[tuple[Nodes, str], str | None] = {}
        # Why a job waits, by (queue, share, nodes), once that no longer depends on room: every
        # environment is off, too small, or blocked for the lane, and within a pass those stay
        # so. The jobs behind a blocked queue's head then cost a lookup each, not a judgement.
        self._settled: dict[tuple[str, str, Nodes], str] = {}

    def consider(self, line: _Line, job: Candidate) -> Placement | str:
        share = line.share(job)
        key = (line.name, share, job.node_needs())
        settled = self._settled.get(key)
        if settled is not None:
            return settled
        notes: list[tuple[str, str]] = []  # (off | never | behind | full, text), per environment
        waits_for: list[str] = []
        for name in line.spec.environments():
            env = self.envs.get(name)
            if env is None or env.state != "ENABLED":
                state = "does not exist" if env is None else "is DISABLED"
                notes.append(("off", f"compute environment {name} {state}"))
                continue
            never = self.never_fits(job, name, env)
            if never is not None:
                notes.append(("never", never))
                continue
            if (line.name, share, name) in self.blocked:
                notes.append(("behind", f"{line.behind()} in {name}"))
                continue
            why = self.vcpu_room(line, job, name, env)
            if why is None:
                hosts = [self.slots[h] for h in self.scope[name]]
                fit = _fit(job.node_needs(), hosts, self.own, self.rules)
                if isinstance(fit, _Fit):
                    return self.book(line, job, name, fit)
                why = _no_host(name, job, *fit)
            notes.append(("full", why))
            waits_for.append(name)
        for name in waits_for:
            self.blocked.add((line.name, share, name))
        reason = _reason(line, share, notes)
        if not waits_for:
            self._settled[key] = reason
        return reason

    def never_fits(self, job: Candidate, name: str, env: ComputeEnvironmentSpec) -> str | None:
        """Why `job` could not start in `name` even with the environment idle, or None."""
        key = (job.node_needs(), name)
        if key not in self._never:
            self._never[key] = self._never_fits(job, name, env)
        return self._never[key]

    def _never_fits(self, job: Candidate, name: str, env: ComputeEnvironmentSpec) -> str | None:
        total = job.total_vcpus()
        if _units(total) > env.max_vcpus * VCPU:
            return (
                f"the job needs {_vcpus(total)}, more than compute environment {name}'s "
                f"maxvCpus {env.max_vcpus}"
            )
        if not self.scope[name]:
            return (
                f"compute environment {name} has no host: none in the pool matches its hosts "
                f"({', '.join(env.hosts) or 'any'}) and zones ({', '.join(env.zones) or 'any'})"
            )
        idle = [
            replace(self.slots[h], cpu_used=0, memory_used=0, up=True, draining=False)
            for h in self.scope[name]
        ]
        fit = _fit(job.node_needs(), idle, {}, self.rules)
        if isinstance(fit, _Fit):
            return None
        return _no_host(name, job, *fit, idle=True)

    def vcpu_room(
        self, line: _Line, job: Candidate, name: str, env: ComputeEnvironmentSpec
    ) -> str | None:
        """Why the environment's vCPUs leave no room for `job`, or None."""
        used, need, limit = self.used[name], _units(job.total_vcpus()), env.max_vcpus * VCPU
        if used + need > limit:
            if used >= limit:
                return (
                    f"compute environment {name} is at its maxvCpus {env.max_vcpus} "
                    f"({_num(used / VCPU)} held)"
                )
            return (
                f"compute environment {name} has {_num((limit - used) / VCPU)} of its maxvCpus "
                f"{env.max_vcpus} free ({_num(used / VCPU)} held), the job needs "
                f"{_vcpus(need / VCPU)}"
            )
        policy = line.policy
        if policy is None or not policy.compute_reservation:
            return None
        active = {s for q, s in self.active if q == line.name}
        if line.share(job) not in active:
            return None  # what the reservation is kept for
        reserved = limit * (policy.compute_reservation / 100) ** len(active)
        if used + need <= limit - reserved:
            return None
        return (
            f"compute environment {name} keeps {_vcpus(reserved / VCPU)} of its maxvCpus "
            f"{env.max_vcpus} for fair-share identifiers that run nothing yet "
            f"(computeReservation {policy.compute_reservation}, {len(active)} active)"
        )

    def book(self, line: _Line, job: Candidate, name: str, fit: _Fit) -> Placement:
        self.used[name] += _units(job.total_vcpus())
        self.slots.update(fit.slots)
        for h in fit.hosts:
            self.own[h] = self.own.get(h, 0) + 1
        self.active.add((line.name, line.share(job)))
        return Placement(job.job_id, name, fit.hosts, job.total_vcpus())


@dataclass(frozen=True)
class _Fit:
    hosts: tuple[str, ...]
    slots: dict[str, HostSlot]  # the hosts with the job's nodes booked


def _fit(
    nodes: Nodes, slots: Sequence[HostSlot], own: Mapping[str, int], rules: Rules
) -> _Fit | tuple[int, str]:
    """A host for every node, largest nodes first, or (the node that fits nowhere, why).
    `own`: batch nodes per host so far, which `spread` evens out."""
    current = {h.name: h for h in slots}
    own = dict(own)
    chosen = [""] * len(nodes)
    for i in sorted(range(len(nodes)), key=lambda i: (-nodes[i][0], -nodes[i][1], i)):
        need = Need(_units(nodes[i][0]), nodes[i][1])
        placed = place(1, need, list(current.values()), own, rules)
        if placed.unplaced:
            return i, placed.reason
        host = current[placed.hosts[0]]
        chosen[i] = host.name
        own[host.name] = own.get(host.name, 0) + 1
        current[host.name] = replace(
            host, cpu_used=host.cpu_used + need.cpu, memory_used=host.memory_used + need.memory
        )
    return _Fit(tuple(chosen), current)


def _no_host(name: str, job: Candidate, node: int, why: str, idle: bool = False) -> str:
    vcpus, memory = job.node_needs()[node]
    what = f"no host in {name} has {_vcpus(vcpus)} and {memory} MiB " + (
        "even when idle" if idle else "free"
    )
    if job.nodes:
        what += f" for node {node} of {len(job.nodes)}, which start together"
    return f"{what}: {why}"


def _in_scope(host: HostSlot, env: ComputeEnvironmentSpec) -> bool:
    return (not env.hosts or host.name in env.hosts) and (not env.zones or host.zone in env.zones)


def _reason(line: _Line, share: str, notes: list[tuple[str, str]]) -> str:
    if all(kind == "off" for kind, _ in notes):
        texts = ", ".join(text for _, text in notes)
        return f"no ENABLED compute environment in job queue {line.name} ({texts})"
    live = [kind for kind, _ in notes if kind in ("full", "behind")]
    if live and all(kind == "behind" for kind in live):
        return line.behind() + (f" (share {share or '(none)'})" if line.policy else "")
    return "; ".join(text for _, text in notes)
