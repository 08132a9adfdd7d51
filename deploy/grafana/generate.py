"""Generates Skiff's Grafana dashboards (deploy/grafana/dashboards/*.json) from code, with
Grafana's grafana-foundation-sdk, so the panels and their PromQL are reviewed as code and the
JSON is never edited by hand: `python3 deploy/grafana/generate.py` rewrites the files, and
tests/unit/test_dashboards.py fails when they differ from what this module produces. What the
dashboards show is in skiff_panels.py, beside this file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from panel_model import Dashboard, Panel, Query, Variable
from skiff_panels import DASHBOARDS

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .ref_id(ref)
        .datasource(DATASOURCE)
    )


def _panel(panel: Panel, panel_id: int) -> timeseries.Panel | stat.Panel:
    builder: timeseries.Panel | stat.Panel
    if panel.kind == "stat":
        builder = (
            stat.Panel()
            .color_mode(common.BigValueColorMode.VALUE)
            .graph_mode(common.BigValueGraphMode.AREA)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        )
        if panel.mappings:
            builder.mappings(
                [
                    ValueMap(
                        options={
                            value: ValueMappingResult(text=text, color=color, index=i)
                            for i, (value, (text, color)) in enumerate(panel.mappings.items())
                        }
                    )
                ]
            )
    else:
        builder = (
            timeseries.Panel()
            .fill_opacity(10 if panel.stack else 0)
            .legend(
                common_builders.VizLegendOptions()
                .show_legend(True)
                .display_mode(common.LegendDisplayMode.LIST)
                .placement(common.LegendPlacement.BOTTOM)
            )
            .tooltip(
                common_builders.VizTooltipOptions()
                .mode(common.TooltipDisplayMode.MULTI)
                .sort(common.SortOrder.DESCENDING)
            )
        )
        if panel.stack:
            builder.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    builder.id(panel_id).title(panel.title).description(panel.description).unit(panel.unit)
    builder.datasource(DATASOURCE).height(8).span(panel.width)
    for i, query in enumerate(panel.queries):
        builder.with_target(_target(query, chr(ord("A") + i)))
    return builder


def _variable(variable: Variable) -> dash.QueryVariable:
    return (
        dash.QueryVariable(variable.name)
        .label(variable.label)
        .datasource(DATASOURCE)
        .query(variable.query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def build(spec: Dashboard) -> dict[str, object]:
    """The dashboard's JSON model, as Grafana imports it."""
    builder = (
        dash.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["skiff"])
        .editable()
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    for variable in spec.variables:
        builder.with_variable(_variable(variable))
    ids = iter(range(1, 1000))
    for row in spec.rows:
        builder.with_row(dash.Row(row.title).id(next(ids)))
        for panel in row.panels:
            builder.with_panel(_panel(panel, next(ids)))
    model: dict[str, object] = json.loads(
        JSONEncoder(sort_keys=True, indent=2).encode(builder.build())
    )
    return model


def render(spec: Dashboard) -> str:
    """The dashboard's file content: its JSON, keys sorted, with a final newline."""
    return json.dumps(build(spec), indent=2, sort_keys=True) + "\n"


def files() -> dict[str, str]:
    """Every dashboard's file name and content."""
    return {f"{spec.uid.removeprefix('skiff-')}.json": render(spec) for spec in DASHBOARDS}


def main(argv: Sequence[str] = ()) -> int:
    """Rewrites deploy/grafana/dashboards/*.json (and removes files no dashboard makes)."""
    DASHBOARDS_DIR.mkdir(exist_ok=True)
    wanted = files()
    for stale in DASHBOARDS_DIR.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (DASHBOARDS_DIR / name).write_text(text)
        print(f"wrote {DASHBOARDS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
