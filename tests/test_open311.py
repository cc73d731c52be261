"""The Open311 GeoReport v2 API on the Boston demo: spec fields, filters, errors, the rate limit,
and a schemathesis run over the OpenAPI document."""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import inspect as sa_inspect

from dashboard.app_factory import create_app
from dashboard.open311 import REQUEST_FIELDS
from dashboard.public import (
    DEFAULT_LIMIT,
    FEW_DUE,
    PublicConfig,
    cell_centre,
    generalise_address,
)
from dashboard.queries import ReadModel
from dashboard.redact import redact

API = "/open311/v2"


def clear_dash_registries() -> None:
    """What the ``reset_dash_registries`` fixture does, for a module-scoped app."""
    import dash
    from dash._callback import GLOBAL_CALLBACK_LIST, GLOBAL_CALLBACK_MAP

    dash.page_registry.clear()
    GLOBAL_CALLBACK_LIST.clear()
    GLOBAL_CALLBACK_MAP.clear()


@pytest.fixture(scope="module")
def app(demo):
    """One app for the module's read-only tests (with a rate limit they never reach)."""
    clear_dash_registries()
    app = create_app(replace(demo[0], rate_limit="1000000 per minute"))
    app.server.test_client().get("/healthz")  # Dash finishes its setup now
    yield app
    clear_dash_registries()


@pytest.fixture
def client(app):
    return app.server.test_client()


def get_json(client, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    return response.get_json()


def get_xml(client, path: str, status: int = 200) -> ET.Element:
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:500])
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.data)


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def sample_ids(settings) -> dict[str, str]:
    """One demo case of each kind the privacy rules treat differently."""
    model = ReadModel(settings.snapshot_dir)
    exact = sorted(PublicConfig().exact_types)
    kinds = {
        "exact": "service_name = 'Street Light Outages' AND location_quality = 'exact'",
        "policy_due": "sla_due_source = 'policy' AND location_quality = 'exact' "
        "AND service_name = 'Highway Maintenance'",
        "open_generalised": "status = 'open' AND location_quality = 'exact' "
        f"AND NOT list_contains({exact!r}, service_name)",
        "no_location": "location_quality = 'default_geocode'",
        "sensitive": "service_name = 'Unsatisfactory Living Conditions' "
        "AND location_quality = 'exact'",
    }
    out = {}
    for kind, condition in kinds.items():
        frame = model.select(
            "SELECT request_id FROM {cases} WHERE {where} AND "  # noqa: S608 - test constants
            + condition
            + " ORDER BY request_id LIMIT 1"
        )
        out[kind] = str(frame["request_id"].iloc[0])
    return out


# -- the "done means" check ------------------------------------------------------------------------
def test_request_by_id_in_json_and_xml(client, demo) -> None:
    case = demo[1].get_case("101000295613")
    data = get_json(client, f"{API}/requests.json?service_request_id=101000295613")
    assert len(data) == 1 and list(data[0]) == list(REQUEST_FIELDS)
    item = data[0]
    assert item["service_request_id"] == "101000295613"
    assert item["status"] == case["status"] == "closed"
    assert item["service_name"] == case["service_name"] == "Street Light Outages"
    assert item["requested_datetime"] == "2011-07-01T01:32:33-04:00"  # local time with offset
    root = get_xml(client, f"{API}/requests.xml?service_request_id=101000295613")
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert [child.tag for child in request] == list(REQUEST_FIELDS)
    for child in request:
        expected = item[child.tag]
        assert (child.text or "") == ("" if expected is None else str(expected)), child.tag
    # The single-request endpoint answers the same.
    assert get_json(client, f"{API}/requests/101000295613.json") == data
    one = get_xml(client, f"{API}/requests/101000295613.xml")
    assert ET.tostring(one) == ET.tostring(root)


def test_responses_match_the_stored_cases_field_by_field(client, demo) -> None:
    settings, store = demo
    ids = sample_ids(settings)
    config = PublicConfig()
    due = ReadModel(settings.snapshot_dir).select(
        "SELECT request_id, sla_due_at FROM {cases} WHERE {where} AND list_contains(?, request_id)",
        after=[list(ids.values())],
    )
    sla_due = {r.request_id: r.sla_due_at for r in due.itertuples()}
    query = ",".join(ids.values())
    listed = {
        r["service_request_id"]: r
        for r in get_json(client, f"{API}/requests.json?service_request_id={query}")
    }
    assert set(listed) == set(ids.values())
    for kind, request_id in ids.items():
        case = store.get_case(request_id)
        item = listed[request_id]
        name = case["service_name"]
        assert item["status"] == case["status"], kind
        assert item["service_name"] == name and item["service_code"] == case["service_code"]
        assert item["agency_responsible"] == case["department"]
        assert parse_time(item["requested_datetime"]) == utc(case["requested_at"])
        updated = utc(case["updated_at"]) or utc(case["closed_at"]) or utc(case["requested_at"])
        assert parse_time(item["updated_datetime"]) == updated
        expected = sla_due[request_id]
        if expected is None or expected != expected:  # NaT
            assert item["expected_datetime"] is None
        else:
            assert parse_time(item["expected_datetime"]) == expected.to_pydatetime().replace(
                microsecond=0
            ), kind
        assert item["zipcode"] == (case["zipcode"] or None)
        assert item["address_id"] is None and item["media_url"] is None
        if kind == "sensitive":
            assert item["description"] is None and item["address"] is None
        else:
            assert item["description"] == (redact(case["description"]) or None)
        if kind == "exact":
            assert (item["lat"], item["long"]) == (case["lat"], case["lon"])
            assert item["address"] == redact(case["address"])
        elif kind in {"no_location", "sensitive"}:  # sensitive types: by area only
            assert item["lat"] is None and item["long"] is None
        else:
            assert (item["lat"], item["long"]) == cell_centre(case["h3_9"])
            assert _metres(item["lat"], item["long"], case["lat"], case["lon"]) < 250
            assert not config.is_exact(name)
            if kind != "sensitive":
                assert item["address"] == generalise_address(case["address"])
        if case["resolution"] and len(case["resolution"]) > 12:
            assert case["resolution"] not in json.dumps(item)
    assert listed[ids["policy_due"]]["expected_datetime"] is not None  # from the SLA policy


def test_policy_due_times_one_by_one_and_at_once_agree_with_the_snapshot(client, demo) -> None:
    """A few cases without a due time of their source get the policy's one by one
    (``policy_due_one``), more than ``FEW_DUE`` at once with pandas (``policy_due``): both give
    the snapshot's ``sla_due_at``, which the load computed with pandas."""
    settings, _ = demo
    frame = ReadModel(settings.snapshot_dir).select(
        "SELECT request_id, sla_due_at FROM {cases} WHERE {where} "
        "AND sla_due_source = 'policy' AND NOT is_private ORDER BY request_id LIMIT ?",
        after=[FEW_DUE * 2],
    )
    assert len(frame) == FEW_DUE * 2
    expected = {
        r.request_id: r.sla_due_at.to_pydatetime().replace(microsecond=0)
        for r in frame.itertuples()
    }
    ids = list(expected)

    def due(chosen: list[str]) -> dict[str, datetime]:
        query = ",".join(chosen)
        got = get_json(client, f"{API}/requests.json?service_request_id={query}")
        return {r["service_request_id"]: parse_time(r["expected_datetime"]) for r in got}

    at_once = due(ids)
    one_by_one = {k: v for i in range(0, len(ids), 5) for k, v in due(ids[i : i + 5]).items()}
    assert at_once == expected
    assert one_by_one == expected


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat1 - lat2) * 111_195
    dx = (lon1 - lon2) * 111_195 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


# -- services and discovery --------------------------------------------------------------------------
def test_services_discovery_and_definitions(client, demo) -> None:
    settings, _ = demo
    codes = ReadModel(settings.snapshot_dir).select(
        "SELECT DISTINCT service_code FROM {cases} WHERE {where} AND service_code IS NOT NULL"
    )["service_code"]
    services = get_json(client, f"{API}/services.json")
    assert {s["service_code"] for s in services} == set(codes)
    bulk = next(s for s in services if s["service_code"] == "Schedule a Bulk Item Pickup")
    assert bulk["metadata"] is False and bulk["type"] == "realtime"
    assert "2 business days" in bulk["description"]  # the example policy's rule
    root = get_xml(client, f"{API}/services.xml")
    assert len(root.findall("service")) == len(services)
    code = quote("New Sign  Crosswalk or Pavement Marking")
    definition = get_json(client, f"{API}/services/{code}.json")
    assert definition == {
        "service_code": "New Sign  Crosswalk or Pavement Marking",
        "attributes": [],
    }
    assert get_xml(client, f"{API}/services/{code}.xml").tag == "service_definition"
    missing = get_json(client, f"{API}/services/No%20such%20thing.json", status=404)
    assert missing[0]["code"] == 404 and "No such thing" in missing[0]["description"]
    discovery = get_json(client, f"{API}/discovery.json")
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    assert get_xml(client, f"{API}/discovery.xml").find("endpoints/endpoint/formats") is not None
    response = client.get(f"{API}/services.json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# -- list filters ------------------------------------------------------------------------------------
def test_default_window_paging_and_filters(client, demo) -> None:
    newest = get_json(client, f"{API}/requests.json")
    assert len(newest) == DEFAULT_LIMIT
    times = [parse_time(r["requested_datetime"]) for r in newest]
    assert times == sorted(times, reverse=True)
    latest = times[0]
    assert latest.year == 2011 and latest.month == 12  # the newest data, not "now"

    page1 = get_json(client, f"{API}/requests.json?page_size=50")
    page2 = get_json(client, f"{API}/requests.json?page_size=50&page=2")
    assert [r["service_request_id"] for r in page1] == [
        r["service_request_id"] for r in newest[:50]
    ]
    assert [r["service_request_id"] for r in page2] == [
        r["service_request_id"] for r in newest[50:100]
    ]

    window = "start_date=2011-09-01T00:00:00-04:00&end_date=2011-09-02T00:00:00-04:00"
    day = get_json(client, f"{API}/requests.json?{window}&page_size=500")
    assert 100 < len(day) < 500
    for item in day:
        when = parse_time(item["requested_datetime"])
        assert datetime(2011, 9, 1, 4, tzinfo=UTC) <= when <= datetime(2011, 9, 2, 4, tzinfo=UTC)
    open_only = get_json(client, f"{API}/requests.json?{window}&status=open&page_size=500")
    assert open_only and {r["status"] for r in open_only} == {"open"}
    both = get_json(client, f"{API}/requests.json?{window}&status=open,closed&page_size=500")
    assert len(both) == len(day)
    codes = "Street Light Outages,Graffiti Removal"
    typed = get_json(client, f"{API}/requests.json?{window}&service_code={quote(codes)}")
    assert typed and {r["service_code"] for r in typed} <= set(codes.split(","))
    assert len(typed) == sum(1 for r in day if r["service_code"] in codes.split(","))

    since = "updated_after=2011-12-30T00:00:00Z&updated_before=2011-12-31T00:00:00Z"
    updated = get_json(client, f"{API}/requests.json?{since}&page_size=500")
    assert updated
    for item in updated:
        assert (
            datetime(2011, 12, 30, tzinfo=UTC)
            <= parse_time(item["updated_datetime"])
            <= datetime(2011, 12, 31, tzinfo=UTC)
        )

    extended = get_json(client, f"{API}/requests.json?{window}&page_size=20&extensions=true")
    attributes = [r["extended_attributes"] for r in extended]
    assert all(a["department"] and a["channel"] for a in attributes)
    assert any(a["areas"].get("neighborhood") for a in attributes)
    assert {a["location_precision"] for a in attributes} <= {"exact", "cell", "none"}
    assert "extended_attributes" not in day[0]


def test_bbox_selects_by_the_published_point(client) -> None:
    window = "start_date=2011-09-01T00:00:00-04:00&end_date=2011-09-02T00:00:00-04:00"
    day = get_json(client, f"{API}/requests.json?{window}&page_size=500")
    box = (-71.09, 42.30, -71.05, 42.34)
    inside = {
        r["service_request_id"]
        for r in day
        if r["lat"] is not None and box[0] <= r["long"] <= box[2] and box[1] <= r["lat"] <= box[3]
    }
    query = f"{window}&page_size=500&bbox={','.join(map(str, box))}"
    boxed = get_json(client, f"{API}/requests.json?{query}")
    assert inside and {r["service_request_id"] for r in boxed} == inside


def test_a_tiny_box_around_a_true_location_reveals_nothing(client, demo) -> None:
    settings, store = demo
    request_id = sample_ids(settings)["open_generalised"]
    case = store.get_case(request_id)
    published = get_json(client, f"{API}/requests/{request_id}.json")[0]
    assert (published["lat"], published["long"]) != (case["lat"], case["lon"])
    lat, lon = case["lat"], case["lon"]
    tiny = f"{lon - 1e-4},{lat - 1e-4},{lon + 1e-4},{lat + 1e-4}"
    start = utc(case["requested_at"]) - timedelta(hours=1)
    dates = f"start_date={start.isoformat().replace('+00:00', 'Z')}"
    found = get_json(client, f"{API}/requests.json?{dates}&bbox={tiny}&page_size=500")
    assert request_id not in {r["service_request_id"] for r in found}
    lat_c, lon_c = published["lat"], published["long"]
    around = f"{lon_c - 1e-4},{lat_c - 1e-4},{lon_c + 1e-4},{lat_c + 1e-4}"
    found = get_json(client, f"{API}/requests.json?{dates}&bbox={around}&page_size=500")
    assert request_id in {r["service_request_id"] for r in found}


# -- errors ------------------------------------------------------------------------------------------
BAD_QUERIES = [
    ("start_date=yesterday", "start_date"),
    ("start_date=2011-07-01", "time zone"),
    ("end_date=2011-07-01T00:00:00", "time zone"),
    ("start_date=2011-13-01T00:00:00Z", "start_date"),
    ("start_date=2011-07-01T00:00:00%2B25:00", "start_date"),
    ("start_date=0001-01-01T00:00:00%2B01:00", "start_date"),
    ("end_date=0001-01-01T00:30:00Z", "year"),  # its 90-day window once overflowed: a 500
    ("start_date=9999-12-31T23:00:00Z", "year"),
    ("updated_after=1066-10-14T09:00:00Z", "year"),
    ("start_date=2011-07-01T00:00:00Z&end_date=2011-10-01T00:00:00Z", "90 days"),
    ("start_date=2011-08-01T00:00:00Z&end_date=2011-07-01T00:00:00Z", "before"),
    ("updated_after=2011-08-01T00:00:00Z&updated_before=2011-07-01T00:00:00Z", "before"),
    ("page_size=501", "page_size"),
    ("page_size=99999999999999999999", "page_size"),
    ("page_size=0", "page_size"),
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=1.5", "page"),
    ("page=400&page_size=500", "too deep"),
    ("status=pending", "status"),
    ("status=open,closed,open2", "status"),
    ("bbox=1,2,3", "bbox"),
    ("bbox=a,b,c,d", "bbox"),
    ("bbox=10,10,0,0", "bbox"),
    ("bbox=nan,1,2,3", "bbox"),
    ("bbox=-200,0,0,10", "bbox"),
    ("extensions=maybe", "extensions"),
    ("extensions=", "extensions"),
    ("status=", "status"),
    ("status=OPEN", "status"),
    ("start_date=", "start_date"),
    ("start_date=2011-07-01 00:00:00Z", "start_date"),
    ("page=", "page"),
    ("page=%D9%A3", "page"),
    ("bbox=1e1,2,3,4", "bbox"),
    ("start_date=2011-07-01T00:00:00Z';DROP TABLE cases;--", "start_date"),
    ("page_size=1 OR 1=1", "page_size"),
    ("service_request_id=" + ",".join(str(i) for i in range(600)), "at most"),
]


@pytest.mark.parametrize(("query", "words"), BAD_QUERIES)
def test_malformed_parameters_are_a_400_with_the_spec_errors_body(client, query, words) -> None:
    body = get_json(client, f"{API}/requests.json?{query}", status=400)
    assert body[0]["code"] == 400 and words in body[0]["description"]
    root = get_xml(client, f"{API}/requests.xml?{query}", status=400)
    assert root.tag == "errors" and root.find("error/code").text == "400"


def test_sql_looking_values_are_just_values(client, demo) -> None:
    for value in ("1' OR '1'='1", "x; DROP TABLE cases; --", '") UNION SELECT resolution --'):
        assert get_json(client, f"{API}/requests.json?service_code={quote(value)}") == []
        assert get_json(client, f"{API}/requests.json?service_request_id={quote(value)}") == []
        get_json(client, f"{API}/requests/{quote(value, safe='')}.json", status=404)
    assert "cases" in sa_inspect(demo[1].engine).get_table_names()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/requests.csv", 400),
        ("/requests.JSONP", 400),
        ("/requests/101000295613.html", 400),
        ("/requests/101000295613", 400),
        ("/requests/999999999999.json", 404),
        ("/services/x.yaml", 400),
        ("/nothing.json", 404),
        ("/requests.json/extra", 404),
    ],
)
def test_unknown_formats_ids_and_paths(client, path, status) -> None:
    body = get_json(client, API + path, status=status)
    assert body[0]["code"] == status and body[0]["description"]


def test_other_versions_and_methods_answer_with_the_errors_body(client) -> None:
    assert get_json(client, "/open311/v3/requests.json", status=404)[0]["code"] == 404
    response = client.post(f"{API}/requests.json", data="x")
    assert response.status_code == 405 and response.get_json()[0]["code"] == 405
    assert "GET" in response.headers["Allow"]
    xml = client.delete(f"{API}/requests/1.xml")
    assert xml.status_code == 405 and ET.fromstring(xml.data).tag == "errors"


# -- rate limit ----------------------------------------------------------------------------------------
def test_over_the_rate_limit_is_429_with_retry_after(demo, reset_dash_registries, monkeypatch):
    client = create_app(replace(demo[0], rate_limit="3 per minute")).server.test_client()
    for _ in range(3):
        assert client.get(f"{API}/services.json").status_code == 200
    limited = client.get(f"{API}/requests/101000295613.xml")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert ET.fromstring(limited.data).find("error/code").text == "429"
    assert "3 per 1 minute" in ET.fromstring(limited.data).find("error/description").text
    json_limited = client.get(f"{API}/requests.json")
    assert json_limited.status_code == 429 and json_limited.get_json()[0]["code"] == 429
    # The limit is per client address: another client is not affected.
    other = client.get(f"{API}/services.json", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200
    # Pages and static files are not counted.
    for _ in range(5):
        assert client.get("/public/").status_code == 200
        assert client.get("/sign-in").status_code == 200


# -- schemathesis over the OpenAPI document -----------------------------------------------------------
def run_examples(operation, mode, checks, failures: list[str], calls: dict[str, int]) -> None:
    """Up to 40 generated requests for one operation and mode; failures are collected."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        calls["n"] += 1
        try:
            # The WSGI client does not undo gzip, which the server applies when asked
            # (tests/test_compression.py): ask for the plain body, as curl does by default.
            response = case.call_and_validate(
                checks=checks, headers={"Accept-Encoding": "identity"}
            )
        except Exception as exc:  # collect them all, report together
            failures.append(f"{operation.label} [{mode}]: {str(exc)[:800]}")
            return
        if operation.path.endswith(".xml"):
            calls["xml"] += 1
            try:
                ET.fromstring(response.content)
            except ET.ParseError as exc:
                failures.append(f"{operation.label}: XML does not parse: {exc}")

    run()


def test_schemathesis_finds_no_server_errors_or_schema_violations(app) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi import checks as openapi_checks

    document = app.server.test_client().get(f"{API}/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app.server)
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.negative_data_rejection,
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
        openapi_checks.response_schema_conformance,
    ]
    failures: list[str] = []
    calls = {"n": 0, "xml": 0}
    started = time.perf_counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        has_params = bool(operation.definition.raw.get("parameters"))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_params else [])
        for mode in modes:
            run_examples(operation, mode, checks, failures, calls)
    seconds = time.perf_counter() - started
    print(f"schemathesis: {calls['n']} requests ({calls['xml']} XML) in {seconds:.1f} s")
    assert not failures, "\n\n".join(dict.fromkeys(failures))
    assert calls["n"] > 300 and calls["xml"] > 100
