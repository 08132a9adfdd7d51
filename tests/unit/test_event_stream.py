"""The API's event stream: a Batch job's state changes arrive, in order, as EventBridge's
"Batch Job State Change" events carrying the job, and a reader resumes after the last id it saw."""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from controller.api.auth import Access, allowed_hosts
from controller.api.server import ApiServer
from controller.batch.sync import commands as batch_commands
from controller.cli.events import server_sent_events
from controller.core.event_stream import EventFeed, follow
from controller.store import EventRecord, Store
from tests.support.harness import Harness
from tests.unit.test_batch_engine import containers, harness, run

TOKEN = "a-test-token-of-enough-length"
ACCESS = Access(TOKEN, allowed_hosts("127.0.0.1:0"))


def get(url: str, **headers: str) -> urllib.request.Request:
    """A GET the API admits: with the token."""
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}", **headers})


def job_events(h: Harness, after: int = 0) -> list[dict[str, object]]:
    stream = follow(h.store, h.ctl.actions.feed, after, kind="Job", keep_going=False)
    return [doc for item in stream if item is not None for doc in [item[1]]]


def test_a_job_s_life_is_a_run_of_state_change_events(tmp_path: Path) -> None:
    h = harness(tmp_path)
    answer = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})
    jid = answer["jobId"]
    run(h)
    run(h)
    (cid,) = containers(h, jid)
    h.fake.exit(cid, 0)
    run(h)
    events = job_events(h)
    assert [e["detail"]["status"] for e in events] == [  # type: ignore[index]
        "SUBMITTED",  # no dependency: straight on to RUNNABLE, as in AWS
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
    ]
    last = events[-1]
    assert last["detail-type"] == "Batch Job State Change"
    assert last["source"] == "skiff.batch"
    assert last["resources"] == [f"Job/{jid}"]
    assert last["detail"]["jobId"] == jid  # type: ignore[index]
    assert last["detail"]["jobQueue"] == "q"  # type: ignore[index]
    assert last["detail"]["container"]["exitCode"] == 0  # type: ignore[index]
    ids = [int(str(e["id"])) for e in events]
    assert ids == sorted(ids)


def test_a_reader_resumes_after_the_last_event_it_saw(tmp_path: Path) -> None:
    h = harness(tmp_path)
    batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})
    first = job_events(h)
    seen = int(str(first[-1]["id"]))
    run(h)
    later = job_events(h, after=seen)
    assert later == job_events(h)[1:]
    assert later[0]["detail"]["status"] == "RUNNABLE"  # type: ignore[index]


def test_a_job_waiting_on_another_is_pending_first(tmp_path: Path) -> None:
    h = harness(tmp_path)
    first = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})["jobId"]
    body = {"jobQueue": "q", "jobDefinition": "work", "dependsOn": [{"jobId": first}]}
    second = batch_commands.submit_job(h.ctl, body)["jobId"]
    run(h)
    (cid,) = containers(h, first)
    h.fake.exit(cid, 0)
    run(h)
    statuses = [
        e["detail"]["status"]  # type: ignore[index]
        for e in job_events(h)
        if e["resources"] == [f"Job/{second}"]
    ]
    assert statuses[:4] == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING"]


def test_a_cancel_is_an_event(tmp_path: Path) -> None:
    h = harness(tmp_path)
    jid = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})["jobId"]
    batch_commands.cancel_job(h.ctl, jid, "not needed")
    last = job_events(h)[-1]
    assert last["detail"]["status"] == "FAILED"  # type: ignore[index]
    assert last["detail"]["statusReason"] == "not needed"  # type: ignore[index]


def test_an_array_s_children_have_events_of_their_own(tmp_path: Path) -> None:
    h = harness(tmp_path)
    body = {"jobQueue": "q", "jobDefinition": "work", "arrayProperties": {"size": 3}}
    jid = batch_commands.submit_job(h.ctl, body)["jobId"]
    names = {e["resources"][0] for e in job_events(h)}  # type: ignore[index]
    assert names == {f"Job/{jid}", f"Job/{jid}:0", f"Job/{jid}:1", f"Job/{jid}:2"}


def test_other_actions_are_events_too() -> None:
    store = Store(":memory:")
    store.add_event(EventRecord(0.0, "Service", "web", "task.launched", "below desired", "n=1"))
    ((_, doc),) = [i for i in follow(store, EventFeed(), 0, keep_going=False) if i]
    assert doc["detail-type"] == "Skiff Service Action"
    assert doc["detail"] == {
        "kind": "Service",
        "name": "web",
        "action": "task.launched",
        "reason": "below desired",
        "message": "n=1",
    }
    assert doc["time"] == "1970-01-01T00:00:00Z"


def test_a_waiting_reader_wakes_for_the_next_event_and_stops_when_told() -> None:
    store, feed, stopped, both = (
        Store(":memory:"),
        EventFeed(),
        threading.Event(),
        threading.Event(),
    )
    actions: list[str] = []

    def read() -> None:
        for item in follow(store, feed, 0, stopped=stopped, keepalive=30):
            if item is not None:
                actions.append(item[1]["detail"]["action"])
            if len(actions) == 2:
                both.set()

    reader = threading.Thread(target=read)
    reader.start()
    feed.published(store.add_event(EventRecord(1.0, "Host", "h1", "host.up", "listed")))
    feed.published(store.add_event(EventRecord(2.0, "Host", "h1", "host.down", "gone")))
    assert both.wait(10)  # woken by the feed, long before the 30 s keep-alive
    stopped.set()
    feed.nudge()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert actions == ["host.up", "host.down"]


def test_silence_gives_a_keep_alive() -> None:
    store, feed = Store(":memory:"), EventFeed()
    assert next(follow(store, feed, 0, keepalive=0.01)) is None


def test_the_api_serves_the_stream_as_server_sent_events(tmp_path: Path) -> None:
    h = harness(tmp_path)
    api = ApiServer("127.0.0.1:0", h.ctl, lambda: True, str(tmp_path), ACCESS)
    api.start()
    try:
        jid = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})["jobId"]
        url = f"http://{api.address}/v1/events?since=0&kind=Job&follow=false"
        with urllib.request.urlopen(get(url), timeout=10) as resp:
            assert resp.headers["Content-Type"] == "text/event-stream"
            docs = list(server_sent_events(resp))
        assert [d["detail"]["jobId"] for d in docs] == [jid]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(get(f"http://{api.address}/v1/events?since=soon"), timeout=10)
        assert refused.value.code == 400
        assert "since" in json.load(refused.value)["message"]
    finally:
        api.stop()


def test_a_following_reader_gets_events_as_they_happen_over_http(tmp_path: Path) -> None:
    h = harness(tmp_path)
    api = ApiServer("127.0.0.1:0", h.ctl, lambda: True, str(tmp_path), ACCESS)
    api.start()
    try:
        resp = urllib.request.urlopen(get(f"http://{api.address}/v1/events?kind=Job"), timeout=10)
        jid = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})["jobId"]
        doc = next(server_sent_events(resp))
        assert doc["detail"]["jobId"] == jid
        assert doc["detail"]["status"] == "SUBMITTED"
        resp.close()
    finally:
        api.stop()


def test_a_data_directory_from_before_the_stream_keeps_its_history(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "skiff.db")
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
        "kind TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, "
        "message TEXT NOT NULL)"
    )
    db.execute("INSERT INTO events VALUES (1, 0, 'Service', 'web', 'task.launched', 'r', '')")
    db.commit()
    db.close()
    for store in (Store.snapshot_of(str(tmp_path)), Store.in_data_dir(str(tmp_path))):
        store.add_event(EventRecord(1.0, "Service", "web", "task.stopped", "r"))
        assert [e.action for _, e in store.events_after(0)] == ["task.launched", "task.stopped"]


def test_a_filtered_reader_gets_keep_alives_while_other_events_flow() -> None:
    store, feed, stop, noise_over = Store(":memory:"), EventFeed(), threading.Event(), []

    def noise() -> None:  # events the reader filters out, until it has its keep-alive
        for i in range(2000):
            if stop.wait(0.005):
                return
            feed.published(store.add_event(EventRecord(float(i), "Host", "h1", "host.up", "")))
        noise_over.append(True)

    t = threading.Thread(target=noise)
    t.start()
    try:
        assert next(follow(store, feed, 0, kind="Job", keepalive=0.2)) is None
        assert not noise_over  # it came while the noise went on, not after
    finally:
        stop.set()
        t.join(timeout=10)


def test_a_reconnecting_reader_resumes_from_its_last_event_id(tmp_path: Path) -> None:
    h = harness(tmp_path)
    api = ApiServer("127.0.0.1:0", h.ctl, lambda: True, str(tmp_path), ACCESS)
    api.start()
    try:
        first = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})
        second = batch_commands.submit_job(h.ctl, {"jobQueue": "q", "jobDefinition": "work"})
        url = f"http://{api.address}/v1/events?since=0&kind=Job&follow=false"
        with urllib.request.urlopen(get(url), timeout=10) as resp:
            seen = list(server_sent_events(resp))
        assert [d["detail"]["jobId"] for d in seen] == [first["jobId"], second["jobId"]]
        # An EventSource reconnects to the same URL with the last id it saw.
        req = get(url, **{"Last-Event-ID": seen[0]["id"]})
        with urllib.request.urlopen(req, timeout=10) as resp:
            again = list(server_sent_events(resp))
        assert [d["detail"]["jobId"] for d in again] == [second["jobId"]]
    finally:
        api.stop()
