"""Splits the suite over two pytest-xdist workers: the tests that drive real engines on one.

The suites under e2e/, integration/ and reliability/ share this machine's dockerd, its CPU and
its published ports, and their margins assume one of them runs at a time: they form one xdist
group, run in order on one worker. The unit and property tests, pure Python on the fake
runtime, take the other worker (and whatever is left), so on a 2-core machine they no longer
add their five minutes to the engine suite's twenty (`./dev.sh test` runs `-n 2 --dist
loadgroup`; without -n nothing changes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ENGINE_SUITES = ("e2e", "integration", "reliability")
_TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(item.path).relative_to(_TESTS).parts[0]
        if suite in ENGINE_SUITES:
            item.add_marker(pytest.mark.xdist_group("engines"))
