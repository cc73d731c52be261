"""The public portal in real headless Chromium, signed out: look a request up by its number."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from layouts.public import ALL_TYPES_LABEL
from tests.support.browser import chromium_browser, serve_wsgi

pytestmark = pytest.mark.browser


@pytest.fixture
def served(demo, reset_dash_registries, monkeypatch):
    monkeypatch.setenv("STAT311_RATE_LIMIT", "1000000 per minute")
    app = create_app(demo[0])
    with serve_wsgi(app.server) as url:
        yield url


def test_look_up_a_request_by_its_number(served) -> None:
    url = served
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 800})  # a phone
        page.goto(url + "/public/")
        expect(page.get_by_role("heading", name="Track a request")).to_be_visible(timeout=20_000)

        # Keyboard first: the skip link, then the navigation.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"

        # No complaint before anyone has typed (the form's callback fires as it is drawn):
        # pressing Track on the empty box asks for a number.
        feedback = page.locator("#public-track-feedback")
        page.wait_for_function(
            "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=20_000
        )
        page.wait_for_load_state("networkidle")
        assert feedback.text_content() == ""
        page.get_by_role("button", name="Track").click()
        expect(feedback).to_have_text("Enter a tracking number.", timeout=20_000)

        box = page.get_by_label("Tracking number")
        box.fill(" 101000295613 ")
        box.press("Enter")
        result = page.locator("#public-track-result")
        expect(result).to_contain_text("Request 101000295613", timeout=20_000)
        expect(result).to_contain_text("Closed")
        expect(result).to_contain_text("Street Light Outages")
        expect(result).to_contain_text("within the promised time frame")
        expect(page).to_have_url(re.compile(r"/public/requests/101000295613$"))
        expect(page).to_have_title(re.compile("Request 101000295613"))
        # Nothing is wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # An unknown number, with the button this time.
        box = page.get_by_label("Tracking number")
        box.fill("123456")
        page.get_by_role("button", name="Track").click()
        expect(result).to_contain_text("We could not find that request", timeout=20_000)
        expect(page).to_have_url(re.compile(r"/public/requests/123456$"))

        # The permanent link opens the request directly, and no link leaves the public side
        # for a staff page.
        page.goto(url + "/public/requests/101000295613")
        expect(page.locator("#public-track-result")).to_contain_text(
            "Request 101000295613", timeout=20_000
        )
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert links and all(h.startswith(("/public/", "/open311/", "#")) for h in links), links


def test_the_map_keeps_its_settings_in_the_address(served) -> None:
    """A shared map link opens the same view; a change of setting is written to the address;
    Back returns the page to the address before; nonsense in the address gives the defaults."""
    url = served
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(url + "/public/map?type=Street+Light+Outages&days=90&view=cell")
        summary = page.locator("#public-map-summary")
        expect(summary).to_contain_text("Street Light Outages:", timeout=20_000)
        expect(page.locator("#public-map-view")).to_have_value("cell")
        expect(page.locator("#public-map-days")).to_have_value("90")
        expect(page.locator("#public-map-table")).to_contain_text("H3 cell")

        page.select_option("#public-map-view", "points")
        # The address is written by a callback's answer: as long as the map's, on a busy machine.
        expect(page).to_have_url(
            re.compile(r"type=Street\+Light\+Outages&days=90&view=points$"), timeout=20_000
        )
        expect(page.locator("#public-map-table")).to_contain_text("Request", timeout=20_000)
        expect(summary).to_contain_text("Street Light Outages:")

        page.go_back()
        expect(page).to_have_url(re.compile(r"view=cell$"), timeout=20_000)
        expect(page.locator("#public-map-view")).to_have_value("cell", timeout=20_000)
        expect(page.locator("#public-map-table")).to_contain_text("H3 cell", timeout=20_000)

        page.goto(url + "/public/map?type=No+Such+Type&days=7&view=x")
        expect(summary).to_contain_text("All requests:", timeout=20_000)
        expect(page.locator("#public-map-view")).to_have_value("area")
        expect(page.locator("#public-map-days")).to_have_value("30")
        # Every type chosen: the type box says so (it was blank: dbc.Select's hidden option of
        # value "" had no text).
        shown = page.locator("#public-map-type").evaluate(
            "sel => [sel.value, sel.selectedOptions[0].textContent]"
        )
        assert shown == ["", ALL_TYPES_LABEL], shown
