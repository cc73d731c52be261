"""Add a boundary layer to the store and give every stored case its area in that layer."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from shapely.geometry import mapping
from sqlalchemy import delete, insert, select

from dashboard import schema
from dashboard.logs import RESULT
from dashboard.settings import Settings
from dashboard.store import Store
from geodata.areas import Layer, StoredLayers
from geodata.boundaries import read_layer

log = logging.getLogger(__name__)

_CHUNK = 100_000


@dataclass
class LayerReport:
    layer: str
    areas: int
    cases_assigned: int
    cases_outside: int
    seconds: float

    def summary(self) -> str:
        return (
            f"layer {self.layer!r}: {self.areas} areas; {self.cases_assigned:,} stored cases "
            f"placed in an area, {self.cases_outside:,} outside every area or without "
            f"coordinates ({self.seconds:.1f} s)"
        )


def add_layer(
    path: str | Path,
    *,
    layer: str,
    name_field: str,
    store: Store,
    settings: Settings,
    snapshot: bool = True,
) -> LayerReport:
    """Read ``path`` (any CRS), store it as ``layer`` (replacing a layer of that name) and assign
    every stored case to its area, in one transaction."""
    started = time.perf_counter()
    if not layer.isidentifier():
        from geodata.errors import BoundaryError

        raise BoundaryError(
            f"layer name {layer!r} must be letters, digits and underscores (e.g. neighborhood)"
        )
    frame = read_layer(path, name_field=name_field)
    store.migrate()
    assigned = outside = 0
    with store.transaction(exclusive=True) as conn:
        bl = schema.boundary_layers
        old = conn.execute(select(bl.c.id).where(bl.c.name == layer)).scalar()
        if old is not None:
            conn.execute(delete(schema.case_areas).where(schema.case_areas.c.layer_id == old))
            conn.execute(
                delete(schema.boundary_areas).where(schema.boundary_areas.c.layer_id == old)
            )
            conn.execute(delete(bl).where(bl.c.id == old))
        layer_id = conn.execute(
            insert(bl).values(
                name=layer,
                name_field=name_field,
                source_path=str(path),
                feature_count=len(frame),
                added_at=Store.now(),
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(schema.boundary_areas),
            [
                {"layer_id": layer_id, "name": name, "geometry": json.dumps(mapping(geom))}
                for name, geom in zip(frame["name"], frame.geometry, strict=True)
            ],
        )
        stored = StoredLayers([Layer(id=layer_id, name=layer, frame=frame)])
        c = schema.cases.c
        query = select(c.id, c.lat, c.lon).where(c.lat.is_not(None)).order_by(c.id)
        # Streamed (a server-side cursor on PostgreSQL): millions of cases are never all in
        # memory at once.
        result = conn.execute(
            query, execution_options={"stream_results": True, "yield_per": _CHUNK}
        )
        for chunk in result.partitions(_CHUNK):
            cases = pd.DataFrame(chunk, columns=["id", "lat", "lon"])
            rows = stored.assign_records(
                case_ids=cases["id"].to_numpy(),
                lat=cases["lat"].to_numpy(float),
                lon=cases["lon"].to_numpy(float),
            )
            if rows:
                conn.execute(insert(schema.case_areas), rows)
            assigned += len(rows)
            outside += len(cases) - len(rows)
    total = store.count_cases()
    report = LayerReport(
        layer=layer,
        areas=len(frame),
        cases_assigned=assigned,
        cases_outside=total - assigned,
        seconds=time.perf_counter() - started,
    )
    log.info("%s", report.summary(), extra=RESULT)
    if snapshot:
        from dashboard.snapshot import write_for

        write_for(store, settings)
    return report
