"""The store on a real PostgreSQL + PostGIS server, checked against the same work done on SQLite.

One throwaway cluster serves the whole module. Each test that changes data works in its own
database, cloned in milliseconds with ``CREATE DATABASE ... TEMPLATE``: from the empty PostGIS
database the fixture created, or from the database the ``loaded`` fixture filled through the real
``stat311`` CLI. Expected values come from the SQLite store (same loads) or from plain Python.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dashboard import schema
from dashboard.errors import InputFileError
from dashboard.snapshot import current_snapshot
from dashboard.store import MIGRATIONS_DIR, Store
from tests.conftest import BOSTON_NEIGHBORHOODS, BOSTON_ZIP, NYC_CSV, ROOT, make_settings
from tests.support.postgis import DBNAME, throwaway_postgis

pytestmark = pytest.mark.postgis

BOSTON_ROWS = 58_251
NYC_ROWS = 4_999
STAT311 = Path(sys.executable).with_name("stat311")
#: PostGIS measures geography on a sphere (use_spheroid=false) with the WGS84 mean radius.
SPHERE_RADIUS_M = (2 * 6378137.0 + 6356752.314245179) / 3
CITY_HALL = (42.3603, -71.0578)  # lat, lon: next to Boston City Hall
TABLES = (
    "ingestion_runs",
    "cases",
    "quarantine",
    "boundary_layers",
    "boundary_areas",
    "case_areas",
)


# -- a cluster, databases cloned per test -------------------------------------------------------
@dataclass
class Cluster:
    url: str  # the empty PostGIS database made by throwaway_postgis()

    def _admin(self) -> sa.Engine:
        admin = make_url(self.url).set(database="postgres")
        return sa.create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def clone(self, template: str = DBNAME) -> str:
        """A new database copied from ``template`` (nobody may be connected to it)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = self._admin()
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            engine.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_postgis() as url:
        yield Cluster(url)


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    """A fresh, empty database with PostGIS."""
    return cluster.clone()


def _dbname(url: str) -> str:
    return make_url(url).database


def _cli(args: list[str], *, url: str, snapshots: Path, **env: str) -> subprocess.CompletedProcess:
    """The real ``stat311`` command in a subprocess, configured only by STAT311_* variables."""
    assert STAT311.is_file(), (
        f"the stat311 console script is not installed next to {sys.executable}"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}
    environ.update(
        STAT311_DATABASE_URL=url, STAT311_SNAPSHOT_DIR=str(snapshots), STAT311_LOG_LEVEL="WARNING"
    )
    environ.update(env)
    return subprocess.run(
        [str(STAT311), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


def _ingest(path: Path, *, url: str, snapshots: Path, **env: str) -> dict[str, Any]:
    proc = _cli(["ingest", str(path), "--json"], url=url, snapshots=snapshots, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass
class Loaded:
    pg_url: str
    sqlite_url: str
    pg: dict[str, list[dict[str, Any]]]  # boston: [report], nyc: [first report, second report]
    sqlite: dict[str, list[dict[str, Any]]]  # boston: [report], nyc: [report]
    pg_snapshots: Path
    sqlite_snapshots: Path


@pytest.fixture(scope="module")
def loaded(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Boston, NYC, NYC again (nothing new the second time) through the CLI into PostGIS;
    Boston and NYC into SQLite, in parallel. Read-only: tests that change data work on a
    copy."""
    tmp = tmp_path_factory.mktemp("pg_loaded")
    pg_url = cluster.clone()
    sqlite_url = f"sqlite:///{tmp / 'stat311.db'}"
    files = {"boston": BOSTON_ZIP, "nyc": NYC_CSV}

    def chain(url: str, snapshots: Path, *names: str, **env: str) -> dict[str, list[dict]]:
        reports: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
        for name in names:
            reports[name].append(_ingest(files[name], url=url, snapshots=snapshots, **env))
        return reports

    with ThreadPoolExecutor(2) as pool:
        # The PostgreSQL sessions run in New York time (libpq's PGTZ): times must still be
        # stored and read back as the same instants.
        pg = pool.submit(
            chain, pg_url, tmp / "pg_snapshots", "boston", "nyc", "nyc", PGTZ="America/New_York"
        )
        lite = pool.submit(chain, sqlite_url, tmp / "sqlite_snapshots", "boston", "nyc")
        return Loaded(
            pg_url=pg_url,
            sqlite_url=sqlite_url,
            pg=pg.result(),
            sqlite=lite.result(),
            pg_snapshots=tmp / "pg_snapshots",
            sqlite_snapshots=tmp / "sqlite_snapshots",
        )


@pytest.fixture
def stores(loaded: Loaded, cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Writable copies of the loaded stores: (PostGIS, SQLite)."""
    pg = Store(cluster.clone(_dbname(loaded.pg_url)))
    target = tmp_path / "copy.db"
    src = sqlite3.connect(make_url(loaded.sqlite_url).database)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    lite = Store(f"sqlite:///{target}")
    yield pg, lite
    pg.dispose()
    lite.dispose()


@pytest.fixture
def loaded_stores(loaded: Loaded) -> Iterator[tuple[Store, Store]]:
    """The loaded stores themselves, for reading only: (PostGIS, SQLite)."""
    pg, lite = Store(loaded.pg_url), Store(loaded.sqlite_url)
    yield pg, lite
    pg.dispose()
    lite.dispose()


def _scalar(store: Store, sql: str, **params: Any) -> Any:
    with store.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _utc(values: pd.Series) -> pd.Series:
    """Times as UTC instants, whether the driver gave naive UTC (SQLite) or aware (psycopg)."""
    series = pd.to_datetime(values)
    if series.dt.tz is None:
        return series.dt.tz_localize("UTC")
    return series.dt.tz_convert("UTC")


def _cases(store: Store) -> pd.DataFrame:
    c = schema.cases.c
    columns = [*schema.CASE_FIELDS, *schema.H3_FIELDS, "row_hash"]
    query = sa.select(*(getattr(c, n) for n in columns)).order_by(c.source, c.request_id)
    with store.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=columns)
    for name in schema.TIME_FIELDS:
        frame[name] = _utc(frame[name])
    for name in schema.H3_FIELDS:
        frame[name] = frame[name].astype("Int64")
    return frame.set_index(["source", "request_id"])


# -- schema -------------------------------------------------------------------------------------
def test_migrate_creates_postgis_schema_and_is_idempotent(pg_url: str) -> None:
    from alembic.script import ScriptDirectory

    store = Store(pg_url)
    try:
        store.migrate()
        with store.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert {*TABLES, "alembic_version"} <= tables
            geometry = conn.execute(
                sa.text(
                    "SELECT type, srid, coord_dimension FROM geometry_columns "
                    "WHERE f_table_name = 'cases' AND f_geometry_column = 'geom'"
                )
            ).one()
            assert tuple(geometry) == ("POINT", 4326, 2)
            assert (
                conn.execute(sa.text("SELECT Find_SRID('public', 'cases', 'geom')")).scalar()
                == 4326
            )
            assert (
                conn.execute(
                    sa.text(
                        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = 'cases'::regclass AND attname = 'geom'"
                    )
                ).scalar()
                == "geometry(Point,4326)"
            )
            gist = conn.execute(
                sa.text(
                    "SELECT am.amname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = 'cases'::regclass AND a.attname = 'geom'"
                )
            ).all()
            assert [row[0] for row in gist] == ["gist"], gist

        def shape() -> tuple:
            with store.connect() as conn:
                return (
                    conn.execute(
                        sa.text(
                            "SELECT table_name, column_name, data_type FROM "
                            "information_schema.columns WHERE table_schema = 'public' "
                            "ORDER BY 1, 2"
                        )
                    ).all(),
                    conn.execute(
                        sa.text(
                            "SELECT indexname, indexdef FROM pg_indexes "
                            "WHERE schemaname = 'public' ORDER BY 1"
                        )
                    ).all(),
                    conn.execute(sa.text("SELECT version_num FROM alembic_version")).all(),
                )

        before = shape()
        store.migrate()
        assert shape() == before
        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        assert before[2] == [(head,)]
        assert store.schema_revision() == head
    finally:
        store.dispose()


def test_migrated_postgis_schema_matches_the_tables_in_schema_py(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store(pg_url)
    try:
        store.migrate()
        with store.connect() as conn, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Did not recognize type .geometry.")
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        # Only the PostGIS column and its index (hand written in the migration, not in
        # schema.py) and PostGIS' own spatial_ref_sys differ.
        found = sorted((d[0], d[-1].name) for d in diff)
        assert found == [
            ("remove_column", "geom"),
            ("remove_index", "ix_cases_geom"),
            ("remove_table", "spatial_ref_sys"),
        ]
    finally:
        store.dispose()


# -- loading through the CLI --------------------------------------------------------------------
def test_cli_ingest_counts_on_postgis_match_sqlite(loaded: Loaded) -> None:
    counted = ("read", "inserted", "updated", "unchanged", "quarantined", "format", "source")
    for name, rows in (("boston", BOSTON_ROWS), ("nyc", NYC_ROWS)):
        for report in [*loaded.pg[name], *loaded.sqlite[name]]:
            assert report["read"] == rows
            assert report["read"] == (
                report["inserted"]
                + report["updated"]
                + report["unchanged"]
                + sum(report["quarantined"].values())
            )
        first, (sqlite_report,) = loaded.pg[name][0], loaded.sqlite[name]
        assert {k: first[k] for k in counted} == {k: sqlite_report[k] for k in counted}
    assert loaded.pg["boston"][0]["inserted"] == BOSTON_ROWS
    first, second = loaded.pg["nyc"]
    assert first["inserted"] == NYC_ROWS - 2
    assert first["quarantined"] == {"closed_before_requested": 2}
    # The second load of the same file changes nothing.
    assert second["inserted"] == 0 and second["updated"] == 0
    assert second["unchanged"] == first["inserted"]
    assert second["quarantined"] == first["quarantined"]


def test_postgis_store_contents_after_cli_loads(loaded_stores: tuple[Store, Store]) -> None:
    pg, lite = loaded_stores
    expected = BOSTON_ROWS + NYC_ROWS - 2
    assert pg.count_cases() == lite.count_cases() == expected
    # The generated geometry is exactly the stored coordinates, and only where there are some.
    with pg.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL), "
                "count(geom), "
                "count(*) FILTER (WHERE geom IS NOT NULL AND "
                "  (ST_X(geom) <> lon OR ST_Y(geom) <> lat OR ST_SRID(geom) <> 4326)) "
                "FROM cases"
            )
        ).one()
    with_coords, with_geom, mismatched = row
    assert with_coords == with_geom > 50_000
    assert mismatched == 0
    # Runs and quarantine are recorded the same way (a re-load quarantines nothing twice).
    assert _scalar(pg, "SELECT count(*) FROM quarantine") == 2
    assert _scalar(lite, "SELECT count(*) FROM quarantine") == 2
    assert pg.latest_run_id() == 3 and lite.latest_run_id() == 2
    runs = {r["id"]: r for r in pg.runs()}
    assert [runs[i]["inserted"] for i in (1, 2, 3)] == [BOSTON_ROWS, NYC_ROWS - 2, 0]
    assert [runs[i]["unchanged"] for i in (1, 2, 3)] == [0, 0, NYC_ROWS - 2]
    assert all(r["finished_at"] is not None for r in runs.values())
    # The loader gives ids itself; the id sequence was moved past them.
    sequence = _scalar(pg, "SELECT pg_get_serial_sequence('cases', 'id')")
    assert _scalar(pg, f"SELECT last_value FROM {sequence}") == _scalar(
        pg, "SELECT max(id) FROM cases"
    )


# -- spatial queries ----------------------------------------------------------------------------
def _haversine_m(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    p1, p2 = np.radians(lat), math.radians(lat0)
    dphi, dlmb = p1 - p2, np.radians(lon) - math.radians(lon0)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * SPHERE_RADIUS_M * np.arcsin(np.sqrt(a))


def test_st_dwithin_matches_haversine_in_pandas(loaded_stores: tuple[Store, Store]) -> None:
    pg, _ = loaded_stores
    lat0, lon0 = CITY_HALL
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"
    with pg.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT id, lat, lon FROM cases WHERE lat IS NOT NULL"), conn)
        sphere = set(
            conn.execute(
                sa.text(
                    f"SELECT id FROM cases WHERE ST_DWithin(geom::geography, {point}, 500, false)"
                ),
                {"lat": lat0, "lon": lon0},
            ).scalars()
        )
        spheroid = set(
            conn.execute(
                sa.text(f"SELECT id FROM cases WHERE ST_DWithin(geom::geography, {point}, 500)"),
                {"lat": lat0, "lon": lon0},
            ).scalars()
        )
    distance = _haversine_m(frame["lat"].to_numpy(), frame["lon"].to_numpy(), lat0, lon0)
    expected = set(frame.loc[distance <= 500, "id"])
    assert len(expected) > 500  # downtown Boston: a real test, not 0 == 0
    assert sphere == expected
    # On the spheroid the distances differ by well under 1 %: only cases near 500 m may differ.
    near_edge = set(frame.loc[np.abs(distance - 500) < 5, "id"])
    assert sphere ^ spheroid <= near_edge


def test_gist_index_serves_bounding_box_queries(loaded_stores: tuple[Store, Store]) -> None:
    pg, lite = loaded_stores
    box = (-71.0705, 42.3505, -71.0505, 42.3605)  # min_lon, min_lat, max_lon, max_lat
    sql = "SELECT id FROM cases WHERE geom && ST_MakeEnvelope(:a, :b, :c, :d, 4326)"
    params = dict(zip("abcd", box, strict=True))
    with pg.connect() as conn:
        conn.exec_driver_sql("ANALYZE cases")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + sql), params).scalars())
        got = set(conn.execute(sa.text(sql), params).scalars())
        request_ids = set(
            conn.execute(
                sa.text("SELECT source || ':' || request_id FROM cases WHERE id = ANY(:ids)"),
                {"ids": list(got)},
            ).scalars()
        )
    assert "ix_cases_geom" in plan, plan
    frame = _cases(lite).reset_index()
    inside = frame["lon"].between(box[0], box[2]) & frame["lat"].between(box[1], box[3])
    expected = set(frame.loc[inside, "source"] + ":" + frame.loc[inside, "request_id"])
    assert len(expected) > 500
    assert request_ids == expected


# -- content parity -----------------------------------------------------------------------------
def test_cases_on_postgis_equal_cases_on_sqlite(loaded_stores: tuple[Store, Store]) -> None:
    pg, lite = loaded_stores
    on_pg, on_sqlite = _cases(pg), _cases(lite)
    assert len(on_pg) == BOSTON_ROWS + NYC_ROWS - 2
    pd.testing.assert_frame_equal(on_pg, on_sqlite, check_exact=True)
    assert on_pg["requested_at"].notna().all()
    assert on_pg["due_at"].notna().sum() > 40_000

    # Point lookups (tracking number, Open311) give the same case on both, times as UTC instants.
    rng = np.random.default_rng(311)
    sample = on_pg.reset_index().iloc[rng.choice(len(on_pg), size=60, replace=False)]
    skip = {"id", "geom", "first_run_id", "last_run_id"}
    for source, request_id in zip(sample["source"], sample["request_id"], strict=True):
        a = pg.get_case(request_id, source=source)
        b = lite.get_case(request_id, source=source)
        assert a is not None and b is not None
        for key in set(a) | set(b):
            if key in skip:
                continue
            va, vb = a.get(key), b.get(key)
            if key in schema.TIME_FIELDS and va is not None and vb is not None:
                va, vb = pd.Timestamp(va).tz_convert("UTC"), pd.Timestamp(vb).tz_localize("UTC")
            assert va == vb, (source, request_id, key, va, vb)
    # A known Boston case: 2011-07-01 01:32:33 in Boston (EDT) is 05:32:33 UTC.
    case = pg.get_case("101000295613", source="boston")
    assert case is not None
    assert pd.Timestamp(case["requested_at"]) == pd.Timestamp("2011-07-01 05:32:33", tz="UTC")


def test_snapshot_written_from_postgis_equals_the_one_from_sqlite(loaded: Loaded) -> None:
    frames = []
    for directory in (loaded.pg_snapshots, loaded.sqlite_snapshots):
        snap = current_snapshot(directory)
        assert snap is not None
        frame = pd.read_parquet(snap / "cases.parquet")
        assert frame["requested_at"].is_monotonic_increasing
        frames.append(frame.sort_values(["source", "request_id"], ignore_index=True))
    on_pg, on_sqlite = frames
    assert len(on_pg) == BOSTON_ROWS + NYC_ROWS - 2
    assert "description" not in on_pg.columns and "resolution" not in on_pg.columns
    pd.testing.assert_frame_equal(on_pg, on_sqlite, check_exact=True)


# -- boundaries ---------------------------------------------------------------------------------
def _areas(store: Store) -> dict[tuple[str, str], str]:
    query = sa.text(
        "SELECT c.source, c.request_id, a.area FROM case_areas a "
        "JOIN cases c ON c.id = a.case_id JOIN boundary_layers l ON l.id = a.layer_id "
        "WHERE l.name = 'neighborhood'"
    )
    with store.connect() as conn:
        return {(s, r): area for s, r, area in conn.execute(query)}


def test_boundaries_add_on_postgis_assigns_the_same_areas_as_sqlite(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    pg, lite = stores
    args = ["boundaries", "add", str(BOSTON_NEIGHBORHOODS), "--layer", "neighborhood"]
    args += ["--name-field", "name"]
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(
                _cli,
                args,
                url=store.url.render_as_string(hide_password=False),
                snapshots=tmp_path / name,
            )
            for store, name in ((pg, "pg"), (lite, "sqlite"))
        ]
        outputs = [r.result() for r in runs]
    for proc in outputs:
        assert proc.returncode == 0, proc.stderr
    assert outputs[0].stdout.split("(")[0] == outputs[1].stdout.split("(")[0]
    on_pg, on_sqlite = _areas(pg), _areas(lite)
    assert len(on_pg) > 50_000
    assert on_pg == on_sqlite
    assert {source for source, _ in on_pg} == {"boston"}  # no NYC case lies in Boston
    assert len(set(on_pg.values())) > 20
    assert pg.boundary_areas("neighborhood") == lite.boundary_areas("neighborhood")
    # The snapshot written by the command carries the areas too.
    snap = current_snapshot(tmp_path / "pg")
    assert snap is not None
    frame = pd.read_parquet(
        snap / "cases.parquet", columns=["source", "request_id", "area_neighborhood"]
    )
    frame = frame.dropna(subset=["area_neighborhood"])
    keys = zip(frame["source"], frame["request_id"], strict=True)
    assert dict(zip(keys, frame["area_neighborhood"], strict=True)) == on_pg


# -- all or nothing -----------------------------------------------------------------------------
def _fingerprint(store: Store) -> dict[str, Any]:
    with store.connect() as conn:
        out: dict[str, Any] = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES
        }
        out["cases"] = conn.execute(
            sa.text(
                "SELECT count(*), md5(string_agg(source || request_id || row_hash || "
                "coalesce(status, '') || last_run_id::text, ',' ORDER BY id)) FROM cases"
            )
        ).one()
    out["version"] = store.data_version()
    return out


def _nyc_with_new_descriptions(path: Path) -> Path:
    with NYC_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("Descriptor")
    for row in rows[1:]:
        row[column] = f"{row[column]} (edited)"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_failing_load_leaves_postgis_unchanged(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl import load

    settings = make_settings(tmp_path, database_url=pg_url, batch_size=1_000)
    store = Store(pg_url)
    try:
        load.load_file(NYC_CSV, store=store, settings=settings, progress=False)
        before = _fingerprint(store)
        snapshot = current_snapshot(settings.snapshot_dir)
        assert before["cases"][0] == NYC_ROWS - 2

        # 1. An exception in the third batch, after two batches of updates were written.
        edited = _nyc_with_new_descriptions(tmp_path / "nyc_edited.csv")
        original = load.Loader._upsert
        seen: list[int] = []

        def failing_upsert(self, conn, run_id, report, cases, layers, *rest):
            original(self, conn, run_id, report, cases, layers, *rest)
            seen.append(report.updated)
            if len(seen) == 3:
                raise RuntimeError("injected failure")

        monkeypatch.setattr(load.Loader, "_upsert", failing_upsert)
        with pytest.raises(RuntimeError, match="injected failure"):
            load.load_file(edited, store=store, settings=settings, progress=False)
        assert seen[-1] > 2_000  # rows really were updated inside the transaction
        assert _fingerprint(store) == before
        monkeypatch.setattr(load.Loader, "_upsert", original)

        # 2. Through the CLI: the edited export gzipped, unreadable after some 3,000 rows.
        packed = gzip.compress(edited.read_bytes(), compresslevel=1)
        cut = packed[: len(packed) * 2 // 3]
        with gzip.open(io.BytesIO(cut)) as fh, pytest.raises(EOFError):
            fh.read()
        truncated = tmp_path / "nyc_edited_truncated.csv.gz"
        truncated.write_bytes(cut)
        proc = _cli(
            ["ingest", str(truncated), "--json"],
            url=pg_url,
            snapshots=settings.snapshot_dir,
            STAT311_BATCH_SIZE="1000",
            STAT311_LOG_LEVEL="INFO",
        )
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert proc.stderr.count("batch loaded") >= 2  # batches were written, then undone
        assert "cannot be read" in proc.stderr
        assert _fingerprint(store) == before
        assert current_snapshot(settings.snapshot_dir) == snapshot

        # 3. The same refusal in process, with its own error type.
        with pytest.raises(InputFileError, match="cannot be read"):
            load.load_file(truncated, store=store, settings=settings, progress=False)
        assert _fingerprint(store) == before

        # The store still works: the edited file loads whole afterwards.
        report = load.load_file(
            edited, store=store, settings=settings, progress=False, snapshot=False
        )
        assert report.updated == NYC_ROWS - 2 and report.inserted == 0
    finally:
        store.dispose()


def test_loads_running_at_the_same_time_never_get_the_same_case_ids(pg_url: str) -> None:
    """Ids come from the sequence: two open load transactions reserve disjoint ids, and the
    sequence stays ahead of both (no max(id) + 1 race)."""
    store = Store(pg_url)
    store.migrate()
    with store.transaction() as first, store.transaction() as second:
        a = store.reserve_case_ids(first, 1_000)
        b = store.reserve_case_ids(second, 1_000)
        c = store.reserve_case_ids(first, 10)
    assert len(set(a) | set(b) | set(c)) == 2_010
    assert list(a) == sorted(a) and list(c) == sorted(c)
    sequence = _scalar(store, "SELECT pg_get_serial_sequence('cases', 'id')")
    assert _scalar(store, f"SELECT last_value FROM {sequence}") == max(max(a), max(b), max(c))
    store.dispose()


def test_sessions_are_in_utc_and_keep_the_urls_own_options(pg_url: str) -> None:
    """Every PostgreSQL session is in UTC whatever the server's zone (times come back as
    written), and ``options`` given in the database URL (a search_path) are kept beside it."""
    from urllib.parse import quote

    plain = Store(pg_url)
    given = Store(pg_url + ("&" if "?" in pg_url else "?") + "options=" + quote("-c search_path=x"))
    try:
        with plain.connect() as conn:
            assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        with given.connect() as conn:
            assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
            assert conn.exec_driver_sql("SHOW search_path").scalar() == "x"
    finally:
        plain.dispose()
        given.dispose()
