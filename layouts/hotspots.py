"""Hot-spot page (``/hotspots``), for planners: where one request type clusters significantly,
how that changes over time, and the list of cells to act on.

Layout and figure builders only (no data access): the numbers come from ``callbacks/hotspots.py``
through :mod:`dashboard.hotspots`. The view lives in the URL (type, department, from, to, res,
mode, step, view).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboard.hotspots import (
    BIN_LABELS,
    CELL_AREA_KM2,
    MEASURES,
    MODE_LABELS,
    THIN_CASES_PER_CELL,
    HotspotParams,
)
from dashboard.hotspots_emerging import CATEGORIES, CATEGORY_DESCRIPTIONS, NO_PATTERN
from layouts.components import download_status, labelled, requested_between
from layouts.tables import Cell, static_table

PAGE = {"path": "/hotspots", "name": "Hot spots", "title": "Hot spots · stat311"}

#: Diverging palette (ColorBrewer RdBu): hot reds, cold blues; grey = requests, not significant.
BIN_COLOURS: dict[int, str] = {
    3: "#b2182b",
    2: "#d6604d",
    1: "#f4a582",
    0: "#d0d5dd",
    -1: "#92c5de",
    -2: "#4393c3",
    -3: "#2166ac",
}
CATEGORY_COLOURS: dict[str, str] = {
    "New hot spot": "#e7298a",
    "Intensifying hot spot": "#67001f",
    "Consecutive hot spot": "#f46d43",
    "Persistent hot spot": "#b2182b",
    "Sporadic hot spot": "#fdae61",
    "Oscillating hot spot": "#fee08b",
    "Diminishing hot spot": "#d6604d",
    "Historical hot spot": "#8c510a",
    "New cold spot": "#1b9e77",
    "Intensifying cold spot": "#053061",
    "Consecutive cold spot": "#74add1",
    "Persistent cold spot": "#2166ac",
    "Sporadic cold spot": "#abd9e9",
    "Oscillating cold spot": "#c7eae5",
    "Diminishing cold spot": "#4393c3",
    "Historical cold spot": "#35978f",
    NO_PATTERN: "#d0d5dd",
}
#: The cells' outlines. Cells are drawn at 85% opacity (the "not significant" / "no pattern" ones
#: at 55%) on the white map; the outline is drawn at the same opacity. A cell whose fill is 3:1
#: or more on white once blended keeps a thin white line between neighbours; the pale classes
#: keep their light fill (the lightness is the scale: 90% is paler than 99%) and are outlined,
#: 1 px, in the dark colour of their side, so every cell's edge is 3:1 or more on the white map
#: (WCAG 2.1 SC 1.4.11): hot in dark red (5.4:1 blended), cold in dark blue (4.3:1), neither in
#: near black (4.0:1 at 55%).
SEPARATOR = {"width": 0.6, "color": "#ffffff"}
HOT_OUTLINE = {"width": 1, "color": "#b2182b"}
COLD_OUTLINE = {"width": 1, "color": "#2166ac"}
NEUTRAL_OUTLINE = {"width": 1, "color": "#101828"}
BIN_OUTLINES: dict[int, dict[str, Any]] = {
    3: SEPARATOR,
    2: SEPARATOR,
    1: HOT_OUTLINE,
    0: NEUTRAL_OUTLINE,
    -1: COLD_OUTLINE,
    -2: COLD_OUTLINE,
    -3: SEPARATOR,
}
CATEGORY_OUTLINES: dict[str, dict[str, Any]] = {
    "New hot spot": SEPARATOR,
    "Intensifying hot spot": SEPARATOR,
    "Consecutive hot spot": HOT_OUTLINE,
    "Persistent hot spot": SEPARATOR,
    "Sporadic hot spot": HOT_OUTLINE,
    "Oscillating hot spot": HOT_OUTLINE,
    "Diminishing hot spot": SEPARATOR,
    "Historical hot spot": SEPARATOR,
    "New cold spot": COLD_OUTLINE,
    "Intensifying cold spot": SEPARATOR,
    "Consecutive cold spot": COLD_OUTLINE,
    "Persistent cold spot": SEPARATOR,
    "Sporadic cold spot": COLD_OUTLINE,
    "Oscillating cold spot": COLD_OUTLINE,
    "Diminishing cold spot": COLD_OUTLINE,
    "Historical cold spot": COLD_OUTLINE,
    NO_PATTERN: NEUTRAL_OUTLINE,
}
TABLE_ROWS = 50
MAP_HEIGHT = 600

METHOD = [
    html.P(
        [
            html.Strong("What a hot spot is. "),
            "The city is covered with equal hexagons (H3 cells). For each cell we compare the "
            "requests in it and in the cells around it (its neighbourhood) with the citywide "
            "average. A hot spot is a cell whose neighbourhood has more requests than chance would "
            "plausibly give; a cold spot has fewer. \u201cHot spot, 99% confidence\u201d means "
            "that result would happen by chance less than 1 time in 100, after allowing for the "
            "many cells tested at once (false-discovery-rate correction).",
        ]
    ),
    html.P(
        [
            html.Strong("How it is computed. "),
            "Getis-Ord Gi* (the cell counted in its own neighbourhood) on log(1 + requests) of "
            "every cell covering the city's boundary, empty cells included. The neighbourhood "
            "is the cell and the k rings of cells around it, with k where spatial clustering "
            "(global Moran's I) first peaks, otherwise 2. z-scores are analytic; p-values are "
            "two-sided; q-values apply the Benjamini\u2013Hochberg correction; bins are \u00b13 / "
            "\u00b12 / \u00b11 at q below 0.01 / 0.05 / 0.10. Only requests with an exact location "
            "are mapped.",
        ]
    ),
    html.P(
        [
            html.Strong("Late requests"),
            " counts requests closed after their due time or still open past it; ",
            html.Strong("share of requests late"),
            " divides them by the requests whose due time has passed, pulling small cells "
            "towards the citywide share (empirical Bayes) so a cell with 1 late of 1 does not "
            "look like a crisis. ",
            html.Strong("Emerging hot spots"),
            " repeat the test for every week (or month) with last week's neighbours included, "
            "then sort each cell into a pattern (new, intensifying, persistent, ...).",
        ]
    ),
    html.P(
        [
            html.Strong("Smoothed density"),
            " is a picture of where requests are dense (a Gaussian kernel over a fine grid). It "
            "is not a test: use it to see the shape of demand, and the hot-spot map to decide "
            "where to act. The full method is in docs/HOTSPOTS.md.",
        ]
    ),
]


class Ids(StrEnum):
    """Component ids of the hot-spot page (declared once)."""

    URL = "hotspots-url"
    STATE = "hotspots-state"
    TYPE = "hotspots-type"
    DEPARTMENT = "hotspots-department"
    DEPARTMENT_SCOPE = "hotspots-department-scope"
    DATES_START = "hotspots-dates-start"
    DATES_END = "hotspots-dates-end"
    RESOLUTION = "hotspots-resolution"
    MODE = "hotspots-mode"
    STEP = "hotspots-step"
    STEP_BOX = "hotspots-step-box"
    VIEW = "hotspots-view"
    NOTICE = "hotspots-notice"
    LINK_NOTICE = "hotspots-link-notice"
    METHOD = "hotspots-method"
    SUMMARY = "hotspots-summary"
    MAP = "hotspots-map"
    LEGEND = "hotspots-legend"
    TABLE = "hotspots-table"
    TABLE_NOTE = "hotspots-table-note"
    CSV = "hotspots-csv"
    GEOJSON = "hotspots-geojson"
    DOWNLOAD = "hotspots-download"
    DOWNLOAD_BUSY = "hotspots-download-busy"


#: Short labels, so that the chosen one is read whole in the box (at 1400 px the longer ones were
#: cut: "Automatic (res. 9; …"); the detail is in each option's tooltip, in the hint under the
#: box and in the method line above the map (the resolution used and why).
RESOLUTION_OPTIONS = [
    {
        "label": "Automatic",
        "value": "auto",
        "title": f"H3 resolution 9 (about {CELL_AREA_KM2[9]:g} km²), or 8 (about "
        f"{CELL_AREA_KM2[8]:g} km²) when there are fewer than {THIN_CASES_PER_CELL:g} requests "
        "per hexagon",
    },
    *(
        {
            "label": f"{CELL_AREA_KM2[r]:g} km² (res. {r})",
            "value": str(r),
            "title": f"H3 resolution {r}: hexagons of about {CELL_AREA_KM2[r]:g} km²",
        }
        for r in (7, 8, 9, 10)
    ),
]
RESOLUTION_HINT = "Automatic: res. 9, or 8 when requests are thin."
#: The Department box's first option (value "": no department chosen) for someone who may see
#: every department; a department user's says which departments that is
#: (:func:`department_placeholder`).
ALL_DEPARTMENTS = "All"
#: The Request type box before the page's first callback chose a type (or with no data loaded).
TYPE_PLACEHOLDER = "Choose a request type"
MODE_OPTIONS = [{"label": v, "value": k} for k, v in MODE_LABELS.items()]
STEP_OPTIONS = [
    {"label": "Automatic", "value": "auto"},
    {"label": "Weeks", "value": "week"},
    {"label": "Months", "value": "month"},
]
VIEW_OPTIONS = [
    {"label": "Hot-spot map", "value": "map"},
    {"label": "Smoothed density", "value": "density"},
]


def _control(
    label: str,
    component: Any,
    *,
    lg: int,
    md: int = 6,
    box_id: str | None = None,
    hint: Any = None,
):
    children = labelled(label, component)
    if hint is not None:
        children.append(hint)
    extra = {"id": box_id} if box_id else {}
    return dbc.Col(children, xs=12, md=md, lg=lg, className="mb-2", **extra)


def department_placeholder(scope: Sequence[str] | None) -> str:
    """What the Department box says when no department is chosen: "All" for someone who may
    see every department; for a department user, the departments "all" means there ("All my
    departments (PWDx)"), since the counts are theirs alone."""
    if scope is None:
        return ALL_DEPARTMENTS
    if not scope:
        return "No department"
    return f"All my departments ({', '.join(scope)})"


def department_choices(
    placeholder: str, options: Sequence[Mapping[str, str]]
) -> list[dict[str, str]]:
    """The Department select's options: first "" (no department chosen: every department the
    user may see), named ``placeholder`` (:func:`department_placeholder`), then ``options``
    (the departments the user may see). The select's placeholder is given the same words:
    dash-bootstrap-components draws it as a hidden option "" before these, and a browser shows
    that one for the value "" (the first option of that value)."""
    return [{"label": placeholder, "value": ""}, *({**o} for o in options)]


def department_scope_note(scope: Sequence[str] | None, names: Any = None) -> str:
    """Under the Department box, for a department user: the departments' names ("Counts of
    Public Works Department (PWDx) only: ..."); nothing for someone who may see every one.
    ``names``: a :class:`dashboard.departments.DepartmentNames` (default: codes only)."""
    if not scope:
        return ""
    labels = [names.label(code) if names is not None else code for code in scope]
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"Counts of {listed} only: the departments your account may see."


def controls() -> dbc.Row:
    # Two rows on a desktop (four boxes of 3/12, then the hexagon size, the time step and the
    # view) so that every box shows its value whole; one box a row on a phone.
    return dbc.Row(
        [
            # Every box with one choice is a native select (as on the public map): Dash's
            # dropdown keeps a focusable box hidden from screen readers (axe-core:
            # aria-hidden-focus). Their values are the URL's, as text. The request type is
            # always one of the data's (the page's first callback fills the list and chooses);
            # the department's first option, value "", is every department the user may see.
            _control(
                "Request type",
                dbc.Select(id=Ids.TYPE, options=[], value=None, placeholder=TYPE_PLACEHOLDER),
                lg=3,
            ),
            _control(
                "Department",
                dbc.Select(
                    id=Ids.DEPARTMENT,
                    options=department_choices(ALL_DEPARTMENTS, []),
                    value="",
                    placeholder=ALL_DEPARTMENTS,
                ),
                lg=3,
                hint=html.Div(id=Ids.DEPARTMENT_SCOPE, className="form-text mt-1"),
            ),
            requested_between(start_id=Ids.DATES_START, end_id=Ids.DATES_END),
            # Measure, hexagon size and time step: short fixed lists, one always chosen; their
            # values are the URL's (mode, res, step), as text; "auto" is the automatic choice.
            _control(
                "Measure",
                dbc.Select(id=Ids.MODE, options=MODE_OPTIONS, value="count"),
                lg=3,
            ),
            _control(
                "Hexagon size",
                dbc.Select(id=Ids.RESOLUTION, options=RESOLUTION_OPTIONS, value="auto"),
                lg=3,
                hint=html.Div(RESOLUTION_HINT, className="form-text mt-1"),
            ),
            _control(
                "Time step",
                dbc.Select(id=Ids.STEP, options=STEP_OPTIONS, value="auto"),
                lg=3,
                box_id=Ids.STEP_BOX,
            ),
            dbc.Col(
                labelled(
                    "View",
                    dbc.RadioItems(id=Ids.VIEW, options=VIEW_OPTIONS, value="map", inline=True),
                    role="radiogroup",
                ),
                xs=12,
                md=6,
                lg=4,
                className="mb-2",
            ),
        ],
        className="g-2",
    )


def layout(**query: Any) -> html.Div:
    """The page. ``query`` is the URL's query string as Dash Pages passes it."""
    params = HotspotParams.from_query(query)
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False),
            dcc.Store(id=Ids.STATE, data=params.to_query()),
            dcc.Download(id=Ids.DOWNLOAD),
            html.H1("Hot spots", className="h3"),
            html.P(
                "Where requests of one type cluster more than chance would explain, and where "
                "they are rarer than expected. Each hexagon is coloured by how sure we are "
                "(99%, 95% or 90% confidence); grey hexagons have requests but no significant "
                "clustering. The link in the address bar keeps this view.",
                className="text-muted small",
            ),
            controls(),
            # What of the link could not be applied (set once, from the link the page opened).
            html.Div(id=Ids.LINK_NOTICE),
            html.Div(id=Ids.NOTICE),
            html.Div(id=Ids.METHOD, className="small my-2"),
            html.Div(id=Ids.SUMMARY, className="my-2", role="status", **{"aria-live": "polite"}),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Loading(
                            dcc.Graph(
                                id=Ids.MAP,
                                config={"displaylogo": False, "scrollZoom": True},
                                style={"height": f"{MAP_HEIGHT}px"},
                            )
                        ),
                        xs=12,
                        lg=9,
                    ),
                    dbc.Col(html.Div(id=Ids.LEGEND, className="small"), xs=12, lg=3),
                ],
                className="g-3",
            ),
            html.Div(
                [
                    html.H2("Hot cells to act on", className="h5 mb-0 me-3"),
                    dbc.Button(
                        [html.I(className="bi bi-download me-1", **{"aria-hidden": "true"}), "CSV"],
                        id=Ids.CSV,
                        color="secondary",
                        outline=True,
                        size="sm",
                        className="me-2",
                    ),
                    dbc.Button(
                        [
                            html.I(className="bi bi-download me-1", **{"aria-hidden": "true"}),
                            "GeoJSON",
                        ],
                        id=Ids.GEOJSON,
                        color="secondary",
                        outline=True,
                        size="sm",
                    ),
                ],
                className="d-flex align-items-center mt-4 mb-2",
            ),
            # Why a download was refused (a load holds the store's write lock), read out.
            download_status(Ids.DOWNLOAD_BUSY),
            html.P(id=Ids.TABLE_NOTE, className="small text-muted mb-1"),
            html.Div(id=Ids.TABLE, className="table-responsive small"),
            html.Details(
                [
                    html.Summary("How hot spots are found"),
                    html.Div([*METHOD, work_list_help()], className="small"),
                ],
                className="mt-4 mb-5",
            ),
        ]
    )


# -- figure builders (pure: data in, components out) ----------------------------------------------
def _text(value: Any, fallback: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return fallback
    return str(value)


def map_view(bounds: tuple[float, float, float, float], width_px: int = 900) -> dict[str, Any]:
    """Centre and zoom that fit ``bounds`` (min_lon, min_lat, max_lon, max_lat) in the map."""
    min_lon, min_lat, max_lon, max_lat = bounds

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lon_span = max(max_lon - min_lon, 1e-6)
    y_span = max(merc(max_lat) - merc(min_lat), 1e-9)
    # MapLibre's world is 512 px wide at zoom 0.
    zoom_x = math.log2(width_px * 360 / (512 * lon_span))
    zoom_y = math.log2(MAP_HEIGHT * 2 * math.pi / (512 * y_span))
    return {
        "center": {"lon": (min_lon + max_lon) / 2, "lat": (min_lat + max_lat) / 2},
        "zoom": round(min(zoom_x, zoom_y) - 0.1, 2),
    }


def _outline_layer(outline: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not outline:
        return []
    return [
        {
            "source": {"type": "Feature", "geometry": dict(outline), "properties": {}},
            "sourcetype": "geojson",
            "type": "line",
            "color": "#667085",
            "line": {"width": 1},
            "below": "traces",
        }
    ]


def hotspot_map(
    cells: pd.DataFrame,
    geometry: Mapping[str, Any],
    *,
    mode: str,
    outline: Mapping[str, Any] | None,
    bounds: tuple[float, float, float, float],
    uirevision: str,
) -> dict[str, Any]:
    """Hexagons coloured by confidence bin (or by emerging category), one ``choroplethmap``
    trace per class, on a tile-less ``white-bg`` map with the boundary outline.

    ``cells`` has columns cell, count, open, z, q, bin, label, address, area (and late,
    category, hot_steps, cold_steps when present); ``geometry`` is a FeatureCollection whose
    feature ids are the cells' hex ids. Returned as a plain figure dict: plotly's validation of
    thousands of polygons costs more than the analysis."""
    emerging = mode == "emerging" and "category" in cells
    features = {f["id"]: f for f in geometry.get("features", [])}
    if emerging:
        classes: Sequence[Any] = [c for c in CATEGORIES if c != NO_PATTERN] + [NO_PATTERN]
        key = "category"
    else:
        classes = [3, 2, 1, -1, -2, -3, 0]
        key = "bin"
    # Each column is converted once for all the cells, then split by class: filtering the
    # frame per class, and mapping each part's columns, cost more than the rest of the figure.
    n_all = len(cells)
    keys = cells[key].to_numpy()
    labels = [_text(v) for v in (cells["category"] if emerging else cells["label"]).tolist()]
    counts = cells["count"].to_numpy(np.int64).tolist()
    opens = cells["open"].to_numpy(np.int64).tolist()
    zs = np.round(cells["z"].to_numpy(np.float64), 3).tolist()
    qs = [float(f"{q:.3g}") for q in cells["q"].to_numpy(np.float64).tolist()]
    places = [_text(v) for v in cells["address"].tolist()]
    areas = [_text(v) for v in cells["area"].tolist()]
    names = cells["cell"].tolist()
    details = [""] * n_all
    if mode == "late" and "late" in cells:
        details = [f"Late: {v:,}<br>" for v in cells["late"].to_numpy(np.int64).tolist()]
    elif mode == "share" and "share_smoothed" in cells:
        details = [
            f"Late: {late:,} of {judged:,} due; share late (smoothed): {share:.0%}<br>"
            for late, judged, share in zip(
                cells["late"].to_numpy(np.int64).tolist(),
                cells["judged"].to_numpy(np.int64).tolist(),
                cells["share_smoothed"].to_numpy(np.float64).tolist(),
                strict=True,
            )
        ]
    if emerging and "hot_steps" in cells:
        details = [
            f"{d}Hot in {int(h)}, cold in {int(c)} steps<br>"
            for d, h, c in zip(details, cells["hot_steps"], cells["cold_steps"], strict=True)
        ]
    data = []
    for cls in classes:
        rows = np.flatnonzero(keys == cls).tolist()
        if not rows:
            continue
        if emerging:
            colour, line = CATEGORY_COLOURS[cls], CATEGORY_OUTLINES[cls]
            name = cls if cls != NO_PATTERN else "No pattern (has requests)"
        else:
            colour, line = BIN_COLOURS[int(cls)], BIN_OUTLINES[int(cls)]
            name = BIN_LABELS[int(cls)] if cls != 0 else "Not significant (has requests)"
        custom = [
            [labels[i], counts[i], opens[i], zs[i], qs[i], places[i], areas[i], details[i]]
            for i in rows
        ]
        locations = [names[i] for i in rows]
        data.append(
            {
                "type": "choroplethmap",
                "geojson": {
                    "type": "FeatureCollection",
                    "features": [features[c] for c in locations if c in features],
                },
                "locations": locations,
                "z": [0] * len(rows),
                "zmin": 0,
                "zmax": 1,
                "colorscale": [[0, colour], [1, colour]],
                "showscale": False,
                "marker": {
                    "opacity": 0.85 if cls not in (0, NO_PATTERN) else 0.55,
                    "line": dict(line),
                },
                "name": name,
                "showlegend": False,  # the legend in words is the table beside the map
                "customdata": custom,
                "hovertemplate": "<b>%{customdata[0]}</b><br>"
                "Requests: %{customdata[1]:,} (%{customdata[2]:,} still open)<br>"
                "%{customdata[7]}"
                "Gi* z = %{customdata[3]:.2f}, q = %{customdata[4]:.2g}<br>"
                "Most requested at: %{customdata[5]}<br>"
                "Area: %{customdata[6]}<extra>%{location}</extra>",
            }
        )
    view = map_view(bounds)
    layout = {
        "map": {
            "style": "white-bg",
            "center": view["center"],
            "zoom": view["zoom"],
            "layers": _outline_layer(outline),
        },
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "uirevision": uirevision,
        "height": MAP_HEIGHT,
        # The box the browser fits the map to at its real width (assets/map-fit.js): the zoom
        # above is for a desktop-wide map and cut off the city's edges on a phone.
        "meta": {"fit": list(bounds)},
    }
    return {"data": data, "layout": layout}


def density_figure(
    lon: np.ndarray,
    lat: np.ndarray,
    density: np.ndarray,
    *,
    outline: Mapping[str, Any] | None,
    hot_geometry: Mapping[str, Any] | None,
    bandwidth_m: float,
) -> go.Figure:
    """The smoothed density (requests per km²) as filled contours on lon/lat axes with the
    boundary outline and the outline of the hot-spot cells (a MultiLineString) on top.

    The density is a continuous surface, not a set of marks: its palest band is under 3:1 on
    white by design, its values are read from the colour bar and the hover. The marks on it (the
    boundaries 5.0:1, the hot-spot outlines 17.8:1) are 3:1 or more on white."""
    fig = go.Figure()
    z = np.where(density > density.max() * 0.02, density, np.nan) if density.size else density
    fig.add_trace(
        go.Contour(
            x=np.round(lon, 5),
            y=np.round(lat, 5),
            z=np.round(z, 1),
            colorscale="YlOrRd",
            contours={"coloring": "fill", "showlines": False},
            ncontours=12,
            colorbar={"title": {"text": "Requests per km²"}},
            hovertemplate="%{z:,.0f} requests per km²<extra></extra>",
            name="Smoothed density",
        )
    )

    def lines(geom: Mapping[str, Any] | None) -> tuple[list, list]:
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in (geom or {}).get("coordinates", []):
            xs.extend([p[0] for p in ring] + [None])
            ys.extend([p[1] for p in ring] + [None])
        return xs, ys

    ox, oy = lines(outline)
    if ox:
        fig.add_scatter(
            x=ox,
            y=oy,
            mode="lines",
            line={"color": "#667085", "width": 0.8},
            name="Boundaries",
            hoverinfo="skip",
        )
    hx, hy = lines(hot_geometry)
    if hx:
        fig.add_scatter(
            x=hx,
            y=hy,
            mode="lines",
            line={"color": "#101828", "width": 1.2},
            name="Hot spots (95%+)",
            hoverinfo="skip",
        )
    lat0 = float(np.mean(lat)) if len(lat) else 0.0
    fig.update_layout(
        template="plotly_white",
        xaxis={"visible": False},
        yaxis={
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1 / math.cos(math.radians(lat0)),
        },
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        title={
            "text": f"Smoothed density (Gaussian kernel, bandwidth ≈ {bandwidth_m:,.0f} m)",
            "font": {"size": 13},
        },
        legend={"orientation": "h", "y": -0.02},
        height=MAP_HEIGHT,
    )
    return fig


def _swatch(colour: str, line: Mapping[str, Any] | None = None) -> html.Span:
    """A class's colour in the legend, with the dark outline the map gives its pale cells."""
    style = {"width": "1.1em", "height": "1.1em", "backgroundColor": colour}
    if line and line is not SEPARATOR:
        style["borderColor"] = line["color"]
    return html.Span(
        className="d-inline-block me-2 align-middle border",
        style=style,
        **{"aria-hidden": "true"},
    )


def legend(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    note: str | None = None,
    heading: str = "Requests",
) -> html.Div:
    """The legend in words, as a table (also the table behind the map): one row per class with
    its colour, meaning, number of cells and the amount of the measure the map analyses in them
    (``heading``: "Requests", "Late requests", "Share late"; a row's ``amount`` is its text,
    else its ``requests``)."""
    body = [
        html.Tr(
            [
                html.Th(
                    [_swatch(r["colour"], r.get("outline")), r["label"]],
                    scope="row",
                    className="fw-normal",
                ),
                html.Td(f"{r['cells']:,}", className="text-end"),
                html.Td(r.get("amount") or f"{r['requests']:,}", className="text-end"),
            ],
            title=r.get("description") or "",
        )
        for r in rows
    ]
    table = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(title),
                        html.Th("Cells", className="text-end"),
                        html.Th(heading, className="text-end"),
                    ]
                )
            ),
            html.Tbody(body),
        ],
        size="sm",
        borderless=True,
        className="mb-2",
    )
    return html.Div([table, html.P(note, className="text-muted") if note else None])


def share_text(late: int, judged: int) -> str:
    """A share late as the legend gives it: "31% (40 of 130)", "—" with nothing due."""
    return f"{late / judged:.0%} ({late:,} of {judged:,})" if judged else "—"


def legend_heading(mode: str) -> str:
    """The legend's amount column: what the map analyses ("Late requests" in the late mode)."""
    return "Share late" if mode == "share" else MEASURES[mode].heading


def bin_legend_rows(cells: pd.DataFrame, mode: str = "count") -> list[dict[str, Any]]:
    """One row per confidence bin: its cells (the "not significant" ones with a request) and
    the amount of the mode's measure in them: requests, late requests, or, for the share, the
    late requests over the requests due in those cells (the map's smoothed shares do not add)."""
    bins = cells["bin"].to_numpy()
    count = cells["count"].to_numpy(np.int64)
    late = cells["late"].to_numpy(np.int64) if mode in ("late", "share") else None
    judged = cells["judged"].to_numpy(np.int64) if mode == "share" else None
    rows = []
    for b in (3, 2, 1, 0, -1, -2, -3):
        part = bins == b
        if b == 0:
            part &= count > 0
        row = {
            "colour": BIN_COLOURS[b],
            "outline": BIN_OUTLINES[b],
            "label": BIN_LABELS[b] if b else "Not significant (has requests)",
            "cells": int(part.sum()),
            "requests": int(count[part].sum()),
        }
        if late is not None:
            row["late"] = int(late[part].sum())
        if mode == "late":
            row["amount"] = f"{row['late']:,}"
        elif judged is not None:
            row["judged"] = int(judged[part].sum())
            row["amount"] = share_text(row["late"], row["judged"])
        rows.append(row)
    return rows


def category_legend_rows(cells: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per emerging-hot-spot category shown (and "No pattern" for the cells with
    requests): its cells and requests. Counted over two arrays (filtering the cells frame
    once per category copied all its columns 17 times: 9.4 ms at 1M cases, 0.34 ms now)."""
    categories = cells["category"].to_numpy(dtype=object)
    count = cells["count"].to_numpy(np.int64)
    rows = []
    for cat in CATEGORIES:
        part = categories == cat
        if cat == NO_PATTERN:
            part &= count > 0
        elif not part.any():
            continue
        rows.append(
            {
                "colour": CATEGORY_COLOURS[cat],
                "outline": CATEGORY_OUTLINES[cat],
                "label": cat if cat != NO_PATTERN else "No pattern (has requests)",
                "cells": int(part.sum()),
                "requests": int(count[part].sum()),
                "description": CATEGORY_DESCRIPTIONS[cat],
            }
        )
    return rows


STILL_OPEN = "Still open"
TREND_REQUESTS = "Trend (weekly requests)"
TREND_LATE = "Trend (weekly late requests)"
# What a heading counts, where two pages could read as counting the same thing, and the
# statistics' columns in words (a planner hovering "z" or "q" is told what they are).
HEADING_TITLES: dict[str, str] = {
    STILL_OPEN: "Of the cell's requests in this window, those open now (at the store's last "
    "load). The Overview's backlog counts every request open at the end of its period.",
    "z": "Gi* z-score: how far the cell's neighbourhood is above (positive) or below "
    "(negative) the citywide average, in standard deviations. Larger means a stronger hot "
    "spot.",
    "q": "The false-discovery-rate q-value: among cells called hot or cold at this level, the "
    "share expected to be so by chance alone, allowing for the many cells tested at once. "
    "Below 0.01 is 99% confidence, below 0.05 is 95%, below 0.10 is 90%.",
    "H3 cell": "The hexagon's id in Uber's H3 grid: the same id is in the downloads and in "
    "any GIS tool that reads H3.",
    TREND_REQUESTS: "Whether the cell's weekly requests rise or fall over the window "
    "(Mann–Kendall test at 95% confidence); fewer than four whole weeks are too short to tell.",
    TREND_LATE: "Whether the cell's weekly late requests rise or fall over the window, by the "
    "week they were requested (Mann–Kendall test at 95% confidence); fewer than four whole "
    "weeks are too short to tell.",
}


def work_list_help() -> html.Div:
    """The work list's statistics headings explained in text, for readers who cannot hover
    over a heading to see its title (keyboard and touch): the same words as the titles."""
    explained = ("z", "q", TREND_REQUESTS, TREND_LATE, "H3 cell")
    return html.Div(
        [
            html.Strong("Reading the work list."),
            html.Dl(
                [
                    part
                    for heading in explained
                    for part in (html.Dt(heading), html.Dd(HEADING_TITLES[heading]))
                ],
                className="mb-0",
            ),
        ]
    )


#: The columns of the cells' frame that the work list reads.
_WORK_LIST_COLUMNS = (
    "category", "bin", "late", "judged", "share_smoothed", "count", "open", "addresses",
    "trend", "area", "z", "q", "cell",
)  # fmt: skip


def ranked_table(rows: pd.DataFrame, *, mode: str, limit: int = TABLE_ROWS) -> Any:
    """The planner's work list, in the order given (``HotspotResult.work_list``: surest first,
    then the most of the measure the map analyses). The measure's column comes first after the
    confidence: requests; late requests (late mode); the smoothed share late, then the late
    requests of those due (share mode)."""
    if rows.empty:
        return html.P("No hot-spot cells for this view.", className="text-muted")
    emerging = mode == "emerging"
    head = ["#", "Category" if emerging else "Confidence"]
    if mode == "late":
        head += ["Late requests", "Requests", STILL_OPEN]
    elif mode == "share":
        head += ["Share late (smoothed)", "Late of due", "Requests", STILL_OPEN]
    else:
        head += ["Requests", STILL_OPEN]
    trend = TREND_LATE if mode in ("late", "share") else TREND_REQUESTS
    head += [trend, "Area", "Most requested addresses", "z", "q", "H3 cell"]
    body = []
    shown = [c for c in _WORK_LIST_COLUMNS if c in rows]  # only these: the rest cost to convert
    for rank, row in enumerate(rows.head(limit)[shown].to_dict("records"), start=1):
        if emerging:
            colour = CATEGORY_COLOURS.get(row["category"], CATEGORY_COLOURS[NO_PATTERN])
            line = CATEGORY_OUTLINES.get(row["category"], NEUTRAL_OUTLINE)
            label = row["category"]
        else:
            b = int(row["bin"])
            colour, line, label = BIN_COLOURS[b], BIN_OUTLINES[b], BIN_LABELS[b]
        border = line["color"] if line and line is not SEPARATOR else ""
        cells: list[Any] = [rank, Cell(label, swatch=colour, swatch_border=border)]
        if mode == "late":
            cells.append(Cell(f"{int(row['late']):,}", class_name="text-end"))
        elif mode == "share":
            late, judged = int(row["late"]), int(row["judged"])
            cells += [
                Cell(f"{row['share_smoothed']:.0%}", class_name="text-end"),
                Cell(
                    f"{late:,} of {judged:,} ({late / judged:.0%})" if judged else "—",
                    class_name="text-end text-nowrap",
                ),
            ]
        cells += [
            Cell(f"{int(row['count']):,}", class_name="text-end"),
            Cell(f"{int(row['open']):,}", class_name="text-end"),
        ]
        addresses = _text(row.get("addresses"), "no address on file").split(" | ")
        cells += [
            _text(row.get("trend")),
            _text(row.get("area")),
            Cell(addresses),
            Cell(f"{row['z']:.2f}", class_name="text-end"),
            Cell(q_text(row["q"]), class_name="text-end text-nowrap"),
            Cell(row["cell"], code=True),
        ]
        body.append(cells)
    # One component for the whole list (layouts.tables): fifty rows of Dash cells kept the
    # browser busy for seconds after each answer.
    return static_table(
        [Cell(h, title=HEADING_TITLES.get(h, "")) for h in head],
        body,
        class_name="table table-sm table-striped table-hover",
    )


def q_text(q: float) -> str:
    """A q-value for people: "< 0.001" below that, else two significant digits."""
    return "< 0.001" if q < 0.001 else f"{q:.2g}"


def method_line(meta: Mapping[str, Any]) -> html.Div:
    """Resolution, k and distance as badges, with the reasons in words."""
    res = meta["resolution"]
    return html.Div(
        [
            dbc.Badge(f"H3 resolution {res}", color="light", text_color="dark", className="me-1"),
            dbc.Badge(f"k = {meta['k']} rings", color="light", text_color="dark", className="me-1"),
            dbc.Badge(
                f"neighbourhood ≈ {meta['distance_m']:,.0f} m",
                color="light",
                text_color="dark",
                className="me-2",
            ),
            html.Span(
                f"Hexagons of about {CELL_AREA_KM2[res]:g} km² ({meta['resolution_reason']}); "
                f"each cell is compared with the {meta['k']} rings of cells around it, about "
                f"{meta['distance_m']:,.0f} m ({meta['k_reason']}).",
                className="text-muted",
            ),
        ]
    )
