"""The Overview follows its address in headless Chromium: Back after a control returns the page to
the view of the address it returns to, a control always writes the view it shows to the address,
and "Custom" starts from the period shown instead of jumping to another one."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.app_factory import create_app
from layouts.overview import Ids
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

MONTH = "/?period=month&date=2011-09-01"
WAIT = 20_000


def _kind(page, label: str):
    return page.locator(f"#{Ids.KIND}").get_by_label(label, exact=True)


@contextlib.contextmanager
def _signed_in(demo, path: str) -> Iterator[tuple[Browser, Page]]:
    """A live server on the demo data, a browser signed in as the mayor, at ``path``."""
    settings, _ = demo
    password = make_user(settings, "mayor@city.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "mayor@city.test", password)
        page.goto(url + path)
        yield browser, page


@contextlib.contextmanager
def _overview(demo, path: str) -> Iterator[tuple[Browser, Page]]:
    """:func:`_signed_in` at a link to September 2011, once the page shows it."""
    with _signed_in(demo, path) as (browser, page):
        expect(page.locator(f"#{Ids.HEADLINE}")).to_contain_text("September 2011:", timeout=WAIT)
        expect(_kind(page, "Month")).to_be_checked()
        yield browser, page


def test_back_after_a_control_returns_the_page_to_the_address(demo, reset_dash_registries):
    with _overview(demo, MONTH) as (_, page):
        headline = page.locator(f"#{Ids.HEADLINE}")

        # A control writes the address it shows.
        _kind(page, "Quarter").check()
        expect(headline).to_contain_text("Q3 2011:", timeout=WAIT)
        expect(page).to_have_url(re.compile(r"/\?period=quarter&date=2011-07-01$"))

        # Back: the address and the page return to the month together.
        page.go_back()
        expect(page).to_have_url(re.compile(re.escape(MONTH) + "$"))
        expect(headline).to_contain_text("September 2011:", timeout=WAIT)
        expect(_kind(page, "Month")).to_be_checked()
        expect(page.locator(f"#{Ids.DATE}")).to_have_value("2011-09-01")

        # Forward: the quarter again; then a week, and Back to the quarter, Back to the month.
        page.go_forward()
        expect(headline).to_contain_text("Q3 2011:", timeout=WAIT)
        expect(_kind(page, "Quarter")).to_be_checked()
        _kind(page, "Week").check()
        expect(headline).to_contain_text("week of 27 Jun 2011", timeout=WAIT)
        expect(page).to_have_url(re.compile(r"/\?period=week&date=2011-06-27$"))
        page.go_back()
        expect(page).to_have_url(re.compile(r"/\?period=quarter&date=2011-07-01$"))
        expect(headline).to_contain_text("Q3 2011:", timeout=WAIT)
        expect(_kind(page, "Quarter")).to_be_checked()
        page.go_back()
        expect(page).to_have_url(re.compile(re.escape(MONTH) + "$"))
        expect(headline).to_contain_text("September 2011:", timeout=WAIT)
        expect(_kind(page, "Month")).to_be_checked()


def test_custom_starts_from_the_period_shown(demo, reset_dash_registries):
    with _overview(demo, MONTH) as (browser, page):
        headline = page.locator(f"#{Ids.HEADLINE}")
        # Custom starts from the period shown: same numbers, dates filled in, address says so.
        before = headline.inner_text()
        _kind(page, "Custom").check()
        expect(page).to_have_url(
            re.compile(r"/\?period=custom&from=2011-09-01&to=2011-09-30$"), timeout=WAIT
        )
        expect(headline).to_contain_text("01 Sep 2011 – 30 Sep 2011:", timeout=WAIT)
        numbers = re.compile(r": (.*) \(compared")  # the comparison is the 30 days before
        assert numbers.search(headline.inner_text())[1] == numbers.search(before)[1]
        expect(_kind(page, "Custom")).to_be_checked()
        expect(page.locator(f"#{Ids.RANGE_START}")).to_have_value("2011-09-01")  # "From"
        expect(page.get_by_label("To", exact=True)).to_have_value("2011-09-30")
        expect(page.locator(f"#{Ids.DATE}")).to_have_value("2011-09-01")

        # A copied link reopens what the page shows.
        copied = page.url
        fresh = browser.new_page()
        fresh.context.add_cookies(page.context.cookies())
        fresh.goto(copied)
        expect(fresh.locator(f"#{Ids.HEADLINE}")).to_have_text(headline.inner_text(), timeout=WAIT)


def test_typing_in_the_date_boxes_writes_the_address(demo, reset_dash_registries):
    """The native date boxes ("From", "To", "Containing the day") write the address as the
    date pickers did; a cleared box changes nothing (no error, the view stays)."""
    with _overview(demo, MONTH) as (_, page):
        headline = page.locator(f"#{Ids.HEADLINE}")
        _kind(page, "Custom").check()
        expect(page).to_have_url(
            re.compile(r"/\?period=custom&from=2011-09-01&to=2011-09-30$"), timeout=WAIT
        )
        page.fill(f"#{Ids.RANGE_START}", "2011-09-05")
        expect(page).to_have_url(
            re.compile(r"/\?period=custom&from=2011-09-05&to=2011-09-30$"), timeout=WAIT
        )
        page.get_by_label("To", exact=True).fill("2011-09-18")
        expect(page).to_have_url(
            re.compile(r"/\?period=custom&from=2011-09-05&to=2011-09-18$"), timeout=WAIT
        )
        expect(headline).to_contain_text("05 Sep 2011 – 18 Sep 2011:", timeout=WAIT)
        shown = headline.inner_text()

        # A cleared box is no date: nothing changes, nothing fails.
        page.fill(f"#{Ids.RANGE_START}", "")
        page.wait_for_timeout(1_500)  # longer than the boxes' debounce
        expect(page).to_have_url(re.compile(r"from=2011-09-05&to=2011-09-18$"))
        expect(headline).to_have_text(shown)
        expect(page.locator(f"#{Ids.RANGE_END}")).to_have_value("2011-09-18")

        # "Containing the day": a custom period keeps its length and starts on the day.
        page.get_by_label("Containing the day", exact=True).fill("2011-10-03")
        expect(page).to_have_url(
            re.compile(r"/\?period=custom&from=2011-10-03&to=2011-10-16$"), timeout=WAIT
        )
        expect(page.locator(f"#{Ids.RANGE_START}")).to_have_value("2011-10-03")
        expect(headline).to_contain_text("03 Oct 2011 – 16 Oct 2011:", timeout=WAIT)


@pytest.mark.parametrize(
    ("path", "canonical", "week"),
    [
        ("/", "/?period=month&date=2011-12-01", "/?period=week&date=2011-11-28"),
        (
            "/?period=quarter&date=2011-08-15",
            "/?period=quarter&date=2011-07-01",
            "/?period=week&date=2011-06-27",  # the week of the quarter's first day
        ),
    ],
)
def test_after_an_address_is_rewritten_in_place_a_control_still_writes_it(
    demo, reset_dash_registries, path, canonical, week
):
    """An address the page rewrites in place ("/", a day inside a quarter) used to be put back
    at the first control change: the page's Location still held the old address."""
    with _signed_in(demo, path) as (_, page):
        expect(page).to_have_url(re.compile(re.escape(canonical) + "$"), timeout=WAIT)
        headline = page.locator(f"#{Ids.HEADLINE}")
        shown = headline.inner_text()
        _kind(page, "Week").check()
        expect(page).to_have_url(re.compile(re.escape(week) + "$"), timeout=WAIT)
        expect(headline).to_contain_text("week of", timeout=WAIT)
        page.go_back()
        expect(page).to_have_url(re.compile(re.escape(canonical) + "$"), timeout=WAIT)
        expect(headline).to_have_text(shown, timeout=WAIT)
