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


# -- static files are compressed once per worker ---------------------------------------------------
PLOTLY = "/_dash-component-suites/plotly/package_data/plotly.min.js"


def test_a_static_file_is_compressed_once_and_served_the_same(demo) -> None:
    """plotly.js (4.7 MB) was gzipped again for every browser: now once per worker. The cached
    answer is the same bytes, decompresses to the file, and keeps its ETag and length."""
    clear_dash_registries()
    app = create_app(replace(demo[0], rate_limit="1000000 per minute"))
    try:
        cache = app.server.extensions["stat311_static_gzip"]
        client = app.server.test_client()
        plain = client.get(PLOTLY)
        first = client.get(PLOTLY, headers=GZIP)
        assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(first.get_data()) == plain.get_data()
        assert len(cache) == 1
        again = client.get(PLOTLY, headers=GZIP)
        assert again.get_data() == first.get_data()
        assert again.headers["Content-Length"] == str(len(first.get_data()))
        assert again.headers.get("ETag") == first.headers.get("ETag")
        # The same file under the public app's prefix, and the scripts a page names.
        public = client.get("/public" + PLOTLY, headers=GZIP)
        assert gzip.decompress(public.get_data()) == plain.get_data()
        scripts = _suite_scripts(client.get("/public/").get_data(True))
        assert len(scripts) >= 5, scripts
        for path in scripts:
            packed = client.get(path, headers=GZIP)
            if packed.headers.get("Content-Encoding") == "gzip":  # 1 KB or more
                assert gzip.decompress(packed.get_data()) == client.get(path).get_data()
        assert 2 < len(cache) <= 2 + len(scripts)
        assert all("_dash-component-suites/" in key for key in cache._items)
    finally:
        clear_dash_registries()


def test_dynamic_answers_are_never_kept(app, demo) -> None:
    """A callback's, a layout's or the API's answer differs by user and question: none is
    kept, however often it is asked."""
    cache = app.server.extensions["stat311_static_gzip"]
    before = len(cache)
    client = app.server.test_client()
    for path in (
        "/open311/v2/services.json",
        "/open311/v2/requests.json?start_date=2011-09-01T00:00:00Z&end_date=2011-09-08T00:00:00Z",
        "/public/_dash-layout",
        "/public/_dash-dependencies",
    ):
        for _ in range(2):
            answer = client.get(path, headers=GZIP)
            assert answer.headers["Content-Encoding"] == "gzip", path
    assert len(cache) == before
    assert not [k for k in cache._items if "open311" in k or "_dash-layout" in k]


def test_static_cache_key_and_size_bound() -> None:
    from flask import Flask

    from dashboard.app_factory import StaticGzipCache, static_cache_key

    flask_app = Flask(__name__)
    cases = {
        ("GET", "/assets/stat311.css?m=1.5"): "",  # sent as a stream: never cached
        ("GET", "/public/_dash-component-suites/dash/x.js?v=1"): (
            "/public/_dash-component-suites/dash/x.js?v=1"
        ),
        ("GET", "/_dash-layout"): "",
        ("POST", "/_dash-update-component"): "",
        ("GET", "/open311/v2/requests.json?x=assets/"): "",
    }
    for (method, path), expected in cases.items():
        with flask_app.test_request_context(path, method=method):
            from flask import request

            assert static_cache_key(request) == expected, path
    cache = StaticGzipCache(max_bytes=10)
    cache.set("gzip;", b"never")  # an empty key: not a static file
    assert cache.get("gzip;") is None and len(cache) == 0
    cache.set("gzip;/_dash-component-suites/a.js?", b"123456")
    cache.set("gzip;/_dash-component-suites/b.js?", b"123456")  # over the bound: not kept
    assert cache.get("gzip;/_dash-component-suites/a.js?") == b"123456"
    assert cache.get("gzip;/_dash-component-suites/b.js?") is None and len(cache) == 1


def _suite_scripts(page: str) -> list[str]:
    import re

    return re.findall(r'src="([^"]*/_dash-component-suites/[^"]+)"', page)
