"""Daemon killed mid-rollout: SIGKILL at random points of ten rolling deployments in a row (the
points drawn over the time one rollout left alone took, from the edit's save to COMPLETED).

Must show: never more tasks alive than maximumPercent allows and no task slot held twice (a
sampler lists the service's containers all along); once restarted, every deployment finishes
(the new revision's deployment COMPLETED, desiredCount running, nothing of the old revision
alive) and leaves no orphan (every container of the cluster belongs to a task the daemon lists,
none was left created and never started). The seed is printed; SKIFF_RELIABILITY_SEED replays it.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.reliability import support as S
from tests.support.daemon import Skiff, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

DESIRED, MAXIMUM_PERCENT = 5, 200
CEILING = DESIRED * MAXIMUM_PERCENT // 100
ITERATIONS = 10
DEPLOYMENT = {"maximumPercent": MAXIMUM_PERCENT, "minimumHealthyPercent": 100}


def test_sigkill_at_random_points_of_rollouts_leaves_no_duplicate_and_no_orphan(
    skiff: Skiff,
) -> None:
    seed = int(os.environ.get("SKIFF_RELIABILITY_SEED") or random.randrange(2**32))
    print(f"SKIFF_RELIABILITY_SEED={seed}")
    rng = random.Random(seed)
    name = skiff.name("roll")
    skiff.write("svc.yaml", S.service(name, DESIRED, version="v1", deployment=DEPLOYMENT))
    skiff.start()
    wait_for(
        lambda: S.finished(skiff, skiff.docker, name, f"{name}:1", DESIRED),
        60,
        "the first revision running",
    )

    mid_rollout = 0
    took: list[float] = []
    with S.Sampler(skiff.docker, skiff.cluster, name) as sampler:
        # One rollout left alone says how long one takes on this machine now: the kills land
        # at random points of that span, from the edit's save to its deployment COMPLETED.
        began = time.monotonic()
        skiff.write("svc.yaml", S.service(name, DESIRED, version="v2", deployment=DEPLOYMENT))
        wait_for(
            lambda: S.finished(skiff, skiff.docker, name, f"{name}:2", DESIRED),
            60,
            "an uninterrupted rollout",
        )
        span = time.monotonic() - began
        for n in range(3, ITERATIONS + 3):
            revision = f"{name}:{n}"
            skiff.write(
                "svc.yaml", S.service(name, DESIRED, version=f"v{n}", deployment=DEPLOYMENT)
            )
            delay = rng.uniform(0.0, span)
            time.sleep(delay)  # the deliberate window: the daemon dies at this random point
            skiff.kill9()
            at_kill = S.live(S.containers(skiff.docker, skiff.cluster, name))
            if revision in S.revisions(at_kill) and len(S.revisions(at_kill)) > 1:
                mid_rollout += 1
            started = time.monotonic()
            skiff.start()
            wait_for(
                lambda rev=revision: S.finished(skiff, skiff.docker, name, rev, DESIRED),  # type: ignore[misc]
                60,
                f"the rollout to {revision} to finish after a SIGKILL {delay:.2f}s in "
                f"(seed {seed})",
            )
            took.append(S.elapsed_since(started))
            rows = S.containers(skiff.docker, skiff.cluster, name)
            assert not S.duplicates(rows), (seed, n)
            assert not S.never_started(rows), (seed, n)
            S.assert_no_orphans(skiff, skiff.docker, name)
    print(
        f"seed {seed}: {mid_rollout}/{ITERATIONS} kills mid-rollout (a rollout takes "
        f"{span:.2f} s); most tasks alive "
        f"{sampler.most_live} (ceiling {CEILING}) over {sampler.samples} samples; "
        f"restart to COMPLETED {min(took)}-{max(took)} s"
    )
    assert sampler.most_live <= CEILING, f"more tasks alive than maximumPercent (seed {seed})"
    assert not sampler.doubled, f"a task slot held twice: {sampler.doubled[:5]} (seed {seed})"
    assert sampler.samples > 0
