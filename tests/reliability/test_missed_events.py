"""Missed events: the daemon's Docker event stream is held back while 260 of its containers die.

The daemon's only Host is a unix-socket proxy in front of the main engine (EngineProxy), which
can hold back the bytes of `/events` responses. With the stream paused, 260 tasks (busybox
`sleep`, network mode none, so they are cheap to kill and launch) are `docker kill`ed: the
daemon cannot know until its resync (`--resync`) lists the engine again.

Must show: every killed task is replaced within one resync period plus a bounded margin (the
time to launch 260 containers), without a duplicate while the stream is still paused; and when
the held events are let through later, in one stale burst (kill, die, create, start of
containers long gone or already known), nothing is launched, stopped or removed twice: the
service ends with exactly its desired count, one container per task, status steady.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability import support as S
from tests.support.daemon import Skiff, wait_for
from tests.support.engine_proxy import EngineProxy

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

TASKS = 260  # more than 256 containers change while the stream is paused
RESYNC = 10.0  # the daemon's --resync period
DETECT = 15.0  # the resync's list and inspect of 260 changed containers, on a busy machine
MARGIN = 75.0  # launching 260 containers on a busy 2-core machine, and settling


def steady(skiff: Skiff, name: str) -> bool:
    svc = skiff.resource("Service", name)
    return bool(svc["steadyState"]) and svc["runningCount"] == TASKS


def test_events_held_back_while_260_containers_die_are_healed_by_one_resync(
    skiff: Skiff, tmp_path: Path
) -> None:
    proxy = EngineProxy(tmp_path / "engine.sock").start()
    name = skiff.name("many")
    try:
        skiff.write("host.yaml", S.host("proxied", proxy.url))
        skiff.write("svc.yaml", S.service(name, TASKS, network="none", memory=6))
        skiff.start("--resync", str(RESYNC))
        wait_for(lambda: steady(skiff, name), 150, f"{TASKS} running tasks")
        first = {r["Id"] for r in S.containers(skiff.docker, skiff.cluster, name)}
        assert len(first) == TASKS

        # Pause just after a resync, so the kills land well before the next one.
        lists = skiff.metric("skiff_docker_api_calls_total", operation="list")
        wait_for(
            lambda: skiff.metric("skiff_docker_api_calls_total", operation="list") > lists,
            RESYNC + 10,
            "a resync",
        )
        proxy.pause()
        lists = skiff.metric("skiff_docker_api_calls_total", operation="list")
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda cid: skiff.docker.api.kill(cid), sorted(first)))
        killed = time.monotonic()
        rows = S.containers(skiff.docker, skiff.cluster, name)
        # A resync may already have launched replacements, and begun removing stopped tasks past
        # the kept few, if the kills outlasted its period on a busy machine; what must hold is
        # that none of the first tasks still runs (a container being removed does not).
        running = ("created", "running", "restarting", "paused")
        alive = {r["Id"][:12]: r["State"] for r in rows if r["Id"] in first}
        alive = {cid: state for cid, state in alive.items() if state in running}
        assert not alive, f"every task was killed, yet these were not: {alive}"
        if skiff.metric("skiff_docker_api_calls_total", operation="list") == lists:
            # No resync yet: the daemon is blind, its status still shows every task running.
            assert skiff.resource("Service", name)["runningCount"] == TASKS
            assert {r["Id"] for r in rows} == first, "nothing launched without a resync"

        def noticed() -> bool:  # the first replacement exists: the daemon saw the deaths
            return any(r["Id"] not in first for r in S.containers(skiff.docker, skiff.cluster))

        wait_for(noticed, RESYNC + DETECT, "the daemon to notice the deaths at its resync")
        noticed_after = S.elapsed_since(killed)

        def replaced() -> bool:
            rows = S.live(S.containers(skiff.docker, skiff.cluster, name))
            return (
                len(rows) == TASKS
                and all(r["State"] == "running" for r in rows)
                and not {r["Id"] for r in rows} & first
            )

        wait_for(replaced, RESYNC + MARGIN, f"{TASKS} replacements while the stream is paused")
        healed = S.elapsed_since(killed)
        rows = S.containers(skiff.docker, skiff.cluster, name)
        assert not S.duplicates(rows)
        assert len({r["Labels"]["skiff.task"] for r in S.live(rows)}) == TASKS

        # The held events go through now, in one stale burst.
        replacements = {r["Id"] for r in S.live(rows)}
        held = proxy.held_events
        released_at = time.time()
        proxy.release()
        wait_for(lambda: steady(skiff, name), 30, "a steady status after the burst")
        right = S.elapsed_since(killed)
        wait_for(lambda: skiff.metric("skiff_workqueue_depth") == 0, 10, "an idle queue")
        rows = S.containers(skiff.docker, skiff.cluster, name)
        assert {r["Id"] for r in S.live(rows)} == replacements, "the burst launched or stopped"
        assert not S.duplicates(rows)
        assert not S.never_started(rows)
        assert len(rows) <= TASKS + 5  # the kept stopped tasks, nothing else
        created = [
            e
            for e in skiff.docker.api.events(
                since=released_at,
                until=time.time(),
                filters={"type": "container", "label": f"skiff.cluster={skiff.cluster}"},
                decode=True,
            )
            if e.get("Action") in ("create", "start", "kill")
        ]
        assert created == [], f"the stale burst caused Docker writes: {created[:5]}"
        assert held > 256, f"only {held} events were held back"
        print(
            f"{TASKS} tasks killed with the stream paused ({held} events held): noticed "
            f"{noticed_after} s after the kills (resync every {RESYNC} s), all replaced after "
            f"{healed} s, status right after {right} s; burst: 0 launches, 0 duplicates"
        )
    finally:
        skiff.stop()
        S.remove_cluster(skiff.docker, skiff.cluster)
        proxy.close()
