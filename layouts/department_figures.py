"""Figure builders of the department page: pure functions from query results to plotly figures."""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.sla import TIER_STYLE, Tier
from geodata.geojson import geojson_bbox
from layouts.figures import (
    FOOT_LEGEND,
    STACK_SEPARATOR,
    count_axis,
    empty_figure,
    plain_dates,
    plain_figure,
    plain_numbers,
)

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
#: The trend lines' colours: the shared series colours (each 3:1 or more on white) in another
#: order, so that the page's five lines (``TOP_TYPES``) are easy to tell apart. In the shared
#: order the first and fifth were both blues (#0072B2 and #1F8FD0, CIEDE2000 distance 11): the
#: busiest and the fifth-busiest type looked alike. The first five here are 28 or more apart
#: from each other and from the target line's green (CIEDE2000); each line also has its own
#: marker symbol, in both panels and in the legend.
TREND_COLOURS = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
    "#882255",  # wine
    "#B87D00",  # dark orange
    "#009E73",  # bluish green
    "#1F8FD0",  # dark sky blue
    "#5D3A9B",  # purple
    "#8C564B",  # brown
)
#: Marker symbols of the trend lines, one per line (plotly symbol names).
TREND_SYMBOLS = (
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "x",
    "cross",
    "triangle-down",
    "star",
    "pentagon",
    "hexagon",
)
#: Room at the top of every figure for plotly's tool bar (its icons are about 26 px high, in the
#: top right corner): a title or legend placed under it was hidden by the icons on a phone.
MODEBAR_ROOM = 36
#: The tool bar buttons the department figures leave out: selecting points means nothing here
#: (no callback reads a selection), and a shorter bar covers less of a phone-wide figure.
MODEBAR_REMOVE = ("select2d", "lasso2d")

#: The overdue bars' hatching, dark red lines on the red (plotly's default drew the red lines on
#: a transparent ground: the white counts stood on white).
OVERDUE_PATTERN = {"shape": "/", "fillmode": "overlay", "fgcolor": "#55160c", "solidity": 0.45}


def week_labels(frame: pd.DataFrame, *, short: bool = False) -> list[str]:
    """ "Week of 2011-11-28", and for a week the period cuts (``days`` under 7) "Week of
    2011-11-28 (partial: 4 of 7 days in the period)": its counts are of those days only.
    ``short`` (a table's cell): "2011-11-28", "2011-11-28 (partial: 4 days)"."""
    days = frame["days"] if "days" in frame else pd.Series(7, index=frame.index)
    prefix, partial = ("", "{n} days") if short else ("Week of ", "{n} of 7 days in the period")
    return [
        f"{prefix}{week:%Y-%m-%d}" + ("" if n >= 7 else f" (partial: {partial.format(n=n)})")
        for week, n in zip(pd.to_datetime(frame["week"]), days, strict=True)
    ]


@functools.cache
def _weekly_panels() -> dict[str, Any]:
    """The trend's two panels (axes, domains, titles) as ``make_subplots`` lays them out, without
    a template: worked out once per process."""
    layout = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Requests opened per week", "Compliance of cases due that week"),
    ).to_plotly_json()["layout"]
    layout.pop("template", None)
    return layout


def weekly_by_type(frame: pd.DataFrame, *, target: float) -> go.Figure | dict[str, Any]:
    """Two panels sharing the week axis: requests opened per week (top) and compliance of the
    cases due that week (bottom, with the target), one line per request type.

    A plain figure dict (:func:`~layouts.figures.plain_figure`): built with ``go.Figure`` and
    ``make_subplots`` it took 41 ms at 1M cases, most of it plotly's validation."""
    if frame.empty:
        return empty_figure("No requests of this department were opened or due in this period.")
    data: list[dict[str, Any]] = []
    # Each column read once, the rows of each type (in order of first appearance) sorted by
    # week in Python: a pandas groupby, sort and column reads per type cost 7 ms of the page.
    columns = {name: frame[name].tolist() for name in ("type", "week", "volume", "on_time", "due")}
    columns["compliance"] = (100 * frame["compliance"]).tolist()
    labels = week_labels(frame)
    stamps = pd.to_datetime(frame["week"]).tolist()
    rows_of: dict[Any, list[int]] = {}
    for row, name in enumerate(columns["type"]):
        rows_of.setdefault(name, []).append(row)
    for i, (name, rows) in enumerate(rows_of.items()):
        rows = sorted(rows, key=stamps.__getitem__)  # stable, as sort_values("week")
        colour = TREND_COLOURS[i % len(TREND_COLOURS)]
        marker = {"symbol": TREND_SYMBOLS[i % len(TREND_SYMBOLS)], "size": 7}
        weeks = plain_dates([columns["week"][r] for r in rows])
        weeks_text = [labels[r] for r in rows]
        line = {"color": colour, "width": 2}
        data.append(
            {
                "type": "scatter",
                "x": weeks,
                "y": plain_numbers([columns["volume"][r] for r in rows]),
                "name": str(name),
                "legendgroup": str(name),
                "mode": "lines+markers",
                "line": line,
                "marker": marker,
                "text": weeks_text,
                "hovertemplate": f"{name}<br>%{{text}}: %{{y:,}} opened<extra></extra>",
                "xaxis": "x",
                "yaxis": "y",
            }
        )
        data.append(
            {
                "type": "scatter",
                "x": weeks,
                "y": plain_numbers([columns["compliance"][r] for r in rows]),
                "name": str(name),
                "legendgroup": str(name),
                "showlegend": False,
                "mode": "lines+markers",
                "line": dict(line),
                "marker": dict(marker),
                "connectgaps": False,
                "customdata": [[columns["on_time"][r], columns["due"][r]] for r in rows],
                "text": weeks_text,
                "hovertemplate": f"{name}<br>%{{text}}: %{{y:.1f}}% "
                "(%{customdata[0]:,} of %{customdata[1]:,} on time)<extra></extra>",
                "xaxis": "x2",
                "yaxis": "y2",
            }
        )
    first, last = plain_dates([frame["week"].min(), frame["week"].max()])
    data.append(
        {
            "type": "scatter",
            "x": [first, last],
            "y": [100 * target, 100 * target],
            "name": f"Target {100 * target:.0f}%",
            "mode": "lines",
            "line": {"color": TIER_STYLE[Tier.ON_TARGET]["color"], "dash": "dash"},
            "hoverinfo": "skip",
            "xaxis": "x2",
            "yaxis": "y2",
        }
    )
    layout = copy.deepcopy(_weekly_panels())
    layout["yaxis"].update(title={"text": "Requests"}, **count_axis(frame["volume"].max()))
    layout["yaxis2"].update(title={"text": "On time (%)"}, range=[0, 105])
    layout["xaxis2"]["title"] = {"text": "Week starting (Monday)"}
    ticks = sorted(set(plain_dates(frame["week"])))
    if len(ticks) <= 16:
        for axis in ("xaxis", "xaxis2"):
            layout[axis].update(tickvals=ticks, tickformat="%d %b %Y")
    layout.update(
        # No fixed height: the graph's box sets it (taller on a phone, where the legend takes
        # one line per type; see dashboard/assets/department-grid.css).
        autosize=True,
        legend=dict(FOOT_LEGEND),  # one line per type on a phone, below the week axis
        margin={"l": 60, "r": 20, "t": MODEBAR_ROOM + 28, "b": 10},
        hovermode="closest",
    )
    return plain_figure(data, layout, template="plotly_white")


def aging_histogram(frame: pd.DataFrame, *, as_of_label: str) -> go.Figure | dict[str, Any]:
    """Stacked bars: open cases per age bucket, split overdue / not yet due (/ no due time).
    A plain figure dict (:func:`~layouts.figures.plain_figure`; with ``go.Figure``, 18 ms)."""
    total = int(frame["count"].sum()) if not frame.empty else 0
    if total == 0:
        return empty_figure(f"No open cases {as_of_label}.")
    bucket_of, state_of = frame["bucket"].tolist(), frame["state"].tolist()
    count_of = frame["count"].tolist()
    buckets = list(dict.fromkeys(bucket_of))
    # Each state's rows in order (a pandas groupby per call cost more than the figure).
    rows_of: dict[Any, list[int]] = {}
    for row, state in enumerate(state_of):
        if not pd.isna(state):  # as groupby, which leaves out a missing key
            rows_of.setdefault(state, []).append(row)
    tallest: dict[Any, Any] = {}
    for bucket, n in zip(bucket_of, count_of, strict=True):
        if not pd.isna(bucket):
            tallest[bucket] = tallest.get(bucket, 0) + n
    data: list[dict[str, Any]] = []
    for state, rows in rows_of.items():
        if state == "No due time" and sum(count_of[r] for r in rows) == 0:
            continue
        counts = plain_numbers([count_of[r] for r in rows])
        data.append(
            {
                "type": "bar",
                "x": [bucket_of[r] for r in rows],
                "y": counts,
                "name": str(state),
                "marker": {
                    "color": STATE_COLOURS.get(str(state), STATE_COLOURS["No due time"]),
                    "pattern": dict(OVERDUE_PATTERN) if state == "Overdue" else {"shape": ""},
                    "line": dict(STACK_SEPARATOR),
                },
                "text": [f"{v:,}" if v else "" for v in counts],
                "textposition": "inside",
                "textangle": 0,
                "insidetextfont": {"color": STATE_TEXT_COLOURS.get(str(state), "#ffffff")},
                "hovertemplate": f"{state}<br>%{{x}} old: %{{y:,}} cases<extra></extra>",
            }
        )
    layout = {
        "barmode": "stack",
        # A count too long for its bar is left out (it is in the hover and the table), not
        # shrunk to an unreadable size or turned on its side.
        "uniformtext": {"minsize": 11, "mode": "hide"},
        "xaxis": {
            "title": {"text": "Age (days since the request)"},
            "categoryorder": "array",
            "categoryarray": buckets,
        },
        "yaxis": {
            "title": {"text": "Open cases"},
            **count_axis(max(tallest.values())),
        },
        # Above the bars, under the tool bar (plotly makes room above the plot for the legend's
        # lines: on a phone the legend reached up into the tool bar's icons).
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        "margin": {"l": 60, "r": 20, "t": MODEBAR_ROOM + 30, "b": 50},
        "height": 380,
    }
    return plain_figure(data, layout, template="plotly_white")


def _extent(geojson: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of every feature's coordinates; None for none. The
    collection's own ``bbox`` when it has one (the area GeoJSON carries it), else walked."""
    box = geojson.get("bbox") or geojson_bbox(geojson.get("features", []))
    if not box or len(box) != 4:
        return None
    west, south, east, north = (float(v) for v in box)
    return west, south, east, north


def _fit_box(extent: tuple[float, float, float, float] | None) -> list[float] | None:
    """``extent`` widened by 7.5% each side (the margin :func:`_view` leaves), for the browser
    to fit the map to at its real width (``assets/map-fit.js``)."""
    if extent is None:
        return None
    west, south, east, north = extent
    dx, dy = (east - west) * 0.075, (north - south) * 0.075
    return [west - dx, south - dy, east + dx, north + dy]


def _view(
    extent: tuple[float, float, float, float] | None,
) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit ``extent`` (approximate Web Mercator fit for ~700x460 px)."""
    if extent is None:
        return {"lon": 0.0, "lat": 0.0}, 1.0
    west, south, east, north = extent
    centre = {"lon": (west + east) / 2, "lat": (south + north) / 2}
    lon_span = max(east - west, 1e-4) * 1.15
    lat_span = max(north - south, 1e-4) * 1.15
    width, height = 700, 460
    zoom_x = math.log2(360 * width / (512 * lon_span))
    zoom_y = math.log2(360 * height * math.cos(math.radians(centre["lat"])) / (512 * lat_span))
    return centre, max(0.0, min(zoom_x, zoom_y, 16.0))


#: Height added under the department map for its legend (title and tiers: two lines on a
#: desktop, up to five on a phone; plotly takes what it needs from the map's height).
MAP_LEGEND_ROOM = 90

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
) -> dict[str, Any] | go.Figure:
    """Map of the areas coloured by their tier (``frame["tier"]``, from the SLA policy as in the
    tables), in the tier colours: one trace per tier, named in the legend, with the tier in words
    and the compliance in the hover. Areas under the minimum count are "Not enough data" (grey),
    never coloured as 0% or 100%. No map tiles are needed (blank background). A plain figure
    dict (see :func:`~layouts.figures.plain_figure`: with ``go.Figure`` the department map's
    callback took about 31 ms at 1M cases, 19 ms without); the empty figure when there are no
    areas."""
    if not geojson.get("features"):
        return empty_figure(f"The boundary layer {layer!r} has no areas to draw.")
    extent = _extent(geojson)
    centre, zoom = _view(extent)
    data: list[dict[str, Any]] = []
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
        # Each trace carries only its own areas' shapes (the whole layer in every trace sent
        # the same 56 KB three times at 10M cases).
        mine = set(part["area"].astype(str))
        own = {
            "type": "FeatureCollection",
            "features": [
                f for f in geojson["features"] if str(f.get("properties", {}).get("name")) in mine
            ],
        }
        data.append(
            {
                "type": "choroplethmap",
                "geojson": own,
                "featureidkey": "properties.name",
                "locations": part["area"].tolist(),
                "z": [1] * len(part),
                "zmin": 0,
                "zmax": 1,
                "colorscale": [[0, colour], [1, colour]],
                "showscale": False,
                "showlegend": True,
                "marker": {"line": {"color": "white", "width": 1}, "opacity": 0.85},
                "name": tier_legend(
                    tier, target=target, margin=margin, min_count=min_count, areas=len(part)
                ),
                "legendgroup": str(tier),
                "customdata": [
                    [p, int(on), int(due)]
                    for p, on, due in zip(
                        pct, part["on_time"].tolist(), part["due"].tolist(), strict=True
                    )
                ],
                "hovertemplate": hover,
            }
        )
    layout = {
        "map": {"style": "white-bg", "center": centre, "zoom": zoom},
        # The box the browser fits the map to at its real width (assets/map-fit.js): the zoom
        # above is for a desktop-wide map and cut off the city's edges on a phone.
        "meta": {"fit": _fit_box(extent)},
        # A strip above the map for the tool bar: on a phone its icons covered the legend.
        "margin": {"l": 0, "r": 0, "t": MODEBAR_ROOM, "b": 0},
        "height": 480 + MODEBAR_ROOM + MAP_LEGEND_ROOM,
        "showlegend": True,
        # Below the map, never over it: drawn over the map's top left corner, the legend hid
        # the city's northern areas on a phone (four long lines across a 390 px map).
        "legend": {
            **FOOT_LEGEND,
            "title": {"text": "Tier (share of due cases on time)", "side": "top"},
            "traceorder": "normal",
        },
    }
    return plain_figure(data, layout)
