"""Days a link or a date box may name: malformed text or a day near the ends of Python's
calendar gives the default period, never an error."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard.periods import FIRST_DAY, KINDS, LAST_DAY, from_query, parse_day, period_of

DEFAULT = date(2011, 9, 14)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2011-09-05", date(2011, 9, 5)),
        (" 2011-09-05T12:00:00-04:00", date(2011, 9, 5)),
        (["2011-09-05", "2012-01-01"], date(2011, 9, 5)),
        (FIRST_DAY.isoformat(), FIRST_DAY),
        (LAST_DAY.isoformat(), LAST_DAY),
        ("0999-12-31", None),
        ("9000-01-01", None),
        ("0001-01-01", None),
        ("9999-12-31", None),
        ("2011-13-45", None),
        ("soon", None),
        ("", None),
        (None, None),
        ([], None),
    ],
)
def test_parse_day(text, day) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-07", "9999-12-31", "9999-12-25"])
def test_a_day_at_the_ends_of_the_calendar_gives_the_default_period(kind, day) -> None:
    query = {"period": kind, "date": day, "from": day, "to": day}
    period = from_query(query, default_anchor=DEFAULT)
    expected = period_of("month" if kind == "custom" else kind, DEFAULT)
    assert period == expected
    period.previous()  # and the period before it can be computed


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "custom"])
@pytest.mark.parametrize("day", [FIRST_DAY, LAST_DAY])
def test_the_first_and_last_days_allowed_have_a_period_and_a_previous_one(kind, day) -> None:
    period = from_query({"period": kind, "date": day.isoformat()}, default_anchor=DEFAULT)
    assert period.start <= day <= period.end
    before = period.previous()
    assert before.end < period.start
