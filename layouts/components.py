"""Components shared by several pages (layout only)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.periods import KINDS


def period_columns(
    *,
    kind_id: str,
    date_id: str,
    range_id: str,
    range_box_id: str,
    kind: str | None = None,
    widths: tuple[int, int, int] = (4, 3, 5),
    range_hidden: bool = False,
) -> list[dbc.Col]:
    """The stat-meeting period picker (week, month, quarter, custom), as three grid columns:
    the kind, a day inside the period, and the custom dates (shown for "custom" by a callback)."""
    box: dict[str, Any] = {"style": {"display": "none"}} if range_hidden else {}
    return [
        dbc.Col(
            [
                dbc.Label("Period", html_for=kind_id, className="small fw-semibold mb-1"),
                dbc.RadioItems(
                    id=kind_id,
                    options=[{"label": k.title(), "value": k} for k in KINDS],
                    value=kind,
                    inline=True,
                ),
            ],
            xs=12,
            md=widths[0],
        ),
        dbc.Col(
            [
                dbc.Label("Containing the day", html_for=date_id, className="small mb-1"),
                dcc.DatePickerSingle(id=date_id, display_format="YYYY-MM-DD"),
            ],
            xs=12,
            md=widths[1],
        ),
        dbc.Col(
            html.Div(
                [
                    dbc.Label("Custom dates", html_for=range_id, className="small mb-1"),
                    dcc.DatePickerRange(id=range_id, display_format="YYYY-MM-DD"),
                ],
                id=range_box_id,
                **box,
            ),
            xs=12,
            md=widths[2],
        ),
    ]
