"""Tables of numbers as one component (layouts.tables): escaped text, real table semantics,
and far fewer Dash components than a table of ``html.Td``."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from callbacks.department import department_view, map_view, repeats_view
from dashboard.services import Services
from layouts.tables import Cell, static_table, table_html
from tests.support.components import table_cells, table_rows, walk

AS_OF = pd.Timestamp("2012-06-01", tz="UTC")

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "**bold** _em_ `code` [link](http://x.test)",
    "a | b",
    "line one\n\nline two",  # a blank line would end the raw HTML block
    "&amp; stays text",
    "\"quoted\" 'single'",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_any_text_is_shown_as_text(text: str) -> None:
    """Whatever a cell holds (case text comes from the public), the table shows it as text:
    no tag, no Markdown, no end of the HTML block, on one line."""
    markup = table_html(["Heading " + text], [[text, Cell(text, title=text), Cell([text, "x"])]])
    assert "\n" not in markup
    assert "<script" not in markup and "<img" not in markup
    component = static_table(["Heading " + text], [[text, Cell(text, title=text)]])
    rows = table_cells(component)
    shown = " ".join(text.split())  # the browser shows runs of white space as one space
    assert rows[0][0][2] == "Heading " + shown
    assert rows[1][0][2] == shown and rows[1][1][2] == shown
    assert rows[1][1][1]["title"] == shown


def test_headings_row_headers_lines_and_classes() -> None:
    component = static_table(
        ["Place", "Count", "Where"],
        [
            ["1 Main St", "3", Cell(["a", "b"])],
            [
                Cell("Outside", em=True),
                Cell("1,200", class_name="text-end"),
                Cell("89a", code=True),
            ],
        ],
        row_headers=True,
        caption="Two places",
        wrapper_class="table-responsive",
    )
    assert component.dangerously_allow_html is True
    assert component.className == "static-table table-responsive"
    cells = table_cells(component)
    assert [(tag, a.get("scope")) for tag, a, _ in cells[0]] == [("th", "col")] * 3
    assert [(tag, a.get("scope")) for tag, a, _ in cells[1]] == [
        ("th", "row"),
        ("td", None),
        ("td", None),
    ]
    assert table_rows(component)[1:] == [["1 Main St", "3", "a\nb"], ["Outside", "1,200", "89a"]]
    assert cells[2][1][1]["class"] == "text-end"
    assert "<caption>Two places</caption>" in component.children
    assert "<em>Outside</em>" in component.children and "<code>89a</code>" in component.children
    assert re.search(r'<table class="table table-sm table-striped">', component.children)


def test_a_badge_cell_is_a_pill_with_its_icon_hidden_from_screen_readers() -> None:
    markup = table_html(["Tier"], [[Cell("On Target", icon="bi-check", badge="#1b7f3b")]])
    assert '<i class="bi bi-check me-2" aria-hidden="true"></i>On Target' in markup
    assert 'style="background-color: #1b7f3b; color: white"' in markup


def _components(value) -> int:
    return len(walk(value))


def test_a_period_of_the_department_page_is_a_few_components(demo) -> None:
    """The Dash renderer's work per callback grows with its components: the department page's
    answer to a change of period (every table included) stays a few dozen components, not one
    per table cell (it was about a thousand for a quarter). Each table still shows every row."""
    services = Services.from_settings(demo[0])
    query = "?period=quarter&date=2011-07-01"
    view = department_view(services, "PWDx", query, as_of=AS_OF)
    repeats = repeats_view(services, "PWDx", query, as_of=AS_OF)
    areas = map_view(services, "PWDx", query, "neighborhood", as_of=AS_OF)
    outputs = [view[k] for k in ("heading", "series_table", "aging_table")]
    outputs += [repeats["table"], areas["table"]]
    assert sum(_components(o) for o in outputs) <= 60
    series = table_rows(view["series_table"])
    assert len(series) > 50  # five types x 14 weeks, every one a row
    shown = table_rows(areas["table"])[1:]
    assert [r[0] for r in shown[:-1]] == areas["frame"]["area"].tolist()
    assert [r[3] for r in shown[:-1]] == [f"{n:,}" for n in areas["frame"]["due"]]
    assert shown[-1][0] == "Outside every area / no location"  # the demo has such cases
