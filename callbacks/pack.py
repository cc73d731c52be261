"""Stat-meeting pack callbacks: the Overview's numbers for one period, then each department's
page (the department page's questions), as plain values (:func:`pack_model`) and components
(:func:`pack_view`). No SQL here: every number comes from ``dashboard.sla`` and
``dashboard.department``, so the pack says what the Overview and the department pages say."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import flask
import pandas as pd
from dash import Dash, Input, Output, html

from callbacks.department import as_of_label
from callbacks.overview import (
    NO_CASES_IN_SCOPE,
    NO_DATA,
    every_week,
    headline_text,
    link_notice,
    monday,
    outside_the_data,
    overview_model,
    parse_state,
    scope_title,
)
from dashboard import department as dept
from dashboard.errors import SnapshotMissingError
from dashboard.queries import CaseFilter
from dashboard.services import Services
from dashboard.sla import Tier, tier_order, weekly
from layouts import pack as ui

log = logging.getLogger(__name__)

#: The most overdue cases first (the department page's default order).
_MOST_OVERDUE = [{"colId": "days_overdue", "sort": "desc"}]


def _last_weeks(
    services: Services, end: Any, flt: CaseFilter, as_of: pd.Timestamp, first_day: Any = None
) -> Any:
    """The :data:`~layouts.pack.WEEKS` weeks (Mondays) up to the week of ``end``, each present
    (fewer due than the policy's minimum count: no compliance; nothing opened: 0); the last one
    counts up to ``end`` (``through``: a partial week when ``end`` is not a Sunday). Weeks
    wholly before ``first_day`` (the data's first day) are left out, not shown as zeros."""
    first = monday(end) - pd.Timedelta(weeks=ui.WEEKS - 1)
    frame = weekly(services.sla, start=first.date(), end=end, flt=flt, as_of=as_of)
    return every_week(
        frame, end=end, start=first, min_count=services.policy.min_count, first_day=first_day
    )


def department_values(
    services: Services,
    card: dict[str, Any],
    period: Any,
    *,
    as_of: pd.Timestamp,
    first_day: Any = None,
) -> dict[str, Any]:
    """One department's page of the pack: its Overview card, its request types (those with
    anything due, opened or open), its last weeks, open cases by age, most overdue cases and
    busiest repeat locations."""
    scope = dept.make_scope(services, card["department"], period, as_of=as_of)
    types = dept.types_report(services, scope)
    types = types[(types["due"] > 0) | (types["volume"] > 0) | (types["open_backlog"] > 0)]
    # Under the minimum count no percentage is shown, as on the department page.
    types = tier_order(types).assign(
        compliance=lambda t: t["compliance"].where(t["tier"] != str(Tier.NOT_ENOUGH))
    )
    overdue = dept.overdue_cases(
        services, scope, sort_by=_MOST_OVERDUE, page=0, page_size=ui.OVERDUE_ROWS
    )
    return {
        "card": card,
        "period_label": period.label(),
        "as_of_label": as_of_label(scope, services.settings.timezone),
        "types": types,
        "min_count": services.policy.min_count,
        "weekly": _last_weeks(services, period.end, scope.flt, as_of, first_day),
        "ages": dept.aging(services, scope),
        "overdue": overdue,
        "repeats": dept.repeat_locations(services, scope, limit=ui.REPEAT_ROWS),
    }


def pack_model(
    services: Services, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """Every number of the pack for an Overview query (period, date, departments).

    ``status`` is ``"ok"``, ``"no-data"`` (no snapshot yet), ``"no-cases-in-scope"`` (none of
    its cases is one the user may see) or ``"outside"`` (nothing opened
    or due in the period; ``first``/``last`` give the data's range)."""
    try:
        options = services.read_model.options()
    except SnapshotMissingError:
        return {"status": "no-data"}
    if options["max_date"] is None:  # none of the snapshot's cases is one the user may see
        return {"status": "no-cases-in-scope"}
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    period, departments = parse_state(query, default_anchor=options["max_date"])
    known = set(options["departments"])
    departments = list(dict.fromkeys(d for d in departments if d in known))
    overview = overview_model(
        services, period, departments, as_of=as_of, first_day=options["min_date"]
    )
    base = {"period_label": period.label(), "first": options["min_date"]}
    base["last"] = options["max_date"]
    if outside_the_data(period, overview["totals"], options):
        return {**base, "status": "outside"}
    scope = services.read_model.scope() if services.read_model.scope is not None else None
    tz = services.settings.timezone
    cards = overview["cards"]
    cut = dept.Scope(
        department="", period=period, as_of=as_of, cut=min(dept.end_instant(period.end, tz), as_of)
    )
    return {
        **base,
        "status": "ok",
        "previous_label": overview["previous"].label(),
        "as_of_label": as_of_label(cut, tz),
        "prepared": f"{as_of.tz_convert(tz):%d %b %Y %H:%M %Z}",
        "headline": headline_text(
            period,
            overview["previous"],
            overview["totals"],
            min_count=services.policy.min_count,
            compared=overview["compared"],
        ),
        "compared": overview["compared"],
        "min_count": services.policy.min_count,
        "scope_title": scope_title(services, departments, scope),
        "cards": cards,
        "department_changes": overview["department_changes"],
        "type_changes": overview["type_changes"],
        "weekly": _last_weeks(
            services,
            period.end,
            CaseFilter(departments=tuple(departments)),
            as_of,
            options["min_date"],
        ),
        "sections": [
            department_values(services, card, period, as_of=as_of, first_day=options["min_date"])
            for card in cards
        ],
    }


def pack_view(services: Services, query: str | None, *, as_of: pd.Timestamp | None = None) -> Any:
    """The page's content for one query: the pack, or an explanation of why there is none."""
    model = pack_model(services, query, as_of=as_of)
    if model["status"] == "no-data":
        return ui.empty("Stat-meeting pack", NO_DATA, color="info")
    if model["status"] == "no-cases-in-scope":
        return ui.empty("Stat-meeting pack", NO_CASES_IN_SCOPE, color="info")
    if model["status"] == "outside":
        return ui.empty(
            f"Stat-meeting pack: {model['period_label']}",
            f"No cases were due or opened in {model['period_label']}. The data runs from "
            f"{model['first']} to {model['last']}: pick a period in that range on the Overview.",
            color="secondary",
        )
    # A link's department that could not be applied is explained on screen (not on paper).
    notice = link_notice(services, query)
    content = ui.content(model)
    return content if notice is None else [html.Div(notice, className="no-print"), *content]


PRINT = """
function(n) {
    if (n) { window.print(); }
    return window.dash_clientside.no_update;
}
"""


def safe_view(services: Services, search: str | None) -> Any:
    """:func:`pack_view`, or a message saying it failed (the error goes to the log)."""
    try:
        return pack_view(services, search)
    except Exception:
        log.exception("stat-meeting pack failed for %r", search)
        return ui.empty(
            "Stat-meeting pack",
            "The pack could not be prepared. The error is in the server's log.",
            color="danger",
        )


def page_layout(services: Services) -> Callable[..., Any]:
    """The page's layout function for Dash Pages: the page with its pack, for the signed-in
    user's scope (Dash Pages calls it in the user's request, with the link's query)."""

    def layout(**query: Any) -> Any:
        search = ui.search_of(query)
        if not flask.has_request_context():  # the app's own check of its layouts
            return ui.layout(**query)
        return ui.page(search, safe_view(services, search))

    return layout


def register(app: Dash, services: Services) -> None:
    app.clientside_callback(
        PRINT, Output(ui.Ids.PRINT_SINK, "data"), Input(ui.Ids.PRINT, "n_clicks")
    )
