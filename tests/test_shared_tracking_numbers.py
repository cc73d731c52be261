"""Two of a city's systems can give the same tracking number to different requests (a CRM
export and an Open311 server, both loaded): the API's ``requests/{id}`` lists every public
case with that number, and the portal shows each, instead of whichever was loaded first. A
private case with the number stays hidden, as ever. Real store, real loads, real app."""

from __future__ import annotations

import json

import pytest

from callbacks.public import route
from dashboard.app_factory import create_app
from dashboard.public import PublicConfig, PublicData
from dashboard.sla import load_policy
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.components import walk
from tests.support.exports import write_boston_export

SHARED = "7001"


@pytest.fixture
def shared(tmp_path, reset_dash_registries):
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    crm = write_boston_export(
        tmp_path / "crm.csv",
        [
            {"case_enquiry_id": SHARED, "type": "Street Light Outages", "case_title": "Light out"},
            {"case_enquiry_id": "7002", "type": "Graffiti Removal", "case_title": "Tag on wall"},
        ],
    )
    app_export = write_boston_export(
        tmp_path / "app.csv",
        [
            {
                "case_enquiry_id": SHARED,
                "type": "Request for Pothole Repair",
                "case_title": "Deep pothole",
                "open_dt": "2011-09-03 08:00:00",
            }
        ],
    )
    load_file(crm, store=store, settings=settings, source="crm", progress=False)
    load_file(app_export, store=store, settings=settings, source="app", progress=False)
    return settings, store


def test_the_api_lists_every_case_with_the_number(shared) -> None:
    settings, store = shared
    # Independently: the store holds two cases with this number, one per source.
    with store.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(
            text("SELECT source, service_name FROM cases WHERE request_id = :id ORDER BY id"),
            {"id": SHARED},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("crm", "Street Light Outages"),
        ("app", "Request for Pothole Repair"),
    ]
    client = create_app(settings).server.test_client()
    listed = json.loads(client.get(f"/open311/v2/requests/{SHARED}.json").data)
    assert [r["service_name"] for r in listed] == [name for _, name in rows]
    assert {r["service_request_id"] for r in listed} == {SHARED}
    single = json.loads(client.get("/open311/v2/requests/7002.json").data)
    assert [r["service_name"] for r in single] == ["Graffiti Removal"]
    assert client.get("/open311/v2/requests/7003.json").status_code == 404


def test_the_portal_shows_each_case_and_says_why(shared) -> None:
    settings, store = shared
    data = PublicData(
        settings=settings,
        store=store,
        policy=load_policy(settings.sla_policy),
        config=PublicConfig.from_settings(settings),
    )
    content, title = route(data, f"/public/requests/{SHARED}")
    text = json.dumps(content, default=lambda c: c.to_plotly_json())
    assert "2 requests have this tracking number" in text
    assert "Street Light Outages" in text and "Request for Pothole Repair" in text
    cards = [c for c in walk(content) if type(c).__name__ == "Card"]
    assert len(cards) == 2
    assert title.startswith(f"Request {SHARED}")
    content, _ = route(data, "/public/requests/7002")
    text = json.dumps(content, default=lambda c: c.to_plotly_json())
    assert "tracking number (they come" not in text and "Graffiti Removal" in text
    assert len([c for c in walk(content) if type(c).__name__ == "Card"]) == 1
