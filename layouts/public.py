"""The public portal (``/public/...``): track a request, the public map, city performance.

Layout only: functions from plain values (what :class:`dashboard.public.PublicData` returns) to
components and figures; no data access. The portal is its own small Dash app, so nothing here
links to a staff page. Every chart has its numbers in a table next to it, for screen readers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from dash import dcc, html

from dashboard.public import span_words
from layouts import shell
from layouts.components import department_title, labelled
from layouts.figures import compliance_and_volume, empty_figure, plain_figure
from layouts.tables import static_table

BASE = "/public/"
TITLE = "311 public portal"
INDEX_STRING = shell.index_string(body_class="bg-light")


class Ids(StrEnum):
    """Component ids of the public portal (declared once)."""

    URL = "public-url"
    TITLE = "public-title"
    TITLE_SINK = "public-title-sink"
    VIEWPORT = "public-viewport"
    CONTENT = "public-content"
    NUMBER = "public-track-number"
    TRACK = "public-track-button"
    FEEDBACK = "public-track-feedback"
    RESULT = "public-track-result"
    MAP_TYPE = "public-map-type"
    MAP_DAYS = "public-map-days"
    MAP_VIEW = "public-map-view"
    MAP_SUMMARY = "public-map-summary"
    MAP_GRAPH = "public-map-graph"
    MAP_TABLE = "public-map-table"
    MAP_URL = "public-map-url"
    #: Filled by dashboard/assets/callback-refused.js (not by a callback) when the server refuses
    #: a callback: 429 over the rate limit, 503 busy. Empty, and so not seen, otherwise.
    CALLBACK_ALERT = "public-callback-alert"


NAV = (
    ("Track a request", BASE),
    ("Map", BASE + "map"),
    ("City performance", BASE + "performance"),
)
MAP_VIEWS = (
    ("By area", "area"),
    ("By ~100\u00a0m cell", "cell"),
    ("Each request", "points"),
)
TIER_LOOK: dict[str, dict[str, str]] = {
    "On Target": {"color": "#067647", "icon": "bi-check-circle-fill", "plain": "on target"},
    "Close But Not There": {
        "color": "#b54708",
        "icon": "bi-exclamation-triangle-fill",
        "plain": "close to the target but below it",
    },
    "Problem That Needs a Plan": {
        "color": "#b42318",
        "icon": "bi-exclamation-octagon-fill",
        "plain": "well below the target",
    },
    "Not enough data": {
        "color": "#475467",
        "icon": "bi-question-circle",
        "plain": "not enough requests were due to judge",
    },
}
STATUS_LOOK = {
    "open": {"color": "#1d4ed8", "icon": "bi-hourglass-split", "label": "Open"},
    "closed": {"color": "#067647", "icon": "bi-check-circle-fill", "label": "Closed"},
}


# -- frame --------------------------------------------------------------------------------------------
def header() -> html.Header:
    links = [
        html.Li(
            dcc.Link(label, href=href, className="nav-link px-2 text-white"),
            className="nav-item",
        )
        for label, href in NAV
    ]
    return html.Header(
        dbc.Container(
            [
                dcc.Link(
                    [html.I(className="bi bi-geo-alt-fill me-2", **{"aria-hidden": "true"}), TITLE],
                    href=BASE,
                    className="navbar-brand fw-bold text-white me-3",
                ),
                html.Nav(
                    html.Ul(links, className="nav flex-wrap"),
                    **{"aria-label": "Public portal"},
                ),
            ],
            className="d-flex flex-wrap align-items-center py-2",
            style={"maxWidth": "64rem"},
        ),
        className="bg-dark mb-3",
    )


def footer() -> html.Footer:
    return html.Footer(
        dbc.Container(
            html.P(
                [
                    "This portal and its ",
                    html.A("open data API", href="/open311/v2/discovery.json"),
                    " (Open311 GeoReport v2) publish no personal data: descriptions are "
                    "published without names, phone numbers or e-mail addresses, and most "
                    "locations are shown to within about 100\u00a0m.",
                ],
                className="small text-muted mb-0",
            ),
            style={"maxWidth": "64rem"},
        ),
        className="border-top mt-4 py-3",
    )


def layout() -> html.Div:
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False),
            dcc.Store(id=Ids.TITLE),
            dcc.Store(id=Ids.VIEWPORT),
            html.Div(id=Ids.TITLE_SINK, hidden=True),
            html.A("Skip to content", href="#public-main", className="visually-hidden-focusable"),
            header(),
            dbc.Container(
                html.Main(
                    dcc.Loading(html.Div(id=Ids.CONTENT), delay_show=400),
                    id="public-main",
                    tabIndex="-1",
                ),
                style={"maxWidth": "64rem"},
            ),
            footer(),
            html.Div(id=Ids.CALLBACK_ALERT, role="alert", className="stat311-callback-alert"),
        ]
    )


def validation_layout() -> html.Div:
    """Every component any page can show (Dash checks callbacks against it)."""
    return html.Div([layout(), track_page(""), map_page([], default_days=30)])


# -- formatting ----------------------------------------------------------------------------------------
def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """``"Fri 1 Jul 2011, 1:32 AM"`` in the city's time zone ("–" for none)."""
    if value is None:
        return "–"
    local = value.astimezone(tz)
    hour = local.strftime("%I").lstrip("0") or "12"
    return f"{local:%a} {local.day} {local:%b %Y}, {hour}:{local:%M %p}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def tier_badge(tier: str) -> html.Span:
    """The tier in colour, icon and words (readable in print and without colour)."""
    look = TIER_LOOK.get(tier, TIER_LOOK["Not enough data"])
    return html.Span(
        [html.I(className=f"bi {look['icon']} me-1", **{"aria-hidden": "true"}), tier],
        className="badge rounded-pill text-wrap text-start",
        style={"backgroundColor": look["color"], "color": "white"},
    )


def status_badge(status: str) -> html.Span:
    look = STATUS_LOOK.get(status, STATUS_LOOK["open"])
    return html.Span(
        [html.I(className=f"bi {look['icon']} me-1", **{"aria-hidden": "true"}), look["label"]],
        className="badge rounded-pill fs-6",
        style={"backgroundColor": look["color"], "color": "white"},
    )


def request_path(request_id: str) -> str:
    return f"{BASE}requests/{quote(request_id, safe='')}"


# -- track a request -------------------------------------------------------------------------------
def track_page(number: str, result: Any = None) -> html.Div:
    """The lookup form, and the result of a lookup when there is one."""
    return html.Div(
        [
            html.H1("Track a request", className="h3"),
            html.P(
                "Enter the tracking number you were given when you made a 311 request to see "
                "where it stands, when it should be done and how long it has taken.",
                className="text-muted",
            ),
            dbc.Label("Tracking number", html_for=Ids.NUMBER, className="fw-semibold"),
            dbc.InputGroup(
                [
                    dbc.Input(
                        id=Ids.NUMBER,
                        type="text",
                        value=number,
                        placeholder="e.g. 101000295613",
                        autoComplete="off",
                        maxLength=120,
                        debounce=False,
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-search me-1", **{"aria-hidden": "true"}), "Track"],
                        id=Ids.TRACK,
                        color="primary",
                        n_clicks=0,
                    ),
                ],
                style={"maxWidth": "32rem"},
            ),
            dbc.FormText(
                "The number is in the confirmation you received (e-mail, text or app).",
                id="public-track-help",
            ),
            html.Div(id=Ids.FEEDBACK, role="status", className="mt-2 small text-danger"),
            html.Div(result, id=Ids.RESULT, className="mt-3", **{"aria-live": "polite"}),
        ]
    )


def _row(label: str, value: Any) -> list[Any]:
    return [
        html.Dt(label, className="col-sm-4 col-lg-3 text-muted fw-normal"),
        html.Dd(value, className="col-sm-8 col-lg-9 mb-2"),
    ]


def _timeline(
    record: Mapping[str, Any], tz: ZoneInfo, now: datetime, as_of: str | None = None
) -> html.Ol:
    events: list[tuple[datetime, str, str, str]] = []
    if record["requested_at"] is not None:
        events.append((record["requested_at"], "Requested", "bi-flag-fill", "#1d4ed8"))
    if record["expected_at"] is not None:
        events.append((record["expected_at"], "Expected by", "bi-calendar-check", "#475467"))
    if record["closed_at"] is not None:
        events.append((record["closed_at"], "Closed", "bi-check-circle-fill", "#067647"))
    else:
        still = f"Still open in {as_of}" if as_of else "Still open today"
        events.append((now, still, "bi-hourglass-split", "#b54708"))
    events.sort(key=lambda e: e[0])
    return html.Ol(
        [
            html.Li(
                [
                    html.I(
                        className=f"bi {icon} me-2",
                        style={"color": colour},
                        **{"aria-hidden": "true"},
                    ),
                    html.Strong(label),
                    # "Still open in the newest data, 31 Dec 2011" is dated by its label (its
                    # instant, the end of that day, would read as another day).
                    *(
                        []
                        if label.startswith("Still open in ")
                        else [html.Span(" — " + local_time(when, tz), className="text-muted")]
                    ),
                ],
                className="mb-1",
            )
            for when, label, icon, colour in events
        ],
        className="list-unstyled border-start border-3 ps-3 mb-0",
        **{"aria-label": "Timeline"},
    )


def _progress(record: Mapping[str, Any], now: datetime, as_of: str | None = None) -> str:
    """How long it has taken, and against the expected time, in words. ``as_of``: when the
    newest data is older than today (``now`` is then its end), what it is ("the newest data,
    28 Feb 2023"): an open request is counted to there, not to today, which the data cannot
    tell about."""
    requested, expected, closed = (
        record["requested_at"],
        record["expected_at"],
        record["closed_at"],
    )
    if requested is None:
        return "–"
    if closed is not None:
        text = f"Closed after {span_words((closed - requested).total_seconds())}"
        if expected is not None:
            if closed <= expected:
                text += ", within the promised time frame"
            else:
                text += (
                    f", {span_words((closed - expected).total_seconds())} after the expected time"
                )
        return text + "."
    until = f" as of {as_of}" if as_of else " so far"
    text = f"Open for {span_words((now - requested).total_seconds())}{until}"
    if expected is not None:
        if now > expected:
            text += f"; {span_words((now - expected).total_seconds())} past the expected time"
        else:
            text += f"; expected within {span_words((expected - now).total_seconds())}"
    return text + "."


def request_card(
    record: Mapping[str, Any], tz: ZoneInfo, now: datetime, as_of: str | None = None
) -> dbc.Card:
    """One request, as the public sees it (``as_of``: see :func:`_progress`)."""
    request_id = str(record["request_id"])
    precision = {
        "exact": "shown exactly (public infrastructure)",
        "cell": "shown to within about 100\u00a0m",
        "none": "no location published",
    }[record["location_precision"]]
    where = [record["address"] or "Address not published"]
    if record["zipcode"] and record["zipcode"] not in (record["address"] or ""):
        where.append(f" ({record['zipcode']})")
    where.append(html.Span(f" — {precision}", className="text-muted small"))
    frame = record["time_frame"] or "No time frame is set for this type of request."
    rows = [
        *_row("Type", record["service_name"] or "–"),
        *_row("Department", record.get("department_label") or record["department"] or "–"),
        *_row("Requested", local_time(record["requested_at"], tz)),
        *_row("Promised time frame", frame),
        *_row("Expected by", local_time(record["expected_at"], tz)),
        *_row("Closed", local_time(record["closed_at"], tz) if record["closed_at"] else "Not yet"),
        *_row("Time taken", _progress(record, now, as_of)),
        *_row("Status notes", record["status_notes"]),
        *_row("Location", where),
    ]
    if record["description"]:
        rows += _row("Description", record["description"])
    if record["areas"]:
        rows += _row(
            "Area", ", ".join(f"{area} ({layer})" for layer, area in record["areas"].items())
        )
    api = f"/open311/v2/requests/{quote(request_id, safe='')}.json"
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.H2(f"Request {request_id}", className="h5 mb-0 me-3 text-break"),
                        status_badge(record["status"]),
                    ],
                    className="d-flex flex-wrap align-items-center gap-2",
                )
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(html.Dl(rows, className="row mb-0"), lg=8),
                            dbc.Col(
                                [
                                    html.H3("Timeline", className="h6"),
                                    _timeline(record, tz, now, as_of),
                                ],
                                lg=4,
                                className="mt-3 mt-lg-0",
                            ),
                        ]
                    ),
                    html.P(
                        [
                            html.A("Permanent link to this request", href=request_path(request_id)),
                            " · ",
                            html.A("as data (Open311 JSON)", href=api),
                        ],
                        className="small mt-3 mb-0",
                    ),
                ]
            ),
        ],
        className="shadow-sm",
    )


def request_cards(
    records: Sequence[Mapping[str, Any]], tz: ZoneInfo, now: datetime, as_of: str | None = None
) -> Any:
    """The cases a tracking number gives: one card, or (when two of the city's systems use
    the same number) a sentence saying so and a card for each."""
    if len(records) == 1:
        return request_card(records[0], tz, now, as_of)
    return html.Div(
        [
            html.P(
                f"{len(records)} requests have this tracking number (they come from different "
                "city systems): check the type and date to find yours.",
                className="fw-semibold",
            ),
            *(html.Div(request_card(r, tz, now, as_of), className="mb-3") for r in records),
        ]
    )


def not_found(number: str) -> dbc.Alert:
    """The answer for a number that is unknown (or not public: the same words)."""
    return dbc.Alert(
        [
            html.H2("We could not find that request", className="h5"),
            html.P(["No public request has the tracking number ", html.Strong(number[:120]), "."]),
            html.P("Please check:", className="mb-1"),
            html.Ul(
                [
                    html.Li(
                        "the number is exactly as in your confirmation (digits only, "
                        "without spaces), e.g. 101000295613;"
                    ),
                    html.Li("new requests can take up to a day to appear here;"),
                    html.Li(
                        "some requests are not published, for example ones that involve "
                        "someone's personal situation. Call 311 to ask about them."
                    ),
                ],
                className="mb-0",
            ),
        ],
        color="warning",
        className="mb-0",
    )


def page_not_found(path: str) -> html.Div:
    return html.Div(
        [
            html.H1("Page not found", className="h3"),
            html.P(
                f"There is no public page at {path[:200]}." if path else "There is no such page."
            ),
            html.Ul([html.Li(dcc.Link(label, href=href)) for label, href in NAV]),
        ]
    )


def no_data() -> dbc.Alert:
    return dbc.Alert("No requests have been published yet.", color="info")


# -- the public map ----------------------------------------------------------------------------------
def map_page(types: Sequence[str], *, default_days: int, windows: Sequence[int] = (30, 90, 365)):
    def control(label: str, component: Any, **width: int) -> dbc.Col:
        return dbc.Col(
            labelled(label, component),
            xs=12,
            className="mb-2",
            **width,
        )

    return html.Div(
        [
            # The map page's own view of the address: its query string holds the map's
            # settings (?type=...&days=...&view=...), so a view can be shared and Back works.
            dcc.Location(id=Ids.MAP_URL, refresh=False),
            html.H1("Requests on the map", className="h3"),
            html.P(
                "Where requests were made. Locations are shown to within about 100\u00a0m (the "
                "centre of a hexagonal cell), except street lights, potholes and similar public "
                "infrastructure, which are shown exactly.",
                className="text-muted",
            ),
            dbc.Row(
                [
                    control(
                        "Request type",
                        # A native select, as the period and the view are: Dash's dropdown
                        # keeps a focusable box hidden from screen readers (axe-core:
                        # aria-hidden-focus), which a public page should not have.
                        dbc.Select(
                            id=Ids.MAP_TYPE,
                            options=[
                                {"label": ALL_TYPES_LABEL, "value": ""},
                                *({"label": t, "value": t} for t in types),
                            ],
                            value="",
                            # dbc.Select draws a hidden first option of value "" with the
                            # placeholder's text, which the browser shows for "": without it
                            # the box was blank with every type chosen.
                            placeholder=ALL_TYPES_LABEL,
                        ),
                        md=6,
                    ),
                    control(
                        "Period",
                        dbc.Select(
                            id=Ids.MAP_DAYS,
                            options=[
                                {"label": f"Last {d} days of data", "value": str(d)}
                                for d in windows
                            ],
                            value=str(default_days),
                        ),
                        md=3,
                    ),
                    control(
                        "Show",
                        dbc.Select(
                            id=Ids.MAP_VIEW,
                            options=[{"label": label, "value": v} for label, v in MAP_VIEWS],
                            value="area",
                        ),
                        md=3,
                    ),
                ],
                className="g-2",
            ),
            html.Div(id=Ids.MAP_SUMMARY, className="my-2", role="status"),
            dcc.Graph(
                id=Ids.MAP_GRAPH,
                figure=empty_figure("Loading…"),
                config={"displaylogo": False, "scrollZoom": False, "responsive": True},
                style={"height": f"{MAP_HEIGHT}px"},
            ),
            html.Details(
                [
                    html.Summary("Table of the map's numbers"),
                    html.Div(id=Ids.MAP_TABLE, className="table-responsive small"),
                ],
                className="mt-2",
            ),
        ]
    )


MAP_HEIGHT = 460
#: The public map's type box, for every type (its value is "": no type chosen).
ALL_TYPES_LABEL = "All request types"


def plot_width(viewport: Any) -> int:
    """The map's width in pixels for a browser window ``viewport`` pixels wide (the page is at
    most 64rem wide, with 12 px padding each side)."""
    try:
        width = int(viewport)
    except (TypeError, ValueError):
        width = 1024
    return max(240, min(width, 1024) - 24)


def _view_of(
    lats: Sequence[float], lons: Sequence[float], width: int = 600, height: int = MAP_HEIGHT
) -> tuple[dict[str, float], float]:
    lats = [v for v in lats if v is not None and not math.isnan(v)]
    lons = [v for v in lons if v is not None and not math.isnan(v)]
    if not lats:
        return {"lat": 0.0, "lon": 0.0}, 1.0
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    centre = {"lat": (south + north) / 2, "lon": (west + east) / 2}
    lon_span = max(east - west, 2e-3) * 1.1
    lat_span = max(north - south, 2e-3) * 1.1
    zoom_x = math.log2(360 * width / (512 * lon_span))
    zoom_y = math.log2(360 * height * math.cos(math.radians(centre["lat"])) / (512 * lat_span))
    return centre, max(0.0, min(zoom_x, zoom_y, 15.0))


def _geojson_bounds(geojson: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """(lats, lons) that span the features: their GeoJSON ``bbox`` when the collection has one
    (the data layer sets it), else every vertex."""
    box = geojson.get("bbox")
    if box and len(box) == 4:
        west, south, east, north = (float(v) for v in box)
        return [south, north], [west, east]
    lats: list[float] = []
    lons: list[float] = []

    def walk(coords: Any) -> None:
        if isinstance(coords, list | tuple) and coords and isinstance(coords[0], int | float):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
        elif isinstance(coords, list | tuple):
            for c in coords:
                walk(c)

    for feature in geojson.get("features", []):
        walk((feature.get("geometry") or {}).get("coordinates", []))
    return lats, lons


def _map_layout(lats: Sequence[float], lons: Sequence[float], width: int) -> dict[str, Any]:
    centre, zoom = _view_of(lats, lons, width, MAP_HEIGHT - 60)
    return {
        "map": {"style": "white-bg", "center": centre, "zoom": zoom},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 60},
        "legend": {"orientation": "h", "y": 0.01, "x": 0.01, "bgcolor": "rgba(255,255,255,0.8)"},
        "uirevision": "public-map",
    }


#: The outline of every area and cell on the maps, 5.0:1 on the white map (3.7:1 at the counts
#: map's 85% opacity; the old #98a2b3 was 2.6:1 and 2.2:1): the palest areas of the "Blues"
#: scale keep their light fill (its values are read from the colour bar, the hover and the
#: table) and still stand out from the map by their edge (WCAG 2.1 SC 1.4.11).
AREA_OUTLINE = {"color": "#667085", "width": 1}


@functools.cache
def _blues() -> tuple[tuple[Any, ...], ...]:
    """plotly's "Blues" as [stop, colour] pairs, resolved once (copy it into each figure)."""
    return tuple(tuple(stop) for stop in plotly.colors.get_colorscale("Blues"))


def _outline_traces(outline: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The boundary layer's areas as outlines only (no fill, no hover), for orientation under
    cells or points; none without a layer."""
    if not outline or not outline.get("features"):
        return []
    return [
        {
            "type": "choroplethmap",
            "geojson": outline,
            "featureidkey": "id",
            "locations": [f["id"] for f in outline["features"]],
            "z": [0] * len(outline["features"]),
            "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
            "showscale": False,
            "marker": {"line": dict(AREA_OUTLINE)},
            "hoverinfo": "skip",
            "name": "Areas",
            "showlegend": False,
        }
    ]


#: Counts above this quantile share the darkest colour when the busiest place is far above it.
COLOUR_CAP_QUANTILE = 0.95


def colour_cap(counts: pd.Series | Sequence[float]) -> dict[str, Any]:
    """The colour scale's range for a map of ``counts``: from 0 to the largest count; or, when
    one or a few places are far busier than the rest (the largest more than 1.5 times the 95th
    percentile), to that percentile, its colour bar's last label "N+" (the hover and the table
    keep every count). One cell of 160 requests among cells of 1 to 10 otherwise left every
    other cell nearly white."""
    values = np.asarray(counts, dtype=np.float64)  # numpy: a tenth of pandas' time here
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {}
    largest = float(values.max())
    cap = math.ceil(float(np.quantile(values, COLOUR_CAP_QUANTILE)))
    if cap < 1 or largest <= 1.5 * cap:
        return {"zmin": 0, "zmax": max(largest, 1)}
    ticks = sorted({0, cap // 2, cap})
    labels = [f"{t:,}" for t in ticks]
    labels[-1] = f"{cap:,}+"
    return {
        "zmin": 0,
        "zmax": cap,
        "colorbar": {"tickmode": "array", "tickvals": ticks, "ticktext": labels},
    }


def count_map(
    frame: pd.DataFrame,
    geojson: Mapping[str, Any] | None,
    *,
    key: str,
    width: int = 1000,
    outline: Mapping[str, Any] | None = None,
) -> dict[str, Any] | go.Figure:
    """Choropleth of request counts per area or per cell (``key``: the frame's column that
    matches the features' ids), as a plain figure dict (see :func:`plain_figure`); the cells
    over the ``outline`` of the boundary layer's areas, when given. The hover names each place
    by the frame's ``name``, after its ``area`` when the frame has one (cells)."""
    if frame.empty or not geojson or not geojson.get("features"):
        return empty_figure("No requests with a location in this period.")
    # Plain lists from here (a few dozen areas or a few thousand cells): pandas' per-call costs
    # were most of this function's time for a map by area.
    locations = [str(v) for v in frame[key].tolist()]
    requests = frame["requests"].tolist()
    names = frame["name"].tolist()
    if "area" in frame.columns:  # cells with their areas: where the cell is, then its id
        names = [f"{a}, cell {n}" for a, n in zip(frame["area"].tolist(), names, strict=True)]
    hover = [[name, n] for name, n in zip(names, frame["open"].tolist(), strict=True)]
    # Requests outside every area (or without a location) are in the table, not the map.
    known = {str(f.get("id")) for f in geojson["features"]}
    keep = [location in known for location in locations]
    if not all(keep):
        locations, requests, hover = (
            [v for v, k in zip(values, keep, strict=True) if k]
            for values in (locations, requests, hover)
        )
    if not locations:
        return empty_figure("No requests with a location in this period.")
    colour_range = colour_cap(requests)
    trace = {
        "type": "choroplethmap",
        "geojson": geojson,
        "featureidkey": "id",
        "locations": locations,
        "z": requests,
        # The scale itself, as plotly's validation would send it: plotly.js reads the name
        # "Blues" the other way round (the busiest areas came out palest).
        "colorscale": [list(stop) for stop in _blues()],
        "marker": {"line": dict(AREA_OUTLINE), "opacity": 0.85},
        "colorbar": {
            "title": {"text": "Requests", "side": "top"},
            "orientation": "h",
            "thickness": 10,
            "len": 0.6,
            "x": 0.5,
            "y": -0.02,
            "yanchor": "top",
            **colour_range.get("colorbar", {}),
        },
        **{k: v for k, v in colour_range.items() if k != "colorbar"},
        "customdata": hover,
        "hovertemplate": "<b>%{customdata[0]}</b><br>%{z:,} requests, %{customdata[1]:,} open"
        "<extra></extra>",
    }
    lats, lons = _geojson_bounds(geojson)
    return plain_figure([*_outline_traces(outline), trace], _map_layout(lats, lons, width))


def _day_texts(stamps: pd.Series, fmt: str) -> pd.Series:
    """``stamps`` formatted with ``fmt`` (a format of the day only), each day formatted once:
    3,000 points of 30 days took 10.6 ms with ``Series.dt.strftime``, 0.5 ms this way."""
    codes, days = pd.factorize(pd.to_datetime(stamps).dt.normalize())
    texts = np.array([day.strftime(fmt) for day in days] + [np.nan], dtype=object)
    return pd.Series(texts[codes], index=stamps.index)  # (code -1, a missing time: NaN)


def points_map(
    frame: pd.DataFrame, outline: Mapping[str, Any] | None, *, width: int = 1000
) -> dict[str, Any] | go.Figure:
    """One marker per request at its published point (cell centre or exact), as a plain figure
    dict (see :func:`plain_figure`)."""
    if frame.empty:
        return empty_figure("No requests with a location in this period.")
    traces = _outline_traces(outline)
    frame = frame.assign(
        when=_day_texts(frame["requested_local"], "Requested %d %b %Y"),
        place=frame["precision"].map(
            {"exact": "Exact location", "cell": "Location within about 100\u00a0m"}
        ),
    )
    # Closed first, so that the open requests (what a resident looks for, usually far fewer)
    # are drawn on top; the legend still lists Open first.
    for status, colour, rank in (("closed", "#1d4ed8", 2), ("open", "#b54708", 1)):
        part = frame[frame["status"] == status]
        if part.empty:
            continue
        traces.append(
            {
                "type": "scattermap",
                "lat": part["lat"].tolist(),
                "lon": part["lon"].tolist(),
                "mode": "markers",
                "name": STATUS_LOOK[status]["label"],
                "legendrank": rank,
                "marker": {"size": 8, "color": colour, "opacity": 0.7},
                "customdata": part[["request_id", "service_name", "when", "place"]]
                .to_numpy()
                .tolist(),
                "hovertemplate": "<b>%{customdata[1]}</b><br>Request %{customdata[0]}<br>"
                "%{customdata[2]}<br>%{customdata[3]}<extra></extra>",
            }
        )
    return plain_figure(traces, _map_layout(frame["lat"].tolist(), frame["lon"].tolist(), width))


def _cell_text(value: Any) -> str:
    """A table cell's text: whole numbers with thousands separators, anything else as text."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(frame: pd.DataFrame, columns: Sequence[tuple[str, str]], *, limit: int = 200) -> Any:
    """A plain HTML table of ``frame`` (``columns``: (column, heading)); the first column is the
    row header."""
    if frame.empty:
        return html.P("No rows.")
    shown = frame.head(limit)
    # Column by column as plain lists of Python scalars (not itertuples, per row); one
    # component for the whole table (layouts.tables).
    texts = [[_cell_text(v) for v in shown[column].tolist()] for column, _ in columns]
    body = static_table([h for _, h in columns], zip(*texts, strict=True), row_headers=True)
    note = (
        html.P(f"The first {limit:,} of {len(frame):,} rows.", className="text-muted")
        if len(frame) > limit
        else None
    )
    return html.Div([body, note])


# -- city performance --------------------------------------------------------------------------------
def _window_sentence(figures: Mapping[str, Any] | None, days: int, min_count: int) -> str:
    if figures is None or figures["due"] == 0:
        return f"No requests were due in the last {days} days."
    if figures["tier"] == "Not enough data":
        return (
            f"Only {figures['due']:,} request{'s were' if figures['due'] != 1 else ' was'} due "
            f"in the last {days} days: at least {min_count} are needed to judge."
        )
    return (
        f"{_pct(figures['compliance'])} of the {figures['due']:,} requests due in the last "
        f"{days} days were done on time (the target is {100 * figures['target']:.0f}%)."
    )


def _trend(change: float | None) -> html.Span:
    if change is None:
        return html.Span("No comparison with the 30 days before.", className="text-muted")
    if abs(change) < 1:
        return html.Span(
            [
                html.I(className="bi bi-arrow-right me-1", **{"aria-hidden": "true"}),
                "About the same as the 30 days before.",
            ]
        )
    better = change > 0
    icon = "bi-arrow-up-right" if better else "bi-arrow-down-right"
    word = "Better" if better else "Worse"
    return html.Span(
        [
            html.I(className=f"bi {icon} me-1", **{"aria-hidden": "true"}),
            f"{word} than the 30 days before ({change:+.1f} points).",
        ],
        style={"color": "#067647" if better else "#b42318"},
    )


def department_card(item: Mapping[str, Any], min_count: int) -> dbc.Card:
    def window(label: str, key: str, days: int) -> dbc.Col:
        figures = item[key]
        tier = figures["tier"] if figures else "Not enough data"
        return dbc.Col(
            [
                html.H4(label, className="h6 text-muted mb-1"),
                tier_badge(tier),
                html.P(
                    [
                        html.Span(f"{tier}: ", className="visually-hidden"),
                        _window_sentence(figures, days, min_count),
                    ],
                    className="small mt-1 mb-0",
                ),
            ],
            xs=12,
            md=6,
            className="mb-2",
        )

    examples = item["examples"]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H3(department_title(item), className="h5 mb-0"),
                html.P(
                    ("Requests such as " + ", ".join(examples) + ".") if examples else "",
                    className="small text-muted",
                ),
                dbc.Row([window("Last 30 days", "d30", 30), window("Last 90 days", "d90", 90)]),
                html.P(_trend(item["change_points"]), className="small mb-0"),
            ]
        ),
        className="mb-3 shadow-sm",
        id=f"public-dept-{item['department']}",
    )


HOW_MEASURED = html.Details(
    [
        html.Summary("How this is measured"),
        html.P(
            [
                "Each request type has a time frame for getting it done (from the city's "
                "service level policy, or the due date the system sets). A department's score "
                "for a period is the share of its requests due in that period that were done by "
                "their due time; a request still open after its due time counts as late. ",
                html.Strong("On Target"),
                " means at or above the target (usually 90%); ",
                html.Strong("Close But Not There"),
                " within 10 points below it; ",
                html.Strong("Problem That Needs a Plan"),
                " further below; ",
                html.Strong("Not enough data"),
                " when too few requests were due to judge fairly.",
            ],
            className="small mt-2",
        ),
    ],
    className="mb-3",
)


def performance_page(model: Mapping[str, Any], tz_label: str = "") -> html.Div:
    if model.get("end") is None:
        return html.Div([html.H1("City performance", className="h3"), no_data()])
    end = model["end"]
    city = model["citywide"]
    d30, d90 = city["d30"], city["d90"]
    headline = (
        f"In the 30 days to {end.day} {end:%B %Y} (the newest data), "
        f"{_pct(d30['compliance'])} of the {d30['due']:,} requests due were done on time; "
        f"over 90 days, {_pct(d90['compliance'])} of {d90['due']:,}."
    )
    weekly = model["weekly"]
    rows = (
        weekly.assign(
            week=weekly["week"].dt.strftime("%Y-%m-%d"),
            compliance=[
                f"{100 * v:.1f}%" if not pd.isna(v) else ("– (too few due to judge)" if d else "–")
                for v, d in zip(weekly["compliance"], weekly["due"], strict=True)
            ],
        )
        if not weekly.empty
        else weekly
    )
    return html.Div(
        [
            html.H1("City performance", className="h3"),
            html.P(headline, className="lead fs-6"),
            HOW_MEASURED,
            html.H2("Departments", className="h4"),
            html.P(
                "Departments with problems first. Each shows its tier for the last 30 and 90 "
                "days of data, and whether the last 30 days were better or worse than the 30 "
                "before.",
                className="text-muted small",
            ),
            html.Div([department_card(item, model["min_count"]) for item in model["departments"]]),
            html.H2("The trend, citywide", className="h4 mt-4"),
            dcc.Graph(
                figure=compliance_and_volume(weekly, target=model["target"]),
                config={"displaylogo": False, "responsive": True},
                style={"height": "380px"},
                id="public-trend",
            ),
            html.Details(
                [
                    html.Summary("Table of the chart's numbers"),
                    html.Div(
                        table(
                            rows,
                            [
                                ("week", "Week (Monday)"),
                                ("due", "Due"),
                                ("on_time", "On time"),
                                ("compliance", "On time %"),
                                ("volume", "Requests opened"),
                            ],
                        ),
                        className="table-responsive small",
                    ),
                ],
                className="mt-2",
            ),
        ]
    )
