"""The values the data plane is given and reports, in its own words: targets and their servers,
target groups (the health checks of a backend), and load balancers (listeners, rules and their
actions) as far as the data plane needs them.

Plain frozen dataclasses. They hold what the caller gives them as is: the ELB package translates
its manifests into them (controller/elb/planners/data_plane.py), and the data plane's writers
refuse a value that cannot be said (UnsafeValue) when they say it. No AWS service is imported
here, and nothing here talks to a data plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRIMARY, TWIN = "primary", "twin"  # a target's checked server, and its check-less backup


@dataclass(frozen=True)
class Target:
    """An address and port that should be in a target group (a task's container port, or an
    instance's)."""

    task_id: str  # the target's id: a task's or an instance's
    address: str
    port: int
    draining: bool = False  # being stopped: no new requests


@dataclass(frozen=True)
class Server:
    """A target's two servers, as the data plane reports them: the checked primary and its
    check-less backup twin (fail open). Either may be missing after a partial failure."""

    address: str
    port: int
    up: bool  # the primary passes its checks
    admin: str  # the primary's: ready | drain | maint; "" when it is missing
    checked: bool  # the primary has completed a check
    sessions: int = 0  # connections on the primary and its twin together
    twin: str = "ready"  # the twin's admin state; "" when it is missing
    checking: bool = True  # the primary's health checks are on


@dataclass(frozen=True)
class HealthCheck:
    """How a target group's targets are checked: GET `path`, every `interval_seconds`, a
    status among `http_code` ("200", "200,202", "200-299") within `timeout_seconds`."""

    path: str = "/"
    interval_seconds: int = 30
    timeout_seconds: int = 5
    healthy_threshold_count: int = 5
    unhealthy_threshold_count: int = 2
    http_code: str = "200"


@dataclass(frozen=True)
class TargetGroup:
    """What the data plane needs of a target group: its checks, and how long a draining
    target may keep its requests (an old process must outlive it after a reload)."""

    health_check: HealthCheck = field(default_factory=HealthCheck)
    deregistration_delay: int = 300


@dataclass(frozen=True)
class Forward:
    """Forward to target groups, each picked in proportion to its weight."""

    groups: tuple[tuple[str, int], ...]  # (target group, weight)


@dataclass(frozen=True)
class Redirect:
    """Answer with a redirect. `#{protocol}`, `#{host}`, `#{port}`, `#{path}` and `#{query}`
    stand for the request's; every other character is literal. `status_code`: "301" or
    "302"."""

    protocol: str
    host: str
    port: str
    path: str
    query: str
    status_code: str


@dataclass(frozen=True)
class FixedResponse:
    """Answer with this status, and the body when there is one."""

    status_code: str
    content_type: str = "text/plain"
    message_body: str = ""


Action = Forward | Redirect | FixedResponse


@dataclass(frozen=True)
class Condition:
    """A rule's condition: the request's path (without the query, case-sensitive) or its Host
    header (without its port, lowercased) matches one of `patterns`, anchored regexes."""

    on: str  # "path" | "host"
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """Takes a request when every condition holds and no rule of a lower priority took it."""

    priority: int
    conditions: tuple[Condition, ...]
    action: Action


@dataclass(frozen=True)
class Listener:
    """A port, its rules, and the action for what no rule takes."""

    port: int
    default: Action
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class LoadBalancer:
    listeners: tuple[Listener, ...]
