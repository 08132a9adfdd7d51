"""HAProxy's configuration file as the data plane writes and reads it: a typed `Configuration`
rendered to text (`render`, every line built by haproxy_syntax from words it made), the ports a
file's listeners bind, and whether a port could be bound.

The listeners keep ALB's semantics exactly: each rule, in priority order, claims a request
(`txn.rule`) only if no earlier rule did, so forwards, redirects and fixed responses of any
mix are decided in priority order; the default action takes what is left. Path patterns see
the path without the query; host patterns the Host header without its port, lowercased.
Weighted forwards pick a group with one random draw per request. Each target is also a
check-less backup server, so when every target of a group is unhealthy, traffic goes to all
of them (ALB's fail open).

With a request log, each listener first weighs the request by its own request rate (SAMPLING)
and logs 1 in N of them (weight N) above it: request_log.py adds the lines up by weight.

Pure apart from `port_free`, which binds a socket for an instant; it decides nothing.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence

from controller.dataplane.base import Configuration
from controller.dataplane.haproxy_names import (
    IDLE_POOL,
    MAX_PORT,
    backend,
    backup_name,
    check_words,
    frontend,
    server_name,
)
from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    directive,
    integer,
    join,
    kw,
    path,
    phrase,
    quoted,
    seconds,
    section,
    whole,
)
from controller.dataplane.values import (
    Action,
    FixedResponse,
    LoadBalancer,
    Redirect,
    Rule,
    Target,
    TargetGroup,
)

SERVER_TIMEOUT = 60  # seconds HAProxy waits for a target's answer
MAX_THREADS = 64  # HAProxy 2.6's limit per thread group
MAX_PRIORITY = 50000  # ALB's highest rule priority
# Request-log sampling, per listener: (its requests per second over the last second, HAProxy's
# fe_req_rate, from which a tier applies; 1 in N of its requests is logged, with weight N).
# Below the first tier every request is logged with weight 1. The tiers keep the lines sent
# to the daemon under ~200 a second per listener up to 25,600 req/s (rate/128 beyond), so
# neither HAProxy (which spent ~20% more per request logging each) nor the reader spends
# much on them at any rate, while a quiet listener's every request is counted exactly.
SAMPLING = ((200, 16), (3200, 128))
WEIGHT = "txn.skiff_w"  # the request's weight in the log: 1, or N when 1 in N is logged


def configuration_text(
    config: Configuration, admin_socket: str, log_socket: str | None = None
) -> str:
    """The whole file. UnsafeValue: a value that cannot be written as the word it must be."""
    return render(
        admin_socket=admin_socket,
        log_socket=log_socket,
        bind_address=config.bind_address,
        load_balancers=config.load_balancers,
        groups=config.groups,
        targets=config.targets,
        skip=config.skip,
        threads=config.threads,
    )


def bound_ports(text: str) -> dict[int, str]:
    """Port -> the LoadBalancer whose frontend binds it, in a configuration file."""
    bound: dict[int, str] = {}
    lb = ""
    for line in text.splitlines():
        if line.startswith("frontend "):
            lb = line.split()[1].removeprefix("lb_").rsplit("_", 1)[0]
        elif line.strip().startswith("bind "):
            bound[int(line.rsplit(":", 1)[1])] = lb
    return bound


def port_free(address: str, port: int) -> bool:
    """Whether HAProxy could bind the port. Like HAProxy, with SO_REUSEADDR: a port whose last
    connection is in TIME_WAIT is free."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


# --- the configuration ------------------------------------------------------------------------
# Every line is built by haproxy_syntax from words it made: values are refused (UnsafeValue)
# or quoted there, never written here.


def render(
    *,
    admin_socket: str,
    bind_address: str,
    load_balancers: Mapping[str, LoadBalancer],
    groups: Mapping[str, TargetGroup],
    targets: Mapping[str, Sequence[Target]],
    skip: frozenset[tuple[str, int]] = frozenset(),
    threads: int = 1,
    log_socket: str | None = None,
) -> str:
    """The whole configuration. Listeners in `skip` ((load balancer, port)) are left out.
    With `log_socket`, requests are logged there (a unix datagram socket) as one line each:
    its backend, the target's response time in ms (Tr) and its weight, the number of requests
    it stands for: every request while its listener is quiet, 1 in N with weight N above the
    rates of SAMPLING (`_sampling`).
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
        *_request_log(log_socket),
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
        *_request_log_format(log_socket),
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
                listener.default,
                set(groups),
                sampled=log_socket is not None,
            )
    for group, group_spec in sorted(groups.items()):
        out += _backend(group, group_spec, targets.get(group, ()))
    return "\n".join(out) + "\n"


def _request_log(log_socket: str | None) -> list[str]:
    """Where HAProxy sends each request's line: the data plane's datagram socket, as is."""
    if log_socket is None:
        return []
    return [directive(kw("log"), path(log_socket), *phrase("format raw local0 info"))]


def _request_log_format(log_socket: str | None) -> list[str]:
    """Each logged request's line: `BACKEND TR WEIGHT`, the target's response time in ms (-1:
    none) and how many requests the line stands for (`_sampling`)."""
    if log_socket is None:
        return []
    return [
        directive(*phrase("log global")),
        directive(kw("log-format"), quoted(f"%b %Tr %[var({WEIGHT})]")),
    ]


def _sampling() -> list[str]:
    """A frontend's first rules: the request's weight from the listener's request rate over
    the last second (1 below every tier of SAMPLING, else the highest tier's N), and for
    weight N, a draw that leaves the request's line out (silent) N-1 times in N. Each request
    is thus logged with probability 1/weight: weighted counts are unbiased at every rate.
    First, so that redirects and fixed responses, which end the rules, are sampled too."""
    out = [directive(kw("http-request"), *_set_weight(1))]
    for rate, n in SAMPLING:
        out.append(
            directive(
                kw("http-request"),
                *_set_weight(n),
                *phrase("if { fe_req_rate ge"),
                integer(rate, 1),
                kw("}"),
            )
        )
    for _, n in SAMPLING:
        w = integer(n, 2)
        out.append(
            directive(
                *phrase(f"http-request set-log-level silent if {{ var({WEIGHT}) -m int eq"),
                w,
                *phrase("} !{"),
                join(kw("rand("), w, kw(")")),
                *phrase("-m int eq 0 }"),
            )
        )
    return out


def _set_weight(n: int) -> tuple[Word, ...]:
    return (kw(f"set-var({WEIGHT})"), join(kw("int("), integer(n, 1), kw(")")))


def _frontend(
    lb: str,
    port: int,
    bind: str,
    rules: Sequence[Rule],
    default: Action,
    groups: set[str],
    *,
    sampled: bool = False,
) -> list[str]:
    out = [
        section(kw("frontend"), frontend(lb, port)),
        directive(kw("bind"), address(bind, port)),
        *(_sampling() if sampled else ()),
        directive(*phrase("http-request set-header X-Forwarded-Proto http")),
        directive(*phrase("http-request set-header X-Forwarded-Port"), integer(port, 1, MAX_PORT)),
    ]
    ordered = sorted(rules, key=lambda r: whole(r.priority, 1, MAX_PRIORITY))
    claims: list[tuple[int, Action]] = []
    for rule in ordered:
        n = integer(rule.priority, 1, MAX_PRIORITY)
        conds: list[Word] = []
        for cond in rule.conditions:
            patterns = [quoted(p) for p in cond.patterns]
            if cond.on == "path":
                acl = join(kw("r"), n, kw("_path"))
                out.append(directive(kw("acl"), acl, *phrase("path -m reg"), *patterns))
            else:
                acl = join(kw("r"), n, kw("_host"))
                out.append(
                    directive(kw("acl"), acl, kw(f"{HOST},lower"), *phrase("-m reg"), *patterns)
                )
            conds.append(acl)
        out.append(directive(*_claim(n), *phrase("if !{ var(txn.rule) -m found }"), *conds))
        claims.append((rule.priority, rule.action))
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
    if isinstance(action, FixedResponse):
        body: tuple[Word, ...] = (
            (
                kw("content-type"),
                quoted(action.content_type),
                kw("string"),
                quoted(action.message_body),
            )
            if action.message_body
            else ()
        )
        status = integer(_status(action.status_code), 200, 599)
        return [directive(*phrase("http-request return status"), status, *body, *when)]
    if isinstance(action, Redirect):
        code = integer(_status(action.status_code), 300, 399)
        return [
            directive(
                *phrase("http-request redirect location"),
                quoted(location),
                kw("code"),
                code,
                *when,
                *also,
            )
            for location, also in _locations(action, port)
        ]
    choices = [(g, whole(w)) for g, w in action.groups if g in groups]
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


def _locations(cfg: Redirect, port: int) -> list[tuple[str, tuple[Word, ...]]]:
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


def _backend(group: str, spec: TargetGroup, targets: Sequence[Target]) -> list[str]:
    hc = spec.health_check
    out = [
        section(kw("backend"), backend(group)),
        directive(*phrase("balance roundrobin")),
        directive(*phrase("option allbackups")),
        directive(*phrase("option httpchk GET"), quoted(hc.path)),
        directive(*phrase("http-check expect rstatus"), quoted(status_regex(hc.http_code))),
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
