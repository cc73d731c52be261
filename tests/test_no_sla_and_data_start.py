"""Two things the NYC review found (one day of NYC 311, 28 February 2023, and no SLA rule for
NYC in the policy):

1. Requests with no due time at all (no service level covers them) are said to have none,
   with what to do about it, not "too few due cases to judge" (which stays for some due,
   fewer than the minimum).
2. Weeks and a previous period wholly before the data's first day are not drawn or compared
   with as zeros.

Real stores: the NYC sample and the Boston 2011 demo (tests/conftest.py). Expected values are
counted here straight from the snapshot's cases with DuckDB, not from the code under test."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from callbacks import department as dept_cb
from callbacks.overview import headline_text, overview_view
from callbacks.pack import pack_model, pack_view
from dashboard import department as dept
from dashboard.periods import from_query
from dashboard.services import Services
from layouts.overview import NO_SERVICE_LEVEL, department_card

AS_OF = pd.Timestamp("2023-03-01 12:00", tz="UTC")
FEB = "?period=month&date=2023-02-01"
TOO_FEW = "too few due cases to judge"


def _cases(services: Services) -> str:
    return str(services.read_model.snapshot() / "cases.parquet")


def _timed_by_department(services: Services, start: date, end: date) -> dict[str, int]:
    """Requests opened in [start, end] per department, and how many of them have a due time."""
    rows = duckdb.sql(
        f"SELECT department, count(*), count(sla_due_at) FROM read_parquet('{_cases(services)}') "
        f"WHERE department IS NOT NULL AND requested_local >= DATE '{start}' "
        f"AND requested_local < DATE '{end}' + INTERVAL 1 DAY GROUP BY 1"
    ).fetchall()
    return {d: (int(n), int(t)) for d, n, t in rows}


def _first_day(services: Services) -> date:
    return duckdb.sql(
        f"SELECT min(requested_local)::DATE FROM read_parquet('{_cases(services)}')"
    ).fetchall()[0][0]


@pytest.fixture(scope="module")
def nyc_services(nyc) -> Services:
    return Services.from_settings(nyc[0])


@pytest.fixture(scope="module")
def boston(demo) -> Services:
    return Services.from_settings(demo[0])


# -- 1. no service level ------------------------------------------------------------------------
def test_nyc_cards_say_no_service_level_where_no_request_has_a_due_time(nyc_services) -> None:
    counts = _timed_by_department(nyc_services, date(2023, 2, 1), date(2023, 2, 28))
    untimed = {d for d, (n, t) in counts.items() if n > 0 and t == 0}
    assert untimed  # the sample has departments whose requests have no due time
    view = overview_view(nyc_services, FEB, as_of=AS_OF)
    texts = {}
    for card in view["cards"]:
        text = str(card)
        code = card.children.href.split("/department/")[1].split("?")[0]
        texts[code] = text
    assert untimed <= set(texts)
    for code, text in texts.items():
        if code in untimed:
            assert NO_SERVICE_LEVEL in text, code
            assert TOO_FEW not in text, code
        else:
            assert NO_SERVICE_LEVEL not in text, code


def test_nyc_headline_says_requests_have_no_due_time(nyc_services) -> None:
    counts = _timed_by_department(nyc_services, date(2023, 2, 1), date(2023, 2, 28))
    opened = sum(n for n, _ in counts.values())
    untimed = sum(n - t for n, t in counts.values())
    headline = overview_view(nyc_services, FEB, as_of=AS_OF)["headline"]
    assert f"{opened:,} requests opened" in headline
    assert "set service levels in the SLA policy (STAT311_SLA_POLICY)" in headline
    if untimed == opened:
        assert "none has a due time" in headline
    else:
        assert f"{untimed:,} of them have no due time" in headline


def test_headline_tells_no_due_time_from_too_few() -> None:
    period = from_query("?period=month&date=2023-02-01", default_anchor=date(2023, 2, 28))
    previous = period.previous()
    none_timed = headline_text(
        period, previous, {"due": 0, "on_time": 0, "volume": 10, "timed": 0}, min_count=20
    )
    assert "none has a due time: set service levels in the SLA policy" in none_timed
    assert TOO_FEW not in none_timed
    few = headline_text(
        period, previous, {"due": 3, "on_time": 3, "volume": 10, "timed": 10}, min_count=20
    )
    assert "3 due, too few due cases to judge: at least 20 are needed" in few
    assert "due time" not in few
    later = headline_text(
        period, previous, {"due": 0, "on_time": 0, "volume": 10, "timed": 10}, min_count=20
    )
    assert "none due" in later and "due time" not in later


def _card(**changes) -> dict:
    card = {
        "department": "X",
        "department_name": "X",
        "tier": "Not enough data",
        "style": {"color": "#475467", "icon": "bi-question-circle"},
        "compliance": None,
        "target": 0.9,
        "compliance_change": None,
        "due": 5,
        "on_time": 5,
        "volume": 30,
        "volume_change": None,
        "open_backlog": 0,
        "overdue_open": 0,
        "no_due_times": False,
        "median_days": None,
        "href": "/department/X",
    }
    return {**card, **changes}


def test_a_card_with_some_due_still_says_too_few() -> None:
    assert "too few due cases to judge (target 90%)" in str(department_card(_card()))
    assert NO_SERVICE_LEVEL not in str(department_card(_card()))
    untimed = str(department_card(_card(due=0, on_time=0, no_due_times=True)))
    assert NO_SERVICE_LEVEL in untimed and TOO_FEW not in untimed


def test_department_heading_says_no_service_level(nyc_services) -> None:
    counts = _timed_by_department(nyc_services, date(2023, 2, 1), date(2023, 2, 28))
    code = max((d for d, (n, t) in counts.items() if t == 0), key=lambda d: counts[d][0])
    view = dept_cb.department_view(nyc_services, code, FEB, as_of=AS_OF)
    heading = str(view["heading"])
    assert "No service level is set for these requests (no due times)" in heading
    assert "Too few due cases to judge" not in heading
    assert "no service level" in view["announcement"]


def test_boston_heading_with_few_due_still_says_too_few(boston) -> None:
    """A department with some cases due in a period, fewer than the minimum (counted here)."""
    path = _cases(boston)
    min_count = boston.policy.min_count
    rows = duckdb.sql(
        f"SELECT department, count(*) AS n FROM read_parquet('{path}') "
        "WHERE sla_due_local >= DATE '2011-09-01' AND sla_due_local < DATE '2011-10-01' "
        "AND ((closed_at IS NOT NULL AND closed_at <= TIMESTAMPTZ '2012-06-01 00:00:00+00') "
        "OR sla_due_at < TIMESTAMPTZ '2012-06-01 00:00:00+00') "
        "AND department IS NOT NULL AND NOT is_duplicate "
        f"GROUP BY 1 HAVING count(*) BETWEEN 1 AND {min_count - 1} ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchall()
    assert rows
    row = rows[0]
    view = dept_cb.department_view(
        boston, row[0], "?period=month&date=2011-09-01", as_of=pd.Timestamp("2012-06-01", tz="UTC")
    )
    heading = str(view["heading"])
    assert "Too few due cases to judge" in heading
    assert "No service level" not in heading


# -- 2. weeks before the data --------------------------------------------------------------------
def test_overview_leaves_out_weeks_before_the_data(nyc_services) -> None:
    first = _first_day(nyc_services)
    first_monday = pd.Timestamp(first) - pd.Timedelta(days=first.weekday())
    view = overview_view(nyc_services, FEB, as_of=AS_OF)
    assert "(no earlier data to compare with)" in view["headline"]
    assert "compared with January 2023" not in view["headline"]
    table = str(view["table"])
    assert f"{first_monday:%Y-%m-%d}" in table
    for week in pd.date_range(first_monday - pd.Timedelta(weeks=25), periods=25, freq="7D"):
        assert f"{week:%Y-%m-%d}" not in table


def test_pack_leaves_out_weeks_before_the_data(nyc_services) -> None:
    first = _first_day(nyc_services)
    first_monday = pd.Timestamp(first) - pd.Timedelta(days=first.weekday())
    model = pack_model(nyc_services, FEB, as_of=AS_OF)
    assert model["status"] == "ok"
    assert list(model["weekly"]["week"]) == [first_monday]
    for section in model["sections"]:
        assert list(section["weekly"]["week"]) == [first_monday]
    assert "no earlier data to compare with" in model["headline"]
    text = str(pack_view(nyc_services, FEB, as_of=AS_OF))
    assert "09 Jan 2023" not in text and "2023-01-09" not in text
    assert "Compared with January 2023" not in text


def test_department_trend_starts_at_the_data(nyc_services) -> None:
    first = _first_day(nyc_services)
    first_monday = pd.Timestamp(first) - pd.Timedelta(days=first.weekday())
    scope = dept.make_scope(
        nyc_services, "DSNY", from_query(FEB, default_anchor=first), as_of=AS_OF
    )
    types = dept.top_types(dept.types_report(nyc_services, scope))
    weekly = dept.weekly_by_type(nyc_services, scope, types)
    assert types and not weekly.empty
    assert set(weekly["week"]) == {first_monday}
    # Every request opened in February is still counted (nothing lost with the dropped weeks).
    opened = _timed_by_department(nyc_services, date(2023, 2, 1), date(2023, 2, 28))
    by_type = duckdb.sql(
        f"SELECT service_name, count(*) FROM read_parquet('{_cases(nyc_services)}') "
        "WHERE department = 'DSNY' GROUP BY 1"
    ).fetchall()
    expected = {t: n for t, n in by_type if t in types}
    assert weekly.groupby("type")["volume"].sum().to_dict() == expected
    assert sum(expected.values()) <= opened["DSNY"][0]


def test_boston_inside_the_data_still_compares(boston) -> None:
    """Periods inside the data keep their weeks and comparison (September 2011: August has
    data); the chart still runs 26 weeks back when the data does."""
    first = _first_day(boston)
    view = overview_view(
        boston, "?period=month&date=2011-09-01", as_of=pd.Timestamp("2012-06-01", tz="UTC")
    )
    assert "(compared with August 2011)" in view["headline"]
    weeks = [w for w in pd.date_range("2011-03-28", "2011-09-26", freq="7D")]
    table = str(view["table"])
    shown = [w for w in weeks if f"{w:%Y-%m-%d}" in table]
    expected = [w for w in weeks if w + pd.Timedelta(days=6) >= pd.Timestamp(first)]
    assert shown == expected
