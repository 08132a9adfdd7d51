"""Load balancer planner: the HAProxy configuration for the load balancers, and the runtime
changes that bring each target group's servers to what the services' tasks need.

Pure. Rules keep ALB's semantics exactly: each rule, in priority order, claims a request
(`txn.rule`) only if no earlier rule did, so forwards, redirects and fixed responses of any
mix are decided in priority order; the default action takes what is left. Path patterns are
case-sensitive and see the path without the query; host headers are not. Weighted forwards pick
a group with one random draw per request. Each target is also a check-less backup server, so
when every target of a group is unhealthy, traffic goes to all of them (ALB's fail open).

Target states follow ALB: initial (registered, first check not passed: no traffic yet),
healthy, unhealthy, draining (no new requests, in-flight ones finish) and unused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.manifests.load_balancer import (
    Action,
    LoadBalancerSpec,
    RedirectConfig,
    Rule,
    TargetGroupSpec,
    glob_regex,
)

INITIAL, HEALTHY, UNHEALTHY, DRAINING, UNUSED = (
    "initial",
    "healthy",
    "unhealthy",
    "draining",
    "unused",
)


def backend(group: str) -> str:
    return f"tg_{group}"


def server_name(task_id: str) -> str:
    return f"t{task_id[:12]}"


def backup_name(task_id: str) -> str:
    return f"b{task_id[:12]}"


@dataclass(frozen=True)
class Target:
    """A task's container port that should be in a target group."""

    task_id: str
    address: str
    port: int
    draining: bool = False  # the task is being stopped: no new requests


@dataclass(frozen=True)
class Server:
    """A server in HAProxy, as the data plane reports it."""

    address: str
    port: int
    up: bool
    admin: str  # ready | drain | maint
    checked: bool
    sessions: int = 0


@dataclass(frozen=True)
class TargetPlan:
    add: tuple[tuple[str, Target], ...] = ()  # (group, target): added in drain until checked
    ready: tuple[tuple[str, str], ...] = ()  # (group, task id): first check passed
    drain: tuple[tuple[str, str], ...] = ()
    remove: tuple[tuple[str, str], ...] = ()
    states: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (group, task) -> state

    def is_noop(self) -> bool:
        return not (self.add or self.ready or self.drain or self.remove)


# --- the configuration ------------------------------------------------------------------------


def render(
    *,
    admin_socket: str,
    bind_address: str,
    load_balancers: Mapping[str, LoadBalancerSpec],
    groups: Mapping[str, TargetGroupSpec],
    targets: Mapping[str, Sequence[Target]],
    skip: frozenset[tuple[str, int]] = frozenset(),
) -> str:
    """The whole configuration. Listeners in `skip` ((load balancer, port)) are left out."""
    longest_delay = max((g.deregistration_delay for g in groups.values()), default=0)
    out = [
        "global",
        f"    stats socket {admin_socket} level admin expose-fd listeners",
        "    maxconn 4096",
        f"    hard-stop-after {max(longest_delay, 1) + 30}s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    option redispatch",
        "    retries 2",
        "",
    ]
    for lb_name, spec in sorted(load_balancers.items()):
        for listener in spec.listeners:
            if (lb_name, listener.port) in skip:
                continue
            out += _frontend(
                lb_name,
                listener.port,
                bind_address,
                listener.rules,
                listener.default_actions[0],
                set(groups),
            )
    for group, group_spec in sorted(groups.items()):
        out += _backend(group, group_spec, targets.get(group, ()))
    return "\n".join(out) + "\n"


def _frontend(
    lb: str, port: int, address: str, rules: Sequence[Rule], default: Action, groups: set[str]
) -> list[str]:
    out = [f"frontend lb_{lb}_{port}", f"    bind {address}:{port}"]
    ordered = sorted(rules, key=lambda r: r.priority)
    claims: list[tuple[int, Action]] = []
    for rule in ordered:
        n = rule.priority
        conds = []
        for cond in rule.conditions:
            if cond.field == "path-pattern":
                patterns = " ".join(_quote(glob_regex(v)) for v in cond.values)
                out.append(f"    acl r{n}_path path -m reg {patterns}")
                conds.append(f"r{n}_path")
            else:
                patterns = " ".join(_quote(glob_regex(v.lower())) for v in cond.values)
                out.append(f"    acl r{n}_host req.hdr(host),field(1,:),lower -m reg {patterns}")
                conds.append(f"r{n}_host")
        out.append(
            f"    http-request set-var(txn.rule) int({n}) if !{{ var(txn.rule) -m found }} "
            + " ".join(conds)
        )
        claims.append((n, rule.actions[0]))
    out.append("    http-request set-var(txn.rule) int(0) if !{ var(txn.rule) -m found }")
    claims.append((0, default))
    out.append("    http-request set-var(txn.pick) rand(1000)")
    acts = [line for n, action in claims for line in _act(n, action, port, groups)]
    # HAProxy runs every http-request rule before any use_backend: write them in that order.
    out += [a for a in acts if a.lstrip().startswith("http-request")]
    out += [a for a in acts if a.lstrip().startswith("use_backend")]
    return [*out, ""]


def _act(n: int, action: Action, port: int, groups: set[str]) -> list[str]:
    when = f"{{ var(txn.rule) -m int {n} }}"
    if action.type == "fixed-response":
        fixed = action.fixed_response_config
        assert fixed is not None
        body = (
            f" content-type {_quote(fixed.content_type)} string {_quote(fixed.message_body)}"
            if fixed.message_body
            else ""
        )
        return [f"    http-request return status {fixed.status_code}{body} if {when}"]
    if action.type == "redirect":
        redirect = action.redirect_config
        assert redirect is not None
        code = redirect.status_code.removeprefix("HTTP_")
        location = _quote(_location(redirect, port))
        return [f"    http-request redirect location {location} code {code} if {when}"]
    choices = [(g, w) for g, w in action.target_groups() if g in groups and w > 0]
    if not choices:
        return [
            f"    http-request return status 503 content-type text/plain string "
            f"{_quote('no target group')} if {when}"
        ]
    if len(choices) == 1:
        return [f"    use_backend {backend(choices[0][0])} if {when}"]
    total = sum(w for _, w in choices)
    out, low = [], 0
    for group, weight in choices:
        high = low + round(1000 * weight / total)
        pick = f"{{ var(txn.pick) -m int ge {low} }} {{ var(txn.pick) -m int lt {high} }}"
        out.append(f"    use_backend {backend(group)} if {when} {pick}")
        low = high
    out.append(f"    use_backend {backend(choices[-1][0])} if {when}")  # rounding leftovers
    return out


def _location(cfg: RedirectConfig, port: int) -> str:
    proto = "http" if cfg.protocol == "#{protocol}" else cfg.protocol.lower()
    subst = {
        "#{host}": "%[req.hdr(host),field(1,:)]",
        "#{port}": str(port),
        "#{path}": "%[path,regsub(^/,)]",
        "#{query}": "%[query]",
    }

    def fill(text: str) -> str:
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    query = fill(cfg.query)
    location = f"{proto}://{fill(cfg.host)}:{fill(cfg.port)}{fill(cfg.path)}"
    return location + (f"?{query}" if query else "")


def _backend(group: str, spec: TargetGroupSpec, targets: Sequence[Target]) -> list[str]:
    hc = spec.health_check
    out = [
        f"backend {backend(group)}",
        "    balance roundrobin",
        "    option allbackups",
        f"    option httpchk GET {hc.path}",
        f"    http-check expect rstatus {_quote(status_regex(hc.matcher.http_code))}",
        f"    timeout check {hc.timeout_seconds}s",
        f"    default-server inter {hc.interval_seconds}s fall {hc.unhealthy_threshold_count} "
        f"rise {hc.healthy_threshold_count}",
    ]
    for t in sorted(targets, key=lambda t: t.task_id):
        weight = " weight 0" if t.draining else ""
        out.append(f"    server {server_name(t.task_id)} {t.address}:{t.port} check{weight}")
        out.append(f"    server {backup_name(t.task_id)} {t.address}:{t.port} backup{weight}")
    return [*out, ""]


def status_regex(codes: str) -> str:
    """ALB's matcher ("200", "200,202", "200-299") as an anchored regex."""
    parts: list[str] = []
    for item in codes.split(","):
        low, _, high = item.partition("-")
        parts += [str(c) for c in range(int(low), int(high or low) + 1)]
    return "^(" + "|".join(parts) + ")$"


def _quote(text: str) -> str:
    """Strong (single) quotes: HAProxy expands neither `$` nor backslashes inside them; a
    single quote itself goes outside them, escaped."""
    return "'" + text.replace("'", "'\\''") + "'"


# --- target membership --------------------------------------------------------------------------


def plan_targets(
    wanted: Mapping[str, Sequence[Target]],
    current: Mapping[tuple[str, str], Server],
    used_groups: set[str],
    drain_since: Mapping[tuple[str, str], float],
    delays: Mapping[str, int],
    activated: set[tuple[str, str]],
    now: float,
    registered_at: Mapping[tuple[str, str], float] | None = None,
    windows: Mapping[str, float] | None = None,
) -> TargetPlan:
    """What to add, make ready, drain and remove; and every target's ALB state.

    `current` is keyed by (group, task id); `activated` holds targets that once passed a check
    (after a reload HAProxy forgets, but they need not wait again); `drain_since` says when each
    draining target began to drain. A new target stays initial for its group's `windows`
    seconds from `registered_at` even if checks fail (ALB needs the unhealthy threshold of
    failed checks; HAProxy takes a new server down at the first): an app still starting
    is not declared unhealthy.
    """
    registered_at, windows = registered_at or {}, windows or {}
    add, ready, drain, remove = [], [], [], []
    states: dict[tuple[str, str], str] = {}
    for group, targets in wanted.items():
        for t in targets:
            key = (group, t.task_id)
            server = current.get(key)
            if server is None:
                if not t.draining:
                    add.append((group, t))
                    states[key] = INITIAL if group in used_groups else UNUSED
                continue
            if t.draining:
                if server.admin != "drain":
                    drain.append(key)
                states[key] = DRAINING
                started = drain_since.get(key, now)
                if server.sessions == 0 or now - started >= delays.get(group, 0):
                    remove.append(key)  # ALB completes at once once nothing is in flight
                continue
            young = now - registered_at.get(key, now) < windows.get(group, 0.0)
            if group not in used_groups:
                states[key] = UNUSED
            elif server.checked and server.up:
                states[key] = HEALTHY
                if server.admin == "drain":
                    ready.append(key)  # passed: into rotation
            elif key in activated:
                states[key] = HEALTHY if server.up else UNHEALTHY  # e.g. unchecked after a reload
            elif young or not server.checked:
                states[key] = INITIAL
                if server.admin == "ready":
                    drain.append(key)  # no traffic before it passes a check
            else:
                states[key] = UNHEALTHY  # still failing after its window
    wanted_keys = {(g, t.task_id) for g, ts in wanted.items() for t in ts}
    for key in current:
        if key not in wanted_keys:
            remove.append(key)
    return TargetPlan(tuple(add), tuple(ready), tuple(drain), tuple(remove), states)
