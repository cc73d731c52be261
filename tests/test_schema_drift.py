"""An export without an optional column does not erase what the store holds there.

Found by review (2026-11-26): a Boston export without ``closed_dt`` updated 195 stored cases
and emptied every closing time (SLA compliance fell to 0%), exit 0, no warning; one without
``target_dt, latitude, longitude`` emptied due times and locations. A field the file has no
column for now keeps its stored value; the file's own columns still update as before. What the
store holds is read back with sqlite3 and compared with the rows as written."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.exports import BOSTON_LEGACY_HEADER
from tests.test_postgis import cluster, pg_url  # noqa: F401 - fixtures (a throwaway cluster)

ROWS = [
    {"case_enquiry_id": str(100 + i), "open_dt": f"2011-09-{i + 1:02d} 10:00:00",
     "target_dt": f"2011-09-{i + 3:02d} 10:00:00",
     "closed_dt": f"2011-09-{i + 2:02d} 09:00:00" if i % 2 == 0 else "",
     "case_status": "Closed" if i % 2 == 0 else "Open", "type": "Pothole",
     "department": "PWDx", "source": "Constituent Call", "location": f"{i} Main St",
     "latitude": f"{42.33 + i / 1000:.4f}", "longitude": "-71.0800", "ward": "3"}
    for i in range(6)
] + [
    {"case_enquiry_id": "106", "open_dt": "2011-09-08 10:00:00", "case_status": "Open",
     "type": "Pothole", "department": "PWDx"}  # no location stored: none to keep
]  # fmt: skip
STORED = (
    "SELECT request_id, status, closed_at, due_at, lat, lon, location_quality, h3_9, address, "
    "channel FROM cases ORDER BY request_id"
)


def _write(path: Path, rows: list[dict[str, str]], *, without: tuple[str, ...] = ()) -> Path:
    header = [h for h in BOSTON_LEGACY_HEADER if h not in without]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header])
    return path


@pytest.fixture
def loaded(tmp_path: Path):
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    store.migrate()
    report = load_file(_write(tmp_path / "full.csv", ROWS), store=store, settings=settings)
    assert report.inserted == 7
    db = Path(str(settings.database_url).removeprefix("sqlite:///"))
    yield settings, store, db
    store.dispose()


def _stored(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(STORED).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(
    "without",
    [
        ("closed_dt",),
        ("target_dt", "latitude", "longitude", "ward"),
        ("source", "location"),
    ],
)
def test_a_file_without_a_column_keeps_the_stored_values(loaded, tmp_path, without) -> None:
    settings, store, db = loaded
    before = _stored(db)
    assert sum(1 for r in before if r[2] is not None) == 3  # three closing times
    report = load_file(
        _write(tmp_path / "drift.csv", ROWS, without=without), store=store, settings=settings
    )
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 7)
    assert _stored(db) == before


def test_its_own_columns_still_update(loaded, tmp_path) -> None:
    settings, store, db = loaded
    before = {r[0]: r for r in _stored(db)}
    rows = [dict(r) for r in ROWS]
    rows[1].update(case_status="Closed")  # closed, but the file has no closed_dt column
    rows[3].update(latitude="42.3500")  # moved
    new = {**ROWS[0], "case_enquiry_id": "999"}
    report = load_file(
        _write(tmp_path / "drift.csv", [*rows, new], without=("closed_dt",)),
        store=store,
        settings=settings,
    )
    assert (report.inserted, report.updated, report.unchanged) == (1, 2, 5)
    after = {r[0]: r for r in _stored(db)}
    assert after["101"][1] == "closed" and after["101"][2] is None  # nothing to keep: none stored
    assert after["103"][4] == 42.35 and after["103"][7] != before["103"][7]  # a new H3 cell
    assert after["103"][2] == before["103"][2]  # its closing time (none) as it was
    assert after["100"] == before["100"] and after["102"][2] == before["102"][2]
    assert after["999"][2] is None  # a new case: no closing time to keep
    # A later full export still sets every field.
    full = [dict(r) for r in ROWS]
    full[1].update(case_status="Closed", closed_dt="2011-09-05 12:00:00")
    again = load_file(_write(tmp_path / "full2.csv", full), store=store, settings=settings)
    assert again.updated == 2  # case 101's closing time; case 103 moved back
    assert {r[0]: r for r in _stored(db)}["101"][2].startswith("2011-09-05 16:00:00")


@pytest.mark.postgis
def test_on_postgis_as_on_sqlite(
    pg_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """The same loads on PostgreSQL/PostGIS give the same reports and keep the same fields."""
    settings = make_settings(tmp_path / "pg", database_url=pg_url)
    store = Store(pg_url)
    store.migrate()
    try:
        first = load_file(_write(tmp_path / "full.csv", ROWS), store=store, settings=settings)
        drift = _write(tmp_path / "drift.csv", ROWS, without=("closed_dt", "latitude", "longitude"))
        second = load_file(drift, store=store, settings=settings)
        with store.engine.connect() as conn:
            closed = conn.exec_driver_sql(
                "SELECT count(closed_at), count(lat) FROM cases"
            ).fetchone()
    finally:
        store.dispose()
    assert first.inserted == 7
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 7)
    assert tuple(closed) == (3, 6)
