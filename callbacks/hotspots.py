"""Hot-spot page callbacks: thin (controls -> one analysis -> one figure builder).

The work is in plain functions (:func:`page_options`, :func:`params_from_controls`,
:func:`hotspot_view`, :func:`download`, :func:`download_answer`) that tests call directly;
:func:`register` wires them.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from callbacks.department import select_text
from callbacks.requests import department_filter_notice
from dashboard import hotspots as hs
from dashboard.auth import StoreBusy, audit_export
from dashboard.departments import DepartmentNames
from dashboard.errors import SnapshotMissingError
from dashboard.hotspots_emerging import COLD_CATEGORIES, HOT_CATEGORIES
from dashboard.periods import box_day, parse_day
from dashboard.queries import CaseFilter, QueryError, ReadModel
from dashboard.services import Services
from layouts.components import busy_notice, date_range_outputs, date_range_values
from layouts.figures import empty_figure
from layouts.hotspots import (
    Ids,
    bin_legend_rows,
    category_legend_rows,
    density_figure,
    department_choices,
    department_placeholder,
    department_scope_note,
    hotspot_map,
    legend,
    legend_heading,
    method_line,
    ranked_table,
)

log = logging.getLogger(__name__)

NO_DATA = (
    "No data loaded yet. Load an export with `stat311 ingest PATH` (or start with `make run`, "
    "which loads the bundled Boston sample)."
)
#: Ranges up to this long are shown whole by default; longer data opens on its last year.
DEFAULT_SPAN_DAYS = 365
#: A map never draws more hexagons than this (the JSON stays small); the strongest are kept.
MAX_MAP_CELLS = 12_000


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def default_type(types: list[str], counts: dict[str, int] | None = None) -> str | None:
    """ "Street Light Outages" where it exists, else the most requested type."""
    if hs.DEFAULT_TYPE in types:
        return hs.DEFAULT_TYPE
    if counts:
        return max(counts, key=lambda t: (counts[t], t))
    return types[0] if types else None


def page_options(
    read_model: ReadModel, query: str | None, *, names: DepartmentNames | None = None
) -> dict[str, Any]:
    """Options for every control, and the values the URL asked for (unknown values replaced by
    the defaults). ``names``: the departments' names for their labels (default: the codes).

    ``department_placeholder`` and ``department_note`` say what no department chosen means for
    the caller: "All" for someone who may see every department, "All my departments (PWDx)" and
    the departments' names for a department user (whose counts are their departments' only)."""
    params = hs.HotspotParams.from_query(query)
    try:
        opts = read_model.options()
    except SnapshotMissingError:
        opts = {"types": [], "departments": [], "min_date": None, "max_date": None}
    types, departments = opts["types"], opts["departments"]
    type_ = params.type if params.type in types else None
    if type_ is None and types:
        counts = None
        if hs.DEFAULT_TYPE not in types:
            frame = read_model.counts(CaseFilter(), by=("type",), period=None)
            counts = dict(zip(frame["type"], frame["count"], strict=True))
        type_ = default_type(types, counts)
    scope = hs.scope_of(read_model)
    lo, hi = opts["min_date"], opts["max_date"]
    start, end = params.start, params.end
    if hi is not None and start is None and end is None:
        end = hi
        start = max(lo, hi - timedelta(days=DEFAULT_SPAN_DAYS - 1)) if lo else hi
    return {
        "type_options": [{"label": t, "value": t} for t in types],
        "type": type_,
        # what the link asked for that the page could not use (for link_notice)
        "type_dropped": params.type if params.type and params.type not in types else None,
        "department_dropped": (
            params.department
            if params.department and params.department not in departments
            else None
        ),
        "department_options": (names or DepartmentNames()).options(departments),
        "department": params.department if params.department in departments else None,
        "department_placeholder": department_placeholder(scope),
        "department_note": department_scope_note(scope, names),
        "min_date": _iso(lo),
        "max_date": _iso(hi),
        "start": _iso(start),
        "end": _iso(end),
        "resolution": str(params.resolution) if params.resolution else "auto",
        "mode": params.mode,
        "step": params.step or "auto",
        "view": params.view,
    }


def _choice(value: Any) -> str | None:
    """A select's value as the URL's text: None for nothing chosen or "auto" (the default);
    a number (a resolution given as 9, not "9") as its digits."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text if text and text != "auto" else None


def params_from_controls(
    *,
    type_: str | None,
    department: str | None,
    start: str | None,
    end: str | None,
    resolution: str | None,
    mode: str | None,
    step: str | None,
    view: str | None,
) -> hs.HotspotParams:
    """Control values -> the same validated parameters a URL gives.

    Every box but the dates is a native select, whose value is text: the request type and the
    department are the URL's values ("" for the department: none chosen, every department the
    user may see, so the URL has no ``department``; the caller's scope is applied to every
    query whatever is chosen). The resolution arrives as "9" (converted to a number by
    :meth:`HotspotParams.from_query`, as the URL's ``res=9`` is); "auto" or nothing is the
    automatic choice, for the measure and the time step too. The dates are native date boxes:
    "YYYY-MM-DD", or "" while a box is empty or half typed, which is no date (as the date
    picker's None was); a date that is not one (a crafted "2011-13-45") is none either, as in
    a link."""
    query = {
        "type": select_text(type_),
        "department": select_text(department),
        "from": box_day(start),
        "to": box_day(end),
        "res": _choice(resolution),
        "mode": _choice(mode),
        "step": _choice(step),
        "view": view,
    }
    return hs.HotspotParams.from_query({k: v for k, v in query.items() if v})


#: The empty chart's words when the note above it says why there is no map (said once).
SEE_NOTE = "No map: see the note above."


def _sentence(text: str) -> str:
    """``text`` as the page shows it: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def no_due_time(requests: int) -> str:
    """The note when none of a late or share question's requests has a due time."""
    these = "this request has" if requests == 1 else f"these {requests:,} requests has"
    return (
        f"None of {these} a due time, so none can be late: the late-requests measures need a "
        "service level for this type (the SLA policy, STAT311_SLA_POLICY). Use "
        f"{hs.MODE_LABELS['count']} instead."
    )


def _covers_the_data(read_model: ReadModel, params: hs.HotspotParams) -> bool:
    """Whether the question's dates already take in every day of the data."""
    try:
        opts = read_model.options()
    except SnapshotMissingError:
        return False
    lo, hi = parse_day(opts.get("min_date")), parse_day(opts.get("max_date"))
    if lo is None or hi is None:
        return False
    return (params.start is None or params.start <= lo) and (params.end is None or params.end >= hi)


def _empty(message: str, *, notice: Any, params: hs.HotspotParams) -> dict[str, Any]:
    return {
        "figure": empty_figure(message),
        "legend": None,
        "method": None,
        "summary": "",
        "notice": notice,
        "table": html.P("No rows.", className="text-muted"),
        "table_note": "",
        "search": params.to_query(),
    }


def _summary(result: hs.HotspotResult) -> list[Any]:
    if result.emerging:
        return _emerging_summary(result)
    bins = result.bin_counts()
    hot = sum(v for b, v in bins.items() if b > 0)
    cold = sum(v for b, v in bins.items() if b < 0)
    what = {"count": "requests", "late": "late requests", "share": "the share late"}.get(
        result.params.mode, "requests"
    )
    parts: list[Any] = [
        html.Strong(f"{hot:,} hot-spot cells"),
        f" and {cold:,} cold-spot cells of {what} among {len(result.cells):,} cells, from "
        f"{result.in_area:,} requests with a location",
    ]
    if result.params.mode in ("late", "share"):
        late = int(result.cells["late"].sum())
        parts.append(f" ({late:,} of them late)")
    parts.append(".")
    left = []
    if result.unlocated:
        left.append(f"{result.unlocated:,} without an exact location")
    if result.duplicates:
        left.append(f"{result.duplicates:,} flagged as duplicates")
    if result.outside:
        left.append(f"{result.outside:,} outside the study area")
    if left:
        parts.append(f" Not mapped: {' and '.join(left)}.")
    return parts


def _emerging_summary(result: hs.HotspotResult) -> list[Any]:
    e = result.emerging
    cats = e["categories"]
    hot = {c: n for c, n in cats.items() if n and c in HOT_CATEGORIES}
    cold = sum(n for c, n in cats.items() if c in COLD_CATEGORIES)
    listed = ", ".join(f"{n:,} {c.removesuffix(' hot spot').lower()}" for c, n in hot.items())
    parts: list[Any] = [
        html.Strong(f"{sum(hot.values()):,} cells with a hot-spot pattern"),
        f" ({listed})" if listed else "",
        f" and {cold:,} with a cold-spot pattern, over {e['steps']} {e['step']}s from "
        f"{e['first']} to {e['last']}, from {e['requests']:,} requests with a location in "
        f"those {e['step']}s.",
    ]
    before = result.in_area - e["requests"]
    if before > 0:
        # The window's first days, before the first whole step, are in no step.
        parts.append(
            f" {before:,} more in the days before {e['first']} are in no {e['step']} and not "
            "analysed."
        )
    left = [
        f"{n:,} {what}"
        for n, what in (
            (result.unlocated, "without an exact location"),
            (result.outside, "outside the study area"),
            (result.duplicates, "flagged as duplicates"),
        )
        if n
    ]
    if left:
        parts.append(f" Not mapped: {', '.join(left)}.")
    return parts


def _drawn(result: hs.HotspotResult) -> tuple[Any, str | None]:
    drawn = result.drawn()
    if len(drawn) <= MAX_MAP_CELLS:
        return drawn, None
    strongest = drawn.assign(_s=drawn["z"].abs()).sort_values("_s", ascending=False)
    note = (
        f"The map shows the {MAX_MAP_CELLS:,} strongest of {len(drawn):,} cells; "
        "choose a coarser resolution to see all of them. The table and downloads are complete."
    )
    return strongest.head(MAX_MAP_CELLS).drop(columns="_s"), note


#: Under the legend: which cells its amounts add up.
LEGEND_NOTES: dict[str, str] = {
    "count": "Requests counted in cells with at least one request.",
    "late": "Late requests (closed after their due time, or open past it) counted in cells "
    "with at least one request.",
    "share": "Late requests of those due, in cells with at least one request: the map "
    "compares each cell's smoothed share late.",
    "emerging": "Requests counted in cells with at least one request.",
}
#: The work list's order in words, for the note above it.
TABLE_ORDER: dict[str, str] = {
    "count": "surest first, then the most requests",
    "late": "surest first, then the most late requests",
    "share": "surest first, then the highest smoothed share late",
    "emerging": "new, intensifying and consecutive hot spots first, then the most requests",
}


def hotspot_view(services: Services, params: hs.HotspotParams) -> dict[str, Any]:
    """Everything the page shows for one set of parameters."""
    read_model = services.read_model
    if not params.type:
        return _empty(
            "Choose a request type.",
            notice=dbc.Alert("Choose a request type to look for hot spots.", color="info"),
            params=params,
        )
    try:
        result = hs.analyse(read_model, params, database_url=services.settings.database_url)
    except SnapshotMissingError:
        return _empty("No data loaded yet.", notice=dbc.Alert(NO_DATA, color="info"), params=params)
    except (hs.HotspotError, QueryError) as exc:
        # Said once, in the note; the empty chart points to it.
        return _empty(
            SEE_NOTE, notice=dbc.Alert(_sentence(str(exc)), color="warning"), params=params
        )
    meta = result.meta()
    if result.in_area == 0:
        return _empty(
            "No requests match.",
            notice=dbc.Alert(
                "No requests of this type with a location in these dates. Widen the dates, or "
                "choose another type or department.",
                color="secondary",
            ),
            params=params,
        )
    if params.mode in ("late", "share") and result.due == 0:
        # No date range or resolution would help: this type has no service level.
        return _empty(
            SEE_NOTE,
            notice=dbc.Alert(no_due_time(result.in_area), color="secondary"),
            params=params,
        )
    notes: list[Any] = []
    bins = result.bin_counts()
    caution = result.caution()
    if not result.tested:  # too few to test: say so, not "spread as chance would spread them"
        wider = not _covers_the_data(read_model, params)
        notes.append(
            dbc.Alert(
                caution
                + (
                    " Try a longer date range."
                    if wider
                    else " The dates already take in all the data."
                ),
                color="secondary",
            )
        )
    elif caution:
        notes.append(dbc.Alert(caution, color="light"))
    if (
        result.tested
        and not any(v for b, v in bins.items() if b != 0)
        and params.mode != "emerging"
    ):
        wider = not _covers_the_data(read_model, params)
        late = int(result.cells["late"].sum())
        if params.mode in ("late", "share") and late == 0:
            first = (
                f"No cell is a significant hot or cold spot: none of these requests is late "
                f"({result.due:,} of them have a due time)."
            )
        else:
            first = (
                "No cell is a significant hot or cold spot: the requests are spread about as "
                "evenly as chance would spread them, or there are too few to tell."
            )
        notes.append(
            dbc.Alert(
                first
                + (
                    " Try a longer date range or a coarser resolution."
                    if wider
                    else " The dates already take in all the data; try a coarser resolution."
                ),
                color="secondary",
            )
        )
    drawn, capped = _drawn(result)
    if capped:
        notes.append(dbc.Alert(capped, color="light"))
    uirevision = f"{params.type}|{result.resolution}"
    if params.view == "density":
        area = hs.study_area(services.settings.database_url, read_model, result.resolution)
        grid = hs.density(
            read_model,
            params,
            bounds=hs.grid_bounds(area.grid),
            bandwidth_m=max(result.distance_m / 2, 50.0),
        )
        hot95 = result.cells[result.cells["bin"] >= 2]
        figure = density_figure(
            grid.lon,
            grid.lat,
            grid.density,
            outline=result.outline,
            hot_geometry=hs.cells_outline(hot95["h3"]) if len(hot95) <= MAX_MAP_CELLS else None,
            bandwidth_m=grid.bandwidth_m,
        )
        legend_box = html.Div(
            [
                html.P(
                    f"Requests per km², smoothed with a Gaussian kernel of about "
                    f"{grid.bandwidth_m:,.0f} m (half the hot-spot neighbourhood) on a "
                    f"{grid.cell_m:,.0f} m grid. Black outlines: hot-spot cells at 95% "
                    "confidence or more.",
                ),
                html.P(
                    "A density picture is not a test: dense areas are not necessarily "
                    "significant hot spots. Decide with the hot-spot map.",
                    className="text-muted",
                ),
            ]
        )
    else:
        area = hs.study_area(services.settings.database_url, read_model, result.resolution)
        geometry = hs.map_geojson(drawn, area.grid)
        figure = hotspot_map(
            drawn,
            geometry,
            mode=params.mode,
            outline=result.outline,
            bounds=hs.grid_bounds(area.grid),
            uirevision=uirevision,
        )
        if params.mode == "emerging" and "category" in result.cells:
            legend_box = legend(
                category_legend_rows(result.cells),
                title="Pattern over time",
                note="Hover a row for the rule. Hot/cold in a step means significant at 90% "
                "confidence (false-discovery-rate corrected).",
            )
        else:
            legend_box = legend(
                bin_legend_rows(result.cells, params.mode),
                title="Confidence",
                heading=legend_heading(params.mode),
                note=LEGEND_NOTES[params.mode],
            )
    every_hot = result.hot()
    # A cell can be hot for its neighbours' requests alone; with none of its own (in the late
    # and share modes: no late request of its own) there is nothing to act on there: on the map
    # and in the downloads, not in the work list.
    hot = result.work_list(every_hot)
    without = len(every_hot) - len(hot)
    noun = result.measure.noun
    table_note = (
        f"{len(hot):,} {'cell' if len(hot) == 1 else 'cells'}, {TABLE_ORDER[params.mode]}"
        + (f"; the first {min(len(hot), 50)} are shown" if len(hot) > 50 else "")
        + ". The downloads hold all of them, in this order, with every column (z, p, q, bin)."
        + (
            f" {without:,} more hot {'cell has' if without == 1 else 'cells have'} no "
            f"{noun.removesuffix('s')} of {'its' if without == 1 else 'their'} own (hot for "
            "their neighbours'): on the map and in the downloads."
            if without
            else ""
        )
        if len(every_hot)
        else ""
    )
    return {
        "figure": figure,
        "legend": legend_box,
        "method": method_line(meta),
        "summary": _summary(result),
        "notice": notes or None,
        "table": ranked_table(hot, mode=params.mode),
        "table_note": table_note,
        "search": params.to_query(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "all"


def download(services: Services, params: hs.HotspotParams, fmt: str) -> dict[str, Any] | None:
    """The work list (hot cells) as CSV or GeoJSON: ``{"content", "filename"}``."""
    if not params.type:
        return None
    result = hs.analyse(services.read_model, params, database_url=services.settings.database_url)
    hot = result.hot()
    stem = f"hotspots-{_slug(params.type)}-{params.mode}"
    if params.start and params.end:
        stem += f"-{params.start:%Y%m%d}-{params.end:%Y%m%d}"
    if fmt == "csv":
        return {"content": hs.to_csv(result, hot), "filename": stem + ".csv"}
    return {"content": json.dumps(hs.to_geojson(result, hot)), "filename": stem + ".geojson"}


def download_answer(services: Services, params: hs.HotspotParams, fmt: str) -> tuple[Any, Any]:
    """The CSV and GeoJSON buttons' answer: ``(download, notice)``. The export is audited before
    it is handed out; while a load holds the store's write lock that cannot be written, so there
    is no download and the notice says the dashboard is busy. The next answer clears it."""
    try:
        out = download(services, params, fmt)
    except (hs.HotspotError, QueryError, SnapshotMissingError) as exc:
        log.info("hot-spot download refused: %s", exc)
        return no_update, None
    if out is None:
        return no_update, None
    try:
        audit_export(
            "hotspots",
            format=fmt,
            type=params.type,
            department=params.department,
            mode=params.mode,
            query=params.to_query(),
        )
    except StoreBusy:
        return no_update, busy_notice()
    return dcc.send_string(out["content"], out["filename"]), None


CONTROLS = (
    Input(Ids.TYPE, "value"),
    Input(Ids.DEPARTMENT, "value"),
    Input(Ids.DATES_START, "value"),
    Input(Ids.DATES_END, "value"),
    Input(Ids.RESOLUTION, "value"),
    Input(Ids.MODE, "value"),
    Input(Ids.STEP, "value"),
    Input(Ids.VIEW, "value"),
)


def _params(values: tuple) -> hs.HotspotParams:
    type_, department, start, end, resolution, mode, step, view = values
    return params_from_controls(
        type_=type_,
        department=department,
        start=start,
        end=end,
        resolution=resolution,
        mode=mode,
        step=step,
        view=view,
    )


def link_notice(
    read_model: ReadModel, options: dict[str, Any], *, names: DepartmentNames | None = None
) -> Any:
    """Why the link's request type or department (``page_options``' ``type_dropped`` and
    ``department_dropped``) is not the one shown, or None. A department user is told a type is
    not among their departments' request types, in the same words whether or not the data has
    it elsewhere; the department, as the Requests page says it."""
    notices = []
    asked = options.get("type_dropped")
    if asked:
        scope = hs.scope_of(read_model)
        where = "the request types of your departments" if scope else "the data"
        shown = f": showing {options['type']} instead" if options.get("type") else ""
        notices.append(
            dbc.Alert(
                [
                    html.I(className="bi bi-funnel me-2", **{"aria-hidden": "true"}),
                    f"The link's request type “{asked}” is not among {where}{shown}.",
                ],
                color="warning",
                className="small py-2",
            )
        )
    department = options.get("department_dropped")
    if department:
        notices.append(department_filter_notice(read_model, [department], names=names))
    return notices or None


def register(app: Dash, services: Services) -> None:
    read_model = services.read_model

    @app.callback(
        Output(Ids.TYPE, "options"),
        Output(Ids.TYPE, "value"),
        Output(Ids.DEPARTMENT, "options"),
        Output(Ids.DEPARTMENT, "value"),
        Output(Ids.DEPARTMENT, "placeholder"),
        Output(Ids.DEPARTMENT_SCOPE, "children"),
        *date_range_outputs(Ids.DATES_START, Ids.DATES_END),
        Output(Ids.RESOLUTION, "value"),
        Output(Ids.MODE, "value"),
        Output(Ids.STEP, "value"),
        Output(Ids.VIEW, "value"),
        Output(Ids.LINK_NOTICE, "children"),
        Input(Ids.STATE, "data"),
    )
    def _init(query: str | None) -> tuple[Any, ...]:
        o = page_options(read_model, query, names=services.departments)
        return (
            o["type_options"],
            o["type"],
            # The Department select: its first option "" (no department: all the user may
            # see) in the placeholder's words, then the departments.
            department_choices(o["department_placeholder"], o["department_options"]),
            o["department"] or "",
            o["department_placeholder"],
            o["department_note"],
            *date_range_values(o["min_date"], o["max_date"], o["start"], o["end"]),
            o["resolution"],
            o["mode"],
            o["step"],
            o["view"],
            link_notice(read_model, o, names=services.departments),
        )

    @app.callback(Output(Ids.STEP_BOX, "style"), Input(Ids.MODE, "value"))
    def _step_box(mode: str | None) -> dict[str, str]:
        return {} if mode == "emerging" else {"display": "none"}

    @app.callback(
        Output(Ids.MAP, "figure"),
        Output(Ids.LEGEND, "children"),
        Output(Ids.METHOD, "children"),
        Output(Ids.SUMMARY, "children"),
        Output(Ids.NOTICE, "children"),
        Output(Ids.TABLE, "children"),
        Output(Ids.TABLE_NOTE, "children"),
        Output(Ids.URL, "search"),
        *CONTROLS,
    )
    def _update(*values: Any) -> tuple:
        view = hotspot_view(services, _params(values))
        return (
            view["figure"],
            view["legend"],
            view["method"],
            view["summary"],
            view["notice"],
            view["table"],
            view["table_note"],
            view["search"] or "?",
        )

    @app.callback(
        Output(Ids.DOWNLOAD, "data"),
        Output(Ids.DOWNLOAD_BUSY, "children"),
        Input(Ids.CSV, "n_clicks"),
        Input(Ids.GEOJSON, "n_clicks"),
        *(State(c.component_id, c.component_property) for c in CONTROLS),
        prevent_initial_call=True,
    )
    def _download(_csv: int | None, _geojson: int | None, *values: Any) -> tuple[Any, Any]:
        fmt = "csv" if ctx.triggered_id == Ids.CSV else "geojson"
        return download_answer(services, _params(values), fmt)
