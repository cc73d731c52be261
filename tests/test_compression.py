"""Responses are gzipped for clients that accept it: JSON (Dash callbacks and layouts, Open311),
XML and the assets; HTML pages are not (BREACH: the sign-in form carries a CSRF token). The
Flask test client sends what a browser sends; the body is decompressed here with ``gzip``."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest

from dashboard.app_factory import create_app
from tests.support.signin import client_sign_in, make_user
from tests.test_open311 import clear_dash_registries

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture(scope="module")
def app(demo):
    clear_dash_registries()
    app = create_app(replace(demo[0], rate_limit="1000000 per minute"))
    app.server.test_client().get("/healthz")
    yield app
    clear_dash_registries()


def _both(client, path: str) -> tuple:
    plain = client.get(path)
    packed = client.get(path, headers=GZIP)
    return plain, packed


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/services.json",
        "/open311/v2/requests.json?start_date=2011-09-01T00:00:00Z&end_date=2011-09-08T00:00:00Z",
        "/open311/v2/services.xml",
        "/public/_dash-layout",
    ],
)
def test_json_and_xml_are_gzipped_when_accepted(app, path: str) -> None:
    client = app.server.test_client()
    plain, packed = _both(client, path)
    assert plain.status_code == packed.status_code == 200
    assert plain.headers.get("Content-Encoding") is None
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers.get("Vary", "")
    body = gzip.decompress(packed.get_data())
    assert body == plain.get_data()
    assert len(packed.get_data()) < len(body) / 2


def test_a_callback_answer_is_gzipped(app, demo) -> None:
    """A staff callback (the Requests chart, about 100 KB of JSON on the demo)."""
    settings, _ = demo
    password = make_user(settings, "gzip@team.test", role="executive")
    client = app.server.test_client()
    client_sign_in(client, "gzip@team.test", password)
    client.get("/requests")
    layout = client.get("/_dash-dependencies").get_json()
    (spec,) = [d for d in layout if "requests-chart.figure" in d["output"]]
    values = {"requests-period.value": "day"}
    body = {
        "output": spec["output"],
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1]}
            for o in spec["output"].strip(".").split("...")
        ],
        "inputs": [
            {**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in spec["inputs"]
        ],
        "changedPropIds": ["requests-period.value"],
        "state": [],
    }
    answer = client.post("/_dash-update-component", json=body, headers=GZIP)
    assert answer.status_code == 200, answer.get_data()[:300]
    assert answer.headers["Content-Encoding"] == "gzip"
    data = json.loads(gzip.decompress(answer.get_data()))
    assert "requests-chart" in data["response"]
    assert len(answer.get_data()) * 4 < len(json.dumps(data))


@pytest.mark.parametrize("path", ["/sign-in", "/public/"])
def test_html_pages_are_not_compressed(app, path: str) -> None:
    page = app.server.test_client().get(path, headers=GZIP)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers.get("Content-Encoding") is None
