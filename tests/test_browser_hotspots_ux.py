"""The hot-spot page's controls and late mode in real headless Chromium (UX review of the demo):
a department user's Department box says which departments "all" means (its first option, value
""), every box shows its value whole at 1400 px and on a phone (390 px), and the late mode's legend and work list are
headed by late requests."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, make_user

pytestmark = pytest.mark.browser

LATE = "/hotspots?type=Request+for+Pothole+Repair&from=2011-09-01&to=2011-10-31&res=8&mode=late"
#: The longest labels: resolution 10 and the emerging measure (with the time step shown).
LONGEST = (
    "/hotspots?type=Request+for+Pothole+Repair&from=2011-07-01&to=2011-12-31&res=10&mode=emerging"
)
#: The native selects (the request type and the department were Dash dropdowns too).
SELECTS = ("hotspots-type", "hotspots-department", "hotspots-resolution", "hotspots-mode")
#: The text a select shows: its chosen option's.
SHOWN = "sel => sel.selectedOptions.length ? sel.selectedOptions[0].textContent : null"

#: Native selects whose chosen option is cut: its text, in the select's font, is wider than the
#: room between the select's padding (the right padding holds the arrow). A select draws its
#: value itself, so its scrollWidth does not tell.
SELECT_CUT = """(ids) => ids.filter(id => {
  const box = document.getElementById(id);
  if (!box || box.tagName !== 'SELECT' || !box.selectedOptions.length) return true;
  const s = getComputedStyle(box);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const room = box.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return room <= 0 || ctx.measureText(box.selectedOptions[0].text).width > room;
})"""


@pytest.fixture
def served(demo, reset_dash_registries):
    settings, _ = demo
    accounts = {
        "works@team.test": make_user(
            settings, "works@team.test", role="department", departments=("PWDx",)
        ),
        "mayor@team.test": make_user(settings, "mayor@team.test", role="executive"),
    }
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, accounts


def _open(browser, url: str, email: str, password: str, width: int, path: str):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    browser_sign_in(page, url, email, password)
    page.goto(url + path)
    expect(page.locator("#hotspots-table tbody tr").first).to_be_visible(timeout=30_000)
    return page


def test_department_box_and_values_are_read_whole(served) -> None:
    url, accounts = served
    with chromium_browser() as browser:
        for width in (1400, 390):
            page = _open(browser, url, "works@team.test", accounts["works@team.test"], width, LATE)
            department = page.get_by_role("combobox", name="Department", exact=True)
            expect(department).to_have_value("")
            assert department.evaluate(SHOWN) == "All my departments (PWDx)"
            assert department.locator("option:not([hidden])").all_inner_texts() == [
                "All my departments (PWDx)",
                "Public Works Department (PWDx)",
            ]
            expect(page.locator("#hotspots-department-scope")).to_contain_text(
                "Public Works Department (PWDx) only"
            )
            expect(page.locator("#hotspots-resolution")).to_have_value("8")
            expect(page.locator("#hotspots-resolution option:checked")).to_have_text(
                "0.737 km² (res. 8)"
            )
            assert page.evaluate(SELECT_CUT, list(SELECTS)) == [], width
            # Nothing wider than the phone's screen (the table scrolls inside its own box).
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.close()

            page = _open(
                browser, url, "mayor@team.test", accounts["mayor@team.test"], width, LONGEST
            )
            department = page.get_by_role("combobox", name="Department", exact=True)
            expect(department).to_have_value("")
            assert department.evaluate(SHOWN) == "All"
            expect(page.get_by_role("combobox", name="Request type", exact=True)).to_have_value(
                "Request for Pothole Repair"
            )
            expect(page.locator("#hotspots-department-scope")).to_have_text("")
            expect(page.locator("#hotspots-mode")).to_have_value("emerging")
            expect(page.locator("#hotspots-mode option:checked")).to_have_text(
                "Emerging hot spots (over time)"
            )
            expect(page.locator("#hotspots-resolution option:checked")).to_have_text(
                "0.015 km² (res. 10)"
            )
            expect(page.locator("#hotspots-step")).to_be_visible()
            assert page.evaluate(SELECT_CUT, [*SELECTS, "hotspots-step"]) == [], width
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.close()


def test_late_mode_legend_and_work_list_are_headed_by_late_requests(served) -> None:
    url, accounts = served
    with chromium_browser() as browser:
        page = _open(browser, url, "mayor@team.test", accounts["mayor@team.test"], 1400, LATE)
        legend = page.locator("#hotspots-legend thead")
        expect(legend).to_contain_text("Late requests")
        heads = page.locator("#hotspots-table thead th").all_inner_texts()
        assert heads[:5] == ["#", "Confidence", "Late requests", "Requests", "Still open"]
        late = [
            int(t.replace(",", ""))
            for t in page.locator("#hotspots-table tbody tr td:nth-child(3)").all_inner_texts()
        ]
        labels = page.locator("#hotspots-table tbody tr td:nth-child(2)").all_inner_texts()
        # Within a confidence level, the most late requests first.
        for level in set(labels):
            mine = [n for n, lab in zip(late, labels, strict=True) if lab == level]
            assert mine == sorted(mine, reverse=True), level
        assert re.search(r"most late requests", page.locator("#hotspots-table-note").inner_text())
        page.close()


def _choose(select, label: str) -> None:
    """Pick the option a person sees with the words ``label``. dbc.Select draws its placeholder
    as a first, hidden and disabled option "", here in the same words as the visible "" option
    (so that the box shows them whichever the browser marks chosen): Playwright's
    ``select_option(label=...)`` would find that one and wait for it to be enabled."""
    index = select.evaluate(
        "(sel, label) => [...sel.options].findIndex(o => !o.hidden && o.text === label)", label
    )
    assert index > 0, label
    select.select_option(index=index)


def test_type_and_department_selects_drive_the_page_and_its_address(served) -> None:
    """The request type and the department are native selects: choosing an option redraws the
    page and writes the address; the first option ("All my departments (PWDx)", value "")
    takes ``department`` out of it; the address opens the same choices; another department's
    code in a link is not applied."""
    url, accounts = served
    with chromium_browser() as browser:
        page = _open(browser, url, "works@team.test", accounts["works@team.test"], 1400, LATE)
        kind = page.get_by_role("combobox", name="Request type", exact=True)
        department = page.get_by_role("combobox", name="Department", exact=True)
        expect(kind).to_have_value("Request for Pothole Repair")
        assert kind.evaluate(SHOWN) == "Request for Pothole Repair"
        summary = page.locator("#hotspots-summary")
        expect(summary).to_contain_text("requests with a location", timeout=30_000)

        department.select_option(label="Public Works Department (PWDx)")
        expect(page).to_have_url(re.compile(r"&department=PWDx&"), timeout=20_000)
        expect(department).to_have_value("PWDx")
        _choose(department, "All my departments (PWDx)")
        expect(department).to_have_value("")
        expect(page).not_to_have_url(re.compile(r"department"), timeout=20_000)
        assert department.evaluate(SHOWN) == "All my departments (PWDx)"

        types = kind.locator("option:not([hidden])").all_inner_texts()
        other = next(t for t in types if t not in ("Request for Pothole Repair", ""))
        before = summary.inner_text()
        kind.select_option(label=other)
        expect(page).to_have_url(
            re.compile(r"\?type=" + re.escape(other.replace(" ", "+"))), timeout=20_000
        )
        expect(summary).not_to_have_text(before, timeout=20_000)  # redrawn for that type
        search = page.evaluate("location.search")

        again = page
        again.goto(url + "/hotspots" + search)
        expect(again.get_by_role("combobox", name="Request type", exact=True)).to_have_value(
            other, timeout=30_000
        )
        expect(again.get_by_role("combobox", name="Department", exact=True)).to_have_value("")
        again.goto(url + LATE + "&department=BTDT")
        expect(again.locator("#hotspots-link-notice")).to_contain_text(
            "not one of the departments you can see", timeout=30_000
        )
        expect(again.get_by_role("combobox", name="Department", exact=True)).to_have_value("")
        expect(again).not_to_have_url(re.compile(r"department"), timeout=20_000)
        page.close()
