"""Overview page (``/``), for the stat meeting: one card per department with its SLA tier,
citywide compliance and volume, and what changed since the previous period.

Layout only; the numbers come from ``callbacks/overview.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboard import periods
from layouts.components import (
    NO_SERVICE_LEVEL,
    department_title,
    labelled,
    period_columns,
    target_text,
)
from layouts.figures import compliance_and_volume, plural

PAGE = {"path": "/", "name": "Overview", "title": "Overview · stat311"}
#: The departments filter's words when nothing is picked, for a user who sees every department.
ALL_DEPARTMENTS = "All departments"

MEASURED = [
    html.P(
        [
            html.Strong("Compliance"),
            " = cases due in the period that were closed by their due time ÷ cases due in the "
            "period. A case still open after its due time counts as a miss; a case due later "
            "than today is not counted yet. Duplicates are left out.",
        ]
    ),
    html.P(
        [
            html.Strong("Due time"),
            ": the one the source system set (Boston target date, NYC due date, Open311 expected "
            "time); otherwise the SLA policy's target for the request type or department, in "
            "calendar or business days (weekends and holidays skipped).",
        ]
    ),
    html.P(
        [
            html.Strong("Tiers"),
            ": On Target = compliance at or above the target (90% unless the policy says "
            "otherwise); Close But Not There = within the margin (10 points) below it; Problem "
            "That Needs a Plan = further below; Not enough data = fewer due cases than the "
            "minimum (20).",
        ]
    ),
    html.P(
        "Backlog and overdue counts are taken at the end of the period (or now, for a period "
        "still running). Days to close are for the cases due in the period that have closed. "
        "Opened counts every request made in the period, duplicates included: the demand the "
        "311 centre saw."
    ),
]


class Ids(StrEnum):
    """Component ids of the overview page (declared once)."""

    URL = "overview-url"
    STATE = "overview-state"  # the query the page was opened with (the address drives it)
    CANONICAL = "overview-canonical"  # the address made canonical, written in place
    KIND = "overview-kind"
    DATE = "overview-date"
    RANGE_START = "overview-range-start"
    RANGE_END = "overview-range-end"
    RANGE_BOX = "overview-range-box"
    DEPARTMENT = "overview-department"
    HEADLINE = "overview-headline"
    NOTICE = "overview-notice"
    CARDS = "overview-cards"
    CHART_TITLE = "overview-chart-title"
    CHART = "overview-chart"
    TABLE = "overview-table"
    CHANGES = "overview-changes"
    PACK = "overview-pack"  # the stat-meeting pack of the period shown


def controls(kind: str = "month") -> dbc.Row:
    return dbc.Row(
        [
            *period_columns(
                kind_id=Ids.KIND,
                date_id=Ids.DATE,
                range_start_id=Ids.RANGE_START,
                range_end_id=Ids.RANGE_END,
                range_box_id=Ids.RANGE_BOX,
                kind=kind,
                widths=(4, 2, 3),
                range_hidden=kind != "custom",
            ),
            dbc.Col(
                labelled(
                    "Departments",
                    dcc.Dropdown(
                        id=Ids.DEPARTMENT,
                        multi=True,
                        options=[],
                        value=[],
                        # "All my departments (...)" for a department user (set with the page)
                        placeholder=ALL_DEPARTMENTS,
                    ),
                    className="small mb-1",
                ),
                xs=12,
                md=3,
            ),
        ],
        className="g-2 mb-2",
    )


def layout(**query: Any) -> html.Div:
    """The page for ``/?{query}``. The address is the page's state: its callback shows what the
    address says, and a control changes the address (so Back, Forward and a copied link all
    reopen the view they show)."""
    flat = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
    search = ("?" + urlencode(flat)) if flat else ""
    kind = periods.from_query(search, default_anchor=date.today()).kind
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False, search=search),
            dcc.Store(id=Ids.STATE, data=search),
            dcc.Store(id=Ids.CANONICAL),
            html.H1("Stat meeting overview", className="h3"),
            controls(kind),
            html.P(id=Ids.HEADLINE, className="lead", role="status"),
            html.Div(id=Ids.NOTICE),
            html.Div(
                [
                    html.H2("Departments, problems first", className="h5 mb-0 me-3"),
                    dcc.Link(
                        [
                            html.I(className="bi bi-printer me-1", **{"aria-hidden": "true"}),
                            "Printable pack for this period",
                        ],
                        id=Ids.PACK,
                        href="/pack" + search,
                        className="btn btn-outline-primary btn-sm",
                    ),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mt-3 mb-2",
            ),
            dcc.Loading(dbc.Row(id=Ids.CARDS, className="g-3")),
            html.H2(
                chart_title([v for k, v in flat if k == "department"], None),
                id=Ids.CHART_TITLE,
                className="h5 mt-4",
            ),
            # No toolbar: on a phone it covered the chart's top (zoom and pan add nothing to
            # 26 weeks; the numbers are in the table under the chart).
            dcc.Graph(id=Ids.CHART, config={"displaylogo": False, "displayModeBar": False}),
            html.Details(
                [
                    html.Summary("Table of the chart's numbers"),
                    html.Div(id=Ids.TABLE, className="table-responsive small"),
                ]
            ),
            html.H2("What changed since the previous period", className="h5 mt-4"),
            html.Div(id=Ids.CHANGES),
            html.Details(
                [html.Summary("How this is measured"), html.Div(MEASURED, className="small")],
                className="mt-4 mb-5",
                open=False,
            ),
        ]
    )


def chart_title(departments: Sequence[str], scope: Sequence[str] | None) -> str:
    """The chart section's title: what its numbers cover (the departments picked, else all the
    departments the user may see)."""
    if len(departments) > 3:
        return f"{plural(len(departments), 'department')}: {', '.join(departments)}"
    if departments:
        return ", ".join(departments)
    if scope is not None:
        return f"Your {'department' if len(scope) == 1 else 'departments'}: {', '.join(scope)}"
    return "Citywide"


def department_placeholder(scope_labels: Sequence[str] | None) -> str:
    """What the departments filter says when nothing is picked: "All departments" for a user who
    sees every department; for a department user, which departments "all" is ("All my
    departments (Public Works Department (PWDx))"): ``scope_labels`` are the departments the
    user may see, named (``None``: every department)."""
    if scope_labels is None:
        return ALL_DEPARTMENTS
    if not scope_labels:
        return "All my departments (none)"
    return f"All my departments ({', '.join(scope_labels)})"


def change_line(item: Mapping[str, Any], what: str) -> html.Li:
    """One line of "What changed": a department's, or a request type's of one department (named
    after the type: each department judges its own types)."""
    label = item.get("label", item["group"])
    if item.get("department") is not None:
        of = item.get("department_label") or item["department"]
        context = f"{what}, {of}"
    else:
        context = what
    return html.Li([html.Strong(label), f" ({context}): {item['from']} → {item['to']}"])


def changes_list(
    department_changes: Sequence[Mapping[str, Any]],
    type_changes: Sequence[Mapping[str, Any]],
    *,
    limit: int,
    more: str = "see the department pages",
    compared: bool = True,
) -> Any:
    """ "What changed since the previous period": the departments whose tier changed, then the
    request types (each of one department), at most ``limit`` lines, then how many more. Not
    ``compared`` (the previous period is before the first day of data): nothing to list, and
    it says so (every tier would otherwise read as a change from "Not enough data")."""
    if not compared:
        return html.P(
            "No earlier data to compare with: the previous period is before the first day of data.",
            className="text-muted small",
        )
    items = [change_line(i, "department") for i in department_changes] + [
        change_line(i, "request type") for i in type_changes
    ]
    if not items:
        return html.P("No department or request type changed tier.", className="text-muted small")
    shown = html.Ul(items[:limit], className="small mb-1")
    if len(items) <= limit:
        return shown
    rest = len(items) - limit
    return html.Div(
        [
            shown,
            html.P(
                f"And {plural(rest, 'more change')}: {more}.",
                className="small text-muted",
            ),
        ]
    )


def is_partial(row: Any) -> bool:
    """A week the period ends in before its Sunday: it counts only up to ``row.through``."""
    through = getattr(row, "through", None)
    return (
        through is not None
        and not pd.isna(through)
        and (pd.Timestamp(through) - pd.Timestamp(row.week)).days < 6
    )


def week_label(row: Any, *, fmt: str = "%Y-%m-%d") -> str:
    """A week as the tables name it (``row.week``, its Monday); a week the period ends in before
    its Sunday says so: "2011-09-26 (partial: to 30 Sep)"."""
    label = f"{pd.Timestamp(row.week):{fmt}}"
    if is_partial(row):
        through = pd.Timestamp(row.through)
        label += f" (partial: to {through.day} {through:%b})"
    return label


def week_compliance(row: Any, min_count: int) -> str:
    """A week's compliance in a table: the percentage, or why there is none (no case due, or
    fewer than the SLA policy's minimum count: too few to judge, a gap in the chart's line)."""
    if row.due == 0:
        return "– (none due)"
    if pd.isna(row.compliance) or row.due < min_count:
        return f"– (too few due to judge: under {min_count})"
    return f"{100 * row.compliance:.1f}%"


def overview_figure(weekly: pd.DataFrame, *, target: float) -> go.Figure | dict[str, Any]:
    """The weekly compliance line above the volume bars (:func:`compliance_and_volume`: weeks
    without due cases are gaps, the volume axis counts from 0 in whole requests)."""
    return compliance_and_volume(weekly, target=target)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _arrow(change: float | None, *, unit: str, higher_is_better: bool | None = True) -> html.Span:
    """A change with an arrow and words; green/red only where up or down is good or bad."""
    if change is None:
        return html.Span("no comparison", className="text-muted")
    if abs(change) < 0.05:
        return html.Span("→ unchanged", className="text-muted")
    up = change > 0
    icon = "bi-arrow-up-right" if up else "bi-arrow-down-right"
    if higher_is_better is None:
        colour = "text-body-secondary"
    else:
        colour = "text-success" if up == higher_is_better else "text-danger"
    return html.Span(
        [
            html.I(className=f"bi {icon} me-1", **{"aria-hidden": "true"}),
            f"{'up' if up else 'down'} {abs(change):.1f} {unit}",
        ],
        className=colour,
    )


def _score_words(card: dict[str, Any]) -> str:
    if card["compliance"] is not None:
        return f"on time vs target {target_text(card['target'])}"
    if card.get("no_due_times"):
        return NO_SERVICE_LEVEL
    if card["due"] == 0:
        return f"no case due in the period (target {target_text(card['target'])})"
    return f"too few due cases to judge (target {target_text(card['target'])})"


def department_card(card: dict[str, Any]) -> dbc.Col:
    """One department: ``card`` holds plain values (see callbacks.overview.card_values)."""
    style = card["style"]
    return dbc.Col(
        dcc.Link(
            dbc.Card(
                [
                    dbc.CardHeader(
                        [
                            html.I(className=f"bi {style['icon']} me-2", **{"aria-hidden": "true"}),
                            html.Span(card["tier"], className="fw-semibold"),
                        ],
                        style={"backgroundColor": style["color"], "color": "white"},
                    ),
                    dbc.CardBody(
                        [
                            html.H3(
                                department_title(card),
                                className="h5 card-title mb-1",
                            ),
                            html.P(
                                [
                                    html.Span(_pct(card["compliance"]), className="fs-4 me-2"),
                                    _score_words(card),
                                ],
                                className="mb-1",
                            ),
                            html.P(
                                [
                                    _arrow(card["compliance_change"], unit="points"),
                                    " since the previous period",
                                ],
                                className="small mb-2",
                            ),
                            html.Ul(
                                [
                                    html.Li(
                                        [
                                            f"{card['due']:,} due, {card['volume']:,} opened ",
                                            _arrow(
                                                card["volume_change"],
                                                unit="%",
                                                higher_is_better=None,
                                            ),
                                        ]
                                    ),
                                    html.Li(
                                        f"Open backlog {card['open_backlog']:,}, overdue "
                                        f"{card['overdue_open']:,}"
                                    ),
                                    html.Li(
                                        "Median days to close "
                                        + (
                                            "–"
                                            if card["median_days"] is None
                                            else f"{card['median_days']:.1f}"
                                        )
                                    ),
                                ],
                                className="small mb-0 ps-3",
                            ),
                        ]
                    ),
                ],
                className="h-100 shadow-sm",
                style={"borderColor": style["color"]},
            ),
            href=card["href"],
            className="text-decoration-none text-reset",
            title=f"Open the {card.get('department_name') or card['department']} page for this "
            "period",
        ),
        xs=12,
        sm=6,
        lg=4,
        xl=3,
        className="overview-card",
    )
