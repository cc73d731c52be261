"""The public portal's callbacks over the rate limit (``STAT311_RATE_LIMIT``, counted with the
Open311 API). They got flask-limiter's HTML "429 Too Many Requests" page, which the Dash renderer
cannot read; now the same JSON ``errors`` body as the API, with status 429, ``Retry-After`` and
the ``X-RateLimit-*`` headers. The real app on the demo store, a low limit, Flask's test client.

What the page does with it: the Dash 4 renderer (``handleServerside`` in dash-renderer) rejects
every answer but 200 and 204, and shows the error only in the debug tools' error list
(``config.ui``); in production the outputs keep their last values. No renderer hook sees a
failed callback (``request_post`` runs on success only), so the page shows no message."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import pytest

from dashboard.app_factory import create_app
from dashboard.public import CALLBACK_PATH, LIMITED_PREFIXES
from tests.test_auth import payload

API = "/open311/v2"
LIMIT = "3 per minute"
MAP_VALUES = {
    "public-map-type.value": None,
    "public-map-days.value": 30,
    "public-map-view.value": "area",
    "public-url.search": "",
    "public-url.pathname": "/public/map",
}


@pytest.fixture
def app(demo, reset_dash_registries):
    app = create_app(replace(demo[0], rate_limit=LIMIT))
    app.server.test_client().get("/healthz")  # Dash finishes its setup
    return app


def _map_body(app) -> dict[str, Any]:
    """The body the renderer sends for the public map (as in test_callback_bodies)."""
    public_app = app.server.extensions["stat311_public_app"]
    key, spec = next((k, v) for k, v in public_app.callback_map.items() if "public-map-graph" in k)
    return payload(key, spec, MAP_VALUES)


def _assert_json_429(response) -> list[dict[str, Any]]:
    assert response.status_code == 429
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    errors = json.loads(response.get_data(as_text=True))
    assert errors == [
        {
            "code": 429,
            "description": "Too many requests: the limit is 3 per 1 minute. Try again later.",
        }
    ]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert response.headers["Cache-Control"] == "no-store"
    return errors


def test_the_callback_endpoint_is_limited() -> None:
    assert CALLBACK_PATH == "/public/_dash-update-component"
    assert CALLBACK_PATH in LIMITED_PREFIXES


def test_a_callback_over_the_limit_gets_the_json_errors_body(app) -> None:
    client = app.server.test_client()
    body = _map_body(app)
    for remaining in ("2", "1", "0"):
        answer = client.post(CALLBACK_PATH, json=body)
        assert answer.status_code == 200
        assert "public-map-graph" in json.loads(answer.data)["response"]
        assert answer.headers["X-RateLimit-Remaining"] == remaining
        assert "Retry-After" not in answer.headers
    limited = client.post(CALLBACK_PATH, json=body)
    _assert_json_429(limited)
    assert "<html" not in limited.get_data(as_text=True).lower()
    # The same body as the API's over the limit (one shape for everything that is counted).
    api = client.get(f"{API}/services.json")
    assert api.status_code == 429
    assert json.loads(limited.data) == api.get_json()
    # The API keeps its own answers: XML for .xml, with CORS.
    xml = client.get(f"{API}/services.xml")
    assert xml.status_code == 429 and ET.fromstring(xml.data).find("error/code").text == "429"
    assert xml.headers["Access-Control-Allow-Origin"] == "*"
    # Another client address has its own count; pages are not counted.
    other = client.post(CALLBACK_PATH, json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200
    assert client.get("/public/map").status_code == 200


def test_the_api_and_the_callbacks_share_one_count(app) -> None:
    client = app.server.test_client()
    for _ in range(3):
        assert client.get(f"{API}/services.json").status_code == 200
    _assert_json_429(client.post(CALLBACK_PATH, json=_map_body(app)))


def test_a_malformed_callback_over_the_limit_is_still_json(app) -> None:
    """Whatever the body, the answer over the limit is one the renderer can parse."""
    client = app.server.test_client()
    for _ in range(3):
        assert client.get(f"{API}/services.json").status_code == 200
    answer = client.post(CALLBACK_PATH, data="not json", content_type="text/plain")
    assert answer.status_code in (400, 429)
    assert answer.mimetype == "application/json"
