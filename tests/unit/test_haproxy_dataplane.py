"""HAProxy behind the typed data plane: what each method of the engine's says on the admin
socket and in the configuration file, read back from a scripted socket (no process). The fake
data plane builds its commands with the same code; these tests pin what HAProxy hears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.dataplane import (
    PRIMARY,
    TWIN,
    CommandRefused,
    Configuration,
    Forward,
    Listener,
    LoadBalancer,
    Target,
    TargetGroup,
    UnsafeValue,
)
from controller.dataplane.haproxy import HAProxy

ID = "a" * 32
POOL = "pool-max-conn -1 pool-purge-delay 5s"


class Scripted(HAProxy):
    """HAProxy whose admin socket answers from `answers` (by command prefix) and records
    every command it is sent."""

    def __init__(self, workdir: str) -> None:
        super().__init__(workdir)
        self.sent: list[str] = []
        self.answers: dict[str, str] = {}

    def command(self, line: str) -> str:
        self.sent.append(line)
        return next((a for p, a in self.answers.items() if line.startswith(p)), "")


@pytest.fixture
def dp(tmp_path: Path) -> Scripted:
    return Scripted(str(tmp_path))


def test_target_methods_say_what_they_mean_in_haproxys_words(dp: Scripted) -> None:
    group, target = TargetGroup(), Target(ID, "127.0.0.1", 32768)
    dp.add_target("web", group, target, PRIMARY)
    dp.add_target("web", group, target, TWIN)
    dp.start_checks("web", ID)
    dp.enable_target("web", ID, PRIMARY)
    dp.drain_target("web", ID, TWIN)
    assert dp.sent == [
        f"add server tg_web/taaaaaaaaaaaa 127.0.0.1:32768 check inter 30s fall 2 rise 5 {POOL}",
        f"add server tg_web/baaaaaaaaaaaa 127.0.0.1:32768 backup {POOL}",
        "enable health tg_web/taaaaaaaaaaaa",
        "set server tg_web/taaaaaaaaaaaa state ready",
        "set server tg_web/baaaaaaaaaaaa state drain",
    ]


def test_removing_a_target_deletes_both_servers_and_cuts_sessions_only_when_told(
    dp: Scripted,
) -> None:
    dp.remove_target("web", ID, cut=False)
    assert dp.sent == [
        "set server tg_web/taaaaaaaaaaaa state maint",
        "del server tg_web/taaaaaaaaaaaa",
        "set server tg_web/baaaaaaaaaaaa state maint",
        "del server tg_web/baaaaaaaaaaaa",
    ]
    dp.sent.clear()
    dp.remove_target("web", ID, cut=True)
    assert dp.sent[:3] == [
        "set server tg_web/taaaaaaaaaaaa state maint",
        "shutdown sessions server tg_web/taaaaaaaaaaaa",
        "del server tg_web/taaaaaaaaaaaa",
    ]


def test_a_server_already_gone_is_skipped_and_another_refusal_is_raised(dp: Scripted) -> None:
    dp.answers["set server tg_web/t"] = "No such server."
    dp.remove_target("web", ID, cut=False)  # the primary is gone already: on to the twin
    assert dp.sent[1:] == [
        "set server tg_web/baaaaaaaaaaaa state maint",
        "del server tg_web/b" + "a" * 12,
    ]

    dp.answers = {"del server tg_web/b": "Server still has connections attached to it."}
    with pytest.raises(CommandRefused) as refused:
        dp.remove_target("web", ID, cut=False)
    assert refused.value.answer == "Server still has connections attached to it."


def test_a_value_that_cannot_be_a_word_sends_nothing(dp: Scripted) -> None:
    with pytest.raises(UnsafeValue):
        dp.add_target("web", TargetGroup(), Target(ID, "127.0.0.1;shutdown", 80), PRIMARY)
    with pytest.raises(UnsafeValue):
        dp.remove_target("web", "x;show info", cut=True)
    with pytest.raises(UnsafeValue):
        dp.drain_target("web\nglobal", ID, PRIMARY)
    assert dp.sent == []


def test_targets_and_counters_are_read_back_by_group(dp: Scripted) -> None:
    dp.answers["show servers state"] = (
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
        "srv_uweight srv_iweight srv_time_since_last_change srv_check_status "
        "srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id "
        "srv_f_forced_id srv_fqdn srv_port\n"
        f"3 tg_web 1 t{ID[:12]} 127.0.0.1 2 0 1 1 5 6 3 4 6 0 0 0 - 32768\n"
        f"3 tg_web 2 b{ID[:12]} 127.0.0.1 2 8 1 1 5 1 0 0 0 0 0 0 - 32768\n"
    )
    dp.answers["show stat"] = (
        "# pxname,svname,scur,req_tot,hrsp_2xx,rtime\n"
        f"tg_web,t{ID[:12]},2,,,\n"
        "tg_web,BACKEND,0,10,9,3\n"
        "lb_front_8080,FRONTEND,0,10,9,\n"
    )
    (key, server), *others = dp.targets([ID]).items()
    assert key == ("web", ID) and not others
    assert (server.admin, server.twin, server.up, server.checked) == ("ready", "drain", True, True)
    assert server.sessions == 2 and server.checking
    counters = dp.counters()
    assert list(counters) == ["web"]
    assert (counters["web"].requests, counters["web"].responses["2xx"]) == (10, 9)


def test_the_configuration_it_serves_tells_its_ports(dp: Scripted) -> None:
    front = LoadBalancer(tuple(Listener(p, Forward((("web", 1),))) for p in (8080, 9090)))
    config = Configuration("127.0.0.1", {"my_front": front}, {"web": TargetGroup()})
    dp.save(config)
    assert dp.serves(config) and dp.bound_ports() == {8080: "my_front", 9090: "my_front"}
    assert config.bound_ports() == dp.bound_ports()
    fewer = Configuration(
        "127.0.0.1",
        {"my_front": front},
        {"web": TargetGroup()},
        skip=frozenset({("my_front", 9090)}),
    )
    assert not dp.serves(fewer) and fewer.bound_ports() == {8080: "my_front"}
    assert "stats socket " + str(Path(dp.admin_socket())) in dp.current_config()
