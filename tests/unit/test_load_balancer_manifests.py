"""TargetGroup and LoadBalancer manifests, checked as ALB checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.catalog import load_directory
from controller.elb.models.load_balancer import glob_regex
from controller.manifests.loader import LoadResult
from tests.support.documents import container, document, service_doc, td_doc, write


def tg(name: str = "web", **spec: Any) -> dict[str, Any]:
    return document("TargetGroup", name, spec)


def lb(name: str = "front", *listeners: dict[str, Any]) -> dict[str, Any]:
    return document("LoadBalancer", name, {"listeners": list(listeners) or [listener()]})


def listener(
    port: int = 8080, default: str = "web", rules: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "port": port,
        "defaultActions": [{"type": "forward", "targetGroup": default}],
        "rules": rules or [],
    }


def rule(priority: int, path: str = "/api/*", group: str = "web") -> dict[str, Any]:
    return {
        "priority": priority,
        "conditions": [{"field": "path-pattern", "values": [path]}],
        "actions": [{"type": "forward", "targetGroup": group}],
    }


def errors(tmp_path: Path, *docs: dict[str, Any]) -> dict[str, str]:
    write(tmp_path, "lb.yaml", *docs)
    result: LoadResult = load_directory(str(tmp_path))
    return {f"{e.document}:{e.field}": e.message for e in result.errors}


def test_a_load_balancer_forwarding_to_its_target_group_is_valid(tmp_path: Path) -> None:
    assert (
        errors(tmp_path, tg(), lb("front", listener(rules=[rule(10), rule(20, "/img/?.png")])))
        == {}
    )


def test_target_group_defaults_follow_alb(tmp_path: Path) -> None:
    write(tmp_path, "tg.yaml", tg())
    spec = load_directory(str(tmp_path)).resources[("TargetGroup", "web")].spec
    hc = spec.health_check
    assert (
        hc.path,
        hc.interval_seconds,
        hc.timeout_seconds,
        hc.healthy_threshold_count,
        hc.unhealthy_threshold_count,
        hc.matcher.http_code,
    ) == ("/", 30, 5, 5, 2, "200")
    assert (spec.deregistration_delay, spec.target_type, spec.protocol) == (300, "instance", "HTTP")


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"healthCheck": {"intervalSeconds": 4}},
            "spec.healthCheck.intervalSeconds",
            "greater than or equal to 5",
        ),
        (
            {"healthCheck": {"healthyThresholdCount": 11}},
            "spec.healthCheck.healthyThresholdCount",
            "less than or equal to 10",
        ),
        (
            {"healthCheck": {"timeoutSeconds": 30, "intervalSeconds": 30}},
            "spec.healthCheck",
            "smaller than intervalSeconds",
        ),
        (
            {"healthCheck": {"matcher": {"httpCode": "2xx"}}},
            "spec.healthCheck.matcher.httpCode",
            "codes like",
        ),
        ({"deregistrationDelay": 3601}, "spec.deregistrationDelay", "less than or equal to 3600"),
        ({"protocol": "TCP"}, "spec.protocol", "Input should be 'HTTP'"),
    ],
    ids=["interval", "threshold", "timeout-vs-interval", "matcher", "delay", "protocol"],
)
def test_target_group_ranges(
    tmp_path: Path, spec: dict[str, Any], field: str, message: str
) -> None:
    found = errors(tmp_path, tg("web", **spec))
    assert message in found[f"1:{field}"]


def test_duplicate_priorities_and_ports_name_the_field(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        tg(),
        lb("front", listener(8080, rules=[rule(10), rule(10, "/b")]), listener(8080)),
    )
    assert found["2:spec.listeners.0.rules.1.priority"] == "priority 10 is also rule 0's"
    assert found["2:spec.listeners.1.port"] == "port 8080 is also listener 0's"


@pytest.mark.parametrize(
    "pattern",
    ["/a b", "/x%20", "/" + "a" * 128, "/é"],
    ids=["space", "percent", "too-long", "accent"],
)
def test_invalid_path_patterns_are_refused(tmp_path: Path, pattern: str) -> None:
    found = errors(tmp_path, tg(), lb("front", listener(rules=[rule(1, pattern)])))
    assert "spec.listeners.0.rules.0.conditions.0.values" in {k.split(":", 1)[1] for k in found}


def test_a_rule_naming_a_missing_target_group_is_reported_on_the_action(tmp_path: Path) -> None:
    found = errors(tmp_path, tg(), lb("front", listener(rules=[rule(5, group="nowhere")])))
    assert found == {
        "2:spec.listeners.0.rules.0.actions.0": "no TargetGroup named 'nowhere' in these manifests"
    }


def test_actions_need_their_configuration(tmp_path: Path) -> None:
    bad = {"port": 80, "defaultActions": [{"type": "redirect"}]}
    found = errors(tmp_path, lb("front", bad))
    assert "a redirect action needs redirectConfig" in found["1:spec.listeners.0.defaultActions.0"]


def test_service_load_balancers_must_match_the_task_definition(tmp_path: Path) -> None:
    web = container("web", portMappings=[{"containerPort": 8080}])
    found = errors(
        tmp_path,
        tg(),
        tg("ips", targetType="ip"),
        lb("front", listener(rules=[rule(1, group="ips")])),
        td_doc("web", containerDefinitions=[web]),
        service_doc(
            "web",
            loadBalancers=[
                {"targetGroup": "web", "containerName": "app", "containerPort": 8080},
                {"targetGroup": "web", "containerName": "web", "containerPort": 9090},
                {"targetGroup": "gone", "containerName": "web", "containerPort": 8080},
                {"targetGroup": "ips", "containerName": "web", "containerPort": 8080},
            ],
        ),
    )
    assert found == {
        "5:spec.loadBalancers.0.containerName": "TaskDefinition 'web' has no container 'app'",
        "5:spec.loadBalancers.1.containerPort": "container 'web' maps no port 9090",
        "5:spec.loadBalancers.2.targetGroup": "no TargetGroup named 'gone' in these manifests",
        "5:spec.loadBalancers.3.targetGroup": "TargetGroup 'ips' has targetType ip, "
        "which needs networkMode awsvpc",
    }


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("/api/*", ["/api/", "/api/v1/users"], ["/apix", "/API/v1"]),
        ("/img/?.png", ["/img/a.png"], ["/img/ab.png", "/img/.png"]),
        ("*.example.com", ["shop.example.com"], ["example.com"]),
    ],
)
def test_alb_wildcards_as_regexes(pattern: str, matches: list[str], misses: list[str]) -> None:
    import re

    regex = re.compile(glob_regex(pattern))
    assert all(regex.match(m) for m in matches)
    assert not any(regex.match(m) for m in misses)


def redirect_lb(**config: Any) -> dict[str, Any]:
    action = {"type": "redirect", "redirectConfig": {"statusCode": "HTTP_301", **config}}
    return lb("front", {"port": 80, "defaultActions": [action]})


def fixed_lb(**config: Any) -> dict[str, Any]:
    action = {"type": "fixed-response", "fixedResponseConfig": config}
    return lb("front", {"port": 80, "defaultActions": [action]})


@pytest.mark.parametrize(
    "path",
    [
        "/health\nlisten evil\n    bind 127.0.0.1:9999",
        "/a b",
        "/tab\there",
        "health",
    ],
    ids=["newline-injection", "space", "tab", "relative"],
)
def test_a_health_check_path_that_could_change_the_configuration_is_refused(
    tmp_path: Path, path: str
) -> None:
    found = errors(tmp_path, tg("web", healthCheck={"path": path}))
    assert set(found) == {"1:spec.healthCheck.path"}


def test_a_health_check_path_with_url_characters_is_valid(tmp_path: Path) -> None:
    assert errors(tmp_path, tg("web", healthCheck={"path": "/h?x=1&y='$HOME'%20#z"})) == {}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": "/x\nlisten evil"}, "path"),
        ({"path": "x/#{path}"}, "path"),
        ({"host": "a b.example.com"}, "host"),
        ({"host": ""}, "host"),
        ({"query": "a=1\r\nSet-Cookie: x"}, "query"),
        ({"query": "?a=1"}, "query"),
        ({"port": "99999"}, "port"),
        ({"port": "80; bind"}, "port"),
    ],
    ids=[
        "newline",
        "relative-path",
        "space",
        "empty-host",
        "crlf",
        "leading-?",
        "port",
        "port-text",
    ],
)
def test_redirect_fields_that_break_a_url_are_refused(
    tmp_path: Path, config: dict[str, str], field: str
) -> None:
    found = errors(tmp_path, redirect_lb(**config))
    assert set(found) == {f"1:spec.listeners.0.defaultActions.0.redirectConfig.{field}"}


def test_redirect_fields_with_percent_signs_are_valid(tmp_path: Path) -> None:
    # A % is taken literally (the configuration escapes it), never as a HAProxy expression.
    assert errors(tmp_path, redirect_lb(path="/x/%[env(HOME)]/50%off", query="q=%25")) == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"statusCode": "204", "messageBody": "gone"}, "a 204 response has no body"),
        ({"statusCode": "304", "messageBody": "same"}, "a 304 response has no body"),
        ({"statusCode": "200", "messageBody": "bell\x07"}, "no control characters"),
    ],
    ids=["204-body", "304-body", "control-character"],
)
def test_fixed_responses_haproxy_cannot_send_are_refused(
    tmp_path: Path, config: dict[str, str], message: str
) -> None:
    found = errors(tmp_path, fixed_lb(**config))
    assert [m for m in found.values() if message in m], found


def test_a_fixed_response_body_may_span_lines(tmp_path: Path) -> None:
    assert errors(tmp_path, fixed_lb(statusCode="200", messageBody="a\n\tb\r\n")) == {}
    assert errors(tmp_path, fixed_lb(statusCode="204")) == {}


def test_two_load_balancers_on_one_port_are_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", tg(), lb("first", listener(8080), listener(8081)))
    write(tmp_path, "b.yaml", lb("second", listener(9000), listener(8081)))
    result = load_directory(str(tmp_path))
    assert [(e.file, e.document, e.field, e.message) for e in result.errors] == [
        (
            "b.yaml",
            1,
            "spec.listeners.1.port",
            "port 8081 is already a listener of LoadBalancer 'first' "
            "(a.yaml document 2, listener 1)",
        )
    ]
    # Its other listener still serves: the LoadBalancer is kept, the listener left out.
    assert ("LoadBalancer", "second") in result.resources


def test_a_service_in_a_target_group_no_load_balancer_uses_is_refused(tmp_path: Path) -> None:
    web = container("web", portMappings=[{"containerPort": 8080}])
    docs = [
        tg(),
        tg("spare"),
        lb("front", listener(default="spare")),
        td_doc("web", containerDefinitions=[web]),
        service_doc(
            "web",
            loadBalancers=[{"targetGroup": "web", "containerName": "web", "containerPort": 8080}],
        ),
    ]
    write(tmp_path, "lb.yaml", *docs)
    result = load_directory(str(tmp_path))
    assert {f"{e.document}:{e.field}": e.message for e in result.errors} == {
        "5:spec.loadBalancers.0.targetGroup": "TargetGroup 'web' has no LoadBalancer: no "
        "listener forwards to it, so its targets could never turn healthy"
    }
    assert ("Service", "web") not in result.resources  # ECS refuses such a service
