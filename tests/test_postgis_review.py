"""PostGIS review: what a city can do on SQLite must work the same on PostgreSQL.

Uses the throwaway cluster of ``tests/test_postgis.py`` (one per module, a database cloned per
test). Expected values come from the same work done on SQLite or from the input files.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.snapshot import current_snapshot
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.migrations import migrate_after

# The module's throwaway cluster and its per-test databases: the fixtures of test_postgis.py.
from tests.test_postgis import STAT311, _cli, _scalar, cluster, pg_url  # noqa: F401

pytestmark = pytest.mark.postgis


# -- text PostgreSQL cannot hold ------------------------------------------------------------------
def _requests_json(path: Path, description: str) -> Path:
    """An Open311 requests.json whose escapes decode to NUL characters (the reader replaces NUL
    bytes in a file's lines, but a JSON ``\\u0000`` only becomes one when parsed)."""
    base = {"status": "open", "service_code": "SC", "service_name": "Pothole"}
    base |= {"lat": 42.3, "long": -71.0}
    requests = [
        {**base, "service_request_id": "J1", "requested_datetime": "2018-01-01T00:00:00Z"}
        | {"description": description, "address": "1 Main \u0000 St"},
        {**base, "service_request_id": "J3\u0000", "requested_datetime": "2018-01-02T00:00:00Z"},
        {**base, "service_request_id": "J4", "requested_datetime": "bad\u0000time"},
    ]
    path.write_text(json.dumps(requests), encoding="utf-8")
    return path


def test_nul_characters_from_json_load_on_postgis_as_on_sqlite(
    pg_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    first = _requests_json(tmp_path / "requests.json", "nul \u0000 here")
    edited = _requests_json(tmp_path / "edited.json", "edited \u0000 again")
    reports: dict[str, list[tuple]] = {}
    stores = {"pg": Store(pg_url), "sqlite": Store(f"sqlite:///{tmp_path / 'lite.db'}")}
    try:
        for name, store in stores.items():
            url = store.url.render_as_string(hide_password=False)
            settings = make_settings(tmp_path / name, database_url=url)
            reports[name] = [
                (r.read, r.inserted, r.updated, r.unchanged, r.quarantined)
                for r in (
                    load_file(path, store=store, settings=settings, progress=False)
                    for path in (first, first, edited)
                )
            ]
        assert (
            reports["pg"]
            == reports["sqlite"]
            == [
                (3, 2, 0, 0, {"unparseable_requested_at": 1}),
                (3, 0, 0, 2, {"unparseable_requested_at": 1}),
                (3, 0, 1, 1, {"unparseable_requested_at": 1}),
            ]
        )
        pg = stores["pg"]
        case = pg.get_case("J1", source="open311")
        assert case is not None
        assert (case["description"], case["address"]) == ("edited \ufffd again", "1 Main \ufffd St")
        assert pg.get_case("J3\ufffd", source="open311") is not None
        (raw,) = [row["raw"] for row in pg.quarantined()]
        assert "J4,bad\ufffdtime," in raw and "\x00" not in raw
        # (the JSON reader replaces NUL for every store now; the store's own replacement is for
        # NULs that reach it another way)
        assert stores["sqlite"].get_case("J3\ufffd", source="open311") is not None
        # The snapshot has the cases as stored.
        snap = current_snapshot(tmp_path / "pg" / "snapshots")
        assert snap is not None
        frame = pd.read_parquet(snap / "cases.parquet")
        assert sorted(frame["request_id"]) == ["J1", "J3\ufffd"]
    finally:
        for store in stores.values():
            store.dispose()


# -- writers at the same time ---------------------------------------------------------------------
def _generated(tmp_path: Path, cases: int) -> Path:
    path = tmp_path / "generated.csv"
    proc = subprocess.run(
        [str(STAT311), "generate", "--cases", str(cases), "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return path


def test_loads_at_the_same_time_on_postgis_wait_for_each_other(
    pg_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """A second load started while a first one has written uncommitted cases waits for it, as
    on SQLite (instead of failing on the unique key), and the snapshot has every case."""
    big = _generated(tmp_path, 60_000)
    lines = big.read_text(encoding="utf-8").splitlines(keepends=True)
    small = tmp_path / "small.csv"  # the first 500 cases of the big file
    small.write_text("".join(lines[:501]), encoding="utf-8")
    snapshots = tmp_path / "snapshots"
    Store(pg_url).migrate()
    environ = _load_env(pg_url, snapshots)
    first = _start_ingest(big, environ, "--json", stdout=subprocess.PIPE)
    store = Store(pg_url)
    try:
        # Wait until the first load has copied cases in its still open transaction.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            copied = _scalar(
                store,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid() "
                "AND (query LIKE 'COPY cases%' OR query LIKE 'SELECT request_id%')",
            )
            if copied or first.poll() is not None:
                break
            time.sleep(0.02)
        assert first.poll() is None, "the first load ended before the second started"
        second = _cli(["ingest", str(small), "--json"], url=pg_url, snapshots=snapshots)
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        assert second.returncode == 0, second.stderr
        big_report = json.loads(out.strip().splitlines()[-1])
        small_report = json.loads(second.stdout.strip().splitlines()[-1])
        assert small_report["inserted"] == 0 and small_report["updated"] == 0
        assert small_report["unchanged"] + sum(small_report["quarantined"].values()) == 500
        total = _scalar(store, "SELECT count(*) FROM cases")
        assert total == big_report["inserted"] > 59_000
        assert _scalar(store, "SELECT count(DISTINCT (source, request_id)) FROM cases") == total
        snap = current_snapshot(snapshots)
        assert snap is not None
        assert len(pd.read_parquet(snap / "cases.parquet", columns=["id"])) == total
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        store.dispose()


def test_a_small_load_finishing_first_is_in_the_snapshot_with_the_big_one(
    pg_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """Run ids follow commit order: a load started later never takes a run id below one still
    being written (the snapshot of the newest run would miss the older run's cases)."""
    big = _generated(tmp_path, 40_000)
    lines = big.read_text(encoding="utf-8").splitlines(keepends=True)
    small = tmp_path / "small.csv"
    rows = [line.replace("101000", "909000", 1) for line in lines[1:301]]  # other request ids
    small.write_text(lines[0] + "".join(rows), encoding="utf-8")
    snapshots = tmp_path / "snapshots"
    Store(pg_url).migrate()
    environ = _load_env(pg_url, snapshots)
    first = _start_ingest(big, environ, stdout=subprocess.DEVNULL)
    store = Store(pg_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            started = _scalar(
                store,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
            )
            if started:
                break
            time.sleep(0.02)
        assert first.poll() is None, "the first load ended before the second started"
        second = _cli(["ingest", str(small)], url=pg_url, snapshots=snapshots)
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        assert second.returncode == 0, second.stderr
        total = _scalar(store, "SELECT count(*) FROM cases")
        snap = current_snapshot(snapshots)
        assert snap is not None
        assert len(pd.read_parquet(snap / "cases.parquet", columns=["id"])) == total > 39_000
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        store.dispose()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}


def _load_env(url: str, snapshots: Path) -> dict[str, str]:
    """The settings of a load in a second process: small batches, so it is caught half-way."""
    return {
        "STAT311_DATABASE_URL": url,
        "STAT311_SNAPSHOT_DIR": str(snapshots),
        "STAT311_LOG_LEVEL": "WARNING",
        "STAT311_BATCH_SIZE": "2000",
    }


def _start_ingest(path: Path, environ: dict[str, str], *args: str, stdout: Any) -> Any:
    """``stat311 ingest PATH`` started in the background (its stderr piped)."""
    return subprocess.Popen(
        [str(STAT311), "ingest", str(path), *args],
        env={**_base_env(), **environ},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_migrations_at_the_same_time_on_postgis(
    pg_url: str,  # noqa: F811 - the fixture imported above
) -> None:
    """Commands started at once on a new database (every command migrates first) all succeed."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=migrate_after, args=(pg_url, barrier)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    store = Store(pg_url)
    try:
        engine_tables = set(sa.inspect(store.engine).get_table_names())
        assert {"cases", "users", "audit_log"} <= engine_tables
        assert _scalar(store, "SELECT count(*) FROM alembic_version") == 1
    finally:
        store.dispose()
