"""``geodata.geojson.geojson_bbox`` and the maps that frame their view with it."""

from __future__ import annotations

import pytest

from geodata.geojson import geojson_bbox


def _feature(geometry):
    return {"type": "Feature", "properties": {}, "geometry": geometry}


def test_the_bbox_spans_every_vertex_of_every_geometry_type() -> None:
    features = [
        _feature({"type": "Point", "coordinates": [-71.05, 42.36]}),
        _feature(
            {
                "type": "Polygon",
                "coordinates": [[[-71.2, 42.3], [-71.0, 42.3], [-71.0, 42.4], [-71.2, 42.3]]],
            }
        ),
        _feature(
            {
                "type": "MultiPolygon",
                "coordinates": [[[[-70.9, 42.2], [-70.8, 42.2], [-70.8, 42.25], [-70.9, 42.2]]]],
            }
        ),
        _feature({"type": "LineString", "coordinates": [[-71.1, 42.45, 12.0], [-71.1, 42.1]]}),
        _feature(None),  # a feature without a geometry is skipped
    ]
    assert geojson_bbox(features) == pytest.approx([-71.2, 42.1, -70.8, 42.45])


@pytest.mark.parametrize(
    "features",
    [[], [_feature(None)], [_feature({"type": "Polygon", "coordinates": []})]],
    ids=["none", "no geometry", "empty polygon"],
)
def test_no_coordinates_no_bbox(features) -> None:
    assert geojson_bbox(features) is None


def test_the_public_maps_frame_the_same_view_with_the_bbox_as_with_every_vertex(data_maps) -> None:
    from layouts.public import count_map

    for frame, geojson, key in data_maps:
        assert geojson.get("bbox") == pytest.approx(geojson_bbox(geojson["features"]))
        with_box = count_map(frame, geojson, key=key)
        walked = count_map(frame, {k: v for k, v in geojson.items() if k != "bbox"}, key=key)
        assert with_box["layout"]["map"] == walked["layout"]["map"]
        assert with_box["layout"]["map"]["zoom"] > 0


@pytest.fixture
def data_maps(demo):
    from tests.support.public import public_data

    settings, _ = demo
    with public_data(settings) as data:
        area = data.map_data(service_name=None, days=90, view="area")
        cell = data.map_data(service_name=None, days=90, view="cell")
        yield [(area["frame"], area["geojson"], "name"), (cell["frame"], cell["geojson"], "cell")]
