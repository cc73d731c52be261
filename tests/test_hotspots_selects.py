"""Every one-choice box of the hot-spot page is a native select (``dbc.Select``, not Dash's
dropdown, whose hidden focus box axe-core reports: ``aria-hidden-focus``), each named by a
visible ``<label for>``: the measure, hexagon size and time step, the request type (always one
of the data's) and the department (its first option, value "", is every department the user may
see). Their ids, the callbacks' inputs and outputs, and the URL's parameters and values are those
of the dropdowns they replace, so earlier links open the same view; "" writes no ``department``
into the address; a department user's scope holds whatever the select sends."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
import pytest
from dash import dcc

from dashboard import hotspots as hs
from dashboard.app_factory import create_app
from dashboard.queries import ReadModel
from tests.support.components import walk
from tests.support.signin import client_sign_in, make_user, signed_in_staff_app
from tests.test_auth import payload

SELECTS = {
    "hotspots-mode": "Measure",
    "hotspots-resolution": "Hexagon size",
    "hotspots-step": "Time step",
}
#: The boxes whose options the page's first callback fills (they were Dash dropdowns too).
OTHER_SELECTS = {"hotspots-type": "Request type", "hotspots-department": "Department"}
#: Links as earlier versions of the page wrote them (the canonical order of ``to_query``).
LINKS = [
    "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31",
    "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31&res=8&mode=late",
    "?type=Request+for+Pothole+Repair&from=2011-07-01&to=2011-12-31&res=10&mode=emerging",
    "?type=Request+for+Pothole+Repair&from=2011-07-01&to=2011-12-31&res=7&mode=emerging"
    "&step=month&view=density",
    "?type=Street+Light+Outages&department=PWDx&from=2011-09-01&to=2011-10-31&res=9"
    "&mode=share&step=week",
]


def _page() -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """The page's components, those with an id by id, and each label's words by its ``for``."""
    from layouts.hotspots import layout

    nodes = walk(layout())
    by_id = {str(n.id): n for n in nodes if getattr(n, "id", None) is not None}
    labels = {
        str(n.html_for): n.children
        for n in nodes
        if isinstance(n, dbc.Label) and getattr(n, "html_for", None)
    }
    return nodes, by_id, labels


def test_the_short_lists_are_native_selects_with_visible_labels() -> None:
    from layouts.hotspots import Ids

    nodes, by_id, labels = _page()
    for id_, label in SELECTS.items():
        select = by_id[id_]
        assert isinstance(select, dbc.Select), id_
        assert labels[id_] == label, id_
        values = [o["value"] for o in select.options]
        # Text values (a native select's value is text), one of them chosen from the start.
        assert all(isinstance(v, str) and v for v in values), (id_, values)
        assert select.value in values, id_
    # No ``role="group"`` named like the label around a native select: its label names it.
    groups = [n for n in nodes if getattr(n, "role", None) in ("group", "radiogroup")]
    for group in groups:
        inside = {str(getattr(n, "id", "")) for n in walk(group.children)}
        assert not inside & set(SELECTS), group
    # The dates are native date boxes (tests/test_native_dates_hotspots_requests.py).
    for id_ in (Ids.DATES_START, Ids.DATES_END):
        assert isinstance(by_id[id_], dbc.Input) and by_id[id_].type == "date", id_
    # No Dash dropdown is left on the page.
    assert not [n for n in nodes if isinstance(n, dcc.Dropdown)]


def test_the_type_and_department_are_native_selects_with_visible_labels() -> None:
    """The request type and the department: native selects named by their labels; before the
    page's first callback the type shows its placeholder (no option yet) and the department
    its first option, "All" (value "")."""
    from layouts.hotspots import (
        ALL_DEPARTMENTS,
        TYPE_PLACEHOLDER,
        Ids,
        department_choices,
    )

    _, by_id, labels = _page()
    for id_, label in OTHER_SELECTS.items():
        assert isinstance(by_id[id_], dbc.Select), id_
        assert labels[id_] == label, id_
    kind, department = by_id[Ids.TYPE], by_id[Ids.DEPARTMENT]
    assert (kind.options, kind.value, kind.placeholder) == ([], None, TYPE_PLACEHOLDER)
    assert department.options == department_choices(ALL_DEPARTMENTS, [])
    assert department.options == [{"label": ALL_DEPARTMENTS, "value": ""}]
    # The value "" is the first option, and the placeholder (dbc.Select's hidden option "",
    # which a browser shows for "") says the same.
    assert department.value == "" == department.options[0]["value"]
    assert department.placeholder == department.options[0]["label"]


def test_department_choices_put_all_first() -> None:
    from layouts.hotspots import department_choices, department_placeholder

    departments = [{"label": "Public Works Department (PWDx)", "value": "PWDx"}]
    for scope in (None, ("PWDx",), ("ISD", "PWDx")):
        words = department_placeholder(scope)
        choices = department_choices(words, departments)
        assert choices == [{"label": words, "value": ""}, *departments]
    assert departments == [{"label": "Public Works Department (PWDx)", "value": "PWDx"}]


@pytest.fixture(scope="module")
def read_model(demo) -> ReadModel:
    return ReadModel(demo[0].snapshot_dir)


@pytest.mark.parametrize("link", LINKS)
def test_a_link_round_trips_through_the_selects(read_model, link: str) -> None:
    """The link -> the values the page puts in the controls (``page_options``, as the page's
    first callback does) -> each an option of its select -> the parameters the controls give
    -> the same link, character for character."""
    from callbacks.hotspots import page_options, params_from_controls
    from layouts.hotspots import MODE_OPTIONS, RESOLUTION_OPTIONS, STEP_OPTIONS

    o = page_options(read_model, link)
    for key, options in (
        ("mode", MODE_OPTIONS),
        ("resolution", RESOLUTION_OPTIONS),
        ("step", STEP_OPTIONS),
    ):
        assert o[key] in [opt["value"] for opt in options], (link, key, o[key])
    params = params_from_controls(
        type_=o["type"],
        department=o["department"],
        start=o["start"],
        end=o["end"],
        resolution=o["resolution"],
        mode=o["mode"],
        step=o["step"],
        view=o["view"],
    )
    assert params == hs.HotspotParams.from_query(link)
    assert params.to_query() == link


def test_the_resolution_is_a_number_whatever_the_select_sends() -> None:
    """A select's "8" (or a number 8, or "auto"/"" for automatic) gives the same question as
    the URL's ``res=8``, and the URL keeps ``res=8``."""
    from callbacks.hotspots import params_from_controls

    def params(resolution: Any, step: Any = "auto") -> hs.HotspotParams:
        return params_from_controls(
            type_="Street Light Outages",
            department=None,
            start="2011-07-01",
            end="2011-12-31",
            resolution=resolution,
            mode="emerging",
            step=step,
            view="map",
        )

    assert params("8").resolution == 8
    assert params(8).resolution == 8
    assert "res=8" in params("8").to_query()
    for automatic in ("auto", "", None):
        assert params(automatic).resolution is None
        assert "res=" not in params(automatic).to_query()
    assert params("99").resolution is None  # not a resolution offered: automatic
    assert params("8", "month").step == "month"
    assert params("8", "").step is None and params("8", "auto").step is None


@pytest.fixture
def staff(demo, reset_dash_registries):
    return signed_in_staff_app(demo[0], "selects@city.test")


def test_the_selects_values_reach_the_callback_and_the_url(staff) -> None:
    """Through the real server: the text the native selects send gives the same address the
    dropdowns' did; a value no select can hold (an object, a list) is refused before the
    callback."""
    app, client = staff
    key, spec = next((k, v) for k, v in app.callback_map.items() if "hotspots-map.figure" in k)
    values = {
        "hotspots-type.value": "Street Light Outages",
        "hotspots-dates-start.value": "2011-07-01",
        "hotspots-dates-end.value": "2011-12-31",
        "hotspots-resolution.value": "8",
        "hotspots-mode.value": "late",
        "hotspots-step.value": "auto",
        "hotspots-view.value": "map",
    }
    response = client.post("/_dash-update-component", json=payload(key, spec, values))
    assert response.status_code == 200
    search = json.loads(response.data)["response"]["hotspots-url"]["search"]
    assert search == "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31&res=8&mode=late"
    for id_ in SELECTS:
        for bad in ({"a": 1}, [["8"]]):
            body = payload(key, spec, {**values, f"{id_}.value": bad})
            response = client.post("/_dash-update-component", json=body)
            assert response.status_code == 400, (id_, bad)
            assert "cannot hold that value" in json.loads(response.data)["error"]


# -- the request type and the department, through the real server --------------------------------
#: Links as earlier versions wrote them, and odd ones a person may type: none, a type the data
#: has not, a department the data has not, an empty department.
OPENING_LINKS = [
    *LINKS,
    "?type=Request+for+Pothole+Repair&department=PWDx&from=2011-07-01&to=2011-12-31",
    "",
    "?department=PWDx",
    "?type=No+Such+Type&from=2011-07-01&to=2011-12-31",
    "?type=Street+Light+Outages&department=NOPE&from=2011-07-01&to=2011-12-31",
    "?type=Street+Light+Outages&department=&from=2011-07-01&to=2011-12-31",
]
#: Cases of several departments in the Boston sample (PWDx, INFO, BTDT and BWSC).
SHARED_TYPE = "Contractor Complaints"


def _key(app, output: str) -> tuple[str, dict[str, Any]]:
    return next((k, v) for k, v in app.callback_map.items() if output in k)


def _answer(client, app, output: str, values: dict[str, Any]) -> dict[str, Any]:
    key, spec = _key(app, output)
    response = client.post("/_dash-update-component", json=payload(key, spec, values))
    assert response.status_code == 200, (output, values, response.data[:300])
    return json.loads(response.data)["response"]


def _opened(client, app, link: str) -> dict[str, Any]:
    """What the page's first callback puts in the controls for ``link``."""
    return _answer(client, app, "hotspots-type.options", {"hotspots-state.data": link})


def _controls(opened: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The map callback's inputs as the browser then sends them (each select's value)."""
    values = {
        "hotspots-type.value": opened["hotspots-type"]["value"],
        "hotspots-department.value": opened["hotspots-department"]["value"],
        "hotspots-dates-start.value": opened["hotspots-dates-start"]["value"],
        "hotspots-dates-end.value": opened["hotspots-dates-end"]["value"],
        "hotspots-resolution.value": opened["hotspots-resolution"]["value"],
        "hotspots-mode.value": opened["hotspots-mode"]["value"],
        "hotspots-step.value": opened["hotspots-step"]["value"],
        "hotspots-view.value": opened["hotspots-view"]["value"],
    }
    values.update({f"hotspots-{k}.value": v for k, v in changes.items()})
    return values


def _expected(read_model: ReadModel, link: str) -> hs.HotspotParams:
    """The view ``link`` opens, from the URL's own parser and the data's options: a type the
    data has not is the default type, a department it has not is none, no dates are the
    default span ending on the data's last day."""
    from datetime import timedelta

    from callbacks.hotspots import DEFAULT_SPAN_DAYS, default_type

    opts = read_model.options()
    asked = hs.HotspotParams.from_query(link)
    assert hs.DEFAULT_TYPE in opts["types"]
    expected = asked.with_(
        type=asked.type if asked.type in opts["types"] else default_type(opts["types"]),
        department=asked.department if asked.department in opts["departments"] else None,
    )
    if asked.start is None and asked.end is None:
        hi, lo = opts["max_date"], opts["min_date"]
        expected = expected.with_(start=max(lo, hi - timedelta(days=DEFAULT_SPAN_DAYS - 1)), end=hi)
    return expected


def _search(body: dict[str, Any]) -> str:
    return body["hotspots-url"]["search"]


@pytest.mark.parametrize("link", OPENING_LINKS)
def test_a_link_opens_the_type_and_department_selects_and_round_trips(
    staff, read_model, link: str
) -> None:
    """The link -> the type and department selects' options and values (the page's first
    callback) -> the address the controls write: the link itself when every value is known
    (character for character), else the view it opens; never an empty ``department=``."""
    from layouts.hotspots import ALL_DEPARTMENTS

    app, client = staff
    opened = _opened(client, app, link)
    kind, department = opened["hotspots-type"], opened["hotspots-department"]
    opts = read_model.options()
    assert [o["value"] for o in kind["options"]] == opts["types"]
    assert kind["value"] in opts["types"]  # the select shows the type the page uses
    assert department["options"][0] == {"label": ALL_DEPARTMENTS, "value": ""}
    assert [o["value"] for o in department["options"][1:]] == opts["departments"]
    assert department["placeholder"] == ALL_DEPARTMENTS
    assert department["value"] in [o["value"] for o in department["options"]]
    expected = _expected(read_model, link)
    assert kind["value"] == expected.type
    assert department["value"] == (expected.department or "")
    search = _search(_answer(client, app, "hotspots-map.figure", _controls(opened)))
    assert search == expected.to_query()
    if link in LINKS or "department=PWDx" in link and link.startswith("?type="):
        assert search == link
    assert "department=" not in search or expected.department
    assert hs.HotspotParams.from_query(search) == expected


def test_choosing_all_departments_writes_no_department(staff) -> None:
    """From a department to "" (the first option) and back: the address loses and regains
    ``department=``, with no empty one between."""
    app, client = staff
    link = LINKS[-1]  # ...&department=PWDx&...
    opened = _opened(client, app, link)
    assert opened["hotspots-department"]["value"] == "PWDx"
    every = _search(_answer(client, app, "hotspots-map.figure", _controls(opened, department="")))
    assert every == hs.HotspotParams.from_query(link).with_(department=None).to_query()
    assert "department" not in every
    back = _answer(client, app, "hotspots-map.figure", _controls(opened, department="PWDx"))
    assert _search(back) == link
    # A different type chosen: the select's text, in the address.
    pothole = _controls(opened, type="Request for Pothole Repair", department="")
    assert _search(_answer(client, app, "hotspots-map.figure", pothole)) == (
        hs.HotspotParams.from_query(link)
        .with_(type="Request for Pothole Repair", department=None)
        .to_query()
    )


@pytest.fixture
def works(demo, reset_dash_registries):
    """The staff app and a client signed in as a PWDx department user."""
    settings, _ = demo
    app = create_app(settings)
    client = app.server.test_client()
    client.get("/healthz")
    email = "selects-works@city.test"
    password = make_user(settings, email, role="department", departments=("PWDx",))
    assert client_sign_in(client, email, password).status_code == 302
    return app, client


def _located(body: dict[str, Any]) -> int:
    """How many requests the summary says were mapped (0 when nothing matched)."""
    import re

    text = json.dumps(body["hotspots-summary"]["children"])
    found = re.search(r"from ([\d,]+) requests with a location", text)
    return int(found.group(1).replace(",", "")) if found else 0


def test_a_department_users_select_and_scope(works, staff) -> None:
    """A PWDx user's Department select: "All my departments (PWDx)" (value "") then PWDx, as
    the callback's placeholder says; "" counts PWDx's requests only (as choosing PWDx does),
    and another department's code, crafted or from a link, gives none of its requests."""
    from layouts.hotspots import department_placeholder

    app, client = works
    link = f"?type={SHARED_TYPE.replace(' ', '+')}&from=2011-07-01&to=2011-12-31"
    opened = _opened(client, app, link)
    department = opened["hotspots-department"]
    words = department_placeholder(("PWDx",))
    assert words == "All my departments (PWDx)"
    assert department["placeholder"] == words
    assert department["options"][0] == {"label": words, "value": ""}
    assert [o["value"] for o in department["options"]] == ["", "PWDx"]
    assert department["value"] == ""

    def located(value: Any) -> int:
        return _located(_answer(client, app, "hotspots-map.figure", _controls(opened, **value)))

    mine = located({"department": ""})
    assert mine > 0 and mine == located({"department": "PWDx"})
    exec_app, exec_client = staff
    everyone = _opened(exec_client, exec_app, link)

    def exec_located(value: Any) -> int:
        body = _answer(exec_client, exec_app, "hotspots-map.figure", _controls(everyone, **value))
        return _located(body)

    assert exec_located({"department": ""}) > mine  # other departments' requests exist
    assert exec_located({"department": "PWDx"}) == mine
    others = [d for d in read_model_departments(exec_client, exec_app) if d != "PWDx"]
    theirs = [d for d in others if exec_located({"department": d}) > 0]
    assert theirs, others
    for crafted in (*theirs, 5, "  "):
        assert located({"department": crafted}) == (mine if crafted == "  " else 0), crafted
    # From a link: not applied (the notice says so), the select on "" and PWDx's counts.
    opened = _opened(client, app, link + f"&department={theirs[0]}")
    assert opened["hotspots-department"]["value"] == ""
    assert "not one of the departments you can see" in json.dumps(
        opened["hotspots-link-notice"]["children"]
    )
    search = _search(_answer(client, app, "hotspots-map.figure", _controls(opened)))
    assert search == link


def read_model_departments(client, app) -> list[str]:
    """The departments the signed-in user's Department select offers."""
    opened = _opened(client, app, "")
    return [o["value"] for o in opened["hotspots-department"]["options"] if o["value"]]


def test_values_no_select_can_hold_are_refused_for_type_and_department(staff) -> None:
    app, client = staff
    key, spec = _key(app, "hotspots-map.figure")
    opened = _opened(client, app, LINKS[0])
    for id_ in OTHER_SELECTS:
        for bad in ({"a": 1}, ["PWDx"], True, 2.5):
            body = payload(key, spec, {**_controls(opened), f"{id_}.value": bad})
            response = client.post("/_dash-update-component", json=body)
            assert response.status_code == 400, (id_, bad)
        # A whole number a select may send: never a failure.
        body = payload(key, spec, {**_controls(opened), f"{id_}.value": 5})
        assert client.post("/_dash-update-component", json=body).status_code == 200, id_
