"""The frame around every page: navbar built from the page registry, then the page container."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import html


def _who() -> str:
    from dashboard.auth import current_user

    user = current_user()
    if user is None:
        return ""
    scope = "all departments" if user.all_departments else ", ".join(user.departments)
    return f"{user.email} ({user.role}: {scope})"


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
                html.Span(_who(), className="navbar-text small me-3"),
                html.A("Sign out", href="/sign-out", className="btn btn-outline-light btn-sm"),
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
