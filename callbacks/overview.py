"""Overview (stat meeting) callbacks. The work is in plain functions tested directly."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, State, html

from dashboard import periods
from dashboard.errors import SnapshotMissingError
from dashboard.periods import Period
from dashboard.queries import CaseFilter
from dashboard.services import Services
from dashboard.sla import TIER_STYLE, Tier, weekly
from layouts.figures import compliance_and_volume, empty_figure
from layouts.overview import Ids, department_card

log = logging.getLogger(__name__)

NO_DATA = (
    "No data loaded yet. Load an export with `stat311 ingest PATH` (or start with `make run`, "
    "which loads the bundled Boston sample)."
)
CHART_WEEKS = 26


def _none(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def parse_state(query: str | None, *, default_anchor: date) -> tuple[Period, list[str]]:
    """The period and department filter of an overview URL."""
    period = periods.from_query(query or "", default_anchor=default_anchor)
    departments = [
        v[:200] for k, v in parse_qsl((query or "").lstrip("?")) if k == "department" and v
    ][:100]
    return period, departments


def card_values(
    current: pd.Series, previous: pd.Series | None, *, period: Period
) -> dict[str, Any]:
    """Plain values for one department card."""
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
    return {
        "department": str(current["group"]),
        "tier": str(tier),
        "style": TIER_STYLE[tier],
        "compliance": compliance,
        "target": float(current["target"]),
        "compliance_change": change,
        "due": int(current["due"]),
        "volume": int(current["volume"]),
        "volume_change": volume_change,
        "open_backlog": int(current["open_backlog"]),
        "overdue_open": int(current["overdue_open"]),
        "median_days": _none(current["median_days"]),
        "href": f"/department/{quote(str(current['group']), safe='')}{period.to_query()}",
    }


def tier_changes(current: pd.DataFrame, previous: pd.DataFrame) -> list[dict[str, str]]:
    """Groups whose tier differs from the previous period (new groups included)."""
    before = dict(zip(previous["group"], previous["tier"], strict=True))
    out = []
    for group, tier in zip(current["group"], current["tier"], strict=True):
        old = before.get(group, str(Tier.NOT_ENOUGH))
        if old != tier:
            out.append({"group": str(group), "from": old, "to": tier})
    return out


def overview_model(
    services: Services,
    period: Period,
    departments: list[str],
    *,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Every number the overview shows, for one period and department filter."""
    sla = services.sla
    flt = CaseFilter(departments=tuple(departments))
    previous = period.previous()
    now = sla.report(start=period.start, end=period.end, by="department", flt=flt, as_of=as_of)
    before = sla.report(
        start=previous.start, end=previous.end, by="department", flt=flt, as_of=as_of
    )
    types_now = sla.report(start=period.start, end=period.end, by="type", flt=flt, as_of=as_of)
    types_before = sla.report(
        start=previous.start, end=previous.end, by="type", flt=flt, as_of=as_of
    )
    chart_start = min(period.start, period.end - pd.Timedelta(weeks=CHART_WEEKS))
    weeks = weekly(sla, start=chart_start, end=period.end, flt=flt, as_of=as_of)
    by_group = before.set_index("group")
    cards = [
        card_values(
            row,
            by_group.loc[row["group"]] if row["group"] in by_group.index else None,
            period=period,
        )
        for _, row in now.iterrows()
        if row["due"] > 0 or row["volume"] > 0 or row["open_backlog"] > 0
    ]
    return {
        "period": period,
        "previous": previous,
        "cards": cards,
        "weekly": weeks,
        "department_changes": tier_changes(now, before),
        "type_changes": tier_changes(types_now, types_before),
        "totals": {
            "due": int(now["due"].sum()),
            "on_time": int(now["on_time"].sum()),
            "volume": int(now["volume"].sum()),
        },
    }


def _changes(model: dict[str, Any]) -> Any:
    def rows(items: list[dict[str, str]], label: str) -> list[Any]:
        return [
            html.Li([html.Strong(item["group"]), f" ({label}): {item['from']} → {item['to']}"])
            for item in items
        ]

    items = rows(model["department_changes"], "department") + rows(
        model["type_changes"], "request type"
    )
    if not items:
        return html.P("No department or request type changed tier.", className="text-muted")
    return html.Ul(items[:60], className="small")


def _weekly_table(weeks: pd.DataFrame) -> Any:
    if weeks.empty:
        return html.P("No rows.")
    header = html.Thead(
        html.Tr([html.Th(h) for h in ("Week", "Due", "On time", "Compliance", "Opened")])
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Th(f"{r.week:%Y-%m-%d}", scope="row"),
                    html.Td(f"{r.due:,}"),
                    html.Td(f"{r.on_time:,}"),
                    html.Td("–" if pd.isna(r.compliance) else f"{100 * r.compliance:.1f}%"),
                    html.Td(f"{r.volume:,}"),
                ]
            )
            for r in weeks.itertuples()
        ]
    )
    return dbc.Table([header, body], size="sm", striped=True)


def overview_view(
    services: Services, query: str | None, *, as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """The page's outputs for one URL query."""
    try:
        options = services.read_model.options()
    except SnapshotMissingError:
        return {
            "headline": "",
            "notice": dbc.Alert(NO_DATA, color="info"),
            "cards": [],
            "figure": empty_figure("No data loaded yet."),
            "table": html.P("No rows."),
            "changes": "",
            "search": query or "",
        }
    period, departments = parse_state(query, default_anchor=options["max_date"])
    departments = [d for d in departments if d in set(options["departments"])]
    model = overview_model(services, period, departments, as_of=as_of)
    totals = model["totals"]
    citywide = totals["on_time"] / totals["due"] if totals["due"] else None
    headline = (
        f"{period.label()}: {totals['volume']:,} requests opened; "
        f"{totals['due']:,} due, "
        + (f"{100 * citywide:.1f}% closed on time" if citywide is not None else "none due")
        + f" (compared with {model['previous'].label()})."
    )
    notice = None
    if totals["due"] == 0 and totals["volume"] == 0:
        notice = dbc.Alert(
            f"No cases were due or opened in {period.label()}. The data runs from "
            f"{options['min_date']} to {options['max_date']}: pick a period in that range.",
            color="secondary",
        )
    extra = "".join(f"&department={quote(d)}" for d in departments)
    return {
        "headline": headline,
        "notice": notice,
        "cards": [department_card(card) for card in model["cards"]],
        "figure": compliance_and_volume(model["weekly"], target=services.policy.target),
        "table": _weekly_table(model["weekly"]),
        "changes": _changes(model),
        "search": period.to_query() + extra,
    }


def query_from_controls(
    kind: str | None,
    day: str | None,
    start: str | None,
    end: str | None,
    departments: list[str] | None,
) -> str:
    pairs = [f"period={kind or 'month'}"]
    if kind == "custom":
        if start:
            pairs.append(f"from={str(start)[:10]}")
        if end:
            pairs.append(f"to={str(end)[:10]}")
    elif day:
        pairs.append(f"date={str(day)[:10]}")
    pairs += [f"department={quote(d)}" for d in departments or []]
    return "?" + "&".join(pairs)


def register(app: Dash, services: Services) -> None:
    @app.callback(
        Output(Ids.KIND, "value"),
        Output(Ids.DATE, "date"),
        Output(Ids.DATE, "min_date_allowed"),
        Output(Ids.DATE, "max_date_allowed"),
        Output(Ids.RANGE, "start_date"),
        Output(Ids.RANGE, "end_date"),
        Output(Ids.DEPARTMENT, "options"),
        Output(Ids.DEPARTMENT, "value"),
        Input(Ids.STATE, "data"),
    )
    def _init(query: str | None) -> tuple[Any, ...]:
        try:
            options = services.read_model.options()
        except SnapshotMissingError:
            return "month", None, None, None, None, None, [], []
        period, departments = parse_state(query, default_anchor=options["max_date"])
        known = options["departments"]
        custom = period.kind == "custom"
        return (
            period.kind,
            None if custom else period.start,
            options["min_date"],
            options["max_date"],
            period.start if custom else None,
            period.end if custom else None,
            [{"label": d, "value": d} for d in known],
            [d for d in departments if d in set(known)],
        )

    @app.callback(Output(Ids.RANGE_BOX, "style"), Input(Ids.KIND, "value"))
    def _range_visible(kind: str | None) -> dict[str, str]:
        return {} if kind == "custom" else {"display": "none"}

    @app.callback(
        Output(Ids.HEADLINE, "children"),
        Output(Ids.NOTICE, "children"),
        Output(Ids.CARDS, "children"),
        Output(Ids.CHART, "figure"),
        Output(Ids.TABLE, "children"),
        Output(Ids.CHANGES, "children"),
        Output(Ids.URL, "search"),
        Input(Ids.KIND, "value"),
        Input(Ids.DATE, "date"),
        Input(Ids.RANGE, "start_date"),
        Input(Ids.RANGE, "end_date"),
        Input(Ids.DEPARTMENT, "value"),
        State(Ids.STATE, "data"),
    )
    def _update(kind, day, start, end, departments, initial) -> tuple[Any, ...]:
        query = initial if kind is None else query_from_controls(kind, day, start, end, departments)
        view = overview_view(services, query)
        return (
            view["headline"],
            view["notice"],
            view["cards"],
            view["figure"],
            view["table"],
            view["changes"],
            view["search"],
        )
