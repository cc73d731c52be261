"""A file that repeats a key with other values reported ``updated`` rows each time it was loaded,
though the store ended the same (noticed in the sixteenth session, mended in the seventeenth).
Rows of one key are still applied in file order; a key whose last row is what the store already
holds now counts every one of its rows as unchanged. The store is read back with sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from etl.load import load_file
from tests.support.exports import write_open311_requests

BASE = {"service_code": "SC", "service_name": "Pothole", "lat": 42.33, "long": -71.08,
        "requested_datetime": "2018-01-01T09:00:00Z"}  # fmt: skip


def _requests_json(path: Path, rows: list[dict]) -> Path:
    return write_open311_requests(path, rows, base=BASE)


def _stored(settings) -> dict[str, tuple]:
    con = sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///"))
    try:
        rows = con.execute("SELECT request_id, status, description, last_run_id FROM cases")
        return {r[0]: r[1:] for r in rows.fetchall()}
    finally:
        con.close()


def _counts(report) -> tuple[int, int, int]:
    assert report.read == report.inserted + report.updated + report.unchanged
    return report.inserted, report.updated, report.unchanged


A = {"service_request_id": "K", "status": "open", "description": "reported"}
B = {"service_request_id": "K", "status": "closed", "description": "fixed"}
C = {"service_request_id": "K", "status": "closed", "description": "fixed again"}
OTHER = {"service_request_id": "L", "status": "open", "description": "other"}


def test_a_repeated_key_reloaded_reports_nothing_changed(store, settings, tmp_path) -> None:
    path = _requests_json(tmp_path / "repeats.json", [A, OTHER, B])
    first = load_file(path, store=store, settings=settings)
    assert _counts(first) == (2, 1, 0)  # K inserted as A, then updated to B; L inserted
    after_first = _stored(settings)
    assert after_first["K"][:2] == ("closed", "fixed")

    again = load_file(path, store=store, settings=settings)
    assert _counts(again) == (0, 0, 3)
    assert _stored(settings) == after_first  # not even the run that last wrote K moved
    assert "0 updated" in again.summary()


def test_a_repeated_key_that_ends_elsewhere_still_counts_in_file_order(
    store, settings, tmp_path
) -> None:
    load_file(_requests_json(tmp_path / "a.json", [A, B]), store=store, settings=settings)
    # The first row is what the store holds, the second changes it.
    same_then_new = load_file(
        _requests_json(tmp_path / "b.json", [B, C]), store=store, settings=settings
    )
    assert _counts(same_then_new) == (0, 1, 1)
    assert _stored(settings)["K"][:2] == ("closed", "fixed again")
    # Both rows differ from the one before them; the store ends on the last.
    back = load_file(_requests_json(tmp_path / "c.json", [B, A]), store=store, settings=settings)
    assert _counts(back) == (0, 2, 0)
    assert _stored(settings)["K"][:2] == ("open", "reported")
    # Ending on what the store holds changes nothing, whatever comes before it.
    around = load_file(
        _requests_json(tmp_path / "d.json", [C, B, A]), store=store, settings=settings
    )
    assert _counts(around) == (0, 0, 3)
    assert _stored(settings)["K"][:2] == ("open", "reported")
