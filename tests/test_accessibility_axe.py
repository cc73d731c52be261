"""axe-core (Deque's accessibility engine, bundled by ``axe-playwright-python``) on every page,
in real headless Chromium, against WCAG 2.0/2.1 levels A and AA.

The public portal and the sign-in page must have no violation at all. The staff pages may have
only the ones Dash's own widgets bring, listed in :data:`DASH_WIDGETS` (Dash draws their markup;
see README.md, "Accessibility"); any other violation, or one of those rules on another
element, fails: what we write ourselves stays clean.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import chromium_browser
from tests.support.signin import A11Y_USER, browser_sign_in

pytestmark = pytest.mark.browser

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}

#: Violations Dash 4's widgets bring (rule -> the widget's class on the flagged element): the
#: date pickers' trigger (``aria-expanded`` on a div without a role), the dropdowns' hidden
#: focus box (``aria-hidden`` yet focusable: it is how the keyboard reaches the dropdown), the
#: date range's "clear" link (``aria-label`` on an ``<a>`` without ``href``).
DASH_WIDGETS = {
    "aria-allowed-attr": "dash-datepicker-input-wrapper",
    "aria-hidden-focus": "dash-dropdown-focus-target",
    "aria-prohibited-attr": "dash-datepicker-clear",
}

PUBLIC = [
    ("/public/", "#public-track-number"),
    ("/public/map?type=Street+Light+Outages&days=90&view=area", "#public-map-summary"),
    ("/public/map?type=Street+Light+Outages&days=90&view=cell", "#public-map-summary"),
    ("/public/map?type=Street+Light+Outages&days=90&view=points", "#public-map-summary"),
    ("/public/map", "#public-map-summary"),
    ("/public/performance", ".dash-graph"),
    ("/public/requests/101000295613", "#public-track-result"),
    ("/public/requests/doesnotexist", "#public-track-result"),
    ("/sign-in", "form"),
]
STAFF = [
    ("/?period=month&date=2011-09-01", ".dash-graph"),
    ("/requests?from=2011-08-01&to=2011-10-31&period=month", ".dash-graph"),
    ("/department/PWDx?period=month&date=2011-09-01", ".ag-root"),
    ("/hotspots", "#hotspots-table tbody tr"),
    ("/pack?period=month&date=2011-09-01", "table"),
]


def _audit(page: Page, url: str, ready: str) -> list[dict[str, Any]]:
    """axe's violations on ``url`` once Dash has drawn it (``ready`` visible, nothing loading)."""
    from axe_playwright_python.sync_playwright import Axe

    page.goto(url)
    expect(page.locator(ready).first).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=30_000
    )
    page.wait_for_load_state("networkidle")
    return Axe().run(page, options=WCAG_AA).response["violations"]


def _nodes(violations: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(v["id"], v["impact"], n["html"][:160]) for v in violations for n in v["nodes"]]


def test_public_pages_have_no_wcag_violation(served_demo) -> None:
    url, _ = served_demo
    with chromium_browser() as browser:
        for width, height in ((1366, 900), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            for path, ready in PUBLIC:
                found = _nodes(_audit(page, url + path, ready))
                assert not found, (path, width, found)
            page.close()


def test_staff_pages_have_only_the_dash_widgets_violations(served_demo) -> None:
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        seen: set[str] = set()
        for path, ready in STAFF:
            for rule, impact, html in _nodes(_audit(page, url + path, ready)):
                widget = DASH_WIDGETS.get(rule)
                assert widget is not None and widget in html, (path, rule, impact, html)
                seen.add(rule)
        # The list is kept honest: a rule Dash no longer brings is taken off it.
        assert seen == set(DASH_WIDGETS), seen
