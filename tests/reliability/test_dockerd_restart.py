"""dockerd restarted mid-deployment: the daemon's only Host is an engine of this test's own
(never the main engine, which other tests share), and that dockerd is stopped and started again
while a rolling deployment is half done. Stopping dockerd stops every container on it.

Must show: the deployment still finishes (the new revision's deployment COMPLETED, desired count
running, nothing of the old revision alive), never more tasks alive than maximumPercent allows,
no task slot held twice, and no orphan (every container on the engine belongs to a task the
daemon lists; none left created and never started).
"""

from __future__ import annotations

import time

import pytest

from tests.reliability import support as S
from tests.support.daemon import Skiff, wait_for
from tests.support.engines import Dockerd

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

DESIRED, MAXIMUM_PERCENT = 6, 200
CEILING = DESIRED * MAXIMUM_PERCENT // 100
DEPLOYMENT = {"maximumPercent": MAXIMUM_PERCENT, "minimumHealthyPercent": 50}


def test_dockerd_restarted_mid_deployment_the_deployment_finishes_without_duplicates(
    extra_engine: Dockerd, skiff: Skiff
) -> None:
    """(The engine is set up first, so the daemon stops before the engine is destroyed.)"""
    name = skiff.name("eng")
    client = extra_engine.engine.client()
    skiff.write("host.yaml", S.host("solo", extra_engine.engine.url))
    skiff.write("svc.yaml", S.service(name, DESIRED, version="v1", deployment=DEPLOYMENT))
    skiff.start("--resync", "5")
    wait_for(
        lambda: S.finished(skiff, client, name, f"{name}:1", DESIRED), 60, "revision 1 running"
    )

    with S.Sampler(client, skiff.cluster, name) as sampler:
        skiff.write("svc.yaml", S.service(name, DESIRED, version="v2", deployment=DEPLOYMENT))
        wait_for(
            lambda: (
                {f"{name}:1", f"{name}:2"}
                <= S.revisions(S.live(S.containers(client, skiff.cluster, name)))
            ),
            30,
            "the deployment under way: both revisions alive",
        )
        restarted = time.monotonic()
        extra_engine.stop()
        extra_engine.start()
        down = S.elapsed_since(restarted)
        back = time.monotonic()
        wait_for(
            lambda: S.finished(skiff, client, name, f"{name}:2", DESIRED),
            90,
            "the deployment to finish after the engine restart",
        )
        took = S.elapsed_since(back)

    rows = S.containers(client, skiff.cluster, name)
    assert not S.duplicates(rows)
    assert not S.never_started(rows)
    S.assert_no_orphans(skiff, client, name)
    assert sampler.most_live <= CEILING, sampler.most_live
    assert not sampler.doubled, sampler.doubled[:5]
    assert skiff.resource("Host", "solo")["status"] == "ACTIVE"
    print(
        f"dockerd restarted mid-deployment (stop + start took {down} s): COMPLETED {took} s "
        f"after it answered again; most "
        f"tasks alive {sampler.most_live} (ceiling {CEILING}), 0 duplicates, 0 orphans"
    )
