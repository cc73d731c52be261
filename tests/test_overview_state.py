"""The Overview's address, controls and content as plain functions: the address is the one source
of truth (Back/Forward), "Custom" starts from the period shown, a period outside the data says so,
the weekly chart has gaps (not 0%) and whole-number volume ticks, and the chart's title and the
wording follow the selection."""

from __future__ import annotations

import json
import math
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import no_update

from callbacks.overview import (
    OUTPUTS,
    every_week,
    next_query,
    overview_view,
    sync_outputs,
)
from dashboard import periods
from dashboard.services import Services
from dashboard.sla import weekly
from layouts.overview import Ids, chart_title, layout, overview_figure

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
MONTH = "?period=month&date=2011-09-01"
URL = f"{Ids.URL}.search"
KIND = f"{Ids.KIND}.value"
DATE = f"{Ids.DATE}.value"
START = f"{Ids.RANGE_START}.value"
END = f"{Ids.RANGE_END}.value"
DEPARTMENT = f"{Ids.DEPARTMENT}.value"
NAMES = {
    "headline": f"{Ids.HEADLINE}.children",
    "notice": f"{Ids.NOTICE}.children",
    "cards": f"{Ids.CARDS}.children",
    "chart_title": f"{Ids.CHART_TITLE}.children",
    "chart": f"{Ids.CHART}.figure",
    "url": URL,
    "canonical": f"{Ids.CANONICAL}.data",
    "kind": KIND,
    "date": DATE,
    "start": START,
    "end": END,
    "departments": DEPARTMENT,
}


@pytest.fixture(scope="module")
def services(demo) -> Services:
    settings, _ = demo
    return Services.from_settings(settings)


def outputs(services, changed, search, **controls) -> dict:
    values = sync_outputs(services, set(changed), search, as_of=AS_OF, **controls)
    assert set(values) == {f"{i}.{p}" for i, p in OUTPUTS}
    return {name: values[key] for name, key in NAMES.items()}


# A. The address drives the page; a control writes the address.


def test_the_callback_listens_to_the_address_and_owns_address_controls_and_content(
    demo, reset_dash_registries
) -> None:
    from dashboard.app_factory import create_app

    settings, _ = demo
    app = create_app(settings)
    [(outputs_key, spec)] = [
        (k, v) for k, v in app.callback_map.items() if f"{Ids.HEADLINE}.children" in k
    ]
    inputs = {f"{i['id']}.{i['property']}" for i in spec["inputs"]}
    assert {URL, KIND, DATE, START, END, DEPARTMENT} <= inputs
    for written in (URL, KIND, DATE, START, END, DEPARTMENT, f"{Ids.CHART}.figure"):
        assert written in outputs_key
    # Nothing else writes the address or the controls (no second callback to race with), but
    # the in-place rewrite of a non-canonical address, which tells the page's Location the
    # address it wrote (and is fed only by the page callback's canonical address).
    others = [k for k in app.callback_map if k != outputs_key]
    writers = [k for k in others if any(w in k for w in (URL, KIND, DATE, START, DEPARTMENT))]
    assert len(writers) == 1 and KIND not in writers[0] and DATE not in writers[0]
    [rewrite] = writers
    assert [f"{i['id']}.{i['property']}" for i in app.callback_map[rewrite]["inputs"]] == [
        f"{Ids.CANONICAL}.data"
    ]


def test_back_to_the_month_link_shows_the_month_whatever_the_controls_said(services) -> None:
    out = outputs(
        services, {URL}, MONTH, kind="quarter", day="2011-07-01", departments=[]
    )  # the controls still show the quarter the user left
    assert out["url"] is no_update and out["canonical"] is no_update  # no new history entry
    assert (out["kind"], out["date"]) == ("month", "2011-09-01")  # a date box's text
    assert out["headline"].startswith("September 2011:")
    assert out["headline"] == overview_view(services, MONTH, as_of=AS_OF)["headline"]


def test_a_control_writes_the_address_of_what_it_shows(services) -> None:
    out = outputs(services, {KIND}, MONTH, kind="quarter", day="2011-09-01", departments=[])
    assert out["url"] == "?period=quarter&date=2011-07-01"
    # The day picked stays (it is in the quarter): the next change of kind starts from it.
    assert (out["kind"], out["date"]) == ("quarter", no_update)
    assert out["headline"].startswith("Q3 2011:")
    # The page shows exactly what the written address shows when opened.
    assert out["headline"] == overview_view(services, out["url"], as_of=AS_OF)["headline"]


def test_the_first_call_follows_the_address_and_makes_it_canonical_in_place(services) -> None:
    out = outputs(services, set(), "", kind="month", departments=[])
    last = services.read_model.options()["max_date"]
    assert out["url"] is no_update
    assert out["canonical"] == periods.period_of("month", last).to_query()
    out = outputs(services, set(), None, kind="month", initial=MONTH)  # no address: the store
    assert out["headline"].startswith("September 2011:") and out["canonical"] is no_update


def test_month_week_month_comes_back_to_the_same_month(services) -> None:
    """A change of kind is anchored on the day picked: September -> Week -> Month is
    September again (anchored on the first day alone it was August, and drifted on)."""
    week = outputs(services, {KIND}, MONTH, kind="week", day="2011-09-01", departments=[])
    assert week["url"] == "?period=week&date=2011-08-29" and week["date"] is no_update
    back = outputs(services, {KIND}, week["url"], kind="month", day="2011-09-01", departments=[])
    assert back["url"] == MONTH and back["headline"].startswith("September 2011:")
    # A day outside the period shown (a stale picker) is not used: the period's first day is.
    far = outputs(services, {KIND}, MONTH, kind="week", day="2011-11-20", departments=[])
    assert far["url"] == "?period=week&date=2011-08-29"


def test_a_day_picked_right_after_a_kind_uses_the_kind_on_screen(services) -> None:
    """Week clicked, then a day picked before the address says "week": a week, not a month."""
    out = outputs(services, {DATE}, MONTH, kind="week", day="2011-11-20", departments=[])
    assert out["url"] == "?period=week&date=2011-11-14"


def test_controls_change_the_period_shown() -> None:
    anchor = date(2011, 12, 31)

    def nxt(trigger, search=MONTH, **kw):
        values = {"kind": None, "day": None, "start": None, "end": None, "departments": None}
        return next_query(trigger, search, default_anchor=anchor, **(values | kw))

    assert nxt(KIND, kind="week") == "?period=week&date=2011-08-29"
    assert nxt(DATE, day="2011-10-15") == "?period=month&date=2011-10-01"
    assert nxt(DEPARTMENT, MONTH + "&department=X", departments=["PWDx", "ISD"]) == (
        MONTH + "&department=PWDx&department=ISD"
    )
    # Another control keeps the departments of the address.
    assert nxt(KIND, MONTH + "&department=PWDx", kind="quarter") == (
        "?period=quarter&date=2011-07-01&department=PWDx"
    )
    custom = "?period=custom&from=2011-09-10&to=2011-09-19"
    assert nxt(DATE, custom, day="2011-10-01") == "?period=custom&from=2011-10-01&to=2011-10-10"
    assert nxt(KIND, custom, kind="month") == MONTH


# B. "Custom" starts from the period shown.


def test_custom_starts_as_the_period_shown(services) -> None:
    month = outputs(services, {URL}, MONTH)
    out = outputs(services, {KIND}, MONTH, kind="custom", day="2011-09-01", departments=[])
    assert out["url"] == "?period=custom&from=2011-09-01&to=2011-09-30"
    assert out["kind"] == "custom"
    assert (out["start"], out["end"]) == ("2011-09-01", "2011-09-30")
    assert out["date"] is no_update  # the day picked, 2011-09-01, stays
    numbers = [c.to_plotly_json() for c in out["cards"]]
    # The same cases: the same numbers (only the comparison period differs).
    assert (
        out["headline"].split(" (compared")[0].split(": ", 1)[1]
        == (month["headline"].split(" (compared")[0].split(": ", 1)[1])
    )
    assert len(numbers) == len(month["cards"])
    # Month links fill the custom dates with the month, too.
    assert (month["start"], month["end"]) == ("2011-09-01", "2011-09-30")


def test_custom_dates_change_the_period_once_both_are_picked(services) -> None:
    custom = "?period=custom&from=2011-09-01&to=2011-09-30"
    half = sync_outputs(services, {START}, custom, kind="custom", start="2011-10-05", end=None)
    assert all(v is no_update for v in half.values())
    out = outputs(
        services, {END}, custom, kind="custom", start="2011-09-05", end="2011-09-18T00:00:00"
    )
    assert out["url"] == "?period=custom&from=2011-09-05&to=2011-09-18"
    assert out["headline"].startswith("05 Sep 2011 – 18 Sep 2011:")


# C. A period outside the data.


def test_a_period_after_the_data_explains_itself(services) -> None:
    options = services.read_model.options()
    query = "?period=month&date=2015-01-01"
    # The trap: a case due in January 2015 and cases still open then (not "no data" by counts).
    report = services.sla.report(
        start=date(2015, 1, 1), end=date(2015, 1, 31), by="department", as_of=AS_OF
    )
    assert report["due"].sum() > 0 and report["open_backlog"].sum() > 0
    assert report["volume"].sum() == 0
    view = overview_view(services, query, as_of=AS_OF)
    text = str(view["notice"].children)
    assert "January 2015" in text
    assert str(options["min_date"]) in text and str(options["max_date"]) in text
    assert view["cards"] == []
    assert list(go.Figure(view["figure"]).data) == []  # no chart of someone else's weeks
    assert "no requests opened" in view["headline"]


def test_a_period_before_the_data_explains_itself(services) -> None:
    view = overview_view(services, "?period=month&date=2011-06-01", as_of=AS_OF)
    assert "June 2011" in str(view["notice"].children) and view["cards"] == []


def test_weeks_without_due_cases_are_gaps_and_every_week_is_there(services) -> None:
    period = periods.period_of("month", date(2011, 9, 1))
    raw = weekly(
        services.sla,
        start=date(2011, 3, 1),
        end=period.end,
        flt=None,
        as_of=AS_OF,
    )
    # pandas, independently: every Monday from the first week with cases to the period's end.
    mondays = pd.date_range(raw["week"].min(), "2011-09-26", freq="W-MON")
    filled = every_week(raw, end=period.end)
    assert list(filled["week"]) == list(mondays)
    merged = filled.merge(raw, on="week", how="left", suffixes=("", "_raw"))
    has_raw = merged["due_raw"].notna()
    assert (merged.loc[has_raw, "due"] == merged.loc[has_raw, "due_raw"]).all()
    assert (merged.loc[~has_raw, ["due", "volume"]] == 0).all().all()
    assert merged.loc[merged["due"] == 0, "compliance"].isna().all()


def _every_week_in_pandas(weeks, *, end, start=None, min_count=1, first_day=None):
    """``every_week`` restated with a pandas reindex (as it was first written)."""
    if weeks.empty and start is None:
        return weeks
    last = pd.Timestamp(periods.week_start(end))
    weeks = weeks.assign(week=pd.to_datetime(weeks["week"]))
    first = weeks["week"].min() if start is None else pd.Timestamp(start)
    stop = last if weeks.empty else max(last, weeks["week"].max())
    index = pd.date_range(first, stop, freq="7D", name="week")
    frame = weeks.set_index("week").reindex(index).reset_index()
    for name in ("due", "on_time", "volume"):
        frame[name] = frame[name].fillna(0).astype("int64")
    frame["compliance"] = (frame["on_time"] / frame["due"]).where(frame["due"] >= max(1, min_count))
    frame["through"] = (frame["week"] + pd.Timedelta(days=6)).clip(upper=pd.Timestamp(end))
    if first_day is not None:
        sunday = frame["week"] + pd.Timedelta(days=6)
        frame = frame[sunday >= pd.Timestamp(first_day)].reset_index(drop=True)
    return frame[[*weeks.columns, "through"]]


@pytest.mark.parametrize("gaps", [False, True])
@pytest.mark.parametrize("start", [None, "2011-04-04", "2011-06-13"])
@pytest.mark.parametrize("min_count", [1, 25])
@pytest.mark.parametrize("first_day", [None, date(2011, 5, 4)])
def test_every_week_is_a_pandas_reindex_of_the_weeks(services, gaps, start, min_count, first_day):
    """``every_week`` (built as arrays) gives the frame a pandas reindex gives: the same
    weeks, counts, gaps, ``through`` and dtypes, from the demo's weekly series (with every
    other week taken out when ``gaps``) and a week the period ends in partway."""
    raw = weekly(services.sla, start=date(2011, 5, 2), end=date(2011, 9, 21), as_of=AS_OF)
    if gaps:
        raw = raw.iloc[::2].reset_index(drop=True)
    assert len(raw) > 5
    start = None if start is None else pd.Timestamp(start)
    gaps_seen = 0
    for end in (date(2011, 9, 21), date(2011, 12, 4)):
        got = every_week(raw, end=end, start=start, min_count=min_count, first_day=first_day)
        want = _every_week_in_pandas(
            raw, end=end, start=start, min_count=min_count, first_day=first_day
        )
        pd.testing.assert_frame_equal(got, want)
        gaps_seen += int(got["compliance"].isna().sum())
    assert gaps_seen > 0  # weeks without compliance were made (at least after the data)


def test_every_week_inserts_missing_weeks_as_gaps() -> None:
    weeks = pd.DataFrame(
        {
            "week": pd.to_datetime(["2014-08-04", "2014-08-25"]),
            "due": [1, 1],
            "on_time": [1, 0],
            "volume": [0, 0],
            "compliance": [1.0, 0.0],
        }
    )
    out = every_week(weeks, end=date(2014, 9, 3))
    assert list(out["week"].dt.strftime("%m-%d")) == ["08-04", "08-11", "08-18", "08-25", "09-01"]
    assert list(out["due"]) == [1, 0, 0, 1, 0]
    assert [None if math.isnan(c) else c for c in out["compliance"]] == [1.0, None, None, 0.0, None]
    fig = go.Figure(overview_figure(out, target=0.9))  # validates a dict
    line = next(t for t in fig.data if t.name == "Compliance")
    assert [None if y is None or math.isnan(y) else y for y in line.y] == [
        100.0,
        None,
        None,
        0.0,
        None,
    ]
    assert not line.connectgaps
    # Counts: from 0, whole steps, never -1…0.9.
    axis = _count_axis(fig)
    assert list(axis.range) == [0, 1] and axis.dtick == 1  # nothing opened: 0..1, not -1..1
    assert axis.rangemode == "tozero" and axis.tickformat == ",d"


def test_volume_axis_of_a_small_department_steps_by_whole_requests(services) -> None:
    view = overview_view(services, MONTH + "&department=BPS_", as_of=AS_OF)
    axis = _count_axis(view["figure"])
    bars = next(t for t in go.Figure(view["figure"]).data if t.type == "bar")
    assert max(bars.y) < 10
    assert axis.rangemode == "tozero" and axis.dtick == 1 and axis.tickformat == ",d"
    big = _count_axis(overview_view(services, MONTH, as_of=AS_OF)["figure"])
    assert big.rangemode == "tozero" and big.dtick is None  # plotly's own whole steps
    # The compliance axis keeps its percentages.
    line = next(t for t in go.Figure(view["figure"]).data if t.name == "Compliance")
    percent = go.Figure(view["figure"]).layout["yaxis" + (line.yaxis or "y")[1:]]
    assert list(percent.range) == [0, 105] and percent.tickformat != ",d"


# D. The chart's title and the wording follow the selection.


def test_chart_title_follows_the_selection(services) -> None:
    assert overview_view(services, MONTH, as_of=AS_OF)["chart_title"] == "Citywide"
    name = services.departments.name  # the titles name departments (dashboard.departments)
    pwd = overview_view(services, MONTH + "&department=PWDx", as_of=AS_OF)
    assert pwd["chart_title"] == name("PWDx") == "Public Works Department"
    two = overview_view(services, MONTH + "&department=PWDx&department=ISD", as_of=AS_OF)
    assert two["chart_title"] == f"{name('PWDx')}, {name('ISD')}"
    many = ["BTDT", "INFO", "ISD", "PWDx"]
    assert chart_title(many, None) == "4 departments: BTDT, INFO, ISD, PWDx"
    assert chart_title([], ("PWDx",)) == "Your department: PWDx"
    assert chart_title([], ("PWDx", "ISD")) == "Your departments: PWDx, ISD"
    out = outputs(services, {URL}, MONTH + "&department=PWDx")
    assert out["chart_title"] == name("PWDx")
    titles = [c for c in _walk(layout()) if getattr(c, "id", None) == Ids.CHART_TITLE]
    assert [t.children for t in titles] == ["Citywide"]


def test_one_request_is_singular_in_the_headline(services) -> None:
    report = services.sla.report(
        start=date(2011, 9, 1), end=date(2011, 9, 30), by="department", as_of=AS_OF
    ).set_index("group")
    assert report.loc["BPS_", "volume"] == 1
    view = overview_view(services, MONTH + "&department=BPS_", as_of=AS_OF)
    assert "September 2011: 1 request opened;" in view["headline"]


def _count_axis(fig):
    """The layout of the axis the volume bars are drawn on."""
    fig = go.Figure(fig)  # a plain figure dict, read (and checked) by plotly
    bars = next(t for t in fig.data if t.type == "bar")
    return fig.layout["yaxis" + (bars.yaxis or "y")[1:]]


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            yield from _walk(child)
    elif children is not None and hasattr(children, "children"):
        yield from _walk(children)


def test_a_custom_link_that_cannot_be_shown_says_what_is_shown_instead(services) -> None:
    for query in ("?period=custom&from=2011-09-05", "?period=custom&from=2000-01-01&to=2030-01-01",
                  "?period=custom&from=soon&to=later"):  # fmt: skip
        view = overview_view(services, query, as_of=AS_OF)
        text = json.dumps(view["notice"].to_plotly_json(), default=str)
        assert "showing December 2011 instead" in text, query
        assert view["headline"].startswith("December 2011:")
    fine = overview_view(services, "?period=custom&from=2011-09-05&to=2011-09-20", as_of=AS_OF)
    assert (
        fine["notice"] is None and fine["search"] == "?period=custom&from=2011-09-05&to=2011-09-20"
    )
