"""TargetGroup and LoadBalancer manifests, checked as ALB checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.manifests.load_balancer import glob_regex
from controller.manifests.loader import LoadResult, load_directory
from tests.documents import container, document, service_doc, td_doc, write


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
    assert message in found[f"0:{field}"]


def test_duplicate_priorities_and_ports_name_the_field(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        tg(),
        lb("front", listener(8080, rules=[rule(10), rule(10, "/b")]), listener(8080)),
    )
    assert found["1:spec.listeners.0.rules.1.priority"] == "priority 10 is also rule 0's"
    assert found["1:spec.listeners.1.port"] == "port 8080 is also listener 0's"


@pytest.mark.parametrize(
    "pattern",
    ["/a b", "/x%20", "/" + "a" * 128, "/é"],
    ids=["space", "percent", "too-long", "accent"],
)
def test_invalid_path_patterns_are_refused(tmp_path: Path, pattern: str) -> None:
    found = errors(tmp_path, tg(), lb("front", listener(rules=[rule(1, pattern)])))
    assert "spec.listeners.0.rules.0.conditions.0" in {k.split(":", 1)[1] for k in found}


def test_a_rule_naming_a_missing_target_group_is_reported_on_the_action(tmp_path: Path) -> None:
    found = errors(tmp_path, tg(), lb("front", listener(rules=[rule(5, group="nowhere")])))
    assert found == {
        "1:spec.listeners.0.rules.0.actions.0": "no TargetGroup named 'nowhere' in these manifests"
    }


def test_actions_need_their_configuration(tmp_path: Path) -> None:
    bad = {"port": 80, "defaultActions": [{"type": "redirect"}]}
    found = errors(tmp_path, lb("front", bad))
    assert "a redirect action needs redirectConfig" in found["0:spec.listeners.0.defaultActions.0"]


def test_service_load_balancers_must_match_the_task_definition(tmp_path: Path) -> None:
    web = container("web", portMappings=[{"containerPort": 8080}])
    found = errors(
        tmp_path,
        tg(),
        tg("ips", targetType="ip"),
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
        "3:spec.loadBalancers.0.containerName": "TaskDefinition 'web' has no container 'app'",
        "3:spec.loadBalancers.1.containerPort": "container 'web' maps no port 9090",
        "3:spec.loadBalancers.2.targetGroup": "no TargetGroup named 'gone' in these manifests",
        "3:spec.loadBalancers.3.targetGroup": "TargetGroup 'ips' has targetType ip, "
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
