"""The SQLite store: revisions with history, last valid manifests, task records, events,
persistence across restarts, private snapshots and concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from controller.store import Revision, metric_history
from controller.store import events as events_module
from controller.store.records import EventRecord, TaskRecord
from controller.store.sqlite import Store

SPEC = {"containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    yield s
    s.close()


def spec(image: str) -> dict:
    return {"containerDefinitions": [{"name": "app", "image": image}]}


def record(task_id: str, owner: str = "web", **kw) -> TaskRecord:
    kw.setdefault("desired_status", "RUNNING")
    return TaskRecord(task_id, "Service", owner, f"{owner}:1", "h1", created_at=10.0, **kw)


# --- task-definition revisions -------------------------------------------------------------------


def test_revisions_are_numbered_from_one_per_family(store: Store) -> None:
    web1 = store.register_revision("web", spec("a"), "h-a", now=1.0)
    web2 = store.register_revision("web", spec("b"), "h-b", now=2.0)
    api1 = store.register_revision("api", spec("c"), "h-c", now=3.0)
    assert (web1.key, web2.key, api1.key) == ("web:1", "web:2", "api:1")
    assert web2.status == "ACTIVE" and web2.registered_at == 2.0


def test_registering_keeps_the_history_unchanged(store: Store) -> None:
    mine = spec("a")
    store.register_revision("web", mine, "h-a", now=1.0)
    mine["containerDefinitions"][0]["image"] = "changed-after-registering"
    store.register_revision("web", spec("b"), "h-b", now=2.0)

    first = store.revision("web", 1)
    assert first is not None
    assert first.spec == spec("a")
    assert (first.spec_hash, first.status, first.registered_at) == ("h-a", "ACTIVE", 1.0)
    assert [r.number for r in store.revisions("web")] == [1, 2]
    assert store.revision("web", 3) is None
    assert store.revision("nope", 1) is None


def test_revisions_lists_all_families_sorted(store: Store) -> None:
    store.register_revision("web", SPEC, "h", now=1.0)
    store.register_revision("api", SPEC, "h", now=2.0)
    store.register_revision("web", SPEC, "h", now=3.0)
    assert [r.key for r in store.revisions()] == ["api:1", "web:1", "web:2"]
    assert [r.key for r in store.revisions("web")] == ["web:1", "web:2"]


def latest_active(store: Store, family: str) -> Revision | None:
    """The revision a service naming only the family runs."""
    active = [r for r in store.revisions(family) if r.status == "ACTIVE"]
    return active[-1] if active else None


def test_latest_active_is_the_highest_active_revision(store: Store) -> None:
    assert latest_active(store, "web") is None
    store.register_revision("web", spec("a"), "h-a", now=1.0)
    store.register_revision("web", spec("b"), "h-b", now=2.0)
    store.register_revision("api", spec("c"), "h-c", now=3.0)
    latest = latest_active(store, "web")
    assert latest is not None and latest.key == "web:2" and latest.spec == spec("b")


def test_deregistering_a_family_marks_every_revision_inactive(store: Store) -> None:
    store.register_revision("web", SPEC, "h", now=1.0)
    store.register_revision("web", SPEC, "h", now=2.0)
    store.register_revision("api", SPEC, "h", now=3.0)

    assert store.deregister_family("web", now=9.0) == 2
    assert [(r.status, r.deregistered_at) for r in store.revisions("web")] == [
        ("INACTIVE", 9.0),
        ("INACTIVE", 9.0),
    ]
    assert latest_active(store, "web") is None
    assert latest_active(store, "api") is not None, "other families are untouched"
    assert store.deregister_family("web", now=10.0) == 0, "already inactive"
    assert {r.deregistered_at for r in store.revisions("web")} == {9.0}


def test_registering_after_deregistering_continues_the_numbering(store: Store) -> None:
    store.register_revision("web", SPEC, "h", now=1.0)
    store.deregister_family("web", now=2.0)
    again = store.register_revision("web", SPEC, "h", now=3.0)
    assert again.key == "web:2"
    latest = latest_active(store, "web")
    assert latest is not None and latest.key == "web:2"
    assert store.revision("web", 1).status == "INACTIVE"


# --- last valid manifests ------------------------------------------------------------------------


def test_saved_resources_are_listed_replaced_and_deleted(store: Store) -> None:
    assert store.resources() == []
    store.save_resource("Service", "web", "svc.yaml", 0, {"desiredCount": 2}, {"a": "b"}, 1.0)
    store.save_resource("Service", "api", "svc.yaml", 1, {"desiredCount": 1}, {}, 1.0)
    store.save_resource("Service", "web", "web.yaml", 0, {"desiredCount": 3}, {}, 2.0)

    assert sorted(store.resources()) == [
        ("Service", "api", "svc.yaml", 1, {"desiredCount": 1}, {}),
        ("Service", "web", "web.yaml", 0, {"desiredCount": 3}, {}),
    ]
    store.delete_resource("Service", "web")
    store.delete_resource("Service", "not-there")
    assert [r[:2] for r in store.resources()] == [("Service", "api")]


def test_the_same_name_in_different_kinds_are_different_resources(store: Store) -> None:
    store.save_resource("Service", "web", "a.yaml", 0, {}, {}, 1.0)
    store.save_resource("TaskDefinition", "web", "a.yaml", 1, {}, {}, 1.0)
    store.delete_resource("Service", "web")
    assert [r[:2] for r in store.resources()] == [("TaskDefinition", "web")]


# --- task records --------------------------------------------------------------------------------


def test_task_records_are_stored_per_owner(store: Store) -> None:
    store.put_tasks([record("t1"), record("t2"), record("a1", owner="api")])
    assert set(store.tasks("Service", "web")) == {"t1", "t2"}
    assert store.tasks("Service", "web")["t1"] == record("t1")
    assert set(store.tasks("Service", "api")) == {"a1"}
    assert store.tasks("Service", "nobody") == {}
    assert store.tasks("Job", "web") == {}


def test_putting_a_task_record_again_replaces_it(store: Store) -> None:
    store.put_tasks([record("t1")])
    stopped = record(
        "t1", desired_status="STOPPED", stopped_reason="scaled in", stop_requested_at=5
    )
    store.put_tasks([stopped])
    assert store.tasks("Service", "web") == {"t1": stopped}


def test_deleting_task_records(store: Store) -> None:
    store.put_tasks([record("t1"), record("t2"), record("t3")])
    store.delete_tasks(["t1", "t3", "unknown"])
    store.delete_tasks([])
    assert set(store.tasks("Service", "web")) == {"t2"}


def test_records_read_between_writes_are_the_records_as_written(store: Store) -> None:
    """The records of each owner are kept between reads (a look at a service reads them every
    resync); every write to them is seen by the next read, whichever owner it touched."""
    store.put_tasks([record("t1"), record("a1", owner="api")])
    assert set(store.tasks("Service", "web")) == {"t1"}
    assert set(store.tasks("Service", "api")) == {"a1"}
    store.put_tasks([record("t2")])
    assert set(store.tasks("Service", "web")) == {"t1", "t2"}
    stopped = record("t1", desired_status="STOPPED", stopped_reason="scaled in")
    store.put_tasks([stopped])
    assert store.tasks("Service", "web")["t1"] == stopped
    store.delete_tasks(["t2"])
    assert set(store.tasks("Service", "web")) == {"t1"}
    assert set(store.tasks("Service", "api")) == {"a1"}
    store.delete_service_records("api")  # a deleted service's records go
    assert store.tasks("Service", "api") == {}
    mine = store.tasks("Service", "web")
    mine.clear()  # each read is the caller's own dict
    assert set(store.tasks("Service", "web")) == {"t1"}


# --- events --------------------------------------------------------------------------------------


def event(i: int, kind: str = "Service", name: str = "web") -> EventRecord:
    return EventRecord(float(i), kind, name, "task.launched", f"reason {i}", f"message {i}")


def test_events_are_the_most_recent_n_oldest_first(store: Store) -> None:
    for i in range(30):
        store.add_event(event(i))
    assert [e.at for e in store.events(limit=5)] == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert store.events(limit=1) == [event(29)]
    assert len(store.events()) == 20, "twenty by default"


def test_events_of_one_resource(store: Store) -> None:
    store.add_event(event(1, name="web"))
    store.add_event(event(2, name="api"))
    store.add_event(event(3, kind="Host", name="web"))
    store.add_event(event(4, name="web"))
    assert store.events("Service", "web") == [event(1), event(4)]
    assert store.events("Service", "nope") == []
    assert len(store.events()) == 4


def test_events_with_the_same_timestamp_keep_insertion_order(store: Store) -> None:
    for action in ["a", "b", "c"]:
        store.add_event(EventRecord(1.0, "Service", "web", action, ""))
    assert [e.action for e in store.events()] == ["a", "b", "c"]


def test_the_history_is_trimmed_to_the_most_recent_events(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "EVENTS_KEPT", 50)
    for i in range(1, 1001):  # trimming happens on every 1000th insert
        store.add_event(event(i))
    kept = store.events(limit=10_000)
    assert [e.at for e in kept] == [float(i) for i in range(951, 1001)]


# --- hourly metric history -------------------------------------------------------------------

H0 = 1_700_002_800  # an hour boundary (epoch seconds)
CPU = "CPUUtilization/AutoScalingGroup/web"


def test_samples_fold_into_the_average_of_their_hour(store: Store) -> None:
    for t, v in [(H0, 10.0), (H0 + 1800, 20.0), (H0 + 3599.9, 60.0), (H0 + 3600, 5.0)]:
        store.add_metric_sample(CPU, t, v)
    store.add_metric_sample("other", H0, 99.0)
    assert store.metric_hours(CPU, since=H0) == [(H0, 30.0), (H0 + 3600, 5.0)]
    assert store.metric_hours(CPU, since=H0 + 1200) == [(H0, 30.0), (H0 + 3600, 5.0)]
    assert store.metric_hours(CPU, since=H0 + 3600) == [(H0 + 3600, 5.0)]
    assert store.metric_hours("nothing", since=0) == []


def test_a_series_keeps_fifteen_days_of_hours(store: Store) -> None:
    for hour in range(16 * 24):
        store.add_metric_sample(CPU, H0 + hour * 3600 + 60, float(hour))
    store.add_metric_sample("idle", H0, 1.0)  # another series' hours are not its business
    hours = store.metric_hours(CPU, since=0)
    assert len(hours) == metric_history.METRIC_HOURS_KEPT == 15 * 24
    assert hours[0] == (H0 + 24 * 3600, 24.0)
    assert hours[-1] == (H0 + (16 * 24 - 1) * 3600, 16 * 24 - 1.0)
    assert store.metric_hours("idle", since=0) == [(H0, 1.0)]


def test_prune_drops_the_hours_that_ended_before(store: Store) -> None:
    for hour in range(4):
        store.add_metric_sample(CPU, H0 + hour * 3600, 1.0)
        store.add_metric_sample("idle", H0 + hour * 3600, 2.0)
    assert store.prune_metric_hours(before=H0 + 2 * 3600 + 10) == 4  # hour 2 has not ended
    assert [h for h, _ in store.metric_hours(CPU, since=0)] == [H0 + 7200, H0 + 10800]
    assert [h for h, _ in store.metric_hours("idle", since=0)] == [H0 + 7200, H0 + 10800]


def test_a_sample_that_is_not_a_number_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        store.add_metric_sample(CPU, H0, float("nan"))
    assert store.metric_hours(CPU, since=0) == []


def test_metric_hours_survive_a_restart_and_old_data_dirs_gain_the_table(tmp_path: Path) -> None:
    s = Store.in_data_dir(str(tmp_path))
    s.add_metric_sample(CPU, H0, 4.0)
    s.close()
    s = Store.in_data_dir(str(tmp_path))
    try:
        s.add_metric_sample(CPU, H0 + 1, 8.0)
        assert s.metric_hours(CPU, since=0) == [(H0, 6.0)]
    finally:
        s.close()
    db = sqlite3.connect(os.path.join(tmp_path, "skiff.db"))
    db.execute("DROP TABLE metric_hours")  # as a data dir from before metric history
    db.close()
    s = Store.in_data_dir(str(tmp_path))
    try:
        s.add_metric_sample(CPU, H0, 1.0)
        assert s.metric_hours(CPU, since=0) == [(H0, 1.0)]
    finally:
        s.close()


# --- on disk: persistence, snapshots, read-only ---------------------------------------------------


def fill(s: Store) -> None:
    s.register_revision("web", SPEC, "h", now=1.0)
    s.save_resource("Service", "web", "svc.yaml", 0, {"desiredCount": 2}, {}, 1.0)
    s.put_tasks([record("t1")])
    s.add_event(event(1))


def test_data_survives_closing_and_reopening_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = Store.in_data_dir(str(data))
    fill(s)
    s.close()
    assert (data / "skiff.db").exists()

    again = Store.in_data_dir(str(data))
    try:
        assert [r.key for r in again.revisions()] == ["web:1"]
        assert [r[:2] for r in again.resources()] == [("Service", "web")]
        assert set(again.tasks("Service", "web")) == {"t1"}
        assert again.events() == [event(1)]
        assert again.register_revision("web", SPEC, "h", now=2.0).key == "web:2"
    finally:
        again.close()


def test_a_snapshot_is_an_independent_copy(tmp_path: Path) -> None:
    s = Store.in_data_dir(str(tmp_path))
    fill(s)
    s.close()

    copy = Store.snapshot_of(str(tmp_path))
    assert [r.key for r in copy.revisions()] == ["web:1"]
    assert set(copy.tasks("Service", "web")) == {"t1"}
    copy.register_revision("web", SPEC, "h", now=2.0)
    copy.delete_tasks(["t1"])
    copy.deregister_family("web", now=3.0)
    copy.close()

    original = Store.in_data_dir(str(tmp_path))
    try:
        assert [(r.key, r.status) for r in original.revisions()] == [("web:1", "ACTIVE")]
        assert set(original.tasks("Service", "web")) == {"t1"}
    finally:
        original.close()


def test_a_snapshot_sees_what_a_running_store_has_committed(tmp_path: Path) -> None:
    live = Store.in_data_dir(str(tmp_path))  # still open: recent commits may be in the WAL
    try:
        fill(live)
        copy = Store.snapshot_of(str(tmp_path))
        assert [r.key for r in copy.revisions()] == ["web:1"]
        live.register_revision("web", SPEC, "h", now=2.0)
        assert [r.key for r in copy.revisions()] == ["web:1"], "a copy, not a view"
        copy.close()
    finally:
        live.close()


def test_a_snapshot_of_a_data_dir_without_a_store_is_empty(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    copy = Store.snapshot_of(str(missing))
    assert copy.revisions() == [] and copy.resources() == [] and copy.events() == []
    assert copy.register_revision("web", SPEC, "h", now=1.0).key == "web:1"
    assert not missing.exists(), "a snapshot never creates the data dir"


def test_a_read_only_store_reads_but_refuses_writes(tmp_path: Path) -> None:
    s = Store.in_data_dir(str(tmp_path))
    fill(s)
    s.close()
    ro = Store.in_data_dir(str(tmp_path), readonly=True)
    try:
        assert [r.key for r in ro.revisions()] == ["web:1"]
        with pytest.raises(sqlite3.OperationalError):
            ro.register_revision("web", SPEC, "h", now=2.0)
    finally:
        ro.close()


def test_a_read_only_store_sees_the_task_records_written_since_its_last_read(
    tmp_path: Path,
) -> None:
    """The daemon's store keeps the records it read until it writes; a read-only store (in
    another process) cannot know of the daemon's writes, so it reads them every time."""
    s = Store.in_data_dir(str(tmp_path))
    ro = Store.in_data_dir(str(tmp_path), readonly=True)
    try:
        s.put_tasks([record("t1")])
        assert set(ro.tasks("Service", "web")) == {"t1"}
        s.put_tasks([record("t2")])
        assert set(ro.tasks("Service", "web")) == {"t1", "t2"}
    finally:
        ro.close()
        s.close()


def test_a_snapshot_of_a_data_dir_whose_name_has_uri_characters(tmp_path: Path) -> None:
    data = tmp_path / "data#1"
    s = Store.in_data_dir(str(data))
    fill(s)
    s.close()
    copy = Store.snapshot_of(str(data))
    assert [r.key for r in copy.revisions()] == ["web:1"]
    assert sorted(os.listdir(tmp_path)) == ["data#1"]


# --- concurrency ---------------------------------------------------------------------------------


def run_threads(n: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20.0)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    return errors


def test_concurrent_writers_sharing_one_store_lose_nothing(tmp_path: Path) -> None:
    s = Store.in_data_dir(str(tmp_path))
    per_thread = 40

    def write(i: int) -> None:
        for j in range(per_thread):
            s.register_revision("web", {"writer": i, "n": j}, f"h{i}-{j}", now=float(j))
            s.put_tasks([record(f"t{i}-{j}")])
            s.add_event(event(j, name=f"w{i}"))
            s.save_resource("Service", f"svc-{i}-{j}", "x.yaml", 0, {}, {}, 1.0)

    try:
        assert run_threads(4, write) == []
        revisions = s.revisions("web")
        assert [r.number for r in revisions] == list(range(1, 4 * per_thread + 1))
        assert {(r.spec["writer"], r.spec["n"]) for r in revisions} == {
            (i, j) for i in range(4) for j in range(per_thread)
        }
        assert len(s.tasks("Service", "web")) == 4 * per_thread
        assert len(s.events(limit=10_000)) == 4 * per_thread
        assert len(s.resources()) == 4 * per_thread
    finally:
        s.close()


def test_concurrent_stores_on_the_same_data_dir_number_revisions_uniquely(
    tmp_path: Path,
) -> None:
    Store.in_data_dir(str(tmp_path)).close()  # create the schema once
    per_thread = 25

    def write(i: int) -> None:
        own = Store.in_data_dir(str(tmp_path))  # its own connection
        try:
            for j in range(per_thread):
                own.register_revision("web", {"writer": i, "n": j}, "h", now=float(j))
                own.put_tasks([record(f"t{i}-{j}")])
        finally:
            own.close()

    assert run_threads(4, write) == []
    s = Store.in_data_dir(str(tmp_path))
    try:
        assert [r.number for r in s.revisions("web")] == list(range(1, 4 * per_thread + 1))
        assert len(s.tasks("Service", "web")) == 4 * per_thread
    finally:
        s.close()


def test_one_revision_is_read_by_its_key_and_the_newest_by_its_family(store: Store) -> None:
    for n in range(1, 301):
        store.register_revision("web", spec(f"v{n}"), f"h{n}", now=float(n))
    store.register_revision("api", SPEC, "h", now=1.0)

    assert store.revision("web", 7).spec == spec("v7")  # type: ignore[union-attr]
    assert store.newest_revision("web").key == "web:300"  # type: ignore[union-attr]
    assert store.newest_revision("nope") is None
    assert sorted(store.families()) == ["api", "web"]
    store.deregister_family("web", now=400.0)
    assert store.newest_revision("web").status == "INACTIVE"  # type: ignore[union-attr]
