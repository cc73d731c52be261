"""The requests page in real headless Chromium: open it, change a filter, see the chart change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from dashboard.queries import CaseFilter, ReadModel
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

TRACE_TOTAL = """() => {
  const plot = document.querySelector('#requests-chart .js-plotly-plot');
  if (!plot || !plot._fullData) return null;
  return plot._fullData.reduce((sum, t) => sum + Array.from(t.y || []).reduce((a, b) => a + b, 0), 0);
}"""


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    password = make_user(settings, "stat@team.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, ReadModel(settings.snapshot_dir), password


def test_change_a_filter_and_the_chart_follows(served) -> None:
    url, model, password = served
    everything = model.total(CaseFilter())
    pwd = model.total(CaseFilter(departments=("PWDx",)))
    with chromium_browser() as browser:
        context = browser.new_context()
        page = context.new_page()
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + "/requests")
        summary = page.locator("#requests-summary")
        expect(summary).to_contain_text(f"{everything:,} requests", timeout=20_000)
        page.wait_for_function(f"() => ({TRACE_TOTAL})() === {everything}", timeout=20_000)

        page.locator("#requests-department").click()
        page.get_by_role("option", name="Public Works Department (PWDx)", exact=True).click()
        page.keyboard.press("Escape")
        expect(summary).to_contain_text(f"{pwd:,} requests", timeout=20_000)
        page.wait_for_function(f"() => ({TRACE_TOTAL})() === {pwd}", timeout=20_000)
        expect(page).to_have_url(re.compile(r"\?department=PWDx$"))

        # The link reopens the same view.
        shared = page.url
        other = context.new_page()  # same signed-in session, a new tab
        other.goto(shared)
        expect(other.locator("#requests-summary")).to_contain_text(
            f"{pwd:,} requests", timeout=20_000
        )


def test_case_text_is_never_executed(served) -> None:
    url, _, password = served
    with chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "stat@team.test", password)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url + "/requests?department=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
        expect(page.locator("#requests-summary")).to_contain_text("requests", timeout=20_000)
        assert dialogs == []


def test_an_unknown_staff_address_lists_the_pages_there_are(served) -> None:
    """Not Dash's bare "404": a page that says so and links to every page (and the portal)."""
    url, _, password = served
    with chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + "/nosuchpage")
        main = page.locator("#main")
        expect(main).to_contain_text("Page not found", timeout=20_000)
        links = main.locator("a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert {"/", "/requests", "/hotspots", "/public/"} <= set(hrefs), hrefs
        assert not any(h and ("404" in h or "<" in h) for h in hrefs), hrefs
        nav = page.locator("nav a")
        assert "/404" not in [nav.nth(i).get_attribute("href") for i in range(nav.count())]
