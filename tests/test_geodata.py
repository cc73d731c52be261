"""Tests for geodata: boundary layers, point-in-polygon and H3 cells.

Expected values are computed independently of the code under test: the boroughs' raw
state-plane vertex is parsed from the shapefile bytes and reprojected with pyproj directly,
point-in-polygon is checked against a naive ``covers`` loop, and H3 cells against h3's
default (string) API.
"""

from __future__ import annotations

import json
import logging
import math
import struct
import zipfile
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from geodata.boundaries import (
    assign_areas,
    layer_extent,
    layer_from_geojson,
    layer_to_geojson,
    read_layer,
)
from geodata.errors import BoundaryError
from geodata.h3cells import RESOLUTIONS, cell_boundary, cell_to_latlng, cells, to_str

DATA = Path(__file__).parent / "data"
BOROUGHS_ZIP = DATA / "nybb_16a.zip"
DISTRICTS = DATA / "community_districts.geojson"
BOSTON = Path(__file__).parents[1] / "geodata" / "samples" / "boston_neighborhoods.geojson"

BOROUGHS = {"Manhattan", "Bronx", "Brooklyn", "Queens", "Staten Island"}


@pytest.fixture(scope="module")
def boroughs():
    return read_layer(BOROUGHS_ZIP, name_field="BoroName")


@pytest.fixture(scope="module")
def boston():
    return read_layer(BOSTON, name_field="name")


def _feature_collection(*features: tuple[object, dict | None]) -> dict:
    """A FeatureCollection from (name, geometry mapping) pairs."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": name}, "geometry": geom}
            for name, geom in features
        ],
    }


def _square(x0: float, y0: float, size: float = 1.0) -> dict:
    return shapely.geometry.mapping(box(x0, y0, x0 + size, y0 + size))


def _extract(archive: Path, dest: Path, *, skip_suffix: str | None = None) -> list[Path]:
    out = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if skip_suffix and info.filename.lower().endswith(skip_suffix):
                continue
            target = dest / Path(info.filename).name
            target.write_bytes(zf.read(info))
            out.append(target)
    return out


# ------------------------------------------------------------------------------------------
# read_layer
# ------------------------------------------------------------------------------------------


def test_boroughs_zip_reads_five_named_areas_in_wgs84(boroughs):
    assert list(boroughs.columns) == ["name", "geometry"]
    assert set(boroughs["name"]) == BOROUGHS
    assert len(boroughs) == 5
    assert boroughs.crs.to_epsg() == 4326
    min_lon, min_lat, max_lon, max_lat = layer_extent(boroughs)
    assert -74.3 < min_lon < max_lon < -73.6
    assert 40.4 < min_lat < max_lat < 41.0
    assert boroughs.geometry.is_valid.all()
    assert set(boroughs.geom_type) <= {"Polygon", "MultiPolygon"}


def test_known_points_fall_in_their_boroughs(boroughs):
    got = assign_areas(
        lat=np.array([40.7829, 40.6782]), lon=np.array([-73.9654, -73.9442]), layer=boroughs
    )
    assert got.tolist() == ["Manhattan", "Brooklyn"]


def _first_shp_vertex(archive: Path) -> tuple[float, float]:
    """First point of the first polygon record, parsed from the raw .shp bytes (ESRI spec)."""
    with zipfile.ZipFile(archive) as zf:
        data = zf.read("nybb.shp")
    (shape_type,) = struct.unpack_from("<i", data, 100 + 8)
    assert shape_type == 5  # Polygon
    num_parts, _num_points = struct.unpack_from("<ii", data, 100 + 8 + 4 + 32)
    first_point = 100 + 8 + 4 + 32 + 8 + 4 * num_parts
    return struct.unpack_from("<dd", data, first_point)


def test_reprojection_matches_pyproj_on_a_raw_vertex(boroughs):
    x, y = _first_shp_vertex(BOROUGHS_ZIP)
    assert 9e5 < x < 1.1e6 and 1e5 < y < 3e5  # state-plane feet, not degrees
    to_wgs84 = pyproj.Transformer.from_crs("EPSG:2263", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(x, y)
    # The first record of nybb.shp is Staten Island; the reprojected vertex must be one of its
    # vertices, and of no other borough's.
    matches = set()
    for name, geom in zip(boroughs["name"], boroughs.geometry, strict=True):
        coords = shapely.get_coordinates(geom)
        if np.min(np.hypot(coords[:, 0] - lon, coords[:, 1] - lat)) < 1e-9:
            matches.add(name)
    assert matches == {"Staten Island"}


def test_shapefile_read_directly_equals_zip(tmp_path, boroughs):
    _extract(BOROUGHS_ZIP, tmp_path)
    direct = read_layer(tmp_path / "nybb.shp", name_field="BoroName")
    assert direct["name"].tolist() == boroughs["name"].tolist()
    assert all(
        a.equals_exact(b, 0) for a, b in zip(direct.geometry, boroughs.geometry, strict=True)
    )


def test_community_districts_give_59_areas():
    layer = read_layer(DISTRICTS, name_field="boro_cd")
    assert len(layer) == 59
    assert layer["name"].is_unique
    assert "101" in set(layer["name"])  # integers become plain strings
    assert layer.crs.to_epsg() == 4326


def test_boston_sample_has_26_neighbourhoods_repaired(boston):
    assert len(boston) == 26
    assert boston.geometry.is_valid.all()
    assert {"Roxbury", "Fenway", "Back Bay"} <= set(boston["name"])


def test_zip_holding_geojson(tmp_path):
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__MACOSX/._areas.geojson", b"junk")
        zf.writestr("folder/areas.geojson", json.dumps(_feature_collection(("A", _square(0, 0)))))
    layer = read_layer(archive, name_field="name")
    assert layer["name"].tolist() == ["A"]
    assert layer.geometry.iloc[0].area == pytest.approx(1.0)


def test_geojson_with_named_crs_is_reprojected(tmp_path):
    # Old-style GeoJSON (pre RFC 7946) may carry a CRS; a state-plane square must come out in degrees.
    x, y = 988000.0, 200000.0
    obj = _feature_collection(("Square", shapely.geometry.mapping(box(x, y, x + 1000, y + 1000))))
    obj["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2263"}}
    path = tmp_path / "stateplane.geojson"
    path.write_text(json.dumps(obj))
    layer = read_layer(path, name_field="name")
    lon, lat = pyproj.Transformer.from_crs("EPSG:2263", "EPSG:4326", always_xy=True).transform(x, y)
    coords = shapely.get_coordinates(layer.geometry.iloc[0])
    assert np.min(np.hypot(coords[:, 0] - lon, coords[:, 1] - lat)) < 1e-9


def test_names_are_stripped_dissolved_and_empty_ones_dropped(tmp_path, caplog):
    obj = _feature_collection(
        ("  A ", _square(0, 0)),
        ("B", _square(5, 5)),
        ("A", _square(1, 0)),  # shares a name (after stripping) with the first
        ("   ", _square(9, 9)),
        (None, _square(9, 9)),
    )
    path = tmp_path / "areas.json"
    path.write_text(json.dumps(obj))
    with caplog.at_level(logging.WARNING, logger="geodata.boundaries"):
        layer = read_layer(path, name_field="name")
    assert layer["name"].tolist() == ["A", "B"]
    assert layer.geometry.iloc[0].area == pytest.approx(2.0)
    assert layer.geometry.iloc[0].geom_type == "Polygon"  # two touching squares became one
    assert any(
        "dropped 2 feature(s) with an empty 'name'" in r.getMessage() for r in caplog.records
    )


def test_invalid_geometry_is_repaired(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps(_feature_collection(("Bow", bowtie))))
    layer = read_layer(path, name_field="name")
    geom = layer.geometry.iloc[0]
    assert geom.is_valid
    assert geom.area == pytest.approx(2.0)  # two triangles of area 1
    assert layer.crs.to_epsg() == 4326  # GeoJSON without CRS is WGS84


# ------------------------------------------------------------------------------------------
# read_layer errors
# ------------------------------------------------------------------------------------------


def _single_line(err: pytest.ExceptionInfo[BoundaryError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(BoundaryError, match="not found") as err:
        read_layer(tmp_path / "nope.geojson", name_field="name")
    _single_line(err)


def test_wrong_name_field_lists_available_fields(boroughs):
    with pytest.raises(BoundaryError) as err:
        read_layer(BOROUGHS_ZIP, name_field="borough")
    message = _single_line(err)
    assert "'borough'" in message
    for field in ("BoroCode", "BoroName", "Shape_Leng", "Shape_Area"):
        assert field in message


@pytest.mark.parametrize("filename", ["notes.geojson", "notes.json", "notes.txt", "notes.shp"])
def test_non_geo_text_file(tmp_path, filename):
    path = tmp_path / filename
    path.write_text("date,complaint\n2024-01-01,noise\nthis is not geodata\n")
    if filename.endswith(".shp"):
        (tmp_path / "notes.prj").write_text(pyproj.CRS("EPSG:4326").to_wkt())
    expected = "unsupported" if filename.endswith(".txt") else "cannot read"
    with pytest.raises(BoundaryError, match=expected) as err:
        read_layer(path, name_field="name")
    _single_line(err)


def test_corrupt_zip(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(BoundaryError, match="zip"):
        read_layer(path, name_field="name")


def test_shapefile_zip_without_prj(tmp_path):
    archive = tmp_path / "noprj.zip"
    with zipfile.ZipFile(BOROUGHS_ZIP) as src, zipfile.ZipFile(archive, "w") as dst:
        for info in src.infolist():
            if not info.filename.lower().endswith(".prj"):
                dst.writestr(info.filename, src.read(info))
    with zipfile.ZipFile(archive) as zf:
        assert not any(n.endswith(".prj") for n in zf.namelist())
    with pytest.raises(BoundaryError, match=r"\.prj") as err:
        read_layer(archive, name_field="BoroName")
    _single_line(err)


def test_shapefile_without_prj(tmp_path):
    _extract(BOROUGHS_ZIP, tmp_path, skip_suffix=".prj")
    with pytest.raises(BoundaryError, match=r"\.prj"):
        read_layer(tmp_path / "nybb.shp", name_field="BoroName")


def test_zip_without_layer(tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(BoundaryError, match="no shapefile or GeoJSON"):
        read_layer(archive, name_field="name")


def test_no_features(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(BoundaryError, match="no features"):
        read_layer(path, name_field="name")


def test_non_polygon_geometries(tmp_path):
    obj = _feature_collection(
        ("A", _square(0, 0)), ("P", {"type": "Point", "coordinates": [0.5, 0.5]})
    )
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps(obj))
    with pytest.raises(BoundaryError, match="Point") as err:
        read_layer(path, name_field="name")
    _single_line(err)


# ------------------------------------------------------------------------------------------
# assign_areas
# ------------------------------------------------------------------------------------------


def test_assign_areas_equals_naive_covers_loop(boston):
    rng = np.random.default_rng(20240311)
    min_lon, min_lat, max_lon, max_lat = layer_extent(boston)
    lon = rng.uniform(min_lon, max_lon, 5000)
    lat = rng.uniform(min_lat, max_lat, 5000)
    # Add polygon vertices: points exactly on (shared) boundaries.
    vertices = np.concatenate(
        [shapely.get_coordinates(g)[::97] for g in boston.geometry]  # a spread of vertices
    )
    lon = np.concatenate([lon, vertices[:, 0]])
    lat = np.concatenate([lat, vertices[:, 1]])

    # Fresh (unprepared) copies so the reference does not share state with the code under test.
    polygons = [shapely.from_wkb(shapely.to_wkb(g)) for g in boston.geometry]
    names = boston["name"].tolist()
    expected = [
        next((n for n, poly in zip(names, polygons, strict=True) if poly.covers(Point(x, y))), None)
        for x, y in zip(lon, lat, strict=True)
    ]

    got = assign_areas(lat=lat, lon=lon, layer=boston)
    assert got.dtype == object
    assert got.tolist() == expected
    hits = sum(e is not None for e in expected)
    assert 1000 < hits < len(expected)  # the check is not vacuous either way


def test_assign_areas_missing_coordinates(boroughs):
    lat = pd.Series([40.7829, np.nan, 40.7829, None, np.inf], dtype="Float64")
    lon = [-73.9654, -73.9654, np.nan, -73.9654, -73.9654]
    got = assign_areas(lat=lat, lon=lon, layer=boroughs)
    assert got.tolist() == ["Manhattan", None, None, None, None]


def test_assign_areas_overlap_takes_first_and_outside_is_none():
    layer = layer_from_geojson(
        _feature_collection(("first", _square(0, 0, 2)), ("second", _square(1, 1, 2)))
    )
    got = assign_areas(
        lat=np.array([1.5, 2.5, 0.5, 10.0, 2.0]),
        lon=np.array([1.5, 2.5, 0.5, 10.0, 2.0]),
        layer=layer,
    )
    # (2, 2) is on the first square's corner: boundary counts as inside, first wins.
    assert got.tolist() == ["first", "second", "first", None, "first"]


def test_assign_areas_empty_input_and_length_mismatch(boroughs):
    assert assign_areas(lat=np.array([]), lon=np.array([]), layer=boroughs).tolist() == []
    with pytest.raises(ValueError, match="length"):
        assign_areas(lat=np.zeros(3), lon=np.zeros(2), layer=boroughs)


def test_assign_areas_rejects_projected_layer(boroughs):
    with pytest.raises(BoundaryError, match="EPSG:4326"):
        assign_areas(lat=[40.7], lon=[-73.9], layer=boroughs.to_crs("EPSG:2263"))


# ------------------------------------------------------------------------------------------
# GeoJSON round trip
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["boroughs", "boston"])
def test_geojson_round_trip_through_text(which, request):
    layer = request.getfixturevalue(which)
    obj = layer_to_geojson(layer)
    assert obj["type"] == "FeatureCollection"
    assert all(set(f["properties"]) == {"name"} for f in obj["features"])
    back = layer_from_geojson(json.loads(json.dumps(obj)))
    assert back["name"].tolist() == layer["name"].tolist()
    assert back.crs.to_epsg() == 4326
    for before, after in zip(layer.geometry, back.geometry, strict=True):
        assert math.isclose(after.area, before.area, rel_tol=1e-9)
        assert after.equals_exact(before, 0)


def test_layer_from_geojson_rejects_non_collections():
    with pytest.raises(BoundaryError, match="FeatureCollection"):
        layer_from_geojson({"type": "Feature", "geometry": None, "properties": {}})
    with pytest.raises(BoundaryError, match="available fields: label"):
        layer_from_geojson(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"label": "x"}, "geometry": _square(0, 0)}
                ],
            }
        )


# ------------------------------------------------------------------------------------------
# H3
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_cells_equal_plain_h3_loop(resolution):
    rng = np.random.default_rng(resolution)
    lat = np.concatenate([rng.uniform(40.4, 41.0, 1500), rng.uniform(-89.9, 89.9, 500)])
    lon = np.concatenate([rng.uniform(-74.3, -73.6, 1500), rng.uniform(-179.9, 179.9, 500)])
    expected = [
        h3.str_to_int(h3.latlng_to_cell(a, b, resolution)) for a, b in zip(lat, lon, strict=True)
    ]
    got = cells(lat=lat, lon=lon, resolution=resolution)
    assert got.dtype == np.int64
    assert got.tolist() == expected
    assert (got > 0).all()


def test_cells_missing_coordinates_are_zero():
    lat = [40.7829, np.nan, None, 40.7829, 40.7829]
    lon = [-73.9654, -73.9654, -73.9654, np.nan, np.inf]
    got = cells(lat=lat, lon=lon, resolution=9)
    assert got.tolist()[1:] == [0, 0, 0, 0]
    assert got[0] == h3.str_to_int(h3.latlng_to_cell(40.7829, -73.9654, 9))


@pytest.mark.parametrize("resolution", [-1, 16, 9.0, True, "9"])
def test_cells_rejects_bad_resolution(resolution):
    with pytest.raises(ValueError, match="resolution"):
        cells(lat=[40.7], lon=[-73.9], resolution=resolution)


def test_cell_helpers_agree_with_h3():
    cell_str = h3.latlng_to_cell(40.7829, -73.9654, 9)
    cell = int(cells(lat=[40.7829], lon=[-73.9654], resolution=9)[0])
    assert to_str(cell) == cell_str
    assert cell_to_latlng(cell) == pytest.approx(h3.cell_to_latlng(cell_str), abs=1e-12)

    ring = cell_boundary(np.int64(cell))
    assert ring[0] == ring[-1] and len(ring) == 7  # a hexagon, closed
    expected = [v for lat, lng in h3.cell_to_boundary(cell_str) for v in (lng, lat)]
    assert [v for pair in ring[:-1] for v in pair] == pytest.approx(expected, abs=1e-12)
    lat, lon = cell_to_latlng(cell)
    assert Polygon(ring).contains(Point(lon, lat))  # (lon, lat) order, as GeoJSON wants

    with pytest.raises(ValueError):
        to_str(0)
    with pytest.raises(ValueError):
        cell_boundary(12345)
