"""The Requests page's "Period" and the Department page's "Boundary layer" are native selects
(``dbc.Select``, not Dash's dropdown, whose hidden focus box axe-core reports:
``aria-hidden-focus``), each named by a visible ``<label for>``. Their ids, the callbacks' inputs
and outputs, and the URL's parameters and values are those of the dropdowns they replace, so
earlier links open the same view. Multi-choice and clearable boxes stay Dash dropdowns."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

import dash_bootstrap_components as dbc
import pytest
from dash import dcc
from playwright.sync_api import Page, expect

from callbacks import department as dept_cb
from callbacks import requests as req_cb
from dashboard import department as dept
from dashboard.queries import PERIODS, ReadModel
from dashboard.urlstate import from_query
from layouts import department as dept_layout
from layouts import requests as req_layout
from tests.support.browser import chromium_browser
from tests.support.components import parents as _parents
from tests.support.components import walk
from tests.support.signin import A11Y_USER, browser_sign_in, signed_in_staff_app
from tests.test_auth import payload

#: The Period dropdown's options before it became a select (layouts/requests.py).
OLD_PERIOD_OPTIONS = [{"label": p.title(), "value": p} for p in PERIODS]
#: id -> (page's layout, visible label).
SELECTS = {
    "requests-period": (req_layout.layout, "Period"),
    "department-layer": (lambda: dept_layout.layout("PWDx"), "Boundary layer"),
}
#: Requests links as earlier versions wrote them (and a few odd ones a person may type).
REQUEST_LINKS = [
    "",
    "?period=month",
    "?period=day&from=2011-08-01",
    "?from=2011-07-01&to=2011-12-31&period=quarter",
    "?department=PWDx&period=year",
    "?period=week",
    "?period=MONTH",
    "?period=fortnight",
    "?period=month&layer=neighborhood",
]
DEPT_QUERY = "?period=month&date=2011-09-01"


# -- component trees ---------------------------------------------------------------------------
@pytest.mark.parametrize("id_", list(SELECTS))
def test_the_box_is_a_native_select_named_by_its_label(id_: str) -> None:
    make, label = SELECTS[id_]
    root = make()
    nodes = walk(root)
    (select,) = [n for n in nodes if getattr(n, "id", None) == id_]
    assert isinstance(select, dbc.Select), id_
    labels = [n for n in nodes if isinstance(n, dbc.Label) and getattr(n, "html_for", None) == id_]
    assert [lab.children for lab in labels] == [label]
    # The label just before it, and no group named like the label around it (a screen reader
    # would say the name twice).
    parent = _parents(root)[id(select)]
    assert getattr(parent, "role", None) not in ("group", "radiogroup"), id_
    siblings = parent.children
    assert siblings[siblings.index(select) - 1] is labels[0]


def test_the_period_select_offers_the_dropdowns_choices() -> None:
    (select,) = [
        n for n in walk(req_layout.layout()) if getattr(n, "id", None) == "requests-period"
    ]
    assert select.options == OLD_PERIOD_OPTIONS
    assert select.value == "week" == from_query("").period
    assert all(isinstance(o["value"], str) for o in select.options)


def test_the_layer_select_shows_its_placeholder_until_a_layer_is_chosen() -> None:
    """Before the page's first callback, and when the link's layer is not in the data, the
    select's value is None: dbc.Select then shows its placeholder (a hidden option ""), not
    the first layer, which the map is not drawn for."""
    nodes = walk(dept_layout.layout("PWDx"))
    (select,) = [n for n in nodes if getattr(n, "id", None) == "department-layer"]
    assert select.value is None and select.options == []
    assert select.placeholder == "Pick a boundary layer" == dept_layout.LAYER_PLACEHOLDER


def test_the_other_boxes_stay_dash_dropdowns() -> None:
    by_id = {str(n.id): n for n in walk(req_layout.layout()) if getattr(n, "id", None)}
    for id_ in ("requests-department", "requests-type", "requests-status", "requests-channel"):
        assert isinstance(by_id[id_], dcc.Dropdown) and by_id[id_].multi, id_
    layer = by_id["requests-layer"]
    assert isinstance(layer, dcc.Dropdown) and layer.placeholder == "Whole city"


def test_select_text() -> None:
    assert dept_cb.select_text("month") == "month"
    assert dept_cb.select_text(" ward ") == "ward"
    for nothing in (None, "", "  ", True, False):
        assert dept_cb.select_text(nothing) is None
    assert dept_cb.select_text(5) == "5"


# -- URL round trips ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def read_model(demo) -> ReadModel:
    return ReadModel(demo[0].snapshot_dir)


def _request_state(o: dict[str, Any], period: Any) -> Any:
    return req_cb.state_from_controls(
        start=o["start"] and o["start"].isoformat(),
        end=o["end"] and o["end"].isoformat(),
        department=o["department"],
        type_=o["type"],
        status=o["status"],
        channel=o["channel"],
        layer=o["layer"],
        area=o["area"],
        period=period,
    )


@pytest.mark.parametrize("link", REQUEST_LINKS)
def test_a_requests_link_round_trips_through_the_period_select(read_model, link: str) -> None:
    """The link -> the value the page's first callback puts in the select (one of the old
    dropdown's options) -> the state the controls give -> the link the URL parser makes of the
    link itself (the address the dropdown's page wrote)."""
    o = req_cb.filter_options(read_model, link)
    assert o["period"] in [opt["value"] for opt in OLD_PERIOD_OPTIONS], link
    state = _request_state(o, o["period"])
    assert state == from_query(link), link
    assert state.to_query() == from_query(link).to_query()


@pytest.mark.parametrize("option", OLD_PERIOD_OPTIONS, ids=lambda o: o["value"])
def test_every_period_choice_writes_the_same_address(read_model, option) -> None:
    """Each choice of the old dropdown gives the address its value gives as a link, and that
    address opens the page on the same choice."""
    o = req_cb.filter_options(read_model, "?from=2011-07-01&to=2011-12-31")
    query = _request_state(o, option["value"]).to_query()
    written = dict(parse_qsl(query.lstrip("?")))
    assert written.get("period", "week") == option["value"]
    assert req_cb.filter_options(read_model, query)["period"] == option["value"]


def test_a_period_no_option_has_is_the_default_week(read_model) -> None:
    o = req_cb.filter_options(read_model, "")
    for odd in (5, True, "", None, "fortnight"):
        assert _request_state(o, odd).period == "week", odd


@pytest.fixture
def two_layers(monkeypatch) -> list[str]:
    """The demo store with a second (pretend) boundary layer, for a layer that is not the
    first one; only the layers' names are asked of it here."""
    names = ["neighborhood", "ward"]
    monkeypatch.setattr(dept, "layers", lambda read_model: list(names))
    return names


@pytest.mark.parametrize(
    "link",
    [
        DEPT_QUERY,
        DEPT_QUERY + "&layer=neighborhood",
        DEPT_QUERY + "&layer=ward",
        "?period=quarter&date=2011-07-01&layer=ward",
        "?period=custom&from=2011-09-01&to=2011-09-10&layer=ward",
        "?period=week&date=2011-09-05",
        DEPT_QUERY + "&layer=atlantis",
    ],
)
def test_a_department_link_round_trips_through_the_layer_select(
    read_model, two_layers, link: str
) -> None:
    """The link -> the select's options and value (the page's first callback) -> the address
    the controls write: the link's layer when it is a known one other than the first, none for
    the first (the default) or for one the data has not (the map says so, the select shows its
    placeholder)."""
    o = dept_cb.init_controls(read_model, link)
    values = [opt["value"] for opt in o["layer_options"]]
    assert values == two_layers
    asked = dict(parse_qsl(link.lstrip("?"))).get("layer")
    if asked is None:
        assert o["layer"] == two_layers[0]
    elif asked in two_layers:
        assert o["layer"] == asked
    else:
        assert o["layer"] is None  # shown as the placeholder, the map explains
    # What a browser sends back is the chosen option's value (text), or "" for the placeholder.
    sent = o["layer"] if o["layer"] is not None else ""
    day = o["date"].isoformat() if isinstance(o["date"], date) else o["date"]
    search = dept_cb.query_from_controls(
        o["kind"],
        day,
        o["start"] and o["start"].isoformat(),
        o["end"] and o["end"].isoformat(),
        dept_cb.select_text(sent),
        default_layer=two_layers[0],
    )
    expected = [(k, v) for k, v in parse_qsl(link.lstrip("?"))]
    if asked is not None and asked not in two_layers[1:]:
        expected.remove(("layer", asked))
    assert sorted(parse_qsl(search.lstrip("?"))) == sorted(expected), (link, search)
    # ... and that address opens the page on the same layer (and period).
    again = dept_cb.init_controls(read_model, search)
    assert again["layer"] == (o["layer"] or two_layers[0])
    assert (again["kind"], again["date"]) == (o["kind"], o["date"])


# -- through the real server -------------------------------------------------------------------
@pytest.fixture
def staff(demo, reset_dash_registries):
    return signed_in_staff_app(demo[0], "staff-selects@city.test")


def _callback(app, output: str) -> tuple[str, dict[str, Any]]:
    return next((k, v) for k, v in app.callback_map.items() if output in k)


def _post(client, key, spec, values) -> Any:
    return client.post("/_dash-update-component", json=payload(key, spec, values))


def test_the_period_select_reaches_the_callback_and_the_url(staff) -> None:
    app, client = staff
    key, spec = _callback(app, "requests-chart.figure")
    base = {"requests-dates.start_date": "2011-07-01", "requests-dates.end_date": "2011-12-31"}
    for option in OLD_PERIOD_OPTIONS:
        response = _post(client, key, spec, {**base, "requests-period.value": option["value"]})
        assert response.status_code == 200
        search = json.loads(response.data)["response"]["requests-url"]["search"]
        expected = from_query({"from": "2011-07-01", "to": "2011-12-31", "period": option["value"]})
        assert search == expected.to_query()
    # Scalars a select may send but no option has: the default week, never a failure.
    for odd in (5, ""):
        response = _post(client, key, spec, {**base, "requests-period.value": odd})
        assert response.status_code == 200, odd
        search = json.loads(response.data)["response"]["requests-url"]["search"]
        assert "period=" not in search
    # Values no select can hold (a browser's select sends its option's text) are refused.
    for bad in ({"a": 1}, [["month"]], True, 2.5):
        response = _post(client, key, spec, {**base, "requests-period.value": bad})
        assert response.status_code == 400, bad


def test_the_layer_select_reaches_the_callback_and_the_url(staff) -> None:
    app, client = staff
    key, spec = _callback(app, "department-map.figure")
    base = {
        "department-kind.value": "month",
        "department-date.date": "2011-09-01",
        "department-code.data": "PWDx",
        "department-state.data": DEPT_QUERY,
    }
    response = _post(client, key, spec, {**base, "department-layer.value": "neighborhood"})
    assert response.status_code == 200
    body = json.loads(response.data)["response"]
    assert body["department-url"]["search"] == DEPT_QUERY  # the default layer: not written
    assert "by neighborhood" in json.dumps(body["department-map-note"])
    # Nothing chosen (the placeholder's ""), or a scalar no option has: never a failure. A
    # number is the text a link's ``layer=5`` gives (the map says there is no such layer).
    for odd, search in (("", DEPT_QUERY), (5, DEPT_QUERY + "&layer=5")):
        response = _post(client, key, spec, {**base, "department-layer.value": odd})
        assert response.status_code == 200, odd
        body = json.loads(response.data)["response"]
        assert body["department-url"]["search"] == search, odd
        assert "Pick one above" in json.dumps(body["department-map-note"]), odd
    for bad in ({"a": 1}, [["neighborhood"]], True, 2.5):
        response = _post(client, key, spec, {**base, "department-layer.value": bad})
        assert response.status_code == 400, bad


# -- in real headless Chromium -------------------------------------------------------------------
SELECTED_TEXT = "sel => sel.selectedOptions.length ? sel.selectedOptions[0].textContent : null"


def _ready(page: Page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=30_000
    )


def _search(page: Page) -> dict[str, str]:
    return dict(parse_qsl(page.evaluate("location.search").lstrip("?")))


@pytest.mark.browser
def test_the_period_select_in_a_browser(served_demo) -> None:
    """A link's period is the select's choice; choosing another redraws the table by that
    period and writes it in the address; the address opens the same view."""
    url, password = served_demo
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/requests?from=2011-07-01&to=2011-12-31&period=month")
        period = page.get_by_role("combobox", name="Period", exact=True)
        expect(period).to_have_value("month", timeout=20_000)
        expect(page.locator("select#requests-period")).to_have_count(1)
        table = page.locator("#requests-table table tbody tr")
        expect(table.first.locator("th")).to_have_text("2011-07-01", timeout=20_000)
        months = table.count()
        assert months == 6
        page.locator("details:has(#requests-table) summary").click()

        period.select_option(label="Day")
        expect(page).to_have_url(re.compile(r"period=day"), timeout=20_000)
        expect(page.locator("#requests-table")).to_contain_text(
            f"The latest {req_cb.TABLE_ROWS} of", timeout=20_000
        )
        assert _search(page) == {"from": "2011-07-01", "to": "2011-12-31", "period": "day"}
        expect(table).to_have_count(req_cb.TABLE_ROWS)  # the latest days of the 184
        expect(table.last.locator("th")).to_have_text(re.compile(r"^2011-12-\d\d$"))

        period.select_option("week")  # the default: the address leaves it out
        expect(page).not_to_have_url(re.compile(r"period="), timeout=20_000)
        assert _search(page) == {"from": "2011-07-01", "to": "2011-12-31"}

        other = context.new_page()  # signed in too
        other.goto(url + "/requests?period=quarter&from=2011-07-01&to=2011-12-31")
        expect(other.get_by_role("combobox", name="Period", exact=True)).to_have_value(
            "quarter", timeout=20_000
        )
        expect(other.locator("#requests-table table tbody tr")).to_have_count(2, timeout=20_000)


@pytest.mark.browser
def test_the_layer_select_in_a_browser(served_demo) -> None:
    """The first layer is chosen and drawn; a link's unknown layer leaves the select on its
    placeholder (never showing a layer the map is not drawn for) with the map saying why;
    choosing the layer draws it and the address drops the unknown one."""
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/department/PWDx" + DEPT_QUERY)
        layer = page.get_by_role("combobox", name="Boundary layer", exact=True)
        expect(layer).to_have_value("neighborhood", timeout=30_000)
        expect(page.locator("#department-map-note")).to_contain_text(
            "by neighborhood", timeout=30_000
        )
        assert layer.evaluate(SELECTED_TEXT) == "neighborhood"
        _ready(page)
        assert _search(page) == dict(parse_qsl(DEPT_QUERY.lstrip("?")))

        page.goto(url + "/department/PWDx" + DEPT_QUERY + "&layer=atlantis")
        note = page.locator("#department-map-note")
        # As with the dropdown: once the controls are set from the link, no layer is chosen.
        expect(note).to_contain_text(
            "No layer picked; known layers: neighborhood. Pick one above.", timeout=30_000
        )
        expect(layer).to_have_value("")
        assert layer.evaluate(SELECTED_TEXT) == "Pick a boundary layer"
        layer.select_option("neighborhood")
        expect(note).to_contain_text("by neighborhood", timeout=30_000)
        expect(page).not_to_have_url(re.compile(r"layer="), timeout=20_000)


@pytest.mark.browser
def test_axe_finds_nothing_on_the_selects_and_checks_their_names(served_demo) -> None:
    """axe-core (WCAG 2.x A/AA) on both pages: no violation on either select (the dropdowns'
    focus box was ``aria-hidden-focus``), and its ``select-name`` rule passes on each one."""
    from axe_playwright_python.sync_playwright import Axe

    wcag = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    pages = {
        "requests-period": ("/requests?from=2011-08-01&to=2011-10-31&period=month", ".dash-graph"),
        "department-layer": ("/department/PWDx" + DEPT_QUERY, ".ag-root"),
    }
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        for id_, (path, ready) in pages.items():
            label = SELECTS[id_][1]
            page.goto(url + path)
            expect(page.locator(ready).first).to_be_visible(timeout=30_000)
            _ready(page)
            page.wait_for_load_state("networkidle")
            response = Axe().run(page, options=wcag).response
            flagged = [
                str(part)
                for v in response["violations"]
                for n in v["nodes"]
                for part in (*n["target"], n["html"])
            ]
            assert not [t for t in flagged if id_ in t or f'"{label}"' in t], (path, flagged)
            named = [
                str(t)
                for r in response["passes"]
                if r["id"] == "select-name"
                for n in r["nodes"]
                for t in n["target"]
            ]
            assert any(f"#{id_}" in t for t in named), (path, named)
