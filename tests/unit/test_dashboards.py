"""The Grafana dashboards in deploy/grafana/dashboards are exactly what deploy/grafana/generate.py
makes (so the JSON never drifts from its code), and each one is usable: every panel queries
Prometheus through the dashboard's data source variable, every template variable a query names
exists and is matched with =~ (so "All", .*, works), and ids and uids are unique.
tests/integration (ops-metrics' Prometheus test) runs every expression against a live daemon.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
TITLES = {
    "overview.json": "Skiff / Overview",
    "services.json": "Skiff / Services",
    "load-balancers.json": "Skiff / Load balancers",
    "autoscaling.json": "Skiff / Auto Scaling",
    "batch.json": "Skiff / Batch",
}


@pytest.fixture(scope="module")
def generate() -> Iterator[ModuleType]:
    """deploy/grafana/generate.py, imported as its command line runs it (its folder on the path)."""
    sys.path.insert(0, str(GRAFANA))
    try:
        yield importlib.import_module("generate")
    finally:
        sys.path.remove(str(GRAFANA))


def committed() -> dict[str, dict[str, Any]]:
    return {f.name: json.loads(f.read_text()) for f in sorted((GRAFANA / "dashboards").iterdir())}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_committed_json_is_the_generators_output(generate: ModuleType) -> None:
    made = generate.files()
    on_disk = {f.name: f.read_text() for f in (GRAFANA / "dashboards").iterdir()}
    assert sorted(on_disk) == sorted(made), "run: python3 deploy/grafana/generate.py"
    for name, text in made.items():
        assert on_disk[name] == text, f"{name} differs: run python3 deploy/grafana/generate.py"


def test_the_five_dashboards_of_issue_15() -> None:
    dashboards = committed()
    assert {name: d["title"] for name, d in dashboards.items()} == TITLES
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(TITLES))
def test_every_panel_queries_prometheus_through_the_variable(name: str) -> None:
    dashboard = committed()[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    assert panels(dashboard)
    for panel in panels(dashboard):
        targets = panel.get("targets") or []
        assert targets, f"{name}: panel {panel['title']!r} has no query"
        for target in targets:
            assert target["expr"].strip(), f"{name}: {panel['title']!r} has an empty expr"
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("name", sorted(TITLES))
def test_template_variables_exist_and_match_as_regular_expressions(name: str) -> None:
    dashboard = committed()[name]
    defined = {v["name"]: v for v in dashboard["templating"]["list"]}
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            for used in re.findall(r"\$(\w+)", expr):
                assert used in defined, f"{name}: {expr} uses ${used}, which is not defined"
                # =~ so that "All" (.*) and several values (a|b) select what they say.
                assert re.search(rf'\w+=~"\${used}"', expr), f"{name}: {expr}: use =~"
    for variable in defined.values():
        if variable["type"] == "query":
            assert variable["includeAll"] and variable["allValue"] == ".*"
            label = variable["name"]
            assert re.fullmatch(rf"label_values\(skiff_\w+, {label}\)", variable["query"])


def test_load_balancer_latency_is_a_quantile_of_the_response_time_histogram() -> None:
    exprs = [
        t["expr"]
        for p in panels(committed()["load-balancers.json"])
        if p["title"] == "Response time"
        for t in p["targets"]
    ]
    assert [e.split(",")[0] for e in exprs] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    ]
    assert all("skiff_target_group_response_time_seconds_bucket" in e for e in exprs)
    assert all("sum by (le, target_group)" in e for e in exprs)
