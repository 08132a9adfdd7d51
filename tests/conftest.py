"""Splits the suite over two pytest-xdist workers, each with one suite of engine tests.

The suites under e2e/, integration/ and reliability/ drive real engines; the unit and
property tests are pure Python on the fake runtime. Every engine test's margins allow for a
busy machine with one other test running beside it (the ones that read a busy container's
CPU against its limit take a window in which the kernel says it got it: `support/cpu_window`),
and each uses names, ports and data of its own; what two of them must never share is a
fixture that owns fixed names on this host (the integration suite's session engines and
their bridges, `pool`, `second_engine`, `ssh_access`). So integration/ is one xdist group,
run in order on one worker, and e2e/ with reliability/ is another, on the other worker,
which then takes the unit and property tests: on a 2-core machine the two halves take about
the same time (`./dev.sh test` runs `-n 2 --dist loadgroup`; without -n nothing changes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ENGINE_GROUPS = {"integration": "integration", "e2e": "engines", "reliability": "engines"}
_TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(item.path).relative_to(_TESTS).parts[0]
        if suite in ENGINE_GROUPS:
            item.add_marker(pytest.mark.xdist_group(ENGINE_GROUPS[suite]))
