"""Figure builders: pure functions from query results (DataFrames) to plotly figures."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from dashboard.sla import TIER_STYLE, Tier

#: The target line: the On Target colour.
TARGET_COLOUR = TIER_STYLE[Tier.ON_TARGET]["color"]
#: Series colours, each 3:1 or more on white (WCAG 2.1 SC 1.4.11): Okabe–Ito (colour-blind safe)
#: with its orange and sky blue darkened (#E69F00 and #56B4E9 were 2.2:1 and 2.3:1), then three
#: dark extras for charts of up to ten series (plotly's default colours were down to 1.4:1).
#: In the order of the department page's trend lines (``TREND_COLOURS``): the first five 28 or
#: more apart (CIEDE2000); in Okabe–Ito's order the first and fifth were both blues (distance 11),
#: the Requests chart's busiest and fifth-busiest departments.
SERIES_COLOURS = (
    "#0072B2",  # blue 5.2:1
    "#D55E00",  # vermillion 3.9:1
    "#CC79A7",  # reddish purple 3.1:1
    "#000000",  # black 21:1
    "#882255",  # wine 8.7:1
    "#B87D00",  # dark orange 3.5:1
    "#009E73",  # bluish green 3.4:1
    "#1F8FD0",  # dark sky blue 3.6:1
    "#5D3A9B",  # purple 8.2:1
    "#8C564B",  # brown 5.9:1
)
#: Everything folded into "All other departments": a neutral grey (5.0:1).
OTHER_COLOUR = "#667085"
#: Between stacked bars: a 1 px line of the plot's white, so each piece of a bar borders white
#: (against which its colour is 3:1 or more), not a neighbour of similar lightness.
STACK_SEPARATOR = {"color": "#ffffff", "width": 1}
#: The volume bars behind the compliance line stay light (the line is 4.5:1 on them, the target
#: 3.9:1), outlined in grey 5.0:1 on white: the fill alone was 1.5:1.
VOLUME_FILL = "#d0d5dd"
VOLUME_OUTLINE = {"color": "#667085", "width": 1}
MAX_SERIES = 10
OTHER = "All other departments"
#: At most this many labelled ticks on a period axis (every n-th period beyond that).
MAX_PERIOD_TICKS = 12
#: At most this many labelled weeks under the weekly compliance chart: level on a phone.
WEEK_TICKS = 6
#: pandas frequencies of the periods' starts (weeks start on Monday, as DuckDB's date_trunc).
PERIOD_FREQ = {"day": "D", "week": "W-MON", "month": "MS", "quarter": "QS", "year": "YS"}
#: Up to this many counts, a counts axis ticks every 1 (plotly would tick 0.5, 0.2...).
SMALL_COUNTS = 10


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 case"``, ``"2 cases"``, ``"1,234 requests"`` (``nouns``: an irregular plural)."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def count_axis(largest: float | None) -> dict[str, Any]:
    """Axis settings for counts: from zero up, never negative, ticks on whole numbers only.

    Plotly picks its tick step from the range, so counts up to about 5 got ticks of 0.5 or
    0.2: up to :data:`SMALL_COUNTS` the step is fixed at 1; above it plotly's step is already a
    whole number (1, 2, 5, 10...)."""
    axis: dict[str, Any] = {"rangemode": "tozero", "tickformat": ",d", "minallowed": 0}
    top = 0.0 if largest is None or pd.isna(largest) else float(largest)
    if top <= SMALL_COUNTS:
        axis.update(tick0=0, dtick=1)
        if top < 1:
            axis["range"] = [0, 1]  # nothing counted: an axis of 0..1, not -1..1
    return axis


def period_label(start: Any, period: str) -> str:
    """How the period starting on ``start`` is named on an axis: month "Aug 2011", quarter
    "Q3 2011", year "2011", week and day the date ("5 Sep 2011")."""
    ts = pd.Timestamp(start)
    if period == "month":
        return f"{ts:%b %Y}"
    if period == "quarter":
        return f"Q{ts.quarter} {ts.year}"
    if period == "year":
        return f"{ts.year}"
    return f"{ts.day} {ts:%b %Y}"


def period_ticks(starts: Any, period: str, *, most: int = MAX_PERIOD_TICKS) -> dict[str, Any]:
    """X axis settings that tick on the periods' starts (every n-th when there are many),
    labelled for the period (see :func:`period_label`), instead of plotly's own date ticks
    (which fell between the bars: "Aug 31", "Sep 30" for months)."""
    given = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(starts))).drop_duplicates())
    if given.empty:
        return {}
    # Every period from the first to the last, also those without requests (no bar): a regular
    # axis, not one that jumps from Aug to Nov.
    every = pd.date_range(given.min(), given.max(), freq=PERIOD_FREQ.get(period, "D"))
    values = list(given.union(every).sort_values())
    step = max(1, math.ceil(len(values) / most))
    shown = values[::step]
    return {
        "tickmode": "array",
        "tickvals": [v.strftime("%Y-%m-%d") for v in shown],
        "ticktext": [period_label(v, period) for v in shown],
    }


@functools.cache
def _default_template() -> dict[str, Any]:
    """The template ``go.Figure`` puts in every figure it serialises (plotly's default)."""
    return go.Figure().to_plotly_json()["layout"]["template"]


@functools.cache
def _named_template(name: str) -> dict[str, Any]:
    """A registered plotly template as JSON, as ``update_layout(template=name)`` puts it in a
    figure (read once per process)."""
    return pio.templates[name].to_plotly_json()


def plain_figure(
    data: list[dict[str, Any]], layout: dict[str, Any], *, template: str | None = None
) -> dict[str, Any]:
    """A figure as the plain dict ``dcc.Graph`` receives, with the template ``go.Figure`` would
    add (plotly's default, or the registered ``template`` named), so it looks the same.

    For maps: ``go.Figure`` validates and deep-copies every trace, GeoJSON included, which took
    26 ms for 1,362 H3 cells (more than the query behind the map) and as long again to
    serialise. For charts: setting ``template="plotly_white"`` alone took 8 ms a figure, and
    the department page's two charts 59 ms in all at 1M cases. Traces and layout use plotly's
    attribute names; values are plain lists, and anything plotly's validation would rewrite (a
    named colour scale) is given already rewritten: plotly.js does not read every name as
    plotly.py does. ``go.Figure(figure)`` checks such a dict (tests do)."""
    chosen = _default_template() if template is None else _named_template(template)
    return {"data": data, "layout": {"template": chosen, **layout}}


def plain_dates(values: Any) -> list[str]:
    """Dates (or times) as texts plotly.js reads as dates: ``YYYY-MM-DD``, with the time of day
    when any has one (``YYYY-MM-DD HH:MM:SS``, the wall time of an aware time; NaN for a
    missing one).

    What ``Series.dt.strftime`` gives, written with numpy (``tests/test_figures.py`` compares
    the two): strftime cost 0.53 ms a call, this 0.14, and the department page's chart calls
    it twice per request type."""
    stamps = pd.to_datetime(pd.Series(list(values)))
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)  # the wall times strftime would print
    times = stamps.to_numpy()
    missing = np.isnat(times)
    days = times.astype("datetime64[D]")
    if not missing.any() and bool((days == times).all()):
        return np.datetime_as_string(days, unit="D").tolist()
    texts = np.datetime_as_string(times.astype("datetime64[s]"), unit="s").tolist()
    return [
        float("nan") if gap else text.replace("T", " ")
        for text, gap in zip(texts, missing.tolist(), strict=True)
    ]


def plain_numbers(values: Any) -> list[Any]:
    """Plain Python numbers, ``None`` (a gap) where there is none."""
    return [None if pd.isna(v) else v for v in pd.Series(list(values)).tolist()]


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


#: A horizontal legend at the foot of the figure (not of the plot), across its width: plotly
#: keeps its height free below the x axis, its ticks and its title, however many lines it
#: needs (a legend under the plot, anchored by its bottom, grew up over the axis title on a
#: phone; one at the side left a phone's plot a sliver).
FOOT_LEGEND: dict[str, Any] = {
    "orientation": "h",
    "xref": "container",
    "x": 0,
    "xanchor": "left",
    "yref": "container",
    "y": 0,
    "yanchor": "bottom",
}


def top_series(frame: pd.DataFrame, *, column: str, limit: int = MAX_SERIES) -> pd.DataFrame:
    """Keep the ``limit`` largest series of ``column``; fold the rest into one "other" series."""
    totals = frame.groupby(column, dropna=False)["count"].sum().sort_values(ascending=False)
    keep = set(totals.index[:limit])
    if len(totals) <= limit:
        return frame
    folded = frame.copy()
    folded[column] = folded[column].where(folded[column].isin(keep), OTHER)
    return folded.groupby(["period", column], as_index=False, dropna=False)["count"].sum()


def requests_over_time(
    frame: pd.DataFrame, *, period: str, by: str = "department"
) -> go.Figure | dict[str, Any]:
    """Stacked bars: requests per period, one colour per department (largest first). The x axis
    ticks on the periods' starts, named for the period; the counts axis on whole numbers.
    A plain figure dict (:func:`plain_figure`; with ``go.Figure``, 37 ms for 11 series)."""
    if frame.empty:
        return empty_figure("No requests match these filters.")
    data = top_series(frame, column=by)
    data = data.assign(**{by: data[by].fillna("(none)")})
    kept = set(data[by]) - {OTHER}
    folded = sorted(set(frame[by].fillna("(none)").astype(str)) - {str(k) for k in kept})
    order = data.groupby(by)["count"].sum().sort_values(ascending=False).index.tolist()
    if OTHER in order:
        order.remove(OTHER)
        order.append(OTHER)
    traces: list[dict[str, Any]] = []
    for i, name in enumerate(order):
        part = data[data[by] == name].sort_values("period")
        # The folded series says how many it holds (each is in the table under the chart), or
        # names the one it holds.
        label = str(name)
        if name == OTHER:
            label = folded[0] if len(folded) == 1 else f"{OTHER} ({len(folded):,})"
        traces.append(
            {
                "type": "bar",
                "x": plain_dates(part["period"]),
                "y": plain_numbers(part["count"]),
                "name": label,
                "marker": {
                    "color": OTHER_COLOUR
                    if name == OTHER
                    else SERIES_COLOURS[i % len(SERIES_COLOURS)],
                    "line": dict(STACK_SEPARATOR),
                },
                "customdata": [period_label(p, period) for p in part["period"]],
                "hovertemplate": f"{label}<br>%{{customdata}}: %{{y:,}} requests<extra></extra>",
            }
        )
    largest = data.groupby("period")["count"].sum().max()
    layout = dict(
        barmode="stack",
        # No fixed height: the graph's box sets it (taller on a phone; stat311.css). The legend
        # at the foot of the figure, across its width: at the side, eleven long department
        # names left a 390 px phone's plot 64 px wide.
        autosize=True,
        legend={
            **FOOT_LEGEND,
            "title": {"text": by.title(), "side": "top"},
            "traceorder": "normal",  # the largest first (plotly reverses a stack's legend)
        },
        xaxis={
            "title": {"text": f"{period.title()} starting"},
            **period_ticks(data["period"], period),
        },
        yaxis={"title": {"text": "Requests"}, **count_axis(largest)},
        margin={"l": 60, "r": 20, "t": 20, "b": 60},
        hovermode="closest",
    )
    return plain_figure(traces, layout, template="plotly_white")


def _weeks(weekly: pd.DataFrame) -> pd.DataFrame:
    """Every week from the first to the last, those missing from ``weekly`` with nothing due
    and nothing opened (so the line has a gap there instead of joining its neighbours)."""
    frame = weekly.assign(week=pd.to_datetime(weekly["week"])).sort_values("week")
    first, last = frame["week"].min(), frame["week"].max()
    every = pd.date_range(first, last, freq="7D")
    if len(every) == len(frame) and (every == pd.DatetimeIndex(frame["week"])).all():
        return frame.reset_index(drop=True)
    full = frame.set_index("week").reindex(every.union(pd.DatetimeIndex(frame["week"])))
    for name in ("due", "on_time", "volume"):
        full[name] = full[name].fillna(0).astype("int64")
    return full.rename_axis("week").reset_index()


def _week_notes(weeks: pd.DataFrame) -> list[str]:
    """What a week's hover adds to its date: "partial: to 30 Sep" for a week the period ends in
    (``through`` before its Sunday), "14 due: too few to judge" for a week with cases due but no
    compliance (under the SLA policy's minimum count)."""
    through = weeks["through"] if "through" in weeks.columns else [None] * len(weeks)
    notes = []
    for week, last, due, compliance in zip(
        weeks["week"], through, weeks["due"], weeks["compliance"], strict=True
    ):
        parts = []
        if last is not None and not pd.isna(last) and (pd.Timestamp(last) - week).days < 6:
            parts.append(f"partial: to {pd.Timestamp(last).day} {pd.Timestamp(last):%b}")
        if due > 0 and pd.isna(compliance):
            parts.append(f"{due:,} due: too few to judge")
        notes.append(f" ({'; '.join(parts)})" if parts else "")
    return notes


def _week_ticks(mondays: pd.Series) -> dict[str, Any]:
    """Ticks on the weeks' Mondays (plotly's own date ticks fell on Sundays: "Jul 3" for the
    week of 4 July), short enough to stay level on a phone: "4 Jul", the year under the first
    tick and under the first tick of a new year."""
    ticks = period_ticks(mondays, "week", most=WEEK_TICKS)
    if not ticks:
        return ticks
    text, year = [], None
    for value in ticks["tickvals"]:
        day = pd.Timestamp(value)
        text.append(f"{day.day} {day:%b}" + (f"<br>{day.year}" if day.year != year else ""))
        year = day.year
    return {**ticks, "ticktext": text}


def compliance_and_volume(weekly: pd.DataFrame, *, target: float) -> go.Figure | dict[str, Any]:
    """Weekly compliance (line, left axis, %) with the target line, and volume (bars, right).

    The bars are on the base axis (``y``, drawn on the right) and the lines on the axis that
    overlays it (``y2``, on the left): plotly draws an overlaying axis's traces above the base
    axis's, so the bars never hide the line. Weeks with no compliance (no due cases, or fewer
    than the minimum count when the caller blanked them) are gaps in the line (``None``), never
    0%; their hover says why, as does a partial week's (an optional ``through`` column: the last
    day the week counts).

    Readable on a phone (390 px): the x axis title is short (what each series counts by is in
    the y axis titles), and the legend sits under the plot, clear of the axes' titles and of
    plotly's toolbar in the top right corner."""
    if weekly.empty:
        return empty_figure("No cases due or requested in this period.")
    weeks = _weeks(weekly)
    due = weeks["due"].to_numpy()
    compliance = [
        None if d <= 0 or pd.isna(c) else round(100 * float(c), 6)
        for c, d in zip(weeks["compliance"], due, strict=True)
    ]
    notes = _week_notes(weeks)
    days = plain_dates(weeks["week"])
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": days,
            "y": plain_numbers(weeks["volume"]),
            "name": "Requests opened",
            "marker": {"color": VOLUME_FILL, "line": dict(VOLUME_OUTLINE)},
            "yaxis": "y",
            "customdata": notes,
            "hovertemplate": "Week of %{x|%Y-%m-%d}%{customdata}: %{y:,} requests opened"
            "<extra></extra>",
        },
        {
            "type": "scatter",
            "x": days,
            "y": compliance,
            "name": "Compliance",
            "mode": "lines+markers",
            "line": {"color": "#1d4ed8", "width": 3},
            "connectgaps": False,
            "yaxis": "y2",
            "customdata": [
                [int(o), int(d), n] for o, d, n in zip(weeks["on_time"], due, notes, strict=True)
            ],
            "hovertemplate": "Week of %{x|%Y-%m-%d}%{customdata[2]}: %{y:.1f}% "
            "(%{customdata[0]:,} of %{customdata[1]:,} due on time)<extra></extra>",
        },
        {
            "type": "scatter",
            "x": plain_dates([weeks["week"].min(), weeks["week"].max()]),
            "y": [100 * target, 100 * target],
            "name": f"Target {100 * target:.0f}%",
            "mode": "lines",
            "line": {"color": TARGET_COLOUR, "dash": "dash"},
            "yaxis": "y2",
            "hoverinfo": "skip",
        },
    ]
    layout = dict(
        yaxis={
            "title": {"text": "Requests opened that week"},
            "side": "right",
            "showgrid": False,
            **count_axis(weeks["volume"].max()),
        },
        yaxis2={
            "title": {"text": "Compliance (%), cases due that week"},
            "overlaying": "y",
            "side": "left",
            "range": [0, 105],
            # Its own ticks: an overlaying axis otherwise follows the base axis's gridlines
            # (0, 15.9, 31.7...).
            "tickmode": "array",
            "tickvals": [0, 20, 40, 60, 80, 100],
            "showgrid": True,
        },
        xaxis={"title": {"text": "Week starting"}, **_week_ticks(weeks["week"])},
        # Under the plot, across the figure's width (it wraps on a phone): the figure's margin
        # grows to hold it.
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 0,
            "yanchor": "bottom",
            "yref": "container",
        },
        margin={"l": 60, "r": 60, "t": 20, "b": 60},
    )
    return plain_figure(traces, layout, template="plotly_white")
