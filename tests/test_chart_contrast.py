"""Non-text contrast of the charts (WCAG 2.1 SC 1.4.11): every mark that carries meaning (bars,
lines, markers, map cells and areas, and the flat colours of per-class colour scales) is 3:1 or
more against the background it is drawn on, or has an outline (1 px or more) that is; text
inside bars is 4.5:1 on its bar. Figures come from the real builders fed small frames built
here; colours are resolved as plotly.js draws them (the trace's own value, else the template's,
else the colorway; opacity blended onto the background). Contrast is computed here from the WCAG
definition, not imported from the code under test.

And the department page's live region: only what a new period changes is announced, never the
page's <h1>."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from dash import html

from dashboard.hotspots import BIN_LABELS
from dashboard.hotspots_emerging import CATEGORIES, NO_PATTERN
from dashboard.sla import SlaPolicy, Tier
from layouts import department
from layouts.department_figures import aging_histogram, compliance_map, weekly_by_type
from layouts.figures import OTHER, compliance_and_volume, requests_over_time
from layouts.hotspots import bin_legend_rows, density_figure, hotspot_map, legend
from layouts.overview import overview_figure
from layouts.public import count_map, points_map
from tests.support.components import walk

NON_TEXT = 3.0  # SC 1.4.11
TEXT = 4.5  # SC 1.4.3, normal-size text
PAGE = "#ffffff"  # the page behind every chart (Bootstrap's body background)

# -- WCAG relative luminance and contrast ratio --------------------------------------------------
NAMED = {"white": (255, 255, 255, 1.0), "black": (0, 0, 0, 1.0), "transparent": (0, 0, 0, 0.0)}


def rgba(colour: str) -> tuple[float, float, float, float]:
    """``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``, ``rgba(r, g, b, a)`` or a few names, as 0-255
    channels and an alpha."""
    text = colour.strip().lower()
    if text in NAMED:
        return NAMED[text]
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        assert len(digits) == 6, colour
        return (*(int(digits[i : i + 2], 16) for i in (0, 2, 4)), 1.0)
    found = re.fullmatch(r"rgba?\(([^)]*)\)", text)
    assert found, f"colour not understood: {colour!r}"
    parts = [float(p) for p in found.group(1).split(",")]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 1.0)


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1): sRGB channels linearised, weighted 0.2126/0.7152/0.0722."""
    r, g, b, _ = rgba(colour)

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def over(colour: str, ground: str, opacity: float = 1.0) -> str:
    """``colour`` at ``opacity`` (times its own alpha) drawn on the opaque ``ground``."""
    r, g, b, a = rgba(colour)
    gr, gg, gb, _ = rgba(ground)
    k = a * opacity
    return "#" + "".join(
        f"{round(k * c + (1 - k) * d):02x}" for c, d in ((r, gr), (g, gg), (b, gb))
    )


def alpha(colour: str) -> float:
    return rgba(colour)[3]


def test_the_contrast_function_gives_the_known_ratios() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#767676", "white") == pytest.approx(4.54, abs=0.01)  # the 4.5:1 grey
    assert contrast("#d0d5dd", "#ffffff") == pytest.approx(1.47, abs=0.01)  # the old volume bars
    assert over("#000000", "#ffffff", 0.5) == "#808080"
    assert over("rgba(0,0,0,0)", "#123456") == "#123456"


# -- plotly's defaults, resolved as plotly.js does ----------------------------------------------
#: plotly.js's own defaults where neither the trace nor the template sets a value.
CHOROPLETH_LINE = {"color": "#444", "width": 1}
MAPS = {"choroplethmap", "scattermap", "densitymap"}


def as_json(fig: Any) -> dict[str, Any]:
    """The figure as the browser receives it (a ``go.Figure`` or a plain figure dict)."""
    return json.loads(pio.to_json(fig, validate=False))


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


class Chart:
    """One built figure with its template resolved."""

    def __init__(self, name: str, fig: Any) -> None:
        self.name = name
        self.fig = as_json(fig)
        self.layout = self.fig.get("layout", {})
        self.template = self.layout.get("template") or {}
        self.data: list[dict[str, Any]] = self.fig.get("data", [])

    def setting(self, *path: str) -> Any:
        """A layout value, else the template's."""
        mine = dig(self.layout, *path)
        return mine if mine is not None else dig(self.template, "layout", *path)

    def default(self, trace: dict[str, Any], *path: str) -> Any:
        """A trace value, else the template's value for that trace type."""
        mine = dig(trace, *path)
        if mine is not None:
            return mine
        of_type = dig(self.template, "data", trace.get("type", "scatter")) or [{}]
        return dig(of_type[0], *path)

    def colorway(self, index: int) -> str:
        way = self.setting("colorway") or ["#1f77b4"]
        return way[index % len(way)]

    def grounds(self, trace: dict[str, Any]) -> list[str]:
        """What the trace is drawn on: the map (a tile-less white-bg map) or the plot area,
        and the paper around it (the legend) on the page."""
        if trace.get("type") in MAPS:
            subplot = trace.get("subplot", "map")
            style = dig(self.layout, subplot, "style")
            assert style == "white-bg", f"{self.name}: unknown basemap {style!r}"
            ground = "#ffffff"
        else:
            ground = self.setting("plot_bgcolor") or "#ffffff"
        paper = over(self.setting("paper_bgcolor") or "#ffffff", PAGE)
        return list(dict.fromkeys([over(ground, paper), paper]))

    def label(self, index: int, trace: dict[str, Any]) -> str:
        return f"{self.name}, trace {index} {trace.get('name')!r} ({trace.get('type')})"


def _colours(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


def _opacity(value: Any) -> float:
    return 1.0 if value is None else float(value)


def mark_failures(chart: Chart) -> list[str]:
    """Every mark of ``chart`` under 3:1 on its background (with no outline of 3:1), as
    "figure, trace, part: colour as drawn = ratio on background"."""
    failures: list[str] = []

    def check(where: str, fill: str | None, opacity: float, line: Any, grounds: list[str]) -> None:
        """A filled mark: its fill is 3:1, or its outline (1 px or more) is."""
        line = line or {}
        width = float(line.get("width") or 0)
        for ground in grounds:
            drawn = over(fill, ground, opacity) if fill and alpha(fill) > 0 else None
            if drawn and contrast(drawn, ground) >= NON_TEXT:
                continue
            edge = over(line["color"], ground, opacity) if width and line.get("color") else None
            if edge and width >= 1 and contrast(edge, ground) >= NON_TEXT:
                continue
            what = (
                f"fill {fill} drawn {drawn} = {contrast(drawn, ground):.2f}:1"
                if drawn
                else "no fill"
            )
            edge_text = (
                f"outline {line.get('color')} {width:g}px drawn {edge} = "
                f"{contrast(edge, ground):.2f}:1"
                if edge
                else "no outline"
            )
            failures.append(f"{where}: {what}, {edge_text}, on {ground} (needs {NON_TEXT}:1)")

    def stroke(where: str, colour: str, opacity: float, grounds: list[str]) -> None:
        """A line or a marker: itself 3:1."""
        for ground in grounds:
            drawn = over(colour, ground, opacity)
            ratio = contrast(drawn, ground)
            if ratio < NON_TEXT:
                failures.append(
                    f"{where}: {colour} drawn {drawn} = {ratio:.2f}:1 on {ground} "
                    f"(needs {NON_TEXT}:1)"
                )

    for i, trace in enumerate(chart.data):
        kind = trace.get("type", "scatter")
        where = chart.label(i, trace)
        grounds = chart.grounds(trace)
        opacity = _opacity(trace.get("opacity"))
        if kind == "bar":
            fills = _colours(dig(trace, "marker", "color")) or [chart.colorway(i)]
            line = chart.default(trace, "marker", "line")
            for fill in dict.fromkeys(fills):
                check(
                    where + " bar",
                    fill,
                    opacity * _opacity(dig(trace, "marker", "opacity")),
                    line,
                    grounds,
                )
        elif kind == "scatter":
            mode = trace.get("mode") or "lines+markers"
            colour = dig(trace, "line", "color") or chart.colorway(i)
            if "lines" in mode:
                stroke(where + " line", colour, opacity, grounds)
            if "markers" in mode:
                for marker in _colours(dig(trace, "marker", "color")) or [colour]:
                    marker_opacity = opacity * _opacity(dig(trace, "marker", "opacity"))
                    stroke(where + " marker", marker, marker_opacity, grounds)
        elif kind == "scattermap":
            for marker in _colours(dig(trace, "marker", "color")) or [chart.colorway(i)]:
                marker_opacity = opacity * _opacity(dig(trace, "marker", "opacity"))
                stroke(where + " marker", marker, marker_opacity, grounds)
        elif kind == "choroplethmap":
            # Each colour of the scale is a fill some cell may get: a flat per-class scale is
            # the class's colour; on a continuous scale the palest stops must be outlined.
            line = {**CHOROPLETH_LINE, **(dig(trace, "marker", "line") or {})}
            cell_opacity = opacity * _opacity(dig(trace, "marker", "opacity"))
            stops = trace.get("colorscale")
            assert isinstance(stops, list), f"{where}: colour scale not resolved: {stops!r}"
            for _, fill in stops:
                check(f"{where} cell", fill, cell_opacity, line, grounds)
        elif kind == "contour":
            # A continuous surface (the smoothed density), not a set of marks: its values are
            # read from its colour bar and the hover; its palest band is meant to fade out.
            assert trace.get("showscale") is not False, f"{where}: a density without a colour bar"
        else:
            failures.append(f"{where}: trace type not checked by this test")
    for subplot in ("map", "map2"):
        for j, layer in enumerate(dig(chart.layout, subplot, "layers") or []):
            if layer.get("type") == "line":
                stroke(
                    f"{chart.name}, {subplot} layer {j} (line)",
                    layer.get("color") or "#000000",
                    _opacity(layer.get("opacity")),
                    ["#ffffff"],
                )
    return list(dict.fromkeys(failures))  # a colour on several stops is said once


def separation_failures(chart: Chart) -> list[str]:
    """Pieces of stacked bars border each other: each piece is outlined, 1 px or more, in the
    plot's background (so it borders the background it is 3:1 against)."""
    if chart.setting("barmode") != "stack":
        return []
    bars = [(i, t) for i, t in enumerate(chart.data) if t.get("type") == "bar"]
    if len(bars) < 2:
        return []
    failures = []
    for i, trace in bars:
        ground = chart.grounds(trace)[0]
        line = chart.default(trace, "marker", "line") or {}
        colour, width = line.get("color"), float(line.get("width") or 0)
        if not colour or width < 1 or over(colour, ground) != over(ground, ground):
            failures.append(
                f"{chart.label(i, trace)}: stacked bar separated by {colour} {width:g}px, "
                f"not a 1 px line of the background {ground}"
            )
    return failures


def text_failures(chart: Chart) -> list[str]:
    """Numbers written inside bars: 4.5:1 on the bar."""
    failures = []
    for i, trace in enumerate(chart.data):
        if trace.get("type") != "bar" or not trace.get("text"):
            continue
        if trace.get("textposition") not in ("inside", "auto", None):
            continue
        text = dig(trace, "insidetextfont", "color") or dig(trace, "textfont", "color")
        fill = (_colours(dig(trace, "marker", "color")) or [chart.colorway(i)])[0]
        ratio = contrast(text or "#444", over(fill, chart.grounds(trace)[0]))
        if ratio < TEXT:
            failures.append(f"{chart.label(i, trace)}: text {text} on {fill} = {ratio:.2f}:1")
    return failures


# -- small frames built here ---------------------------------------------------------------------
def _weekly(n: int = 6) -> pd.DataFrame:
    weeks = pd.date_range("2011-08-01", periods=n, freq="7D")
    due = np.array([40, 0, 30, 25, 60, 10][:n] + [20] * max(0, n - 6))
    on_time = (due * 0.8).astype(int)
    frame = pd.DataFrame(
        {"week": weeks, "due": due, "on_time": on_time, "volume": np.arange(n) * 30 + 100}
    )
    frame["compliance"] = np.where(due > 0, on_time / np.clip(due, 1, None), np.nan)
    return frame


def _counts(departments: int) -> pd.DataFrame:
    months = [pd.Timestamp(m).date() for m in ("2011-07-01", "2011-08-01", "2011-09-01")]
    rows = [
        {"period": m, "department": f"D{d:02d}", "count": 100 - 5 * d + j}
        for d in range(departments)
        for j, m in enumerate(months)
    ]
    return pd.DataFrame(rows)


def _weekly_types(types: int) -> pd.DataFrame:
    frames = [_weekly(4).assign(type=f"Type {t}") for t in range(types)]
    return pd.concat(frames, ignore_index=True)


def _ages() -> pd.DataFrame:
    buckets = ["0–2 days", "3–7 days", "8–30 days"]
    states = ["Overdue", "Not yet due", "No due time"]
    return pd.DataFrame(
        [
            {"bucket": b, "state": s, "count": 10 + 7 * i + j}
            for i, b in enumerate(buckets)
            for j, s in enumerate(states)
        ]
    )


def _square(fid: str, x: float, *, key: str = "id") -> dict[str, Any]:
    ring = [[x, 42.3], [x + 0.01, 42.3], [x + 0.01, 42.31], [x, 42.31], [x, 42.3]]
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {"name": fid},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    if key == "id":
        feature["id"] = fid
    return feature


def _collection(ids: list[str], *, key: str = "id") -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [_square(f, i * 0.02, key=key) for i, f in enumerate(ids)],
    }


def _tier_areas() -> pd.DataFrame:
    policy = SlaPolicy()
    due = [456, 452, 300, 4]
    on_time = [420, 405, 210, 4]
    tiers = [str(policy.tier(compliance=o / d, due=d)) for o, d in zip(on_time, due, strict=True)]
    assert set(tiers) == {str(t) for t in Tier}  # every tier on the map
    return pd.DataFrame(
        {
            "area": ["Roxbury", "Jamaica Plain", "Mattapan", "West End"],
            "due": due,
            "on_time": on_time,
            "tier": tiers,
            "compliance": [o / d for o, d in zip(on_time, due, strict=True)],
        }
    )


def _cells(classes: list[Any], *, key: str) -> pd.DataFrame:
    n = len(classes)
    frame = pd.DataFrame(
        {
            "cell": [f"89{i:013x}" for i in range(n)],
            "count": [5 + i for i in range(n)],
            "open": [1] * n,
            "z": np.linspace(3, -3, n),
            "q": [0.01] * n,
            "bin": [0] * n,
            "label": ["x"] * n,
            "address": ["1 Main St"] * n,
            "area": ["Roxbury"] * n,
        }
    )
    frame[key] = classes
    if key == "bin":
        frame["label"] = [BIN_LABELS[b] if b else "Not significant" for b in classes]
    else:
        frame["hot_steps"] = [2] * n
        frame["cold_steps"] = [1] * n
    return frame


BOUNDS = (-71.2, 42.2, -70.9, 42.4)
OUTLINE = {"type": "Polygon", "coordinates": [[[-71.2, 42.2], [-70.9, 42.2], [-70.9, 42.4]]]}


def _hotspot_bins() -> dict[str, Any]:
    cells = _cells([3, 2, 1, 0, -1, -2, -3], key="bin")
    geometry = _collection(cells["cell"].tolist())
    return hotspot_map(
        cells, geometry, mode="count", outline=OUTLINE, bounds=BOUNDS, uirevision="t"
    )


def _hotspot_emerging() -> dict[str, Any]:
    cells = _cells(list(CATEGORIES), key="category")
    assert NO_PATTERN in CATEGORIES
    geometry = _collection(cells["cell"].tolist())
    return hotspot_map(
        cells, geometry, mode="emerging", outline=OUTLINE, bounds=BOUNDS, uirevision="t"
    )


def _density() -> Any:
    lon = np.linspace(-71.2, -70.9, 12)
    lat = np.linspace(42.2, 42.4, 10)
    density = np.outer(np.hanning(10), np.hanning(12)) * 500
    ring = [[-71.1, 42.3], [-71.0, 42.3], [-71.0, 42.35], [-71.1, 42.3]]
    return density_figure(
        lon,
        lat,
        density,
        outline=OUTLINE,
        hot_geometry={"type": "MultiLineString", "coordinates": [ring]},
        bandwidth_m=300,
    )


def _count_map() -> Any:
    names = ["Roxbury", "Fenway", "Mattapan"]
    frame = pd.DataFrame({"name": names, "requests": [1, 40, 400], "open": [0, 3, 30]})
    return count_map(frame, _collection(names), key="name")


def _points_map() -> Any:
    frame = pd.DataFrame(
        {
            "request_id": ["101", "102", "103"],
            "service_name": ["Street Light Outages"] * 3,
            "requested_local": ["2011-09-01 10:00", "2011-09-02 11:00", "2011-09-03 12:00"],
            "precision": ["exact", "cell", "exact"],
            "status": ["open", "closed", "closed"],
            "lat": [42.30, 42.31, 42.32],
            "lon": [-71.10, -71.05, -71.00],
        }
    )
    return points_map(frame, _collection(["Roxbury", "Fenway"]))


#: Every figure builder of the app, fed enough series/classes to use every colour it has.
FIGURES: dict[str, Callable[[], Any]] = {
    "compliance_and_volume (overview, public performance)": lambda: compliance_and_volume(
        _weekly(), target=0.9
    ),
    "overview_figure": lambda: overview_figure(_weekly(), target=0.9),
    "requests_over_time (12 departments)": lambda: requests_over_time(_counts(12), period="month"),
    "weekly_by_type (10 types)": lambda: weekly_by_type(_weekly_types(10), target=0.9),
    "aging_histogram": lambda: aging_histogram(_ages(), as_of_label="now"),
    "compliance_map (every tier)": lambda: compliance_map(
        _tier_areas(),
        _collection(["Roxbury", "Jamaica Plain", "Mattapan", "West End"], key="name"),
        layer="neighborhood",
        min_count=20,
    ),
    "hotspot_map (every confidence bin)": _hotspot_bins,
    "hotspot_map (every emerging category)": _hotspot_emerging,
    "density_figure": _density,
    "count_map (public)": _count_map,
    "points_map (public)": _points_map,
}


@pytest.fixture(scope="module")
def charts() -> dict[str, Chart]:
    return {name: Chart(name, build()) for name, build in FIGURES.items()}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_mark_is_3_to_1_on_its_background(charts, name: str) -> None:
    chart = charts[name]
    assert chart.data, f"{name}: no traces drawn (the frame built here is wrong)"
    failures = mark_failures(chart)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(FIGURES))
def test_stacked_bars_are_separated_by_the_background(charts, name: str) -> None:
    failures = separation_failures(charts[name])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(FIGURES))
def test_numbers_inside_bars_are_4_5_to_1_on_the_bar(charts, name: str) -> None:
    failures = text_failures(charts[name])
    assert not failures, "\n".join(failures)


def test_the_builders_use_every_colour_they_have(charts) -> None:
    """The frames above really reach every colour: ten series and the folded rest, every tier,
    every confidence bin and emerging category, all three ageing states."""
    from layouts.figures import SERIES_COLOURS

    by_time = charts["requests_over_time (12 departments)"].data
    # the folded series says how many departments it holds (12 - 10)
    assert len(by_time) == 11 and by_time[-1]["name"] == f"{OTHER} (2)"
    assert {t["marker"]["color"] for t in by_time[:10]} == set(SERIES_COLOURS)
    lines = charts["weekly_by_type (10 types)"].data
    assert {t["line"]["color"] for t in lines if t["name"].startswith("Type")} == set(
        SERIES_COLOURS
    )
    assert len(charts["compliance_map (every tier)"].data) == len(Tier)
    assert len(charts["hotspot_map (every confidence bin)"].data) == 7
    assert len(charts["hotspot_map (every emerging category)"].data) == len(CATEGORIES)
    assert len(charts["aging_histogram"].data) == 3


def test_the_compliance_line_and_target_stand_out_on_the_volume_bars(charts) -> None:
    """The lines are drawn over the light volume bars: 3:1 or more on the bars as well."""
    chart = charts["compliance_and_volume (overview, public performance)"]
    (bars,) = [t for t in chart.data if t["type"] == "bar"]
    fill = over(bars["marker"]["color"], "#ffffff")
    for trace in chart.data:
        if trace["type"] == "scatter":
            ratio = contrast(trace["line"]["color"], fill)
            assert ratio >= NON_TEXT, f"{trace['name']}: {trace['line']['color']} on {fill}"


def test_the_legend_swatches_show_the_outlines_of_the_pale_cells() -> None:
    """The hot-spot legend's swatch of a pale class has the dark edge its cells have on the map."""
    cells = _cells([3, 2, 1, 0, -1, -2, -3], key="bin")
    rows = bin_legend_rows(cells)
    table = legend(rows, title="Confidence")
    spans = [n for n in walk(table) if isinstance(n, html.Span)]
    assert len(spans) == len(rows)
    traces = {t["name"]: t for t in _hotspot_bins()["data"]}
    for row, span in zip(rows, spans, strict=True):
        trace = traces[row["label"]]
        assert span.style["backgroundColor"] == trace["colorscale"][0][1]
        edge = trace["marker"]["line"]["color"]
        if contrast(over(row["colour"], "#ffffff", trace["marker"]["opacity"]), "#fff") < 3:
            assert span.style.get("borderColor") == edge, row["label"]


# -- the department page's live region ------------------------------------------------------------
HEADING_VALUES = {
    "department": "Public Works",
    "period_label": "September 2011",
    "tier": str(Tier.PROBLEM),
    "compliance": 0.72,
    "target": 0.9,
    "on_time": 72,
    "due": 100,
    "min_count": 20,
    "change": -3.2,
    "volume": 130,
    "open_backlog": 40,
    "overdue_open": 12,
    "as_of_label": "at the end of 30 Sep 2011",
    "median_days": 2.5,
    "p90_days": 9.0,
}


def _props(node: Any) -> dict[str, Any]:
    return node.to_plotly_json()["props"]


def _is_live(node: Any) -> bool:
    props = _props(node)
    return props.get("aria-live") not in (None, "off") or props.get("role") in (
        "status",
        "alert",
        "log",
    )


def _with_ancestors(root: Any) -> Iterator[tuple[Any, list[Any]]]:
    """Each component of the tree with its ancestors (outermost first)."""
    stack: list[tuple[Any, list[Any]]] = [(root, [])]
    while stack:
        node, above = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend((child, above) for child in node)
            continue
        if not hasattr(node, "to_plotly_json"):
            continue
        yield node, above
        children = getattr(node, "children", None)
        if children is not None:
            stack.append((children, [*above, node]))


def _department_page_as_drawn() -> Any:
    """The page's layout with the heading the callback puts in it."""
    page = department.layout("PWDx", period="month", date="2011-09-01")
    (holder,) = [n for n in walk(page) if getattr(n, "id", None) == department.Ids.HEADING]
    holder.children = department.heading(HEADING_VALUES)
    return page, holder


def test_the_department_h1_is_not_in_a_live_region() -> None:
    """The page's <h1> was inside an aria-live region: every change of period re-announced the
    department's name with the rest. No heading sits in a live region now."""
    page, holder = _department_page_as_drawn()
    assert not _is_live(holder), _props(holder)
    headings = [(n, above) for n, above in _with_ancestors(page) if isinstance(n, html.H1)]
    assert len(headings) == 1
    (h1, above) = headings[0]
    assert "Public Works" in str(h1.children)
    live = [a for a in above if _is_live(a)]
    assert not live, f"the <h1> is inside the live region {_props(live[0])}"


def _pages_as_drawn() -> dict[str, Any]:
    from layouts import hotspots, overview, pack, public, requests

    return {
        "department": _department_page_as_drawn()[0],
        "overview": overview.layout(),
        "requests": requests.layout(),
        "hotspots": hotspots.layout(),
        "pack": pack.layout(),
        "public track": public.track_page(""),
        "public map": public.map_page(["Street Light Outages"], default_days=30),
    }


@pytest.mark.parametrize("name", list(_pages_as_drawn()))
def test_no_page_heading_is_inside_a_live_region(name: str) -> None:
    for node, above in _with_ancestors(_pages_as_drawn()[name]):
        if isinstance(node, html.H1):
            live = [_props(a) for a in above if _is_live(a)]
            assert not live, f"{name}: <h1> {node.children!r} inside {live[0]}"


def test_no_live_region_is_inside_what_the_callback_replaces() -> None:
    """Dash mounts the children a callback sets anew (a new element, see the browser test
    below), and a live region is announced when its content changes, not when it is created:
    a region inside the heading would never be read out. None is there."""
    heading = department.heading(HEADING_VALUES)
    live = [_props(n) for n in walk(heading) if _is_live(n)]
    assert not live, live
    text = json.dumps(heading.to_plotly_json(), default=str)
    for words in ("Public Works", "September 2011", str(Tier.PROBLEM), "down 3.2 points"):
        assert words in text, words  # the heading still shows all it showed


# -- in Chromium ------------------------------------------------------------------------------------
@pytest.mark.browser
def test_a_change_of_period_reads_out_no_heading(demo, reset_dash_registries) -> None:
    """After a change of period: no live region holds the <h1> (or anything in the heading),
    and the heading's content is a new element while its holder stays (why a live region must
    be a holder the page keeps, never part of what a callback sets)."""
    from playwright.sync_api import expect

    from dashboard.app_factory import create_app
    from tests.support.browser import chromium_browser, serve_wsgi
    from tests.support.signin import browser_sign_in, make_user

    settings, _ = demo
    password = make_user(settings, "live@team.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "live@team.test", password)
        page.goto(url + "/department/PWDx?period=month&date=2011-09-01")
        heading = page.locator("#department-heading")
        expect(heading).to_contain_text("September 2011", timeout=20_000)
        page.evaluate(
            "() => { window.holder = document.querySelector('#department-heading');"
            " window.content = window.holder.firstElementChild; }"
        )
        page.get_by_label("Quarter").check()
        expect(heading).to_contain_text("Q3 2011", timeout=20_000)
        kept = page.evaluate(
            "() => [window.holder.isConnected, window.content.isConnected,"
            " document.querySelector('#department-heading h1')"
            ".closest('[aria-live], [role=status], [role=alert], [role=log]') === null,"
            " document.querySelectorAll('#department-heading [aria-live]').length]"
        )
        assert kept == [True, False, True, 0]
        # The page's one live region is static and out of sight; it reads out the new period,
        # tier and score (and the department by name).
        announce = page.locator("#department-announce")
        expect(announce).to_contain_text("Public Works Department, Q3 2011: ", timeout=20_000)
        assert announce.get_attribute("aria-live") == "polite"
        assert announce.get_attribute("role") == "status"
        page.get_by_label("Month").check()
        expect(announce).to_contain_text("September 2011", timeout=20_000)
