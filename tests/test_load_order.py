"""An older export loaded after a newer one reopened cases closed since (a backfill, a delayed
retry; found by review, 2026-11-26). A row updated before the stored case is now not applied,
and the report counts it as unchanged and in ``kept_newer``. The store is read back with
sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from etl.load import load_file
from tests.support.exports import write_open311_requests

BASE = {"service_code": "SC", "service_name": "Pothole", "lat": 42.33, "long": -71.08}


def _requests_json(path: Path, rows: list[dict]) -> Path:
    return write_open311_requests(path, rows, base=BASE)


def _cases(settings) -> dict[str, tuple]:
    con = sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///"))
    try:
        rows = con.execute("SELECT request_id, status, closed_at, updated_at FROM cases")
        return {r[0]: r[1:] for r in rows.fetchall()}
    finally:
        con.close()


def test_an_older_export_does_not_reopen_cases(store, settings, tmp_path) -> None:
    opened = "2018-01-01T09:00:00Z"
    old = [
        {"service_request_id": f"R{i}", "status": "open", "requested_datetime": opened,
         "updated_datetime": "2018-01-02T09:00:00Z"}
        for i in range(4)
    ]  # fmt: skip
    new = [dict(r) for r in old]
    for r in new[:2]:  # two cases closed on 5 January
        r.update(status="closed", updated_datetime="2018-01-05T09:00:00Z")
    new[2].update(updated_datetime="2018-01-05T09:00:00Z", description="looked at")
    newer = load_file(_requests_json(tmp_path / "new.json", new), store=store, settings=settings)
    assert newer.inserted == 4
    after_new = _cases(settings)
    report = load_file(_requests_json(tmp_path / "old.json", old), store=store, settings=settings)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 4)
    assert report.kept_newer == 3  # R0, R1, R2; R3's row is the same as the stored one
    assert report.as_json()["kept_newer"] == 3
    assert "(3 older than the stored case: not applied)" in report.summary()
    assert _cases(settings) == after_new
    assert after_new["R0"][0] == "closed"
    # A row as new as the stored case, or newer, still updates it.
    newest = [dict(r) for r in new]
    newest[3].update(status="closed", updated_datetime="2018-01-06T09:00:00Z")
    newest[2].update(description="again, same time")  # updated at the same instant: applied
    again = load_file(
        _requests_json(tmp_path / "newest.json", newest), store=store, settings=settings
    )
    assert (again.updated, again.unchanged, again.kept_newer) == (2, 2, 0)
    assert _cases(settings)["R3"][0] == "closed"
