"""The vocabulary of deploy/grafana/skiff_panels.py: a dashboard's rows, panels, queries and
template variables as plain data, and the PromQL helpers its queries share (rates over one
window, histogram quantiles, a counter completed with zeros). deploy/grafana/generate.py turns
that data into Grafana's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

RATE = "5m"  # the window of every rate(): 20 scrapes at Prometheus' 15 s


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and the legend of its series."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: a time series (default) or a stat, its queries, unit and width (of 24)."""

    title: str
    description: str
    queries: Sequence[Query]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    mappings: dict[str, tuple[str, str]] = field(default_factory=dict)  # value: (text, color)
    stack: bool = False


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Variable:
    """A template variable listing a label's values; "All" matches every value (.*)."""

    name: str
    label: str
    metric: str

    @property
    def query(self) -> str:
        return f"label_values({self.metric}, {self.name})"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    variables: Sequence[Variable]
    rows: Sequence[Row]


def rate(metric: str, selector: str = "") -> str:
    return f"rate({metric}{{{selector}}}[{RATE}])" if selector else f"rate({metric}[{RATE}])"


def p(quantile: float, bucket: str, by: str = "", selector: str = "") -> str:
    """The `quantile` of a histogram's `bucket` series over the rate window, per `by`."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({quantile}, sum by ({labels}) ({rate(bucket, selector)}))"


def or_zero(expr: str, by: str, reference: str) -> str:
    """`expr`, completed with 0 for each `by` value of `reference` that `expr` has no series
    for: a counter that appears only once something happened reads 0 until it does."""
    return f"{expr} or on({by}) (sum by ({by}) ({reference}) * 0)"
