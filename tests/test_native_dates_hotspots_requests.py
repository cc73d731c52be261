"""The Hot spots and Requests pages' dates are native date boxes (``<input type="date">``,
``layouts.components.date_range``: "From" and "To", each named by its ``<label for>``), not
Dash's date picker, which fails axe-core's ``aria-allowed-attr`` check. The URL's ``from`` and
``to`` are unchanged: the boxes give the same address as the picker did for the same dates, and
the page's first callback fills them ("YYYY-MM-DD" text, their ``min``/``max`` the data's first
and last days) from a link.

A box sends ``""`` when it is cleared or while a date is half typed: no bound on the Requests
page (as the cleared picker's None was), no date on the Hot spots page (as None was there). A
crafted value (not a date, a year the data is far from) is treated as the same value in a link
is: never a 500."""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from importlib import import_module
from typing import Any
from urllib.parse import parse_qsl

import dash_bootstrap_components as dbc
import pytest
from dash import dcc, html
from playwright.sync_api import expect

from dashboard import hotspots as hs
from dashboard.queries import ReadModel
from dashboard.urlstate import from_query
from tests.support.browser import chromium_browser
from tests.support.components import walk
from tests.support.signin import A11Y_USER, browser_sign_in, signed_in_staff_app
from tests.test_auth import payload

#: Values a box can send that are no date in range: not a date at all, a year the data is far
#: from (before pandas' timestamps begin, after the calendar's last day), a crafted scalar.
CRAFTED: list[Any] = [
    "2011-13-45",
    "0002-01-01",
    "0001-01-01",
    "9999-12-31",
    "2011-02-30",
    "tomorrow",
    " ",
    "275760-09-13",  # a browser's own largest date
    5,
    2.5,
    True,
]


# -- component trees ---------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["hotspots", "requests"])
def test_the_dates_are_native_date_boxes_with_labels(page: str) -> None:
    """Each page has two ``<input type="date">`` boxes (From, To), each named by a visible
    label whose ``for`` is its id, in a fieldset whose legend is the old label's words; no Dash
    date picker is left (nor a group named like a label around a box)."""
    module = import_module(f"layouts.{page}")
    nodes = walk(module.layout())
    by_id = {str(n.id): n for n in nodes if getattr(n, "id", None) is not None}
    labels = {
        str(n.html_for): n.children
        for n in nodes
        if isinstance(n, dbc.Label) and getattr(n, "html_for", None)
    }
    start, end = module.Ids.DATES_START, module.Ids.DATES_END
    assert (str(start), str(end)) == (f"{page}-dates-start", f"{page}-dates-end")
    assert not hasattr(module.Ids, "DATES")
    for id_, words in ((start, "From"), (end, "To")):
        box = by_id[id_]
        assert isinstance(box, dbc.Input), id_
        assert box.type == "date", id_
        assert labels[id_] == words, id_
    assert not [n for n in nodes if isinstance(n, dcc.DatePickerRange | dcc.DatePickerSingle)]
    (fieldset,) = [n for n in nodes if isinstance(n, html.Fieldset)]
    inside = {str(getattr(n, "id", "")) for n in walk(fieldset.children)}
    assert {start, end} <= inside
    (legend,) = [n for n in walk(fieldset.children) if isinstance(n, html.Legend)]
    assert legend.children == "Requested between"
    groups = [n for n in nodes if getattr(n, "role", None) in ("group", "radiogroup")]
    for group in groups:
        assert not {start, end} & {str(getattr(n, "id", "")) for n in walk(group.children)}


# -- plain functions ---------------------------------------------------------------------------
def test_an_empty_box_is_no_date_as_none_was() -> None:
    from callbacks.hotspots import params_from_controls
    from callbacks.requests import state_from_controls
    from dashboard.periods import box_day, box_text

    assert box_day("") is None and box_day(None) is None and box_day(True) is None
    assert box_day("2011-09-05") == "2011-09-05"
    assert box_text(None) == "" and box_text("") == ""
    assert box_text(date(2011, 9, 5)) == "2011-09-05"

    def requests(start: Any, end: Any):
        return state_from_controls(
            start=start,
            end=end,
            department=None,
            type_=None,
            status=None,
            channel=None,
            layer="",
            area=None,
            period="week",
        )

    def hotspots(start: Any, end: Any):
        return params_from_controls(
            type_="Street Light Outages",
            department="",
            start=start,
            end=end,
            resolution="auto",
            mode="count",
            step="auto",
            view="map",
        )

    for build in (requests, hotspots):
        assert build("", "") == build(None, None)
        assert build("", "2011-12-31") == build(None, "2011-12-31")
        assert build("2011-07-01", "") == build("2011-07-01", None)
        assert "from=2011-07-01&to=2011-12-31" in build("2011-07-01", "2011-12-31").to_query()
    assert requests("", "").to_query() == ""
    assert hotspots("", "").to_query() == "?type=Street+Light+Outages"


# -- through the real server -------------------------------------------------------------------
@pytest.fixture(scope="module")
def read_model(demo) -> ReadModel:
    return ReadModel(demo[0].snapshot_dir)


@pytest.fixture
def staff(demo, reset_dash_registries):
    return signed_in_staff_app(demo[0], "native-dates@city.test")


def _answer(client, app, output: str, values: dict[str, Any]) -> dict[str, Any]:
    key, spec = next((k, v) for k, v in app.callback_map.items() if output in k)
    response = client.post("/_dash-update-component", json=payload(key, spec, values))
    assert response.status_code == 200, (output, values, response.data[:300])
    return json.loads(response.data)["response"]


REQUESTS_CHART = "requests-chart.figure"


def _requests(client, app, start: Any, end: Any, **more: Any) -> dict[str, Any]:
    values = {
        "requests-dates-start.value": start,
        "requests-dates-end.value": end,
        "requests-period.value": "week",
        "requests-layer.value": "",
        **{f"requests-{k}.value": v for k, v in more.items()},
    }
    return _answer(client, app, REQUESTS_CHART, values)


def test_requests_boxes_give_the_pickers_address(staff) -> None:
    """The same dates give the same address as the picker did (the URL's ``from``/``to``);
    an empty box is no bound, both empty no dates at all."""
    app, client = staff
    for start, end, search in (
        ("2011-07-01", "2011-12-31", "?from=2011-07-01&to=2011-12-31"),
        ("2011-09-05", "2011-09-30", "?from=2011-09-05&to=2011-09-30"),
        ("", "2011-09-30", "?to=2011-09-30"),
        ("2011-09-05", "", "?from=2011-09-05"),
        ("", "", "?"),
        (None, None, "?"),
        # From after To: swapped, as a link's are.
        ("2011-12-31", "2011-07-01", "?from=2011-07-01&to=2011-12-31"),
    ):
        body = _requests(client, app, start, end)
        assert body["requests-url"]["search"] == search, (start, end)
        summary = body["requests-summary"]["children"]
        if start or end:
            assert " between " in summary, summary
        else:
            assert " between " not in summary, summary
    monthly = _requests(client, app, "2011-07-01", "2011-12-31", period="month")
    assert monthly["requests-url"]["search"] == "?from=2011-07-01&to=2011-12-31&period=month"


@pytest.mark.parametrize("value", CRAFTED, ids=repr)
def test_requests_crafted_box_values_never_fail(staff, caplog, value: Any) -> None:
    """A value no date box sends in range is what the same value in a link gives."""
    app, client = staff
    with caplog.at_level(logging.ERROR):
        for start, end in ((value, "2011-12-31"), ("2011-07-01", value), (value, value)):
            body = _requests(client, app, start, end)
            link = {"from": str(start)[:10], "to": str(end)[:10]}
            if value is True:
                link = {k: v for k, v in link.items() if v != "True"}
            expected = from_query(link).to_query() or "?"
            assert body["requests-url"]["search"] == expected, (start, end)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_requests_boxes_are_filled_from_the_link(staff, read_model) -> None:
    """The page's first callback puts the link's dates in the boxes as "YYYY-MM-DD" text (an
    empty box where the link has none) and the data's first and last days as both boxes'
    ``min`` and ``max``; posted back, they give the link's address."""
    app, client = staff
    opts = read_model.options()
    first, last = opts["min_date"].isoformat(), opts["max_date"].isoformat()
    for link, start, end in (
        ("?from=2011-07-01&to=2011-12-31&period=month", "2011-07-01", "2011-12-31"),
        ("?from=2011-08-01&period=day", "2011-08-01", ""),
        ("?to=2011-08-01", "", "2011-08-01"),
        ("", "", ""),
        ("?from=2011-13-45&to=2011-09-30", "", "2011-09-30"),
    ):
        opened = _answer(client, app, "requests-department.options", {"requests-state.data": link})
        for id_, value in (("requests-dates-start", start), ("requests-dates-end", end)):
            assert opened[id_] == {"min": first, "max": last, "value": value}, (link, id_)
        body = _requests(client, app, start, end, period=opened["requests-period"]["value"])
        search = body["requests-url"]["search"]
        assert search == (from_query(link).to_query() or "?"), link


HOTSPOTS_MAP = "hotspots-map.figure"


def _hotspots(start: Any, end: Any) -> dict[str, Any]:
    return {
        "hotspots-type.value": "Street Light Outages",
        "hotspots-department.value": "",
        "hotspots-dates-start.value": start,
        "hotspots-dates-end.value": end,
        "hotspots-resolution.value": "auto",
        "hotspots-mode.value": "count",
        "hotspots-step.value": "auto",
        "hotspots-view.value": "map",
    }


def test_hotspots_boxes_give_the_pickers_address(staff) -> None:
    """The same dates give the same address as the picker did; an empty box is no date, as
    the picker's None was (the URL without it)."""
    app, client = staff
    base = "?type=Street+Light+Outages"
    for start, end, search in (
        ("2011-07-01", "2011-12-31", base + "&from=2011-07-01&to=2011-12-31"),
        ("2011-09-01", "2011-10-31", base + "&from=2011-09-01&to=2011-10-31"),
        ("", "2011-10-31", base + "&to=2011-10-31"),
        ("2011-09-01", "", base + "&from=2011-09-01"),
        ("", "", base),
    ):
        body = _answer(client, app, HOTSPOTS_MAP, _hotspots(start, end))
        assert body["hotspots-url"]["search"] == search, (start, end)
        none = _answer(client, app, HOTSPOTS_MAP, _hotspots(start or None, end or None))
        assert none["hotspots-url"]["search"] == search
        assert json.dumps(none["hotspots-summary"]) == json.dumps(body["hotspots-summary"])


@pytest.mark.parametrize(
    "value",
    [
        "2011-13-45",
        "0002-01-01",
        "9999-12-31",
        "1000-01-01",
        "8999-12-31",
        "2011-02-30",
        "",
        5,
        True,
    ],
)
def test_hotspots_crafted_box_values_never_fail(staff, caplog, value: Any) -> None:
    """A crafted value gives the view the same value in a link gives, and the downloads
    (which read the boxes too) answer without a 500."""
    app, client = staff
    with caplog.at_level(logging.ERROR):
        for start, end in ((value, "2011-12-31"), ("2011-07-01", value)):
            body = _answer(client, app, HOTSPOTS_MAP, _hotspots(start, end))
            link = {"type": "Street Light Outages", "from": str(start), "to": str(end)}
            expected = hs.HotspotParams.from_query(
                {k: v for k, v in link.items() if v and v != "True"}
            )
            assert body["hotspots-url"]["search"] == expected.to_query(), (start, end)
            # 1000-01-01 and 8999-12-31 (the first and last days a link may name) are
            # analysed over the data's days only: before, their 52,000 weeks of trend took
            # many minutes.
        key, spec = next(
            (k, v) for k, v in app.callback_map.items() if "hotspots-download.data" in k
        )
        values = {**_hotspots(value, "2011-12-31"), "hotspots-csv.n_clicks": 1}
        body = payload(key, spec, values)
        body["changedPropIds"] = ["hotspots-csv.n_clicks"]
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code in (200, 204), response.data[:300]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_hotspots_boxes_are_filled_from_the_link(staff, read_model) -> None:
    """The first callback's dates are "YYYY-MM-DD" text in the boxes (the link's, or the
    default span ending on the data's last day), ``min``/``max`` the data's days; posted
    back they give the link's address."""
    app, client = staff
    opts = read_model.options()
    first, last = opts["min_date"].isoformat(), opts["max_date"].isoformat()
    for link, start, end in (
        ("?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31", "2011-07-01", "2011-12-31"),
        ("?type=Street+Light+Outages&from=2011-09-01", "2011-09-01", ""),
        ("?type=Street+Light+Outages", first, last),  # the demo is shorter than a year
    ):
        opened = _answer(client, app, "hotspots-type.options", {"hotspots-state.data": link})
        for id_, value in (("hotspots-dates-start", start), ("hotspots-dates-end", end)):
            assert opened[id_] == {"min": first, "max": last, "value": value}, (link, id_)
        search = _answer(client, app, HOTSPOTS_MAP, _hotspots(start, end))["hotspots-url"]
        expected = link if "from=" in link else f"{link}&from={first}&to={last}"
        assert search["search"] == expected, link


def test_a_value_no_box_can_hold_is_refused(staff) -> None:
    """An object or a list for a box's value is refused before the callback (400)."""
    app, client = staff
    key, spec = next((k, v) for k, v in app.callback_map.items() if REQUESTS_CHART in k)
    for bad in ({"a": 1}, ["2011-07-01"]):
        values = {"requests-dates-start.value": bad, "requests-period.value": "week"}
        response = client.post("/_dash-update-component", json=payload(key, spec, values))
        assert response.status_code == 400, bad


# -- in real headless Chromium -----------------------------------------------------------------
def _search(page) -> dict[str, str]:
    return dict(parse_qsl(page.evaluate("location.search").lstrip("?")))


@pytest.mark.browser
def test_typing_dates_in_the_boxes_writes_the_address(served_demo) -> None:
    """Requests: a date filled in the From box becomes the address's ``from``; cleared, the
    bound goes. A link's dates are shown in the boxes. Hot spots: the same."""
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/requests?from=2011-07-01&to=2011-12-31&period=month")
        start, end = page.locator("#requests-dates-start"), page.locator("#requests-dates-end")
        expect(start).to_have_value("2011-07-01", timeout=20_000)
        expect(end).to_have_value("2011-12-31")
        assert start.get_attribute("type") == "date"
        expect(page.get_by_label("From", exact=True)).to_have_id("requests-dates-start")
        page.fill("#requests-dates-start", "2011-09-05")
        expect(page).to_have_url(re.compile(r"from=2011-09-05"), timeout=20_000)
        assert _search(page) == {"from": "2011-09-05", "to": "2011-12-31", "period": "month"}
        expect(page.locator("#requests-summary")).to_contain_text(
            "between 2011-09-05 and 2011-12-31", timeout=20_000
        )
        page.fill("#requests-dates-end", "")
        expect(page).not_to_have_url(re.compile(r"to="), timeout=20_000)
        assert _search(page) == {"from": "2011-09-05", "period": "month"}

        page.goto(url + "/hotspots?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31")
        hot = page.locator("#hotspots-dates-start")
        expect(hot).to_have_value("2011-07-01", timeout=20_000)
        page.fill("#hotspots-dates-start", "2011-09-01")
        expect(page).to_have_url(re.compile(r"from=2011-09-01&to=2011-12-31$"), timeout=20_000)


def test_a_date_range_is_filled_in_one_order_on_both_pages() -> None:
    """The Requests and Hot spots pages fill their "Requested between" boxes through one pair
    of helpers: both calendars' bounds, then the two dates, all as text."""
    from layouts.components import date_range_outputs, date_range_values

    outputs = date_range_outputs("a-start", "a-end")
    assert [(o.component_id, o.component_property) for o in outputs] == [
        ("a-start", "min"),
        ("a-start", "max"),
        ("a-end", "min"),
        ("a-end", "max"),
        ("a-start", "value"),
        ("a-end", "value"),
    ]
    first, last = date(2011, 7, 1), date(2011, 12, 31)
    assert date_range_values(first, last, "2011-08-01", None) == (
        "2011-07-01", "2011-12-31", "2011-07-01", "2011-12-31", "2011-08-01", ""
    )  # fmt: skip
    assert date_range_values(None, None, None, None) == (None, None, None, None, "", "")
