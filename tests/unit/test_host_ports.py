"""Dynamic host ports: Skiff's range beside the kernel's ephemeral one, and its choices."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controller.core.host_ports import default_range, parse_range, pick
from controller.core.hosts import local_ephemeral_range


@pytest.mark.parametrize(
    ("ephemeral", "expected"),
    [
        ((32768, 60999), (16384, 32767)),  # Linux's default: the room below is larger
        ((49152, 65535), (32768, 49151)),  # IANA's dynamic range (and Windows')
        ((15000, 20000), (20001, 36384)),  # little room below 15000 above the common ports
        ((1024, 65535), (32768, 61000)),  # nothing left beside it: ECS's own range
    ],
)
def test_the_default_range_lies_beside_the_kernels_ephemeral_range(
    ephemeral: tuple[int, int], expected: tuple[int, int]
) -> None:
    chosen = default_range(ephemeral)
    assert chosen == expected
    if ephemeral != (1024, 65535):
        assert chosen[1] < ephemeral[0] or chosen[0] > ephemeral[1]


def test_the_kernels_range_is_read_from_proc(tmp_path: Path) -> None:
    f = tmp_path / "ip_local_port_range"
    f.write_text("40000\t50000\n")
    assert local_ephemeral_range(str(f)) == (40000, 50000)
    assert local_ephemeral_range(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("text", ["", "1", "5-3", "0-10", "1-70000", "a-b", "1-2-3"])
def test_a_bad_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="port range"):
        parse_range(text)


def test_picks_avoid_ports_in_use_and_each_other() -> None:
    used = {(p, "tcp") for p in range(100, 190)}
    got = pick([(80, "tcp"), (81, "tcp"), (53, "udp")], used, (100, 199), random.Random(1))
    ports = [hp for _, _, hp in got]
    assert len(set(ports[:2])) == 2 and all(190 <= hp <= 199 for hp in ports[:2])
    assert [(cp, proto) for cp, proto, _ in got] == [(80, "tcp"), (81, "tcp"), (53, "udp")]


def test_a_full_range_leaves_the_choice_to_docker() -> None:
    used = {(p, "tcp") for p in range(100, 200)}
    assert pick([(80, "tcp")], used, (100, 199), random.Random(1)) == ()
