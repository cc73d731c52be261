"""The frame around every page: navbar built from the page registry, then the page container."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import html


def navbar(pages: Iterable[Mapping[str, Any]]) -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in pages
        if page.get("nav", True)
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("stat311", href="/", className="fw-bold"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Span("311 performance and hotspots", className="navbar-text small"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


def layout() -> html.Div:
    pages = sorted(dash.page_registry.values(), key=lambda p: p.get("order") or 0)
    return html.Div(
        [
            html.A("Skip to content", href="#main", className="visually-hidden-focusable"),
            navbar(pages),
            dbc.Container(html.Main(dash.page_container, id="main"), fluid=True),
        ]
    )
