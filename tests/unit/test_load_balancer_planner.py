"""The HAProxy configuration and target membership, planned purely from the manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.dataplane.haproxy_config import render, status_regex
from controller.dataplane.haproxy_names import check_settings
from controller.dataplane.values import PRIMARY, TWIN, Server, Target
from controller.elb.models.load_balancer import LoadBalancerSpec, TargetGroupSpec
from controller.elb.planners.data_plane import load_balancer, target_group
from controller.elb.planners.load_balancer import (
    DRAINING,
    HEALTHY,
    INITIAL,
    UNHEALTHY,
    UNUSED,
    plan_targets,
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


# --- targets ------------------------------------------------------------------------------------


def server(
    up: bool = True,
    admin: str = "ready",
    checked: bool = True,
    sessions: int = 0,
    twin: str = "ready",
    checking: bool = True,
) -> Server:
    return Server("127.0.0.1", 32768, up, admin, checked, sessions, twin, checking)


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
PRIMARY_SERVER, TWIN_SERVER = (*KEY, PRIMARY), (*KEY, TWIN)
LEAVING = Target(T.task_id, T.address, T.port, draining=True)


def test_a_new_target_is_added_and_is_initial_until_its_first_check_passes() -> None:
    p = plan({"web": [T]}, {})
    assert p.add == (("web", T, PRIMARY), ("web", T, TWIN)) and p.states[KEY] == INITIAL
    assert p.checks == (KEY,)  # `add server` leaves health checks off
    assert p.drain == (PRIMARY_SERVER, TWIN_SERVER) and p.ready == ()  # out of maintenance
    unchecked = server(admin="drain", checked=False, twin="drain")
    assert plan({"web": [T]}, {KEY: unchecked}).states[KEY] == INITIAL
    passed = plan({"web": [T]}, {KEY: server(admin="drain", twin="drain")})
    assert (passed.states[KEY], passed.ready) == (HEALTHY, (PRIMARY_SERVER, TWIN_SERVER))


def test_an_initial_target_gets_no_traffic_even_through_its_fail_open_twin() -> None:
    p = plan({"web": [T]}, {KEY: server(admin="ready", checked=False, twin="ready")})
    assert (p.states[KEY], p.drain) == (INITIAL, (PRIMARY_SERVER, TWIN_SERVER))


def test_failing_checks_make_a_target_unhealthy() -> None:
    assert plan({"web": [T]}, {KEY: server(up=False)}).states[KEY] == UNHEALTHY


def test_an_unhealthy_target_stays_in_the_fail_open_pool() -> None:
    failing = server(up=False, admin="drain", twin="drain")
    p = plan({"web": [T]}, {KEY: failing}, registered_at={KEY: 0.0}, windows={"web": 25.0})
    assert p.states[KEY] == UNHEALTHY and p.ready == (TWIN_SERVER,)


def test_a_target_of_a_group_no_listener_uses_is_unused() -> None:
    assert plan({"web": [T]}, {KEY: server()}, used_groups=set()).states[KEY] == UNUSED


def test_a_half_registered_target_is_completed_step_by_step() -> None:
    # `add server` passed, then `enable health` failed: the primary sits in maintenance,
    # its checks off, and no twin was added.
    half = server(up=False, admin="maint", checked=False, twin="", checking=False)
    p = plan({"web": [T]}, {KEY: half})
    assert p.add == (("web", T, TWIN),)
    assert p.checks == (KEY,)
    assert p.drain == (PRIMARY_SERVER, TWIN_SERVER)
    assert p.states[KEY] == INITIAL
    # Only the twin went missing (e.g. removed by hand): it alone comes back.
    alone = plan({"web": [T]}, {KEY: server(twin="")}, activated={KEY})
    assert (alone.add, alone.checks, alone.drain, alone.ready) == (
        (("web", T, TWIN),),
        (),
        (),
        (TWIN_SERVER,),
    )
    # Only the twin is left: the primary is added again.
    twin_only = plan({"web": [T]}, {KEY: server(admin="", up=False, checked=False)})
    assert twin_only.add == (("web", T, PRIMARY),) and twin_only.checks == (KEY,)


def test_a_draining_target_is_first_drained_then_removed_a_pass_later() -> None:
    # Its servers are still in rotation and no request is in flight now; but one may arrive
    # before the drain takes effect: removal waits for a pass that sees it drained.
    first = plan({"web": [LEAVING]}, {KEY: server()})
    assert (first.drain, first.remove, first.states[KEY]) == (
        (PRIMARY_SERVER, TWIN_SERVER),
        (),
        DRAINING,
    )
    later = plan({"web": [LEAVING]}, {KEY: server(admin="drain", twin="drain")})
    assert (later.remove, later.cut) == ((KEY,), frozenset())


def test_draining_waits_for_in_flight_requests_or_the_delay() -> None:
    drained = {"admin": "drain", "twin": "drain"}
    busy = plan({"web": [LEAVING]}, {KEY: server(sessions=2, **drained)}, drain_since={KEY: 900.0})
    assert (busy.drain, busy.remove, busy.states[KEY]) == ((), (), DRAINING)
    late = plan({"web": [LEAVING]}, {KEY: server(sessions=1, **drained)}, drain_since={KEY: 600.0})
    assert late.remove == (KEY,)  # the 300 s deregistration delay has passed
    assert late.cut == {KEY}  # what is still in flight is cut, as ALB does


def test_a_target_whose_servers_are_half_gone_is_drained_and_removed() -> None:
    maint = plan({"web": [LEAVING]}, {KEY: server(admin="maint", twin="")})
    assert maint.remove == (KEY,)  # a removal that failed half-way is finished


def test_requests_an_older_haproxy_still_serves_hold_the_removal_until_the_delay() -> None:
    drained = server(admin="drain", twin="drain")
    held = plan({"web": [LEAVING]}, {KEY: drained}, old_workers=True, drain_since={KEY: 900.0})
    assert held.remove == ()
    over = plan({"web": [LEAVING]}, {KEY: drained}, old_workers=True, drain_since={KEY: 700.0})
    assert over.remove == (KEY,)


def test_a_deregistration_delay_of_zero_cuts_at_once_once_drained() -> None:
    drained = server(admin="drain", twin="drain", sessions=3)
    p = plan({"web": [LEAVING]}, {KEY: drained}, delays={"web": 0})
    assert (p.remove, p.cut) == ((KEY,), {KEY})


def test_servers_nobody_wants_are_drained_then_removed() -> None:
    first = plan({}, {KEY: server()})
    assert (first.drain, first.remove, first.states[KEY]) == (
        (PRIMARY_SERVER, TWIN_SERVER),
        (),
        DRAINING,
    )
    assert plan({}, {KEY: server(admin="drain", twin="drain")}).remove == (KEY,)


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


def test_haproxy_runs_the_threads_it_is_given() -> None:
    assert "    nbthread 1" in config().splitlines()
    assert "    nbthread 3" in config(threads=3).splitlines()


def test_the_daemon_spares_one_cpu_for_the_targets_haproxy_shares_the_machine_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from controller.core.controller import Controller, Settings
    from controller.core.telemetry import Metrics
    from controller.runtime.fake import FakeRuntime
    from controller.store import Store

    def threads(cpus: int, **settings: int) -> int:
        monkeypatch.setattr("os.cpu_count", lambda: cpus)
        ctl = Controller(
            Store(":memory:"), Metrics(), lambda n, s: FakeRuntime(), Settings(**settings)
        )
        return ctl.lb_threads

    assert [threads(1), threads(2), threads(8)] == [1, 1, 7]
    assert threads(8, lb_threads=2) == 2
