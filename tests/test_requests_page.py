"""The app factory, the requests page layout and its callbacks (as plain functions)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest

from callbacks.requests import NO_DATA, filter_options, requests_view, state_from_controls
from dashboard.app_factory import create_app
from dashboard.queries import CaseFilter, ReadModel
from dashboard.urlstate import FilterState
from layouts.requests import Ids, layout
from tests.conftest import make_settings
from tests.support.components import component_ids, table_cells, table_rows

_ids = component_ids


def test_layout_has_every_declared_id() -> None:
    assert _ids(layout()) == {str(i) for i in Ids}


def test_layout_restores_the_url_state() -> None:
    page = layout(**{"from": "2011-08-01", "department": ["PWDx", "ISD"], "period": "month"})
    store = next(c for c in page.children if getattr(c, "id", None) == Ids.STATE)
    assert store.data == "?from=2011-08-01&department=PWDx&department=ISD&period=month"


def test_app_factory_registers_pages_and_callbacks(reset_dash_registries, tmp_path) -> None:
    app = create_app(make_settings(tmp_path))
    import dash

    paths = [p.get("path_template") or p["path"] for p in dash.page_registry.values()]
    assert paths[:2] == ["/", "/requests"] and "/department/<code>" in paths
    # Every id a callback uses exists in the validation layout: no suppress_callback_exceptions.
    known = _ids(app.validation_layout)
    used = set()
    for key, spec in app.callback_map.items():
        used.update(i["id"] for i in spec["inputs"])
        for out in key.strip(".").split("..."):
            used.add(out.split(".")[0])
    used = {u for u in used if not u.startswith("_pages")}
    assert used <= known, used - known
    assert not app.config.suppress_callback_exceptions


def test_no_io_at_import_and_factory_time(reset_dash_registries, tmp_path) -> None:
    create_app(make_settings(tmp_path))
    assert list(tmp_path.iterdir()) == []  # no store, no snapshot created by building the app


def test_requests_view_matches_pandas(demo) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    state = FilterState(start=date(2011, 9, 1), end=date(2011, 9, 30), department=("PWDx",))
    view = requests_view(model, state)
    expected = model.total(CaseFilter(start=state.start, end=state.end, departments=("PWDx",)))
    bars = sum(sum(trace.y) for trace in go.Figure(view["figure"]).data)
    assert bars == expected
    assert view["summary"].startswith(f"{expected:,} requests")
    assert view["search"] == "?from=2011-09-01&to=2011-09-30&department=PWDx"
    assert view["notice"] is None


def test_many_departments_fold_into_other(demo) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    view = requests_view(model, FilterState())
    names = [trace.name for trace in go.Figure(view["figure"]).data]
    assert len(names) <= 11
    total = sum(sum(trace.y) for trace in go.Figure(view["figure"]).data)
    assert total == model.total(CaseFilter())


def test_empty_result_explains_itself(demo) -> None:
    settings, _ = demo
    view = requests_view(ReadModel(settings.snapshot_dir), FilterState(department=("NOPE",)))
    assert "No requests match" in str(view["notice"].children)
    assert view["summary"].startswith("0 requests")


def test_no_data_yet_explains_how_to_load(tmp_path) -> None:
    view = requests_view(ReadModel(tmp_path / "snap"), FilterState())
    assert view["notice"].children == NO_DATA
    opts = filter_options(ReadModel(tmp_path / "snap"), "?department=PWDx")
    assert opts["department"] == [] and opts["department_options"] == []


def test_filter_options_keep_known_url_values_only(demo) -> None:
    settings, _ = demo
    opts = filter_options(
        ReadModel(settings.snapshot_dir),
        "?department=PWDx&department=<script>&layer=neighborhood&area=Roxbury&area=Atlantis",
    )
    assert opts["department"] == ["PWDx"]
    assert opts["layer"] == "neighborhood"
    assert opts["area"] == ["Roxbury"]
    assert {"label": "Roxbury", "value": "Roxbury"} in opts["area_options"]


@pytest.mark.parametrize(
    "junk",
    ["' OR 1=1 --", "x" * 10_000, "\u202e\u0000漢字🚧", "<img src=x onerror=alert(1)>"],
)
def test_junk_control_values_never_fail(demo, junk: str) -> None:
    settings, _ = demo
    state = state_from_controls(
        start=junk,
        end=junk,
        department=[junk],
        type_=[junk],
        status=[junk],
        channel=[junk],
        layer=junk,
        area=[junk],
        period=junk,
    )
    view = requests_view(ReadModel(settings.snapshot_dir), state)
    assert view["figure"] is not None
    # an unknown layer is reported, never a stack trace
    assert view["notice"] is not None


def test_table_behind_the_chart(demo) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    view = requests_view(model, FilterState(department=("PWDx",), period="month"))
    table = view["table"]
    cells = table_cells(table)[1:]
    counts = model.counts(CaseFilter(departments=("PWDx",)), by=("department",), period="month")
    assert len(cells) == len(counts)
    first = cells[0]
    assert first[0][:2] == ("th", {"scope": "row"})  # each period heads its row
    assert first[1][2] == f"{int(counts['count'].iloc[0]):,}"
    assert pd.Timestamp(first[0][2]) == counts["period"].iloc[0]


# -- axis ticks, the data's range, wording ------------------------------------------------------------
def _demo_cases(settings) -> pd.DataFrame:
    from dashboard.snapshot import CASES_FILE

    return pd.read_parquet(ReadModel(settings.snapshot_dir).snapshot() / CASES_FILE)


def test_month_bars_are_labelled_with_their_month(demo) -> None:
    """The review's view: bars ticked on the months' starts ("Aug 2011"), as the table says."""
    from dashboard.urlstate import from_query

    settings, _ = demo
    query = (
        "?from=2011-08-01&to=2011-10-31&department=PWDx&department=ISD&layer=neighborhood"
        "&area=Roxbury&period=month"
    )
    view = requests_view(ReadModel(settings.snapshot_dir), from_query(query))
    xaxis = go.Figure(view["figure"]).layout.xaxis
    assert list(xaxis.tickvals) == ["2011-08-01", "2011-09-01", "2011-10-01"]
    assert list(xaxis.ticktext) == ["Aug 2011", "Sep 2011", "Oct 2011"]
    rows = table_rows(view["table"])[1:]
    assert [r[0] for r in rows] == list(xaxis.tickvals)


def test_few_requests_have_whole_number_ticks(demo) -> None:
    from dashboard.urlstate import from_query

    settings, _ = demo
    cases = _demo_cases(settings)
    picked = cases[
        (cases["department"] == "PARK")
        & (cases["channel"] == "app")
        & (cases["area_neighborhood"] == "Dorchester")
    ]
    query = "?department=PARK&channel=app&layer=neighborhood&area=Dorchester&period=month"
    view = requests_view(ReadModel(settings.snapshot_dir), from_query(query))
    assert sum(sum(t.y) for t in go.Figure(view["figure"]).data) == len(picked) <= 10
    yaxis = go.Figure(view["figure"]).layout.yaxis
    assert (yaxis.rangemode, yaxis.tick0, yaxis.dtick) == ("tozero", 0, 1)


def test_dates_outside_the_data_give_the_data_range(demo) -> None:
    from dashboard.urlstate import from_query

    settings, _ = demo
    cases = _demo_cases(settings)
    first = cases["requested_local"].min().date()
    last = cases["requested_local"].max().date()
    view = requests_view(
        ReadModel(settings.snapshot_dir), from_query("?from=2013-01-01&to=2013-03-31")
    )
    text = str(view["notice"].children)
    assert f"The data runs from {first} to {last}" in text
    assert "2013-01-01 to 2013-03-31" in text and "outside the data" in text
    # Inside the range, nothing matching: still the range, and what to clear.
    view = requests_view(ReadModel(settings.snapshot_dir), FilterState(department=("NOPE",)))
    text = str(view["notice"].children)
    assert f"The data runs from {first} to {last}" in text and "clear a department" in text


def test_one_request_is_not_plural(demo) -> None:
    settings, _ = demo
    cases = _demo_cases(settings)
    day = cases["requested_local"].dt.date
    counts = cases.groupby([cases["department"], day]).size()
    department, when = counts[counts == 1].index[0]
    view = requests_view(
        ReadModel(settings.snapshot_dir),
        FilterState(start=when, end=when, department=(department,)),
    )
    assert view["summary"] == f"1 request between {when} and {when} across 1 department."


# -- a long table: the latest periods on the page, every period in the CSV ---------------------------
def test_a_long_table_shows_the_latest_periods_and_says_so(demo) -> None:
    """By day over the demo's six months there are 184 periods: drawing them all as Dash
    components froze the browser (70 s for 784 weeks at 10M cases). The page shows the latest
    TABLE_ROWS and says the CSV has every one; expected counts from pandas over the snapshot."""
    from callbacks.requests import TABLE_ROWS

    settings, _ = demo
    cases = _demo_cases(settings)
    per_day = cases.groupby(cases["requested_local"].dt.normalize()).size()
    view = requests_view(ReadModel(settings.snapshot_dir), FilterState(period="day"))
    note, table = view["table"]
    assert note.children == (
        f"The latest {TABLE_ROWS} of {len(per_day):,} days; the CSV download below has every one."
    )
    rows = table_rows(table)[1:]
    assert len(rows) == TABLE_ROWS < len(per_day)
    latest = per_day.iloc[-TABLE_ROWS:]
    assert [r[0] for r in rows] == [f"{d:%Y-%m-%d}" for d in latest.index]
    totals = [sum(int(td.replace(",", "")) for td in r[1:]) for r in rows]
    assert totals == latest.tolist()
    # a short table is whole, with no note
    week = requests_view(ReadModel(settings.snapshot_dir), FilterState(period="week"))["table"]
    assert not isinstance(week, list)


def test_the_csv_has_every_period_by_department(demo) -> None:
    import io

    from callbacks.requests import table_csv
    from dashboard.departments import DepartmentNames

    settings, _ = demo
    cases = _demo_cases(settings)
    names = DepartmentNames({"PWDx": "Public Works Department"})
    out = table_csv(ReadModel(settings.snapshot_dir), "?period=day&from=2011-08-01", names=names)
    assert out["filename"] == "requests_by_day_2011-08-01.csv"
    got = pd.read_csv(io.StringIO(out["content"]), index_col="day")
    asked = cases[cases["requested_local"] >= "2011-08-01"]
    expected = pd.crosstab(
        asked["requested_local"].dt.strftime("%Y-%m-%d"), asked["department"].fillna("(none)")
    )
    assert len(got) == len(expected) > 100
    assert "Public Works Department (PWDx)" in got.columns and "PWDx" not in got.columns
    got = got.rename(columns={"Public Works Department (PWDx)": "PWDx"})
    assert sorted(got.columns) == sorted(expected.columns)
    assert (
        got[sorted(expected.columns)].to_numpy() == expected[sorted(expected.columns)].to_numpy()
    ).all()
    # nothing matched: no download
    assert table_csv(ReadModel(settings.snapshot_dir), "?from=2030-01-01") is None
