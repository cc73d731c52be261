"""Boundary layers as loaded in the store, applied to cases (point in polygon for every layer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import shape

from geodata.boundaries import assign_areas, layer_extent


@dataclass(frozen=True)
class Layer:
    id: int
    name: str
    frame: gpd.GeoDataFrame  # columns name, geometry; EPSG:4326


class StoredLayers:
    """The boundary layers of a store, ready to assign areas to points."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]]) -> StoredLayers:
        """Build from ``[{"layer_id", "layer", "name", "geometry": GeoJSON dict}]`` rows."""
        grouped: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault((row["layer_id"], row["layer"]), []).append(row)
        layers = []
        for (layer_id, layer_name), items in grouped.items():
            frame = gpd.GeoDataFrame(
                {"name": [r["name"] for r in items]},
                geometry=[shape(r["geometry"]) for r in items],
                crs="EPSG:4326",
            )
            layers.append(Layer(id=layer_id, name=layer_name, frame=frame))
        return cls(layers)

    @classmethod
    def from_store(cls, conn: Any) -> StoredLayers:
        from dashboard.store import Store

        return cls.from_rows(Store.read_layer_rows(conn))

    def __bool__(self) -> bool:
        return bool(self.layers)

    def bounds(self, *, margin: float) -> tuple[float, float, float, float] | None:
        """Union of the layers' extents, widened by ``margin`` degrees; None without layers."""
        if not self.layers:
            return None
        extents = np.array([layer_extent(layer.frame) for layer in self.layers])
        return (
            float(extents[:, 0].min() - margin),
            float(extents[:, 1].min() - margin),
            float(extents[:, 2].max() + margin),
            float(extents[:, 3].max() + margin),
        )

    def assign(self, *, lat: np.ndarray, lon: np.ndarray) -> list[tuple[Layer, np.ndarray]]:
        """Each layer with the name of the area holding each point (None: in no area)."""
        return [(layer, assign_areas(lat=lat, lon=lon, layer=layer.frame)) for layer in self.layers]

    def assign_records(
        self,
        *,
        case_ids: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        assigned: list[tuple[Layer, np.ndarray]] | None = None,
    ) -> list[dict[str, Any]]:
        """``case_areas`` rows for every layer (cases outside every area get no row).
        ``assigned``: the points' areas from :meth:`assign`, when already known."""
        rows: list[dict[str, Any]] = []
        if assigned is None:
            assigned = self.assign(lat=lat, lon=lon)
        for layer, names in assigned:
            for case_id, name in zip(case_ids.tolist(), names.tolist(), strict=True):
                if name is not None:
                    rows.append({"case_id": case_id, "layer_id": layer.id, "area": name})
        return rows
