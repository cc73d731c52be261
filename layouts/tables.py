"""Tables of numbers drawn as one Dash component, not one component per cell.

A table built of ``html.Tr``/``html.Td`` is a Dash component per cell, and the Dash renderer's
work on each callback grows with the number of components on the page: on the department page
a period's tables (the weekly series, the areas, the repeat locations, the ages; about 1,000
cells) kept Chromium's main thread busy for 3.1-9.1 s of long tasks per change of period after
the server had answered (0.7-1.4 s as one component each). A table
here is one :class:`dash.dcc.Markdown` holding the table's HTML, written by :func:`table_html`
from escaped text only: every value goes through :func:`html.escape`, the markup (tags and
attributes) is this module's own, and the whole table is one line, so Markdown reads it as one
raw HTML block and never as Markdown (a blank line would end the block).

The table keeps its semantics: ``<th scope="col">`` headings, an optional ``<th scope="row">``
first cell per row (a screen reader names each number by its row), a caption, and Bootstrap's
table classes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dash import dcc

#: Bootstrap's small striped table (``dbc.Table(size="sm", striped=True)``).
STRIPED = "table table-sm table-striped"


@dataclass(frozen=True)
class Cell:
    """One cell, when it needs more than its text.

    ``text`` is shown as text (escaped); a list or tuple of strings is shown as lines (an
    unstyled list). ``class_name`` and ``title`` become the cell's attributes; ``em`` shows the
    text in italics, ``code`` in a monospace ``<code>``; ``icon`` (a Bootstrap icon class, hidden
    from screen readers) goes before the text; ``badge`` (a CSS colour) shows the text as a
    pill of that colour with white text, like the pages' tier badges; ``swatch`` (a CSS colour)
    puts a small square of that colour before the text (``swatch_border``: its outline), like
    a map's legend, hidden from screen readers (the text says the same)."""

    text: Any
    class_name: str = ""
    title: str = ""
    em: bool = False
    code: bool = False
    icon: str = ""
    badge: str = ""
    swatch: str = ""
    swatch_border: str = ""


def _text(value: Any) -> str:
    """``value`` as escaped text on one line (a newline could end the raw HTML block)."""
    return html.escape(" ".join(str(value).split()), quote=True)


def _content(cell: Cell) -> str:
    if isinstance(cell.text, list | tuple):
        items = "".join(f"<li>{_text(line)}</li>" for line in cell.text)
        inner = f'<ul class="list-unstyled mb-0">{items}</ul>'
    else:
        inner = _text(cell.text)
    if cell.icon:
        inner = f'<i class="bi {_text(cell.icon)} me-2" aria-hidden="true"></i>{inner}'
    if cell.badge:
        inner = (
            f'<span class="badge rounded-pill department-tier" '
            f'style="background-color: {_text(cell.badge)}; color: white">{inner}</span>'
        )
    if cell.code:
        inner = f"<code>{inner}</code>"
    if cell.swatch:
        border = f"; border-color: {_text(cell.swatch_border)}" if cell.swatch_border else ""
        inner = (
            '<span class="d-inline-block me-2 align-middle border" style="width: 1.1em; '
            f'height: 1.1em; background-color: {_text(cell.swatch)}{border}" '
            f'aria-hidden="true"></span>{inner}'
        )
    if cell.em:
        inner = f"<em>{inner}</em>"
    return inner


def _cell(value: Any, tag: str, scope: str = "") -> str:
    cell = value if isinstance(value, Cell) else Cell(value)
    attributes = f' scope="{scope}"' if scope else ""
    if cell.class_name:
        attributes += f' class="{_text(cell.class_name)}"'
    if cell.title:
        attributes += f' title="{_text(cell.title)}"'
    return f"<{tag}{attributes}>{_content(cell)}</{tag}>"


def table_html(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    row_headers: bool = False,
    caption: str | None = None,
    class_name: str = STRIPED,
) -> str:
    """The table's HTML on one line. ``headers`` and each row hold plain values (shown with
    ``str``) or :class:`Cell`; with ``row_headers`` each row's first cell is its heading."""
    head = "".join(_cell(h, "th", "col") for h in headers)
    body = []
    for row in rows:
        cells = [
            _cell(v, "th", "row") if row_headers and i == 0 else _cell(v, "td")
            for i, v in enumerate(row)
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    caption_html = f"<caption>{_text(caption)}</caption>" if caption else ""
    return (
        f'<table class="{_text(class_name)}">{caption_html}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def static_table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    row_headers: bool = False,
    caption: str | None = None,
    class_name: str = STRIPED,
    wrapper_class: str = "",
) -> dcc.Markdown:
    """A table of text as one component (see the module's notes): what a callback returns
    where it would return ``dbc.Table([...])``. ``wrapper_class`` is the class of the
    ``<div>`` around it (``table-responsive`` for one that may scroll sideways)."""
    return dcc.Markdown(
        table_html(headers, rows, row_headers=row_headers, caption=caption, class_name=class_name),
        dangerously_allow_html=True,
        className=f"static-table {wrapper_class}".strip(),
    )
