from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from dashboard.urlstate import MAX_VALUE_LENGTH, FilterState, from_query


def test_round_trip() -> None:
    state = FilterState(
        start=date(2011, 8, 1),
        end=date(2011, 10, 31),
        department=("PWDx", "BTDT"),
        type=("Street Light Outages", "Pothole, large"),
        status=("open",),
        channel=("app",),
        layer="neighborhood",
        area=("Roxbury", "South End"),
        period="month",
    )
    query = state.to_query()
    assert "department=PWDx&department=BTDT" in query
    assert from_query(query) == state


def test_dash_pages_mapping_form() -> None:
    # Dash Pages passes one value as a string and repeated keys as a list.
    state = from_query({"department": ["PWDx", "BTDT"], "type": "Pothole", "from": "2011-07-01"})
    assert state.department == ("PWDx", "BTDT") and state.type == ("Pothole",)
    assert state.start == date(2011, 7, 1) and state.end is None


def test_defaults_are_left_out_of_the_link() -> None:
    assert FilterState().to_query() == ""
    assert FilterState(period="week").to_query() == ""


def test_bad_values_are_ignored_not_errors() -> None:
    state = from_query("?from=yesterday&to=2011-13-45&period=decade&area=x&layer=")
    assert state == FilterState()


def test_reversed_dates_are_swapped() -> None:
    state = from_query("?from=2011-12-31&to=2011-07-01")
    assert (state.start, state.end) == (date(2011, 7, 1), date(2011, 12, 31))


@given(st.text(max_size=3000))
def test_any_query_string_parses(text: str) -> None:
    state = from_query(text)
    assert all(len(v) <= MAX_VALUE_LENGTH for v in state.department + state.type + state.area)
    assert from_query(state.to_query()) == state
