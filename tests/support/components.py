"""Helpers for comparing Dash component trees."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


def component_ids(component: Any) -> set[str]:
    """Every component id in a layout tree (children and component-valued props)."""
    found: set[str] = set()
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not hasattr(node, "to_plotly_json"):
            continue
        if getattr(node, "id", None) is not None:
            found.add(str(node.id))
        child = getattr(node, "children", None)
        if child is not None:
            stack.append(child)
        for value in vars(node).values():
            if hasattr(value, "to_plotly_json"):
                stack.append(value)
    return found


def walk(component: Any) -> list[Any]:
    """Every Dash component of a tree, in document order (parents before their children);
    lists, tuples and plain values are looked through."""
    found: list[Any] = []
    stack = [component]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(reversed(item))
            continue
        if not hasattr(item, "to_plotly_json"):
            continue
        found.append(item)
        children = getattr(item, "children", None)
        if children is not None:
            stack.append(children)
    return found


def parents(root: Any) -> dict[int, Any]:
    """Each component's parent in a layout tree, by ``id()`` of the child."""
    found: dict[int, Any] = {}
    for node in walk(root):
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            found[id(child)] = node
    return found


class _TableParser(HTMLParser):
    """Rows of a table's HTML as ``(tag, attributes, text)`` per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, dict[str, str], str]]] = []
        self._cell: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = [tag, {k: v or "" for k, v in attrs}, []]
        elif tag == "li" and self._cell is not None and self._cell[2]:
            self._cell[2].append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            tag_, attrs, parts = self._cell
            self.rows[-1].append((tag_, attrs, "".join(parts).strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[2].append(data)


def static_tables(component: Any) -> list[str]:
    """The HTML of every :func:`layouts.tables.static_table` in a tree."""
    return [
        node.children
        for node in walk(component)
        if type(node).__name__ == "Markdown" and "static-table" in (node.className or "")
    ]


def table_cells(component: Any) -> list[list[tuple[str, dict[str, str], str]]]:
    """The rows (heading row first) of the one static table in ``component``: each cell as
    ``(tag, attributes, text)``, an unstyled list's lines joined by newlines."""
    (markup,) = static_tables(component)
    parser = _TableParser()
    parser.feed(markup)
    return parser.rows


def table_rows(component: Any) -> list[list[str]]:
    """The text of each cell of :func:`table_cells`, heading row first."""
    return [[text for _, _, text in row] for row in table_cells(component)]
