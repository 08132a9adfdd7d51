"""Placement: a task goes only where its CPU, memory and host ports fit; services spread."""

from __future__ import annotations

import pytest

from controller.core.placement import HostSlot, Need, place, rejection

SMALL = Need(cpu=256, memory=512)


@pytest.mark.parametrize(
    ("slot", "need", "reason"),
    [
        (HostSlot("h", "a", "127.0.0.1", 1024, 1024), SMALL, None),
        (
            HostSlot("h", "a", "127.0.0.1", 1024, 1024, cpu_used=900),
            SMALL,
            "insufficient CPU (124 of 256 units free)",
        ),
        (
            HostSlot("h", "a", "127.0.0.1", 1024, 1024, memory_used=600),
            SMALL,
            "insufficient memory (424 of 512 MiB free)",
        ),
        (
            HostSlot("h", "a", "127.0.0.1", 1024, 1024, ports_used=frozenset({(80, "tcp")})),
            Need(0, 0, ((80, "tcp"),)),
            "host port already in use: 80/tcp",
        ),
        (
            HostSlot("h", "a", "127.0.0.1", 1024, 1024, ports_used=frozenset({(80, "udp")})),
            Need(0, 0, ((80, "tcp"),)),
            None,
        ),
        (HostSlot("h", "a", "127.0.0.1", 1024, 1024, up=False), SMALL, "engine unreachable"),
    ],
    ids=["fits", "cpu", "memory", "port-taken", "same-port-other-protocol", "host-down"],
)
def test_rejection_names_what_is_missing(slot: HostSlot, need: Need, reason: str | None) -> None:
    assert rejection(slot, need) == reason


def test_tasks_spread_over_hosts_by_how_many_of_the_service_each_runs() -> None:
    slots = [HostSlot(n, "a", f"10.0.0.{i}", 4096, 4096) for i, n in enumerate(["h1", "h2", "h3"])]
    placed = place(5, SMALL, slots, own={"h1": 2})
    assert sorted(placed.hosts) == ["h1", "h2", "h2", "h3", "h3"]
    assert placed.unplaced == 0


def test_placement_accounts_for_what_it_already_placed() -> None:
    slots = [HostSlot("h1", "a", "127.0.0.1", 1024, 1200)]
    placed = place(3, SMALL, slots, own={})
    assert placed.hosts == ("h1", "h1")
    assert placed.unplaced == 1
    assert placed.reason == "h1: insufficient memory (176 of 512 MiB free)"


def test_hosts_sharing_an_address_share_its_static_ports() -> None:
    slots = [
        HostSlot("h1", "a", "127.0.0.1", 4096, 4096),
        HostSlot("h2", "b", "127.0.0.1", 4096, 4096),
    ]
    placed = place(2, Need(0, 0, ((8080, "tcp"),)), slots, own={})
    assert len(placed.hosts) == 1
    assert "host port already in use: 8080/tcp" in placed.reason


def test_tasks_spread_over_zones_before_hosts() -> None:
    slots = [
        HostSlot("a1", "zone-a", "10.0.0.1", 4096, 4096),
        HostSlot("a2", "zone-a", "10.0.0.2", 4096, 4096),
        HostSlot("b1", "zone-b", "10.0.0.3", 4096, 4096),
    ]
    placed = place(4, SMALL, slots, own={})
    assert sorted(placed.hosts) == ["a1", "a2", "b1", "b1"]  # two per zone


def test_a_draining_host_takes_no_new_task() -> None:
    slot = HostSlot("h", "a", "127.0.0.1", 4096, 4096, draining=True)
    assert rejection(slot, SMALL) == "host is draining"
