"""Review of the Open311 API against GeoReport v2 and the privacy rule: empty and repeated
parameters, house numbers and names in published descriptions, and the errors of other API
versions. On the Boston demo (real data) and on strings built here."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest

from dashboard.app_factory import create_app
from dashboard.redact import NUMBER_MARK, redact, without_house_numbers
from tests.test_open311 import app  # noqa: F401 - the module-scoped app fixture

API = "/open311/v2"
DAY = "start_date=2011-09-01T00:00:00-04:00&end_date=2011-09-02T00:00:00-04:00&page_size=500"


@pytest.fixture(scope="module")
def client(app):  # noqa: F811 - the fixture imported above
    """A client of the module-scoped app of ``tests/test_open311.py`` (same demo, no limit)."""
    return app.server.test_client()


def get(client, path: str, status: int = 200) -> Any:
    """The parsed answer (JSON or XML by the path's extension), after checking the status."""
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
    if path.split("?")[0].endswith(".xml"):
        assert response.mimetype == "text/xml"
        return ET.fromstring(response.data)
    assert response.mimetype == "application/json"
    return response.get_json()


# -- empty and repeated parameters -------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "service_request_id=",
        "service_request_id=,,",
        "service_request_id=%20",
        "service_code=",
        "service_code=,",
        "service_code=%20",
    ],
)
def test_an_empty_id_or_code_list_is_a_400_not_every_request(client, query) -> None:
    body = get(client, f"{API}/requests.json?{query}", status=400)
    assert body[0]["code"] == 400 and query.split("=")[0] in body[0]["description"]
    root = get(client, f"{API}/requests.xml?{query}", status=400)
    assert root.tag == "errors" and root.find("error/code").text == "400"


def test_repeated_list_parameters_are_joined_like_commas(client) -> None:
    ids = ("101000295613", "101000295614")
    repeated = get(
        client, f"{API}/requests.json?service_request_id={ids[0]}&service_request_id={ids[1]}"
    )
    assert sorted(r["service_request_id"] for r in repeated) == sorted(ids)

    day = get(client, f"{API}/requests.json?{DAY}")
    codes = ("Street Light Outages", "Graffiti Removal")
    expected = {r["service_request_id"] for r in day if r["service_code"] in codes}
    assert {r["service_code"] for r in day} >= set(codes)
    query = "&".join(f"service_code={quote(code)}" for code in codes)
    typed = get(client, f"{API}/requests.json?{DAY}&{query}")
    assert {r["service_request_id"] for r in typed} == expected

    both = get(client, f"{API}/requests.json?{DAY}&status=open&status=closed")
    assert {r["service_request_id"] for r in both} == {r["service_request_id"] for r in day}
    closed = get(client, f"{API}/requests.xml?{DAY}&status=closed&status=closed")
    assert {r.find("status").text for r in closed} == {"closed"}
    assert len(closed) == sum(1 for r in day if r["status"] == "closed")


@pytest.mark.parametrize(
    "path",
    [
        "/requests.json?page_size=1&page_size=900",
        "/requests.json?start_date=2011-09-01T00:00:00Z&start_date=yesterday",
        "/requests.xml?bbox=-71.1,42.3,-71.0,42.4&bbox=0,0,1,1",
        "/requests/101000295613.json?extensions=false&extensions=true",
    ],
)
def test_a_single_valued_parameter_given_twice_is_a_400(client, path) -> None:
    body = get(client, API + path, status=400)
    if isinstance(body, list):
        code, description = body[0]["code"], body[0]["description"]
    else:
        code, description = int(body.find("error/code").text), body.find("error/description").text
    assert code == 400 and "give it once" in description


# -- house numbers and names in descriptions ---------------------------------------------------------
def test_without_house_numbers_on_built_text() -> None:
    for text, number in [
        ("Bulk items at 39 Lorraine St, a couch", "39"),
        ("12 Otis Place", "12"),
        ("Knock Down 280 Harrison Ave", "280"),
        ("Mattress in front of 1153-1155 Dorchester Ave", "1153"),
        ("Trash opposite #83", "83"),
        ("Rats behind 221 W. Canton", "221"),
    ]:
        out = without_house_numbers(text)
        assert out is not None and NUMBER_MARK in out and number not in out, (text, out)
    for kept in (
        "Graffiti: Ward 21 2107 Other",
        "Sidewalk Repair - Red Brick - Dist 1 - Beacon Hill",
        "Missed Trash: District 10A",
        "Light out on W 4th St for 5 days",
        "Pothole on Route 28",
    ):
        assert without_house_numbers(kept) == kept
    assert without_house_numbers(None) is None


# Boston 2011 cases whose own text names a house number while their location is published as an
# area (a cell, or none): the type is not exact, or the case has no real location.
AREA_CASES = {
    "101000332812": "12",  # General Lighting Request: "12 Otis Place"
    "101000333548": "280",  # Street Light Knock Downs: "Knock Down 280 Harrison Ave"
    "101000354988": "83",  # Install New Lighting: "Essex St. opposite #83"
    "101000338115": "38",  # Street Light Outages without a location: "in front of 38 W. Milton"
}


def test_descriptions_of_area_located_cases_carry_no_house_number(client, demo) -> None:
    store = demo[1]
    ids = ",".join(AREA_CASES)
    listed = {
        r["service_request_id"]: r
        for r in get(client, f"{API}/requests.json?service_request_id={ids}&extensions=true")
    }
    assert set(listed) == set(AREA_CASES)
    for request_id, number in AREA_CASES.items():
        stored = store.get_case(request_id)["description"]
        assert re.search(rf"(?<!\d){number}(?!\d)", stored), stored  # the source has it
        item = listed[request_id]
        assert item["extended_attributes"]["location_precision"] != "exact"
        assert item["address"] is None or not re.search(r"(?<!\d)" + number, item["address"])
        for description in (
            item["description"],
            get(client, f"{API}/requests/{request_id}.json")[0]["description"],
            get(client, f"{API}/requests/{request_id}.xml").find("request/description").text,
        ):
            assert description and not re.search(rf"(?<!\d){number}(?!\d)", description)
            assert NUMBER_MARK in description


def test_an_exact_case_keeps_the_number_its_address_shows(client, demo) -> None:
    request_id = "101000334430"  # Street Light Outages: "Light out at 101 Tremont Street"
    item = get(client, f"{API}/requests/{request_id}.json?extensions=true")[0]
    assert item["extended_attributes"]["location_precision"] == "exact"
    assert item["description"] == redact(demo[1].get_case(request_id)["description"])
    assert "101" in item["description"] and "101" in item["address"]


def test_names_after_printed_for_and_official_titles_are_removed(client, demo) -> None:
    assert "yetman" not in redact("PRINTED:SR/printed for j yetman/6/5/18")
    assert "Walsh" not in redact("Repainting request from State Rep. Marty Walsh")
    assert "Smith" not in redact("Councilor Smith asked for it")
    assert redact("Request for Pothole Repair") == "Request for Pothole Repair"
    for request_id, name in (("101000345199", "yetman"), ("101000297829", "Walsh")):
        assert name in demo[1].get_case(request_id)["description"]  # the real export has it
        for fmt in ("json", "xml"):
            response = client.get(f"{API}/requests/{request_id}.{fmt}")
            assert response.status_code == 200
            assert name.lower() not in response.get_data(as_text=True).lower()


# -- errors of other versions --------------------------------------------------------------------------
def test_other_versions_answer_in_the_format_asked_with_cors(client) -> None:
    xml = client.get("/open311/v3/requests.xml")
    assert xml.status_code == 404 and xml.mimetype == "text/xml"
    assert ET.fromstring(xml.data).find("error/code").text == "404"
    assert xml.headers["Access-Control-Allow-Origin"] == "*"
    as_json = client.get("/open311/v1/services.json")
    assert as_json.status_code == 404 and as_json.get_json()[0]["code"] == 404
    assert as_json.headers["Content-Type"] == "application/json; charset=utf-8"
    assert as_json.headers["Access-Control-Allow-Origin"] == "*"


def test_an_unencoded_plus_in_a_time_zone_is_explained(client) -> None:
    body = get(client, f"{API}/requests.json?start_date=2011-07-01T00:00:00+05:30", status=400)
    assert "%2B" in body[0]["description"]
    plain = get(client, f"{API}/requests.json?start_date=2011-07-01", status=400)
    assert "%2B" not in plain[0]["description"]  # only when a + was meant
    encoded = get(client, f"{API}/requests.json?start_date=2011-07-01T00:00:00%2B05:30&page_size=1")
    assert len(encoded) == 1


# -- the portal shows what the API shows ------------------------------------------------------------
def test_the_portal_lookup_drops_house_numbers_as_the_api_does(client, demo) -> None:
    """The public lookup page reads ``PublicData.lookup``, the same record the API publishes:
    a case published by area has no house number in its description there either."""
    data = client.application.extensions["stat311_public"]
    for request_id, number in AREA_CASES.items():
        record = data.lookup(request_id)
        assert record is not None and record["location_precision"] != "exact"
        assert not re.search(rf"(?<!\d){number}(?!\d)", record["description"])
        assert NUMBER_MARK in record["description"]


def test_the_default_window_ends_at_the_newest_public_request(tmp_path, reset_dash_registries):
    """A private case newer than every public one does not move the API's default 90 days."""
    from sqlalchemy import update

    from dashboard import schema
    from dashboard.store import Store
    from tests.test_privacy_crawl import PRIVATE_ID, build_pii_store

    settings = build_pii_store(tmp_path)
    store = Store(settings.database_url)
    cases = schema.cases.c
    with store.transaction() as conn:
        conn.execute(
            update(schema.cases)
            .where(cases.request_id == PRIVATE_ID)
            .values(requested_at=datetime(2030, 1, 1, tzinfo=UTC))
        )
    frame = pd.read_sql("SELECT requested_at, is_private FROM cases", store.engine)
    store.dispose()
    newest_public = pd.to_datetime(frame.loc[~frame["is_private"].astype(bool), "requested_at"])
    expected = newest_public.max().tz_localize("UTC")
    assert pd.to_datetime(frame["requested_at"]).max().year == 2030  # the private one is newest
    data = create_app(settings).server.extensions["stat311_public"]
    assert pd.Timestamp(data.latest_requested()) == expected


@pytest.mark.parametrize(
    ("request_id", "words"),
    [("101000342138", ("Shooting", "Parker")), ("101000342139", ("Stabbed", "Kimball"))],
)
def test_incident_notifications_publish_no_description_or_address(
    client, demo, request_id, words
) -> None:
    """Boston's ``Notification`` type carries incidents passed on to 311 ("Shooting", "Person
    Stabbed (Fatal)") with where they happened: sensitive by default, so the public side gives
    neither its text, its address nor a point (only its area, like other sensitive types)."""
    stored = demo[1].get_case(request_id)
    assert stored["service_name"] == "Notification"
    assert all(w in f"{stored['description']} {stored['address']}" for w in words)
    item = get(client, f"{API}/requests/{request_id}.json?extensions=true")[0]
    assert item["description"] is None and item["address"] is None
    assert item["extended_attributes"]["location_precision"] == "none"
    assert item["lat"] is None and item["long"] is None
    assert item["extended_attributes"]["areas"]  # its neighbourhood is still published
    for fmt in ("json", "xml"):
        text = client.get(f"{API}/requests/{request_id}.{fmt}").get_data(as_text=True)
        assert not any(w.lower() in text.lower() for w in words)
