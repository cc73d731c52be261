"""The department page in real headless Chromium: open it from a link, read the tier in words,
page the overdue list and sort the types table, change the period and see the URL follow."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

TIERS = re.compile(r"On Target|Close But Not There|Problem That Needs a Plan|Not enough data")


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    password = make_user(settings, "stat@team.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, password


def test_department_page_reads_pages_sorts_and_keeps_the_period_in_the_url(served) -> None:
    url, password = served
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + "/department/PWDx?period=month&date=2011-09-01")

        heading = page.locator("#department-heading")
        expect(heading.locator("h1")).to_contain_text("PWDx", timeout=20_000)
        expect(heading).to_contain_text("September 2011")
        tier = heading.locator(".department-tier")
        expect(tier).to_have_text(TIERS)
        expect(tier.locator("i.bi")).to_have_count(1)  # an icon beside the words
        expect(heading).to_contain_text("on time vs target 90%")

        # The types table has rows with tiers in words; sorting by "Due" reorders it.
        types = page.locator("#department-types")
        first_type = types.locator("td[data-dash-column='type']").first
        expect(first_type).not_to_be_empty(timeout=20_000)
        expect(types.locator("td[data-dash-column='tier']").first).to_have_text(TIERS)
        before = first_type.inner_text()
        types.locator("th[data-dash-column='due'] .column-header--sort").click()
        expect(first_type).not_to_have_text(before, timeout=10_000)

        # The overdue list pages on the server.
        overdue = page.locator("#department-overdue")
        first_id = overdue.locator("td[data-dash-column='request_id']").first
        expect(first_id).to_have_text(re.compile(r"\d+"), timeout=20_000)
        page_one = first_id.inner_text()
        overdue.locator("button.next-page").click()
        expect(first_id).not_to_have_text(page_one, timeout=10_000)
        expect(overdue.locator("input.current-page")).to_have_attribute("placeholder", "2")

        # A new period: the heading and the link follow.
        page.get_by_label("Quarter").check()
        expect(heading).to_contain_text("Q3 2011", timeout=20_000)
        expect(page).to_have_url(re.compile(r"/department/PWDx\?period=quarter&date=2011-09-01$"))
        expect(overdue.locator("input.current-page")).to_have_attribute("placeholder", "1")

        # The map draws (no tiles needed) and explains the grey areas.
        expect(page.locator("#department-map .js-plotly-plot")).to_be_visible(timeout=20_000)
        expect(page.locator("#department-map-note")).to_contain_text("Q3 2011, by neighborhood")

        # The shared link reopens the same view.
        other = context.new_page()  # same signed-in session, a new tab
        other.goto(page.url)
        expect(other.locator("#department-heading")).to_contain_text("Q3 2011", timeout=20_000)
        assert errors == []


def test_unknown_department_is_explained_in_the_browser(served) -> None:
    url, password = served
    with chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + "/department/PWDz?period=month&date=2011-09-01")
        notice = page.locator("#department-notice")
        expect(notice).to_contain_text("No department PWDz in the data", timeout=20_000)
        expect(notice).to_contain_text("PWDx")
        expect(page.locator("#department-body")).to_be_hidden()
