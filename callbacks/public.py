"""Public portal callbacks: thin (parse inputs -> one :class:`PublicData` call -> one layout
builder). The work is in plain functions (:func:`route`, :func:`track_target`, :func:`map_view`)
that tests call directly; :func:`register` wires them to the public Dash app."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

import dash
from dash import Dash, Input, Output, State, html, no_update

from dashboard.departments import DepartmentNames
from dashboard.errors import SnapshotMissingError
from dashboard.public import MAP_WINDOWS, MAX_ID_LENGTH, PublicData
from layouts import public as ui
from layouts.figures import empty_figure
from layouts.public import Ids

log = logging.getLogger(__name__)

_VALID_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


def _title(page: str) -> str:
    return f"{page} · {ui.TITLE}"


def normalise_number(raw: str | None) -> tuple[str | None, str | None]:
    """(tracking number, problem): spaces and a leading ``#`` are dropped."""
    text = re.sub(r"\s+", "", raw if isinstance(raw, str) else "").lstrip("#")
    if not text:
        return None, "Enter a tracking number."
    if len(text) > MAX_ID_LENGTH or not _VALID_NUMBER.match(text):
        return None, "A tracking number has only letters and digits, e.g. 101000295613."
    return text, None


def track_action(clicks: Any, submits: Any, raw: str | None) -> tuple[Any, Any]:
    """The Track form's callback: :func:`track_target` once the button was pressed or Enter
    typed; nothing while neither happened (the form drawn with the page fires the callback
    too, and said "Enter a tracking number." before anyone had typed)."""
    if not clicks and not submits:
        return no_update, no_update
    return track_target(raw)


def track_target(raw: str | None) -> tuple[Any, str]:
    """The URL path a lookup goes to (or no change) and the message under the form."""
    number, problem = normalise_number(raw)
    if number is None:
        return no_update, problem or ""
    return ui.request_path(number), ""


def route(
    data: PublicData,
    pathname: str | None,
    *,
    now: datetime | None = None,
    names: DepartmentNames | None = None,
):
    """(page content, page title) for a path under ``/public/``. ``names``: the departments'
    names, shown with their codes (default: the codes alone)."""
    now = now or datetime.now(UTC)
    names = names or DepartmentNames()
    if not isinstance(pathname, str):  # what a hand-made request may post: not a page
        return ui.page_not_found(""), _title("Page not found")
    path = (pathname or ui.BASE).split("?")[0]
    rest = path[len(ui.BASE) :] if path.startswith(ui.BASE) else path.lstrip("/")
    rest = rest.removeprefix("public").strip("/") if rest.startswith("public") else rest
    if rest in {"", "track"}:
        return ui.track_page(""), _title("Track a request")
    if rest.startswith("requests/"):
        number = unquote(rest.removeprefix("requests/")).strip()
        records = data.lookup_all(number) if number else []
        records = [{**r, "department_label": names.label(r.get("department"))} for r in records]
        if not records:
            return ui.track_page(number, ui.not_found(number)), _title("Request not found")
        until, as_of = data.counted_to(now)
        return ui.track_page(number, ui.request_cards(records, data.tz, until, as_of)), _title(
            f"Request {records[0]['request_id']}"
        )
    if rest == "map":
        catalogue = data.catalogue()
        if catalogue["last"] is None:
            return ui.no_data(), _title("Map")
        return ui.map_page(catalogue["types"], default_days=30, windows=MAP_WINDOWS), _title("Map")
    if rest == "performance":
        try:
            model = data.performance()
        except SnapshotMissingError:
            model = {"end": None}
        if model.get("departments"):
            model = {
                **model,
                "departments": [
                    {**item, "department_name": names.name(item["department"])}
                    for item in model["departments"]
                ],
            }
        return ui.performance_page(model), _title("City performance")
    return ui.page_not_found(path), _title("Page not found")


def map_view(
    data: PublicData, service_name: str | None, days: Any, view: str | None, viewport: Any = None
) -> tuple[Any, Any, Any]:
    """(figure, summary, table) of the public map for the controls' values."""
    try:
        window = int(days)
    except (TypeError, ValueError):
        window = MAP_WINDOWS[0]
    result = data.map_data(
        service_name=service_name if isinstance(service_name, str) else None,
        days=window,
        view=view if isinstance(view, str) else "area",
    )
    if result["start"] is None:
        return empty_figure("No data yet."), result["note"] or "", ui.table(result["frame"], [])
    what = service_name if isinstance(service_name, str) and service_name else "All requests"
    period = (
        f"{result['start'].day} {result['start']:%b %Y} – {result['end'].day} {result['end']:%b %Y}"
    )
    summary = [f"{what}: {result['total']:,} in {period}."]
    if result["note"]:
        summary.append(" " + result["note"])
    frame = result["frame"]
    width = ui.plot_width(viewport)
    if (
        frame.empty
        and result["view"] in {"points", "cell"}
        and isinstance(service_name, str)
        and data.config.is_sensitive(service_name)
    ):
        # Not "no requests with a location": this type's requests are published by area only.
        by_area = (
            f"{service_name} requests are shown by area only: choose "
            "\u201cBy area\u201d under Show to see them."
        )
        return empty_figure(by_area), summary, html.P(by_area)
    if result["view"] == "points":
        figure = ui.points_map(frame, result.get("geojson"), width=width)
        table = ui.table(
            frame.assign(
                requested=frame["requested_local"].astype(str).str[:10] if not frame.empty else []
            ),
            [
                ("request_id", "Request"),
                ("service_name", "Type"),
                ("status", "Status"),
                ("requested", "Requested"),
            ],
        )
    elif result["view"] == "cell":
        figure = ui.count_map(
            frame, result["geojson"], key="cell", width=width, outline=result.get("outline")
        )
        # The area last: on a phone the counts stay in view, the area is a sideways scroll away.
        where = [("area", f"Area ({result['layer']})")] if "area" in frame.columns else []
        table = ui.table(
            frame,
            [("name", "H3 cell"), ("requests", "Requests"), ("open", "Still open"), *where],
        )
    else:
        figure = ui.count_map(frame, result["geojson"], key="name", width=width)
        table = ui.table(
            frame,
            [
                ("name", f"Area ({result['layer']})"),
                ("requests", "Requests"),
                ("open", "Still open"),
            ],
        )
    return figure, summary, table


#: The map's settings when the address names none (and what the address then leaves out).
MAP_DEFAULTS: dict[str, Any] = {"type": None, "days": MAP_WINDOWS[0], "view": "area"}
_MAP_VIEW_VALUES = tuple(value for _, value in ui.MAP_VIEWS)


def map_settings(
    *, type_: Any, days: Any, view: Any, types: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """The map's settings, each checked: a type the data has (else all types), one of the
    offered windows, one of the views; anything else is the default."""
    try:
        window = int(days)
    except (TypeError, ValueError):
        window = MAP_DEFAULTS["days"]
    return {
        "type": type_ if isinstance(type_, str) and type_ in types else None,
        "days": window if window in MAP_WINDOWS else MAP_DEFAULTS["days"],
        "view": view if view in _MAP_VIEW_VALUES else MAP_DEFAULTS["view"],
    }


def map_search(settings: dict[str, Any]) -> str:
    """The query string of the map's settings, defaults left out (``""`` for all defaults)."""
    pairs = [(k, settings[k]) for k in ("type", "days", "view") if settings[k] != MAP_DEFAULTS[k]]
    return "?" + urlencode(pairs) if pairs else ""


def map_settings_from_search(search: Any, *, types: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The map's settings named by a query string (unknown or bad values: the defaults)."""
    query = parse_qs(search.lstrip("?") if isinstance(search, str) else "")
    first = {k: v[0] for k, v in query.items() if v}
    return map_settings(
        type_=first.get("type"), days=first.get("days"), view=first.get("view"), types=types
    )


#: What :func:`map_state` returns values for, in the order of the callback's outputs.
MAP_STATE_OUTPUTS: tuple[tuple[str, str], ...] = (
    (Ids.MAP_URL, "search"),
    (Ids.MAP_TYPE, "value"),
    (Ids.MAP_DAYS, "value"),
    (Ids.MAP_VIEW, "value"),
    (Ids.MAP_GRAPH, "figure"),
    (Ids.MAP_SUMMARY, "children"),
    (Ids.MAP_TABLE, "children"),
)


def map_state(
    data: PublicData,
    *,
    triggered: set[str],
    search: Any,
    type_: Any,
    days: Any,
    view: Any,
    viewport: Any = None,
) -> list[Any]:
    """The address, the controls and the map, kept in step (one callback owns all three).

    A control changed: the map follows the controls and the address is rewritten to match.
    Otherwise (the page opened, or Back/Forward changed the address): the controls and the map
    follow the address."""
    types = data.catalogue()["types"]
    by_control = bool(triggered & {f"{Ids.MAP_TYPE}.value", f"{Ids.MAP_DAYS}.value",
                                   f"{Ids.MAP_VIEW}.value"})  # fmt: skip
    if by_control and f"{Ids.MAP_URL}.search" not in triggered:
        chosen = map_settings(type_=type_, days=days, view=view, types=types)
        wanted = map_search(chosen)
        address = wanted if wanted != (search or "") else no_update
        controls = [no_update, no_update, no_update]
    else:
        chosen = map_settings_from_search(search, types=types)
        address = no_update
        # The type box's "All request types" is "" (a native select has no empty value).
        controls = [chosen["type"] or "", str(chosen["days"]), chosen["view"]]
    try:
        shown = map_view(data, chosen["type"], chosen["days"], chosen["view"], viewport)
    except SnapshotMissingError:
        shown = (empty_figure("No data yet."), "No data has been published yet.", "")
    return [address, *controls, *shown]


def register(app: Dash, data: PublicData) -> None:
    names = data.departments

    @app.callback(
        Output(Ids.CONTENT, "children"),
        Output(Ids.TITLE, "data"),
        Input(Ids.URL, "pathname"),
    )
    def _route(pathname: str | None) -> tuple[Any, str]:
        return route(data, pathname, names=names)

    app.clientside_callback(
        "function(path) { return window.innerWidth; }",
        Output(Ids.VIEWPORT, "data"),
        Input(Ids.URL, "pathname"),
    )

    app.clientside_callback(
        "function(title) { if (title) { document.title = title; } return ''; }",
        Output(Ids.TITLE_SINK, "children"),
        Input(Ids.TITLE, "data"),
    )

    @app.callback(
        Output(Ids.URL, "pathname"),
        Output(Ids.FEEDBACK, "children"),
        Input(Ids.TRACK, "n_clicks"),
        Input(Ids.NUMBER, "n_submit"),
        State(Ids.NUMBER, "value"),
        prevent_initial_call=True,
    )
    def _track(clicks: Any, submits: Any, value: str | None) -> tuple[Any, Any]:
        return track_action(clicks, submits, value)

    @app.callback(
        [Output(i, p) for i, p in MAP_STATE_OUTPUTS],
        Input(Ids.MAP_URL, "search"),
        Input(Ids.MAP_TYPE, "value"),
        Input(Ids.MAP_DAYS, "value"),
        Input(Ids.MAP_VIEW, "value"),
        State(Ids.VIEWPORT, "data"),
    )
    def _map(search: Any, service_name: Any, days: Any, view: Any, viewport: Any) -> list[Any]:
        # Dash lets a callback write its own inputs: the address, the controls and the map
        # cannot disagree or race each other.
        return map_state(
            data,
            triggered=set(dash.ctx.triggered_prop_ids),
            search=search,
            type_=service_name,
            days=days,
            view=view,
            viewport=viewport,
        )

    @app.callback(
        Output(Ids.URL, "pathname", allow_duplicate=True),
        Input(Ids.MAP_GRAPH, "clickData"),
        prevent_initial_call=True,
    )
    def _open_point(click: Any) -> Any:
        # Only the "each request" view's markers carry a request (4 values of customdata).
        try:
            custom = click["points"][0]["customdata"]
            request_id = str(custom[0]) if len(custom) == 4 else ""
        except (TypeError, KeyError, IndexError):
            raise dash.exceptions.PreventUpdate from None
        if not request_id or len(request_id) > MAX_ID_LENGTH:
            raise dash.exceptions.PreventUpdate
        return ui.request_path(request_id)
