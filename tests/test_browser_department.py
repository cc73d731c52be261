"""The department page in real headless Chromium: open it from a link, read the tier in words,
sort the request types (AG Grid, in the browser), page and sort the overdue list (AG Grid's
infinite row model, on the server), download it in that order, change the period and see the
URL follow. The grids come from dash-ag-grid's own files, served by the app (no CDN)."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect

from callbacks import department as cb
from dashboard.app_factory import create_app
from dashboard.services import Services
from dashboard.sla import TIER_STYLE, Tier
from layouts.department import OVERDUE_PAGE_SIZE, TYPES_PAGE_SIZE, tier_label
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

TIERS = re.compile(r"On Target|Close But Not There|Problem That Needs a Plan|Not enough data")
CODE, MONTH, QUARTER = "PWDx", "?period=month&date=2011-09-01", "?period=quarter&date=2011-09-01"

#: A grid column's cell texts in row order (AG Grid's rows carry their index).
COLUMN_TEXTS = """([grid, col]) => [...document.querySelectorAll(
    `#${grid} .ag-center-cols-container .ag-row`)]
  .sort((a, b) => Number(a.getAttribute('row-index')) - Number(b.getAttribute('row-index')))
  .map(row => row.querySelector(`.ag-cell[col-id="${col}"]`).textContent)"""


def _rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    password = make_user(settings, "stat@team.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, password, Services.from_settings(settings)


def test_department_page_reads_pages_sorts_and_keeps_the_period_in_the_url(
    served, tmp_path
) -> None:
    url, password, services = served
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        grid_warnings: list[str] = []
        elsewhere: list[str] = []
        asked: list[dict] = []  # the overdue list's requests to the server
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda m: grid_warnings.append(m.text) if "AG Grid" in m.text else None,
        )
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith((url, "blob:", "data:")) else elsewhere.append(r.url)
            ),
        )

        def overdue_request(r) -> None:
            body = r.post_data_json if r.method == "POST" and "_dash-update" in r.url else None
            if body and body["output"] == "department-overdue.getRowsResponse":
                asked.append(body["inputs"][0]["value"])

        page.on("request", overdue_request)
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + f"/department/{CODE}{MONTH}")

        heading = page.locator("#department-heading")
        expect(heading.locator("h1")).to_contain_text("PWDx", timeout=20_000)
        expect(heading).to_contain_text("September 2011")
        tier = heading.locator(".department-tier")
        expect(tier).to_have_text(TIERS)
        expect(tier.locator("i.bi")).to_have_count(1)  # an icon beside the words
        expect(heading).to_contain_text("on time vs target 90%")

        # -- request types: every row in the browser, sorted there --------------------------
        view = cb.department_view(services, CODE, MONTH)["types"]
        types = page.locator("#department-types")
        expect(types.locator(".ag-header-cell[col-id='type']")).to_have_attribute(
            "role", "columnheader"
        )
        expect(types.locator(".ag-header-cell[col-id='type']")).to_have_text("Request type")
        expect(types.locator(".ag-row[row-index='0'] .ag-cell[col-id='type']")).to_have_text(
            view[0]["type"], timeout=20_000
        )
        expect(types.locator(".ag-paging-panel")).to_contain_text(
            f"1 to {TYPES_PAGE_SIZE} of {len(view)}"
        )

        def column(grid: str, col: str) -> list[str]:
            return page.evaluate(COLUMN_TEXTS, [grid, col])

        # As the server sent them (problems first), numbers formatted as before.
        first_page = view[:TYPES_PAGE_SIZE]
        assert column("department-types", "type") == [r["type"] for r in first_page]
        assert column("department-types", "due") == [f"{r['due']:,}" for r in first_page]
        assert column("department-types", "compliance") == [
            "" if r["compliance"] is None else f"{100 * r['compliance']:.1f}%" for r in first_page
        ]
        assert column("department-types", "median_days") == [
            "" if r["median_days"] is None else f"{r['median_days']:,.1f}" for r in first_page
        ]
        # Each tier cell in its tier's colour, white bold words.
        tiers = types.locator(".ag-cell[col-id='tier']")
        for i in range(tiers.count()):
            cell = tiers.nth(i)
            words = cell.inner_text()
            (shown,) = [t for t in Tier if tier_label(t) == words]
            style = cell.evaluate(
                "e => { const s = getComputedStyle(e);"
                " return [s.backgroundColor, s.color, s.fontWeight]; }"
            )
            assert style == [_rgb(TIER_STYLE[shown]["color"]), "rgb(255, 255, 255)", "600"]

        # A click on "Due" sorts every row (not only the page) by it, ascending, then descending.
        due_header = types.locator(".ag-header-cell[col-id='due']")
        due_header.locator(".ag-header-cell-label").click()
        expect(due_header).to_have_attribute("aria-sort", "ascending")
        ascending = sorted(view, key=lambda r: r["due"])  # stable, as AG Grid's sort
        assert column("department-types", "type") == [
            r["type"] for r in ascending[:TYPES_PAGE_SIZE]
        ]
        assert column("department-types", "type") != [r["type"] for r in first_page]
        due_header.locator(".ag-header-cell-label").click()
        expect(due_header).to_have_attribute("aria-sort", "descending")
        dues = [int(v.replace(",", "")) for v in column("department-types", "due")]
        assert dues == sorted((r["due"] for r in view), reverse=True)[:TYPES_PAGE_SIZE]

        # -- the overdue list: paged and sorted on the server ----------------------------------
        overdue = page.locator("#department-overdue")
        panel = overdue.locator(".ag-paging-panel")
        # The page's first row (rows keep their index in the whole list: 15 is page 2's first).
        first_id = overdue.locator(".ag-center-cols-container .ag-row").first.locator(
            ".ag-cell[col-id='request_id']"
        )
        server = cb.overdue_page(services, CODE, MONTH, page=0)
        pages = server["page_count"]
        expect(first_id).to_have_text(server["data"][0]["request_id"], timeout=20_000)
        expect(panel).to_contain_text(f"Page 1 of {pages}")
        expect(panel).to_contain_text(f"of {server['total']:,}")
        expect(overdue.locator(".ag-header-cell[col-id='days_overdue']")).to_have_attribute(
            "aria-sort", "descending"
        )
        overdue.get_by_role("button", name="Next Page").click()
        second = cb.overdue_page(services, CODE, MONTH, page=1)["data"]
        expect(first_id).not_to_have_text(server["data"][0]["request_id"], timeout=10_000)
        expect(first_id).to_have_text(second[0]["request_id"])
        expect(panel).to_contain_text(f"Page 2 of {pages}")
        assert column("department-overdue", "request_id") == [r["request_id"] for r in second]
        # Sorted by address on the server: the first page of that order, across all pages.
        overdue.locator(".ag-header-cell[col-id='address'] .ag-header-cell-label").click()
        by_address = [{"column_id": "address", "direction": "asc"}]
        sorted_first = cb.overdue_page(services, CODE, MONTH, page=0, sort_by=by_address)
        expect(first_id).to_have_text(sorted_first["data"][0]["request_id"], timeout=10_000)
        expect(panel).to_contain_text(f"Page 1 of {pages}")
        # The grid only ever asked for one page at a time.
        assert asked and all(a["endRow"] - a["startRow"] == OVERDUE_PAGE_SIZE for a in asked)
        assert {a["startRow"] for a in asked} == {0, OVERDUE_PAGE_SIZE}

        # The download has every row, in the grid's order (address).
        with page.expect_download() as info:
            page.get_by_role("button", name="Download the whole list (CSV)").click()
        path = tmp_path / "overdue.csv"
        info.value.save_as(path)
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == server["total"]
        assert [r["request_id"] for r in rows[:OVERDUE_PAGE_SIZE]] == [
            r["request_id"] for r in sorted_first["data"]
        ]

        # -- a new period: the heading, the link and the lists follow ---------------------------
        overdue.get_by_role("button", name="Next Page").click()
        expect(panel).to_contain_text(f"Page 2 of {pages}")
        page.get_by_label("Quarter").check()
        expect(heading).to_contain_text("Q3 2011", timeout=20_000)
        expect(page).to_have_url(re.compile(r"/department/PWDx\?period=quarter&date=2011-09-01$"))
        quarter = cb.overdue_page(services, CODE, QUARTER, page=0, sort_by=by_address)
        expect(panel).to_contain_text(f"Page 1 of {quarter['page_count']}", timeout=10_000)
        expect(first_id).to_have_text(quarter["data"][0]["request_id"])
        quarter_types = cb.department_view(services, CODE, QUARTER)["types"]
        expect(types.locator(".ag-paging-panel")).to_contain_text(f"of {len(quarter_types)}")

        # The map draws (no tiles needed) and explains the grey areas.
        expect(page.locator("#department-map .js-plotly-plot")).to_be_visible(timeout=20_000)
        expect(page.locator("#department-map-note")).to_contain_text("Q3 2011, by neighborhood")

        # The shared link reopens the same view.
        other = context.new_page()  # same signed-in session, a new tab
        other.goto(page.url)
        expect(other.locator("#department-heading")).to_contain_text("Q3 2011", timeout=20_000)
        expect(other.locator("#department-overdue .ag-row").first).to_be_visible(timeout=20_000)

        # "Custom" starts as the period shown, from its first to its last day (as on the
        # Overview): the boxes filled, the address a custom period a shared link reopens.
        other.get_by_label("Custom").check()
        expect(other.locator("#department-range-start")).to_have_value("2011-07-01")
        expect(other.locator("#department-range-end")).to_have_value("2011-09-30")
        expect(other).to_have_url(
            re.compile(r"/department/PWDx\?period=custom&from=2011-07-01&to=2011-09-30$"),
            timeout=20_000,
        )
        expect(other.locator("#department-heading")).to_contain_text("01 Jul 2011 – 30 Sep 2011")
        assert errors == []
        assert grid_warnings == []  # no option AG Grid does not know, nothing deprecated
        assert elsewhere == []  # every script and style from the app itself


def test_unknown_department_is_explained_in_the_browser(served) -> None:
    url, password, _ = served
    with chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "stat@team.test", password)
        page.goto(url + "/department/PWDz?period=month&date=2011-09-01")
        notice = page.locator("#department-notice")
        expect(notice).to_contain_text("No department PWDz in the data", timeout=20_000)
        expect(notice).to_contain_text("PWDx")
        expect(page.locator("#department-body")).to_be_hidden()
