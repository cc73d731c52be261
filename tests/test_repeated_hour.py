"""A closing time in the hour the autumn clock change repeats.

Boston's times carry no zone. On 6 November 2011 the hour 01:00-01:59 happened twice (daylight
time, then standard time). An ambiguous time is read as its first occurrence, but a case opened
at 01:30 (daylight) and closed at "01:10" can only have closed at the second 01:10: read as the
first it would be quarantined as closed before requested. The expected instants are written
out by hand from the offsets (EDT = UTC-4, EST = UTC-5)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.exports import write_boston_export

ROWS = [
    # the second 01:10 (06:10 UTC) is after the opening (01:30 EDT, 05:30 UTC): kept
    {"case_enquiry_id": "1", "open_dt": "2011-11-06 01:30:00", "closed_dt": "2011-11-06 01:10:00",
     "case_status": "Closed"},
    # 00:50 happened once, before the opening: closed before requested
    {"case_enquiry_id": "2", "open_dt": "2011-11-06 01:30:00", "closed_dt": "2011-11-06 00:50:00",
     "case_status": "Closed"},
    # a day without a change: 01:10 is before 01:30, whatever the hour
    {"case_enquiry_id": "3", "open_dt": "2011-11-13 01:30:00", "closed_dt": "2011-11-13 01:10:00",
     "case_status": "Closed"},
    # a time with its own offset says which 01:10 it is: before the opening
    {"case_enquiry_id": "4", "open_dt": "2011-11-06 01:30:00",
     "closed_dt": "2011-11-06T01:10:00-04:00", "case_status": "Closed"},
    # both in the repeated hour and in order: the first occurrence, as always
    {"case_enquiry_id": "5", "open_dt": "2011-11-06 01:05:00", "closed_dt": "2011-11-06 01:20:00",
     "case_status": "Closed"},
]  # fmt: skip


def test_a_closing_time_read_as_the_second_of_the_repeated_hour(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # America/New_York
    store = Store(settings.database_url)
    store.migrate()
    report = load_file(
        write_boston_export(tmp_path / "dst.csv", ROWS), store=store, settings=settings
    )
    store.dispose()
    assert report.inserted == 2
    assert report.quarantined == {"closed_before_requested": 3}
    db = sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///"))
    rows = db.execute("SELECT request_id, requested_at, closed_at FROM cases ORDER BY 1").fetchall()
    quarantined = db.execute("SELECT raw FROM quarantine").fetchall()
    db.close()
    got = {rid: (pd.Timestamp(req), pd.Timestamp(closed)) for rid, req, closed in rows}
    assert set(got) == {"1", "5"}
    assert got["1"] == (pd.Timestamp("2011-11-06 05:30"), pd.Timestamp("2011-11-06 06:10"))
    assert got["5"] == (pd.Timestamp("2011-11-06 05:05"), pd.Timestamp("2011-11-06 05:20"))
    # the others are kept in quarantine with their text as it came
    raws = " ".join(r[0] for r in quarantined)
    assert "00:50:00" in raws and "2011-11-13 01:10:00" in raws and "01:10:00-04:00" in raws
