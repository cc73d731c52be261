"""The Overview's and the Department page's period dates are native date boxes
(``<input type="date">``, :func:`layouts.components.date_box`), not Dash's date pickers (which
fail axe-core's ``aria-allowed-attr``, critical). Each box is named by its own ``<label for>``:
"Containing the day", and "From"/"To" under a "Custom dates" legend. The addresses they write
are those the pickers wrote (a shared link opens the same view, a view writes the same link);
a box sends ``""`` while empty or half typed, which is "no date", as the picker's None was, and
the callbacks write ``"YYYY-MM-DD"`` text into the boxes (their ``min``/``max`` too)."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
import pytest
from dash import dcc, html

from callbacks.department import query_from_controls
from dashboard.periods import box_day, box_text
from layouts import department as dept_layout
from layouts import overview as ov_layout
from tests.support.components import walk
from tests.support.signin import signed_in_staff_app
from tests.test_auth import payload

OV, D = ov_layout.Ids, dept_layout.Ids
SEPTEMBER = "?period=month&date=2011-09-01"
CUSTOM = "?period=custom&from=2011-09-01&to=2011-09-30"
PAGES = {
    "overview": (lambda: ov_layout.layout(period="month", date="2011-09-01"), OV),
    "department": (lambda: dept_layout.layout("PWDx"), D),
}


# -- the layout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", list(PAGES))
def test_the_period_dates_are_native_date_boxes_named_by_their_labels(page: str) -> None:
    make, ids = PAGES[page]
    nodes = walk(make())
    assert not [n for n in nodes if isinstance(n, dcc.DatePickerSingle | dcc.DatePickerRange)]
    for id_, label in (
        (ids.DATE, "Containing the day"),
        (ids.RANGE_START, "From"),
        (ids.RANGE_END, "To"),
    ):
        (box,) = [n for n in nodes if getattr(n, "id", None) == id_]
        assert isinstance(box, dbc.Input) and box.type == "date", id_
        labels = [
            n for n in nodes if isinstance(n, dbc.Label) and getattr(n, "html_for", None) == id_
        ]
        assert [lab.children for lab in labels] == [label], id_
    # "From" and "To" are grouped under the legend "Custom dates", in the box a callback shows
    # for "custom" only.
    (shown_for_custom,) = [n for n in nodes if getattr(n, "id", None) == ids.RANGE_BOX]
    (fieldset,) = [n for n in walk(shown_for_custom) if isinstance(n, html.Fieldset)]
    inside = walk(fieldset)
    assert [n.children for n in inside if isinstance(n, html.Legend)] == ["Custom dates"]
    assert {ids.RANGE_START, ids.RANGE_END} <= {getattr(n, "id", None) for n in inside}
    assert not hasattr(ids, "RANGE")  # the picker's id is gone: no callback can still use it


def test_box_values_are_read_as_dates_or_none() -> None:
    from datetime import date

    import pandas as pd

    assert box_day("2011-09-05") == "2011-09-05"
    for empty in ("", "  ", None, 5, 2.5, True, "soon", "2011-02-30", "0001-01-01", "275760-09-13"):
        assert box_day(empty) is None, empty
    assert box_day("1500-03-15") == "1500-03-15"  # before the data, yet a day
    assert box_text(date(2011, 9, 5)) == "2011-09-05"
    assert box_text(pd.Timestamp("2011-09-05 13:00")) == "2011-09-05"
    assert box_text(date(1, 1, 1)) == "0001-01-01"  # no Timestamp bounds
    assert box_text("2011-07-01") == "2011-07-01"  # the Hot spots page's dates, already text
    for none in (None, "", pd.NaT, float("nan")):
        assert box_text(none) == "", none  # an empty box


# -- through the real server ----------------------------------------------------------------------
@pytest.fixture
def staff(demo, reset_dash_registries):
    return signed_in_staff_app(demo[0], "staff-dates@city.test")


def _callback(app, output: str) -> tuple[str, dict[str, Any]]:
    return next((k, v) for k, v in app.callback_map.items() if output in k)


def _post(client, key, spec, values, changed: list[str] | None = None) -> Any:
    body = payload(key, spec, values)
    if changed is not None:
        body["changedPropIds"] = changed
    return client.post("/_dash-update-component", json=body)


def _overview(app, client, values: dict[str, Any], changed: str) -> tuple[int, dict[str, Any]]:
    """The Overview's page callback after the control ``changed`` (``id.property``) changed:
    ``(status, {id.property: value})`` (``{}`` when nothing is updated)."""
    key, spec = _callback(app, f"{OV.HEADLINE}.children")
    response = _post(client, key, spec, values, [changed])
    if response.status_code != 200:
        return response.status_code, {}
    body = json.loads(response.data)["response"]
    return 200, {f"{i}.{p}": v for i, props in body.items() for p, v in props.items()}


OV_URL = f"{OV.URL}.search"
OV_KIND, OV_DATE = f"{OV.KIND}.value", f"{OV.DATE}.value"
OV_START, OV_END = f"{OV.RANGE_START}.value", f"{OV.RANGE_END}.value"


def test_the_overview_custom_boxes_write_the_same_address_as_the_picker(staff, demo) -> None:
    app, client = staff
    base = {OV_URL: CUSTOM, OV_KIND: "custom", OV_DATE: "2011-09-01", f"{OV.DEPARTMENT}.value": []}
    dates = {OV_START: "2011-09-05", OV_END: "2011-09-18"}
    for changed in (OV_START, OV_END):
        status, out = _overview(app, client, {**base, **dates}, changed)
        assert status == 200, changed
        assert out[OV_URL] == "?period=custom&from=2011-09-05&to=2011-09-18", changed
        assert "05 Sep 2011 – 18 Sep 2011:" in out[f"{OV.HEADLINE}.children"]
        # What the callback writes into the boxes is their text, never a date or a datetime.
        assert (out[OV_START], out[OV_END]) == ("2011-09-05", "2011-09-18")
    # A link with those dates opens the same view, and writes the same values into the boxes.
    status, opened = _overview(app, client, {**base, OV_URL: out[OV_URL]}, OV_URL)
    assert status == 200 and opened[f"{OV.HEADLINE}.children"] == out[f"{OV.HEADLINE}.children"]
    assert (opened[OV_START], opened[OV_END], opened[OV_DATE]) == (
        "2011-09-05",
        "2011-09-18",
        "2011-09-05",
    )
    # min and max: the data's first and last days, as text.
    from dashboard.services import Services

    options = Services.from_settings(demo[0]).read_model.options()
    for id_ in (OV.DATE, OV.RANGE_START, OV.RANGE_END):
        assert opened[f"{id_}.min"] == options["min_date"].isoformat(), id_
        assert opened[f"{id_}.max"] == options["max_date"].isoformat(), id_


def test_a_cleared_overview_box_is_no_date(staff) -> None:
    app, client = staff
    base = {OV_URL: CUSTOM, OV_KIND: "custom", OV_DATE: "2011-09-01", f"{OV.DEPARTMENT}.value": []}
    # A cleared (or half-typed) box, text or a scalar that is no day, or a day no period can be
    # worked out around: nothing to do yet, as with the picker's None (the page keeps what it
    # shows); never an error.
    for empty in ("", None, 5, True, "soon", "0001-01-01", "9999-12-31", "275760-09-13"):
        for changed, values in (
            (OV_START, {OV_START: empty, OV_END: "2011-09-18"}),
            (OV_END, {OV_START: "2011-09-05", OV_END: empty}),
            (OV_DATE, {OV_DATE: empty}),
        ):
            status, out = _overview(app, client, {**base, **values}, changed)
            assert status == 200 and out == {}, (changed, empty)
    # A change of kind with the day box cleared starts from the period shown, as with None.
    for empty in ("", None):
        values = {**base, OV_URL: SEPTEMBER, OV_KIND: "week", OV_DATE: empty}
        status, out = _overview(app, client, values, OV_KIND)
        assert status == 200 and out[OV_URL] == "?period=week&date=2011-08-29", empty


@pytest.mark.parametrize(
    ("day", "notice"),
    [
        ("2015-01-01", "No cases were due or opened in January 2015"),
        ("2011-06-15", "No cases were due or opened in June 2011"),
        ("1500-03-15", "No cases were due or opened in March 1500"),
    ],
)
def test_a_day_outside_the_data_is_shown_as_a_link_to_it_is(staff, day, notice) -> None:
    """The boxes' ``min``/``max`` bound the browser's calendar only: a typed day outside the
    data writes its period's address and explains itself, as a link to it does."""
    app, client = staff
    base = {OV_URL: SEPTEMBER, OV_KIND: "month", f"{OV.DEPARTMENT}.value": []}
    status, typed = _overview(app, client, {**base, OV_DATE: day}, OV_DATE)
    assert status == 200, day
    status, linked = _overview(app, client, {**base, OV_URL: typed[OV_URL]}, OV_URL)
    assert status == 200, day
    assert typed[f"{OV.HEADLINE}.children"] == linked[f"{OV.HEADLINE}.children"]
    assert typed[OV_URL] == f"?period=month&date={day[:8]}01"
    assert notice in json.dumps(typed[f"{OV.NOTICE}.children"]), day


# -- the Department page ---------------------------------------------------------------------------
DEPT = {
    f"{D.KIND}.value": "month",
    f"{D.DATE}.value": "2011-09-01",
    f"{D.CODE}.data": "PWDx",
    f"{D.STATE}.data": SEPTEMBER,
    f"{D.LAYER}.value": "neighborhood",
}


def _department_search(app, client, values: dict[str, Any]) -> str:
    key, spec = _callback(app, f"{D.MAP}.figure")
    response = _post(client, key, spec, {**DEPT, **values})
    assert response.status_code == 200, values
    return json.loads(response.data)["response"][str(D.URL)]["search"]


def test_the_department_custom_boxes_write_the_same_address_as_the_picker(staff) -> None:
    app, client = staff
    dates = {f"{D.RANGE_START}.value": "2011-09-05", f"{D.RANGE_END}.value": "2011-09-18"}
    custom = {f"{D.KIND}.value": "custom", **dates}
    assert _department_search(app, client, custom) == "?period=custom&from=2011-09-05&to=2011-09-18"
    assert _department_search(app, client, {**custom, f"{D.KIND}.value": "month"}) == SEPTEMBER
    # A cleared box (""), or a scalar no box sends, is no date, as the picker's None was: the
    # custom period waits for both dates (the month of the day shown meanwhile).
    half = query_from_controls("custom", "2011-09-01", None, "2011-09-18")
    assert half == "?period=custom&date=2011-09-01"
    for empty in ("", None, 5, True, "soon", "9999-12-31"):
        for box in (D.RANGE_START, D.RANGE_END):
            values = {**custom, f"{box}.value": empty}
            assert _department_search(app, client, values) == half, (box, empty)
        values = {f"{D.DATE}.value": empty}
        assert _department_search(app, client, values) == "?period=month", empty


def test_the_department_page_fills_its_boxes_with_text(staff, demo) -> None:
    from dashboard.services import Services

    app, client = staff
    options = Services.from_settings(demo[0]).read_model.options()
    first, last = options["min_date"].isoformat(), options["max_date"].isoformat()
    key, spec = _callback(app, f"{D.DATE}.value")
    for link, day, start, end in (
        (SEPTEMBER, "2011-09-01", "", ""),  # the custom boxes empty: ""
        ("?period=custom&from=2011-09-05&to=2011-09-18", "2011-09-05", "2011-09-05", "2011-09-18"),
    ):
        response = _post(client, key, spec, {f"{D.STATE}.data": link})
        assert response.status_code == 200
        body = json.loads(response.data)["response"]
        assert body[str(D.DATE)] == {"value": day, "min": first, "max": last}
        assert body[str(D.RANGE_START)] == {"value": start, "min": first, "max": last}
        assert body[str(D.RANGE_END)] == {"value": end, "min": first, "max": last}
