"""Helpers for comparing Dash component trees."""

from __future__ import annotations

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
