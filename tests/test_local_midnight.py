"""A local midnight that does not exist, or exists twice, is an instant like any other.

In America/Sao_Paulo the clocks went from 00:00 to 01:00 on 4 November 2018, so that day has
no midnight; in America/Havana they went back from 01:00 to 00:00 on 13 November 2011, so it
had two. A period ending the day before, or ``stat311 sla --as-of`` that day, must give the
day's first instant (the first one when there are two), as the SLA engine always did, and not
a traceback. The expected instants are worked out here with pandas' own rules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from callbacks import department as cb
from dashboard.cli import main
from dashboard.periods import local_end, local_start
from dashboard.services import Services
from dashboard.sla import SlaEngine
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.components import walk
from tests.support.exports import write_boston_export

ZONE = "America/Sao_Paulo"


def _pandas_first_instant(day: date, zone: str) -> pd.Timestamp:
    return (
        pd.Timestamp(day)
        .tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
        .tz_convert("UTC")
    )


@pytest.mark.parametrize(
    ("zone", "day", "local_clock"),
    [
        ("America/Sao_Paulo", date(2018, 11, 4), "01:00"),  # no midnight: the day starts at 01:00
        ("America/Havana", date(2011, 3, 20), "01:00"),  # no midnight
        ("America/Havana", date(2011, 11, 13), "00:00"),  # two midnights: the first
        ("America/New_York", date(2011, 11, 6), "00:00"),  # the change is at 02:00
        ("UTC", date(2011, 11, 6), "00:00"),
    ],
)
def test_the_first_instant_of_a_local_day(zone: str, day: date, local_clock: str) -> None:
    start = pd.Timestamp(local_start(day, zone))
    assert start == _pandas_first_instant(day, zone)
    local = start.tz_convert(zone)
    assert local.date() == day and f"{local:%H:%M}" == local_clock
    # Nothing of the day comes before it: a second earlier is the day before.
    assert (start - pd.Timedelta(seconds=1)).tz_convert(zone).date() < day
    assert pd.Timestamp(local_end(day - pd.Timedelta(days=1), zone)) == start


def test_havana_first_midnight_is_an_hour_before_the_second() -> None:
    first = pd.Timestamp(local_start(date(2011, 11, 13), "America/Havana"))
    second = pd.Timestamp("2011-11-13 00:00").tz_localize("America/Havana", ambiguous=False)
    assert second.tz_convert("UTC") - first == pd.Timedelta(hours=1)


def _store_in_sao_paulo(tmp: Path):
    """Four PWDx cases read as Sao Paulo local time: due before, on and after the missing
    midnight of 4 November 2018."""
    settings = make_settings(tmp, timezone=ZONE)
    rows = [
        # due 2 Nov, closed in time: on time
        {"case_enquiry_id": "1", "open_dt": "2018-11-01 09:00:00",
         "target_dt": "2018-11-02 09:00:00", "closed_dt": "2018-11-01 15:00:00",
         "case_status": "Closed"},
        # due 3 Nov 23:30, closed on 5 Nov: a miss, and still open at the start of 4 Nov
        {"case_enquiry_id": "2", "open_dt": "2018-11-01 10:00:00",
         "target_dt": "2018-11-03 23:30:00", "closed_dt": "2018-11-05 08:00:00",
         "case_status": "Closed"},
        # due 4 Nov 02:00 (after the gap), closed in time
        {"case_enquiry_id": "3", "open_dt": "2018-11-02 10:00:00",
         "target_dt": "2018-11-04 02:00:00", "closed_dt": "2018-11-04 01:30:00",
         "case_status": "Closed"},
        # due 6 Nov, still open
        {"case_enquiry_id": "4", "open_dt": "2018-11-03 10:00:00",
         "target_dt": "2018-11-06 10:00:00", "case_status": "Open"},
    ]  # fmt: skip
    export = write_boston_export(tmp / "sao_paulo.csv", rows)
    from dashboard.store import Store

    store = Store(settings.database_url)
    store.migrate()
    load_file(export, store=store, settings=settings, progress=False)
    store.dispose()
    return settings


def test_a_period_ending_before_a_missing_midnight(tmp_path: Path) -> None:
    settings = _store_in_sao_paulo(tmp_path)
    services = Services.from_settings(settings)
    query = "?period=custom&from=2018-11-01&to=2018-11-03"
    as_of = pd.Timestamp("2018-12-01", tz="UTC")
    scope, problem = cb.resolve(services, "PWDx", query, as_of=as_of)
    assert problem is None and scope is not None
    assert pd.Timestamp(scope.cut) == pd.Timestamp("2018-11-04 03:00", tz="UTC")
    engine = SlaEngine(services.read_model, services.policy, ZONE)
    assert pd.Timestamp(scope.cut) == engine._end_instant(date(2018, 11, 3))
    # The page is built and its heading counts to that instant: at 03:00 UTC on 4 Nov cases 2,
    # 3 and 4 are open (case 3 closes at 04:30 UTC), and case 2 is past its due time.
    view = cb.department_view(services, "PWDx", query, as_of=as_of)
    report = engine.report(start=date(2018, 11, 1), end=date(2018, 11, 3), as_of=as_of)
    row = report.set_index("group").loc["PWDx"]
    assert (int(row["due"]), int(row["on_time"])) == (2, 1)  # cases 1 and 2; case 1 in time
    heading = " ".join(
        child
        for node in walk(view["heading"])
        for child in [node.children]
        if isinstance(child, str)
    )
    assert "Open backlog 3, of which 1 overdue (at the end of 03 Nov 2018)" in heading
    # Days to close of the due cases that closed, in elapsed time: case 1 (13:00 -> 19:00 UTC)
    # and case 2 (1 Nov 13:00 UTC, UTC-3 -> 5 Nov 10:00 UTC, UTC-2).
    days = pd.Series([0.25, (pd.Timedelta(days=3, hours=21)) / pd.Timedelta(days=1)])
    expected = f"Median days to close {days.median():.1f}, 90th percentile {days.quantile(0.9):.1f}"
    assert expected in heading


def test_sla_as_of_a_day_without_midnight(tmp_path: Path, monkeypatch, capsys) -> None:
    settings = _store_in_sao_paulo(tmp_path)
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_TIMEZONE", ZONE)
    argv = ["sla", "--from", "2018-11-01", "--to", "2018-11-30", "--as-of", "2018-11-04"]
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    (row,) = rows
    # As of 4 Nov 01:00 local (03:00 UTC): case 1 was closed on time; case 2 was still open past
    # its due time, a miss; case 3 (due 02:00) and case 4 were not yet due, so not judged.
    assert row["department"] == "PWDx"
    assert (row["due"], row["on_time"], row["open_backlog"]) == (2, 1, 3)
