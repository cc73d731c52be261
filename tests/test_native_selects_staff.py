"""The Requests page's "Period" and "Boundary layer" and the Department page's "Boundary layer"
are native selects (``dbc.Select``, not Dash's dropdown, whose hidden focus box axe-core
reports: ``aria-hidden-focus``), each named by a visible ``<label for>``. Their ids, the
callbacks' inputs and outputs, and the URL's parameters and values are those of the dropdowns
they replace, so earlier links open the same view. The Requests page's layer could be cleared:
its first option "Whole city" (value "") writes no ``layer`` into the address. Multi-choice
boxes stay Dash dropdowns."""

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
    "requests-layer": (req_layout.layout, "Boundary layer"),
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
    "?layer=neighborhood",
    "?layer=&period=month",
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
    assert not [n for n in by_id.values() if isinstance(n, dcc.Dropdown) and not n.multi]


def test_the_requests_layer_select_starts_on_whole_city() -> None:
    """The dropdown's placeholder "Whole city" is the select's first option, value "" (no
    layer), chosen before the page's first callback; the select's placeholder (dbc.Select's
    hidden option "", which a browser shows for "") says the same."""
    (select,) = [n for n in walk(req_layout.layout()) if getattr(n, "id", None) == "requests-layer"]
    assert select.options == req_layout.layer_choices([])
    assert select.options == [{"label": "Whole city", "value": ""}]
    assert select.value == "" and select.placeholder == req_layout.WHOLE_CITY == "Whole city"
    layers = [{"label": "neighborhood", "value": "neighborhood"}]
    assert req_layout.layer_choices(layers) == [select.options[0], *layers]


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
        layer=o["layer"] or "",  # what the Boundary layer select holds: "" for Whole city
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
    base = {"requests-dates-start.value": "2011-07-01", "requests-dates-end.value": "2011-12-31"}
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


def _requests_opened(app, client, link: str) -> dict[str, Any]:
    """What the Requests page's first callback, then its areas callback, put in the controls."""
    key, spec = _callback(app, "requests-department.options")
    response = _post(client, key, spec, {"requests-state.data": link})
    assert response.status_code == 200
    opened = json.loads(response.data)["response"]
    key, spec = _callback(app, "requests-area.options")
    values = {
        "requests-layer.value": opened["requests-layer"]["value"],
        "requests-state.data": link,
        "requests-area.value": [],
    }
    response = _post(client, key, spec, values)
    assert response.status_code == 200, values
    opened.update(json.loads(response.data)["response"])
    return opened


def _requests_search(app, client, opened: dict[str, Any], **changes: Any) -> str:
    """The address the Requests page writes for the controls as ``opened`` set them."""
    key, spec = _callback(app, "requests-chart.figure")
    values = {
        "requests-dates-start.value": opened["requests-dates-start"]["value"],
        "requests-dates-end.value": opened["requests-dates-end"]["value"],
        **{
            f"requests-{name}.value": opened[f"requests-{name}"]["value"]
            for name in ("department", "type", "status", "channel", "layer", "area", "period")
        },
    }
    values.update({f"requests-{k}.value": v for k, v in changes.items()})
    response = _post(client, key, spec, values)
    assert response.status_code == 200, values
    return json.loads(response.data)["response"]["requests-url"]["search"]


def test_a_requests_link_round_trips_through_the_layer_select(staff, read_model) -> None:
    """The link -> the Boundary layer select's options ("Whole city", value "", then the data's
    layers) and value (the link's layer, or "" for none or one the data has not) -> the address
    the controls write: the link's own (its areas kept) when the layer is known, the link
    without its layer and areas otherwise; never an empty ``layer=``."""
    app, client = staff
    layers = read_model.options()["layers"]
    first = next(iter(layers))
    areas = layers[first][:2]
    assert areas
    area_link = "&".join(f"area={a.replace(' ', '+')}" for a in areas)
    links = [
        "?from=2011-07-01&to=2011-12-31",
        f"?from=2011-07-01&to=2011-12-31&layer={first}",
        f"?from=2011-07-01&to=2011-12-31&layer={first}&{area_link}&period=month",
        "?layer=atlantis&area=Nowhere&period=month",
        "?layer=&period=month",
    ]
    choices = req_layout.layer_choices([{"label": n, "value": n} for n in layers])
    for link in links:
        opened = _requests_opened(app, client, link)
        layer = opened["requests-layer"]
        assert layer["options"] == choices, link
        asked = from_query(link)
        known = asked.layer in layers
        assert layer["value"] == (asked.layer if known else ""), link
        if known:
            assert [o["value"] for o in opened["requests-area"]["options"]] == layers[first]
            assert opened["requests-area"]["value"] == list(asked.area)
        else:
            assert opened["requests-area"] == {"options": [], "value": []}, link
        expected = asked if known else from_query(link.replace(f"layer={asked.layer}", ""))
        search = _requests_search(app, client, opened)
        assert search == expected.to_query(), link
        assert "layer=" not in search or known
        # Whole city chosen: no layer (nor its areas) in the address.
        whole = _requests_search(app, client, opened, layer="", area=[])
        assert whole == from_query({**dict(parse_qsl(search.lstrip("?"))), "layer": ""}).to_query()
        assert "layer" not in whole and "area" not in whole
        if known:  # and the link's layer chosen again: the link's address
            assert _requests_search(app, client, opened, layer=first) == search


def test_the_requests_layer_select_reaches_the_callback_and_the_url(staff, read_model) -> None:
    app, client = staff
    first = next(iter(read_model.options()["layers"]))
    key, spec = _callback(app, "requests-chart.figure")
    base = {"requests-dates-start.value": "2011-07-01", "requests-dates-end.value": "2011-12-31"}
    for value, search in (
        (first, from_query({"from": "2011-07-01", "to": "2011-12-31", "layer": first})),
        ("", from_query({"from": "2011-07-01", "to": "2011-12-31"})),
        (None, from_query({"from": "2011-07-01", "to": "2011-12-31"})),
        # A number a select may send (crafted): the text a link's ``layer=5`` gives.
        (5, from_query({"from": "2011-07-01", "to": "2011-12-31", "layer": "5"})),
    ):
        response = _post(client, key, spec, {**base, "requests-layer.value": value})
        assert response.status_code == 200, value
        written = json.loads(response.data)["response"]["requests-url"]["search"]
        assert written == search.to_query(), value
    # The areas box follows: none for Whole city or an unknown layer.
    key, spec = _callback(app, "requests-area.options")
    # ... and the layer just chosen, not the one the page's link named (which came first in
    # the question the areas were looked up with: a link's unknown layer gave no areas).
    areas = [
        a["value"] for a in req_cb.filter_options(read_model, f"?layer={first}")["area_options"]
    ]
    assert areas
    for link in ("?layer=atlantis&area=Nowhere", f"?layer={first}", ""):
        response = _post(
            client, key, spec, {"requests-layer.value": first, "requests-state.data": link}
        )
        assert response.status_code == 200, link
        got = json.loads(response.data)["response"]["requests-area"]["options"]
        assert [a["value"] for a in got] == areas, link
    for value in ("", 5, None):
        response = _post(client, key, spec, {"requests-layer.value": value})
        assert response.status_code == 200, value
        assert json.loads(response.data)["response"]["requests-area"]["options"] == []
    for bad in ({"a": 1}, [first], True, 2.5):
        response = _post(client, key, spec, {"requests-layer.value": bad})
        assert response.status_code == 400, bad


def test_the_layer_select_reaches_the_callback_and_the_url(staff) -> None:
    app, client = staff
    key, spec = _callback(app, "department-map.figure")
    base = {
        "department-kind.value": "month",
        "department-date.value": "2011-09-01",
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
def test_the_requests_layer_select_in_a_browser(served_demo) -> None:
    """Whole city (value "") is shown and chosen when the link has no layer; choosing a layer
    writes ``layer`` in the address (its Areas: tests above, through the server); choosing Whole city again takes it
    (and its areas) out; a link's layer opens on it."""
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/requests?from=2011-07-01&to=2011-12-31")
        summary = page.locator("#requests-summary")
        expect(summary).to_contain_text("requests", timeout=20_000)
        layer = page.get_by_role("combobox", name="Boundary layer", exact=True)
        expect(page.locator("select#requests-layer")).to_have_count(1)
        expect(layer).to_have_value("")
        assert layer.evaluate(SELECTED_TEXT) == req_layout.WHOLE_CITY
        shown = layer.locator("option:not([hidden])")
        expect(shown.first).to_have_text(req_layout.WHOLE_CITY)
        names = shown.all_inner_texts()[1:]
        assert names, "the demo has a boundary layer"

        layer.select_option(names[0])
        expect(page).to_have_url(re.compile(f"layer={names[0]}"), timeout=20_000)
        assert _search(page) == {"from": "2011-07-01", "to": "2011-12-31", "layer": names[0]}

        # Whole city, as a person picks it: the visible option of those words (dbc.Select's
        # hidden placeholder option is "" too, in the same words).
        index = layer.evaluate(
            "(sel, w) => [...sel.options].findIndex(o => !o.hidden && o.text === w)",
            req_layout.WHOLE_CITY,
        )
        assert index > 0
        layer.select_option(index=index)
        expect(page).not_to_have_url(re.compile(r"layer="), timeout=20_000)
        expect(layer).to_have_value("")
        assert layer.evaluate(SELECTED_TEXT) == req_layout.WHOLE_CITY
        assert _search(page) == {"from": "2011-07-01", "to": "2011-12-31"}

        page.goto(url + f"/requests?from=2011-07-01&to=2011-12-31&layer={names[0]}")
        expect(layer).to_have_value(names[0], timeout=20_000)
        assert layer.evaluate(SELECTED_TEXT) == names[0]
        _ready(page)
        assert _search(page) == {"from": "2011-07-01", "to": "2011-12-31", "layer": names[0]}


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
