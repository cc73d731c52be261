"""Requests page callbacks: thin (parse inputs -> one query -> one figure builder).

The work is in plain functions (:func:`filter_options`, :func:`requests_view`) that tests call
directly; :func:`register` wires them to the app.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html

from callbacks.department import download_or_busy, select_text
from dashboard.auth import audit_export
from dashboard.department import viewer_scope
from dashboard.departments import DepartmentNames
from dashboard.errors import SnapshotMissingError
from dashboard.periods import box_day
from dashboard.queries import PERIODS, QueryError, ReadModel
from dashboard.services import Services
from dashboard.spreadsheet import safe_frame
from dashboard.urlstate import FilterState, from_query
from layouts.components import date_range_outputs, date_range_values
from layouts.figures import empty_figure, plural, requests_over_time
from layouts.requests import Ids, layer_choices
from layouts.tables import static_table

log = logging.getLogger(__name__)

NO_DATA = (
    "No data loaded yet. Load an export with `stat311 ingest PATH` (or start with `make run`, "
    "which loads the bundled Boston sample)."
)


#: At most this many of a link's unusable department codes are named in the notice.
MAX_DROPPED_SHOWN = 5


def _opts(values: list[str]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def _keep(values: tuple[str, ...], allowed: list[str]) -> list[str]:
    known = set(allowed)
    return [v for v in values if v in known]


def filter_options(
    read_model: ReadModel, query: str | None, *, names: DepartmentNames | None = None
) -> dict[str, Any]:
    """Options for every control, and the values the URL asked for (unknown values dropped).
    ``names``: the departments' names for their options' labels (default: the codes).
    ``department_dropped``: the link's department codes that were dropped (not in the data, or
    not one the user may see), for :func:`department_filter_notice`."""
    state = from_query(query)
    loaded = True
    try:
        opts = read_model.options()
    except SnapshotMissingError:
        loaded = False  # nothing to filter: the page says how to load data
        opts = {
            "departments": [],
            "types": [],
            "statuses": [],
            "channels": [],
            "layers": {},
            "min_date": None,
            "max_date": None,
        }
    layer = state.layer if state.layer in opts["layers"] else None
    areas = opts["layers"].get(layer, []) if layer else []
    return {
        "department_options": (names or DepartmentNames()).options(opts["departments"]),
        "department": _keep(state.department, opts["departments"]),
        "department_dropped": (
            [d for d in state.department if d not in opts["departments"]] if loaded else []
        ),
        "type_options": _opts(opts["types"]),
        "type": _keep(state.type, opts["types"]),
        "status_options": _opts(opts["statuses"]),
        "status": _keep(state.status, opts["statuses"]),
        "channel_options": _opts(opts["channels"]),
        "channel": _keep(state.channel, opts["channels"]),
        "layer_options": _opts(list(opts["layers"])),
        "layer": layer,
        "area_options": _opts(areas),
        "area": _keep(state.area, areas),
        "min_date": opts["min_date"],
        "max_date": opts["max_date"],
        "start": state.start,
        "end": state.end,
        "period": state.period,
    }


def _codes(codes: list[str]) -> str:
    """``"ISD"``, ``"ISD and BTDT"``, ``"A, B and C"``; past ``MAX_DROPPED_SHOWN``, "and N more"."""
    shown = codes[:MAX_DROPPED_SHOWN]
    more = len(codes) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f" and {shown[-1]}"


def department_filter_notice(
    read_model: ReadModel, dropped: list[str], *, names: DepartmentNames | None = None
) -> Any:
    """Why the link's department filter (``dropped``: its codes the page could not use) was
    not applied, or None when nothing was dropped.

    A department user is told a code is not one of the departments they can see, in the same
    words whether or not the data has it (the page must not tell them which other departments
    exist), with the departments they can see. Anyone else is told the data has no such
    department."""
    if not dropped:
        return None
    names = names or DepartmentNames()
    scope = viewer_scope(read_model)
    hidden = [d for d in dropped if scope is not None and d not in scope]
    absent = [d for d in dropped if d not in hidden]
    lines: list[str] = []
    if hidden:
        lines.append(
            f"The link's department filter {_codes(hidden)} was not applied: {hidden[0]} is not "
            "one of the departments you can see."
            if len(hidden) == 1
            else f"The link's department filters {_codes(hidden)} were not applied: they are "
            "not among the departments you can see."
        )
    if absent:
        lines.append(
            f"The link's department filter {absent[0]} was not applied: there is no department "
            f"{absent[0]} in the data."
            if len(absent) == 1
            else f"The link's department filters {_codes(absent)} were not applied: the data "
            "has no such departments."
        )
    if scope is not None:
        lines.append(
            "Departments you can see: "
            + (", ".join(names.label(d) for d in sorted(scope)) or "none")
            + "."
        )
    return dbc.Alert(
        [html.I(className="bi bi-funnel me-2", **{"aria-hidden": "true"}), " ".join(lines)],
        color="warning",
        className="requests-link-notice small py-2",
    )


def state_from_controls(
    *,
    start: str | None,
    end: str | None,
    department: list[str] | None,
    type_: list[str] | None,
    status: list[str] | None,
    channel: list[str] | None,
    layer: str | None,
    area: list[str] | None,
    period: str | None,
) -> FilterState:
    """Control values -> the same validated state a URL gives."""
    query: dict[str, Any] = {
        "from": box_day(start),
        "to": box_day(end),
        "department": department or [],
        "type": type_ or [],
        "status": status or [],
        "channel": channel or [],
        # The Boundary layer box is a native select: "" (Whole city) is no layer; a number
        # (crafted) is the text a link's ``layer=5`` gives (no such layer: no areas).
        "layer": select_text(layer) or "",
        "area": area or [],
        # The Period box is a native select: its value is text ("month"), and a value no
        # option has (a crafted number) is the default week, as in a link.
        "period": select_text(period) or "week",
    }
    return from_query({k: v for k, v in query.items() if v})


def _named(frame: Any, names: DepartmentNames | None) -> Any:
    """The counts with each department code as its label ("Public Works Department (PWDx)"),
    for the chart's legend and the table's headings (the URL keeps the codes)."""
    if names is None or frame.empty:
        return frame
    return frame.assign(
        department=[names.label(d) if isinstance(d, str) else d for d in frame["department"]]
    )


#: Periods the page's table shows (the latest): a browser takes seconds to draw a few hundred
#: rows of Dash components (70 s for 784 weeks), and the CSV download has every period.
TABLE_ROWS = 60


def _pivot(frame: Any) -> Any:
    """Requests per period (rows, oldest first) and department (columns)."""
    pivot = frame.pivot_table(
        index="period", columns="department", values="count", aggfunc="sum", fill_value=0
    )
    pivot.index = pivot.index.strftime("%Y-%m-%d")
    return pivot


def _table(frame: Any, *, period: str = "week", limit: int = TABLE_ROWS) -> Any:
    """The chart's numbers: the latest ``limit`` periods, with a line saying how many more the
    CSV download has."""
    if frame.empty:
        return html.P("No rows.")
    pivot = _pivot(frame)
    shown = pivot.iloc[-limit:]
    table = static_table(
        ["Period", *[str(c) for c in pivot.columns]],
        (
            [idx, *[f"{v:,}" for v in row]]
            for idx, row in zip(shown.index, shown.to_numpy().tolist(), strict=True)
        ),
        row_headers=True,
    )
    if len(shown) == len(pivot):
        return table
    unit = period if period in PERIODS else "period"
    note = html.P(
        f"The latest {len(shown):,} of {plural(len(pivot), unit)}; the CSV download below has "
        "every one.",
        className="text-muted mb-1",
    )
    return [note, table]


def table_csv(
    read_model: ReadModel, query: str | None, *, names: DepartmentNames | None = None
) -> dict[str, Any] | None:
    """Every period of the page's table, for the filters of ``query`` (the page's URL), as a
    CSV download (None when nothing matches)."""
    state = from_query(query)
    try:
        frame = read_model.counts(state.to_filter(), by=("department",), period=state.period)
    except (SnapshotMissingError, QueryError):
        return None
    if frame.empty:
        return None
    pivot = _pivot(_named(frame, names))
    pivot.columns = [str(c) for c in pivot.columns]
    audit_export("requests_csv", query=state.to_query(), rows=len(pivot))
    span = "-".join(str(d) for d in (state.start, state.end) if d) or "all"
    return dcc.send_data_frame(
        safe_frame(pivot).rename_axis(state.period).to_csv,
        f"requests_by_{state.period}_{span}.csv",
    )


def data_range(read_model: ReadModel) -> tuple[date | None, date | None]:
    """The first and last local dates a request was made (the date boxes' bounds)."""
    opts = read_model.options()
    return opts["min_date"], opts["max_date"]


def no_match_text(read_model: ReadModel, state: FilterState) -> str:
    """Why nothing matched: the range the data covers, and whether the dates are outside it."""
    first, last = data_range(read_model)
    if first is None or last is None:
        return "No requests match these filters, and the data has no requests at all."
    covers = f"The data runs from {first} to {last} (the first and last days a request was made)"
    if (state.end is not None and state.end < first) or (
        state.start is not None and state.start > last
    ):
        asked = f"{state.start or 'the first day'} to {state.end or 'the last day'}"
        return (
            f"No requests from {asked}: those dates are outside the data. {covers}: pick dates "
            "in that range."
        )
    return (
        f"No requests match these filters. {covers}: widen the dates within that range, or "
        "clear a department, type or area filter."
    )


def requests_view(
    read_model: ReadModel, state: FilterState, *, names: DepartmentNames | None = None
) -> dict[str, Any]:
    """Everything the page shows for one filter state. ``names``: the departments' names for
    the chart's legend and the table's headings (default: the codes)."""
    try:
        frame = read_model.counts(state.to_filter(), by=("department",), period=state.period)
    except SnapshotMissingError:
        return {
            "figure": empty_figure("No data loaded yet."),
            "summary": "",
            "notice": dbc.Alert(NO_DATA, color="info"),
            "table": html.P("No rows."),
            "search": state.to_query(),
        }
    except QueryError as exc:
        return {
            "figure": empty_figure(str(exc)),
            "summary": "",
            "notice": dbc.Alert(str(exc), color="warning"),
            "table": html.P("No rows."),
            "search": state.to_query(),
        }
    total = int(frame["count"].sum()) if not frame.empty else 0
    notice: Any = None
    if total == 0:
        notice = dbc.Alert(no_match_text(read_model, state), color="secondary")
    departments = int(frame["department"].nunique()) if total else 0
    span = ""
    if state.start or state.end:
        span = f" between {state.start or 'the first day'} and {state.end or 'the last day'}"
    summary = f"{plural(total, 'request')}{span} across {plural(departments, 'department')}."
    named = _named(frame, names)
    return {
        "figure": requests_over_time(named, period=state.period),
        "summary": summary,
        "notice": notice,
        "table": _table(named, period=state.period),
        "search": state.to_query(),
    }


def register(app: Dash, services: Services) -> None:
    read_model = services.read_model

    @app.callback(
        Output(Ids.DEPARTMENT, "options"),
        Output(Ids.DEPARTMENT, "value"),
        Output(Ids.TYPE, "options"),
        Output(Ids.TYPE, "value"),
        Output(Ids.STATUS, "options"),
        Output(Ids.STATUS, "value"),
        Output(Ids.CHANNEL, "options"),
        Output(Ids.CHANNEL, "value"),
        Output(Ids.LAYER, "options"),
        Output(Ids.LAYER, "value"),
        *date_range_outputs(Ids.DATES_START, Ids.DATES_END),
        Output(Ids.PERIOD, "value"),
        Output(Ids.LINK_NOTICE, "children"),
        Input(Ids.STATE, "data"),
    )
    def _init(query: str | None) -> tuple[Any, ...]:
        o = filter_options(read_model, query, names=services.departments)
        return (
            o["department_options"],
            o["department"],
            o["type_options"],
            o["type"],
            o["status_options"],
            o["status"],
            o["channel_options"],
            o["channel"],
            layer_choices(o["layer_options"]),
            o["layer"] or "",
            *date_range_values(o["min_date"], o["max_date"], o["start"], o["end"]),
            o["period"],
            department_filter_notice(
                read_model, o["department_dropped"], names=services.departments
            ),
        )

    @app.callback(
        Output(Ids.AREA, "options"),
        Output(Ids.AREA, "value"),
        Input(Ids.LAYER, "value"),
        State(Ids.STATE, "data"),
        State(Ids.AREA, "value"),
    )
    def _areas(layer: str | None, query: str | None, current: list[str] | None) -> tuple:
        layer = select_text(layer)
        if not layer:
            return [], []
        # The chosen layer's areas (the page's link may name another layer: not that one's).
        o = filter_options(read_model, "?" + urlencode({"layer": layer}))
        names = [x["value"] for x in o["area_options"]]
        wanted = (current or []) or list(from_query(query).area)
        return o["area_options"], [a for a in wanted if a in names]

    @app.callback(
        Output(Ids.DOWNLOAD, "data"),
        Output(Ids.DOWNLOAD_NOTICE, "children"),
        Input(Ids.TABLE_CSV, "n_clicks"),
        State(Ids.URL, "search"),
        prevent_initial_call=True,
    )
    def _download(_clicks: int | None, search: str | None) -> tuple[Any, Any]:
        return download_or_busy(lambda: table_csv(read_model, search, names=services.departments))

    @app.callback(
        Output(Ids.CHART, "figure"),
        Output(Ids.SUMMARY, "children"),
        Output(Ids.NOTICE, "children"),
        Output(Ids.TABLE, "children"),
        Output(Ids.URL, "search"),
        Input(Ids.DATES_START, "value"),
        Input(Ids.DATES_END, "value"),
        Input(Ids.DEPARTMENT, "value"),
        Input(Ids.TYPE, "value"),
        Input(Ids.STATUS, "value"),
        Input(Ids.CHANNEL, "value"),
        Input(Ids.LAYER, "value"),
        Input(Ids.AREA, "value"),
        Input(Ids.PERIOD, "value"),
    )
    def _update(start, end, department, type_, status, channel, layer, area, period) -> tuple:
        state = state_from_controls(
            start=start,
            end=end,
            department=department,
            type_=type_,
            status=status,
            channel=channel,
            layer=layer,
            area=area,
            period=period,
        )
        view = requests_view(read_model, state, names=services.departments)
        return (
            view["figure"],
            view["summary"],
            view["notice"],
            view["table"],
            view["search"] or "?",
        )
