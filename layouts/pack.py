"""The stat-meeting pack (``/pack?period=week&date=...``): the overview's period on paper — a
cover page with every department's tier, then one page per department (its figures, request
types, last weeks, open cases by age, the most overdue cases and repeat locations). Printable: the browser's
"Print" or "Save as PDF" gives one department per page (``@media print`` in stat311.css).

Layout only; the numbers come from ``callbacks/pack.py`` as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard.sla import TIER_STYLE, Tier
from layouts.components import department_title, target_text
from layouts.department import tier_badge
from layouts.figures import plural
from layouts.overview import (
    MEASURED,
    NO_SERVICE_LEVEL,
    changes_list,
    week_compliance,
    week_label,
)

PAGE = {
    "path": "/pack",
    "name": "Stat-meeting pack",
    "title": "Stat-meeting pack · stat311",
    "nav": False,  # opened from the Overview, for the period it shows
}

#: Rows of a department's request types and most overdue cases on its page of the pack.
TYPE_ROWS = 12
OVERDUE_ROWS = 10
#: Repeat locations (addresses with several requests in the period) on a department's page.
REPEAT_ROWS = 5
#: Weeks in the "last weeks" tables.
WEEKS = 8
#: Lines of "What changed" on the cover (then how many more).
CHANGE_ROWS = 40


class Ids(StrEnum):
    """Component ids of the pack page (declared once)."""

    URL = "pack-url"
    CONTENT = "pack-content"
    PRINT = "pack-print"
    PRINT_SINK = "pack-print-sink"
    OVERVIEW = "pack-overview-link"


def search_of(query: Mapping[str, Any]) -> str:
    """The query string of the keyword arguments Dash Pages passes a layout (``""`` for none)."""
    flat = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
    return ("?" + urlencode(flat)) if flat else ""


def layout(**query: Any) -> html.Div:
    """The page for ``/pack?{query}`` (the Overview's query: period, date, departments), without
    its content (what the app checks its callbacks against); :func:`page` with it."""
    return page(search_of(query), None)


def page(search: str, content: Any) -> html.Div:
    """The page for ``/pack{search}`` holding ``content`` (the pack, from ``callbacks/pack.py``).

    The content comes with the page, not from a callback after it: Dash 4.4's renderer mounted
    the pack's few thousand components returned by a callback in 10.7–13.0 s in Chromium, against
    about 1 s as part of the page (Dash issue 3846, fixed upstream after 4.4.1)."""
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False, search=search),
            dcc.Store(id=Ids.PRINT_SINK),
            html.Div(
                [
                    dbc.Button(
                        [
                            html.I(className="bi bi-printer me-2", **{"aria-hidden": "true"}),
                            "Print",
                        ],
                        id=Ids.PRINT,
                        color="primary",
                        className="me-3",
                        n_clicks=0,
                    ),
                    html.Span(
                        "or save as PDF from the print dialog: one department per page. ",
                        className="text-muted small me-2",
                    ),
                    dcc.Link(
                        "Back to the Overview (pick another period there)",
                        id=Ids.OVERVIEW,
                        href="/" + search,
                        className="small",
                    ),
                ],
                className="d-flex flex-wrap align-items-center mb-3 no-print",
            ),
            html.Div(content, id=Ids.CONTENT),
        ],
        className="pack",
    )


# -- pieces -----------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _points(change: float | None) -> str:
    if change is None or pd.isna(change):
        return "–"
    if abs(change) < 0.05:
        return "unchanged"
    return f"{'up' if change > 0 else 'down'} {abs(change):.1f} points"


def _percent_change(change: float | None) -> str:
    if change is None or pd.isna(change):
        return "–"
    return f"{change:+.0f}%"


def _days(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.1f}"


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _text(value: Any) -> str:
    """Free text (an address), "–" when missing or blank."""
    return "–" if value is None or pd.isna(value) or not str(value).strip() else str(value)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str | None = None
) -> Any:
    """A small table whose first column is the row header (the numbers read aloud with their
    row and column); ``rows`` hold text or components."""
    if not rows:
        return html.P("None.", className="text-muted small")
    parts: list[Any] = []
    if caption:
        parts.append(html.Caption(caption, className="caption-top small text-muted"))
    parts.append(html.Thead(html.Tr([html.Th(h, scope="col") for h in headers])))
    parts.append(
        html.Tbody(
            [
                html.Tr(
                    [html.Th(row[0], scope="row")] + [html.Td(cell) for cell in row[1:]],
                )
                for row in rows
            ]
        )
    )
    # Scrolls on its own on a narrow screen (the page reflows to 320 px); prints whole.
    return html.Div(
        dbc.Table(parts, size="sm", striped=True, className="pack-table small"),
        className="table-responsive pack-table-wrap",
    )


def weeks_table(weeks: pd.DataFrame, min_count: int) -> Any:
    """The last weeks: a week with fewer due cases than ``min_count`` has no percentage (too few
    to judge), and the week the period ends in before its Sunday says it is partial."""
    rows = [
        [
            week_label(r, fmt="%d %b %Y"),
            _count(r.due),
            _count(r.on_time),
            week_compliance(r, min_count),
            _count(r.volume),
        ]
        for r in weeks.itertuples()
    ]
    return table(["Week of", "Due", "On time", "Compliance", "Opened"], rows)


def more_types(rest: pd.DataFrame) -> str:
    """The tiers of the request types left out of a department's table, problems first:
    "2 Problem That Needs a Plan, 9 On Target, 25 Not enough data"."""
    counts = rest["tier"].value_counts()
    tiers = sorted(counts.index, key=lambda t: TIER_STYLE[Tier(t)]["order"])
    return ", ".join(f"{counts[t]:,} {t}" for t in tiers)


# -- cover --------------------------------------------------------------------------------------
def cover(model: Mapping[str, Any]) -> html.Section:
    """The first page: the period, the headline, every department's line, what changed, the
    city's last weeks and how it is measured."""
    rows = [
        [
            html.Span(department_title(card)),
            tier_badge(card["tier"]),
            _pct(card["compliance"]),
            target_text(card["target"]),
            _points(card["compliance_change"]),
            _count(card["due"]),
            _count(card["volume"]),
            _count(card["open_backlog"]),
            _count(card["overdue_open"]),
            _days(card["median_days"]),
        ]
        for card in model["cards"]
    ]
    return html.Section(
        [
            html.H1(f"Stat-meeting pack: {model['period_label']}", className="h3"),
            html.P(
                [
                    (
                        f"Compared with {model['previous_label']}. "
                        if model.get("compared", True)
                        else f"No earlier data to compare with ({model['previous_label']}). "
                    ),
                    f"Open backlog and overdue cases are counted {model['as_of_label']}. ",
                    html.Span(f"Prepared {model['prepared']}.", className="text-muted"),
                ],
                className="small",
            ),
            html.P(model["headline"], className="lead"),
            html.H2(model["scope_title"], className="h5 mt-3"),
            table(
                [
                    "Department",
                    "Tier",
                    "On time",
                    "Target",
                    "Change",
                    "Due",
                    "Opened",
                    "Backlog",
                    "Overdue",
                    "Median days to close",
                ],
                rows,
            ),
            html.H2("What changed since the previous period", className="h5 mt-3"),
            changes_list(
                model["department_changes"],
                model["type_changes"],
                limit=CHANGE_ROWS,
                more="see the Overview and the department pages",
                compared=model.get("compared", True),
            ),
            html.H2(f"{model['scope_title']}: the last {WEEKS} weeks", className="h5 mt-3"),
            weeks_table(model["weekly"], model["min_count"]),
            html.H2("How this is measured", className="h6 mt-3"),
            html.Div(MEASURED, className="small"),
        ],
        className="pack-cover",
        **{"aria-label": "Summary"},
    )


# -- one page per department ---------------------------------------------------------------------
def _large_badge(tier: str) -> html.Span:
    """The department's tier, large; its words wrap on a narrow screen (320 px)."""
    badge = tier_badge(tier, large=True)
    badge.className += " text-wrap text-start"
    return badge


def department_section(section: Mapping[str, Any]) -> html.Section:
    card = section["card"]
    name = card.get("department_name") or card["department"]
    code = card["department"]
    figures = [
        [
            "On time",
            NO_SERVICE_LEVEL
            if card.get("no_due_times")
            else f"{_pct(card['compliance'])} against a target of {target_text(card['target'])}",
        ],
        ["Change since the previous period", _points(card["compliance_change"])],
        ["Due in the period", f"{_count(card['due'])} ({_count(card['on_time'])} on time)"],
        [
            "Opened in the period",
            f"{_count(card['volume'])} ({_percent_change(card['volume_change'])} on the previous period)",
        ],
        ["Open backlog", _count(card["open_backlog"])],
        ["Overdue and still open", _count(card["overdue_open"])],
        ["Median days to close", _days(card["median_days"])],
    ]
    types: pd.DataFrame = section["types"]
    type_rows = [
        [
            str(r.group),
            tier_badge(r.tier),
            _pct(r.compliance),
            target_text(r.target),
            _count(r.due),
            _count(r.on_time),
            _count(r.volume),
            _count(r.open_backlog),
            _count(r.overdue_open),
        ]
        for r in types.head(TYPE_ROWS).itertuples()
    ]
    rest = types.iloc[TYPE_ROWS:]
    ages: pd.DataFrame = section["ages"]
    states = list(dict.fromkeys(ages["state"]))
    age_rows = [
        [bucket, *(_count(n) for n in part.set_index("state").reindex(states)["count"])]
        for bucket, part in ages.groupby("bucket", sort=False)
    ]
    overdue: pd.DataFrame = section["overdue"]
    overdue_rows = [
        [
            str(r.request_id),
            str(r.type),
            _text(r.address),
            f"{pd.Timestamp(r.opened):%d %b %Y}",
            f"{pd.Timestamp(r.due):%d %b %Y}",
            f"{r.days_overdue:.1f}",
        ]
        for r in overdue.itertuples()
    ]
    quiet = (
        html.P(
            f"Nothing of {name} was due or opened in {section['period_label']}: it is in the pack "
            f"for its open backlog ({_count(card['open_backlog'])}), counted "
            f"{section['as_of_label']}.",
            className="small pack-quiet",
        )
        if card["due"] == 0 and card["volume"] == 0
        else None
    )
    return html.Section(
        [
            html.Div(
                [
                    html.H2(department_title(card), className="h4 mb-0 me-3"),
                    _large_badge(card["tier"]),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mb-2",
            ),
            quiet,
            table(["Figure", "This period"], figures),
            html.H3("Request types, problems first", className="h6 mt-3"),
            table(
                [
                    "Type",
                    "Tier",
                    "On time",
                    "Target",
                    "Due",
                    "On time (cases)",
                    "Opened",
                    "Backlog",
                    "Overdue",
                ],
                type_rows,
            ),
            html.P(
                f"And {plural(len(rest), 'more request type')} ({more_types(rest)}): see the "
                "department page.",
                className="small text-muted",
            )
            if len(rest)
            else None,
            html.Div(
                [
                    html.Div(
                        [
                            html.H3(f"The last {WEEKS} weeks", className="h6 mt-3"),
                            weeks_table(section["weekly"], section["min_count"]),
                        ],
                        className="col-12 col-lg-7",
                    ),
                    html.Div(
                        [
                            html.H3("Open cases by age", className="h6 mt-3"),
                            table(["Age", *states], age_rows),
                        ],
                        className="col-12 col-lg-5",
                    ),
                ],
                className="row pack-pair",
            ),
            html.H3(
                f"Most overdue open cases (the {OVERDUE_ROWS} longest past their due time)",
                className="h6 mt-3",
            ),
            table(
                ["Request", "Type", "Address", "Opened", "Due", "Days overdue"],
                overdue_rows,
            ),
            html.H3("Repeat locations (the busiest addresses)", className="h6 mt-3"),
            table(
                ["Address", "Requests", "Still open", "Request types"],
                [
                    [_text(r.address), _count(r.requests), _count(r.still_open), r.types]
                    for r in section["repeats"].itertuples()
                ],
            ),
            html.P(
                dcc.Link(f"{name} page for this period", href=card["href"]),
                className="small no-print",
            ),
        ],
        className="pack-department mt-4",
        **{"aria-label": name if name == code else f"{name} ({code})"},
    )


def content(model: Mapping[str, Any]) -> list[Any]:
    """The whole pack: the cover, then each department (problems first)."""
    return [cover(model), *(department_section(s) for s in model["sections"])]


def empty(title: str, message: str, *, color: str) -> list[Any]:
    """No pack to show: the page's heading, then why (no data yet, a period outside it)."""
    return [html.H1(title, className="h3"), dbc.Alert(message, color=color)]
