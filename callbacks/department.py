"""Department page callbacks: thin (parse inputs -> queries in dashboard.department -> builders).

The work is in plain functions (:func:`department_view`, :func:`overdue_page`,
:func:`overdue_rows` (the overdue grid's pages), :func:`sort_by_from_model`, :func:`map_view`,
:func:`types_csv`, :func:`overdue_csv` and the download buttons' answers :func:`types_download`
and :func:`overdue_download`, :func:`init_controls`, :func:`query_from_controls`) that tests call
directly; :func:`register` wires them to the app.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard import department as dept
from dashboard import periods
from dashboard.auth import StoreBusy, audit_export
from dashboard.errors import SnapshotMissingError
from dashboard.periods import Period
from dashboard.queries import QueryError
from dashboard.services import Services
from dashboard.sla import Tier, no_service_level
from dashboard.spreadsheet import safe_frame
from layouts import department_figures as figures
from layouts.components import busy_notice
from layouts.department import (
    OVERDUE_PAGE_SIZE,
    Ids,
    announcement,
    heading,
    problem_heading,
    tier_cell,
    tier_label,
)
from layouts.figures import empty_figure, plural
from layouts.tables import Cell, static_table

log = logging.getLogger(__name__)

NO_DATA = (
    "No data loaded yet. Load an export with `stat311 ingest PATH` (or start with `make run`, "
    "which loads the bundled Boston sample)."
)
NO_LAYERS = (
    "No boundary layers are loaded, so there is no map. Add one with `stat311 boundaries add "
    "FILE --layer NAME --name-field FIELD`."
)
MAX_LISTED = 40
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}


def _none(value: Any) -> Any:
    """NaN/NA -> None, numpy scalars -> Python (JSON-safe)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _none(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "") if names else "none"


# -- URL state ------------------------------------------------------------------------------------
def select_text(value: Any) -> str | None:
    """A native select's value (``dbc.Select``) as text: None for nothing chosen (its
    placeholder's ""); a number as its digits. The value check lets a select send text or a
    whole number (the public map's periods are numbers), where a Dash dropdown of this app could
    send text only: the callbacks must not fail on a crafted ``5``."""
    if value is None or isinstance(value, bool):
        return None
    return str(value).strip()[:200] or None


def query_layer(query: str | None) -> str | None:
    for key, value in parse_qsl((query or "").lstrip("?")):
        if key == "layer" and value:
            return value[:200]
    return None


def parse_period(query: str | None, *, default_anchor: date) -> Period:
    return periods.from_query(query or "", default_anchor=default_anchor)


def query_from_controls(
    kind: str | None,
    day: str | None,
    start: str | None,
    end: str | None,
    layer: str | None = None,
    *,
    default_layer: str | None = None,
) -> str:
    """The query string of the controls' values (``layer`` only when not the default). A date
    box sends "" while it is empty or half typed: no date, as a picker's None was."""
    day, start, end = periods.box_day(day), periods.box_day(start), periods.box_day(end)
    pairs = [("period", kind or "month")]
    if kind == "custom" and start and end:
        pairs += [("from", str(start)[:10]), ("to", str(end)[:10])]
    elif day:
        # Custom without both dates yet: stay on the month of the day shown until they are picked.
        pairs.append(("date", str(day)[:10]))
    if layer and layer != default_layer:
        pairs.append(("layer", layer))
    return "?" + urlencode([p for p in pairs if p])


def custom_dates(
    kind: str | None,
    start: str | None,
    end: str | None,
    search: str | None,
    *,
    default_anchor: date,
) -> tuple[str, str] | None:
    """The From and To boxes' texts when "Custom" is picked with both boxes empty: the
    period shown (the address's, before the change), from its first to its last day, as the
    Overview starts it. None: nothing to fill (another kind, or dates already there)."""
    if kind != "custom" or (periods.box_day(start) and periods.box_day(end)):
        return None
    shown = parse_period(search, default_anchor=default_anchor)
    return periods.box_text(shown.start), periods.box_text(shown.end)


def _current_query(
    kind: str | None, day: str | None, start: str | None, end: str | None, initial: str | None
) -> str:
    """The controls' period, or the URL the page was opened with before they are set."""
    if kind is None:
        return initial or ""
    return query_from_controls(kind, day, start, end)


def init_controls(read_model: Any, query: str | None) -> dict[str, Any]:
    """Control values from the URL the page was opened with (unknown values dropped)."""
    try:
        cat = dept.catalogue(read_model)
        layers = dept.layers(read_model)
    except SnapshotMissingError:
        return {
            "kind": "month",
            "date": None,
            "start": None,
            "end": None,
            "min_date": None,
            "max_date": None,
            "layer_options": [],
            "layer": None,
        }
    period = parse_period(query, default_anchor=cat["max_date"])
    custom = period.kind == "custom"
    wanted = query_layer(query)
    if wanted is None:
        layer = layers[0] if layers else None
    else:
        layer = dept.resolve_layer(read_model, wanted)
    return {
        "kind": period.kind,
        "date": period.start,  # kept for custom too: switching back keeps the place
        "start": period.start if custom else None,
        "end": period.end if custom else None,
        "min_date": cat["min_date"],
        "max_date": cat["max_date"],
        "layer_options": [{"label": name, "value": name} for name in layers],
        "layer": layer,
    }


# -- the department and period a request is about ---------------------------------------------
def _department_links(services: Services, codes: list[str], query: str | None) -> list[Any]:
    """Links to the departments ``codes`` (named as the names file names them), comma-separated,
    at most ``MAX_LISTED`` of them; "none" for no code."""
    items: list[Any] = []
    for i, code in enumerate(codes[:MAX_LISTED]):
        link = dcc.Link(
            services.departments.label(code),
            href=f"/department/{quote(code, safe='')}{query or ''}",
        )
        items += [", ", link] if i else [link]
    if len(codes) > MAX_LISTED:
        items.append(f" and {len(codes) - MAX_LISTED} more")
    return items or ["none"]


def unknown_department(
    services: Services, code: str | None, query: str | None, known: list[str]
) -> dbc.Alert:
    """Why the department of the link is not shown.

    A department user (a scope) asking for a code outside their scope is told exactly that,
    in the same words whether or not the code is in the data: the page must not tell them
    which other departments exist. Everyone else (and a department user asking for one of
    their own codes that has no cases) is told the code is not in the data."""
    shown = dept.clean_code(code)
    scope = dept.viewer_scope(services.read_model)
    if scope is not None and shown and shown not in scope:
        title = f"{shown} is not one of the departments you can see"
        hint = ""
    else:
        title = f"No department {shown or '(none given)'} in the data"
        hint = "Check the link: department codes are case-sensitive. "
    listed = sorted(scope) if scope is not None else known
    return dbc.Alert(
        [
            html.H2(title, className="h5"),
            html.P(
                [
                    hint
                    + ("Departments you can see: " if scope is not None else "Known departments: "),
                    *_department_links(services, listed, query),
                    ".",
                ],
                className="mb-0",
            ),
        ],
        color="warning",
        className="department-unknown",
    )


def resolve(
    services: Services, code: str | None, query: str | None, *, as_of: pd.Timestamp | None = None
) -> tuple[dept.Scope | None, Any]:
    """``(scope, None)`` for a department the caller may see, else ``(None, explanation)``."""
    try:
        known_code, known = dept.resolve_department(services.read_model, code)
        cat = dept.catalogue(services.read_model)
    except SnapshotMissingError:
        return None, dbc.Alert(NO_DATA, color="info")
    if known_code is None:
        return None, unknown_department(services, code, query, known)
    period = parse_period(query, default_anchor=cat["max_date"])
    return dept.make_scope(services, known_code, period, as_of=as_of), None


def as_of_label(scope: dept.Scope, timezone: str) -> str:
    if scope.cut < scope.as_of:
        return f"at the end of {scope.period.end:%d %b %Y}"
    now = scope.as_of.tz_convert(timezone)
    return f"now, {now:%d %b %Y %H:%M}"


def heading_values(
    services: Services, scope: dept.Scope, *, lines: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Plain values for the heading (tier, compliance vs target, change, backlog...), from
    ``lines`` (:func:`dashboard.department.summary`; asked here when not given)."""
    if lines is None:
        lines = dept.summary(services, scope)
    current, previous = lines["current"], lines["previous"]
    target = services.policy.target_for(department=scope.department)
    values: dict[str, Any] = {
        "department": scope.department,
        "department_name": services.departments.name(scope.department),
        "period_label": scope.period.label(),
        "tier": str(Tier.NOT_ENOUGH),
        "compliance": None,
        "target": target,
        "due": 0,
        "on_time": 0,
        "change": None,
        "volume": 0,
        "open_backlog": 0,
        "overdue_open": 0,
        "median_days": None,
        "p90_days": None,
        "min_count": services.policy.min_count,
        "as_of_label": as_of_label(scope, services.settings.timezone),
        "no_due_times": False,
    }
    if current is None:
        return values
    judged = current["tier"] != str(Tier.NOT_ENOUGH)
    values.update(
        tier=str(current["tier"]),
        compliance=_none(current["compliance"]) if judged else None,
        target=float(current["target"]),
        due=int(current["due"]),
        on_time=int(current["on_time"]),
        volume=int(current["volume"]),
        open_backlog=int(current["open_backlog"]),
        overdue_open=int(current["overdue_open"]),
        median_days=_none(current["median_days"]),
        p90_days=_none(current["p90_days"]),
        no_due_times=no_service_level(current),
    )
    if (
        judged
        and previous is not None
        and previous["tier"] != str(Tier.NOT_ENOUGH)
        and _none(previous["compliance"]) is not None
    ):
        values["change"] = 100 * (float(current["compliance"]) - float(previous["compliance"]))
    return values


# -- tables -------------------------------------------------------------------------------------
def types_frame(report: pd.DataFrame) -> pd.DataFrame:
    """The request types table: one row per type, compliance blank under the minimum count."""
    frame = report.rename(columns={"group": "type"}).copy()
    thin = frame["tier"] == str(Tier.NOT_ENOUGH)
    frame["compliance"] = frame["compliance"].where(~thin)
    return frame[
        [
            "type",
            "tier",
            "compliance",
            "target",
            "due",
            "on_time",
            "volume",
            "median_days",
            "p90_days",
            "open_backlog",
            "overdue_open",
        ]
    ].reset_index(drop=True)


def types_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = _records(frame)
    for row in records:
        row["tier"] = tier_label(row["tier"])
    return records


def overdue_frame(cases: pd.DataFrame) -> pd.DataFrame:
    """Overdue cases as shown and exported: local times to the minute, days to 0.1."""
    frame = cases.copy()
    for name in ("opened", "due"):
        frame[name] = pd.to_datetime(frame[name]).dt.strftime("%Y-%m-%d %H:%M")
    frame["days_overdue"] = frame["days_overdue"].astype(float).round(1)
    frame["address"] = frame["address"].fillna("")
    return frame[["request_id", "type", "address", "opened", "due", "days_overdue"]]


def _plain_table(frame: pd.DataFrame, headers: dict[str, str]) -> Any:
    if frame.empty:
        return html.P("No rows.")
    return static_table(
        list(headers.values()),
        ([_td(row[key]) for key in headers] for row in frame.to_dict("records")),
    )


#: A cell that starts with a date ("2011-11-28 (partial: 4 days)") keeps it on one line too.
_STARTS_WITH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _td(value: Any) -> Cell | str:
    """A table cell of ``value`` as :func:`_cell` writes it. A date never breaks across lines
    (the browser would break "2011-12-01" at a hyphen when a long neighbour squeezes its
    column); the table scrolls sideways instead (``table-responsive``)."""
    if isinstance(_none(value), pd.Timestamp | date) or (
        isinstance(value, str) and _STARTS_WITH_DATE.match(value)
    ):
        return Cell(_cell(value), class_name="text-nowrap")
    return _cell(value)


def _cell(value: Any) -> str:
    value = _none(value)
    if value is None:
        return "–"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _series_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.P("No rows.")
    shown = frame.assign(
        compliance=100 * frame["compliance"], week=figures.week_labels(frame, short=True)
    )
    return _plain_table(
        shown,
        {
            "type": "Request type",
            "week": "Week starting",
            "volume": "Opened",
            "due": "Due",
            "on_time": "On time",
            "compliance": "Compliance (%)",
        },
    )


def _aging_table(frame: pd.DataFrame) -> Any:
    """Open cases per age (rows, then "All ages") and state (columns, then "Total"); the "no
    due time" column only when it has any. ``frame`` is :func:`dashboard.department.aging`'s
    (every bucket x state), summed here in Python (a pandas pivot cost 4 ms of the page)."""
    counts: dict[str, dict[str, int]] = {}
    for bucket, state, n in zip(frame["bucket"], frame["state"], frame["count"], strict=True):
        by_state = counts.setdefault(bucket, {})
        by_state[state] = by_state.get(state, 0) + int(n)
    present = {state for by_state in counts.values() for state in by_state}
    states = [
        s
        for s in dept.AGE_STATES
        if s in present
        and not (s == dept.NO_DUE_TIME and sum(c.get(s, 0) for c in counts.values()) == 0)
    ]
    rows = []
    for bucket, by_state in counts.items():
        row: dict[str, Any] = {"bucket": bucket, **{s: by_state.get(s, 0) for s in states}}
        row["Total"] = sum(row[s] for s in states)
        rows.append(row)
    totals = {"bucket": "All ages", **{s: sum(r[s] for r in rows) for s in [*states, "Total"]}}
    return _plain_table(
        pd.DataFrame([*rows, totals]), {"bucket": "Age", **{s: s for s in [*states, "Total"]}}
    )


def _empty_outputs(notice: Any, heading_children: Any = None) -> dict[str, Any]:
    return {
        "heading": heading_children,
        "announcement": notice if isinstance(notice, str) else "",
        "notice": notice,
        "body_style": HIDDEN,
        "types": [],
        "series": empty_figure(""),
        "series_note": "",
        "series_table": html.P("No rows."),
        "aging": empty_figure(""),
        "aging_table": html.P("No rows."),
        "overdue_summary": "",
    }


def data_range(read_model: Any) -> tuple[date | None, date | None]:
    """The first and last local dates a request was made, in the data the caller may see (the
    date pickers' bounds, from the snapshot's catalogue)."""
    cat = dept.catalogue(read_model)
    return cat["min_date"], cat["max_date"]


def no_cases_notice(services: Services, scope: dept.Scope, *, open_backlog: int = 0) -> str:
    """What to say when nothing of the department was due or opened in the period: the range
    the data covers, and whether the period is outside it."""
    first, last = data_range(services.read_model)
    label = scope.period.label()
    name = services.departments.label(scope.department)
    covers = f"The data runs from {first} to {last} (the first and last days a request was made)"
    if (
        first is not None
        and last is not None
        and (scope.period.end < first or scope.period.start > last)
    ):
        text = (
            f"No cases of {name} in {label}: it is outside the data. {covers}: "
            "pick a period in that range."
        )
    else:
        text = (
            f"No cases of {name} were due or opened in {label}. {covers}: pick "
            "a period in that range, or another department."
        )
    if open_backlog:
        text += (
            f" The open backlog shown ({plural(open_backlog, 'case')}) is what was still open "
            "at the end of the period."
        )
    return text


def department_view(
    services: Services, code: str | None, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """Everything the page shows above the map, for one department and URL query."""
    scope, problem = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return _empty_outputs(problem, problem_heading(code))
    answers = dept.page_answers(services, scope)  # every question at once
    values = heading_values(services, scope, lines=answers.summary)
    types = types_frame(answers.types)
    top, weekly, ages, late = answers.top, answers.weekly, answers.aging, answers.overdue
    label = values["as_of_label"]
    notice = None
    if values["due"] == 0 and values["volume"] == 0:
        notice = dbc.Alert(
            no_cases_notice(services, scope, open_backlog=values["open_backlog"]),
            color="secondary",
            className="department-no-cases",
        )
    return {
        "heading": heading(values),
        "announcement": announcement(values),
        "notice": notice,
        "body_style": SHOWN,
        "types": types_records(types),
        "series": figures.weekly_by_type(weekly, target=values["target"]),
        "series_note": (
            f"The {plural(len(top), 'request type')} opened most in the period. Compliance is "
            "by the "
            f"week cases fell due; weeks with fewer than {services.policy.min_count} cases due "
            "are left out of the compliance line (not enough data). Only the period's days are "
            "counted: a first or last week the period cuts is marked partial."
            if top
            else ""
        ),
        "series_table": _series_table(weekly),
        "aging": figures.aging_histogram(ages, as_of_label=label),
        "aging_table": _aging_table(ages),
        "overdue_summary": (
            f"{plural(late, 'case')} open and past {'its' if late == 1 else 'their'} due "
            f"time, {label}. Longest overdue first; click a column heading to sort."
            if late
            else f"No overdue open cases {label}."
        ),
        "scope": scope,
    }


def repeats_view(
    services: Services, code: str | None, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """The repeat locations section: ``summary`` (a sentence) and ``table``."""
    scope, _ = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return {"summary": "", "table": html.P("No rows.")}
    frame = dept.repeat_locations(services, scope)
    label = scope.period.label()
    if frame.empty:
        return {
            "summary": f"No address had {dept.REPEAT_MIN} or more of {scope.department}'s "
            f"requests in {label}.",
            "table": None,
        }
    places = int(frame["places"].iloc[0])
    shown = f"the {len(frame)} busiest: " if places > len(frame) else ""
    summary = (
        f"{plural(places, 'address', 'addresses')} had {dept.REPEAT_MIN} or more of "
        f"{scope.department}'s requests in {label}; {shown}most requests first."
    )
    headers = {
        "address": "Address",
        "requests": "Requests",
        "still_open": "Still open",
        "types": "Request types",
        "first": "First",
        "last": "Last",
    }
    # The address is each row's header, so a screen reader reads a count with its place.
    table = static_table(
        list(headers.values()),
        (
            [Cell(_cell(row["address"]), class_name="repeat-address")]
            + [_td(row[key]) for key in list(headers)[1:]]
            for row in frame.to_dict("records")
        ),
        row_headers=True,
    )
    return {"summary": summary, "table": table}


def overdue_page(
    services: Services,
    code: str | None,
    query: str | None,
    *,
    page: int = 0,
    page_size: int = OVERDUE_PAGE_SIZE,
    sort_by: list[dict[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """One page of the overdue list: ``data``, ``page_count``, ``page`` (clamped), ``total``."""
    scope, _ = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return {"data": [], "page_count": 0, "page": 0, "total": 0}
    total = dept.overdue_count(services, scope)
    size = max(1, int(page_size or OVERDUE_PAGE_SIZE))
    count = max(1, math.ceil(total / size))
    page = min(max(0, int(page or 0)), count - 1)
    cases = dept.overdue_cases(services, scope, sort_by=sort_by, page=page, page_size=size)
    return {
        "data": _records(overdue_frame(cases)),
        "page_count": count,
        "page": page,
        "total": total,
    }


def sort_by_from_model(sort_model: Any) -> list[dict[str, str]]:
    """AG Grid's ``sortModel`` (``[{"colId": "address", "sort": "asc"}]``) in the ``sort_by``
    form of :mod:`dashboard.department` (``[{"column_id": ..., "direction": ...}]``).

    Anything else (no sort, junk from a tampered request) is dropped: the server's default
    order (longest overdue first) applies, and unknown columns never reach SQL there."""
    if not isinstance(sort_model, list):
        return []
    return [
        {"column_id": item["colId"], "direction": item["sort"]}
        for item in sort_model
        if isinstance(item, dict)
        and isinstance(item.get("colId"), str)
        and item.get("sort") in ("asc", "desc")
    ]


def _row_index(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return default


def overdue_rows(
    services: Services,
    code: str | None,
    query: str | None,
    request: Any,
    *,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """The rows AG Grid's infinite row model asks for (``getRowsRequest``: ``startRow``,
    ``endRow``, ``sortModel``) as its ``getRowsResponse``: ``rowData`` (one page, sorted and
    cut on the server) and ``rowCount`` (the whole list's length, so the grid knows its pages).

    The grid asks for whole blocks of ``cacheBlockSize`` rows (a page), so ``startRow`` is a
    multiple of ``endRow - startRow``; rows past the end of the list are none."""
    request = request if isinstance(request, dict) else {}
    start = _row_index(request.get("startRow"), 0)
    end = _row_index(request.get("endRow"), start + OVERDUE_PAGE_SIZE)
    size = max(1, min(end - start, 500)) if end > start else OVERDUE_PAGE_SIZE
    page = start // size
    result = overdue_page(
        services,
        code,
        query,
        page=page,
        page_size=size,
        sort_by=sort_by_from_model(request.get("sortModel")),
        as_of=as_of,
    )
    rows = result["data"] if result["page"] == page else []  # past the end: clamped, so none
    return {"rowData": rows, "rowCount": result["total"]}


def _blank_map(figure: Any, *, note: Any = None) -> dict[str, Any]:
    """The map's view when there is no map to draw: ``figure`` says why. (Built only then: an
    empty figure made on every call took about a third of the map's time.)"""
    return {"figure": figure, "note": note, "table": html.P("No rows."), "frame": None}


def map_view(
    services: Services,
    code: str | None,
    query: str | None,
    layer: str | None,
    *,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """The "where are we late" choropleth for a boundary layer: figure, note, table, frame."""
    scope, problem = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return _blank_map(empty_figure(""))
    read_model = services.read_model
    known = dept.layers(read_model)
    if not known:
        return _blank_map(empty_figure("No boundary layers loaded."), note=NO_LAYERS)
    wanted = layer or query_layer(query)
    chosen = dept.resolve_layer(read_model, wanted)
    if chosen is None:
        asked = f"No boundary layer {wanted!r} in the data" if wanted else "No layer picked"
        message = f"{asked}; known layers: {_listing(known)}. Pick one above."
        return _blank_map(empty_figure(message), note=dbc.Alert(message, color="warning"))
    try:
        geojson = dept.area_geojson(services.settings, read_model, chosen)
        names = [f["properties"]["name"] for f in geojson["features"]]
        frame, unplaced = dept.area_compliance(services, scope, chosen, names)
    except QueryError as exc:
        return _blank_map(empty_figure(str(exc)), note=str(exc))
    min_count = services.policy.min_count
    thin = int((frame["tier"] == str(Tier.NOT_ENOUGH)).sum())
    note = [
        f"{scope.period.label()}, by {chosen}. ",
        f"{thin} of {plural(len(frame), 'area')} had fewer than {plural(min_count, 'case')} "
        f"due and {'is' if thin == 1 else 'are'} grey (Not enough data). "
        if thin
        else "",
        f"{plural(unplaced['due'], 'due case')} {'is' if unplaced['due'] == 1 else 'are'} "
        f"outside every area or {'has' if unplaced['due'] == 1 else 'have'} no location."
        if unplaced["due"]
        else "",
    ]
    shown = frame.assign(
        tier_label=[tier_cell(t) for t in frame["tier"]],
        compliance=100 * frame["compliance"],
    )
    rows: list[list[Any]] = [
        [
            row["area"],
            row["tier_label"],
            _cell(row["compliance"]),
            f"{row['due']:,}",
            f"{row['on_time']:,}",
        ]
        for row in shown.to_dict("records")
    ]
    if unplaced["due"]:
        rows.append(
            [
                Cell("Outside every area / no location", em=True),
                "–",
                "–",
                f"{unplaced['due']:,}",
                f"{unplaced['on_time']:,}",
            ]
        )
    table = static_table(("Area", "Tier", "Compliance (%)", "Due", "On time"), rows)
    return {
        "figure": figures.compliance_map(
            frame,
            geojson,
            layer=chosen,
            min_count=min_count,
            target=services.policy.target_for(department=scope.department),
            margin=services.policy.margin,
        ),
        "note": note,
        "table": table,
        "frame": frame,
    }


# -- CSV downloads ------------------------------------------------------------------------------
def _filename(scope: dept.Scope, what: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in scope.department)
    return f"{safe}_{what}_{scope.period.start}_{scope.period.end}.csv"


def types_csv(
    services: Services, code: str | None, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any] | None:
    """The request types table as a CSV download (None for an unknown department)."""
    scope, _ = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return None
    frame = types_frame(dept.types_report(services, scope))
    frame = frame.assign(
        compliance=(100 * frame["compliance"]).round(1),
        target=(100 * frame["target"]).round(1),
        median_days=frame["median_days"].round(2),
        p90_days=frame["p90_days"].round(2),
    ).rename(columns={"compliance": "compliance_pct", "target": "target_pct"})
    audit_export("request_types_csv", department=scope.department, rows=len(frame))
    return dcc.send_data_frame(
        safe_frame(frame).to_csv, _filename(scope, "request_types"), index=False
    )


def overdue_csv(
    services: Services,
    code: str | None,
    query: str | None,
    *,
    sort_by: list[dict[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any] | None:
    """The whole overdue list (every page) as a CSV download, in the table's order."""
    scope, _ = resolve(services, code, query, as_of=as_of)
    if scope is None:
        return None
    frame = overdue_frame(dept.overdue_cases(services, scope, sort_by=sort_by))
    audit_export("overdue_csv", department=scope.department, rows=len(frame))
    return dcc.send_data_frame(safe_frame(frame).to_csv, _filename(scope, "overdue"), index=False)


def download_or_busy(make: Callable[[], dict[str, Any] | None]) -> tuple[Any, Any]:
    """A download button's two outputs, ``(download, notice)``. The export is audited before it
    is handed out; when that cannot be written (a load holds the store's write lock) there is no
    download and the notice says so. The notice is cleared by the next answer."""
    try:
        return make(), None
    except StoreBusy:
        return no_update, busy_notice()


def types_download(
    services: Services, code: str | None, query: str | None, *, as_of: pd.Timestamp | None = None
) -> tuple[Any, Any]:
    """The request types button's answer: ``(types_csv or no_update, busy notice or None)``."""
    return download_or_busy(lambda: types_csv(services, code, query, as_of=as_of))


def overdue_download(
    services: Services,
    code: str | None,
    query: str | None,
    *,
    sort_by: list[dict[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> tuple[Any, Any]:
    """The overdue list button's answer: ``(overdue_csv or no_update, busy notice or None)``."""
    return download_or_busy(
        lambda: overdue_csv(services, code, query, sort_by=sort_by, as_of=as_of)
    )


# -- wiring -------------------------------------------------------------------------------------
# Go to the first page, then drop the cached pages: the grid asks the server for the page it
# shows (``getRowsRequest``), and the callback reads the new period from the controls.
RELOAD_OVERDUE = """
function() {
    dash_ag_grid.getApiAsync(GRID_ID).then(function(api) {
        api.paginationGoToFirstPage();
        api.purgeInfiniteCache();
    }).catch(function() {});
    return window.dash_clientside.no_update;
}
""".replace("GRID_ID", json.dumps(str(Ids.OVERDUE)))

PERIOD_INPUTS = (
    Input(Ids.KIND, "value"),
    Input(Ids.DATE, "value"),
    Input(Ids.RANGE_START, "value"),
    Input(Ids.RANGE_END, "value"),
)
PERIOD_STATES = (
    State(Ids.KIND, "value"),
    State(Ids.DATE, "value"),
    State(Ids.RANGE_START, "value"),
    State(Ids.RANGE_END, "value"),
)


def register(app: Dash, services: Services) -> None:
    read_model = services.read_model

    @app.callback(
        Output(Ids.KIND, "value"),
        Output(Ids.DATE, "value"),
        Output(Ids.DATE, "min"),
        Output(Ids.DATE, "max"),
        Output(Ids.RANGE_START, "value"),
        Output(Ids.RANGE_START, "min"),
        Output(Ids.RANGE_START, "max"),
        Output(Ids.RANGE_END, "value"),
        Output(Ids.RANGE_END, "min"),
        Output(Ids.RANGE_END, "max"),
        Output(Ids.LAYER, "options"),
        Output(Ids.LAYER, "value"),
        Input(Ids.STATE, "data"),
    )
    def _init(query: str | None) -> tuple[Any, ...]:
        o = init_controls(read_model, query)
        # The date boxes hold "YYYY-MM-DD" text (their min and max too), not dates.
        first, last = (
            periods.box_text(o["min_date"]) or None,
            periods.box_text(o["max_date"]) or None,
        )
        return (
            o["kind"],
            periods.box_text(o["date"]),
            first,
            last,
            periods.box_text(o["start"]),
            first,
            last,
            periods.box_text(o["end"]),
            first,
            last,
            o["layer_options"],
            o["layer"],
        )

    @app.callback(Output(Ids.RANGE_BOX, "style"), Input(Ids.KIND, "value"))
    def _range_visible(kind: str | None) -> dict[str, str]:
        return SHOWN if kind == "custom" else HIDDEN

    @app.callback(
        Output(Ids.RANGE_START, "value", allow_duplicate=True),
        Output(Ids.RANGE_END, "value", allow_duplicate=True),
        Input(Ids.KIND, "value"),
        State(Ids.RANGE_START, "value"),
        State(Ids.RANGE_END, "value"),
        State(Ids.URL, "search"),
        prevent_initial_call=True,
    )
    def _custom_starts_as_shown(kind, start, end, search) -> tuple[Any, Any]:
        try:
            anchor = dept.catalogue(read_model)["max_date"] or date.today()
        except SnapshotMissingError:
            anchor = date.today()
        dates = custom_dates(kind, start, end, search, default_anchor=anchor)
        return dates if dates is not None else (no_update, no_update)

    @app.callback(
        Output(Ids.HEADING, "children"),
        Output(Ids.ANNOUNCE, "children"),
        Output(Ids.NOTICE, "children"),
        Output(Ids.BODY, "style"),
        Output(Ids.TYPES, "rowData"),
        Output(Ids.SERIES, "figure"),
        Output(Ids.SERIES_NOTE, "children"),
        Output(Ids.SERIES_TABLE, "children"),
        Output(Ids.AGING, "figure"),
        Output(Ids.AGING_TABLE, "children"),
        Output(Ids.OVERDUE_SUMMARY, "children"),
        *PERIOD_INPUTS,
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
    )
    def _update(kind, day, start, end, code, initial) -> tuple[Any, ...]:
        view = department_view(services, code, _current_query(kind, day, start, end, initial))
        return (
            view["heading"],
            view["announcement"],
            view["notice"],
            view["body_style"],
            view["types"],
            view["series"],
            view["series_note"],
            view["series_table"],
            view["aging"],
            view["aging_table"],
            view["overdue_summary"],
        )

    @app.callback(
        Output(Ids.REPEATS_SUMMARY, "children"),
        Output(Ids.REPEATS_TABLE, "children"),
        *PERIOD_INPUTS,
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
    )
    def _repeats(kind, day, start, end, code, initial) -> tuple[Any, Any]:
        view = repeats_view(services, code, _current_query(kind, day, start, end, initial))
        return view["summary"], view["table"]

    @app.callback(
        Output(Ids.OVERDUE, "getRowsResponse"),
        Input(Ids.OVERDUE, "getRowsRequest"),
        *PERIOD_STATES,
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
        prevent_initial_call=True,  # the grid asks when it is ready
    )
    def _overdue(request, kind, day, start, end, code, initial) -> dict[str, Any]:
        return overdue_rows(services, code, _current_query(kind, day, start, end, initial), request)

    # A new period: the overdue list starts again at its first page, asked of the server anew
    # (in the sort order the grid has).
    app.clientside_callback(
        RELOAD_OVERDUE,
        Output(Ids.OVERDUE, "paginationGoTo"),
        *PERIOD_INPUTS,
        prevent_initial_call=True,
    )

    @app.callback(
        Output(Ids.MAP, "figure"),
        Output(Ids.MAP_NOTE, "children"),
        Output(Ids.MAP_TABLE, "children"),
        Output(Ids.URL, "search"),
        *PERIOD_INPUTS,
        Input(Ids.LAYER, "value"),
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
    )
    def _map(kind, day, start, end, layer, code, initial) -> tuple[Any, ...]:
        layer = select_text(layer)  # the Boundary layer box: a native select
        query = _current_query(kind, day, start, end, initial)
        view = map_view(services, code, query, layer)
        if kind is None:
            search = initial or ""
        else:
            try:
                known = dept.layers(read_model)
            except SnapshotMissingError:
                known = []
            search = query_from_controls(
                kind, day, start, end, layer, default_layer=known[0] if known else None
            )
        return view["figure"], view["note"], view["table"], search

    @app.callback(
        Output(Ids.TYPES_DOWNLOAD, "data"),
        Output(Ids.TYPES_BUSY, "children"),
        Input(Ids.TYPES_CSV, "n_clicks"),
        *PERIOD_STATES,
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
        prevent_initial_call=True,
    )
    def _types_csv(_clicks, kind, day, start, end, code, initial) -> tuple[Any, Any]:
        return types_download(services, code, _current_query(kind, day, start, end, initial))

    @app.callback(
        Output(Ids.OVERDUE_DOWNLOAD, "data"),
        Output(Ids.OVERDUE_BUSY, "children"),
        Input(Ids.OVERDUE_CSV, "n_clicks"),
        *PERIOD_STATES,
        State(Ids.OVERDUE, "getRowsRequest"),
        State(Ids.CODE, "data"),
        State(Ids.STATE, "data"),
        prevent_initial_call=True,
    )
    def _overdue_csv(_clicks, kind, day, start, end, request, code, initial) -> tuple[Any, Any]:
        # The grid's last request carries its current sort order.
        sort_model = request.get("sortModel") if isinstance(request, dict) else None
        return overdue_download(
            services,
            code,
            _current_query(kind, day, start, end, initial),
            sort_by=sort_by_from_model(sort_model),
        )
