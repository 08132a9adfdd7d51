"""The HAProxy configuration and target membership, planned purely from the manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.manifests.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.reconcilers.load_balancer import (
    DRAINING,
    HEALTHY,
    INITIAL,
    UNHEALTHY,
    UNUSED,
    Server,
    Target,
    plan_targets,
    render,
    status_regex,
)

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
    assert "    option httpchk GET /ping" in text
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


# --- targets ------------------------------------------------------------------------------------


def server(
    up: bool = True, admin: str = "ready", checked: bool = True, sessions: int = 0
) -> Server:
    return Server("127.0.0.1", 32768, up, admin, checked, sessions)


def plan(wanted: dict[str, list[Target]], current: dict[tuple[str, str], Server], **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "used_groups": {"web"},
        "drain_since": {},
        "delays": {"web": 300},
        "activated": set(),
        "now": 1000.0,
    }
    args.update(kw)
    return plan_targets(wanted, current, **args)  # type: ignore[arg-type]


T = Target("t" * 32, "127.0.0.1", 32768)
KEY = ("web", T.task_id)


def test_a_new_target_is_added_and_is_initial_until_its_first_check_passes() -> None:
    p = plan({"web": [T]}, {})
    assert p.add == (("web", T),) and p.states[KEY] == INITIAL
    assert plan({"web": [T]}, {KEY: server(admin="drain", checked=False)}).states[KEY] == INITIAL
    passed = plan({"web": [T]}, {KEY: server(admin="drain")})
    assert (passed.states[KEY], passed.ready) == (HEALTHY, (KEY,))


def test_failing_checks_make_a_target_unhealthy() -> None:
    assert plan({"web": [T]}, {KEY: server(up=False)}).states[KEY] == UNHEALTHY


def test_a_target_of_a_group_no_listener_uses_is_unused() -> None:
    assert plan({"web": [T]}, {KEY: server()}, used_groups=set()).states[KEY] == UNUSED


def test_draining_waits_for_in_flight_requests_or_the_delay() -> None:
    leaving = Target(T.task_id, T.address, T.port, draining=True)
    busy = plan({"web": [leaving]}, {KEY: server(sessions=2)}, drain_since={KEY: 900.0})
    assert (busy.drain, busy.remove, busy.states[KEY]) == ((KEY,), (), DRAINING)
    idle = plan({"web": [leaving]}, {KEY: server(admin="drain")}, drain_since={KEY: 900.0})
    assert idle.remove == (KEY,)  # nothing in flight: deregistration completes at once
    late = plan(
        {"web": [leaving]}, {KEY: server(admin="drain", sessions=1)}, drain_since={KEY: 600.0}
    )
    assert late.remove == (KEY,)  # the 300 s deregistration delay has passed


def test_servers_nobody_wants_are_removed() -> None:
    assert plan({}, {KEY: server()}).remove == (KEY,)


def test_a_new_target_failing_its_first_checks_stays_initial_for_its_window() -> None:
    early = plan(
        {"web": [T]},
        {KEY: server(up=False, admin="drain")},
        registered_at={KEY: 990.0},
        windows={"web": 25.0},
    )
    assert early.states[KEY] == INITIAL  # the app may still be starting
    late = plan(
        {"web": [T]},
        {KEY: server(up=False, admin="drain")},
        registered_at={KEY: 900.0},
        windows={"web": 25.0},
    )
    assert late.states[KEY] == UNHEALTHY
