"""The frame around every page: navbar built from the page registry, then the page container."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

#: The module name Dash Pages shows for a path no page has.
NOT_FOUND_MODULE = "not_found_404"
#: Its tab title.
NOT_FOUND_TITLE = "Page not found · stat311"


def index_string(*, body_class: str = "") -> str:
    """Dash's page template with the page's language (``<html lang="en">``, WCAG 3.1.1) and its
    scripts in a plain ``<div>``: Dash's default puts them in an empty ``<footer>``, a second
    footer landmark for screen readers."""
    body = f' class="{body_class}"' if body_class else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
{{%metas%}}
<title>{{%title%}}</title>
{{%favicon%}}
{{%css%}}
</head>
<body{body}>
{{%app_entry%}}
<div>
{{%config%}}
{{%scripts%}}
{{%renderer%}}
</div>
</body>
</html>"""


def not_found(**_query: Any) -> html.Div:
    """The page for a staff path that does not exist: what there is instead."""
    pages = sorted(
        (
            p
            for p in dash.page_registry.values()
            if p["module"] != NOT_FOUND_MODULE and p.get("nav", True)
        ),
        key=lambda p: p.get("order") or 0,
    )
    return html.Div(
        [
            html.H1("Page not found", className="h3"),
            html.P("There is no page at this address. The pages are:"),
            html.Ul([html.Li(dcc.Link(p["name"], href=p["relative_path"])) for p in pages]),
            html.P(["The public portal is at ", html.A("/public/", href="/public/"), "."]),
        ]
    )


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
        if page.get("nav", True) and page["module"] != NOT_FOUND_MODULE
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("stat311", href="/", className="fw-bold"),
                # In a row at every width (three links fit a 320 px phone): a stacked menu
                # took about 225 px of every staff page's first screen on a phone.
                dbc.Nav(links, navbar=True, className="me-auto flex-row column-gap-3"),
                html.Div(
                    [
                        html.Span(_who(), className="navbar-text small me-3"),
                        html.A(
                            "Sign out",
                            href="/sign-out",
                            className="btn btn-outline-light btn-sm text-nowrap",
                        ),
                    ],
                    className="d-flex align-items-center",
                ),
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
            html.Header(navbar(pages)),
            # Focusable from the skip link (screen readers read on from there), as the portal's.
            dbc.Container(html.Main(dash.page_container, id="main", tabIndex="-1"), fluid=True),
        ]
    )
