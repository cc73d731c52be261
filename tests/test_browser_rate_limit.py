"""A refused callback in real headless Chromium: the page says so and when to try again.

The Dash renderer drops a callback answered 429 (over ``STAT311_RATE_LIMIT``) or 503 (busy)
without a word (tests/test_public_rate_limit.py); dashboard/assets/callback-refused.js writes a
message into the ``role="alert"`` region (``Ids.CALLBACK_ALERT``), empty and unseen until then,
and empties it when a later callback succeeds. The 429 is the real one, from a low limit."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Response, expect

from dashboard.app_factory import create_app
from layouts.public import Ids
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user
from tests.test_accessibility import CONTRAST_JS

pytestmark = pytest.mark.browser

#: The window starts at the page's first callback: a few presses of Enter go over the limit,
#: and the test waits at most the window's 10 seconds for the next one to be let through.
LOW_LIMIT = "4 per 10 seconds"
ALERT = f"#{Ids.CALLBACK_ALERT}"
TOO_MANY = re.compile(
    r"^Too many requests from your connection\. Please wait (\d+) seconds? and try again\.$"
)
#: The callbacks' URL (Dash 4 adds a query string, ``?endId=...``).
CALLBACKS = re.compile(r"/_dash-update-component(\?|$)")
BUSY = "The service is busy. Please try again in 30 seconds."


def _serve(demo: Any, limit: str):
    app = create_app(replace(demo[0], rate_limit=limit))
    return serve_wsgi(app.server)


@pytest.fixture
def low_limit(demo, reset_dash_registries):
    with _serve(demo, LOW_LIMIT) as url:
        yield url


@pytest.fixture
def served(demo, reset_dash_registries):
    with _serve(demo, "1000000 per minute") as url:
        yield url


def _open_track_page(page: Page, url: str) -> None:
    page.goto(url + "/public/")
    expect(page.get_by_role("heading", name="Track a request")).to_be_visible(timeout=20_000)
    alert = page.locator(ALERT)
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_be_empty()
    expect(alert).to_be_hidden()  # no size, no border: nothing to see


def _refuse_callbacks(page: Page, status: int, retry_after: str) -> None:
    """Callbacks answered ``status`` by the browser itself, as the app would (the portal's
    callbacks have no 503 of their own to trigger here)."""
    body = f'[{{"code": {status}, "description": "Refused."}}]'
    headers = {"Retry-After": retry_after, "Cache-Control": "no-store"}
    page.route(
        CALLBACKS,
        lambda route: route.fulfill(
            status=status, headers=headers, content_type="application/json", body=body
        ),
    )


def test_too_many_requests_says_how_long_to_wait_and_clears_after(low_limit) -> None:
    with chromium_browser() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        refused: list[str] = []  # Retry-After of each callback answered 429

        def note(response: Response) -> None:
            if CALLBACKS.search(urlsplit(response.url).path) and response.status == 429:
                refused.append(response.headers.get("retry-after", ""))

        page.on("response", note)
        _open_track_page(page, low_limit)
        alert = page.locator(ALERT)

        # A member of the public pressing Enter again and again.
        box = page.get_by_label("Tracking number")
        box.fill("101000295613")
        for _ in range(12):
            page.get_by_label("Tracking number").press("Enter")
            if TOO_MANY.match(alert.text_content() or ""):
                break
            page.wait_for_timeout(200)
        expect(alert).to_have_text(TOO_MANY, timeout=5_000)
        expect(alert).to_be_visible()
        expect(page.get_by_role("alert").filter(has_text="Too many requests")).to_have_count(1)
        wait = int(TOO_MANY.match(alert.text_content() or "").group(1))
        assert 1 <= wait <= 10
        # The number is the server's own: Retry-After of a real 429, which the renderer got too.
        assert refused, "no callback was answered 429"
        assert wait in {max(1, int(r)) for r in refused}, (wait, refused)

        # Once the wait is over, it says so; the next callback that succeeds empties it.
        expect(alert).to_have_text("You can try again now.", timeout=(wait + 5) * 1000)
        page.get_by_label("Tracking number").fill("123456")
        page.get_by_role("button", name="Track").click()
        expect(page.locator(f"#{Ids.RESULT}")).to_contain_text(
            "We could not find that request", timeout=20_000
        )
        expect(alert).to_be_empty()
        expect(alert).to_be_hidden()
        assert not errors, errors


def test_busy_says_when_to_try_again_and_clears_after(served) -> None:
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 320, "height": 640})  # the narrowest reflow
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        _open_track_page(page, served)
        alert = page.locator(ALERT)

        _refuse_callbacks(page, 503, "30")
        page.get_by_label("Tracking number").fill("101000295613")
        page.get_by_role("button", name="Track").click()
        expect(alert).to_have_text(BUSY, timeout=10_000)
        expect(alert).to_be_in_viewport()
        assert page.evaluate(CONTRAST_JS, ALERT) >= 4.5
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        result = page.locator(f"#{Ids.RESULT}")
        expect(result).not_to_contain_text("Request 101000295613")  # the page did not change

        page.unroute(CALLBACKS)
        page.get_by_role("button", name="Track").click()
        expect(result).to_contain_text("Request 101000295613", timeout=20_000)
        expect(alert).to_be_empty()
        expect(alert).to_be_hidden()
        assert not errors, errors


def test_staff_pages_get_the_message_too(served, demo) -> None:
    """The staff app serves the same assets; its pages have no region of their own: the script
    adds one when it first has something to say, and nothing before."""
    password = make_user(demo[0], "rate-limit@city.test", role="executive")
    with chromium_browser() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        browser_sign_in(page, served, "rate-limit@city.test", password, next_path="/requests")
        expect(page.locator("h1").first).to_be_visible(timeout=20_000)
        assert page.locator(ALERT).count() == 0

        _refuse_callbacks(page, 503, "30")
        page.reload()
        alert = page.get_by_role("alert").filter(has_text=BUSY)
        expect(alert).to_have_count(1, timeout=20_000)
        expect(alert).to_have_text(BUSY)
        expect(alert).to_be_visible()
        assert page.locator(ALERT).count() == 1
        assert not errors, errors
