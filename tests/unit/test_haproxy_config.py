"""HAProxy's configuration file, rendered from ELB manifests as the load balancer sync gives
them to the data plane (translated by elb/planners/data_plane.py): ALB's rule order, weights,
redirects, fixed responses and health checks, each in words HAProxy reads as meant."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.dataplane.haproxy_config import render, status_regex
from controller.dataplane.haproxy_names import check_settings
from controller.dataplane.values import Condition, Forward, Redirect, Target, TargetGroup
from controller.elb.models.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.elb.planners.data_plane import load_balancer, target_group

LB = LoadBalancerSpec.model_validate(
    {
        "listeners": [
            {
                "port": 8080,
                "defaultActions": [
                    {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "404"}}
                ],
                "rules": [
                    {
                        "priority": 20,
                        "conditions": [{"field": "path-pattern", "values": ["/*"]}],
                        "actions": [{"type": "forward", "targetGroup": "web"}],
                    },
                    {
                        "priority": 10,
                        "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
                        "actions": [
                            {
                                "type": "forward",
                                "forwardConfig": {
                                    "targetGroups": [
                                        {"targetGroup": "api", "weight": 3},
                                        {"targetGroup": "web", "weight": 1},
                                    ]
                                },
                            }
                        ],
                    },
                ],
            }
        ]
    }
)
GROUPS = {"web": TargetGroupSpec(), "api": TargetGroupSpec()}


def config(**kw: object) -> str:
    args: dict[str, object] = {
        "admin_socket": "/run/a.sock",
        "bind_address": "127.0.0.1",
        "load_balancers": {"front": LB},
        "groups": GROUPS,
        "targets": {},
    }
    args.update(kw)
    # The manifests as the ELB sync gives them to the data plane.
    lbs: dict[str, LoadBalancerSpec] = args["load_balancers"]  # type: ignore[assignment]
    groups: dict[str, TargetGroupSpec] = args["groups"]  # type: ignore[assignment]
    args["load_balancers"] = {n: load_balancer(s) for n, s in lbs.items()}
    args["groups"] = {n: target_group(s) for n, s in groups.items()}
    return render(**args)  # type: ignore[arg-type]


def test_rules_claim_requests_in_priority_order_whatever_their_order_in_the_manifest() -> None:
    lines = config().splitlines()
    claims = [line for line in lines if "set-var(txn.rule)" in line]
    assert [c.split("int(")[1].split(")")[0] for c in claims] == ["10", "20", "0"]


def test_weighted_forwards_split_one_random_draw() -> None:
    text = config()
    rule = "{ var(txn.rule) -m int 10 }"
    api = "{ var(txn.pick) -m int ge 0 } { var(txn.pick) -m int lt 750 }"
    web = "{ var(txn.pick) -m int ge 750 } { var(txn.pick) -m int lt 1000 }"
    assert f"use_backend tg_api if {rule} {api}" in text
    assert f"use_backend tg_web if {rule} {web}" in text


def test_every_target_has_a_checkless_backup_twin_for_fail_open() -> None:
    text = config(targets={"web": [Target("a" * 32, "127.0.0.1", 32768)]})
    assert "    option allbackups" in text
    assert "    server taaaaaaaaaaaa 127.0.0.1:32768 check" in text
    assert "    server baaaaaaaaaaaa 127.0.0.1:32768 backup" in text


def test_health_checks_follow_the_target_group() -> None:
    spec = TargetGroupSpec.model_validate(
        {
            "healthCheck": {
                "path": "/ping",
                "intervalSeconds": 10,
                "timeoutSeconds": 3,
                "healthyThresholdCount": 3,
                "unhealthyThresholdCount": 4,
                "matcher": {"httpCode": "200-202"},
            }
        }
    )
    text = config(groups={"web": spec, "api": GROUPS["api"]})
    assert "    option httpchk GET '/ping'" in text
    assert "    http-check expect rstatus '^(200|201|202)$'" in text
    assert "    default-server inter 10s fall 4 rise 3" in text


def test_a_listener_left_out_is_not_rendered() -> None:
    assert "frontend lb_front_8080" not in config(skip=frozenset({("front", 8080)}))


@pytest.mark.parametrize(
    ("codes", "regex"),
    [("200", "^(200)$"), ("200,302", "^(200|302)$"), ("200-203", "^(200|201|202|203)$")],
)
def test_matchers(codes: str, regex: str) -> None:
    assert status_regex(codes) == regex


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(config(targets={"web": [Target("a" * 32, "127.0.0.1", 32768, draining=True)]}))
    out = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr


def listener_with(action: dict[str, object], port: int = 8080) -> LoadBalancerSpec:
    return LoadBalancerSpec.model_validate(
        {"listeners": [{"port": port, "defaultActions": [action]}]}
    )


def redirect(**config: str) -> LoadBalancerSpec:
    return listener_with(
        {"type": "redirect", "redirectConfig": {"statusCode": "HTTP_302", **config}}
    )


def haproxy_check(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(text)
    out = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr


def test_a_health_check_path_is_one_quoted_word(tmp_path: Path) -> None:
    spec = TargetGroupSpec.model_validate({"healthCheck": {"path": "/h?a='1'&b=$HOME#x"}})
    text = config(groups={"web": spec, "api": GROUPS["api"]})
    assert "    option httpchk GET '/h?a='\\''1'\\''&b=$HOME#x'\n" in text
    haproxy_check(tmp_path, text)


def test_redirect_text_is_literal_and_the_request_parts_are_expressions(tmp_path: Path) -> None:
    text = config(
        load_balancers={"front": redirect(host="#{host}", path="/x/%[env(HOME)]/#{path}")}
    )
    assert (
        "http-request redirect location "
        "'http://%[req.hdr(host),regsub(:[0-9]+$,)]:8080/x/%%[env(HOME)]/%[path,regsub(^/,)]"
        "?%[query]' code 302 if { var(txn.rule) -m int 0 } { query -m len gt 0 }"
    ) in text
    haproxy_check(tmp_path, text)


def test_a_redirect_adds_no_question_mark_without_a_query() -> None:
    lines = [
        line.split("location ")[1]
        for line in config(load_balancers={"front": redirect(path="/new")}).splitlines()
        if "redirect location" in line
    ]
    # With a query, it is carried; without one, the location ends with the path.
    assert lines == [
        "'http://%[req.hdr(host),regsub(:[0-9]+$,)]:8080/new?%[query]' code 302 "
        "if { var(txn.rule) -m int 0 } { query -m len gt 0 }",
        "'http://%[req.hdr(host),regsub(:[0-9]+$,)]:8080/new' code 302 "
        "if { var(txn.rule) -m int 0 }",
    ]
    fixed = config(load_balancers={"front": redirect(query="a=1&#{query}")})
    assert fixed.count("redirect location") == 1 and "?a=1&%[query]'" in fixed
    none = config(load_balancers={"front": redirect(query="")})
    assert none.count("redirect location") == 1 and "?" not in none.split("location ")[1]


def test_a_fixed_response_body_is_sent_as_written(tmp_path: Path) -> None:
    body = "it's $HOME: 100% %[path]\n\tdone\r\n"
    spec = listener_with(
        {
            "type": "fixed-response",
            "fixedResponseConfig": {"statusCode": "200", "messageBody": body},
        }
    )
    text = config(load_balancers={"front": spec})
    assert ('string \'it\'\\\'\'s $HOME: 100% %[path]\'"\\n""\\t"\'done\'"\\r""\\n" if') in text
    haproxy_check(tmp_path, text)


def test_requests_carry_the_forwarded_headers() -> None:
    text = config()
    assert "    option forwardfor" in text
    assert "    http-request set-header X-Forwarded-Proto http" in text
    assert "    http-request set-header X-Forwarded-Port 8080" in text


def test_host_conditions_ignore_the_port_of_any_host(tmp_path: Path) -> None:
    spec = LoadBalancerSpec.model_validate(
        {
            "listeners": [
                {
                    "port": 8080,
                    "defaultActions": [{"type": "forward", "targetGroup": "web"}],
                    "rules": [
                        {
                            "priority": 1,
                            "conditions": [{"field": "host-header", "values": ["*.example.com"]}],
                            "actions": [{"type": "forward", "targetGroup": "api"}],
                        }
                    ],
                }
            ]
        }
    )
    text = config(load_balancers={"front": spec})
    assert "acl r1_host req.hdr(host),regsub(:[0-9]+$,),lower -m reg '^.*\\.example\\.com$'" in text
    haproxy_check(tmp_path, text)


def test_old_workers_may_finish_requests_haproxy_still_waits_for() -> None:
    # With no deregistration delay, a reload must not cut a request within `timeout server`.
    assert "    hard-stop-after 90s" in config(
        groups={"web": TargetGroupSpec.model_validate({"deregistrationDelay": 0})}
    )


def test_targets_added_at_runtime_are_checked_as_the_group_says() -> None:
    spec = TargetGroupSpec.model_validate(
        {
            "healthCheck": {
                "intervalSeconds": 10,
                "healthyThresholdCount": 3,
                "unhealthyThresholdCount": 4,
            }
        }
    )
    # The same words as the backend's default-server, which `add server` does not inherit.
    words = check_settings(target_group(spec))
    assert words == "inter 10s fall 4 rise 3"
    assert f"    default-server {words}" in config(groups={"web": spec})


def test_haproxy_runs_the_threads_it_is_given() -> None:
    assert "    nbthread 1" in config().splitlines()
    assert "    nbthread 3" in config(threads=3).splitlines()


def test_the_manifests_reach_the_data_plane_as_they_were_written() -> None:
    assert target_group(TargetGroupSpec()) == TargetGroup()  # the same defaults on both sides
    spec = LoadBalancerSpec.model_validate(
        {
            "listeners": [
                {
                    "port": 8080,
                    "defaultActions": [
                        {"type": "redirect", "redirectConfig": {"statusCode": "HTTP_302"}}
                    ],
                    "rules": [
                        {
                            "priority": 5,
                            "conditions": [{"field": "host-header", "values": ["*.Example.com"]}],
                            "actions": [
                                {
                                    "type": "forward",
                                    "forwardConfig": {
                                        "targetGroups": [
                                            {"targetGroup": "web", "weight": 3},
                                            {"targetGroup": "api", "weight": 1},
                                        ]
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    (listener,) = load_balancer(spec).listeners
    assert listener.default == Redirect(
        "#{protocol}", "#{host}", "#{port}", "/#{path}", "#{query}", "302"
    )
    (rule,) = listener.rules
    assert rule.conditions == (Condition("host", (r"^.*\.example\.com$",)),)
    assert rule.action == Forward((("web", 3), ("api", 1)))
