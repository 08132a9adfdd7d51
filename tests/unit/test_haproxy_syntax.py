"""The escaping layer between Skiff and HAProxy: what it refuses, and how it writes free text."""

from __future__ import annotations

import pytest

from controller.dataplane import haproxy_commands as cmd
from controller.dataplane.haproxy_syntax import (
    UnsafeValue,
    Word,
    address,
    directive,
    integer,
    kw,
    name,
    path,
    quoted,
    runtime_command,
    server_ref,
)
from controller.dataplane.values import PRIMARY, TWIN, Target, TargetGroup

HOSTILE = [
    "x\nglobal\n    lua-load /tmp/evil.lua",
    "x\n",
    "x;show info",
    "x#y",
    "x'y\"z",
    "x\\y",
    "%[env(HOME)]",
    "x y",
    "x\x00y",
    "x" * 100_000,
    "",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_names_and_addresses_are_refused_unless_plain(value: str) -> None:
    with pytest.raises(UnsafeValue):
        name(value)
    with pytest.raises(UnsafeValue):
        address(value, 8080)


@pytest.mark.parametrize("value", ["80", 80.0, True, -1, 65536, None])
def test_ports_are_whole_numbers_in_range(value: object) -> None:
    with pytest.raises(UnsafeValue):
        address("127.0.0.1", value)  # type: ignore[arg-type]
    with pytest.raises(UnsafeValue):
        integer(value, 1, 65535)  # type: ignore[arg-type]


def test_addresses_are_written_as_haproxy_reads_them() -> None:
    assert address("10.0.0.5", 32768) == "10.0.0.5:32768"
    assert address("::1", 32768) == "[::1]:32768"
    assert address("docker-1.lan", 80) == "docker-1.lan:80"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("/health", "'/health'"),
        ("it's", "'it'\\''s'"),
        ("a\nb", "'a'\"\\n\"'b'"),
        ("#x $HOME \\ ;", "'#x $HOME \\ ;'"),
        ("", "''"),
    ],
)
def test_free_text_is_one_quoted_word(text: str, word: str) -> None:
    assert quoted(text) == word
    assert "\n" not in quoted(text)


def test_free_text_with_a_nul_is_refused() -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        quoted("a\x00b")


def test_a_path_is_quoted_only_when_it_must_be() -> None:
    assert path("/var/lib/skiff/haproxy/haproxy.sock") == "/var/lib/skiff/haproxy/haproxy.sock"
    assert path("/home/me/My Skiff/haproxy.sock") == "'/home/me/My Skiff/haproxy.sock'"
    with pytest.raises(UnsafeValue):
        path("/run/a\nglobal")


def test_lines_take_only_words_the_layer_made() -> None:
    with pytest.raises(UnsafeValue):
        directive(kw("server"), "t1\nglobal")  # type: ignore[arg-type]
    assert directive(kw("server"), name("t1"), address("127.0.0.1", 80)) == (
        "    server t1 127.0.0.1:80"
    )


@pytest.mark.parametrize("word", ["a;b", "a\nb", "'a'", "a b", "a#b", "a\\b"])
def test_a_runtime_command_never_carries_a_separator_or_quote(word: str) -> None:
    with pytest.raises(UnsafeValue):
        runtime_command(kw("show"), Word(word))


# A server's name keeps the first 12 characters of its target's id: these are hostile there.
HOSTILE_IDS = [v for v in HOSTILE if v and len(v) < 100]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_a_target_command_refuses_a_hostile_address(value: str) -> None:
    group = TargetGroup()
    for which in (PRIMARY, TWIN):
        with pytest.raises(UnsafeValue):
            cmd.add_server("web", Target("a" * 32, value, 8080), which, group)


@pytest.mark.parametrize("value", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_every_target_command_refuses_a_hostile_id(value: str) -> None:
    group = TargetGroup()
    for which in (PRIMARY, TWIN):
        with pytest.raises(UnsafeValue):
            cmd.add_server("web", Target(value, "127.0.0.1", 8080), which, group)
        with pytest.raises(UnsafeValue):
            cmd.set_state("web", value, which, "drain")
        with pytest.raises(UnsafeValue):
            cmd.del_server("web", value, which)
        with pytest.raises(UnsafeValue):
            cmd.shutdown_sessions("web", value, which)
    with pytest.raises(UnsafeValue):
        cmd.enable_health("web", value)
    with pytest.raises(UnsafeValue):
        cmd.set_state(value, "a" * 32, PRIMARY, "ready")


def test_target_commands_read_as_before() -> None:
    t = Target("a" * 32, "127.0.0.1", 32768)
    group = TargetGroup()
    pool = "pool-max-conn -1 pool-purge-delay 5s"  # idle connections kept for reuse
    assert cmd.add_server("web", t, PRIMARY, group) == (
        f"add server tg_web/taaaaaaaaaaaa 127.0.0.1:32768 check inter 30s fall 2 rise 5 {pool}"
    )
    assert cmd.add_server("web", t, TWIN, group) == (
        f"add server tg_web/baaaaaaaaaaaa 127.0.0.1:32768 backup {pool}"
    )
    assert cmd.set_state("web", t.task_id, TWIN, "drain") == (
        "set server tg_web/baaaaaaaaaaaa state drain"
    )
    assert cmd.enable_health("web", t.task_id) == "enable health tg_web/taaaaaaaaaaaa"
    v6 = Target("b" * 32, "fd00::5", 32768)
    assert cmd.add_server("web", v6, TWIN, group).split()[3] == "[fd00::5]:32768"
    assert server_ref(name("tg_web"), name("t1")) == "tg_web/t1"
