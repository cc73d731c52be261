"""The hot-spot page in real headless Chromium: Boston's streetlights as hexagons and a work list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

#: Hexagons MapLibre actually drew (not just the figure's data), by trace name.
RENDERED = """() => {
  const plot = document.querySelector('#hotspots-map .js-plotly-plot');
  if (!plot || !plot._fullLayout || !plot._fullLayout.map) return null;
  const map = plot._fullLayout.map._subplot.map;
  if (!map.loaded()) return null;
  const drawn = map.queryRenderedFeatures().filter(f => f.layer.type === 'fill');
  return drawn.length;
}"""

#: A link as earlier versions of the page wrote it (late requests in hexagons of res. 8).
LATE = "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31&res=8&mode=late"

TRACES = """() => {
  const plot = document.querySelector('#hotspots-map .js-plotly-plot');
  return plot && plot._fullData ? plot._fullData.map(t => [t.name, t.locations.length]) : null;
}"""


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    password = make_user(settings, "planner@team.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, password


def test_streetlight_hexagons_and_work_list(served) -> None:
    url, password = served
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        browser_sign_in(page, url, "planner@team.test", password)
        page.goto(url + "/hotspots")
        # The default view: streetlights over the whole demo period, in the URL.
        expect(page).to_have_url(
            re.compile(r"\?type=Street\+Light\+Outages&from=2011-07-01&to=2011-12-31$"),
            timeout=20_000,
        )
        rows = page.locator("#hotspots-table tbody tr")
        expect(rows.first).to_contain_text("Hot spot, 99% confidence", timeout=20_000)
        assert rows.count() == 50
        page.wait_for_function(f"() => ({RENDERED})() > 300", timeout=20_000)
        traces = dict(page.evaluate(TRACES))
        assert traces["Hot spot, 99% confidence"] > 10
        legend = page.locator("#hotspots-legend")
        expect(legend).to_contain_text("Cold spot, 95% confidence")
        expect(page.locator("#hotspots-method")).to_contain_text("k = ")
        expect(page.locator("#hotspots-method")).to_contain_text(" m")

        # Another measure and hexagon size (native selects, found by their labels) change the
        # URL and the view; the link reopens it, with the same choices in the boxes.
        measure = page.get_by_role("combobox", name="Measure", exact=True)
        size = page.get_by_role("combobox", name="Hexagon size", exact=True)
        expect(measure).to_have_value("count")
        expect(size).to_have_value("auto")
        measure.select_option(label="Late requests (count)")
        expect(page).to_have_url(re.compile(r"mode=late"), timeout=20_000)
        expect(page.locator("#hotspots-table thead")).to_contain_text("Late", timeout=20_000)
        size.select_option(label="0.737 km² (res. 8)")
        link = url + "/hotspots" + LATE
        expect(page).to_have_url(link, timeout=20_000)
        expect(page.locator("#hotspots-method")).to_contain_text("H3 resolution 8", timeout=20_000)
        other = browser.new_page()
        browser_sign_in(other, url, "planner@team.test", password)
        other.goto(link)
        expect(other.locator("#hotspots-table thead")).to_contain_text("Late", timeout=20_000)
        expect(other.locator("#hotspots-method")).to_contain_text("H3 resolution 8")
        expect(other.get_by_role("combobox", name="Measure", exact=True)).to_have_value("late")
        expect(other.locator("#hotspots-mode option:checked")).to_have_text("Late requests (count)")
        expect(other.get_by_role("combobox", name="Hexagon size", exact=True)).to_have_value("8")
        expect(other.locator("#hotspots-resolution option:checked")).to_have_text(
            "0.737 km² (res. 8)"
        )
        expect(other).to_have_url(link)  # the link is kept as it was written
        # The time step shows for emerging hot spots only, and is in the link.
        expect(other.locator("select#hotspots-step")).to_have_count(1)
        expect(other.locator("select#hotspots-step")).to_be_hidden()
        step = other.get_by_role("combobox", name="Time step", exact=True)
        other.get_by_role("combobox", name="Measure", exact=True).select_option("emerging")
        expect(step).to_be_visible()
        expect(step).to_have_value("auto")
        step.select_option(label="Months")
        expect(other).to_have_url(re.compile(r"&res=8&mode=emerging&step=month$"), timeout=20_000)
        other.close()

        with page.expect_download() as info:
            page.locator("#hotspots-csv").click()
        download = info.value
        assert download.suggested_filename.endswith(".csv")
        assert download.path().read_text().startswith("h3,lat,lon,count")
