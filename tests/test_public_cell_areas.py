"""The public map by cell names the area each cell is in: the table under the map has an
"Area (<layer>)" column beside the H3 cell, so that a row says where it is. Expected areas are
found here with shapely over the store's boundaries, one polygon at a time (the app uses
geopandas' spatial index, as loads do)."""

from __future__ import annotations

from typing import Any

import h3
import pytest
from shapely.geometry import Point, shape

from callbacks.public import map_view
from dashboard.public import CELL_OUTSIDE_AREAS
from dashboard.store import Store
from geodata import boundaries
from tests.support.components import table_rows
from tests.support.public import public_data


@pytest.fixture
def data(demo):
    with public_data(demo[0]) as found:
        yield found


def _expected_area(cell: str, polygons: list[tuple[str, Any]]) -> str:
    lat, lon = h3.cell_to_latlng(cell)
    point = Point(round(lon, 6), round(lat, 6))  # the published centre (6 decimals)
    inside = [name for name, polygon in polygons if polygon.covers(point)]
    return inside[0] if inside else CELL_OUTSIDE_AREAS


def test_each_cell_is_named_by_the_area_its_centre_is_in(data) -> None:
    result = data.map_data(service_name=None, days=90, view="cell")
    frame = result["frame"]
    assert result["layer"] == "neighborhood" and len(frame) > 100
    with data.store.connect() as conn:  # in the layer file's order, as loads read them
        areas = [r for r in Store.read_layer_rows(conn) if r["layer"] == "neighborhood"]
    polygons = [(a["name"], shape(a["geometry"])) for a in areas]  # each parsed once
    want = [_expected_area(cell, polygons) for cell in frame["name"]]
    assert frame["area"].tolist() == want
    assert len(set(want) - {CELL_OUTSIDE_AREAS}) >= 10  # cells across the city, not one name


def test_the_table_and_the_hover_say_where_each_cell_is(data) -> None:
    figure, _, table = map_view(data, None, "90", "cell")
    rows = table_rows(table)
    assert rows[0] == ["H3 cell", "Requests", "Still open", "Area (neighborhood)"]
    frame = data.map_data(service_name=None, days=90, view="cell")["frame"]
    shown = rows[1:]
    assert [[r[0], r[3]] for r in shown] == frame[["name", "area"]].head(200).values.tolist()
    (trace,) = [t for t in figure["data"] if t.get("hovertemplate")]
    by_cell = dict(zip(frame["cell"], zip(frame["area"], frame["name"], strict=True), strict=True))
    assert len(trace["locations"]) > 100
    for cell, (label, _) in zip(trace["locations"], trace["customdata"], strict=True):
        area, name = by_cell[cell]
        assert label == f"{area}, cell {name}"


def test_cell_areas_are_looked_up_once_per_snapshot(data, monkeypatch) -> None:
    calls: list[int] = []
    real = boundaries.assign_areas

    def counting(*, lat, lon, layer):
        calls.append(len(lat))
        return real(lat=lat, lon=lon, layer=layer)

    monkeypatch.setattr(boundaries, "assign_areas", counting)
    first = data.map_data(service_name=None, days=30, view="cell")["frame"]
    assert calls == [len(first)]
    data._cache._items = {k: v for k, v in data._cache._items.items() if k[0] != "map"}
    wider = data.map_data(service_name=None, days=90, view="cell")["frame"]
    # only the cells the 30 days did not have were looked up
    assert calls == [len(first), len(set(wider["name"]) - set(first["name"]))]
    again = data._cell_areas([int(c) for c in first["cell"]], "neighborhood")
    assert len(calls) == 2 and [a or CELL_OUTSIDE_AREAS for a in again] == first["area"].tolist()


def test_a_layer_the_store_no_longer_has_names_no_area(data) -> None:
    """A snapshot may name a layer removed from the store since: its cells get no area."""
    frame = data.map_data(service_name=None, days=30, view="cell")["frame"]
    cells = [int(c) for c in frame["cell"]]
    assert data._layer_frame("no-such-layer") is None
    assert data._cell_areas(cells, "no-such-layer") == [None] * len(cells)
    assert data._cell_areas(cells, "neighborhood") != [None] * len(cells)
