"""The Hot spots page's notes say what is wrong, once (review with one day of NYC 311).

1. In the late and share modes, when none of the question's requests has a due time (NYC's
   Illegal Parking: no service level), the note says so and points to the count mode, instead
   of blaming chance and asking for a longer date range that could not help.
2. The emerging view's "too few steps" note is shown once (the alert; the empty chart points to
   it), starts with a capital letter, and when the data itself is too short says how many days
   it holds instead of asking for wider dates.

Which types have due times is read here with DuckDB straight from the snapshot's Parquet file.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import pytest

from callbacks.hotspots import SEE_NOTE, _covers_the_data, hotspot_view
from dashboard import hotspots as hs
from dashboard import hotspots_emerging as em
from dashboard.services import Services

NO_DUE = "Illegal Parking"
WITH_DUE = "Graffiti"


@pytest.fixture(scope="module")
def new_york(nyc) -> Services:
    settings, _ = nyc
    hs.clear_caches()
    return Services.from_settings(settings)


@pytest.fixture(scope="module")
def boston(demo) -> Services:
    settings, _ = demo
    hs.clear_caches()
    return Services.from_settings(settings)


def _cases(services: Services) -> duckdb.DuckDBPyConnection:
    path = str(services.read_model.snapshot() / "cases.parquet")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW cases AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
    return con


def _notes(view: dict[str, Any]) -> list[str]:
    notice = view["notice"]
    if notice is None:
        return []
    items = notice if isinstance(notice, list) else [notice]
    return [str(item.to_plotly_json()["props"]["children"]) for item in items]


def _chart_text(view: dict[str, Any]) -> str:
    figure = view["figure"]
    data = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
    return json.dumps(data, default=str)


def test_the_types_the_checks_rely_on(new_york) -> None:
    con = _cases(new_york)
    rows = dict(
        con.execute(
            "SELECT service_name, count(sla_due_at) FROM cases "
            "WHERE service_name IN (?, ?) GROUP BY 1",
            [NO_DUE, WITH_DUE],
        ).fetchall()
    )
    assert rows[NO_DUE] == 0 and rows[WITH_DUE] > 0


@pytest.mark.parametrize("mode", ["late", "share"])
def test_late_modes_say_when_no_request_has_a_due_time(new_york, mode) -> None:
    view = hotspot_view(new_york, hs.HotspotParams(type=NO_DUE, mode=mode))
    notes = _notes(view)
    assert len(notes) == 1
    note = notes[0]
    assert note.startswith("None of these ") and "has a due time, so none can be late" in note
    assert "STAT311_SLA_POLICY" in note and "Requests (count)" in note
    # Not chance, and no longer date range: neither would be true.
    assert "chance" not in note and "date range" not in note and "Widen" not in note
    assert note not in _chart_text(view) and SEE_NOTE in _chart_text(view)


def test_the_result_counts_requests_with_a_due_time(new_york) -> None:
    con = _cases(new_york)
    without = hs.analyse(new_york.read_model, hs.HotspotParams(type=NO_DUE, mode="late"))
    assert without.in_area > 0 and without.due == 0
    with_due = hs.analyse(new_york.read_model, hs.HotspotParams(type=WITH_DUE, mode="late"))
    (most,) = con.execute(
        "SELECT count(*) FROM cases WHERE service_name = ? AND sla_due_at IS NOT NULL",
        [WITH_DUE],
    ).fetchone()
    assert 0 < with_due.due <= most


def test_a_type_with_due_times_keeps_its_late_map(new_york) -> None:
    view = hotspot_view(new_york, hs.HotspotParams(type=WITH_DUE, mode="late"))
    assert not any("due time, so none can be late" in n for n in _notes(view))
    assert SEE_NOTE not in _chart_text(view)
    assert view["method"] is not None


def test_emerging_with_one_day_of_data_says_so_once(new_york) -> None:
    con = _cases(new_york)
    lo, hi = con.execute(
        "SELECT min(requested_local)::DATE, max(requested_local)::DATE FROM cases"
    ).fetchone()
    days = (hi - lo).days + 1
    assert days < 70
    view = hotspot_view(new_york, hs.HotspotParams(type=NO_DUE, mode="emerging"))
    (note,) = _notes(view)
    assert note.startswith("Emerging hot spots need at least 10 whole weeks")
    held = f"{days:,} day ({lo})" if days == 1 else f"{days:,} days (from {lo} to {hi})"
    assert f"the data holds only {held}." in note
    assert "Widen" not in note
    chart = _chart_text(view)
    assert "whole weeks" not in chart and "need at least" not in chart
    assert SEE_NOTE in chart


def test_emerging_with_a_short_range_of_long_data_asks_for_wider_dates(boston) -> None:
    params = hs.HotspotParams(
        type="Street Light Outages",
        start=date(2011, 7, 1),
        end=date(2011, 8, 1),
        mode="emerging",
    )
    view = hotspot_view(boston, params)
    (note,) = _notes(view)
    assert note == (
        "Emerging hot spots need at least 10 whole weeks; this range has 4. Widen the dates."
    )
    assert "whole weeks" not in _chart_text(view) and SEE_NOTE in _chart_text(view)


def test_step_plan_says_what_the_data_holds() -> None:
    five_months = (date(2011, 7, 1), date(2011, 11, 30))
    with pytest.raises(hs.HotspotError) as short:
        em.step_plan(date(2011, 7, 1), date(2011, 7, 31), "week", five_months)
    assert str(short.value).endswith("this range has 4. Widen the dates.")
    with pytest.raises(hs.HotspotError) as months:
        em.step_plan(*five_months, "month", five_months)
    assert str(months.value) == (
        "Emerging hot spots need at least 10 whole months; the data holds only 153 days "
        "(from 2011-07-01 to 2011-11-30). Choose weeks."
    )
    one_day = (date(2023, 2, 28), date(2023, 2, 28))
    with pytest.raises(hs.HotspotError) as day:
        em.step_plan(*one_day, None, one_day)
    assert str(day.value) == (
        "Emerging hot spots need at least 10 whole weeks; the data holds only 1 day (2023-02-28)."
    )


def test_the_chance_note_asks_for_wider_dates_only_when_they_exist(boston) -> None:
    read_model = boston.read_model
    assert _covers_the_data(read_model, hs.HotspotParams(type="Street Light Outages"))
    narrow = hs.HotspotParams(
        type="Street Light Outages", start=date(2011, 7, 1), end=date(2011, 7, 2)
    )
    assert not _covers_the_data(read_model, narrow)
