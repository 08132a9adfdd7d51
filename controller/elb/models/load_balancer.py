"""The `TargetGroup` and `LoadBalancer` kinds: an application load balancer as ALB describes one.

A LoadBalancer has listeners (a port on the pool's address, HTTP); each listener has rules,
tried by priority (lowest first), whose conditions (`path-pattern`, `host-header`) pick an
action (`forward` to one or weighted target groups, `redirect`, `fixed-response`), and a
default action. Services register their tasks in target groups (`Service.loadBalancers`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from controller.manifests.base import Path, ResourceName, SpecModel, quote

MAX_PATTERN = 128
# A URL's characters: printable ASCII, no spaces (HAProxy sends the health-check path as is).
_URL_CHARS = re.compile(r"^[\x21-\x7e]*$")
_PORT = re.compile(r"^(#\{port\}|[1-9]\d{0,4})$")
# Control characters a fixed response's body may hold; the configuration can write these.
_BODY_CONTROLS = {"\n", "\r", "\t"}
_PATH_CHARS = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&*?]+$")
_HOST_CHARS = re.compile(r"^[A-Za-z0-9\-.*?]+$")
_MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


class Matcher(SpecModel):
    http_code: str = Field("200", description='"200", "200,202" or "200-299".')

    @field_validator("http_code")
    @classmethod
    def _codes(cls, value: str) -> str:
        if not _MATCHER.fullmatch(value):
            raise ValueError('httpCode must be codes like "200", "200,202" or "200-299"')
        return value


def _url_part(value: str, what: str) -> str:
    if not _URL_CHARS.fullmatch(value):
        raise ValueError(
            f"{what} may hold only printable ASCII characters, no spaces or control characters"
        )
    return value


class TargetGroupHealthCheck(SpecModel):
    path: str = Field("/", min_length=1, max_length=1024)
    """The destination for health checks on the targets."""
    interval_seconds: int = Field(30, ge=5, le=300)
    """The approximate amount of time, in seconds, between health checks of an individual target."""
    timeout_seconds: int = Field(5, ge=2, le=120)
    """The amount of time, in seconds, during which no response from a target means a failed health
    check."""
    healthy_threshold_count: int = Field(5, ge=2, le=10)
    """The number of consecutive health check successes required before considering a target
    healthy."""
    unhealthy_threshold_count: int = Field(2, ge=2, le=10)
    """The number of consecutive health check failures required before considering a target
    unhealthy."""
    matcher: Matcher = Field(default_factory=Matcher)
    """The HTTP codes to use when checking for a successful response from a target."""

    @model_validator(mode="after")
    def _timeout(self) -> TargetGroupHealthCheck:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError("timeoutSeconds must be smaller than intervalSeconds")
        return self

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with /")
        return _url_part(value, "path")


class TargetGroupSpec(SpecModel):
    protocol: Literal["HTTP"] = "HTTP"
    """The protocol to use for routing traffic to the targets."""
    target_type: Literal["instance", "ip"] = Field(
        "instance",
        description="instance: the host's address and published port; ip: the same "
        "for awsvpc tasks, whose sandbox publishes the port.",
    )
    health_check: TargetGroupHealthCheck = Field(default_factory=TargetGroupHealthCheck)
    """The health checks of the targets."""
    deregistration_delay: int = Field(
        300, ge=0, le=3600, description="Seconds a draining target keeps its in-flight requests."
    )


class WeightedTargetGroup(SpecModel):
    target_group: ResourceName
    """The name of the target group."""
    weight: int = Field(1, ge=0, le=999)
    """The weight; requests are distributed in proportion to the weights."""


class ForwardConfig(SpecModel):
    target_groups: list[WeightedTargetGroup] = Field(min_length=1, max_length=5)
    """The target groups; for a forward action, you can assign a weight to each target group."""


class RedirectConfig(SpecModel):
    """Where a redirect goes; `#{host}`, `#{port}`, `#{path}` and `#{query}` stand for the
    request's. Every other character is taken literally."""

    protocol: Literal["HTTP", "HTTPS", "#{protocol}"] = "#{protocol}"
    """The protocol: HTTP, HTTPS, or #{protocol} to keep the request's."""
    host: str = Field("#{host}", min_length=1, max_length=128)
    """The hostname; it can include #{host}."""
    port: str = "#{port}"
    """The port: 1 to 65535, or #{port}."""
    path: str = Field("/#{path}", min_length=1, max_length=128)
    """The absolute path, starting with the leading "/"; it can include #{host}, #{path}, and
    #{port}."""
    query: str = Field("#{query}", max_length=128)
    """The query parameters, URL-encoded when necessary, but not percent-encoded."""
    status_code: Literal["HTTP_301", "HTTP_302"]
    """The HTTP redirect code: permanent (HTTP_301) or temporary (HTTP_302)."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _url_part(value, "host")

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if value.startswith("?"):
            raise ValueError("query is written without its leading ?")
        return _url_part(value, "query")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with /")
        return _url_part(value, "path")

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        if not _PORT.fullmatch(value) or (value.isdigit() and int(value) > 65535):
            raise ValueError("port must be #{port} or a number from 1 to 65535")
        return value


class FixedResponseConfig(SpecModel):
    status_code: str = Field(pattern=r"^[2-5]\d\d$")
    """The HTTP response code (2XX, 4XX, or 5XX)."""
    content_type: Literal[
        "text/plain", "text/css", "text/html", "application/javascript", "application/json"
    ] = "text/plain"
    """The content type."""
    message_body: str = Field("", max_length=1024)
    """The message."""

    @field_validator("message_body")
    @classmethod
    def _body(cls, value: str) -> str:
        if any((ord(ch) < 0x20 or ord(ch) == 0x7F) and ch not in _BODY_CONTROLS for ch in value):
            raise ValueError("messageBody may hold no control characters but newlines and tabs")
        return value

    @model_validator(mode="after")
    def _no_body(self) -> FixedResponseConfig:
        if self.message_body and self.status_code in ("204", "304"):
            raise ValueError(f"a {self.status_code} response has no body: drop messageBody")
        return self


class Action(SpecModel):
    type: Literal["forward", "redirect", "fixed-response"]
    """The type of action: forward, redirect or fixed-response."""
    target_group: ResourceName | None = None  # forward to one group
    """The name of the target group to forward to (a forward action with one target group)."""
    forward_config: ForwardConfig | None = None  # forward to weighted groups
    """Information for creating an action that distributes requests among one or more target
    groups."""
    redirect_config: RedirectConfig | None = None
    """Information for creating a redirect action."""
    fixed_response_config: FixedResponseConfig | None = None
    """Information for creating an action that returns a custom HTTP response."""

    @model_validator(mode="after")
    def _shape(self) -> Action:
        given = {
            "targetGroup": self.target_group is not None,
            "forwardConfig": self.forward_config is not None,
            "redirectConfig": self.redirect_config is not None,
            "fixedResponseConfig": self.fixed_response_config is not None,
        }
        wanted = {
            "forward": {"targetGroup", "forwardConfig"},
            "redirect": {"redirectConfig"},
            "fixed-response": {"fixedResponseConfig"},
        }[self.type]
        present = {k for k, v in given.items() if v}
        if not present & wanted or (self.type == "forward" and len(present & wanted) > 1):
            raise ValueError(f"a {self.type} action needs {' or '.join(sorted(wanted))}")
        if present - wanted:
            raise ValueError(f"a {self.type} action takes no {', '.join(sorted(present - wanted))}")
        return self

    def target_groups(self) -> list[tuple[str, int]]:
        """(target group, weight) pairs this action forwards to."""
        if self.target_group is not None:
            return [(self.target_group, 1)]
        if self.forward_config is not None:
            return [(t.target_group, t.weight) for t in self.forward_config.target_groups]
        return []


class Condition(SpecModel):
    field: Literal["path-pattern", "host-header"]
    """The field in the HTTP request: path-pattern or host-header."""
    values: list[str] = Field(min_length=1, max_length=5)
    """The condition values; a request matching any one of them meets the condition."""

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("field")
        if kind is None:  # `field` itself is wrong: it has its own error
            return values
        chars = _PATH_CHARS if kind == "path-pattern" else _HOST_CHARS
        for value in values:
            if len(value) > MAX_PATTERN:
                raise ValueError(f"{quote(value)}: at most {MAX_PATTERN} characters")
            if not chars.fullmatch(value):
                raise ValueError(f"{quote(value)} has characters a {kind} condition does not allow")
        return values


class Rule(SpecModel):
    priority: int = Field(ge=1, le=50000)
    """The rule priority; rules are evaluated from the lowest value to the highest."""
    conditions: list[Condition] = Field(min_length=1, max_length=2)
    """The conditions; every one must be met for the rule's actions to be taken."""
    actions: list[Action] = Field(min_length=1, max_length=1)
    """The actions taken when the rule's conditions are met."""

    @model_validator(mode="after")
    def _one_of_each(self) -> Rule:
        fields = [c.field for c in self.conditions]
        if len(fields) != len(set(fields)):
            raise ValueError("a rule takes at most one path-pattern and one host-header condition")
        return self


class Listener(SpecModel):
    port: int = Field(ge=1, le=65535)
    """The port on which the load balancer is listening."""
    protocol: Literal["HTTP"] = "HTTP"
    """The protocol for connections from clients to the load balancer."""
    default_actions: list[Action] = Field(min_length=1, max_length=1)
    """The actions for the default rule."""
    rules: list[Rule] = Field(default_factory=list, max_length=100)
    """The rules of the listener, besides its default rule."""


class LoadBalancerSpec(SpecModel):
    listeners: list[Listener] = Field(min_length=1, max_length=50)
    """The listeners of the load balancer."""

    def target_groups(self) -> set[str]:
        names: set[str] = set()
        for listener in self.listeners:
            for action in [
                *listener.default_actions,
                *(a for r in listener.rules for a in r.actions),
            ]:
                names |= {tg for tg, _ in action.target_groups()}
        return names


def check_load_balancer(spec: LoadBalancerSpec) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    ports: dict[int, int] = {}
    for i, listener in enumerate(spec.listeners):
        if listener.port in ports:
            problems.append(
                (
                    ("listeners", i, "port"),
                    f"port {listener.port} is also listener {ports[listener.port]}'s",
                )
            )
        ports.setdefault(listener.port, i)
        seen: dict[int, int] = {}
        for j, rule in enumerate(listener.rules):
            if rule.priority in seen:
                problems.append(
                    (
                        ("listeners", i, "rules", j, "priority"),
                        f"priority {rule.priority} is also rule {seen[rule.priority]}'s",
                    )
                )
            seen.setdefault(rule.priority, j)
    return problems


def glob_regex(pattern: str) -> str:
    """An ALB wildcard pattern (`*` any run, `?` one character) as an anchored regex."""
    out = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return f"^{out}$"
