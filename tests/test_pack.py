"""The stat-meeting pack (``/pack``): the Overview's period as a printable report, one page per
department. Numbers checked against plain pandas over the raw Boston export and against the
invariants the department page holds; a department user gets only their department; Chromium
prints it with one department per page."""

from __future__ import annotations

import json
import re
import zipfile

import pandas as pd
import pytest
from playwright.sync_api import expect

from callbacks.pack import pack_model, pack_view
from dashboard.app_factory import create_app
from dashboard.services import Services
from layouts import pack as ui
from layouts.overview import Ids as OverviewIds
from layouts.overview import layout as overview_layout
from tests.conftest import BOSTON_ZIP, make_settings
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.components import walk
from tests.support.signin import browser_sign_in, client_sign_in, make_user
from tests.test_auth import payload

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
SEPTEMBER = "?period=month&date=2011-09-01"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The bundled Boston export, read with plain pandas (times are local)."""
    with zipfile.ZipFile(BOSTON_ZIP) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv"))
        with archive.open(name) as fh:
            frame = pd.read_csv(fh, dtype=str)
    frame["opened"] = pd.to_datetime(frame["open_dt"])
    return frame


@pytest.fixture(scope="module")
def model(demo) -> dict:
    return pack_model(Services.from_settings(demo[0]), SEPTEMBER, as_of=AS_OF)


def test_the_pack_has_every_active_department_problems_first(model, raw) -> None:
    assert model["status"] == "ok" and model["period_label"] == "September 2011"
    september = raw[(raw["opened"] >= "2011-09-01") & (raw["opened"] < "2011-10-01")]
    opened = september.groupby("department").size()
    names = [s["card"]["department"] for s in model["sections"]]
    assert len(names) == len(set(names)) == len(model["cards"])
    # Every department that opened a case in September has its page (others may be there for
    # their backlog or cases due in September).
    assert set(opened.index) <= set(names)
    for section in model["sections"]:
        card = section["card"]
        assert card["volume"] == opened.get(card["department"], 0), card["department"]
    orders = [s["card"]["style"]["order"] for s in model["sections"]]
    assert orders == sorted(orders)


def test_each_department_page_adds_up(model, raw) -> None:
    """The request types share out the department's due and on-time cases and its volume; the
    ages share out its backlog; the overdue list is the longest overdue, each past its due
    time at the end of the period."""
    end_of_september = pd.Timestamp("2011-10-01")
    for section in model["sections"]:
        card, types = section["card"], section["types"]
        name = card["department"]
        assert int(types["due"].sum()) == card["due"], name
        assert int(types["on_time"].sum()) == card["on_time"], name
        assert int(types["volume"].sum()) == card["volume"], name
        assert int(types["open_backlog"].sum()) == card["open_backlog"], name
        assert int(section["ages"]["count"].sum()) == card["open_backlog"], name
        mine = raw[raw["department"] == name]
        assert set(types["group"]) <= set(mine["type"]), name
        overdue = section["overdue"]
        assert len(overdue) == min(ui.OVERDUE_ROWS, card["overdue_open"]), name
        days = overdue["days_overdue"].tolist()
        assert days == sorted(days, reverse=True), name
        assert (pd.to_datetime(overdue["due"]) < end_of_september).all(), name
        assert set(overdue["request_id"]) <= set(mine["case_enquiry_id"]), name
        repeats = section["repeats"]
        assert len(repeats) <= ui.REPEAT_ROWS and (repeats["requests"] >= 3).all(), name
        assert repeats["requests"].tolist() == sorted(repeats["requests"], reverse=True), name


def test_the_last_weeks_end_with_the_period(model, raw) -> None:
    for weeks in [model["weekly"], *(s["weekly"] for s in model["sections"])]:
        mondays = pd.to_datetime(weeks["week"])
        assert len(mondays) == ui.WEEKS
        assert (mondays.dt.day_of_week == 0).all()
        assert (mondays.diff().dropna() == pd.Timedelta(days=7)).all()
        assert mondays.iloc[-1] == pd.Timestamp("2011-09-26")  # the week of 30 September
    # The city's volume per week, from the raw export.
    city = model["weekly"].set_index(pd.to_datetime(model["weekly"]["week"]))["volume"]
    opened = raw["opened"]
    end = pd.Timestamp("2011-10-01")  # the last week counts up to the end of the period
    for monday, volume in city.items():
        until = min(monday + pd.Timedelta(days=7), end)
        expected = int(((opened >= monday) & (opened < until)).sum())
        assert volume == expected, monday


def test_the_view_and_its_empty_states(demo, tmp_path) -> None:
    services = Services.from_settings(demo[0])
    content = pack_view(services, SEPTEMBER, as_of=AS_OF)
    sections = [c for c in walk(content) if getattr(c, "className", "") == "pack-department mt-4"]
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    assert [s.to_plotly_json()["props"]["aria-label"] for s in sections] == [
        services.departments.label(s["card"]["department"]) for s in model["sections"]
    ]
    text = json.dumps(content, default=lambda c: c.to_plotly_json())
    assert "Stat-meeting pack: September 2011" in text
    outside = pack_view(services, "?period=month&date=2019-09-01", as_of=AS_OF)
    alert = outside[-1].children  # under the page's heading
    assert "No cases were due or opened in September 2019" in alert
    assert "2011-07-01" in alert and "2011-12-31" in alert
    empty = pack_view(Services.from_settings(make_settings(tmp_path)), SEPTEMBER)
    assert "No data loaded yet" in empty[-1].children


def test_the_overview_links_to_the_pack_of_its_period() -> None:
    page = overview_layout(period="month", date="2011-09-01")
    link = next(c for c in walk(page) if getattr(c, "id", None) == OverviewIds.PACK)
    assert link.href == "/pack?period=month&date=2011-09-01"


def test_a_department_user_gets_only_their_department(demo, reset_dash_registries) -> None:
    settings = demo[0]
    app = create_app(settings)
    password = make_user(settings, "pack-pwd@city.test", role="department", departments=["PWDx"])
    client = app.server.test_client()
    assert client_sign_in(client, "pack-pwd@city.test", password).status_code == 302
    assert client.get("/pack" + SEPTEMBER).status_code == 200
    # The pack comes with the page: Dash Pages' own callback renders it for the link.
    key, spec = next((k, v) for k, v in app.callback_map.items() if "_pages_content" in k)
    body = payload(
        key, spec, {"_pages_location.pathname": "/pack", "_pages_location.search": SEPTEMBER}
    )
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    labels = re.findall(r'"aria-label": ?"([^"]+)"', text)
    assert "Public Works Department (PWDx)" in labels
    others = {
        c["department"] for c in pack_model(Services.from_settings(settings), SEPTEMBER)["cards"]
    }
    assert not (others - {"PWDx"}) & set(labels)
    assert app.server.test_client().get("/pack").status_code == 302  # signed out: sign in first


@pytest.mark.browser
def test_chromium_prints_one_department_per_page(demo, model, reset_dash_registries) -> None:
    settings = demo[0]
    password = make_user(settings, "pack-mayor@city.test", role="executive")
    app = create_app(settings)
    expected = [
        Services.from_settings(settings).departments.label(s["card"]["department"])
        for s in model["sections"]
    ]
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page()
        browser_sign_in(page, url, "pack-mayor@city.test", password)
        page.goto(url + "/" + SEPTEMBER)
        # As a user does: the link is followed once the overview has drawn its cards. (Clicked
        # while the page's first callbacks were still running, the address once went back to
        # the overview in CI, 1 run in many; see the nineteenth session's note.)
        expect(page.locator("#overview-cards a").first).to_be_visible(timeout=30_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=30_000
        )
        page.get_by_role("link", name="Printable pack for this period").click()
        expect(page).to_have_url(re.compile(r"/pack\?period=month&date=2011-09-01$"))
        sections = page.locator("section.pack-department")
        expect(sections).to_have_count(len(expected), timeout=30_000)
        assert [sections.nth(i).get_attribute("aria-label") for i in range(len(expected))] == (
            expected
        )
        expect(page.locator("section.pack-cover h1")).to_have_text(
            "Stat-meeting pack: September 2011"
        )
        page.emulate_media(media="print")
        assert page.locator("header").first.is_hidden()
        assert page.locator(f"#{ui.Ids.PRINT}").is_hidden()
        breaks = sections.evaluate_all("els => els.map(e => getComputedStyle(e).breakBefore)")
        assert set(breaks) == {"page"}
        pdf = page.pdf(format="A4")
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert pages >= len(expected) + 1  # the cover, then at least a page per department
        assert pages <= 3 * (len(expected) + 1)  # and not one table per page


def test_the_pack_is_not_in_the_navbar(demo, reset_dash_registries) -> None:
    import dash

    create_app(demo[0])
    page = next(p for p in dash.page_registry.values() if p["path"] == "/pack")
    assert page["nav"] is False
    from layouts.shell import navbar

    bar = json.dumps(navbar(dash.page_registry.values()), default=lambda c: c.to_plotly_json())
    assert "/pack" not in bar and '"/hotspots"' in bar


def test_the_pack_comes_with_its_page_not_from_a_callback(demo, reset_dash_registries) -> None:
    """Dash 4.4's renderer mounted the pack returned by a callback in 10.7-13.0 s in Chromium, and in
    about 1 s as part of the page: no callback writes the content; the page's layout has it,
    for the signed-in user, in the order of the pack."""
    settings = demo[0]
    app = create_app(settings)
    password = make_user(settings, "pack-exec@city.test", role="executive")
    client = app.server.test_client()
    assert client_sign_in(client, "pack-exec@city.test", password).status_code == 302
    assert not [k for k in app.callback_map if str(ui.Ids.CONTENT) in k]
    key, spec = next((k, v) for k, v in app.callback_map.items() if "_pages_content" in k)
    body = payload(
        key, spec, {"_pages_location.pathname": "/pack", "_pages_location.search": SEPTEMBER}
    )
    text = client.post("/_dash-update-component", json=body).get_data(as_text=True)
    labels = [x for x in re.findall(r'"aria-label": ?"([^"]+)"', text) if x != "Summary"]
    model = pack_model(Services.from_settings(settings), SEPTEMBER)
    expected = [
        Services.from_settings(settings).departments.label(s["card"]["department"])
        for s in model["sections"]
    ]
    assert len(expected) >= 5
    assert [x for x in labels if x in expected] == expected
