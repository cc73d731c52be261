"""The public map's table (``layouts.public.table``), compared as a component tree with one
built here row by row: the first column as row headers, whole numbers with thousands
separators, anything else as text, at most ``limit`` rows and a note saying how many there are."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import html
from plotly.utils import PlotlyJSONEncoder

from layouts import public as ui

COLUMNS = [("name", "Area"), ("requests", "Requests"), ("open", "Still open")]


def _tree(component: Any) -> Any:
    """The component tree as the browser receives it (every child serialised)."""
    return json.loads(json.dumps(component, cls=PlotlyJSONEncoder))


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "name": [f"Area {i}" for i in range(n)],
            "requests": rng.integers(0, 50_000, size=n).astype(np.int64),
            "open": pd.array(rng.integers(0, 2_000, size=n), dtype="int64[pyarrow]"),
        }
    )


def _expected(frame: pd.DataFrame, limit: int) -> html.Div:
    rows = []
    for i in range(min(limit, len(frame))):
        name, requests, open_ = (frame[c].iloc[i] for c, _ in COLUMNS)
        rows.append(
            html.Tr(
                [
                    html.Th(str(name), scope="row"),
                    html.Td(format(int(requests), ",")),
                    html.Td(format(int(open_), ",")),
                ]
            )
        )
    head = html.Thead(html.Tr([html.Th(h, scope="col") for _, h in COLUMNS]))
    note = (
        html.P(f"The first {limit:,} of {len(frame):,} rows.", className="text-muted")
        if len(frame) > limit
        else None
    )
    return html.Div([dbc.Table([head, html.Tbody(rows)], size="sm", striped=True), note])


def test_the_table_shows_every_row_with_separators_below_the_limit() -> None:
    frame = _frame(12)
    assert (frame["requests"] >= 1000).any()  # separators are checked
    got = ui.table(frame, COLUMNS)
    assert _tree(got) == _tree(_expected(frame, 200))
    assert json.dumps(_tree(got)).count('"type": "Td"') == 24


def test_the_table_stops_at_its_limit_and_says_so() -> None:
    frame = _frame(250)
    got = ui.table(frame, COLUMNS, limit=200)
    assert _tree(got) == _tree(_expected(frame, 200))
    assert got.children[1].children == "The first 200 of 250 rows."


def test_an_empty_frame_says_no_rows() -> None:
    assert ui.table(_frame(0), COLUMNS).children == "No rows."
