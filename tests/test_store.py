"""The SQLite store (WAL, R*Tree, migrations), its areas and H3 cells, and the Parquet snapshot.

Expected values are computed independently of the code under test: the R*Tree against the cases
table and a pandas filter, H3 cells with h3's own string API, areas with a naive shapely loop over
the GeoJSON file, snapshots against the store's rows.
"""

from __future__ import annotations

import csv
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h3
import h3.api.basic_int as h3_int
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import Point, shape

from dashboard import schema, snapshot
from dashboard.settings import Settings
from dashboard.store import MIGRATIONS_DIR, Store
from etl.boundaries import add_layer
from etl.load import load_file
from tests.conftest import BOSTON_NEIGHBORHOODS, ROOT
from tests.support.exports import BOSTON_LEGACY_HEADER

BOSTON_HEADER = BOSTON_LEGACY_HEADER

#: Points well inside three neighbourhoods (their GeoJSON representative points, rounded).
ROSLINDALE = (42.28311, -71.12384)
CHARLESTOWN = (42.37953, -71.06329)
SOUTH_END = (42.34011, -71.07227)
NORTH_END = (42.36530, -71.05392)
#: R*Tree keeps 32-bit floats, rounded outwards by a relative 2**-23 (about 1.2e-5 degrees here).
RTREE_SLACK = 2.5e-5


def boston_row(case_id: str, lat_lon: tuple[float, float] | None, **extra: str) -> dict[str, str]:
    """One Boston export row (only the columns the adapter reads are filled)."""
    lat, lon = ("", "") if lat_lon is None else (str(lat_lon[0]), str(lat_lon[1]))
    row = {name: "" for name in BOSTON_HEADER}
    row.update(
        case_enquiry_id=case_id,
        open_dt="2024-03-01 08:00:00",
        target_dt="2024-03-05 08:00:00",
        case_status="Open",
        case_title="Pothole",
        subject="Public Works Department",
        reason="Highway Maintenance",
        type="Request for Pothole Repair",
        department="PWDx",
        location="1 Main St Boston MA",
        latitude=lat,
        longitude=lon,
        source="Constituent Call",
    )
    row.update(extra)
    return row


def write_boston_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=BOSTON_HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(path: Path, store: Store, settings: Settings, **kwargs: Any):
    return load_file(path, store=store, settings=settings, progress=False, **kwargs)


def rtree(store: Store) -> pd.DataFrame:
    with store.connect() as conn:
        return pd.read_sql(
            sa.text("SELECT id, min_lon, max_lon, min_lat, max_lat FROM cases_rtree ORDER BY id"),
            conn,
        )


def cases_frame(store: Store, *columns: str) -> pd.DataFrame:
    c = schema.cases.c
    names = columns or ("id", "source", "request_id", "lat", "lon")
    with store.connect() as conn:
        rows = conn.execute(sa.select(*(getattr(c, n) for n in names)).order_by(c.id)).all()
    frame = pd.DataFrame(rows, columns=list(names), dtype=object)  # 64-bit H3 ids stay exact
    for name in frame.columns:
        if name in ("lat", "lon"):
            frame[name] = frame[name].astype(float)
        elif name == "id":
            frame[name] = frame[name].astype("int64")
        elif name in schema.H3_FIELDS:
            frame[name] = frame[name].astype("Int64")
    return frame


def add_neighbourhoods(store: Store, settings: Settings, *, layer: str = "neighborhood") -> None:
    """The bundled Boston neighbourhoods as boundary layer ``layer`` (no snapshot written)."""
    add_layer(
        BOSTON_NEIGHBORHOODS,
        layer=layer,
        name_field="name",
        store=store,
        settings=settings,
        snapshot=False,
    )


def assert_rtree_matches_cases(store: Store) -> None:
    """The R*Tree holds exactly the cases with coordinates, each as its point (to float32)."""
    tree = rtree(store).set_index("id")
    cases = cases_frame(store).dropna(subset=["lat", "lon"]).set_index("id")
    assert tree.index.tolist() == cases.index.tolist()
    # The stored box holds the point and is tiny.
    for axis in ("lon", "lat"):
        lo, hi, value = tree[f"min_{axis}"], tree[f"max_{axis}"], cases[axis]
        assert (lo <= value).all() and (value <= hi).all(), axis
        assert ((hi - lo) < 2 * RTREE_SLACK).all(), axis


# -- SQLite basics ------------------------------------------------------------------------------
def test_sqlite_store_runs_in_wal_mode(store: Store, settings: Settings) -> None:
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    raw = sqlite3.connect(sa.make_url(settings.database_url).database)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_transaction_takes_the_write_lock_at_once(store: Store, settings: Settings) -> None:
    path = sa.make_url(settings.database_url).database
    with store.transaction() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(schema.boundary_layers)).scalar()
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    # Rolled back on error: nothing written inside survives.
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(
            sa.insert(schema.boundary_layers).values(
                name="x", name_field="n", source_path="p", feature_count=0, added_at=Store.now()
            )
        )
        raise RuntimeError("boom")
    assert store.boundary_layers() == []


def test_alembic_revision_is_head_and_schema_matches_schema_py(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    assert store.schema_revision() == head

    def objects() -> list[tuple]:
        with store.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
            ).all()

    before = objects()
    names = {(t, n) for t, n, _ in before}
    assert {("table", "cases_rtree"), ("trigger", "cases_rtree_update")} <= names
    # New cases reach the R*Tree in bulk from the loader (migration 0003), not by a trigger.
    assert ("trigger", "cases_rtree_insert") not in names
    store.migrate()  # a no-op the second time
    assert objects() == before
    assert store.schema_revision() == head

    with store.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    # The R*Tree (and its shadow tables) is hand written in the migration, not in schema.py.
    assert [d for d in diff if not str(d).count("cases_rtree")] == []

    # Down to nothing and up again gives the same schema.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert [n for _, n, _ in objects() if not n.startswith("sqlite_")] == ["alembic_version"]
    store.migrate()
    assert objects() == before


# -- R*Tree -------------------------------------------------------------------------------------
def test_rtree_holds_every_case_with_coordinates(demo: tuple[Settings, Store]) -> None:
    _, store = demo
    assert_rtree_matches_cases(store)
    assert len(rtree(store)) > 50_000


def test_rtree_follows_update_loads(store: Store, settings: Settings, tmp_path: Path) -> None:
    first = write_boston_csv(
        tmp_path / "v1.csv",
        [
            boston_row("B1", ROSLINDALE),
            boston_row("B2", None),
            boston_row("B3", CHARLESTOWN),
            boston_row("B4", SOUTH_END),
        ],
    )
    report = load(first, store, settings)
    assert (report.read, report.inserted) == (4, 4)
    assert_rtree_matches_cases(store)
    assert len(rtree(store)) == 3

    second = write_boston_csv(
        tmp_path / "v2.csv",
        [
            boston_row("B1", NORTH_END),  # moved
            boston_row("B2", SOUTH_END),  # gains coordinates
            boston_row("B3", None),  # loses them
            boston_row("B4", SOUTH_END, case_status="Closed", closed_dt="2024-03-02 09:00:00"),
            boston_row("B5", CHARLESTOWN),  # new
        ],
    )
    report = load(second, store, settings)
    assert (report.read, report.inserted, report.updated, report.unchanged) == (5, 1, 4, 0)
    assert_rtree_matches_cases(store)
    tree = rtree(store).merge(cases_frame(store), on="id").set_index("request_id")
    assert sorted(tree.index) == ["B1", "B2", "B4", "B5"]
    assert tree.loc["B1", "min_lat"] == pytest.approx(NORTH_END[0], abs=RTREE_SLACK)
    assert tree.loc["B1", "min_lon"] == pytest.approx(NORTH_END[1], abs=RTREE_SLACK)

    # Loading the same file again touches nothing.
    before = rtree(store)
    report = load(second, store, settings)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 5)
    pd.testing.assert_frame_equal(rtree(store), before)


def test_rtree_bounding_box_query_matches_pandas(demo: tuple[Settings, Store]) -> None:
    _, store = demo
    min_lon, min_lat, max_lon, max_lat = (-71.07005, 42.34505, -71.05005, 42.36005)
    cases = cases_frame(store).dropna(subset=["lat", "lon"])
    # Premise: no case lies within float32 rounding of an edge (Boston's coordinates have four
    # decimals), so the R*Tree's outward rounding cannot change the answer.
    for edge, axis in ((min_lon, "lon"), (max_lon, "lon"), (min_lat, "lat"), (max_lat, "lat")):
        assert (cases[axis] - edge).abs().min() > RTREE_SLACK
    inside = cases["lon"].between(min_lon, max_lon) & cases["lat"].between(min_lat, max_lat)
    expected = set(cases.loc[inside, "id"])
    with store.connect() as conn:
        got = set(
            conn.execute(
                sa.text(
                    "SELECT id FROM cases_rtree WHERE min_lon >= :a AND max_lon <= :c "
                    "AND min_lat >= :b AND max_lat <= :d"
                ),
                {"a": min_lon, "b": min_lat, "c": max_lon, "d": max_lat},
            ).scalars()
        )
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM cases_rtree WHERE min_lon >= -71.1 "
                "AND max_lon <= -71.0"
            )
        )
    assert len(expected) > 1_000
    assert got == expected
    assert "VIRTUAL TABLE INDEX" in plan


# -- H3 and areas -------------------------------------------------------------------------------
def test_h3_columns_equal_h3_computed_independently(demo: tuple[Settings, Store]) -> None:
    _, store = demo
    frame = cases_frame(store, "id", "lat", "lon", *schema.H3_FIELDS)
    missing = frame[frame["lat"].isna() | frame["lon"].isna()]
    assert len(missing) > 0
    assert missing[list(schema.H3_FIELDS)].isna().all().all()
    located = frame.dropna(subset=["lat", "lon"])
    sample = located.sample(n=400, random_state=7)
    wrong = []
    for row in sample.itertuples(index=False):
        for resolution, name in zip(schema.H3_RESOLUTIONS, schema.H3_FIELDS, strict=True):
            expected = h3.str_to_int(h3.latlng_to_cell(row.lat, row.lon, resolution))
            if getattr(row, name) != expected:
                wrong.append((row.id, resolution, getattr(row, name), expected))
    assert wrong == [], f"{len(wrong)} of {4 * len(sample)} cells differ, e.g. {wrong[:3]}"
    # Every stored id is a valid H3 cell of its column's resolution.
    for resolution, name in zip(schema.H3_RESOLUTIONS, schema.H3_FIELDS, strict=True):
        cells = located[name].astype("int64").unique().tolist()
        assert all(
            h3_int.is_valid_cell(c) and h3_int.get_resolution(c) == resolution for c in cells
        )


def test_h3_columns_of_a_batch_where_every_case_has_coordinates(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    points = [ROSLINDALE, CHARLESTOWN, SOUTH_END, NORTH_END]
    rows = [boston_row(f"H{i}", p) for i, p in enumerate(points)]
    load(write_boston_csv(tmp_path / "cases.csv", rows), store, settings)
    frame = cases_frame(store, "request_id", "lat", "lon", *schema.H3_FIELDS)
    for row in frame.itertuples(index=False):
        for resolution, name in zip(schema.H3_RESOLUTIONS, schema.H3_FIELDS, strict=True):
            expected = h3.str_to_int(h3.latlng_to_cell(row.lat, row.lon, resolution))
            assert getattr(row, name) == expected, (row.request_id, resolution)


def naive_layer() -> list[tuple[str, Any]]:
    """The neighbourhoods straight from the GeoJSON, repaired with make_valid where needed."""
    features = json.loads(BOSTON_NEIGHBORHOODS.read_text())["features"]
    return [
        (f["properties"]["name"].strip(), shapely.make_valid(shape(f["geometry"])))
        for f in features
    ]


def test_case_areas_equal_naive_point_in_polygon(demo: tuple[Settings, Store]) -> None:
    _, store = demo
    polygons = naive_layer()
    cases = cases_frame(store).dropna(subset=["lat", "lon"])
    with store.connect() as conn:
        stored = dict(
            conn.execute(
                sa.text(
                    "SELECT a.case_id, a.area FROM case_areas a JOIN boundary_layers l "
                    "ON l.id = a.layer_id WHERE l.name = 'neighborhood'"
                )
            ).all()
        )
    sample = cases.sample(n=800, random_state=11)
    inside = 0
    for row in sample.itertuples(index=False):
        point = Point(row.lon, row.lat)
        names = [name for name, geom in polygons if geom.covers(point)]
        if not names:
            assert row.id not in stored, (row.request_id, stored.get(row.id))
        else:
            inside += 1
            assert stored.get(row.id) in names, (row.request_id, stored.get(row.id), names)
            if len(names) == 1:
                assert stored[row.id] == names[0]
    assert inside > 600
    # No case without coordinates has an area.
    ids_without = set(cases_frame(store).query("lat != lat")["id"])
    assert not ids_without & set(stored)


def test_adding_the_same_layer_again_replaces_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        boston_row("N1", ROSLINDALE),
        boston_row("N2", CHARLESTOWN),
        boston_row("N3", SOUTH_END),
        boston_row("N4", None),
        boston_row("N5", (42.2, -70.5)),  # in the sea, outside every neighbourhood
    ]
    load(write_boston_csv(tmp_path / "cases.csv", rows), store, settings)

    def state() -> dict[str, Any]:
        with store.connect() as conn:
            return {
                "layers": conn.exec_driver_sql("SELECT id, name FROM boundary_layers").all(),
                "areas": conn.exec_driver_sql(
                    "SELECT layer_id, count(*) FROM boundary_areas GROUP BY layer_id"
                ).all(),
                "case_areas": conn.exec_driver_sql(
                    "SELECT c.request_id, a.layer_id, a.area FROM case_areas a "
                    "JOIN cases c ON c.id = a.case_id ORDER BY c.request_id"
                ).all(),
            }

    expected = {"N1": "Roslindale", "N2": "Charlestown", "N3": "South End"}
    reports = []
    for _ in range(2):
        reports.append(
            add_layer(
                BOSTON_NEIGHBORHOODS,
                layer="neighborhood",
                name_field="name",
                store=store,
                settings=settings,
            )
        )
        now = state()
        assert len(now["layers"]) == 1
        layer_id = now["layers"][0][0]
        assert now["areas"] == [(layer_id, 26)]
        assert now["case_areas"] == [(k, layer_id, v) for k, v in expected.items()]
    assert reports[0].cases_assigned == reports[1].cases_assigned == 3
    assert reports[1].cases_outside == 2
    # The snapshot written by add_layer carries the one area column.
    snap = snapshot.require_snapshot(settings.snapshot_dir)
    frame = pd.read_parquet(snap / snapshot.CASES_FILE)
    assert [c for c in frame.columns if c.startswith("area_")] == ["area_neighborhood"]
    got = frame.dropna(subset=["area_neighborhood"])
    assert dict(zip(got["request_id"], got["area_neighborhood"], strict=True)) == expected


def test_update_load_moves_a_case_to_its_new_area(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    add_neighbourhoods(store, settings)
    first = [boston_row("M1", ROSLINDALE), boston_row("M2", CHARLESTOWN)]
    load(write_boston_csv(tmp_path / "v1.csv", first), store, settings)
    second = [boston_row("M1", NORTH_END), boston_row("M2", None)]
    report = load(write_boston_csv(tmp_path / "v2.csv", second), store, settings)
    assert report.updated == 2
    with store.connect() as conn:
        areas = conn.exec_driver_sql(
            "SELECT c.request_id, a.area FROM cases c LEFT JOIN case_areas a ON a.case_id = c.id "
            "ORDER BY c.request_id"
        ).all()
    assert areas == [("M1", "North End"), ("M2", None)]


def test_a_point_in_two_areas_gets_the_same_area_from_add_layer_and_from_a_load(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Fenway and Allston overlap a little in the sample layer. A point in both gets the first
    area in the file's order, whether add_layer or a later load assigns it."""
    polygons = dict(naive_layer())
    overlap = polygons["Fenway"].intersection(polygons["Allston"])
    point = overlap.representative_point()
    lat_lon = (round(point.y, 7), round(point.x, 7))
    probe = Point(lat_lon[1], lat_lon[0])
    assert polygons["Fenway"].covers(probe) and polygons["Allston"].covers(probe)
    names = [name for name, _ in naive_layer()]
    assert names.index("Fenway") < names.index("Allston")  # the file's order

    load(write_boston_csv(tmp_path / "v1.csv", [boston_row("O1", lat_lon)]), store, settings)
    add_neighbourhoods(store, settings)
    rows = [boston_row("O1", lat_lon), boston_row("O2", lat_lon)]
    load(write_boston_csv(tmp_path / "v2.csv", rows), store, settings, snapshot=False)
    with store.connect() as conn:
        areas = conn.exec_driver_sql(
            "SELECT c.request_id, a.area FROM cases c JOIN case_areas a ON a.case_id = c.id "
            "ORDER BY c.request_id"
        ).all()
    assert areas == [("O1", "Fenway"), ("O2", "Fenway")]


# -- snapshot -----------------------------------------------------------------------------------
def test_snapshot_has_the_stores_rows_and_no_free_text(demo: tuple[Settings, Store]) -> None:
    settings, store = demo
    snap = snapshot.require_snapshot(settings.snapshot_dir)
    frame = pd.read_parquet(snap / snapshot.CASES_FILE)
    # Read H3 as nullable Int64: pandas' default float64 for int64-with-nulls would round them.
    exact = pd.read_parquet(
        snap / snapshot.CASES_FILE, columns=list(schema.H3_FIELDS), dtype_backend="numpy_nullable"
    )
    for name in schema.H3_FIELDS:
        frame[name] = exact[name]
    assert "description" not in frame.columns and "resolution" not in frame.columns
    assert not {c for c in frame.columns if c in schema.INTERNAL_FIELDS}
    columns = [c for c in frame.columns if c in {*schema.CASE_FIELDS, *schema.H3_FIELDS}]
    stored = cases_frame(store, "id", *columns)
    assert len(frame) == len(stored) == store.count_cases() == 58_251
    assert sorted(frame["id"]) == stored["id"].tolist()
    assert frame["requested_at"].is_monotonic_increasing

    # Same content, times as UTC instants (SQLite hands back naive UTC).
    ours = frame.set_index("id").sort_index()[columns]
    theirs = stored.set_index("id")[columns]
    for name in schema.TIME_FIELDS:
        theirs[name] = pd.to_datetime(theirs[name]).dt.tz_localize("UTC")
        ours[name] = ours[name].dt.tz_convert("UTC")
    for name in columns:
        if name in schema.H3_FIELDS:
            theirs[name] = theirs[name].astype("Int64")
            ours[name] = ours[name].astype("Int64")
        elif name not in schema.TIME_FIELDS:  # one missing value (None) on both sides
            theirs[name] = theirs[name].astype(object).where(theirs[name].notna(), None)
            ours[name] = ours[name].astype(object).where(ours[name].notna(), None)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_index_type=False)
    # Local request time is the UTC time seen in the city's zone.
    local = frame["requested_at"].dt.tz_convert(settings.timezone).dt.tz_localize(None)
    assert (frame["requested_local"] == local).all()
    # Areas equal case_areas.
    with store.connect() as conn:
        areas = dict(conn.exec_driver_sql("SELECT case_id, area FROM case_areas").all())
    got = frame.dropna(subset=["area_neighborhood"])
    assert dict(zip(got["id"], got["area_neighborhood"], strict=True)) == areas


def test_current_points_to_a_complete_snapshot(demo: tuple[Settings, Store]) -> None:
    settings, store = demo
    directory = Path(settings.snapshot_dir)
    name = (directory / snapshot.CURRENT).read_text().strip()
    assert name.startswith("snap-") and "/" not in name
    snap = directory / name
    assert snapshot.current_snapshot(directory) == snap
    manifest = snapshot.read_manifest(snap)
    assert manifest["version"] == store.data_version()
    assert manifest["layers"] == ["neighborhood"]
    assert manifest["timezone"] == settings.timezone
    parquet = pq.ParquetFile(snap / snapshot.CASES_FILE)
    assert parquet.metadata.num_rows == manifest["rows"] == store.count_cases()
    # names and types as declared (DuckDB's writer marks a column without nulls NOT NULL)
    written = [(f.name, f.type) for f in parquet.schema_arrow]
    assert written == [(f.name, f.type) for f in snapshot.arrow_schema(manifest["layers"])]
    frame = parquet.read(columns=["requested_at", "id"]).to_pandas()
    assert frame.equals(frame.sort_values(["requested_at", "id"]))  # sorted by request time
    assert not list(directory.glob(".partial-*"))
    assert not (directory / f".{snapshot.CURRENT}.tmp").exists()


def test_ensure_current_rebuilds_only_when_the_store_changed(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    load(write_boston_csv(tmp_path / "v1.csv", [boston_row("E1", ROSLINDALE)]), store, settings)
    first = snapshot.require_snapshot(settings.snapshot_dir)
    assert snapshot.ensure_current_for(store, settings) == (first)

    # A load that committed but whose snapshot was never written (e.g. killed in between).
    rows = [boston_row("E1", ROSLINDALE), boston_row("E2", CHARLESTOWN)]
    load(write_boston_csv(tmp_path / "v2.csv", rows), store, settings, snapshot=False)
    assert snapshot.current_snapshot(settings.snapshot_dir) == first
    second = snapshot.ensure_current_for(store, settings)
    assert second != first
    assert snapshot.current_snapshot(settings.snapshot_dir) == second
    assert sorted(pd.read_parquet(second / snapshot.CASES_FILE)["request_id"]) == ["E1", "E2"]

    # A new boundary layer changes the store too.
    add_neighbourhoods(store, settings)
    third = snapshot.ensure_current_for(store, settings)
    assert third != second
    frame = pd.read_parquet(third / snapshot.CASES_FILE).sort_values("request_id")
    assert frame["area_neighborhood"].tolist() == ["Roslindale", "Charlestown"]
    # And so does another time zone (local times differ).
    fourth = snapshot.ensure_current(
        store=store, snapshot_dir=settings.snapshot_dir, timezone="America/Los_Angeles"
    )
    assert fourth != third
    assert snapshot.read_manifest(fourth)["timezone"] == "America/Los_Angeles"
    again = snapshot.ensure_current(
        store=store, snapshot_dir=settings.snapshot_dir, timezone="America/Los_Angeles"
    )
    assert again == fourth


def test_a_rebuild_says_why_and_how_to_avoid_it_at_start_up(
    store: Store, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that finds its snapshot out of date rebuilds it before serving (2.5 minutes at
    10M cases, the port closed): the log says why, how many cases, and what to run ahead of a
    restart. A first snapshot of a new store is routine (INFO)."""
    from dashboard.sla import parse_policy

    caplog.set_level(logging.INFO, logger="dashboard.snapshot")
    rows = [boston_row("E1", ROSLINDALE), boston_row("E2", CHARLESTOWN)]
    load(write_boston_csv(tmp_path / "v1.csv", rows), store, settings, snapshot=False)
    snapshot.ensure_current_for(store, settings)
    (first,) = [r for r in caplog.records if "snapshot yet" in r.getMessage()]
    assert first.levelno == logging.INFO
    assert first.getMessage() == "no read-model snapshot yet: writing one from the store's 2 cases"
    assert not [r for r in caplog.records if "out of date" in r.getMessage()]

    caplog.clear()
    stricter = parse_policy("compliance_target: 95\n")
    snapshot.ensure_current(
        store=store, snapshot_dir=settings.snapshot_dir, timezone=settings.timezone,
        policy=stricter,
    )  # fmt: skip
    (record,) = [r for r in caplog.records if "out of date" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "the read-model snapshot is out of date (the SLA policy changed since it was written): "
        "rebuilding it from the store's 2 cases before going on; run `stat311 snapshot` after "
        "such a change to do this ahead of a restart"
    )
    caplog.clear()
    snapshot.ensure_current(
        store=store, snapshot_dir=settings.snapshot_dir, timezone=settings.timezone,
        policy=stricter,
    )  # fmt: skip
    assert not [r for r in caplog.records if "out of date" in r.getMessage()]  # fresh now


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dashboard import snapshot
    from dashboard.store import Store

    def stop_before_swap(path):  # the partial directory is complete: stall right there
        Path(sys.argv[3]).write_text(str(path))
        time.sleep(120)

    snapshot._fsync_dir = stop_before_swap
    snapshot.write_snapshot(store=Store(sys.argv[1]), snapshot_dir=Path(sys.argv[2]))
    """
)


def test_partial_snapshot_of_a_killed_writer_is_never_current(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    directory = Path(settings.snapshot_dir)
    load(write_boston_csv(tmp_path / "v1.csv", [boston_row("K1", ROSLINDALE)]), store, settings)
    first = snapshot.require_snapshot(directory)
    rows = [boston_row("K1", ROSLINDALE), boston_row("K2", CHARLESTOWN)]
    load(write_boston_csv(tmp_path / "v2.csv", rows), store, settings, snapshot=False)

    # A real writer, killed (SIGKILL) after its partial directory is complete but before the swap.
    sentinel = tmp_path / "stalled"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_WRITER,
            settings.database_url,
            str(directory),
            str(sentinel),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not sentinel.exists():
            assert proc.poll() is None, "the writer ended before it stalled"
            assert time.monotonic() < deadline, "the writer never reached the swap"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partials = list(directory.glob(".partial-*"))
    assert len(partials) == 1
    partial = partials[0]
    assert (partial / snapshot.CASES_FILE).exists() and (partial / snapshot.MANIFEST).exists()
    assert snapshot.read_manifest(partial)["version"] == store.data_version()

    assert snapshot.current_snapshot(directory) == first
    rebuilt = snapshot.ensure_current(
        store=store, snapshot_dir=directory, timezone=settings.timezone
    )
    assert rebuilt not in (first, partial)
    assert rebuilt.name.startswith("snap-")
    assert snapshot.current_snapshot(directory) == rebuilt
    assert sorted(pd.read_parquet(rebuilt / snapshot.CASES_FILE)["request_id"]) == ["K1", "K2"]
    # Its writer was killed: the next snapshot write removes it at once (its lock is free;
    # tests/test_partial_leftovers.py has the cases kept).
    assert not partial.exists()

    # Without any CURRENT (killed before the very first swap) the partial is still not used.
    (directory / snapshot.CURRENT).unlink()
    assert snapshot.current_snapshot(directory) is None
    with pytest.raises(Exception, match="no snapshot"):
        snapshot.require_snapshot(directory)
    fresh = snapshot.ensure_current(store=store, snapshot_dir=directory, timezone=settings.timezone)
    assert fresh != partial and fresh.name.startswith("snap-")
    assert snapshot.current_snapshot(directory) is not None


def test_concurrent_snapshot_writers_leave_a_valid_current(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Several writers at once (a load and web workers' ensure_current): none fails, CURRENT
    always names a complete snapshot, and stale-store rebuilds happen once."""
    directory = Path(settings.snapshot_dir)
    load(write_boston_csv(tmp_path / "v1.csv", [boston_row("C1", ROSLINDALE)]), store, settings)
    errors: list[BaseException] = []

    def run(fn) -> Any:
        try:
            return fn()
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)
            return None

    def write() -> None:
        for _ in range(6):
            snapshot.write_snapshot(store=store, snapshot_dir=directory, timezone="UTC")
            assert snapshot.current_snapshot(directory) is not None

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, [write] * 4))
    assert errors == []
    current = snapshot.require_snapshot(directory)
    assert snapshot.read_manifest(current)["rows"] == 1
    assert len(list(directory.glob("snap-*"))) == snapshot.KEEP
    assert not list(directory.glob(".partial-*")) and not list(directory.glob(".CURRENT*"))

    rows = [boston_row("C1", ROSLINDALE), boston_row("C2", CHARLESTOWN)]
    load(write_boston_csv(tmp_path / "v2.csv", rows), store, settings, snapshot=False)

    def ensure() -> Path:
        return snapshot.ensure_current(store=store, snapshot_dir=directory, timezone="UTC")

    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(run, [ensure] * 4))
    assert errors == []
    assert len(set(paths)) == 1 and paths[0] != current
    assert snapshot.read_manifest(paths[0])["rows"] == 2


def test_snapshot_of_an_empty_store(store: Store, settings: Settings) -> None:
    path = snapshot.write_snapshot(store=store, snapshot_dir=settings.snapshot_dir)
    assert snapshot.read_manifest(path)["rows"] == 0
    table = pq.read_table(path / snapshot.CASES_FILE)
    assert table.num_rows == 0
    assert table.schema == snapshot.arrow_schema([])


def test_current_snapshot_follows_a_pointer_rewritten_in_place(tmp_path: Path) -> None:
    """The pointer is remembered by its bytes, not its file's identity: a ``CURRENT`` rewritten
    in place (same inode, same size, within the file system's clock tick) is followed at once,
    and a pointer to a snapshot whose cases file is gone gives None."""
    directory = tmp_path / "snapshots"
    names = ["snap-a-0001", "snap-b-0002"]  # the same length, as real snapshot names are
    for name in names:
        (directory / name).mkdir(parents=True)
        (directory / name / snapshot.CASES_FILE).write_bytes(b"")
    pointer = directory / snapshot.CURRENT
    for _ in range(3):
        for name in names:
            with pointer.open("r+b" if pointer.exists() else "wb") as fh:  # in place
                fh.write(f"{name}\n".encode())
            assert snapshot.current_snapshot(directory) == directory / name
    (directory / names[1] / snapshot.CASES_FILE).unlink()
    assert snapshot.current_snapshot(directory) is None
    pointer.unlink()
    assert snapshot.current_snapshot(directory) is None
