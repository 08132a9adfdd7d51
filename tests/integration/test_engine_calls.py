"""On a real engine, bringing up a service's tasks costs one create, one start and at most one
inspect per task, as the daemon's own skiff_docker_api_calls_total counts them."""

from __future__ import annotations

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import service_manifest

pytestmark = pytest.mark.integration

TASKS = 20


def test_twenty_tasks_come_up_with_one_create_one_start_and_at_most_one_inspect_each(
    skiff: Skiff,
) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, TASKS))
    skiff.start()
    wait_for(
        lambda: (
            len(skiff.running(web)) == TASKS
            and skiff.resource("Service", web).get("runningCount") == TASKS
            and skiff.metric("skiff_workqueue_depth") == 0
        ),
        90,
        f"{TASKS} running tasks",
    )

    def calls(operation: str) -> float:
        return skiff.metric("skiff_docker_api_calls_total", operation=operation)

    assert calls("create") == TASKS
    assert calls("start") == TASKS
    # One after each start; none after create (the start follows within its grace), and the
    # resyncs inspect only what changed since they last listed.
    assert calls("inspect") <= TASKS
