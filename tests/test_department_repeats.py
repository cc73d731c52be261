"""Repeat locations on the department page: addresses with several of the department's requests
in the period. Checked against plain pandas over the store's own cases table (not the snapshot
the page reads), on the real Boston 2011 export."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import text

from callbacks.department import repeats_view
from dashboard import department as dept
from dashboard import periods
from dashboard.services import Services
from layouts.department import Ids, layout
from tests.support.components import table_cells, walk

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
SEPTEMBER = periods.period_of("month", date(2011, 9, 1))


@pytest.fixture(scope="module")
def cases(demo) -> pd.DataFrame:
    settings, store = demo
    with store.connect() as conn:
        frame = pd.read_sql(text("SELECT * FROM cases"), conn)
    local = pd.to_datetime(frame["requested_at"], utc=True).dt.tz_convert(settings.timezone)
    frame["requested_local"] = local.dt.tz_localize(None)
    frame["closed"] = pd.to_datetime(frame["closed_at"], utc=True)
    return frame


def _expected(cases: pd.DataFrame, department: str, *, exclude_duplicates: bool) -> pd.DataFrame:
    cut = min(pd.Timestamp("2011-10-01").tz_localize("America/New_York").tz_convert("UTC"), AS_OF)
    mine = cases[
        (cases["department"] == department)
        & (cases["requested_local"] >= pd.Timestamp("2011-09-01"))
        & (cases["requested_local"] < pd.Timestamp("2011-10-01"))
        & cases["address"].fillna("").str.strip().ne("")
        & (cases["location_quality"] != "default_geocode")
    ]
    if exclude_duplicates:
        mine = mine[~mine["is_duplicate"].astype(bool)]
    mine = mine.assign(
        place=mine["address"].str.strip().str.upper().str.replace(r"\s+", " ", regex=True),
        still_open=mine["closed"].isna() | (mine["closed"] > cut),
    )
    grouped = mine.groupby("place").agg(
        requests=("place", "size"),
        still_open=("still_open", "sum"),
        types=("service_name", lambda v: "; ".join(sorted(set(v)))),
    )
    grouped = grouped[grouped["requests"] >= dept.REPEAT_MIN].reset_index()
    return grouped.sort_values(
        ["requests", "still_open", "place"], ascending=[False, False, True]
    ).reset_index(drop=True)


@pytest.mark.parametrize("department", ["PWDx", "BTDT", "ISD"])
def test_repeat_locations_match_pandas_on_the_store(demo, cases, department) -> None:
    services = Services.from_settings(demo[0])
    scope = dept.make_scope(services, department, SEPTEMBER, as_of=AS_OF)
    got = dept.repeat_locations(services, scope, limit=10_000)
    expected = _expected(cases, department, exclude_duplicates=scope.exclude_duplicates)
    assert len(expected) > 0, department  # the real data has repeat places in each
    assert len(got) == len(expected) == int(got["places"].iloc[0])
    places = got["address"].str.strip().str.upper().str.replace(r"\s+", " ", regex=True)
    assert places.tolist() == expected["place"].tolist()
    assert got["requests"].tolist() == expected["requests"].tolist()
    assert got["still_open"].tolist() == expected["still_open"].astype(int).tolist()
    assert got["types"].tolist() == expected["types"].tolist()
    # The default page size keeps the busiest and still counts them all.
    top = dept.repeat_locations(services, scope)
    assert len(top) == min(dept.REPEAT_ROWS, len(expected))
    assert int(top["places"].iloc[0]) == len(expected)


def test_default_geocoded_cases_are_left_out(demo, cases) -> None:
    """The bundled export puts cases without a location at City Hall: those are not a repeat
    location, though real requests at City Hall (its own coordinates) still count."""
    services = Services.from_settings(demo[0])
    scope = dept.make_scope(services, "PWDx", SEPTEMBER, as_of=AS_OF)
    got = dept.repeat_locations(services, scope, limit=10_000)
    hall = cases[
        (cases["department"] == "PWDx")
        & cases["address"].fillna("").str.startswith("1 City Hall Plz")
        & (cases["requested_local"].dt.month == 9)
    ]
    defaulted = int((hall["location_quality"] == "default_geocode").sum())
    assert defaulted > 0  # the data has them
    row = got[got["address"].str.startswith("1 City Hall Plz")]
    real = hall[
        (hall["location_quality"] != "default_geocode") & ~hall["is_duplicate"].astype(bool)
    ]
    assert (int(row["requests"].iloc[0]) if len(row) else 0) == len(real)


def test_the_section_says_what_it_shows(demo) -> None:
    services = Services.from_settings(demo[0])
    view = repeats_view(services, "PWDx", "?period=month&date=2011-09-01", as_of=AS_OF)
    assert "addresses had 3 or more of PWDx's requests in September 2011" in view["summary"]
    assert "the 25 busiest" in view["summary"]
    rows = table_cells(view["table"])
    assert len(rows) == 1 + dept.REPEAT_ROWS
    # each row is headed by its address (a screen reader names each count by its place)
    assert all(
        row[0][:2] == ("th", {"scope": "row", "class": "repeat-address"}) for row in rows[1:]
    )
    empty = repeats_view(services, "PWDx", "?period=month&date=2019-09-01", as_of=AS_OF)
    assert empty["summary"].startswith("No address had 3 or more of PWDx's requests")
    unknown = repeats_view(services, "NOPE", "?period=month&date=2011-09-01", as_of=AS_OF)
    assert unknown["summary"] == ""
    ids = {getattr(c, "id", None) for c in walk(layout(code="PWDx"))}
    assert {Ids.REPEATS_SUMMARY, Ids.REPEATS_TABLE} <= ids
