"""Department page (``/department/<code>``): one department's request types with their tiers,
weekly trends, open cases by age, the overdue list and where it is late.

Layout only: it keeps the department code and the query string it was opened with, and never
touches the data. The numbers come from ``callbacks/department.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.department import clean_code
from dashboard.sla import TIER_STYLE, Tier
from layouts.components import (
    NO_SERVICE_LEVEL,
    department_title,
    download_button,
    download_status,
    labelled,
    period_columns,
    target_text,
)
from layouts.department_figures import MODEBAR_REMOVE
from layouts.figures import plural
from layouts.tables import Cell


def page_title(
    code: str | None = None,
    *,
    names: Mapping[str, str] | None = None,
    visible: Callable[[], Collection[str] | None] | None = None,
    **_: Any,
) -> str:
    """The browser tab's title, naming the department of the address (Dash Pages calls it with
    the path's variables; it is set as text, never as HTML). ``names``: department names by code
    (the app factory passes them), so the tab reads "Public Works Department (PWDx)".
    ``visible``: the departments the current user may see (None: all); the tab of another
    department's page names only the code of the address, as its page does."""
    code = clean_code(code)
    if not code:
        return "Department · stat311"
    allowed = visible() if visible is not None else None
    name = (names or {}).get(code) if allowed is None or code in allowed else None
    return f"{name} ({code}) · Department · stat311" if name else f"{code} · Department · stat311"


PAGE = {
    "path_template": "/department/<code>",
    "name": "Department",
    "title": page_title,
    "nav": False,
}

#: A text mark per tier, for table cells (where icons cannot go): colour, mark and words.
TIER_MARK: dict[Tier, str] = {
    Tier.PROBLEM: "✖",
    Tier.CLOSE: "▲",
    Tier.ON_TARGET: "✔",
    Tier.NOT_ENOUGH: "?",
}
#: What the Boundary layer box shows while no layer is chosen.
LAYER_PLACEHOLDER = "Pick a boundary layer"
OVERDUE_PAGE_SIZE = 15
TYPES_PAGE_SIZE = 20


class Ids(StrEnum):
    """Component ids of the department page (declared once)."""

    URL = "department-url"
    STATE = "department-state"
    CODE = "department-code"
    KIND = "department-kind"
    DATE = "department-date"
    RANGE_START = "department-range-start"
    RANGE_END = "department-range-end"
    RANGE_BOX = "department-range-box"
    NOTICE = "department-notice"
    BODY = "department-body"
    HEADING = "department-heading"
    ANNOUNCE = "department-announce"
    TYPES = "department-types"
    TYPES_CSV = "department-types-csv"
    TYPES_DOWNLOAD = "department-types-download"
    TYPES_BUSY = "department-types-busy"
    SERIES = "department-series"
    SERIES_NOTE = "department-series-note"
    SERIES_TABLE = "department-series-table"
    AGING = "department-aging"
    AGING_TABLE = "department-aging-table"
    OVERDUE_SUMMARY = "department-overdue-summary"
    OVERDUE = "department-overdue"
    OVERDUE_CSV = "department-overdue-csv"
    OVERDUE_DOWNLOAD = "department-overdue-download"
    OVERDUE_BUSY = "department-overdue-busy"
    REPEATS_SUMMARY = "department-repeats-summary"
    REPEATS_TABLE = "department-repeats-table"
    LAYER = "department-layer"
    MAP = "department-map"
    MAP_NOTE = "department-map-note"
    MAP_TABLE = "department-map-table"


MEASURED = [
    html.P(
        [
            html.Strong("Due time"),
            ": the one the source system set (Boston target date, NYC due date, Open311 expected "
            "time); otherwise the SLA policy's target for the request type, else for the "
            "department, in calendar or business days (weekends and holidays skipped). A case "
            "with neither has no SLA and is left out of compliance.",
        ]
    ),
    html.P(
        [
            html.Strong("Compliance"),
            " = cases due in the period that were closed by their due time ÷ cases due in the "
            "period. A case still open after its due time counts as a miss; a case due later "
            "than now is not counted yet. Duplicates are left out.",
        ]
    ),
    html.P(
        [
            html.Strong("Tiers"),
            ": On Target = compliance at or above the target (a request type's own target, "
            "else its department's, else 90%); Close But Not There = within the margin "
            "(10 points) below it; Problem That Needs a Plan = further below; Not enough "
            "data = fewer due cases than the minimum (20): no percentage is shown for those.",
        ]
    ),
    html.P(
        [
            html.Strong("Open cases"),
            " (backlog, ages, overdue list) are counted at the end of the period, or now for a "
            "period still running. Age = whole days since the request; overdue = past its due "
            "time at that moment; days overdue = time since the due time. Median and 90th "
            "percentile days to close are for the cases due in the period that have closed. "
            "Volume = requests opened in the period.",
        ]
    ),
]


def tier_label(tier: str | Tier) -> str:
    """``"✔ On Target"``: a mark and the words, for table cells and CSV-free displays."""
    t = Tier(tier)
    return f"{TIER_MARK[t]} {t}"


def tier_badge(tier: str | Tier, *, large: bool = False) -> html.Span:
    """The tier in colour, icon and words."""
    t = Tier(tier)
    style = TIER_STYLE[t]
    return html.Span(
        [html.I(className=f"bi {style['icon']} me-2", **{"aria-hidden": "true"}), str(t)],
        className=f"badge rounded-pill {'fs-5' if large else ''} department-tier",
        style={"backgroundColor": style["color"], "color": "white"},
    )


def tier_cell(tier: str | Tier) -> Cell:
    """:func:`tier_badge` as a cell of a :func:`layouts.tables.static_table`."""
    t = Tier(tier)
    style = TIER_STYLE[t]
    return Cell(str(t), icon=style["icon"], badge=style["color"])


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _change(points: float | None) -> html.Span:
    if points is None:
        return html.Span("no comparison with the previous period", className="text-muted")
    if abs(points) < 0.05:
        return html.Span("→ unchanged since the previous period", className="text-muted")
    up = points > 0
    return html.Span(
        [
            html.I(
                className=f"bi {'bi-arrow-up-right' if up else 'bi-arrow-down-right'} me-1",
                **{"aria-hidden": "true"},
            ),
            f"{'up' if up else 'down'} {abs(points):.1f} points since the previous period",
        ],
        className="text-success" if up else "text-danger",
    )


def heading(values: dict[str, Any]) -> html.Div:
    """The page heading from plain values (see ``callbacks.department.heading_values``)."""
    judged = values["compliance"] is not None
    score = (
        [
            html.Span(_pct(values["compliance"]), className="fs-4 fw-semibold me-2"),
            f"on time vs target {target_text(values['target'])} ",
            html.Span(
                f"({values['on_time']:,} of {plural(values['due'], 'due case')} closed in time)",
                className="text-muted",
            ),
        ]
        if judged
        else [f"{NO_SERVICE_LEVEL} (STAT311_SLA_POLICY)."]
        if values.get("no_due_times")
        else [
            f"Too few due cases to judge ({values['due']:,}; at least {values['min_count']} "
            f"needed; target {target_text(values['target'])})."
        ]
    )
    median = values["median_days"]
    return html.Div(
        [
            html.H1(
                department_title(values)
                if values.get("department_name", values["department"]) != values["department"]
                else [values["department"], html.Small(" department", className="text-muted")],
                className="h3 mb-1",
            ),
            html.P(values["period_label"], className="lead mb-2"),
            html.Div(
                [
                    tier_badge(values["tier"], large=True),
                    html.Span(score, className="ms-3"),
                ],
                className="d-flex flex-wrap align-items-center gap-1 mb-1",
            ),
            html.P(_change(values["change"] if judged else None), className="small mb-1"),
            html.Ul(
                [
                    html.Li(f"{plural(values['volume'], 'request')} opened"),
                    html.Li(
                        f"Open backlog {values['open_backlog']:,}, of which "
                        f"{values['overdue_open']:,} overdue ({values['as_of_label']})"
                    ),
                    html.Li(
                        "Median days to close "
                        + ("–" if median is None else f"{median:.1f}")
                        + ", 90th percentile "
                        + ("–" if values["p90_days"] is None else f"{values['p90_days']:.1f}")
                    ),
                ],
                className="list-inline small mb-0 department-facts",
            ),
        ]
    )


def problem_heading(code: str | None) -> html.H1:
    """The page's <h1> when there is no department to show (not in the data, not one the user
    may see, nothing loaded): the code of the link as it was asked for, never anything from the
    data (the notice under the controls says why)."""
    shown = clean_code(code)
    return html.H1(
        [shown, html.Small(" department", className="text-muted")] if shown else "Department",
        className="h3 mb-1",
    )


def announcement(values: dict[str, Any]) -> str:
    """What the live region reads out when the period changes: the period, tier and score
    (plain values, see ``callbacks.department.heading_values``)."""
    score = (
        f"{_pct(values['compliance'])} on time against a target of {target_text(values['target'])}"
        if values["compliance"] is not None
        else "no service level is set for these requests (no due times)"
        if values.get("no_due_times")
        else "too few due cases to judge"
    )
    name = values.get("department_name") or values["department"]
    return f"{name}, {values['period_label']}: {values['tier']}, {score}."


def controls() -> dbc.Row:
    return dbc.Row(
        [
            *period_columns(
                kind_id=Ids.KIND,
                date_id=Ids.DATE,
                range_start_id=Ids.RANGE_START,
                range_end_id=Ids.RANGE_END,
                range_box_id=Ids.RANGE_BOX,
                widths=(4, 3, 5),
                range_hidden=True,
            ),
        ],
        className="g-2 mb-3",
    )


def _grid_options(page_size: int) -> dict[str, Any]:
    """AG Grid options both tables share: pages of ``page_size`` rows (no size picker), one
    sorted column at a time, the rows' DOM in row order (screen readers read them in order)."""
    return {
        "pagination": True,
        "paginationPageSize": page_size,
        "paginationPageSizeSelector": False,
        "suppressMultiSort": True,
        "domLayout": "autoHeight",
        "ensureDomOrder": True,
        "enableCellTextSelection": True,
    }


#: Every column: sortable, resizable, not movable; headings wrap rather than being cut.
DEFAULT_COLUMN = {
    "sortable": True,
    "resizable": True,
    "suppressMovable": True,
    "flex": 1,
    "minWidth": 80,
    "wrapHeaderText": True,
    "autoHeaderHeight": True,
}


def _formatted(spec: str) -> dict[str, str]:
    """A d3-format value formatter (Python's format mini-language); blank for no value."""
    return {"function": f"params.value == null ? '' : d3.format('{spec}')(params.value)"}


def _text(name: str, field: str, **extra: Any) -> dict[str, Any]:
    return {"headerName": name, "field": field, **extra}


#: d3-format specifiers of the numeric columns: whole numbers with thousands separators, days to
#: one decimal, a share (0.875) as a percentage to one decimal (87.5%).
WHOLE, DAYS, PERCENT = ",", ",.1f", ".1%"


def _numeric(name: str, field: str, spec: str = WHOLE, **extra: Any) -> dict[str, Any]:
    """A right-aligned number column formatted with the d3-format ``spec``."""
    return {
        "headerName": name,
        "field": field,
        "type": "numericColumn",
        "valueFormatter": _formatted(spec),
        **extra,
    }


def _tier_colours() -> dict[str, Any]:
    """A tier cell in its tier's colour, white bold text (``cellStyle`` conditions)."""
    return {
        "styleConditions": [
            {
                "condition": f"params.value === {json.dumps(tier_label(t), ensure_ascii=False)}",
                "style": {"backgroundColor": style["color"], "color": "white", "fontWeight": "600"},
            }
            for t, style in TIER_STYLE.items()
        ]
    }


#: Text that wraps onto more lines rather than being cut (the row grows to fit it).
WRAP = {"wrapText": True, "autoHeight": True}

TYPE_COLUMNS = [
    _text("Request type", "type", minWidth=200, flex=2, **WRAP),
    # Wide enough for "✖ Problem That Needs a Plan" in bold on one line (at 240 px it was cut
    # to "Problem That Needs a P…" at 1366 px); wraps rather than being cut in a narrower grid.
    _text("Tier", "tier", minWidth=270, cellStyle=_tier_colours(), **WRAP),
    # "Compliance" whole on one line (at 80 px its heading broke inside the word).
    _numeric("Compliance", "compliance", PERCENT, minWidth=120),
    _numeric("Target", "target", PERCENT),
    _numeric("Due", "due"),
    _numeric("On time", "on_time"),
    _numeric("Opened", "volume"),
    _numeric("Median days to close", "median_days", DAYS),
    _numeric("90th pct days", "p90_days", DAYS),
    _numeric("Open backlog", "open_backlog"),
    _numeric("Overdue open", "overdue_open"),
]

# The infinite row model cannot grow rows to fit their text (``autoHeight``): its rows are two
# lines high instead; longer text ends in "…" and shows whole on hover (and to screen readers).
OVERDUE_TABLE_COLUMNS = [
    _text("Request id", "request_id", minWidth=125),
    _text("Request type", "type", minWidth=130, flex=1, wrapText=True, tooltipField="type"),
    _text("Address", "address", minWidth=150, flex=1.4, wrapText=True, tooltipField="address"),
    _text("Opened", "opened", type="rightAligned", minWidth=135),
    _text("Due", "due", type="rightAligned", minWidth=135),
    # First shown longest overdue first (the server's default order too).
    _numeric("Days overdue", "days_overdue", DAYS, sort="desc"),
]


def types_table() -> dag.AgGrid:
    """Every request type in the browser: sorted and paged there."""
    return dag.AgGrid(
        id=Ids.TYPES,
        columnDefs=TYPE_COLUMNS,
        rowData=[],
        defaultColDef=DEFAULT_COLUMN,
        dashGridOptions=_grid_options(TYPES_PAGE_SIZE),
        className="department-grid",
    )


def overdue_table() -> dag.AgGrid:
    """The overdue list, paged and sorted on the server (AG Grid's infinite row model: the
    grid asks for one page of rows at a time, in its sort order)."""
    return dag.AgGrid(
        id=Ids.OVERDUE,
        rowModelType="infinite",
        columnDefs=OVERDUE_TABLE_COLUMNS,
        defaultColDef=DEFAULT_COLUMN,
        dashGridOptions={
            **_grid_options(OVERDUE_PAGE_SIZE),
            "cacheBlockSize": OVERDUE_PAGE_SIZE,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": OVERDUE_PAGE_SIZE,
            "rowHeight": 46,
            "enableBrowserTooltips": True,
        },
        className="department-grid department-grid-two-lines",
    )


#: The figures' plotly options: no plotly logo, no selection tools (nothing reads a selection;
#: a shorter tool bar covers less of a figure on a phone).
GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": list(MODEBAR_REMOVE)}


def _section(title: str, *children: Any, note: str | None = None) -> html.Section:
    parts: list[Any] = [html.H2(title, className="h5 mt-4 mb-1")]
    if note:
        parts.append(html.P(note, className="text-muted small mb-2"))
    parts.extend(children)
    return html.Section(parts)


def body() -> html.Div:
    return html.Div(
        [
            _section(
                "Request types",
                download_button(Ids.TYPES_CSV, "Download CSV"),
                dcc.Download(id=Ids.TYPES_DOWNLOAD),
                download_status(Ids.TYPES_BUSY),
                dcc.Loading(types_table()),
                note="Each request type with its own tier, problems first. Click a column "
                "heading to sort; the download has every row.",
            ),
            _section(
                "Weekly trend of the busiest request types",
                dcc.Loading(
                    dcc.Graph(
                        id=Ids.SERIES,
                        config=GRAPH_CONFIG,
                        # Its height from the stylesheet (taller on a phone: the legend below
                        # the chart takes a line per request type there).
                        responsive=True,
                        className="department-series-graph",
                    )
                ),
                html.P(id=Ids.SERIES_NOTE, className="text-muted small mb-1"),
                html.Details(
                    [
                        html.Summary("Table of the chart's numbers"),
                        html.Div(id=Ids.SERIES_TABLE, className="table-responsive small"),
                    ]
                ),
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _section(
                            "Open cases by age",
                            dcc.Loading(dcc.Graph(id=Ids.AGING, config=GRAPH_CONFIG)),
                            html.Details(
                                [
                                    html.Summary("Table of the chart's numbers"),
                                    html.Div(id=Ids.AGING_TABLE, className="small"),
                                ]
                            ),
                        ),
                        xs=12,
                        lg=5,
                    ),
                    dbc.Col(
                        _section(
                            "Overdue list",
                            html.P(id=Ids.OVERDUE_SUMMARY, className="small mb-1"),
                            download_button(Ids.OVERDUE_CSV, "Download the whole list (CSV)"),
                            dcc.Download(id=Ids.OVERDUE_DOWNLOAD),
                            download_status(Ids.OVERDUE_BUSY),
                            overdue_table(),
                        ),
                        xs=12,
                        lg=7,
                    ),
                ],
                className="g-4",
            ),
            _section(
                "Repeat locations",
                html.P(id=Ids.REPEATS_SUMMARY, className="small mb-1"),
                dcc.Loading(html.Div(id=Ids.REPEATS_TABLE, className="table-responsive small")),
                note="Addresses with several of the department's requests made in the period "
                "(duplicates left out as in compliance; cases placed at the city's default "
                "location left out): a place that keeps coming back may need a lasting fix.",
            ),
            _section(
                "Where are we late",
                dbc.Row(
                    dbc.Col(
                        # A native select (Dash's dropdown keeps a focusable box hidden from
                        # screen readers, axe-core: aria-hidden-focus), named by its ``<label
                        # for>``. Its options and value come from the page's first callback:
                        # the link's layer, or the first one. With no layer (the link's is not
                        # in the data, or none is loaded) it shows the placeholder, not a layer
                        # the map is not drawn for.
                        labelled(
                            "Boundary layer",
                            dbc.Select(
                                id=Ids.LAYER,
                                options=[],
                                value=None,
                                placeholder=LAYER_PLACEHOLDER,
                            ),
                            className="small mb-1",
                        ),
                        xs=12,
                        md=4,
                    ),
                    className="mb-2",
                ),
                html.Div(id=Ids.MAP_NOTE, className="small mb-1"),
                dcc.Loading(dcc.Graph(id=Ids.MAP, config=GRAPH_CONFIG)),
                html.Details(
                    [
                        html.Summary("Table of the map's numbers"),
                        html.Div(id=Ids.MAP_TABLE, className="table-responsive small"),
                    ]
                ),
                note="Compliance of the department's cases due in the period, by the area they "
                "are in. Grey areas had too few cases due to judge.",
            ),
            html.Details(
                [html.Summary("How this is measured"), html.Div(MEASURED, className="small")],
                className="mt-4 mb-5",
            ),
        ],
        id=Ids.BODY,
    )


def layout(code: str | None = None, **query: Any) -> html.Div:
    """The page. ``code`` is the department in the path; ``query`` the URL's query string as
    Dash Pages passes it."""
    flat = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False),
            dcc.Store(id=Ids.STATE, data=("?" + urlencode(flat)) if flat else ""),
            dcc.Store(id=Ids.CODE, data=code or ""),
            # Not a live region: it holds the page's <h1>, which a screen reader re-read with
            # every change of period. A live region inside it would not help: Dash mounts the
            # children a callback sets anew, and a new region is not announced.
            html.Div(id=Ids.HEADING),
            # The live region: static (Dash mounts callback children anew, and a new region is
            # not announced), out of sight, reading out the period, tier and score once each
            # time they change.
            html.Div(
                id=Ids.ANNOUNCE,
                role="status",
                className="visually-hidden",
                **{"aria-live": "polite", "aria-atomic": "true"},
            ),
            controls(),
            html.Div(id=Ids.NOTICE),
            body(),
        ]
    )
