"""Callback requests no browser sends are refused with a 400 and a JSON reason, on the staff app
and the public portal, before they reach Dash or a callback (they used to end in 500s, each an
error with a traceback in the server's log). Real app, real store, Flask test client."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from dashboard.app_factory import callback_body_problem, create_app
from tests.support.signin import client_sign_in, make_user
from tests.test_auth import payload

STAFF = "/_dash-update-component"
PUBLIC = "/public/_dash-update-component"


@pytest.fixture
def app(demo, reset_dash_registries):
    app = create_app(demo[0])
    client = app.server.test_client()
    client.get("/healthz")
    client.get("/public/")  # both Dash apps finish their set-up
    return app


@pytest.fixture
def staff(app, demo):
    email = "bodies@city.test"
    password = make_user(demo[0], email, role="executive")
    client = app.server.test_client()
    assert client_sign_in(client, email, password).status_code == 302
    return client


def _server_callbacks(dash_app) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in dash_app.callback_map.items() if v.get("callback") is not None]


def _crafted(key: str, spec: dict[str, Any]) -> list[Any]:
    """Bodies that name a real callback but differ from what the renderer sends."""
    good = payload(key, spec)
    bodies: list[Any] = [
        [],
        "text",
        {**good, "output": 5},
        {**good, "output": key + "x"},
        {**good, "inputs": "x"},
        {**good, "inputs": good["inputs"] + [{"id": "x", "property": "value"}]},
        {**good, "state": {"id": "x"}},
        {**good, "outputs": "x"},
        {**good, "changedPropIds": [1]},
    ]
    if good["inputs"]:
        bodies.append({**good, "inputs": good["inputs"][1:]})
        first = dict(good["inputs"][0])
        if not isinstance(spec["inputs"][0]["id"], dict):
            bodies.append({**good, "inputs": [{**first, "id": "elsewhere"}, *good["inputs"][1:]]})
        bodies.append({**good, "inputs": [{**first, "property": "nope"}, *good["inputs"][1:]]})
        bodies.append({**good, "inputs": [7, *good["inputs"][1:]]})
    return bodies


def test_every_callback_refuses_crafted_bodies(app, staff, caplog) -> None:
    public_app = app.server.extensions["stat311_public_app"]
    anonymous = app.server.test_client()
    checked = 0
    with caplog.at_level(logging.ERROR):
        for path, dash_app, client in ((STAFF, app, staff), (PUBLIC, public_app, anonymous)):
            callbacks = _server_callbacks(dash_app)
            assert len(callbacks) >= 4, path
            for key, spec in callbacks:
                for body in _crafted(key, spec):
                    response = client.post(path, json=body)
                    assert response.status_code == 400, (path, key, body)
                    assert "error" in json.loads(response.data), (path, key, body)
                    checked += 1
    assert checked > 100
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_bodies_as_the_renderer_sends_them_still_work(app, staff) -> None:
    """The check must not refuse real requests: one per app, with the values a browser sends."""
    public_app = app.server.extensions["stat311_public_app"]
    key, spec = next((k, v) for k, v in public_app.callback_map.items() if "public-map-graph" in k)
    values = {
        "public-map-type.value": None,
        "public-map-days.value": 30,
        "public-map-view.value": "area",
        "public-url.search": "",
        "public-url.pathname": "/public/map",
    }
    response = app.server.test_client().post(PUBLIC, json=payload(key, spec, values))
    assert response.status_code == 200
    assert "public-map-graph" in json.loads(response.data)["response"]
    key, spec = next((k, v) for k, v in app.callback_map.items() if "requests-chart" in k)
    body = payload(key, spec, {"requests-period.value": "month"})
    response = staff.post(STAFF, json=body)
    assert response.status_code == 200
    assert json.loads(response.data)["response"]["requests-chart"]["figure"]["data"]


def test_anonymous_staff_callbacks_are_still_forbidden_first(app) -> None:
    """The sign-in check runs before the body check: no reasons for anonymous users."""
    response = app.server.test_client().post(STAFF, json={"output": "x"})
    assert response.status_code == 403


def test_the_check_as_a_plain_function() -> None:
    spec = {
        "plain.value": {"inputs": [{"id": "a", "property": "value"}], "state": []},
        "pattern.value": {
            "inputs": [{"id": '{"index":["ALL"],"type":"row"}', "property": "n_clicks"}],
            "state": [{"id": "b", "property": "data"}],
        },
    }
    ok_plain = {"output": "plain.value", "inputs": [{"id": "a", "property": "value"}]}
    assert callback_body_problem(ok_plain, spec) is None
    ok_pattern = {
        "output": "pattern.value",
        "outputs": {"id": "pattern", "property": "value"},
        "inputs": [[{"id": {"index": 1, "type": "row"}, "property": "n_clicks", "value": 2}]],
        "state": [{"id": "b", "property": "data", "value": None}],
        "changedPropIds": ['{"index":1,"type":"row"}.n_clicks'],
    }
    assert callback_body_problem(ok_pattern, spec) is None
    assert callback_body_problem({**ok_pattern, "state": []}, spec) == (
        "the states are not the callback's"
    )
    wrong_property = [[{"id": {"index": 1, "type": "row"}, "property": "value"}]]
    assert callback_body_problem({**ok_pattern, "inputs": wrong_property}, spec) == (
        "the inputs are not the callback's"
    )
    assert callback_body_problem({**ok_plain, "output": "other.value"}, spec) == (
        "no such callback"
    )
    assert callback_body_problem(None, spec) == "the body is not a callback request"


def test_values_no_control_can_hold_are_refused(app, staff, caplog) -> None:
    """A body of the right shape whose values no control can hold (an object for an address's
    ``search`` or a page's state, a list for a date box, a nested list for a dropdown) is refused
    before the callback, which failed on them with a 500."""
    from dashboard.app_factory import _types_of

    public_app = app.server.extensions["stat311_public_app"]
    anonymous = app.server.test_client()
    refused = 0
    with caplog.at_level(logging.ERROR):
        for path, dash_app, client in ((STAFF, app, staff), (PUBLIC, public_app, anonymous)):
            types = _types_of(dash_app)
            for key, spec in _server_callbacks(dash_app):
                for dep in spec["inputs"] + spec.get("state", []):
                    kind = types.get(str(dep["id"]))
                    if kind not in {
                        "Location",
                        "TextStore",
                        "Input",
                        "Dropdown",
                        "Select",
                    }:
                        continue
                    extra = {"Dropdown": (True, 5), "Select": (True, 2.5, [1])}.get(kind, ())
                    for bad in ({"a": 1}, [[1, 2]], *extra):
                        name = f"{dep['id']}.{dep['property']}"
                        response = client.post(path, json=payload(key, spec, {name: bad}))
                        if (kind, dep["property"]) in {
                            ("Location", "search"),
                            ("Location", "pathname"),
                            ("TextStore", "data"),
                            ("Input", "value"),
                            ("Dropdown", "value"),
                            ("Select", "value"),
                        }:
                            assert response.status_code == 400, (path, key, name, bad)
                            assert "cannot hold that value" in json.loads(response.data)["error"]
                            refused += 1
    assert refused > 40
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_over_the_limit_is_refused_unread(app) -> None:
    from dashboard.app_factory import MAX_REQUEST_BYTES

    public_app = app.server.extensions["stat311_public_app"]
    key, spec = next((k, v) for k, v in public_app.callback_map.items() if "public-map-graph" in k)
    body = payload(key, spec, {"public-map-type.value": "x" * (MAX_REQUEST_BYTES + 1)})
    response = app.server.test_client().post(PUBLIC, json=body)
    assert response.status_code == 413
    small = payload(key, spec, {"public-map-type.value": "x" * 1000, "public-map-days.value": 30})
    assert app.server.test_client().post(PUBLIC, json=small).status_code == 200


def test_the_pages_router_without_a_path_is_refused(app, staff, caplog) -> None:
    """Dash Pages' router joined a missing path with the app's prefix and failed with a 500
    (``TypeError``); a browser always sends the address's path, so a body without one is
    refused with a 400, and the same body with a path is still served."""
    key, spec = next((k, v) for k, v in app.callback_map.items() if "_pages_content" in k)
    without = payload(key, spec, {"_pages_location.search": "?x=" + "y" * 100})
    with caplog.at_level(logging.ERROR):
        response = staff.post(STAFF, json=without)
    assert response.status_code == 400
    assert json.loads(response.data)["error"] == "_pages_location.pathname must be text"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with_path = payload(
        key, spec, {"_pages_location.search": "", "_pages_location.pathname": "/requests"}
    )
    response = staff.post(STAFF, json=with_path)
    assert response.status_code == 200
    assert "_pages_content" in json.loads(response.data)["response"]
