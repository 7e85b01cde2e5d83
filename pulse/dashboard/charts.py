"""The dashboard's charts, built from the frames of `pulse.reads` (Altair, as Streamlit draws
it): every time axis in UTC, every line's series in the legend, tooltips on every mark."""

from __future__ import annotations

from typing import Any, TypeVar

import altair as alt
import pandas as pd

_HEIGHT = 260
_Chart = TypeVar("_Chart", bound=alt.TopLevelMixin)  # a chart, a layer of charts


def _legend() -> alt.Legend:
    """Below the chart, in two columns: at the side, the legend of eight topics ran past the
    chart's height and Streamlit cut it off ("sports.scores" half shown); in three columns it
    ran past the width of a half-page chart ("product.chang")."""
    return alt.Legend(orient="bottom", columns=2, labelLimit=220)


def _sized(chart: _Chart) -> _Chart:
    """`_HEIGHT` of plot, whatever the legend below takes: Streamlit fits the whole chart,
    legend and title included, into the height given, and a legend of seven topics left the
    lines a strip 25 px high (seen in the browser test's screenshot)."""
    return chart.properties(
        height=_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")
    )


def _time(field: str) -> alt.X:
    return alt.X(f"{field}:T", title=None, axis=alt.Axis(format="%H:%M:%S"))


def lines(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    series: str,
    title: str,
    y_title: str,
    dash: str | None = None,
) -> alt.Chart:
    """One line per value of `series` over time (and per `dash`, drawn dashed differently)."""
    encoding: dict[str, Any] = {
        "x": _time(x),
        # From 0, and at least to 1: an all-zero series (no lag: the healthy case) still gets
        # an axis to lie on.
        "y": alt.Y(
            f"{y}:Q",
            title=y_title,
            axis=alt.Axis(format="~s"),
            scale=alt.Scale(domain={"unionWith": [0, 1]}),
        ),
        "color": alt.Color(f"{series}:N", title=series, legend=_legend()),
        "tooltip": [f"{x}:T", f"{series}:N", alt.Tooltip(f"{y}:Q", format=",.1f")],
    }
    if dash:
        # Above the plot, in a row: below, beside the series' legend, it ran past the width.
        dashes = alt.Legend(orient="top", direction="horizontal")
        encoding["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=dash, legend=dashes)
        encoding["tooltip"].append(f"{dash}:N")
    # Points too: a series of one window (a job's first minutes) is a point, not nothing.
    return _sized(alt.Chart(frame, title=title).mark_line(point=True).encode(**encoding))


def with_limit(chart: alt.Chart, value: float, label: str) -> alt.LayerChart | alt.FacetChart:
    """`chart` with a dashed horizontal rule at `value` (the trigger interval, say); a facet
    chart if `chart` is faceted (Altair lifts the facets above the layer)."""
    limit = pd.DataFrame({"value": [value], "label": [label]})
    rule = (
        alt.Chart(limit)
        .mark_rule(color="firebrick", strokeDash=[6, 4])
        .encode(y="value:Q", tooltip=["label:N", "value:Q"])
    )
    inner = chart.copy()
    inner.autosize = alt.Undefined  # a layer takes the sizing of its parts only at its top
    return _sized(alt.layer(inner, rule, title=chart.title))


def bars(
    frame: pd.DataFrame, *, category: str, value: str, title: str, series: str | None = None
) -> alt.Chart:
    """Horizontal bars of `value` per `category`, largest first, stacked by `series`."""
    encoding: dict[str, Any] = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=420)),
        "x": alt.X(f"sum({value}):Q", title=value),
        "tooltip": [f"{category}:N", alt.Tooltip(f"sum({value}):Q", title=value)],
    }
    if series:
        encoding["color"] = alt.Color(f"{series}:N", title=series, legend=_legend())
        encoding["tooltip"].append(f"{series}:N")
    return alt.Chart(frame, title=title).mark_bar().encode(**encoding)


def stacked_areas(
    frame: pd.DataFrame, *, x: str, y: str, series: str, title: str, y_title: str
) -> alt.Chart:
    """Stacked areas of `y` per `series` over time: how a total splits."""
    return _sized(
        alt.Chart(frame, title=title)
        .mark_area()
        .encode(
            x=_time(x),
            y=alt.Y(f"{y}:Q", stack="zero", title=y_title),
            color=alt.Color(f"{series}:N", title=series, legend=_legend()),
            tooltip=[f"{x}:T", f"{series}:N", f"{y}:Q"],
        )
    )
