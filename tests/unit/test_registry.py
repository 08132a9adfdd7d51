"""The kind registry: a kind is one entry in its service's Domain, and the loader, the
controller's dispatch, its keys and the host pool's room all come from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.catalog import CATALOG
from controller.core.controller import Controller
from controller.core.registry import Catalog, Domain, Entry, Holding, Pass
from controller.core.settings import Settings
from controller.core.sync_host import HOSTS
from controller.manifests.base import SpecModel
from controller.manifests.kinds import Kind
from controller.manifests.loader import load_manifests
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics
from tests.support.builders import FakeClock


class WidgetSpec(SpecModel):
    size: int = 1


def widgets(synced: list[str], holdings: list[Holding]) -> Domain:
    def sync(ctl: Any, name: str) -> float | None:
        synced.append(name)
        return None

    return Domain(
        "xyz",
        entries=(Entry(Kind("Widget", WidgetSpec), sync=sync, reads=("Host",)),),
        keys=lambda ctl: {("Widget", "left-over")},
        holdings=lambda ctl, tasks: holdings,
    )


def controller(catalog: Catalog) -> Controller:
    fake = FakeRuntime(clock=FakeClock())
    return Controller(
        Store(":memory:"), Metrics(), lambda name, spec: fake, Settings(), catalog=catalog
    )


def test_a_new_kind_is_one_entry_its_documents_load_and_its_sync_runs(tmp_path: Path) -> None:
    synced: list[str] = []
    catalog = Catalog((HOSTS, widgets(synced, [Holding("local", cpu=512, memory=256)])))
    doc = {"apiVersion": "skiff/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(doc))

    result = load_manifests(str(tmp_path), catalog.kinds)
    ctl = controller(catalog)
    ctl.apply_manifests(result)
    ctl.run_until_idle()

    assert result.errors == []
    assert ("Widget", "w") in ctl.desired
    assert sorted(synced) == ["left-over", "w"]  # its keys beyond the manifests run too
    (slot,) = ctl.host_slots(ctl.observed_tasks())
    assert (slot.cpu_used, slot.memory_used) == (512, 256)


def test_a_kind_served_by_a_pass_queues_the_pass_instead() -> None:
    passes: list[str] = []
    key = ("Widgets", "*")
    domain = Domain(
        "xyz",
        entries=(Entry(Kind("Widget", WidgetSpec), via=key),),
        passes=(Pass(key, lambda ctl: passes.append("pass"), lambda ctl: False),),
    )
    ctl = controller(Catalog((HOSTS, domain)))
    ctl.queue.add(("Widget", "a"))
    ctl.run_until_idle()

    assert passes == ["pass"]


def test_the_catalog_refuses_a_kind_twice_and_a_dependency_it_does_not_hold() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        Catalog((HOSTS, widgets([], []), widgets([], [])))
    lonely = Domain("xyz", entries=(Entry(Kind("Widget", WidgetSpec), reads=("Gadget",)),))
    with pytest.raises(ValueError, match="Widget"):
        Catalog((HOSTS, lonely))


def test_every_kind_the_daemon_runs_has_a_sync_or_a_pass_and_reads_known_kinds() -> None:
    for name, entry in CATALOG.entries.items():
        assert (entry.sync is None) != (entry.via is None), name
        assert set(entry.reads) <= CATALOG.entries.keys(), name
    assert len({d.name for d in CATALOG.domains}) == len(CATALOG.domains)
