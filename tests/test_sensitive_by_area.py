"""Sensitive request types are published by area only (no point, no address, no text): on the
New York sample, whose housing complaints (HPD) and complaints about a neighbour are sensitive by
default, checked against the raw export with pandas."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from dashboard.app_factory import create_app
from dashboard.public import SENSITIVE_BY_AREA, PublicConfig
from tests.conftest import NYC_CSV
from tests.support.public import public_data
from tests.test_open311 import clear_dash_registries

API = "/open311/v2"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(NYC_CSV, dtype=str)


@pytest.fixture(scope="module")
def client(nyc):
    clear_dash_registries()
    app = create_app(replace(nyc[0], rate_limit="1000000 per minute"))
    app.server.test_client().get("/healthz")
    yield app.server.test_client()
    clear_dash_registries()


def test_new_york_housing_and_neighbour_complaints_are_sensitive_by_default(raw) -> None:
    config = PublicConfig()
    sensitive = raw[raw["Complaint Type"].map(config.is_sensitive)]
    assert set(sensitive["Agency"]) >= {"HPD", "NYPD", "DHS", "DOHMH"}
    assert (raw[raw["Agency"] == "HPD"]["Complaint Type"].map(config.is_sensitive)).all()
    assert not config.is_sensitive("Illegal Parking") and not config.is_sensitive("Graffiti")
    assert len(sensitive) > 2000  # 2,292 of the sample's 4,999 rows


def test_a_sensitive_case_has_no_point_address_or_text_but_its_area(client, raw) -> None:
    heat = raw[(raw["Complaint Type"] == "HEAT/HOT WATER") & raw["Latitude"].notna()]
    for request_id in heat["Unique Key"].head(5):
        response = client.get(f"{API}/requests/{request_id}.json?extensions=true")
        assert response.status_code == 200
        (item,) = response.get_json()
        assert item["service_name"] == "HEAT/HOT WATER"
        assert item["lat"] is None and item["long"] is None
        assert item["address"] is None and item["description"] is None
        assert item["extended_attributes"]["location_precision"] == "none"
        assert item["extended_attributes"]["areas"]  # the community district is published


def test_no_box_selects_a_sensitive_case(client, raw) -> None:
    """A box round the whole city lists the located public cases of every type but the
    sensitive ones (each page of the API, paged through)."""
    config = PublicConfig()
    seen: list[dict] = []
    page = 1
    while True:
        query = f"bbox=-74.3,40.4,-73.6,41.0&page_size=500&page={page}&start_date=2023-02-28T00:00:00-05:00"
        response = client.get(f"{API}/requests.json?{query}")
        assert response.status_code == 200
        items = response.get_json()
        seen += items
        if len(items) < 500:
            break
        page += 1
    assert seen and not [i for i in seen if config.is_sensitive(i["service_name"])]
    names = {i["service_name"] for i in seen}
    assert "Illegal Parking" in names


def test_the_map_counts_sensitive_cases_by_area_only(nyc, raw) -> None:
    config = PublicConfig()
    with public_data(nyc[0]) as data:
        cells = data.map_data(service_name=None, days=365, view="cell")
        heat_cells = data.map_data(service_name="HEAT/HOT WATER", days=365, view="cell")
        heat_points = data.map_data(service_name="HEAT/HOT WATER", days=365, view="points")
        heat_areas = data.map_data(service_name="HEAT/HOT WATER", days=365, view="area")
    assert heat_cells["frame"].empty and heat_points["frame"].empty
    assert SENSITIVE_BY_AREA in heat_cells["note"] and SENSITIVE_BY_AREA in cells["note"]
    loaded = raw[raw["Complaint Type"] == "HEAT/HOT WATER"]
    assert int(heat_areas["frame"]["requests"].sum()) == heat_areas["total"] == len(loaded)
    located = raw[raw["Latitude"].notna() & ~raw["Complaint Type"].map(config.is_sensitive)]
    # Cells hold the located cases of the other types (less the two quarantined rows at most).
    assert 0 <= len(located) - int(cells["frame"]["requests"].sum()) <= 2


@pytest.mark.parametrize("view", ["cell", "points"])
def test_a_sensitive_type_by_cell_or_point_says_to_choose_by_area(nyc, raw, view) -> None:
    """Not "no requests with a location in this period" (there are 748 HEAT/HOT WATER requests,
    all located): the map says they are published by area only, and how to see them."""
    from callbacks.public import map_view

    assert raw[raw["Complaint Type"] == "HEAT/HOT WATER"]["Latitude"].notna().sum() > 700
    with public_data(nyc[0]) as data:
        figure, summary, table = map_view(data, "HEAT/HOT WATER", "365", view)
        other, _, other_table = map_view(data, "Illegal Parking", "365", view)
    said = "HEAT/HOT WATER requests are shown by area only: choose \u201cBy area\u201d under Show"
    text = figure["layout"]["annotations"][0]["text"]
    assert said in text and said in table.children
    assert "No requests with a location" not in text
    assert SENSITIVE_BY_AREA in " ".join(summary)
    # A type that is not sensitive is drawn as before.
    assert other["data"] and "shown by area only" not in str(other_table)
