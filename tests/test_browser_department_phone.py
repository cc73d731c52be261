"""The UX review of the department and Requests pages, in real headless Chromium: a department
user's link to another department (and the Requests filter by it) is explained without a word
about that department, the department figures are readable on a 390 px phone (nothing drawn
over anything else, nothing under the tool bar), repeat-location dates stay on one line at
desktop width, and the Requests chart's legend names departments."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

DECEMBER = "?period=month&date=2011-12-01"


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    passwords = {
        "exec": make_user(settings, "ux-exec@team.test", role="executive"),
        "pwd": make_user(settings, "ux-pwd@team.test", role="department", departments=("PWDx",)),
    }
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, passwords


def _page(browser: Any, url: str, who: str, password: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    browser_sign_in(page, url, f"ux-{who}@team.test", password)
    return page


#: Boxes (left, top, right, bottom, in CSS px) of what a figure draws: its tool bar, the titles
#: of its panels and axes, its legend entries.
BOXES = """(id) => {
  const g = document.getElementById(id);
  const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const named = sel => [...g.querySelectorAll(sel)]
    .filter(e => e.textContent.trim()).map(e => [e.textContent, box(e)]);
  return {
    figure: box(g.querySelector('.main-svg')),
    modebar: [...g.querySelectorAll('.modebar')].map(box),
    titles: named('.annotation-text, .g-xtitle text, .g-x2title text, .g-ytitle text, .g-y2title text, .legendtitletext'),
    legend: named('.legend .traces'),
  };
}"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_department_user_is_told_about_access_on_both_pages(served) -> None:
    url, passwords = served
    with chromium_browser() as browser:
        page = _page(browser, url, "pwd", passwords["pwd"])
        for code in ("ISD", "ZZZ"):  # ISD is in the data, ZZZ is not: the same words
            page.goto(url + f"/department/{code}{DECEMBER}")
            notice = page.locator("#department-notice")
            expect(notice).to_contain_text(
                f"{code} is not one of the departments you can see", timeout=20_000
            )
            expect(notice).to_contain_text(
                "Departments you can see: Public Works Department (PWDx)."
            )
            expect(notice).not_to_contain_text("in the data")
            # the tab names only the code of the address, as the page does (it named ISD in
            # full: "Inspectional Services Department (ISD) · Department · stat311")
            expect(page).to_have_title(f"{code} · Department · stat311")
            expect(page.locator("h1")).to_have_count(1)
            expect(page.locator("h1")).to_have_text(f"{code} department")
            expect(page.locator("#department-body")).to_be_hidden()

        # The Overview says it too, and keeps saying it once the address has dropped ISD.
        page.goto(url + f"/{DECEMBER}&department=ISD")
        overview_notice = page.locator("#overview-notice")
        expect(overview_notice).to_contain_text(
            "ISD is not one of the departments you can see", timeout=20_000
        )
        expect(page).not_to_have_url(re.compile("ISD"))
        expect(overview_notice).to_contain_text("ISD is not one of the departments you can see")

        page.goto(url + "/requests?department=ISD")
        note = page.locator("#requests-link-notice")
        expect(note).to_have_text(
            "The link's department filter ISD was not applied: ISD is not one of the departments "
            "you can see. Departments you can see: Public Works Department (PWDx).",
            timeout=20_000,
        )
        expect(page.locator("#requests-summary")).to_contain_text("across 1 department")


def test_department_figures_are_readable_on_a_phone(served) -> None:
    url, passwords = served
    with chromium_browser() as browser:
        page = _page(
            browser,
            url,
            "pwd",
            passwords["pwd"],
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
        )
        page.goto(url + f"/department/PWDx{DECEMBER}")
        for graph, legend_entries in (
            ("department-series", 6),  # five request types and the target
            ("department-aging", 2),
            ("department-map", 4),
        ):
            locator = page.locator(f"#{graph} .legend .traces")
            expect(locator).to_have_count(legend_entries, timeout=30_000)
            page.locator(f"#{graph}").scroll_into_view_if_needed()
            page.locator(f"#{graph}").hover()  # the tool bar shows
            boxes = page.evaluate(BOXES, graph)
            (modebar,) = boxes["modebar"]
            drawn = boxes["titles"] + boxes["legend"]
            assert drawn
            for text, box in drawn:
                assert not _overlap(box, modebar), (graph, text, box, modebar)
                # inside the figure, not cut off at its edge
                figure = boxes["figure"]
                assert figure[0] - 1 <= box[0] and box[2] <= figure[2] + 1, (graph, text, box)
                assert figure[1] - 1 <= box[1] and box[3] <= figure[3] + 1, (graph, text, box)
            # no title over a legend entry (the week axis's title was drawn on the first one)
            for text, box in boxes["titles"]:
                for entry, entry_box in boxes["legend"]:
                    assert not _overlap(box, entry_box), (graph, text, entry)
        series = page.evaluate(BOXES, "department-series")
        axis = next(box for text, box in series["titles"] if text == "Week starting (Monday)")
        assert all(box[1] >= axis[3] for _, box in series["legend"])  # the legend below it


def test_repeat_dates_stay_on_one_line_and_requests_are_named(served) -> None:
    url, passwords = served
    with chromium_browser() as browser:
        page = _page(
            browser, url, "exec", passwords["exec"], viewport={"width": 1280, "height": 900}
        )
        page.goto(url + f"/department/PWDx{DECEMBER}")
        rows = page.locator("#department-repeats-table tbody tr")
        expect(rows.first).to_be_visible(timeout=30_000)
        lines = page.evaluate(
            """() => [...document.querySelectorAll('#department-repeats-table tbody tr')]
              .flatMap(r => [...r.cells].slice(-2)).map(c => {
                const range = document.createRange(); range.selectNodeContents(c);
                return [c.textContent,
                        new Set([...range.getClientRects()].map(x => Math.round(x.top))).size];
              })"""
        )
        assert len(lines) >= 2
        assert [text for text, n in lines if n != 1] == []  # "2011-12-" / "01" before

        page.goto(url + "/requests")
        legend = page.locator("#requests-chart .legendtext")
        expect(legend.first).to_be_visible(timeout=30_000)
        names = legend.all_text_contents()
        assert "Public Works Department (PWDx)" in names
        assert "PWDx" not in names and "BHA_" not in names
        expect(page.locator("#requests-link-notice")).to_be_empty()


GRIDS = """() => [...document.querySelectorAll('.ag-root-wrapper')].map(w => {
  const v = w.querySelector('.ag-center-cols-viewport');
  return {more: v.scrollWidth > v.clientWidth + 1, marked: w.dataset.scrolls || null,
          label: getComputedStyle(w, '::after').content};
})"""


@pytest.mark.parametrize("width", [390, 1400])
def test_the_department_grids_say_when_columns_are_hidden(served, width: int) -> None:
    """On a phone the request types and overdue grids are wider than the screen, and their
    scroll bar is invisible on a touch screen: each says "More columns" at its top right edge
    until scrolled to its last column. At desktop width they fit and say nothing."""
    url, passwords = served
    with chromium_browser() as browser:
        page = _page(
            browser, url, "exec", passwords["exec"], viewport={"width": width, "height": 900}
        )
        page.goto(url + f"/department/PWDx{DECEMBER}")
        expect(page.locator(".ag-root-wrapper")).to_have_count(2, timeout=20_000)
        expect(page.locator(".ag-center-cols-container .ag-row").first).to_be_visible()
        page.wait_for_timeout(300)
        grids = page.evaluate(GRIDS)
        if width < 576:
            assert all(g["more"] for g in grids), grids
            assert all(g["marked"] == "true" and "More columns" in g["label"] for g in grids)
            page.evaluate(
                "() => document.querySelectorAll('.ag-center-cols-viewport')[0].scrollLeft = 99999"
            )
            page.wait_for_timeout(300)
            first, second = page.evaluate(GRIDS)
            assert first["marked"] is None and first["label"] == "none"  # at its last column
            assert second["marked"] == "true"
        else:
            assert not any(g["more"] for g in grids), grids
            assert all(g["marked"] is None and g["label"] == "none" for g in grids)


#: For each element of a selector: its text, whether all of it is in view (no "…"), and the
#: number of lines its text takes (a range over its text alone: one box per line).
LINES = """(selector) => [...document.querySelectorAll(selector)].map(e => {
  const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
  const tops = new Set();
  let whole = true;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const range = document.createRange(); range.selectNodeContents(n);
    for (const r of range.getClientRects()) tops.add(Math.round(r.top));
    const box = n.parentElement;
    if (box.scrollWidth > box.clientWidth + 1) whole = false;
  }
  return [e.textContent.trim(), whole, tops.size];
})"""


def test_tiers_and_headings_are_whole_at_a_laptop_width(served) -> None:
    """At 1366 px (a laptop in a stat meeting) the request types grid showed "✖ Problem That
    Needs a P…" and broke its "Compliance" heading inside the word. Every tier now shows whole
    on one line, and no heading breaks inside a word."""
    url, passwords = served
    with chromium_browser() as browser:
        page = _page(
            browser, url, "exec", passwords["exec"], viewport={"width": 1366, "height": 900}
        )
        page.goto(url + f"/department/PWDx{DECEMBER}")
        tiers = page.locator("#department-types .ag-cell[col-id='tier']")
        expect(tiers.first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(300)
        cells = page.evaluate(LINES, "#department-types .ag-cell[col-id='tier']")
        assert any("Problem That Needs a Plan" in text for text, _, _ in cells)  # the long one
        assert [c for c in cells if not (c[1] and c[2] == 1)] == []
        words = [
            [text, lines, len(text.split())]
            for text, _, lines in page.evaluate(LINES, "#department-types .ag-header-cell-text")
        ]
        # a heading takes at most one line a word ("Median days to close" may wrap; "Compliance"
        # must not break into two lines)
        assert [w for w in words if w[1] > w[2]] == []
