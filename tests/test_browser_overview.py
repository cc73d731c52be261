"""The stat-meeting overview in headless Chromium: a card per department with its tier in words;
clicking a card opens that department's page for the same period. And case text with HTML in it
is shown as text, never run."""

from __future__ import annotations

import csv
import re
from datetime import date

import pandas as pd
import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from dashboard.services import Services
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.exports import BOSTON_LEGACY_HEADER
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")


def test_cards_show_tiers_in_words_and_open_the_department_page(demo, reset_dash_registries):
    settings, _ = demo
    password = make_user(settings, "mayor@city.test", role="executive")
    period_start, period_end = date(2011, 9, 1), date(2011, 9, 30)
    report = Services.from_settings(settings).sla.report(
        start=period_start, end=period_end, by="department"
    )
    active = report[(report["due"] > 0) | (report["volume"] > 0) | (report["open_backlog"] > 0)]
    app = create_app(settings)
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "mayor@city.test", password)
        page.goto(url + "/?period=month&date=2011-09-01")
        cards = page.locator(".overview-card")
        expect(cards).to_have_count(len(active), timeout=20_000)
        pwd = cards.filter(has_text="PWDx")
        tier = report.set_index("group").loc["PWDx", "tier"]
        expect(pwd).to_contain_text(tier)
        # Problems first: the first card's tier is the report's first tier.
        expect(cards.first).to_contain_text(active["tier"].iloc[0])
        pwd.locator("a").first.click()
        expect(page).to_have_url(re.compile(r"/department/PWDx\?period=month&date=2011-09-01$"))
        expect(page.locator("#department-heading")).to_contain_text("PWDx", timeout=20_000)
        expect(page.locator("#department-heading")).to_contain_text("September 2011")


HEADER = BOSTON_LEGACY_HEADER
NASTY = '<img src=x onerror="alert(1)">'


def test_html_in_case_text_is_shown_as_text_never_executed(tmp_path, reset_dash_registries):
    settings = make_settings(tmp_path)
    path = tmp_path / "nasty.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        row = dict.fromkeys(HEADER, "")
        row.update(
            case_enquiry_id="X1",
            open_dt="2011-09-01 10:00:00",
            target_dt="2011-09-03 10:00:00",
            case_status="Open",
            case_title="<script>alert(2)</script>",
            type="Street Light Outages",
            department="PWDx",
            location=NASTY,
            latitude="42.3300",
            longitude="-71.0800",
            source="Constituent Call",
        )
        writer.writerow([row[h] for h in HEADER])
    load_file(path, store=__import__("dashboard.store", fromlist=["Store"]).Store(
        settings.database_url), settings=settings, progress=False)  # fmt: skip
    password = make_user(settings, "head@city.test", role="department", departments=("PWDx",))
    app = create_app(settings)
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        browser_sign_in(page, url, "head@city.test", password)
        page.goto(url + "/department/PWDx?period=month&date=2011-09-01")
        overdue = page.locator("#department-overdue")
        expect(overdue).to_contain_text(NASTY, timeout=20_000)  # the markup, as text
        assert page.locator("#department-overdue img").count() == 0
        page.wait_for_timeout(500)
        assert dialogs == []
