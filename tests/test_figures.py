"""Figure builders as pure functions: the figure dicts they return (trace order and axes, tick
settings, colours per area, gaps), checked against values worked out here, not by the code."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from dashboard.sla import TIER_STYLE, SlaPolicy, Tier
from layouts.department_figures import aging_histogram, compliance_map, weekly_by_type
from layouts.figures import (
    compliance_and_volume,
    count_axis,
    plain_dates,
    plural,
    requests_over_time,
)

POLICY = SlaPolicy()  # target 90%, margin 10 points, at least 20 due


def _weekly(weeks: list[str], due: list[int], on_time: list[int], volume: list[int]):
    frame = pd.DataFrame(
        {"week": pd.to_datetime(weeks), "due": due, "on_time": on_time, "volume": volume}
    )
    frame["compliance"] = np.where(
        frame["due"] > 0, frame["on_time"] / frame["due"].clip(lower=1), np.nan
    )
    return frame


def _json(fig) -> dict:
    """The figure as the browser receives it (plotly's JSON: typed arrays decoded by hand)."""
    return json.loads(pio.to_json(fig))


def _values(value) -> list:
    """A trace's array as plain values (plotly may send numbers as base64 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


# -- compliance and volume (Overview, /public/performance) ------------------------------------------
def test_compliance_line_is_on_the_overlaying_axis_above_the_bars() -> None:
    weekly = _weekly(
        ["2011-09-05", "2011-09-12", "2011-09-19"], [40, 50, 30], [20, 45, 30], [900, 950, 870]
    )
    fig = _json(compliance_and_volume(weekly, target=0.9))
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    lines = [t for t in fig["data"] if t["type"] == "scatter"]
    assert len(bars) == 1 and len(lines) == 2
    # plotly draws the traces of an overlaying axis above those of the axis it overlays.
    assert bars[0].get("yaxis", "y") == "y"
    assert {t["name"]: t["yaxis"] for t in lines} == {"Compliance": "y2", "Target 90%": "y2"}
    layout = fig["layout"]
    assert layout["yaxis2"]["overlaying"] == "y" and "overlaying" not in layout["yaxis"]
    assert layout["yaxis2"]["range"] == [0, 105]
    # Its own ticks, not the base axis's gridlines (0, 15.9, 31.7... in the browser).
    assert layout["yaxis2"]["tickvals"] == [0, 20, 40, 60, 80, 100]
    # What each series counts by is in its axis title (the x axis title stays short for phones).
    assert layout["yaxis2"]["title"]["text"] == "Compliance (%), cases due that week"
    assert layout["yaxis"]["title"]["text"] == "Requests opened that week"
    assert layout["xaxis"]["title"]["text"] == "Week starting"
    assert (layout["yaxis2"]["side"], layout["yaxis"]["side"]) == ("left", "right")
    assert lines[0]["name"] == "Compliance"
    assert _values(lines[0]["y"]) == pytest.approx([50.0, 90.0, 100.0])


def test_weeks_without_due_cases_are_gaps_not_zero() -> None:
    # 12 Sep: requests but nothing due; 19 Sep: no row at all; 26 Sep: due, none on time (0%).
    weekly = _weekly(["2011-09-05", "2011-09-12", "2011-09-26"], [10, 0, 4], [9, 0, 0], [30, 12, 8])
    fig = _json(compliance_and_volume(weekly, target=0.9))
    line = next(t for t in fig["data"] if t["name"] == "Compliance")
    assert [x[:10] for x in line["x"]] == ["2011-09-05", "2011-09-12", "2011-09-19", "2011-09-26"]
    assert line["y"] == [90.0, None, None, 0.0]  # JSON null: a gap in plotly.js
    assert line.get("connectgaps") is False
    bars = next(t for t in fig["data"] if t["type"] == "bar")
    assert _values(bars["y"]) == [30, 12, 0, 8]


@pytest.mark.parametrize("volumes", [[0, 1, 2], [0, 0, 0], [3, 1, 4]])
def test_small_volumes_have_whole_non_negative_ticks(volumes) -> None:
    weekly = _weekly(["2011-09-05", "2011-09-12", "2011-09-19"], [0, 0, 0], [0, 0, 0], volumes)
    axis = _json(compliance_and_volume(weekly, target=0.9))["layout"]["yaxis"]
    assert axis["rangemode"] == "tozero" and axis["minallowed"] == 0
    assert (axis["tick0"], axis["dtick"]) == (0, 1)
    if "range" in axis:
        assert axis["range"][0] == 0


def test_large_volumes_leave_plotly_whole_steps() -> None:
    axis = count_axis(12_345)
    assert axis["rangemode"] == "tozero" and axis["tickformat"] == ",d"
    assert "dtick" not in axis  # plotly's own step over a range above 10 is 1, 2, 5, 10...
    assert count_axis(None)["range"] == [0, 1]


# -- requests over time -----------------------------------------------------------------------------
def _counts(periods: list[str], counts: list[int], department: str = "PWDx") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": [pd.Timestamp(p).date() for p in periods],
            "department": department,
            "count": counts,
        }
    )


@pytest.mark.parametrize(
    ("period", "starts", "labels"),
    [
        ("month", ["2011-08-01", "2011-09-01", "2011-10-01"], ["Aug 2011", "Sep 2011", "Oct 2011"]),
        ("week", ["2011-08-29", "2011-09-05"], ["29 Aug 2011", "5 Sep 2011"]),
        ("quarter", ["2011-07-01", "2011-10-01"], ["Q3 2011", "Q4 2011"]),
        ("day", ["2011-09-01", "2011-09-02"], ["1 Sep 2011", "2 Sep 2011"]),
        ("year", ["2011-01-01"], ["2011"]),
    ],
)
def test_period_axis_ticks_on_the_period_starts(period, starts, labels) -> None:
    fig = _json(requests_over_time(_counts(starts, [100] * len(starts)), period=period))
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["tickmode"] == "array"
    assert xaxis["tickvals"] == starts
    assert xaxis["ticktext"] == labels
    assert fig["data"][0]["customdata"] == labels  # the hover names the period the same way


def test_many_periods_are_labelled_every_nth_start() -> None:
    weeks = pd.date_range("2011-01-03", periods=52, freq="7D").strftime("%Y-%m-%d").tolist()
    xaxis = _json(requests_over_time(_counts(weeks, [50] * 52), period="week"))["layout"]["xaxis"]
    assert 2 <= len(xaxis["tickvals"]) <= 12
    assert set(xaxis["tickvals"]) <= set(weeks) and xaxis["tickvals"][0] == weeks[0]


def test_periods_without_requests_are_still_ticked() -> None:
    frame = _counts(["2011-08-01", "2011-11-01", "2011-12-01"], [1, 1, 1])
    xaxis = _json(requests_over_time(frame, period="month"))["layout"]["xaxis"]
    assert xaxis["tickvals"] == [
        "2011-08-01",
        "2011-09-01",
        "2011-10-01",
        "2011-11-01",
        "2011-12-01",
    ]
    assert xaxis["ticktext"] == ["Aug 2011", "Sep 2011", "Oct 2011", "Nov 2011", "Dec 2011"]


def test_few_requests_have_whole_count_ticks() -> None:
    frame = pd.concat(
        [
            _counts(["2011-08-01", "2011-09-01"], [1, 2], "PARK"),
            _counts(["2011-09-01"], [1], "ISD"),
        ]
    )
    yaxis = _json(requests_over_time(frame, period="month"))["layout"]["yaxis"]
    assert (yaxis["rangemode"], yaxis["tick0"], yaxis["dtick"]) == ("tozero", 0, 1)


# -- department figures -----------------------------------------------------------------------------
def test_department_count_axes_are_whole_numbers() -> None:
    ages = pd.DataFrame(
        {"bucket": ["0-1 days", "2-7 days"], "state": ["Overdue", "Overdue"], "count": [1, 2]}
    )
    assert _json(aging_histogram(ages, as_of_label="now"))["layout"]["yaxis"]["dtick"] == 1
    weekly = _weekly(["2011-09-05", "2011-09-12"], [1, 0], [1, 0], [2, 1]).assign(type="Pothole")
    layout = _json(weekly_by_type(weekly, target=0.9))["layout"]
    assert (layout["yaxis"]["rangemode"], layout["yaxis"]["dtick"]) == ("tozero", 1)


def _square(name: str, x: float) -> dict:
    ring = [[x, 42.3], [x + 0.01, 42.3], [x + 0.01, 42.31], [x, 42.31], [x, 42.3]]
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_compliance_map_colours_each_area_by_its_tier() -> None:
    areas = pd.DataFrame(
        {
            "area": ["Roxbury", "Fenway", "Jamaica Plain", "Mattapan", "West End"],
            "due": [456, 97, 452, 300, 4],
            "on_time": [420, 90, 405, 210, 4],
        }
    )
    # The tiers as the tables get them: the policy's tier function.
    areas["tier"] = [
        str(POLICY.tier(compliance=o / d, due=d))
        for o, d in zip(areas["on_time"], areas["due"], strict=True)
    ]
    areas["compliance"] = np.where(
        areas["tier"] == str(Tier.NOT_ENOUGH), np.nan, areas["on_time"] / areas["due"]
    )
    # Expected colours worked out with plain pandas from the policy's numbers.
    ratio = areas["on_time"] / areas["due"]
    expected_tier = np.select(
        [
            areas["due"] < POLICY.min_count,
            ratio >= POLICY.target,
            ratio >= POLICY.target - POLICY.margin,
        ],
        ["Not enough data", "On Target", "Close But Not There"],
        default="Problem That Needs a Plan",
    )
    expected = dict(
        zip(areas["area"], [TIER_STYLE[Tier(t)]["color"] for t in expected_tier], strict=True)
    )
    geojson = {
        "type": "FeatureCollection",
        "features": [_square(n, i * 0.02) for i, n in enumerate(areas["area"])],
    }
    fig = _json(
        compliance_map(
            areas, geojson, layer="neighborhood", min_count=POLICY.min_count, target=0.9, margin=0.1
        )
    )
    drawn: dict[str, str] = {}
    hovers: dict[str, tuple[str, list]] = {}
    for trace in fig["data"]:
        assert trace["type"] == "choroplethmap" and trace["showscale"] is False
        colours = {c for _, c in trace["colorscale"]}
        assert len(colours) == 1  # one flat colour per trace: the tier's, no continuous scale
        (colour,) = colours
        for i, area in enumerate(trace["locations"]):
            drawn[area] = colour
            hovers[area] = (trace["hovertemplate"], trace["customdata"][i])
        # each trace carries the shapes of its own areas, no others
        shapes = [f["properties"]["name"] for f in trace["geojson"]["features"]]
        assert sorted(shapes) == sorted(trace["locations"])
        assert trace["showlegend"] is True
        assert trace["name"].startswith(trace["legendgroup"])  # the tier in words
    assert drawn == expected
    assert drawn["Roxbury"] == drawn["Fenway"] == TIER_STYLE[Tier.ON_TARGET]["color"]
    assert drawn["Jamaica Plain"] == TIER_STYLE[Tier.CLOSE]["color"]
    assert drawn["West End"] == TIER_STYLE[Tier.NOT_ENOUGH]["color"]
    template, data = hovers["Roxbury"]
    assert "On Target" in template and data[0] == f"{100 * 420 / 456:.1f}%"
    template, data = hovers["West End"]
    assert "Not enough data" in template and data[2] == 4
    assert fig["layout"]["showlegend"] is True


def test_plural() -> None:
    assert plural(1, "case") == "1 case"
    assert plural(0, "request") == "0 requests"
    assert plural(1234, "area") == "1,234 areas"


def _plain(value):
    """``value`` with typed arrays decoded, for comparing two JSON trees."""
    if isinstance(value, dict):
        if "bdata" in value:
            return _plain(_values(value))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_charts_are_dicts_plotly_takes_unchanged() -> None:
    """The Department page's trend and ageing chart and its map, the weekly compliance and
    volume chart (overview, public performance) and the Requests chart are plain figure dicts
    (with ``go.Figure`` they took 59, 21 and 37 ms, the map about 15 ms at 1M cases). Read
    through ``go.Figure`` — which raises on a property plotly does not have and rewrites a
    value it reads differently — they come out as they went in, their template included (the
    white one; plotly's default for the map, as before)."""
    import plotly.graph_objects as go

    weekly = pd.concat(
        _weekly(
            ["2011-09-05", "2011-09-12", "2011-09-19"], [4, 0, 30], [3, 0, 29], [2, 1, 40]
        ).assign(type=f"Type {n}", days=[3, 7, 7])
        for n in range(10)
    )
    ages = pd.DataFrame(
        {
            "bucket": ["0-1 days", "2-7 days"] * 3,
            "state": ["Overdue"] * 2 + ["Not yet due"] * 2 + ["No due time"] * 2,
            "count": [1, 2, 300, 4000, 0, 5],
        }
    )
    counts = pd.DataFrame(
        {
            "period": pd.to_datetime(["2011-08-01", "2011-09-01"] * 12),
            "department": [f"D{n // 2}" for n in range(24)],
            "count": list(range(24)),
        }
    )
    one = weekly[weekly["type"] == "Type 0"]
    areas = pd.DataFrame(
        {
            "area": ["Roxbury", "Fenway", "Mattapan", "West End"],
            "due": [456, 97, 300, 4],
            "on_time": [420, 80, 150, 4],
            "tier": ["On Target", "Close But Not There", "Problem That Needs a Plan",
                     "Not enough data"],
            "compliance": [420 / 456, 80 / 97, 0.5, np.nan],
        }
    )  # fmt: skip
    geojson = {
        "type": "FeatureCollection",
        "features": [_square(n, i * 0.02) for i, n in enumerate(areas["area"])],
    }
    white = pio.templates["plotly_white"].to_plotly_json()
    for figure, template in (
        (weekly_by_type(weekly, target=0.9), white),
        (aging_histogram(ages, as_of_label="now"), white),
        (compliance_and_volume(one, target=0.9), white),
        (requests_over_time(counts, period="month"), white),
        (
            compliance_map(areas, geojson, layer="neighborhood", min_count=20),
            _json(go.Figure())["layout"]["template"],
        ),
    ):
        assert isinstance(figure, dict)
        sent = json.loads(json.dumps(figure))  # plain JSON already: no encoder needed
        read = _plain(_json(go.Figure(figure)))
        assert read == _plain(sent)
        assert sent["layout"]["template"] == template
    gaps = [t for t in weekly_by_type(weekly, target=0.9)["data"] if t.get("yaxis") == "y2"]
    assert [t["y"] for t in gaps[:10]] == [[75.0, None, 100 * 29 / 30]] * 10  # a week due none


def _strftime_dates(values) -> list:
    """plain_dates as pandas' strftime writes it (its earlier body)."""
    stamps = pd.to_datetime(pd.Series(list(values)))
    whole_days = bool((stamps.dt.normalize() == stamps).all())
    return stamps.dt.strftime("%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M:%S").tolist()


@pytest.mark.parametrize(
    "values",
    [
        pd.date_range("2011-01-03", periods=30, freq="7D"),
        pd.Series(pd.date_range("2011-01-03", periods=30, freq="7D")),
        [date(2011, 1, 3), date(2012, 2, 29)],
        pd.date_range("2011-03-10", periods=40, freq="17h", tz="America/New_York"),
        pd.date_range("2011-03-10", periods=40, freq="1D", tz="America/New_York"),
        [pd.Timestamp("2011-01-01 10:00:01.7"), pd.Timestamp("2011-01-02")],
        ["2011-01-01 00:00", "2011-02-03 06:30"],
        [],
        [pd.Timestamp("2011-01-01"), pd.NaT],
        [np.datetime64("2011-01-01"), np.datetime64("2011-01-05")],
        pd.Series(pd.date_range("1965-01-01 00:00:00.5", periods=3, freq="D")),
    ],
)
def test_plain_dates_are_pandas_strftime(values) -> None:
    got, want = plain_dates(values), _strftime_dates(values)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w or (pd.isna(g) and pd.isna(w)), (g, w)
