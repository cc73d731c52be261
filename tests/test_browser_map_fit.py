"""The staff maps show their whole area at any width, in real headless Chromium.

The server picks a map's zoom for a desktop-wide map; on a 390 px phone the hot-spot and the
department maps cut off the city's west and east (a UX review). ``assets/map-fit.js`` zooms
each map whose figure carries ``layout.meta.fit`` to that box at the map's real size; here the
map MapLibre drew is read back and must hold the whole box, at a phone's width and a laptop's."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import chromium_browser
from tests.support.signin import A11Y_USER, browser_sign_in

pytestmark = pytest.mark.browser

HOTSPOTS = "/hotspots?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31"
DEPARTMENT = "/department/PWDx?period=month&date=2011-09-01&layer=neighborhood"

#: The box the figure asks for, the server's zoom, the zoom shown and the bounds MapLibre drew.
SHOWN = """(id) => {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullLayout.map || !gd.layout.meta) return null;
  const map = gd._fullLayout.map._subplot.map;
  if (!map.loaded() || map.isMoving() || !gd.dataset.mapFit) return null;
  const b = map.getBounds();
  return {fit: gd.layout.meta.fit, zoom: map.getZoom(),
          bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]};
}"""


#: The boxes of a map figure's legend and of the map MapLibre draws, the legend's entries and
#: those whose text is wider than the figure (cut by its edge).
LEGEND_AND_MAP = """(id) => {
  const root = document.querySelector('#' + id);
  const box = (el) => { const r = el.getBoundingClientRect();
                        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const figure = box(root.querySelector('.main-svg'));
  const texts = [...root.querySelectorAll('.legend .legendtext')];
  const gd = root.querySelector('.js-plotly-plot');
  return {legend: box(root.querySelector('.legend')), map: box(root.querySelector('.maplibregl-map')),
          entries: texts.length, traces: gd.data.length,
          cut: texts.filter((t) => box(t).right > figure.right + 0.5).map((t) => t.textContent)};
}"""


def _shown(page, id_: str) -> dict:
    page.wait_for_function(f"() => ({SHOWN})({id_!r}) !== null", timeout=30_000)
    page.wait_for_timeout(300)
    return page.evaluate(SHOWN, id_)


def _holds(bounds: list[float], box: list[float]) -> bool:
    tolerance = 1e-4  # degrees (about 10 m)
    west, south, east, north = bounds
    return (
        west <= box[0] + tolerance
        and south <= box[1] + tolerance
        and east >= box[2] - tolerance
        and north >= box[3] - tolerance
    )


@pytest.mark.parametrize("width", [390, 1366])
def test_the_staff_maps_show_their_whole_area(demo, served_demo, width: int) -> None:
    (settings, _), (url, password) = demo, served_demo
    with chromium_browser() as browser:
        page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        browser_sign_in(page, url, A11Y_USER, password)
        zooms = {}
        for path, id_ in ((HOTSPOTS, "hotspots-map"), (DEPARTMENT, "department-map")):
            page.goto(url + path)
            expect(page.locator(f"#{id_} .js-plotly-plot")).to_be_visible(timeout=30_000)
            shown = _shown(page, id_)
            assert shown["fit"] and _holds(shown["bounds"], shown["fit"]), (path, shown)
            # ... and not much more than it: the map is zoomed to the box, not the world
            west, south, east, north = shown["bounds"]
            fit_w, fit_h = shown["fit"][2] - shown["fit"][0], shown["fit"][3] - shown["fit"][1]
            assert (east - west) < 3 * fit_w or (north - south) < 3 * fit_h, (path, shown)
            zooms[id_] = shown["zoom"]
        # the department map's legend is under the map, whole, never over it (drawn over the
        # map's top left corner, it hid the northern areas on a phone)
        boxes = page.evaluate(LEGEND_AND_MAP, "department-map")
        legend, drawn = boxes["legend"], boxes["map"]
        assert legend["top"] >= drawn["bottom"] - 1, boxes
        assert legend["left"] >= 0 and legend["right"] <= width, boxes
        assert boxes["entries"] == boxes["traces"] >= 2 and boxes["cut"] == [], boxes
        if width < 576:
            # the server's desktop zoom, which cut the area off on a phone: the map zoomed out
            for id_, zoom in server_zooms(settings).items():
                assert zooms[id_] < zoom - 0.5, (id_, zooms[id_], zoom)


def server_zooms(settings) -> dict[str, float]:
    """The zoom of each map's figure as the server sends it (for a desktop-wide map)."""
    from datetime import date

    import pandas as pd

    from callbacks import department as cb
    from callbacks.hotspots import hotspot_view
    from dashboard import hotspots as hs
    from dashboard.services import Services

    services = Services.from_settings(settings)
    params = hs.HotspotParams(
        type="Street Light Outages", start=date(2011, 7, 1), end=date(2011, 12, 31)
    )
    hot = hotspot_view(services, params)["figure"]
    query = DEPARTMENT.split("?", 1)[1]
    now = pd.Timestamp.now(tz="UTC")
    areas = cb.map_view(services, "PWDx", "?" + query, "neighborhood", as_of=now)["figure"]
    return {
        "hotspots-map": _layout(hot)["map"]["zoom"],
        "department-map": _layout(areas)["map"]["zoom"],
    }


def _layout(figure) -> dict:
    return figure["layout"] if isinstance(figure, dict) else figure.to_plotly_json()["layout"]
