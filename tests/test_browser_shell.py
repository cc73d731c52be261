"""The staff pages' header on a phone, in real headless Chromium: the navigation in one row and
the header short, so that a page's first screen shows the page (a stacked menu took ~225 px of
an 844 px screen)."""

from __future__ import annotations

import pytest

from tests.test_accessibility import served  # noqa: F401 - the fixture: demo app, one user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [320, 390])
def test_the_staff_header_fits_a_phone_in_three_short_rows(served, width: int) -> None:  # noqa: F811
    from playwright.sync_api import expect

    from tests.support.browser import chromium_browser
    from tests.support.signin import browser_sign_in

    url, password = served
    with chromium_browser() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": 844})
        browser_sign_in(page, url, "a11y@team.test", password)
        page.goto(url + "/?period=month&date=2011-09-01")
        expect(page.get_by_role("heading", level=1)).to_be_visible(timeout=20_000)
        links = page.locator("header .nav-link")
        expect(links).to_have_count(3)
        tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(3))}
        assert len(tops) == 1  # Overview, Requests, Hot spots side by side
        sign_out = page.get_by_role("link", name="Sign out").bounding_box()
        assert sign_out["height"] < 40  # one line, not "Sign / out"
        header = page.evaluate("document.querySelector('header').getBoundingClientRect().height")
        assert header <= 160, header
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
        assert page.evaluate("document.querySelector('h1').getBoundingClientRect().top") < 200


HINT = """(sel) => {
  const box = document.querySelector(sel);
  return box && {
    scrolls: box.scrollWidth > box.clientWidth,
    marked: box.dataset.scrolls || null,
    tabindex: box.getAttribute('tabindex'),
    hint: getComputedStyle(box, '::before').content,
  };
}"""


@pytest.mark.parametrize("width", [390, 1400])
def test_a_table_wider_than_the_screen_says_it_scrolls(served, width: int) -> None:  # noqa: F811
    """On a phone the Requests table is wider than the screen: a line above it says it scrolls
    sideways, and the box can be scrolled from the keyboard; the Overview's table, which fits,
    gets nothing (each table's <details> is opened first: a closed one has no width). At desktop width
    both fit and nothing is added."""
    from playwright.sync_api import expect

    from tests.support.browser import chromium_browser
    from tests.support.signin import browser_sign_in

    url, password = served
    with chromium_browser() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": 844})
        browser_sign_in(page, url, "a11y@team.test", password)
        page.goto(url + "/requests?period=month&date=2011-09-01")
        expect(page.locator("#requests-table table")).to_have_count(1, timeout=20_000)
        page.locator("details:has(#requests-table) summary").click()  # the table is in one
        expect(page.locator("#requests-table table")).to_be_visible()
        page.wait_for_timeout(300)  # the check runs on the next animation frame
        wide = page.evaluate(HINT, "#requests-table")
        page.goto(url + "/?period=month&date=2011-09-01")
        table = page.locator("#overview-table table")
        expect(table).to_have_count(1, timeout=20_000)
        page.locator("details:has(#overview-table) summary").click()
        expect(table).to_be_visible()
        page.wait_for_timeout(300)
        fits = page.evaluate(HINT, "#overview-table")
    assert not fits["scrolls"], fits
    assert fits["marked"] is None and fits["tabindex"] is None and fits["hint"] == "none"
    if width < 576:
        assert wide["scrolls"], wide
        assert wide["marked"] == "true" and wide["tabindex"] == "0"
        assert "Scroll sideways for more columns" in wide["hint"]
    else:
        assert not wide["scrolls"], wide
        assert wide["marked"] is None and wide["tabindex"] is None and wide["hint"] == "none"


def test_the_requests_table_downloads_every_period(served) -> None:  # noqa: F811
    """The Requests page's table shows the latest periods; its button downloads all of them for
    the filters in the address bar (a real download in Chromium)."""
    import io

    import pandas as pd
    from playwright.sync_api import expect

    from callbacks.requests import TABLE_ROWS
    from tests.support.browser import chromium_browser
    from tests.support.signin import browser_sign_in

    url, password = served
    with chromium_browser() as chromium:
        page = chromium.new_context(accept_downloads=True).new_page()
        browser_sign_in(page, url, "a11y@team.test", password)
        page.goto(url + "/requests?period=day&from=2011-08-01")
        table = page.locator("#requests-table table")
        expect(table).to_have_count(1, timeout=20_000)
        page.locator("details:has(#requests-table) summary").click()
        expect(page.locator("#requests-table")).to_contain_text(f"The latest {TABLE_ROWS} of")
        assert table.locator("tbody tr").count() == TABLE_ROWS
        with page.expect_download(timeout=20_000) as info:
            page.get_by_role("button", name="Download every period (CSV)").click()
        download = info.value
        assert download.suggested_filename == "requests_by_day_2011-08-01.csv"
        with open(download.path(), encoding="utf-8") as fh:
            frame = pd.read_csv(io.StringIO(fh.read()))
    assert list(frame.columns)[0] == "day"
    assert frame["day"].min() == "2011-08-01" and len(frame) > TABLE_ROWS


REQUESTS_CHART = """() => {
  const g = document.getElementById('requests-chart');
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {plot: box(g.querySelector('.nsewdrag')), legend: box(g.querySelector('.legend')),
          xtitle: box(g.querySelector('.g-xtitle')), figure: box(g.querySelector('.main-svg'))};
}"""


@pytest.mark.parametrize("width", [390, 1400])
def test_the_requests_chart_keeps_its_width_on_a_phone(served, width: int) -> None:  # noqa: F811
    """The Requests chart's legend (eleven long department names) sat at the plot's side and
    left a 390 px phone's plot 64 px wide; it is now under the plot, clear of the axis title,
    and the plot keeps most of the figure's width."""
    from tests.support.browser import chromium_browser
    from tests.support.signin import browser_sign_in

    url, password = served
    with chromium_browser() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        browser_sign_in(page, url, "a11y@team.test", password)
        page.goto(url + "/requests")
        page.wait_for_selector("#requests-chart .legend .traces", timeout=20_000)
        page.wait_for_timeout(500)
        boxes = page.evaluate(REQUESTS_CHART)
    plot, legend, xtitle, figure = (boxes[k] for k in ("plot", "legend", "xtitle", "figure"))
    assert plot[2] - plot[0] >= 0.7 * (figure[2] - figure[0]), boxes
    assert legend[1] >= xtitle[3] and legend[3] <= figure[3] + 1, boxes  # below, inside
    assert plot[3] - plot[1] >= 300, boxes  # the bars keep their height
