"""The app factory: ``create_app(settings)`` builds a Dash app; nothing happens at import time."""

from __future__ import annotations

import logging

import dash
from dash import Dash, html

from dashboard.services import Services
from dashboard.settings import Settings

log = logging.getLogger(__name__)

#: (module name, path, title, nav order, layout module)
PAGES = (("overview", "/", "Overview", 0),)


def _register_pages() -> list:
    from layouts import overview

    layouts = {"overview": overview.layout}
    for name, path, title, order in PAGES:
        dash.register_page(
            f"stat311.{name}", path=path, name=title, title=f"{title} · stat311", order=order,
            layout=layouts[name],
        )
    return [layouts[name]() for name, *_ in PAGES]


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Dash:
    """Build the dashboard. ``services`` defaults to the read model of ``settings``."""
    from callbacks import overview as overview_callbacks
    from layouts import shell

    settings = settings or Settings.from_env()
    services = services or Services.from_settings(settings)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        # Bootstrap and its icons are vendored in dashboard/assets (no CDN needed).
        serve_locally=True,
        title="stat311",
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    page_layouts = _register_pages()
    app.layout = shell.layout
    app.validation_layout = html.Div([shell.layout(), *page_layouts])
    overview_callbacks.register(app, services)
    app.server.extensions["stat311"] = services
    return app
