"""Figure builders of the department page: pure functions from query results to plotly figures."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.sla import TIER_STYLE, Tier
from layouts.figures import SERIES_COLOURS, STACK_SEPARATOR, count_axis, empty_figure

#: The bars' colours, each 3:1 or more on white (6.6:1, 6.7:1, 5.0:1); "No due time" was a light
#: grey #98a2b3 (2.6:1).
STATE_COLOURS = {
    "Overdue": TIER_STYLE[Tier.PROBLEM]["color"],
    "Not yet due": "#1d4ed8",
    "No due time": "#667085",
}
#: The counts written in the bars: white on each (6.6:1, 6.7:1, 5.0:1; near black stood on the
#: old light grey).
STATE_TEXT_COLOURS = {"Overdue": "#ffffff", "Not yet due": "#ffffff", "No due time": "#ffffff"}
#: The overdue bars' hatching, dark red lines on the red (plotly's default drew the red lines on
#: a transparent ground: the white counts stood on white).
OVERDUE_PATTERN = {"shape": "/", "fillmode": "overlay", "fgcolor": "#55160c", "solidity": 0.45}


def weekly_by_type(frame: pd.DataFrame, *, target: float) -> go.Figure:
    """Two panels sharing the week axis: requests opened per week (top) and compliance of the
    cases due that week (bottom, with the target), one line per request type."""
    if frame.empty:
        return empty_figure("No requests of this department were opened or due in this period.")
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Requests opened per week", "Compliance of cases due that week"),
    )
    for i, (name, part) in enumerate(frame.groupby("type", sort=False)):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        part = part.sort_values("week")
        fig.add_scatter(
            x=part["week"],
            y=part["volume"],
            name=str(name),
            legendgroup=str(name),
            mode="lines+markers",
            line={"color": colour, "width": 2},
            hovertemplate=f"{name}<br>Week of %{{x|%Y-%m-%d}}: %{{y:,}} opened<extra></extra>",
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=part["week"],
            y=100 * part["compliance"],
            name=str(name),
            legendgroup=str(name),
            showlegend=False,
            mode="lines+markers",
            line={"color": colour, "width": 2},
            marker={"symbol": i % 20},
            connectgaps=False,
            customdata=part[["on_time", "due"]].to_numpy(),
            hovertemplate=f"{name}<br>Week of %{{x|%Y-%m-%d}}: %{{y:.1f}}% "
            "(%{customdata[0]:,} of %{customdata[1]:,} on time)<extra></extra>",
            row=2,
            col=1,
        )
    weeks = frame["week"]
    fig.add_scatter(
        x=[weeks.min(), weeks.max()],
        y=[100 * target, 100 * target],
        name=f"Target {100 * target:.0f}%",
        mode="lines",
        line={"color": TIER_STYLE[Tier.ON_TARGET]["color"], "dash": "dash"},
        hoverinfo="skip",
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="Requests", **count_axis(frame["volume"].max()), row=1, col=1)
    fig.update_yaxes(title_text="On time (%)", range=[0, 105], row=2, col=1)
    fig.update_xaxes(title_text="Week starting (Monday)", row=2, col=1)
    ticks = sorted(weeks.unique())
    if len(ticks) <= 16:
        fig.update_xaxes(tickvals=ticks, tickformat="%d %b %Y")
    fig.update_layout(
        template="plotly_white",
        height=520,
        legend={"orientation": "h", "y": -0.18},
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        hovermode="closest",
    )
    return fig


def aging_histogram(frame: pd.DataFrame, *, as_of_label: str) -> go.Figure:
    """Stacked bars: open cases per age bucket, split overdue / not yet due (/ no due time)."""
    total = int(frame["count"].sum()) if not frame.empty else 0
    if total == 0:
        return empty_figure(f"No open cases {as_of_label}.")
    fig = go.Figure()
    buckets = list(dict.fromkeys(frame["bucket"]))
    for state, part in frame.groupby("state", sort=False):
        if state == "No due time" and part["count"].sum() == 0:
            continue
        fig.add_bar(
            x=part["bucket"],
            y=part["count"],
            name=str(state),
            marker={
                "color": STATE_COLOURS.get(str(state), STATE_COLOURS["No due time"]),
                "pattern": OVERDUE_PATTERN if state == "Overdue" else {"shape": ""},
                "line": STACK_SEPARATOR,
            },
            text=[f"{v:,}" if v else "" for v in part["count"]],
            textposition="inside",
            textangle=0,
            insidetextfont={"color": STATE_TEXT_COLOURS.get(str(state), "#ffffff")},
            hovertemplate=f"{state}<br>%{{x}} old: %{{y:,}} cases<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        template="plotly_white",
        # A count too long for its bar is left out (it is in the hover and the table), not
        # shrunk to an unreadable size or turned on its side.
        uniformtext={"minsize": 11, "mode": "hide"},
        xaxis={
            "title": {"text": "Age (days since the request)"},
            "categoryorder": "array",
            "categoryarray": buckets,
        },
        yaxis={
            "title": {"text": "Open cases"},
            **count_axis(frame.groupby("bucket")["count"].sum().max()),
        },
        legend={"orientation": "h", "y": 1.12},
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        height=360,
    )
    return fig


def _view(geojson: dict[str, Any]) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit every feature (approximate Web Mercator fit for ~700x460 px)."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, list | tuple) and value and isinstance(value[0], int | float):
            xs.append(float(value[0]))
            ys.append(float(value[1]))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    for feature in geojson.get("features", []):
        walk((feature.get("geometry") or {}).get("coordinates", []))
    if not xs:
        return {"lon": 0.0, "lat": 0.0}, 1.0
    west, east, south, north = min(xs), max(xs), min(ys), max(ys)
    centre = {"lon": (west + east) / 2, "lat": (south + north) / 2}
    lon_span = max(east - west, 1e-4) * 1.15
    lat_span = max(north - south, 1e-4) * 1.15
    width, height = 700, 460
    zoom_x = math.log2(360 * width / (512 * lon_span))
    zoom_y = math.log2(360 * height * math.cos(math.radians(centre["lat"])) / (512 * lat_span))
    return centre, max(0.0, min(zoom_x, zoom_y, 16.0))


#: The map's tiers, in legend order.
MAP_TIERS = (Tier.ON_TARGET, Tier.CLOSE, Tier.PROBLEM, Tier.NOT_ENOUGH)


def tier_legend(tier: Tier, *, target: float, margin: float, min_count: int, areas: int) -> str:
    """The legend entry of a tier on the map: its name, its bounds and how many areas."""
    goal, bottom = f"{100 * target:g}%", f"{100 * (target - margin):g}%"
    bounds = {
        Tier.ON_TARGET: f"{goal} or more",
        Tier.CLOSE: f"{bottom} to under {goal}",
        Tier.PROBLEM: f"under {bottom}",
        Tier.NOT_ENOUGH: f"under {min_count} due",
    }[tier]
    return f"{tier} ({bounds}): {areas} area{'' if areas == 1 else 's'}"


def compliance_map(
    frame: pd.DataFrame,
    geojson: dict[str, Any],
    *,
    layer: str,
    min_count: int,
    target: float = 0.9,
    margin: float = 0.1,
) -> go.Figure:
    """Map of the areas coloured by their tier (``frame["tier"]``, from the SLA policy as in the
    tables), in the tier colours: one trace per tier, named in the legend, with the tier in words
    and the compliance in the hover. Areas under the minimum count are "Not enough data" (grey),
    never coloured as 0% or 100%. No map tiles are needed (blank background)."""
    if not geojson.get("features"):
        return empty_figure(f"The boundary layer {layer!r} has no areas to draw.")
    centre, zoom = _view(geojson)
    fig = go.Figure()
    for tier in MAP_TIERS:
        part = frame[frame["tier"] == str(tier)]
        if part.empty:
            continue
        colour = TIER_STYLE[tier]["color"]
        judged = tier != Tier.NOT_ENOUGH
        pct = [
            "–" if pd.isna(c) or not judged else f"{100 * float(c):.1f}%"
            for c in part["compliance"]
        ]
        if judged:
            hover = (
                f"<b>%{{location}}</b><br>{tier}<br>%{{customdata[0]}} on time "
                "(%{customdata[1]:,} of %{customdata[2]:,} due)<extra></extra>"
            )
        else:
            hover = (
                f"<b>%{{location}}</b><br>{tier}<br>%{{customdata[2]:,}} due "
                f"(fewer than {min_count})<extra></extra>"
            )
        fig.add_choroplethmap(
            geojson=geojson,
            featureidkey="properties.name",
            locations=part["area"].tolist(),
            z=[1] * len(part),
            zmin=0,
            zmax=1,
            colorscale=[[0, colour], [1, colour]],
            showscale=False,
            showlegend=True,
            marker={"line": {"color": "white", "width": 1}, "opacity": 0.85},
            name=tier_legend(
                tier, target=target, margin=margin, min_count=min_count, areas=len(part)
            ),
            legendgroup=str(tier),
            customdata=[
                [p, int(on), int(due)]
                for p, on, due in zip(pct, part["on_time"], part["due"], strict=True)
            ],
            hovertemplate=hover,
        )
    fig.update_layout(
        map={"style": "white-bg", "center": centre, "zoom": zoom},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=480,
        showlegend=True,
        legend={
            "title": {"text": "Tier (share of due cases on time)"},
            "x": 0.01,
            "y": 0.99,
            "xanchor": "left",
            "yanchor": "top",
            "bgcolor": "rgba(255,255,255,0.85)",
        },
    )
    return fig
