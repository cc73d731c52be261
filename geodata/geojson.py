"""GeoJSON helpers that need no GIS library (the web app uses them; geopandas stays out of it)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def geojson_bbox(features: Iterable[Mapping[str, Any]]) -> list[float] | None:
    """Return the GeoJSON ``bbox`` (``[west, south, east, north]``, lon/lat) of the features'
    coordinates, or ``None`` when they have none.

    Works for any geometry type (the coordinates are walked, not parsed as shapes); a
    feature without a geometry is skipped.
    """
    west = south = math.inf
    east = north = -math.inf
    stack: list[Any] = [(f.get("geometry") or {}).get("coordinates") for f in features]
    while stack:
        item = stack.pop()
        if not item:
            continue
        if isinstance(item[0], int | float):  # a position: [lon, lat, ...]
            lon, lat = float(item[0]), float(item[1])
            west, east = min(west, lon), max(east, lon)
            south, north = min(south, lat), max(north, lat)
        else:
            stack.extend(item)
    if west == math.inf:
        return None
    return [west, south, east, north]
