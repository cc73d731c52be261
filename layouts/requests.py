"""Requests page (``/requests``): requests over time by department, with the filters above.

Layout only: it reads the query string to remember the view, but never touches the data. Options
and figures are filled in by ``callbacks/requests.py``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.queries import PERIODS
from dashboard.urlstate import from_query
from layouts.components import download_button, download_status, labelled, requested_between

PAGE = {"path": "/requests", "name": "Requests", "title": "Requests · stat311"}


class Ids(StrEnum):
    """Component ids of the requests page (declared once)."""

    URL = "requests-url"
    STATE = "requests-state"
    DATES_START = "requests-dates-start"
    DATES_END = "requests-dates-end"
    DEPARTMENT = "requests-department"
    TYPE = "requests-type"
    STATUS = "requests-status"
    CHANNEL = "requests-channel"
    LAYER = "requests-layer"
    AREA = "requests-area"
    PERIOD = "requests-period"
    SUMMARY = "requests-summary"
    NOTICE = "requests-notice"
    LINK_NOTICE = "requests-link-notice"
    CHART = "requests-chart"
    TABLE = "requests-table"
    TABLE_CSV = "requests-table-csv"
    DOWNLOAD = "requests-download"
    DOWNLOAD_NOTICE = "requests-download-notice"


#: The Period box's choices: the URL's ``period`` values (``day`` ... ``year``); "week", the
#: default the URL leaves out, is chosen when the page opens.
PERIOD_OPTIONS = [{"label": p.title(), "value": p} for p in PERIODS]
#: The Boundary layer box's first option (value "": no layer, the whole city; the URL has no
#: ``layer``), before the data's layers.
WHOLE_CITY = "Whole city"


def layer_choices(options: list[dict[str, str]]) -> list[dict[str, str]]:
    """The Boundary layer select's options: "Whole city" (value "") first, then ``options``
    (the data's layers). The select's placeholder is given the same words:
    dash-bootstrap-components draws it as a hidden option "" before these, and a browser shows
    that one for the value "" (the first option of that value)."""
    return [{"label": WHOLE_CITY, "value": ""}, *({**o} for o in options)]


def _control(label: str, component: Any, width: int = 3) -> dbc.Col:
    return dbc.Col(
        labelled(label, component),
        xs=12,
        md=6,
        lg=width,
        className="mb-2",
    )


def _multi(id_: str, placeholder: str) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, multi=True, placeholder=placeholder, options=[], value=[])


def filters() -> dbc.Row:
    return dbc.Row(
        [
            requested_between(start_id=Ids.DATES_START, end_id=Ids.DATES_END),
            _control("Department", _multi(Ids.DEPARTMENT, "All departments")),
            _control("Request type", _multi(Ids.TYPE, "All request types")),
            # A short fixed list, one always chosen: a native select (as on the hot-spot page
            # and the public map), named by its ``<label for>``; Dash's dropdown keeps a
            # focusable box hidden from screen readers (axe-core: aria-hidden-focus). Its
            # values are the URL's ``period`` values.
            _control(
                "Period",
                dbc.Select(id=Ids.PERIOD, options=PERIOD_OPTIONS, value="week"),
                width=3,
            ),
            _control("Status", _multi(Ids.STATUS, "Open and closed"), width=2),
            _control("Channel", _multi(Ids.CHANNEL, "All channels"), width=2),
            # One layer or none: a native select too, its first option "Whole city" (value
            # "", no layer in the URL) in place of the dropdown's clear button.
            _control(
                "Boundary layer",
                dbc.Select(
                    id=Ids.LAYER, options=layer_choices([]), value="", placeholder=WHOLE_CITY
                ),
                width=3,
            ),
            _control("Areas", _multi(Ids.AREA, "All areas"), width=5),
        ],
        className="g-2",
    )


def layout(**query: Any) -> html.Div:
    """The page. ``query`` is the URL's query string as Dash Pages passes it."""
    state = from_query(query)
    return html.Div(
        [
            dcc.Location(id=Ids.URL, refresh=False),
            dcc.Store(id=Ids.STATE, data=state.to_query()),
            html.H1("Requests over time", className="h3"),
            html.P(
                "Service requests by the week (or period) they were opened, in the city's local "
                "time. Change a filter and the link in the address bar changes with it: copy it "
                "to share exactly this view.",
                className="text-muted small",
            ),
            filters(),
            # What of the link could not be applied (set once, from the link the page opened).
            html.Div(id=Ids.LINK_NOTICE),
            html.Div(id=Ids.NOTICE),
            html.Div(id=Ids.SUMMARY, className="my-2", role="status", **{"aria-live": "polite"}),
            dcc.Loading(
                dcc.Graph(
                    id=Ids.CHART,
                    config={"displaylogo": False},
                    responsive=True,
                    className="requests-chart-graph",
                )
            ),
            html.Details(
                [
                    html.Summary("Table of the chart's numbers"),
                    html.Div(id=Ids.TABLE, className="table-responsive small"),
                    download_button(
                        Ids.TABLE_CSV, "Download every period (CSV)", class_name="mt-1"
                    ),
                    dcc.Download(id=Ids.DOWNLOAD),
                    download_status(Ids.DOWNLOAD_NOTICE),
                ],
                className="mt-2",
            ),
        ]
    )
