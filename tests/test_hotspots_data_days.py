"""Trends are counted over the days the data covers: dates asked beyond them add no weeks of
"no requests" (which made every hot cell look rising, or falling), and a far-off year adds no
work."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from dashboard import hotspots as hs
from dashboard.queries import ReadModel
from dashboard.services import Services

STREETLIGHTS = "Street Light Outages"


@pytest.fixture(scope="module")
def services(demo) -> Services:
    settings, _ = demo
    return Services.from_settings(settings)


def test_data_days_are_the_snapshots_first_and_last_request_days(services) -> None:
    model: ReadModel = services.read_model
    path = str(model.snapshot() / "cases.parquet")
    lo, hi = (
        duckdb.connect()
        .execute(
            "SELECT min(requested_local)::DATE, max(requested_local)::DATE FROM read_parquet(?)",
            [path],
        )
        .fetchone()
    )
    assert model.data_days() == (lo, hi)
    with model.focus(hs.HotspotParams(type=STREETLIGHTS).to_filter(), ["status"]) as focused:
        assert focused.data_days() == (lo, hi)  # the data's days, not the focus's


def test_within_data_cuts_the_dates_to_the_data(services) -> None:
    model = services.read_model
    lo, hi = model.data_days()
    assert hs.within_data(model, date(1000, 1, 1), date(8999, 12, 31)) == (lo, hi)
    inside = (date(2011, 9, 1), date(2011, 10, 31))
    assert lo < inside[0] and inside[1] < hi
    assert hs.within_data(model, *inside) == inside
    assert hs.within_data(model, None, date(8999, 12, 31)) == (None, date(8999, 12, 31))


@pytest.mark.parametrize("mode", ["count", "emerging"])
def test_dates_beyond_the_data_give_the_trends_of_the_datas_days(services, mode) -> None:
    model = services.read_model
    lo, hi = model.data_days()

    def trends(start: date, end: date):
        params = hs.HotspotParams(type=STREETLIGHTS, start=start, end=end, mode=mode)
        with hs._CACHE_LOCK:
            hs._RESULTS.clear()
        cells = hs.analyse(model, params, database_url=services.settings.database_url).cells
        columns = ["h3", "trend"] + (["category", "trend_z"] if mode == "emerging" else [])
        return cells[columns].reset_index(drop=True)

    exact = trends(lo, hi)
    assert (exact["trend"] != "no trend").any()  # hot cells with a trend to compare
    # Half a year before the data first (the old code saw trends rise from it), then the first
    # and last days a link may name (the old code's 52,000 weeks took many minutes).
    for start, end in (
        (lo - timedelta(days=182), hi),
        (date(1000, 1, 1), hi),
        (lo, date(8999, 12, 31)),
        (date(2005, 1, 1), date(2015, 1, 1)),
    ):
        wider = trends(start, end)
        assert wider.equals(exact), (mode, start, end)
