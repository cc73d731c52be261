"""The public map's table (``layouts.public.table``), compared as a component tree with one
written here row by row (one component holding the table's HTML, ``layouts.tables``): the first column as row headers, whole numbers with thousands
separators, anything else as text, at most ``limit`` rows and a note saying how many there are."""

from __future__ import annotations

import json
from html import escape as html_escape
from typing import Any

import numpy as np
import pandas as pd
from dash import dcc, html
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
    """The table written out here by hand: one row per area, its name the row's heading."""
    rows = []
    for i in range(min(limit, len(frame))):
        name, requests, open_ = (frame[c].iloc[i] for c, _ in COLUMNS)
        rows.append(
            f'<tr><th scope="row">{html_escape(str(name))}</th>'
            f"<td>{format(int(requests), ',')}</td><td>{format(int(open_), ',')}</td></tr>"
        )
    head = "".join(f'<th scope="col">{h}</th>' for _, h in COLUMNS)
    markup = (
        f'<table class="table table-sm table-striped"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    note = (
        html.P(f"The first {limit:,} of {len(frame):,} rows.", className="text-muted")
        if len(frame) > limit
        else None
    )
    table = dcc.Markdown(markup, dangerously_allow_html=True, className="static-table")
    return html.Div([table, note])


def test_the_table_shows_every_row_with_separators_below_the_limit() -> None:
    frame = _frame(12)
    assert (frame["requests"] >= 1000).any()  # separators are checked
    got = ui.table(frame, COLUMNS)
    assert _tree(got) == _tree(_expected(frame, 200))
    assert json.dumps(_tree(got)).count("<td>") == 24


def test_the_table_stops_at_its_limit_and_says_so() -> None:
    frame = _frame(250)
    got = ui.table(frame, COLUMNS, limit=200)
    assert _tree(got) == _tree(_expected(frame, 200))
    assert got.children[1].children == "The first 200 of 250 rows."


def test_an_empty_frame_says_no_rows() -> None:
    assert ui.table(_frame(0), COLUMNS).children == "No rows."
