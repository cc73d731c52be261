"""Figure builders: pure functions from query results (DataFrames) to plotly figures."""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
import plotly.graph_objects as go

MAX_SERIES = 10
OTHER = "All other departments"


@functools.cache
def _default_template() -> dict[str, Any]:
    """The template ``go.Figure`` puts in every figure it serialises (plotly's default)."""
    return go.Figure().to_plotly_json()["layout"]["template"]


def plain_figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """A figure as the plain dict ``dcc.Graph`` receives, with the template ``go.Figure`` would
    add (so it looks the same).

    For maps: ``go.Figure`` validates and deep-copies every trace, GeoJSON included, which took
    26 ms for 1,362 H3 cells (more than the query behind the map) and as long again to
    serialise. Traces and layout use plotly's attribute names; values are plain lists, and
    anything plotly's validation would rewrite (a named colour scale) is given already rewritten:
    plotly.js does not read every name as plotly.py does."""
    return {"data": data, "layout": {"template": _default_template(), **layout}}


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 15},
            }
        ],
        margin={"l": 20, "r": 20, "t": 20, "b": 20},
        template="plotly_white",
    )
    return fig


def top_series(frame: pd.DataFrame, *, column: str, limit: int = MAX_SERIES) -> pd.DataFrame:
    """Keep the ``limit`` largest series of ``column``; fold the rest into one "other" series."""
    totals = frame.groupby(column, dropna=False)["count"].sum().sort_values(ascending=False)
    keep = set(totals.index[:limit])
    if len(totals) <= limit:
        return frame
    folded = frame.copy()
    folded[column] = folded[column].where(folded[column].isin(keep), OTHER)
    return folded.groupby(["period", column], as_index=False, dropna=False)["count"].sum()


def requests_over_time(frame: pd.DataFrame, *, period: str, by: str = "department") -> go.Figure:
    """Stacked bars: requests per period, one colour per department (largest first)."""
    if frame.empty:
        return empty_figure("No requests match these filters.")
    data = top_series(frame, column=by)
    data = data.assign(**{by: data[by].fillna("(none)")})
    order = data.groupby(by)["count"].sum().sort_values(ascending=False).index.tolist()
    if OTHER in order:
        order.remove(OTHER)
        order.append(OTHER)
    fig = go.Figure()
    for name in order:
        part = data[data[by] == name].sort_values("period")
        fig.add_bar(
            x=part["period"],
            y=part["count"],
            name=str(name),
            hovertemplate=f"{name}<br>%{{x|%Y-%m-%d}}: %{{y:,}} requests<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        template="plotly_white",
        legend={"title": {"text": by.title()}},
        xaxis={"title": {"text": f"{period.title()} starting"}},
        yaxis={"title": {"text": "Requests"}},
        margin={"l": 60, "r": 20, "t": 20, "b": 60},
        hovermode="closest",
    )
    return fig


def compliance_and_volume(weekly: pd.DataFrame, *, target: float) -> go.Figure:
    """Weekly compliance (line, left axis, %) with the target line, and volume (bars, right)."""
    if weekly.empty:
        return empty_figure("No cases due or requested in this period.")
    fig = go.Figure()
    fig.add_bar(
        x=weekly["week"],
        y=weekly["volume"],
        name="Requests opened",
        marker_color="#d0d5dd",
        yaxis="y2",
        hovertemplate="Week of %{x|%Y-%m-%d}: %{y:,} requests<extra></extra>",
    )
    fig.add_scatter(
        x=weekly["week"],
        y=100 * weekly["compliance"],
        name="Compliance",
        mode="lines+markers",
        line={"color": "#1d4ed8", "width": 3},
        customdata=weekly[["on_time", "due"]].to_numpy(),
        hovertemplate="Week of %{x|%Y-%m-%d}: %{y:.1f}% "
        "(%{customdata[0]:,} of %{customdata[1]:,} on time)<extra></extra>",
    )
    fig.add_scatter(
        x=[weekly["week"].min(), weekly["week"].max()],
        y=[100 * target, 100 * target],
        name=f"Target {100 * target:.0f}%",
        mode="lines",
        line={"color": "#067647", "dash": "dash"},
        hoverinfo="skip",
    )
    fig.update_layout(
        template="plotly_white",
        yaxis={"title": {"text": "Compliance (%)"}, "range": [0, 105]},
        yaxis2={
            "title": {"text": "Requests opened"},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        },
        xaxis={"title": {"text": "Week (by due date for compliance, by opening for requests)"}},
        legend={"orientation": "h", "y": 1.12},
        margin={"l": 60, "r": 60, "t": 40, "b": 60},
    )
    return fig
