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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    directive,
    integer,
    join,
    kw,
    name,
    path,
    phrase,
    quoted,
    seconds,
    section,
    whole,
)
from controller.elb.models.load_balancer import (
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


PRIMARY, TWIN = "primary", "twin"  # a target's checked server, and its check-less backup

SERVER_TIMEOUT = 60  # seconds HAProxy waits for a target's answer
MAX_PORT = 65535
MAX_THREADS = 64  # HAProxy 2.6's limit per thread group
MAX_PRIORITY = 50000  # ALB's highest rule priority
# Idle connections kept to each target for reuse. A server added through the runtime API keeps
# none by default (HAProxy 2.6), so every request would open a connection through docker-proxy,
# and TIME_WAIT sockets would eat the ephemeral ports until checks and new tasks fail.
IDLE_POOL = phrase("pool-max-conn -1 pool-purge-delay 5s")


def backend(group: str) -> Word:
    return name(f"tg_{group}")


def server_prefix(target_id: str) -> str:
    """What of a target's id its servers' names keep."""
    return target_id[:12]


def server_name(task_id: str) -> Word:
    return name(f"t{server_prefix(task_id)}")


def backup_name(task_id: str) -> Word:
    return name(f"b{server_prefix(task_id)}")


def check_words(spec: TargetGroupSpec) -> tuple[Word, ...]:
    """The group's health-check rhythm, as a server takes it. HAProxy gives the backend's
    `default-server` only to servers of the configuration, so `add server` needs it too."""
    hc = spec.health_check
    return (
        kw("inter"),
        seconds(hc.interval_seconds),
        kw("fall"),
        integer(hc.unhealthy_threshold_count),
        kw("rise"),
        integer(hc.healthy_threshold_count),
    )


def check_settings(spec: TargetGroupSpec) -> str:
    """`check_words` as text."""
    return " ".join(check_words(spec))


@dataclass(frozen=True)
class Target:
    """A task's container port that should be in a target group."""

    task_id: str
    address: str
    port: int
    draining: bool = False  # the task is being stopped: no new requests


def target_problem(target: Target) -> str | None:
    """Why HAProxy cannot be told about this target (an id or address that is no plain
    word: it came from outside Skiff's manifests), or None."""
    try:
        server_name(target.task_id)
        address(target.address, target.port)
    except UnsafeValue as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Server:
    """A target's two servers in HAProxy, as the data plane reports them: the checked primary
    and its check-less backup twin (fail open). Either may be missing after a partial failure."""

    address: str
    port: int
    up: bool  # the primary passes its checks
    admin: str  # the primary's: ready | drain | maint; "" when it is missing
    checked: bool  # the primary has completed a check
    sessions: int = 0  # connections on the primary and its twin together
    twin: str = "ready"  # the twin's admin state; "" when it is missing
    checking: bool = True  # the primary's health checks are on


ServerKey = tuple[str, str, str]  # (group, task id, PRIMARY or TWIN)


@dataclass(frozen=True)
class TargetPlan:
    """Runtime API steps, in the order they are applied; each is idempotent, so a pass that
    failed half-way is completed by the next one."""

    add: tuple[tuple[str, Target, str], ...] = ()  # (group, target, which): servers missing
    checks: tuple[tuple[str, str], ...] = ()  # (group, task id): primaries whose checks are off
    ready: tuple[ServerKey, ...] = ()  # into rotation
    drain: tuple[ServerKey, ...] = ()  # no new requests
    remove: tuple[tuple[str, str], ...] = ()  # (group, task id): both servers deleted
    cut: frozenset[tuple[str, str]] = frozenset()  # removals whose delay ran out: close sessions
    states: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (group, task) -> state

    def is_noop(self) -> bool:
        return not (self.add or self.checks or self.ready or self.drain or self.remove)


# --- the configuration ------------------------------------------------------------------------
# Every line is built by haproxy_syntax from words it made: values are refused (UnsafeValue)
# or quoted there, never written here.


def render(
    *,
    admin_socket: str,
    bind_address: str,
    load_balancers: Mapping[str, LoadBalancerSpec],
    groups: Mapping[str, TargetGroupSpec],
    targets: Mapping[str, Sequence[Target]],
    skip: frozenset[tuple[str, int]] = frozenset(),
    threads: int = 1,
) -> str:
    """The whole configuration. Listeners in `skip` ((load balancer, port)) are left out.
    UnsafeValue: a value that cannot be written as the word it must be (validation keeps
    such values out of manifests; this is the last line of defence)."""
    longest_delay = max((whole(g.deregistration_delay) for g in groups.values()), default=0)
    out = [
        section(kw("global")),
        directive(
            *phrase("stats socket"), path(admin_socket), *phrase("level admin expose-fd listeners")
        ),
        directive(*phrase("maxconn 4096")),
        directive(kw("nbthread"), integer(threads, 1, MAX_THREADS)),
        # An old worker finishes what it serves after a reload: a request HAProxy still waits
        # for, or a draining target's requests for their deregistration delay.
        directive(kw("hard-stop-after"), seconds(max(longest_delay, SERVER_TIMEOUT) + 30)),
        "",
        section(kw("defaults")),
        directive(*phrase("mode http")),
        directive(*phrase("timeout connect 5s")),
        directive(*phrase("timeout client 60s")),
        directive(*phrase("timeout server"), seconds(SERVER_TIMEOUT)),
        directive(*phrase("timeout http-request 10s")),
        directive(*phrase("option redispatch")),
        # X-Forwarded-For: the client's address, after any it sent
        directive(*phrase("option forwardfor")),
        directive(*phrase("retries 2")),
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


def frontend(lb: str, port: int) -> Word:
    return name(f"lb_{lb}_{integer(port, 1, MAX_PORT)}")


def _frontend(
    lb: str, port: int, bind: str, rules: Sequence[Rule], default: Action, groups: set[str]
) -> list[str]:
    out = [
        section(kw("frontend"), frontend(lb, port)),
        directive(kw("bind"), address(bind, port)),
        directive(*phrase("http-request set-header X-Forwarded-Proto http")),
        directive(*phrase("http-request set-header X-Forwarded-Port"), integer(port, 1, MAX_PORT)),
    ]
    ordered = sorted(rules, key=lambda r: whole(r.priority, 1, MAX_PRIORITY))
    claims: list[tuple[int, Action]] = []
    for rule in ordered:
        n = integer(rule.priority, 1, MAX_PRIORITY)
        conds: list[Word] = []
        for cond in rule.conditions:
            if cond.field == "path-pattern":
                acl = join(kw("r"), n, kw("_path"))
                patterns = [quoted(glob_regex(v)) for v in cond.values]
                out.append(directive(kw("acl"), acl, *phrase("path -m reg"), *patterns))
            else:
                acl = join(kw("r"), n, kw("_host"))
                patterns = [quoted(glob_regex(v.lower())) for v in cond.values]
                out.append(
                    directive(kw("acl"), acl, kw(f"{HOST},lower"), *phrase("-m reg"), *patterns)
                )
            conds.append(acl)
        out.append(directive(*_claim(n), *phrase("if !{ var(txn.rule) -m found }"), *conds))
        claims.append((rule.priority, rule.actions[0]))
    out.append(directive(*_claim(integer(0)), *phrase("if !{ var(txn.rule) -m found }")))
    claims.append((0, default))
    out.append(directive(*phrase("http-request set-var(txn.pick) rand(1000)")))
    acts = [line for n, action in claims for line in _act(n, action, port, groups)]
    # HAProxy runs every http-request rule before any use_backend: write them in that order.
    out += [a for a in acts if a.lstrip().startswith("http-request")]
    out += [a for a in acts if a.lstrip().startswith("use_backend")]
    return [*out, ""]


def _claim(n: Word) -> tuple[Word, ...]:
    """`http-request set-var(txn.rule) int(N)`: rule N takes the request."""
    return (kw("http-request"), kw("set-var(txn.rule)"), join(kw("int("), n, kw(")")))


def _act(n: int, action: Action, port: int, groups: set[str]) -> list[str]:
    when = (*phrase("if { var(txn.rule) -m int"), integer(n), kw("}"))
    if action.type == "fixed-response":
        fixed = action.fixed_response_config
        assert fixed is not None
        body: tuple[Word, ...] = (
            (
                kw("content-type"),
                quoted(fixed.content_type),
                kw("string"),
                quoted(fixed.message_body),
            )
            if fixed.message_body
            else ()
        )
        status = integer(_status(fixed.status_code), 200, 599)
        return [directive(*phrase("http-request return status"), status, *body, *when)]
    if action.type == "redirect":
        redirect = action.redirect_config
        assert redirect is not None
        code = integer(_status(redirect.status_code.removeprefix("HTTP_")), 300, 399)
        return [
            directive(
                *phrase("http-request redirect location"),
                quoted(location),
                kw("code"),
                code,
                *when,
                *also,
            )
            for location, also in _locations(redirect, port)
        ]
    choices = [(g, whole(w)) for g, w in action.target_groups() if g in groups]
    choices = [(g, w) for g, w in choices if w > 0]
    if not choices:
        return [
            directive(
                *phrase("http-request return status 503 content-type text/plain string"),
                quoted("no target group"),
                *when,
            )
        ]
    if len(choices) == 1:
        return [directive(kw("use_backend"), backend(choices[0][0]), *when)]
    total = sum(w for _, w in choices)
    out, low = [], 0
    for group, weight in choices:
        high = low + round(1000 * weight / total)
        pick = (
            *phrase("{ var(txn.pick) -m int ge"),
            integer(low),
            kw("}"),
            *phrase("{ var(txn.pick) -m int lt"),
            integer(high),
            kw("}"),
        )
        out.append(directive(kw("use_backend"), backend(group), *when, *pick))
        low = high
    # rounding leftovers
    out.append(directive(kw("use_backend"), backend(choices[-1][0]), *when))
    return out


def _status(code: str) -> int:
    """An HTTP status code written as three digits."""
    if not isinstance(code, str) or not re.fullmatch(r"[0-9]{3}", code):
        raise UnsafeValue(f"{code!r:.40} is not an HTTP status code")
    return int(code)


_PLACEHOLDER = re.compile(r"#\{(?:host|port|path|query)\}")
# The request's Host without its port (an IPv6 address keeps its brackets and colons).
HOST = "req.hdr(host),regsub(:[0-9]+$,)"


def _locations(cfg: RedirectConfig, port: int) -> list[tuple[str, tuple[Word, ...]]]:
    """The redirect's Location as HAProxy log-format strings (each becomes one quoted word),
    each with the condition that picks it: as ALB does, no `?` when the query it would carry
    is empty."""
    proto = "http" if cfg.protocol == "#{protocol}" else cfg.protocol.lower()
    subst = {
        "#{host}": f"%[{HOST}]",
        "#{port}": str(port),
        "#{path}": "%[path,regsub(^/,)]",
        "#{query}": "%[query]",
    }

    def fill(text: str) -> str:
        """User text is literal: its `%` must not start a HAProxy expression."""
        out, last = [], 0
        for m in _PLACEHOLDER.finditer(text):
            out += [text[last : m.start()].replace("%", "%%"), subst[m.group(0)]]
            last = m.end()
        return "".join([*out, text[last:].replace("%", "%%")])

    location = f"{fill(proto)}://{fill(cfg.host)}:{fill(cfg.port)}{fill(cfg.path)}"
    if not cfg.query:
        return [(location, ())]
    if cfg.query.replace("#{query}", ""):  # text of its own: never empty
        return [(f"{location}?{fill(cfg.query)}", ())]
    has_query = phrase("{ query -m len gt 0 }")
    return [(f"{location}?{fill(cfg.query)}", has_query), (location, ())]


def _backend(group: str, spec: TargetGroupSpec, targets: Sequence[Target]) -> list[str]:
    hc = spec.health_check
    out = [
        section(kw("backend"), backend(group)),
        directive(*phrase("balance roundrobin")),
        directive(*phrase("option allbackups")),
        directive(*phrase("option httpchk GET"), quoted(hc.path)),
        directive(*phrase("http-check expect rstatus"), quoted(status_regex(hc.matcher.http_code))),
        directive(*phrase("timeout check"), seconds(hc.timeout_seconds)),
        directive(kw("default-server"), *check_words(spec)),
    ]
    for t in sorted(targets, key=lambda t: t.task_id):
        weight = phrase("weight 0") if t.draining else ()
        where = address(t.address, t.port)
        out.append(
            directive(kw("server"), server_name(t.task_id), where, kw("check"), *IDLE_POOL, *weight)
        )
        out.append(
            directive(
                kw("server"), backup_name(t.task_id), where, kw("backup"), *IDLE_POOL, *weight
            )
        )
    return [*out, ""]


_CODES = re.compile(r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$")


def status_regex(codes: str) -> str:
    """ALB's matcher ("200", "200,202", "200-299") as an anchored regex."""
    if not isinstance(codes, str) or not _CODES.fullmatch(codes):
        raise UnsafeValue(f"{codes!r:.40} is not a list of HTTP status codes")
    parts: list[str] = []
    for item in codes.split(","):
        low, _, high = item.partition("-")
        parts += [str(c) for c in range(int(low), int(high or low) + 1)]
    return "^(" + "|".join(parts) + ")$"


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
    old_workers: bool = False,
) -> TargetPlan:
    """What to add, check, make ready, drain and remove; and every target's ALB state.

    `current` is keyed by (group, task id); `activated` holds targets that once passed a check
    (after a reload HAProxy forgets, but they need not wait again); `drain_since` says since
    when each target has been seen draining (none yet: it starts now). A new target stays
    initial for its group's `windows` seconds from `registered_at` even if checks fail (ALB
    needs the unhealthy threshold of failed checks; HAProxy takes a new server down at the
    first): an app still starting is not declared unhealthy.

    A draining target (a task being stopped, or servers no target stands for any more) is
    removed only once an earlier pass put both its servers in drain, so the sessions read now
    are all it will ever have, and none is left; or once its group's deregistration delay has
    run out, cutting what remains. `old_workers`: an older HAProxy worker still finishes
    requests after a reload; its sessions cannot be read, so only the delay ends a drain.
    """
    registered_at, windows = registered_at or {}, windows or {}
    add: list[tuple[str, Target, str]] = []
    checks: list[tuple[str, str]] = []
    ready: list[ServerKey] = []
    drain: list[ServerKey] = []
    remove: list[tuple[str, str]] = []
    cut: set[tuple[str, str]] = set()
    states: dict[tuple[str, str], str] = {}

    def leave(key: tuple[str, str], server: Server) -> None:
        states[key] = DRAINING
        group, task_id = key
        expired = now - drain_since.get(key, now) >= delays.get(group, 0)
        drained = server.admin in ("drain", "maint", "") and server.twin in ("drain", "maint", "")
        if drained and (expired or (server.sessions == 0 and not old_workers)):
            remove.append(key)
            if server.sessions:
                cut.add(key)
            return
        drain.extend((group, task_id, w) for w, a in _pair(server) if a == "ready")

    wanted_keys = set()
    for group, targets in wanted.items():
        for t in targets:
            key = (group, t.task_id)
            wanted_keys.add(key)
            server = current.get(key)
            if t.draining:
                if server is not None:
                    leave(key, server)
                continue
            if server is None or not server.admin:
                add.append((group, t, PRIMARY))
                checks.append(key)
                twin = "" if server is None else server.twin
                server = Server(t.address, t.port, False, "maint", False, twin=twin)
            elif not server.checking:
                checks.append(key)  # e.g. an earlier pass failed right after adding it
            if not server.twin:
                add.append((group, t, TWIN))
                server = replace(server, twin="maint")
            young = now - registered_at.get(key, now) < windows.get(group, 0.0)
            passed = server.checked and server.up and server.admin != "maint"
            health = _target_health(server, passed, key in activated, young)
            states[key] = health if group in used_groups else UNUSED
            # No traffic before a first check passed; the twin joins fail open only then too.
            primary = "ready" if passed or key in activated else "drain"
            twin = "drain" if health == INITIAL else "ready"
            for which, have, want in ((PRIMARY, server.admin, primary), (TWIN, server.twin, twin)):
                if have != want:
                    (ready if want == "ready" else drain).append((group, t.task_id, which))
    for key, server in current.items():
        if key not in wanted_keys:
            leave(key, server)  # nobody stands for it (its task is gone): drain, then remove
    return TargetPlan(
        tuple(add), tuple(checks), tuple(ready), tuple(drain), tuple(remove), frozenset(cut), states
    )


def _target_health(server: Server, passed: bool, activated: bool, young: bool) -> str:
    """ALB's state: healthy once a check passed (or, for one that passed before, while up:
    unchecked after a reload); initial while young or unchecked; else unhealthy."""
    if passed:
        return HEALTHY
    if activated:
        return HEALTHY if server.up else UNHEALTHY
    if young or not server.checked:
        return INITIAL
    return UNHEALTHY


def _pair(server: Server) -> tuple[tuple[str, str], tuple[str, str]]:
    return ((PRIMARY, server.admin), (TWIN, server.twin))
