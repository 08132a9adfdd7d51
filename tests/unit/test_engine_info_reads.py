"""`docker info` (an engine's CPUs and memory, the capacity placement divides) is read when a host
joins the pool and then every INFO_EVERY seconds, not at every resync: dockerd answers it by
going through every container, and the figures change only with the machine. A reconnect (the
engine restarted, perhaps on a resized machine) reads it again at the next resync."""

from __future__ import annotations

from pathlib import Path

from controller.core.hosts import INFO_EVERY
from tests.support.harness import Harness, manifest


def info_reads(h: Harness) -> int:
    return sum(1 for operation, _ in h.fake.calls if operation == "info")


def test_info_is_read_at_join_then_every_five_minutes_not_at_every_resync(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.apply("svc.yaml", manifest(2))
    read = info_reads(h)
    assert read >= 1
    for _ in range(9):  # 9 resyncs 30 s apart: 4.5 minutes
        h.clock.advance(30)
        h.ctl.resync()
    assert info_reads(h) == read
    h.clock.advance(INFO_EVERY)
    h.ctl.resync()
    assert info_reads(h) == read + 1


def test_a_reconnected_engine_has_its_info_read_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.apply("svc.yaml", manifest(2))
    read = info_reads(h)
    h.ctl._reconnected("local")
    h.ctl.resync()
    assert info_reads(h) == read + 1
