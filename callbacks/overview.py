"""Overview (stat meeting) callbacks. The work is in plain functions tested directly."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Dash, Input, Output, State, ctx, html, no_update

from callbacks.requests import department_filter_notice
from dashboard import periods
from dashboard.department import catalogue
from dashboard.errors import SnapshotMissingError
from dashboard.periods import Period, box_day, box_text, parse_day
from dashboard.queries import CaseFilter
from dashboard.services import Services
from dashboard.sla import TIER_STYLE, Tier, no_service_level, run_plans, weekly_plan
from layouts.figures import empty_figure, plural
from layouts.overview import (
    Ids,
    changes_list,
    chart_title,
    department_card,
    department_placeholder,
    overview_figure,
    week_compliance,
    week_label,
)
from layouts.tables import static_table

log = logging.getLogger(__name__)

NO_DATA = (
    "No data loaded yet. Load an export with `stat311 ingest PATH` (or start with `make run`, "
    "which loads the bundled Boston sample)."
)
CHART_WEEKS = 26
#: At most this many lines in "What changed" (then "and N more").
MAX_CHANGES = 60
#: A snapshot exists, but none of its cases belongs to the departments the user may see.
NO_CASES_IN_SCOPE = (
    "None of the loaded cases belongs to your departments. Ask an administrator to check the "
    "department codes of your account (`stat311 users list`) against the data."
)


def _none(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def parse_state(query: str | None, *, default_anchor: date) -> tuple[Period, list[str]]:
    """The period and department filter of an overview URL."""
    period = periods.from_query(query or "", default_anchor=default_anchor)
    departments = [
        v[:200] for k, v in parse_qsl((query or "").lstrip("?")) if k == "department" and v
    ][:100]
    return period, departments


#: What to do where requests have no due time (no SLA rule covers them).
SET_SERVICE_LEVELS = "set service levels in the SLA policy (STAT311_SLA_POLICY)"


def card_values(
    current: pd.Series,
    previous: pd.Series | None,
    *,
    period: Period,
    compared: bool = True,
) -> dict[str, Any]:
    """Plain values for one department card. ``compared``: False when the previous period lies
    wholly before the data (nothing was loaded for it: no change to show, not a change from 0)."""
    if not compared:
        previous = None
    compliance = _none(current["compliance"])
    prev_compliance = _none(previous["compliance"]) if previous is not None else None
    change = (
        100 * (compliance - prev_compliance)
        if compliance is not None and prev_compliance is not None
        else None
    )
    prev_volume = int(previous["volume"]) if previous is not None else 0
    volume_change = (
        100 * (int(current["volume"]) - prev_volume) / prev_volume if prev_volume else None
    )
    tier = Tier(current["tier"])
    if tier is Tier.NOT_ENOUGH:
        compliance = change = None  # too few due cases: no percentage to argue over
    if previous is not None and Tier(previous["tier"]) is Tier.NOT_ENOUGH:
        change = None  # nor a change from one (the department page says "no comparison")
    return {
        "department": str(current["group"]),
        "tier": str(tier),
        "style": TIER_STYLE[tier],
        "compliance": compliance,
        "target": float(current["target"]),
        "compliance_change": change,
        "due": int(current["due"]),
        "on_time": int(current["on_time"]),
        "volume": int(current["volume"]),
        "volume_change": volume_change,
        "open_backlog": int(current["open_backlog"]),
        "overdue_open": int(current["overdue_open"]),
        "no_due_times": no_service_level(current),
        "median_days": _none(current["median_days"]),
        "href": f"/department/{quote(str(current['group']), safe='')}{period.to_query()}",
    }


def monday(day: date | pd.Timestamp) -> pd.Timestamp:
    """:func:`dashboard.periods.week_start` of ``day``, as a timestamp (for week arithmetic)."""
    return pd.Timestamp(periods.week_start(pd.Timestamp(day).date()))


def before_the_data(period: Period, first_day: date | None) -> bool:
    """``period`` ends before the data's first day: nothing was loaded for it."""
    return first_day is not None and period.end < first_day


def chart_start(period: Period, *, weeks: int = CHART_WEEKS) -> date:
    """The first day the Overview's chart counts: the Monday ``weeks - 1`` weeks before the
    week of the period's end, or of the period's start when that is earlier. Always a Monday, so
    the chart's first week is a whole week, as the Week view counts it (counting from the day
    26 weeks before the end, a Saturday, gave the week of 27 June 2011 two days: 133 requests
    opened against the Week view's 511)."""
    last = monday(period.end)
    return min(monday(period.start), last - pd.Timedelta(weeks=weeks - 1)).date()


def every_week(
    weeks: pd.DataFrame,
    *,
    end: date,
    start: pd.Timestamp | None = None,
    min_count: int = 1,
    first_day: date | None = None,
) -> pd.DataFrame:
    """``weeks`` with a row for every week (Monday) from ``start`` (default its first week) to
    the week of ``end``: a week with fewer than ``min_count`` cases due (the SLA policy's
    minimum count; none due at all) has no compliance (a gap in the line, never 0%: too few
    cases to judge, as on the department page) and a week without requests opened a volume of
    0. ``through`` is the last day a week counts: its Sunday, or ``end`` for a week the period
    ends in (a partial week). Weeks wholly before ``first_day`` (the data's first day) are left
    out: nothing was loaded for them, so they are not weeks of zero requests.

    Built as arrays over the few dozen weeks (a pandas reindex, fills and masks took 4.0 ms of
    the Overview's callback at 1M cases)."""
    if weeks.empty and start is None:
        return weeks
    last = monday(end)
    given = pd.DatetimeIndex(pd.to_datetime(weeks["week"]))
    first = given.min() if start is None else pd.Timestamp(start)
    stop = last if weeks.empty else max(last, given.max())
    index = pd.date_range(first, stop, freq="7D", name="week")
    sunday = index + pd.Timedelta(days=6)
    keep = (
        np.ones(len(index), dtype=bool)
        if first_day is None
        else np.asarray(sunday >= pd.Timestamp(first_day))
    )
    rows = given.get_indexer(index)[keep]  # each week's row in `weeks`, -1 where it has none
    found = rows >= 0

    def counts(name: str) -> np.ndarray:
        out = np.zeros(len(rows), dtype="int64")
        values = weeks[name].to_numpy()[rows[found]]
        out[found] = pd.Series(values).fillna(0).to_numpy("int64")
        return out

    due, on_time = counts("due"), counts("on_time")
    with np.errstate(divide="ignore", invalid="ignore"):
        compliance = np.where(due >= max(1, min_count), on_time / np.maximum(due, 1), np.nan)
    made = {
        "week": index[keep],
        "due": due,
        "on_time": on_time,
        "volume": counts("volume"),
        "compliance": compliance,
    }
    columns: dict[str, Any] = {}
    for name in weeks.columns:
        columns[name] = (
            made[name]
            if name in made
            else weeks[name].reindex(rows).to_numpy()  # another column: missing where no row
        )
    sundays = sunday[keep].to_numpy()
    unit = np.datetime_data(sundays.dtype)[0]
    columns["through"] = np.minimum(sundays, np.datetime64(pd.Timestamp(end), unit))
    return pd.DataFrame(columns)


def tier_changes(current: pd.DataFrame, previous: pd.DataFrame) -> list[dict[str, str]]:
    """Groups whose tier differs from the previous period (new groups included). A frame with a
    ``department`` column (``SlaEngine.report(by="department_type")``) is keyed by (department,
    group), and each change says its department."""
    keys = ["department", "group"] if "department" in current.columns else ["group"]

    def key(frame: pd.DataFrame) -> list[tuple[str, ...]]:
        return list(zip(*(frame[k].astype(str) for k in keys), strict=True))

    before = dict(zip(key(previous), previous["tier"], strict=True))
    out = []
    for k, tier in zip(key(current), current["tier"], strict=True):
        old = before.get(k, str(Tier.NOT_ENOUGH))
        if old != tier:
            out.append({**dict(zip(keys, k, strict=True)), "from": old, "to": tier})
    return out


def overview_model(
    services: Services,
    period: Period,
    departments: list[str],
    *,
    as_of: pd.Timestamp | None = None,
    first_day: date | None = None,
) -> dict[str, Any]:
    """Every number the overview shows, for one period and department filter. ``first_day``:
    the data's first day (default: looked up); weeks and a previous period wholly before it
    are not compared with as if nothing had happened in them."""
    sla = services.sla
    flt = CaseFilter(departments=tuple(departments))
    previous = period.previous()
    if first_day is None:
        first_day = services.read_model.first_day()
    compared = not before_the_data(previous, first_day)
    # The four reports and the weekly series in one round of 7 small questions: each
    # period's reports by department and by (department, type) answered together as two
    # grouping sets (the previous period's without its backlog and days to close). Each
    # (department, type) line is the type as its department's page judges it, so the list
    # for all departments is the union of the departments' lists.
    (now, types_now), (before, types_before), weekly_rows = run_plans(
        services.read_model,
        [
            sla.department_reports_plan(start=period.start, end=period.end, flt=flt, as_of=as_of),
            # The previous period only as it is compared with (tiers, compliance, volume).
            sla.comparison_plan(start=previous.start, end=previous.end, flt=flt, as_of=as_of),
            weekly_plan(sla, start=chart_start(period), end=period.end, flt=flt, as_of=as_of),
        ],
    )
    weeks = every_week(
        weekly_rows,
        end=period.end,
        min_count=services.policy.min_count,
        first_day=first_day,
    )
    by_group = before.set_index("group")
    cards = [
        card_values(
            row,
            by_group.loc[row["group"]] if row["group"] in by_group.index else None,
            period=period,
            compared=compared,
        )
        for _, row in now.iterrows()
        if row["due"] > 0 or row["volume"] > 0 or row["open_backlog"] > 0
    ]
    names = services.departments
    for card in cards:
        card["department_name"] = names.name(card["department"])
    # Against a period before the data there is nothing to compare: no changes (every tier
    # would read as a change from "Not enough data").
    department_changes = (
        [{**item, "label": names.label(item["group"])} for item in tier_changes(now, before)]
        if compared
        else []
    )
    return {
        "period": period,
        "previous": previous,
        "cards": cards,
        "weekly": weeks,
        "department_changes": department_changes,
        "type_changes": [
            {**item, "department_label": names.label(item["department"])}
            for item in (tier_changes(types_now, types_before) if compared else [])
        ],
        "compared": compared,
        "min_count": services.policy.min_count,
        "totals": {
            "due": int(now["due"].sum()),
            "on_time": int(now["on_time"].sum()),
            "volume": int(now["volume"].sum()),
            "timed": int(now["timed"].sum()),
        },
    }


def scope_title(services: Services, departments: list[str], scope: tuple[str, ...] | None) -> str:
    """:func:`layouts.overview.chart_title` with the departments' names."""
    name = services.departments.name
    return chart_title(
        [name(d) for d in departments], None if scope is None else [name(d) for d in scope]
    )


def _changes(model: dict[str, Any]) -> Any:
    return changes_list(
        model["department_changes"],
        model["type_changes"],
        limit=MAX_CHANGES,
        compared=model.get("compared", True),
    )


def _weekly_table(weeks: pd.DataFrame, min_count: int) -> Any:
    if weeks.empty:
        return html.P("No rows.")
    return static_table(
        ("Week", "Due", "On time", "Compliance", "Opened"),
        (
            [
                week_label(r),
                f"{r.due:,}",
                f"{r.on_time:,}",
                week_compliance(r, min_count),
                f"{r.volume:,}",
            ]
            for r in weeks.itertuples()
        ),
        row_headers=True,
    )


def outside_the_data(period: Period, totals: dict[str, int], options: dict[str, Any]) -> bool:
    """No request was opened in ``period`` and none was due, or the period lies wholly before or
    after the data (cases due years later or still open at its end do not make it a period with
    data)."""
    before = options["min_date"] is not None and period.end < options["min_date"]
    after = options["max_date"] is not None and period.start > options["max_date"]
    return before or after or (totals["due"] == 0 and totals["volume"] == 0)


def headline_text(
    period: Period,
    previous: Period,
    totals: dict[str, int],
    *,
    min_count: int = 1,
    compared: bool = True,
) -> str:
    """The period in one sentence. Under the SLA policy's minimum count of due cases there is no
    percentage, as on every department's card (too few due cases to judge). Requests opened
    but none due and none with a due time: no service level covers them (say so, it is not a
    lack of cases). ``compared``: False when ``previous`` lies wholly before the data."""
    due = totals["due"]
    untimed = totals["volume"] - totals.get("timed", totals["volume"])
    if no_service_level(totals):
        judged = f"none has a due time: {SET_SERVICE_LEVELS}"
    elif due == 0 and untimed > 0:
        judged = (
            f"none due; {untimed:,} of them {'has' if untimed == 1 else 'have'} no due time: "
            f"{SET_SERVICE_LEVELS}"
        )
    elif due == 0:
        judged = "none due"
    elif due < min_count:
        judged = f"{due:,} due, too few due cases to judge: at least {min_count} are needed"
    else:
        judged = f"{due:,} due, {100 * totals['on_time'] / due:.1f}% closed on time"
    comparison = (
        f"compared with {previous.label()}" if compared else "no earlier data to compare with"
    )
    return (
        f"{period.label()}: {plural(totals['volume'], 'request')} opened; {judged} ({comparison})."
    )


def _department_query(departments: list[str]) -> str:
    return "".join(f"&department={quote(d, safe='')}" for d in departments)


def overview_view(
    services: Services, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """The page's outputs for one URL query (content and the controls that show it)."""
    try:
        # Departments and the data's first and last days, kept per snapshot (as the
        # department page reads them): the filter options, asked afresh by a worker without
        # a results cache, cost 12-17 ms at 1M cases.
        options = catalogue(services.read_model)
    except SnapshotMissingError:
        options = None
    scope = services.read_model.scope() if services.read_model.scope is not None else None
    placeholder = department_placeholder(
        None if scope is None else [services.departments.label(d) for d in scope]
    )
    if options is None or options["max_date"] is None:
        # No snapshot yet, or none of its cases is one the user may see.
        message = NO_DATA if options is None else NO_CASES_IN_SCOPE
        return {
            "headline": "",
            "notice": dbc.Alert(message, color="info"),
            "cards": [],
            "figure": empty_figure(message.split(". ")[0] + "."),
            "table": html.P("No rows."),
            "changes": "",
            "chart_title": chart_title([], None),
            "search": query or "",
            "controls": {
                "kind": "month",
                "date": None,
                "start": None,
                "end": None,
                "min_date": None,
                "max_date": None,
                "department_options": [],
                "departments": [],
                "department_placeholder": placeholder,
            },
        }
    period, departments = parse_state(query, default_anchor=options["max_date"])
    known = set(options["departments"])
    departments = list(dict.fromkeys(d for d in departments if d in known))
    controls = {
        "kind": period.kind,
        "date": period.start,
        # The custom dates always hold the period shown, so "Custom" starts from it.
        "start": period.start,
        "end": period.end,
        "min_date": options["min_date"],
        "max_date": options["max_date"],
        "department_options": services.departments.options(options["departments"]),
        "departments": departments,
        "department_placeholder": placeholder,
    }
    search = period.to_query() + _department_query(departments)
    model = overview_model(
        services, period, departments, as_of=as_of, first_day=options["min_date"]
    )
    totals = model["totals"]
    if outside_the_data(period, totals, options):
        return {
            "headline": f"{period.label()}: no requests opened.",
            "notice": dbc.Alert(
                f"No cases were due or opened in {period.label()}. The data runs from "
                f"{options['min_date']} to {options['max_date']}: pick a period in that range.",
                color="secondary",
            ),
            "cards": [],
            "figure": empty_figure(
                f"No data in {period.label()}: the data runs from {options['min_date']} to "
                f"{options['max_date']}."
            ),
            "table": html.P("No rows."),
            "changes": "",
            "chart_title": scope_title(services, departments, scope),
            "search": search,
            "controls": controls,
        }
    return {
        "headline": headline_text(
            period,
            model["previous"],
            totals,
            min_count=services.policy.min_count,
            compared=model["compared"],
        ),
        "notice": replaced_custom_notice(query, period),
        "cards": [department_card(card) for card in model["cards"]],
        "figure": overview_figure(model["weekly"], target=services.policy.target),
        "table": _weekly_table(model["weekly"], services.policy.min_count),
        "changes": _changes(model),
        "chart_title": scope_title(services, departments, scope),
        "search": search,
        "controls": controls,
    }


def link_notice(services: Services, initial: str | None) -> Any:
    """Why departments named in the link the page was opened with (``initial``) are not shown
    (not in the data, or not one the user may see), as the Requests page says it; None when
    every one was applied. Kept while the page is open, as the address drops them at once."""
    asked = [v for k, v in parse_qsl((initial or "").lstrip("?")) if k == "department"]
    if not asked:
        return None
    try:
        known = set(catalogue(services.read_model)["departments"])
    except SnapshotMissingError:
        return None
    dropped = list(dict.fromkeys(d for d in asked if d not in known))
    return department_filter_notice(services.read_model, dropped, names=services.departments)


def replaced_custom_notice(query: str | None, period: Period) -> dbc.Alert | None:
    """Why a link asking for custom dates shows another period: one or both dates missing or
    unreadable, or more than :data:`~dashboard.periods.MAX_CUSTOM_DAYS` days apart."""
    asked = dict(parse_qsl((query or "").lstrip("?")))
    if str(asked.get("period", "")).lower() != "custom" or period.kind == "custom":
        return None
    return dbc.Alert(
        f"The link asks for custom dates ({asked.get('from') or 'no start'} to "
        f"{asked.get('to') or 'no end'}) that are incomplete, not dates, or more than "
        f"{periods.MAX_CUSTOM_DAYS:,} days apart: showing {period.label()} instead.",
        color="warning",
    )


def kind_anchor(shown: Period, day: str | None) -> date:
    """The day a change of period kind keeps in view: the "containing the day" picked, when it
    is in the period shown, else the period's first day. (Anchoring on the first day alone made
    Month -> Week -> Month drift a month back each time: September's first week starts in
    August.)"""
    picked = parse_day(day)
    if picked is not None and shown.start <= picked <= shown.end:
        return picked
    return shown.start


def next_query(
    trigger: str | None,
    search: str | None,
    *,
    kind: str | None,
    day: str | None,
    start: str | None,
    end: str | None,
    departments: list[str] | None,
    default_anchor: date,
) -> str | None:
    """The query the page should show after ``trigger`` (a control's ``id.property``) changed.
    The address is the one source of truth, a control only says how to change it. ``None``:
    nothing to do yet (custom dates half picked).

    - Period kind: the new kind around the period shown (its first day); "Custom" starts as the
      period shown, from its first to its last day.
    - Day: the period of the kind shown containing it (a custom period keeps its length and
      starts on it).
    - Custom dates: from/to once both are picked.
    - Departments: the period shown, for the departments picked.
    """
    shown, shown_departments = parse_state(search, default_anchor=default_anchor)
    picked = shown_departments
    if trigger == f"{Ids.DEPARTMENT}.value":
        picked = [d for d in departments or [] if d]
        return shown.to_query() + _department_query(picked)
    if trigger == f"{Ids.KIND}.value":
        if kind == "custom":
            period = Period("custom", shown.start, shown.end)
        elif kind in periods.KINDS:
            period = periods.period_of(kind, kind_anchor(shown, day))
        else:
            return None
    elif trigger == f"{Ids.DATE}.value":
        anchor = parse_day(day)
        if anchor is None:
            return None
        # The kind on screen: a kind picked a moment ago may not be in the address yet.
        chosen = kind if kind in periods.KINDS else shown.kind
        if chosen == "custom":
            length = shown.end - shown.start if shown.kind == "custom" else timedelta(0)
            period = Period("custom", anchor, anchor + length)
        else:
            period = periods.period_of(chosen, anchor)
    elif trigger in (f"{Ids.RANGE_START}.value", f"{Ids.RANGE_END}.value"):
        first, last = parse_day(start), parse_day(end)
        if first is None or last is None:
            return None
        period = periods.from_query(
            f"?period=custom&from={first}&to={last}", default_anchor=default_anchor
        )
    else:
        return None
    return period.to_query() + _department_query(picked)


URL_SEARCH = f"{Ids.URL}.search"
CONTROLS = (
    f"{Ids.KIND}.value",
    f"{Ids.DATE}.value",
    f"{Ids.RANGE_START}.value",
    f"{Ids.RANGE_END}.value",
    f"{Ids.DEPARTMENT}.value",
)
# The page callback's outputs, in order (the headline first: tests and the load benchmark find
# the callback by it).
OUTPUTS: tuple[tuple[str, str], ...] = (
    (Ids.HEADLINE, "children"),
    (Ids.NOTICE, "children"),
    (Ids.CARDS, "children"),
    (Ids.CHART_TITLE, "children"),
    (Ids.CHART, "figure"),
    (Ids.TABLE, "children"),
    (Ids.CHANGES, "children"),
    (Ids.URL, "search"),
    (Ids.CANONICAL, "data"),
    (Ids.KIND, "value"),
    (Ids.DATE, "value"),
    (Ids.DATE, "min"),
    (Ids.DATE, "max"),
    (Ids.RANGE_START, "value"),
    (Ids.RANGE_START, "min"),
    (Ids.RANGE_START, "max"),
    (Ids.RANGE_END, "value"),
    (Ids.RANGE_END, "min"),
    (Ids.RANGE_END, "max"),
    (Ids.DEPARTMENT, "options"),
    (Ids.DEPARTMENT, "value"),
    (Ids.DEPARTMENT, "placeholder"),
)


def sync_outputs(
    services: Services,
    changed: set[str],
    search: str | None,
    *,
    kind: str | None = None,
    day: str | None = None,
    start: str | None = None,
    end: str | None = None,
    departments: list[str] | None = None,
    initial: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Every output of the page's callback (keyed ``id.property``, see ``OUTPUTS``) after the
    inputs in ``changed`` (``id.property``; empty on the first call) changed.

    The address drives everything: when it changed (page load, Back/Forward) the controls and
    content follow it and it is left as it is; when a control changed, the new query is worked
    out from the address and the control, pushed to the address, and the controls and content
    show it."""
    shown = search if search is not None else (initial or "")
    from_control = sorted(changed & set(CONTROLS)) if URL_SEARCH not in changed else []
    push = False
    query = shown
    if from_control:
        try:
            anchor = catalogue(services.read_model)["max_date"]
        except SnapshotMissingError:
            anchor = date.today()
        wanted = next_query(
            from_control[0],
            shown,
            kind=kind,
            day=day,
            start=start,
            end=end,
            departments=departments,
            default_anchor=anchor,
        )
        if wanted is None:
            return {f"{i}.{p}": no_update for i, p in OUTPUTS}
        query, push = wanted, True
    view = overview_view(services, query, as_of=as_of)
    canonical = view["search"]
    c = view["controls"]
    # A change of kind keeps the day picked in "Containing the day" when the new period holds
    # it, so that the next change of kind is anchored on it too (see kind_anchor).
    picked = parse_day(day)
    keep_day = (
        from_control[:1] == [f"{Ids.KIND}.value"]
        and picked is not None
        and c["start"] is not None
        and c["start"] <= picked <= c["end"]
    )
    notices = [n for n in (link_notice(services, initial), view["notice"]) if n is not None]
    return {
        f"{Ids.HEADLINE}.children": view["headline"],
        f"{Ids.NOTICE}.children": notices or None,
        f"{Ids.CARDS}.children": view["cards"],
        f"{Ids.CHART_TITLE}.children": view["chart_title"],
        f"{Ids.CHART}.figure": view["figure"],
        f"{Ids.TABLE}.children": view["table"],
        f"{Ids.CHANGES}.children": view["changes"],
        URL_SEARCH: canonical if push and canonical != shown else no_update,
        # the address as typed, made canonical in place (no new history entry)
        f"{Ids.CANONICAL}.data": canonical if not push and canonical != shown else no_update,
        f"{Ids.KIND}.value": c["kind"],
        # The date boxes hold "YYYY-MM-DD" text (their min and max too), not dates.
        f"{Ids.DATE}.value": no_update if keep_day else box_text(c["date"]),
        f"{Ids.DATE}.min": box_text(c["min_date"]) or None,
        f"{Ids.DATE}.max": box_text(c["max_date"]) or None,
        f"{Ids.RANGE_START}.value": box_text(c["start"]),
        f"{Ids.RANGE_START}.min": box_text(c["min_date"]) or None,
        f"{Ids.RANGE_START}.max": box_text(c["max_date"]) or None,
        f"{Ids.RANGE_END}.value": box_text(c["end"]),
        f"{Ids.RANGE_END}.min": box_text(c["min_date"]) or None,
        f"{Ids.RANGE_END}.max": box_text(c["max_date"]) or None,
        f"{Ids.DEPARTMENT}.options": c["department_options"],
        f"{Ids.DEPARTMENT}.value": c["departments"],
        f"{Ids.DEPARTMENT}.placeholder": c["department_placeholder"],
    }


# Keeps the address canonical (e.g. ``/`` -> ``/?period=month&date=2011-12-01``) without adding
# a history entry: Back must not land on an address that pushes a new one. The page's Location
# is then told the new address (its ``href`` and ``search``): a Location whose props disagree
# with the window pushes its own, stale ``href`` at its next update, which put ``/`` back in the
# address bar at the first control change after a rewrite.
REPLACE_ADDRESS = """
function(search) {
    const no = window.dash_clientside.no_update;
    if (!search || window.location.pathname !== '/' || window.location.search === search) {
        return [no, no];
    }
    window.history.replaceState(window.history.state, '', '/' + search + window.location.hash);
    return [window.location.href, search];
}
"""


#: The pack link follows the address (the period and departments shown).
PACK_HREF = """
function(search) { return "/pack" + (search || ""); }
"""


def register(app: Dash, services: Services) -> None:
    app.clientside_callback(PACK_HREF, Output(Ids.PACK, "href"), Input(Ids.URL, "search"))

    @app.callback(Output(Ids.RANGE_BOX, "style"), Input(Ids.KIND, "value"))
    def _range_visible(kind: str | None) -> dict[str, str]:
        return {} if kind == "custom" else {"display": "none"}

    app.clientside_callback(
        REPLACE_ADDRESS,
        Output(Ids.URL, "href"),
        Output(Ids.URL, "search", allow_duplicate=True),
        Input(Ids.CANONICAL, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        [Output(i, p) for i, p in OUTPUTS],
        # Departments first: a request naming only its first input as changed (the auth tests,
        # the load benchmark) asks for departments, with the period of the page's address.
        Input(Ids.DEPARTMENT, "value"),
        Input(Ids.URL, "search"),
        Input(Ids.KIND, "value"),
        Input(Ids.DATE, "value"),
        Input(Ids.RANGE_START, "value"),
        Input(Ids.RANGE_END, "value"),
        State(Ids.STATE, "data"),
    )
    def _sync(departments, search, kind, day, start, end, initial) -> list[Any]:
        # One callback owns the address, the controls and the content (Dash allows a callback
        # to write its own inputs), so they cannot disagree or race each other.
        values = sync_outputs(
            services,
            set(ctx.triggered_prop_ids),
            search,
            kind=kind,
            # A cleared or half-typed box sends "": no date, as a picker's None was.
            day=box_day(day),
            start=box_day(start),
            end=box_day(end),
            departments=departments,
            initial=initial,
        )
        return [values[f"{i}.{p}"] for i, p in OUTPUTS]
