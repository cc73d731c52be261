"""The department page (``/department/<code>``): its queries, callbacks (as plain functions) and
layout, checked against plain pandas over the Boston 2011 export and the snapshot's Parquet file.

Expected values are computed here from the definitions (DESIGN.md, "SLA and the three tiers"),
never copied from the code under test.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import date

import dash
import dash_ag_grid as dag
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from callbacks import department as cb
from dashboard import department as dept
from dashboard.app_factory import create_app
from dashboard.queries import ReadModel
from dashboard.services import Services
from dashboard.sla import TIER_STYLE, Tier
from dashboard.snapshot import CASES_FILE
from layouts import department as page
from layouts.department import Ids, layout
from tests.conftest import BOSTON_ZIP, make_settings
from tests.support.components import component_ids

CODE = "PWDx"
QUERY = "?period=month&date=2011-09-01"
START, END = pd.Timestamp("2011-09-01"), pd.Timestamp("2011-10-01")  # local, end exclusive
AS_OF = pd.Timestamp("2030-01-01", tz="UTC")  # long after the export: every due time has passed
CUT = pd.Timestamp("2011-10-01 00:00", tz="America/New_York").tz_convert("UTC")
TARGET, MARGIN, MIN_COUNT = 0.90, 0.10, 20  # the shipped example policy


def expected_tier(compliance: float, due: int, target: float = TARGET) -> str:
    if due < MIN_COUNT:
        return "Not enough data"
    if compliance >= target - 1e-12:
        return "On Target"
    if compliance >= target - MARGIN - 1e-12:
        return "Close But Not There"
    return "Problem That Needs a Plan"


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def services(demo) -> Services:
    settings, _ = demo
    return Services.from_settings(settings)


@pytest.fixture(scope="module")
def cases(demo) -> pd.DataFrame:
    """The snapshot's cases, read with pandas (no DuckDB)."""
    settings, _ = demo
    snap = ReadModel(settings.snapshot_dir).snapshot()
    return pd.read_parquet(snap / CASES_FILE)


@pytest.fixture(scope="module")
def pwd(cases) -> pd.DataFrame:
    return cases[(cases["department"] == CODE) & ~cases["is_duplicate"]]


@pytest.fixture(scope="module")
def view(services) -> dict:
    return cb.department_view(services, CODE, QUERY, as_of=AS_OF)


def _due_in_september(frame: pd.DataFrame) -> pd.DataFrame:
    due_local = frame["sla_due_local"]
    return frame[(due_local >= START) & (due_local < END)]


def _open_at_cut(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[
        (frame["requested_at"] < CUT) & (frame["closed_at"].isna() | (frame["closed_at"] >= CUT))
    ]


# -- layout and registration --------------------------------------------------------------------
_ids = component_ids


def test_layout_has_every_declared_id() -> None:
    assert _ids(layout()) == {str(i) for i in Ids}
    assert _ids(layout(code="PWDx", period="week", date="2011-09-05")) == {str(i) for i in Ids}


def test_layout_keeps_the_code_and_the_query() -> None:
    tree = layout(code="PWDx", period="custom", **{"from": "2011-09-01", "to": "2011-09-14"})
    stores = {
        c.id: c.data for c in tree.children if getattr(c, "id", None) in {Ids.STATE, Ids.CODE}
    }
    assert stores[Ids.CODE] == "PWDx"
    assert stores[Ids.STATE] == "?period=custom&from=2011-09-01&to=2011-09-14"


def test_page_is_registered_with_a_path_template_and_no_navbar_link(
    reset_dash_registries, tmp_path
) -> None:
    from layouts.shell import navbar

    app = create_app(make_settings(tmp_path))
    registered = [p for p in dash.page_registry.values() if p["name"] == "Department"]
    assert len(registered) == 1
    assert registered[0]["path_template"] == "/department/<code>"
    links = navbar(dash.page_registry.values()).to_plotly_json()
    assert "Department" not in str(links)
    # Every id a department callback uses is in the validation layout.
    known = _ids(app.validation_layout)
    used = set()
    for key, spec in app.callback_map.items():
        ids = [i["id"] for i in spec["inputs"]] + [
            o.split(".")[0] for o in key.strip(".").split("...")
        ]
        used.update(i for i in ids if str(i).startswith("department-"))
    assert used and used <= known, used - known


def _grids() -> dict[str, dag.AgGrid]:
    found: dict[str, dag.AgGrid] = {}
    stack: list = [layout(code=CODE)]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
        elif isinstance(node, dag.AgGrid):
            found[str(node.id)] = node
        elif hasattr(node, "children"):
            stack.append(node.children)
    return found


def test_tables_are_ag_grids_with_the_columns_the_callbacks_fill(view) -> None:
    grids = _grids()
    assert set(grids) == {Ids.TYPES, Ids.OVERDUE}
    types, overdue = grids[Ids.TYPES], grids[Ids.OVERDUE]
    # Every field a column shows is a field of the rows, and the other way round.
    assert [c["field"] for c in types.columnDefs] == list(view["types"][0])
    overdue_fields = [c["field"] for c in overdue.columnDefs]
    assert overdue_fields == list(cb.overdue_frame(pd.DataFrame(columns=overdue_fields)).columns)
    for grid in (types, overdue):
        assert all(c["headerName"] for c in grid.columnDefs)  # every column has a heading
        assert grid.defaultColDef["sortable"] is True
        options = grid.dashGridOptions
        assert options["pagination"] is True and options["suppressMultiSort"] is True
        assert options["paginationPageSizeSelector"] is False
    # Request types: every row in the browser, 20 a page; the type and tier columns wide.
    assert getattr(types, "rowModelType", None) in (None, "clientSide")
    assert types.dashGridOptions["paginationPageSize"] == page.TYPES_PAGE_SIZE == 20
    by_field = {c["field"]: c for c in types.columnDefs}
    assert by_field["type"]["minWidth"] == 200 and by_field["tier"]["minWidth"] == 270
    # Overdue list: the server's rows, a page (one block) at a time, longest overdue first.
    assert overdue.rowModelType == "infinite"
    options = overdue.dashGridOptions
    assert options["paginationPageSize"] == options["cacheBlockSize"] == page.OVERDUE_PAGE_SIZE
    assert [(c["field"], c.get("sort")) for c in overdue.columnDefs if c.get("sort")] == [
        ("days_overdue", "desc")
    ]


def test_numbers_are_formatted_as_before_and_text_is_left_aligned() -> None:
    """The d3-format specifiers the grids use: thousands separators, one decimal for days and
    percentages, as the old table's ``Format`` (what the browser shows with them is checked
    in tests/test_browser_department.py)."""
    grids = _grids()
    specs = {}
    for grid in grids.values():
        for c in grid.columnDefs:
            function = c.get("valueFormatter", {}).get("function", "")
            found = re.search(r"d3\.format\('([^']*)'\)", function)
            if found:
                assert function.startswith("params.value == null ? '' :")  # blank, not 0
                specs[(grid.id, c["field"])] = found.group(1)
            else:
                assert c.get("type") in (None, "rightAligned"), c  # text: AG Grid's left
    types = {f: s for (g, f), s in specs.items() if g == Ids.TYPES}
    assert types == {
        "compliance": ".1%",
        "target": ".1%",
        "due": ",",
        "on_time": ",",
        "volume": ",",
        "median_days": ",.1f",
        "p90_days": ",.1f",
        "open_backlog": ",",
        "overdue_open": ",",
    }
    assert {f: s for (g, f), s in specs.items() if g == Ids.OVERDUE} == {"days_overdue": ",.1f"}
    for grid in grids.values():
        for c in grid.columnDefs:
            numeric = (grid.id, c["field"]) in specs
            assert (c.get("type") == "numericColumn") == numeric, c  # numbers right-aligned


def test_tier_cells_carry_their_tier_colour() -> None:
    (tier,) = [c for c in _grids()[Ids.TYPES].columnDefs if c["field"] == "tier"]
    conditions = tier["cellStyle"]["styleConditions"]
    assert len(conditions) == len(TIER_STYLE)
    for t, style in TIER_STYLE.items():
        (condition,) = [c for c in conditions if page.tier_label(t) in c["condition"]]
        assert condition["condition"] == f'params.value === "{page.tier_label(t)}"'
        assert condition["style"] == {
            "backgroundColor": style["color"],
            "color": "white",
            "fontWeight": "600",
        }


def test_callbacks_use_the_grids_props(reset_dash_registries, tmp_path) -> None:
    app = create_app(make_settings(tmp_path))
    specs = {key: spec for key, spec in app.callback_map.items() if "department-" in key}
    outputs = " ".join(specs)
    assert f"{Ids.TYPES}.rowData" in outputs
    (rows,) = [s for k, s in specs.items() if k == f"{Ids.OVERDUE}.getRowsResponse"]
    assert rows["inputs"] == [{"id": str(Ids.OVERDUE), "property": "getRowsRequest"}]
    # (with its busy message: "..department-overdue-download.data...department-overdue-busy..")
    (download,) = [s for k, s in specs.items() if f"{Ids.OVERDUE_DOWNLOAD}.data" in k]
    assert {"id": str(Ids.OVERDUE), "property": "getRowsRequest"} in download["state"]
    # A new period sends the overdue list back to its first page (a clientside callback).
    (reload,) = [s for k, s in specs.items() if k == f"{Ids.OVERDUE}.paginationGoTo"]
    assert {i["id"] for i in reload["inputs"]} == {
        str(Ids.KIND),
        str(Ids.DATE),
        str(Ids.RANGE_START),
        str(Ids.RANGE_END),
    }


# -- the types table ------------------------------------------------------------------------------
def test_types_table_matches_pandas(view, pwd) -> None:
    due = _due_in_september(pwd)
    is_due = due["closed_at"].notna() | (due["sla_due_at"] <= AS_OF)
    on_time = due["closed_at"].notna() & (due["closed_at"] <= due["sla_due_at"])
    closed = due[due["closed_at"].notna()]
    days = (closed["closed_at"] - closed["requested_at"]).dt.total_seconds() / 86400
    opened = pwd[(pwd["requested_local"] >= START) & (pwd["requested_local"] < END)]
    backlog = _open_at_cut(pwd)
    overdue = backlog[backlog["sla_due_at"] < CUT]
    expected = pd.DataFrame(
        {
            "due": is_due.groupby(due["service_name"]).sum(),
            "on_time": on_time.groupby(due["service_name"]).sum(),
            "median_days": days.groupby(closed["service_name"]).median(),
            "p90_days": days.groupby(closed["service_name"]).quantile(0.9),
            "volume": opened.groupby("service_name").size(),
            "open_backlog": backlog.groupby("service_name").size(),
            "overdue_open": overdue.groupby("service_name").size(),
        }
    )
    for name in ("due", "on_time", "volume", "open_backlog", "overdue_open"):
        expected[name] = expected[name].fillna(0).astype(int)
    rows = {r["type"]: r for r in view["types"]}
    assert set(rows) == set(expected.index)
    assert len(rows) == len(view["types"])
    for type_, exp in expected.iterrows():
        row = rows[type_]
        for name in ("due", "on_time", "volume", "open_backlog", "overdue_open"):
            assert row[name] == exp[name], (type_, name)
        for name in ("median_days", "p90_days"):
            if pd.isna(exp[name]):
                assert row[name] is None, (type_, name)
            else:
                assert row[name] == pytest.approx(exp[name], abs=1e-6), (type_, name)
        words = expected_tier(exp["on_time"] / exp["due"] if exp["due"] else math.nan, exp["due"])
        assert row["tier"].endswith(words), (type_, row["tier"])
        if words == "Not enough data":
            assert row["compliance"] is None  # no percentage to argue over
        else:
            assert row["compliance"] == pytest.approx(exp["on_time"] / exp["due"])
        assert row["target"] == pytest.approx(TARGET)
    # Problems first.
    order = [r["tier"].split(" ", 1)[1] for r in view["types"]]
    ranks = {"Problem That Needs a Plan": 0, "Close But Not There": 1, "On Target": 2}
    assert [ranks.get(t, 3) for t in order] == sorted(ranks.get(t, 3) for t in order)
    print(
        f"\n{CODE} 2011-09: {len(rows)} request types, tiers: {pd.Series(order).value_counts().to_dict()}"
    )


def test_on_time_agrees_with_the_raw_boston_export(view) -> None:
    """For request types whose cases all carry Boston's own target_dt: due in September and
    closed by target_dt, straight from the export's CSV."""
    with zipfile.ZipFile(BOSTON_ZIP) as z:
        raw = pd.read_csv(
            z.open(z.namelist()[0]),
            usecols=["target_dt", "closed_dt", "type", "department"],
            parse_dates=["target_dt", "closed_dt"],
        )
    raw = raw[raw["department"] == CODE]
    with_target = raw.groupby("type")["target_dt"].apply(lambda s: s.notna().all())
    types = set(with_target[with_target].index)
    due = raw[raw["type"].isin(types) & (raw["target_dt"] >= START) & (raw["target_dt"] < END)]
    on_time = due["closed_dt"].notna() & (due["closed_dt"] <= due["target_dt"])
    expected = pd.DataFrame(
        {"due": due.groupby("type").size(), "on_time": on_time.groupby(due["type"]).sum()}
    )
    rows = {r["type"]: r for r in view["types"]}
    checked = 0
    for type_, exp in expected.iterrows():
        assert (rows[type_]["due"], rows[type_]["on_time"]) == (exp["due"], exp["on_time"]), type_
        checked += 1
    assert checked >= 10
    assert expected.loc["Major System Failure"].tolist() == [78, 55]  # a spot check by hand


def test_heading_shows_the_department_tier_in_words_against_the_target(services, pwd) -> None:
    due = _due_in_september(pwd)
    n_due = int((due["closed_at"].notna() | (due["sla_due_at"] <= AS_OF)).sum())
    n_on = int((due["closed_at"].notna() & (due["closed_at"] <= due["sla_due_at"])).sum())
    scope = dept.make_scope(
        services, CODE, cb.parse_period(QUERY, default_anchor=date(2011, 12, 31)), as_of=AS_OF
    )
    values = cb.heading_values(services, scope)
    assert (values["due"], values["on_time"]) == (n_due, n_on)
    assert values["compliance"] == pytest.approx(n_on / n_due)
    assert values["tier"] == expected_tier(n_on / n_due, n_due)
    assert values["period_label"] == "September 2011"
    assert values["as_of_label"] == "at the end of 30 Sep 2011"
    # August, for the change in points.
    aug = pwd[(pwd["sla_due_local"] >= "2011-08-01") & (pwd["sla_due_local"] < "2011-09-01")]
    aug_due = (aug["closed_at"].notna() | (aug["sla_due_at"] <= AS_OF)).sum()
    aug_on = (aug["closed_at"].notna() & (aug["closed_at"] <= aug["sla_due_at"])).sum()
    assert values["change"] == pytest.approx(100 * (n_on / n_due - aug_on / aug_due))
    text = str(page.heading(values).to_plotly_json())
    assert values["tier"] in text and "bi-" in text and "on time vs target 90%" in text
    print(
        f"\n{CODE} September 2011: {n_on}/{n_due} = {100 * n_on / n_due:.1f}% -> {values['tier']}"
    )


# -- weekly series --------------------------------------------------------------------------------
def test_weekly_series_match_pandas(view, services, pwd) -> None:
    scope = dept.make_scope(
        services, CODE, cb.parse_period(QUERY, default_anchor=date(2011, 12, 31)), as_of=AS_OF
    )
    opened = pwd[(pwd["requested_local"] >= START) & (pwd["requested_local"] < END)]
    top = opened["service_name"].value_counts()
    top = top.sort_index().sort_values(ascending=False, kind="stable").index[:5].tolist()
    report = dept.types_report(services, scope)
    assert dept.top_types(report) == top
    weekly = dept.weekly_by_type(services, scope, top)
    week_of = lambda s: s.dt.to_period("W-SUN").dt.start_time  # noqa: E731 - Monday weeks
    due = _due_in_september(pwd)
    due = due[due["service_name"].isin(top)].assign(week=lambda f: week_of(f["sla_due_local"]))
    due = due.assign(
        is_due=due["closed_at"].notna() | (due["sla_due_at"] <= AS_OF),
        on=due["closed_at"].notna() & (due["closed_at"] <= due["sla_due_at"]),
    )
    exp = due.groupby(["service_name", "week"])[["is_due", "on"]].sum()
    vol = opened[opened["service_name"].isin(top)]
    vol = vol.groupby([vol["service_name"], week_of(vol["requested_local"])]).size()
    for row in weekly.itertuples():
        key = (row.type, row.week)
        n_due = int(exp["is_due"].get(key, 0))
        n_on = int(exp["on"].get(key, 0))
        assert (row.due, row.on_time, row.volume) == (n_due, n_on, int(vol.get(key, 0))), key
        if n_due >= MIN_COUNT:
            assert row.compliance == pytest.approx(n_on / n_due)
        else:
            assert np.isnan(row.compliance)
    assert (
        weekly.groupby("type")["volume"].sum().to_dict()
        == opened[opened["service_name"].isin(top)]["service_name"].value_counts().to_dict()
    )
    names = [t.name for t in go.Figure(view["series"]).data if t.showlegend is not False]
    assert names[:5] == top
    # September 2011 runs Thursday 1 to Friday 30: its first week (from Monday 29 August) has 4
    # of its days in the period, its last (from Monday 26 September) 5; the others all 7.
    days = weekly.drop_duplicates("week").set_index("week")["days"]
    want = {
        week: sum(START <= week + pd.Timedelta(days=d) < END for d in range(7))
        for week in days.index
    }
    assert days.to_dict() == want
    assert (want[pd.Timestamp("2011-08-29")], want[pd.Timestamp("2011-09-26")]) == (4, 5)
    # ... and the page says so: in the hover of both panels and in the table of the numbers.
    hovers = {t.text[0] for t in go.Figure(view["series"]).data if getattr(t, "text", None)}
    assert hovers == {"Week of 2011-08-29 (partial: 4 of 7 days in the period)"}
    table = str(view["series_table"])
    assert "2011-08-29 (partial: 4 days)" in table and "2011-09-26 (partial: 5 days)" in table
    assert "2011-09-05 (partial" not in table


# -- open cases: aging and overdue ----------------------------------------------------------------
def test_aging_buckets_sum_to_the_backlog_and_match_pandas(view, services, pwd) -> None:
    scope = dept.make_scope(
        services, CODE, cb.parse_period(QUERY, default_anchor=date(2011, 12, 31)), as_of=AS_OF
    )
    ages = dept.aging(services, scope)
    backlog = _open_at_cut(pwd)
    days = np.floor((CUT - backlog["requested_at"]).dt.total_seconds() / 86400)
    bucket = pd.cut(days, [-1, 2, 7, 30, 90, np.inf], labels=[b[0] for b in dept.AGE_BUCKETS])
    state = np.where(
        backlog["sla_due_at"].isna(),
        "No due time",
        np.where(backlog["sla_due_at"] < CUT, "Overdue", "Not yet due"),
    )
    expected = pd.crosstab(bucket, state)
    for row in ages.itertuples():
        exp = int(expected.loc[row.bucket, row.state]) if row.state in expected.columns else 0
        assert row.count == exp, (row.bucket, row.state)
    assert ages["count"].sum() == len(backlog)
    heading = cb.heading_values(services, scope)
    assert ages["count"].sum() == heading["open_backlog"]
    assert ages.loc[ages["state"] == "Overdue", "count"].sum() == heading["overdue_open"]
    bars = sum(sum(t.y) for t in go.Figure(view["aging"]).data)
    assert bars == len(backlog)
    print(
        f"\n{CODE} open at the end of September 2011: {len(backlog)}; by age: "
        f"{ages.groupby('bucket', sort=False)['count'].sum().to_dict()}"
    )


def _expected_overdue(pwd: pd.DataFrame) -> pd.DataFrame:
    backlog = _open_at_cut(pwd)
    late = backlog[backlog["sla_due_at"] < CUT]
    return late.assign(days=(CUT - late["sla_due_at"]).dt.total_seconds() / 86400)


def test_overdue_list_pages_match_pandas(services, pwd) -> None:
    expected = _expected_overdue(pwd)
    first = cb.overdue_page(services, CODE, QUERY, page=0, as_of=AS_OF)
    assert first["total"] == len(expected)
    assert first["page_count"] == math.ceil(len(expected) / page.OVERDUE_PAGE_SIZE)
    seen = []
    for number in range(first["page_count"]):
        rows = cb.overdue_page(services, CODE, QUERY, page=number, as_of=AS_OF)["data"]
        assert len(rows) <= page.OVERDUE_PAGE_SIZE
        seen.extend(rows)
    assert [r["request_id"] for r in seen] == expected.sort_values(
        ["days", "request_id"], ascending=[False, True]
    )["request_id"].tolist()
    by_id = expected.set_index("request_id")
    for row in seen:
        exp = by_id.loc[row["request_id"]]
        assert row["days_overdue"] == pytest.approx(round(exp["days"], 1))
        assert row["type"] == exp["service_name"]
        assert row["opened"] == f"{exp['requested_local']:%Y-%m-%d %H:%M}"
        assert row["due"] == f"{exp['sla_due_local']:%Y-%m-%d %H:%M}"
    # Past the last page: the last page (clamped), never an error.
    beyond = cb.overdue_page(services, CODE, QUERY, page=10_000, as_of=AS_OF)
    assert beyond["page"] == first["page_count"] - 1 and beyond["data"]
    # Sorted by address, ascending, across pages.
    by_address = cb.overdue_page(
        services,
        CODE,
        QUERY,
        page=0,
        sort_by=[{"column_id": "address", "direction": "asc"}],
        as_of=AS_OF,
    )["data"]
    addresses = sorted(expected["address"].dropna()) + [""] * int(expected["address"].isna().sum())
    assert [r["address"] for r in by_address] == addresses[:15]  # no address: last
    # An unknown sort column (from a tampered request) is ignored, not put in SQL.
    odd = cb.overdue_page(
        services,
        CODE,
        QUERY,
        page=0,
        sort_by=[{"column_id": "1; DROP", "direction": "asc"}],
        as_of=AS_OF,
    )
    assert odd["data"] == first["data"]


def test_sort_model_becomes_sort_by() -> None:
    assert cb.sort_by_from_model([{"colId": "address", "sort": "asc", "type": "default"}]) == [
        {"column_id": "address", "direction": "asc"}
    ]
    assert cb.sort_by_from_model([{"colId": "days_overdue", "sort": "desc"}]) == [
        {"column_id": "days_overdue", "direction": "desc"}
    ]
    # No sort, or anything not a sort model: nothing (the server's default order applies).
    for junk in (None, [], "address", {"colId": "a"}, [{"colId": "a", "sort": "up"}], [1, None]):
        assert cb.sort_by_from_model(junk) == []
    assert cb.sort_by_from_model(
        [{"colId": 3, "sort": "asc"}, {"colId": "due", "sort": "asc"}]
    ) == [{"column_id": "due", "direction": "asc"}]


def _block(start: int, sort_model: list | None = None) -> dict:
    """A request as AG Grid's infinite row model sends it (one page = one block)."""
    request = {"startRow": start, "endRow": start + page.OVERDUE_PAGE_SIZE, "filterModel": {}}
    if sort_model is not None:
        request["sortModel"] = sort_model
    return request


def test_overdue_rows_answer_the_grid_page_by_page(services, pwd) -> None:
    expected = _expected_overdue(pwd)
    size = page.OVERDUE_PAGE_SIZE
    longest = [{"colId": "days_overdue", "sort": "desc"}]  # the grid's first sort
    seen, start = [], 0
    while True:
        answer = cb.overdue_rows(services, CODE, QUERY, _block(start, longest), as_of=AS_OF)
        assert answer["rowCount"] == len(expected)  # the grid knows its last page at once
        if not answer["rowData"]:
            break
        assert len(answer["rowData"]) <= size
        seen.extend(answer["rowData"])
        start += size
    assert start == math.ceil(len(expected) / size) * size  # past the end: no rows
    assert [r["request_id"] for r in seen] == expected.sort_values(
        ["days", "request_id"], ascending=[False, True]
    )["request_id"].tolist()
    # No sort model (the user clicked the sort away): the same default order.
    assert (
        cb.overdue_rows(services, CODE, QUERY, _block(0, []), as_of=AS_OF)["rowData"]
        == (seen[:size])
    )
    # Sorted by address, ascending, on the server: page 2 of that order.
    by_address = [{"colId": "address", "sort": "asc"}]
    second = cb.overdue_rows(services, CODE, QUERY, _block(size, by_address), as_of=AS_OF)
    ordered = expected.assign(address=expected["address"].fillna("")).sort_values(
        ["address", "request_id"], key=lambda s: s.map(lambda v: (v == "", v))
    )
    assert [r["address"] for r in second["rowData"]] == ordered["address"].tolist()[size : 2 * size]
    assert [r["request_id"] for r in second["rowData"]] == (
        ordered["request_id"].tolist()[size : 2 * size]
    )
    # Junk (a tampered request, or none yet): the first page, never an error.
    for junk in (None, "x", {"startRow": "a", "endRow": None}, {"startRow": True}, {"endRow": -5}):
        answer = cb.overdue_rows(services, CODE, QUERY, junk, as_of=AS_OF)
        assert answer["rowData"] == seen[:size] and answer["rowCount"] == len(expected)
    huge = cb.overdue_rows(services, CODE, QUERY, {"startRow": 0, "endRow": 10**9}, as_of=AS_OF)
    assert len(huge["rowData"]) == min(500, len(expected))  # a page is at most 500 rows
    unknown = cb.overdue_rows(services, "PWDz", QUERY, _block(0), as_of=AS_OF)
    assert unknown == {"rowData": [], "rowCount": 0}


def test_overdue_csv_is_in_the_grids_order(services, pwd) -> None:
    expected = _expected_overdue(pwd)
    by_type = [{"colId": "type", "sort": "desc"}]
    download = cb.overdue_csv(
        services, CODE, QUERY, sort_by=cb.sort_by_from_model(by_type), as_of=AS_OF
    )
    frame = pd.read_csv(io.StringIO(download["content"]), dtype={"request_id": str})
    assert len(frame) == len(expected)
    shown = []
    for start in range(0, len(expected), page.OVERDUE_PAGE_SIZE):
        shown += cb.overdue_rows(services, CODE, QUERY, _block(start, by_type), as_of=AS_OF)[
            "rowData"
        ]
    assert frame["request_id"].tolist() == [r["request_id"] for r in shown]
    assert frame["type"].tolist() == sorted(expected["service_name"], reverse=True)


def test_overdue_csv_has_every_row_not_only_the_page(services, pwd) -> None:
    expected = _expected_overdue(pwd)
    download = cb.overdue_csv(services, CODE, QUERY, as_of=AS_OF)
    assert download["filename"] == "PWDx_overdue_2011-09-01_2011-09-30.csv"
    frame = pd.read_csv(io.StringIO(download["content"]), dtype={"request_id": str})
    assert len(frame) == len(expected) > page.OVERDUE_PAGE_SIZE
    assert list(frame.columns) == ["request_id", "type", "address", "opened", "due", "days_overdue"]
    assert set(frame["request_id"]) == set(expected["request_id"])
    table = []
    for number in range(math.ceil(len(expected) / page.OVERDUE_PAGE_SIZE)):
        table += cb.overdue_page(services, CODE, QUERY, page=number, as_of=AS_OF)["data"]
    assert frame["request_id"].tolist() == [r["request_id"] for r in table]
    assert frame["days_overdue"].tolist() == [r["days_overdue"] for r in table]


def test_types_csv_has_the_same_rows_as_the_table(view, services) -> None:
    download = cb.types_csv(services, CODE, QUERY, as_of=AS_OF)
    frame = pd.read_csv(io.StringIO(download["content"]))
    assert frame["type"].tolist() == [r["type"] for r in view["types"]]
    assert frame["tier"].tolist() == [r["tier"].split(" ", 1)[1] for r in view["types"]]
    for name in ("due", "on_time", "volume", "open_backlog", "overdue_open"):
        assert frame[name].tolist() == [r[name] for r in view["types"]], name
    shown = [
        None if r["compliance"] is None else round(100 * r["compliance"], 1) for r in view["types"]
    ]
    assert [None if pd.isna(v) else v for v in frame["compliance_pct"]] == shown


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    frame = pd.DataFrame({"address": ['=HYPERLINK("x")', "+1", "12 Main St"], "due": [1, 2, 3]})
    from dashboard.spreadsheet import safe_frame

    safe = safe_frame(frame)
    assert safe["address"].tolist() == ['\'=HYPERLINK("x")', "'+1", "12 Main St"]


# -- where are we late ------------------------------------------------------------------------------
def test_map_respects_the_minimum_count(services, pwd) -> None:
    view = cb.map_view(services, CODE, QUERY, "neighborhood", as_of=AS_OF)
    frame = view["frame"].set_index("area")
    due = _due_in_september(pwd)
    is_due = due["closed_at"].notna() | (due["sla_due_at"] <= AS_OF)
    on = due["closed_at"].notna() & (due["closed_at"] <= due["sla_due_at"])
    counts = pd.DataFrame(
        {
            "due": is_due.groupby(due["area_neighborhood"]).sum(),
            "on": on.groupby(due["area_neighborhood"]).sum(),
        }
    )
    geo = dept.area_geojson(services.settings, services.read_model, "neighborhood")
    names = {f["properties"]["name"] for f in geo["features"]}
    assert set(frame.index) == names  # every area drawn, also those with no cases
    thin = set()
    for area in names:
        n_due = int(counts["due"].get(area, 0))
        n_on = int(counts["on"].get(area, 0))
        row = frame.loc[area]
        assert (row["due"], row["on_time"]) == (n_due, n_on), area
        if n_due < MIN_COUNT:
            thin.add(area)
            assert row["tier"] == "Not enough data" and np.isnan(row["compliance"]), area
        else:
            assert row["compliance"] == pytest.approx(n_on / n_due), area
            assert row["tier"] == expected_tier(n_on / n_due, n_due), area
    assert thin, "the September data has areas under the minimum"
    figure = go.Figure(view["figure"])  # a plain dict: plotly reads it (and checks it)
    traces = {t.legendgroup: t for t in figure.data}
    assert set(traces["Not enough data"].locations) == thin
    coloured = {a for g, t in traces.items() if g != "Not enough data" for a in t.locations}
    assert not thin & coloured  # never coloured as 0% or 100%
    assert coloured == names - thin
    assert figure.layout.map.style == "white-bg"  # renders offline
    outside = int(is_due[due["area_neighborhood"].isna()].sum())
    assert f"{outside:,} due cases are outside every area" in "".join(view["note"])
    print(
        f"\n{CODE} September 2011 by neighbourhood: {len(names) - len(thin)} areas coloured, "
        f"{len(thin)} 'Not enough data' ({sorted(thin)})"
    )


def test_map_colours_each_area_in_its_tier_colour(services, pwd) -> None:
    """Each area is drawn in the colour of its tier (the same tiers as the table beside it),
    worked out here with plain pandas from the policy's target, margin and minimum count."""
    policy = services.policy
    target = policy.target_for(department=CODE)
    view = cb.map_view(services, CODE, QUERY, "neighborhood", as_of=AS_OF)
    due = _due_in_september(pwd)
    is_due = due["closed_at"].notna() | (due["sla_due_at"] <= AS_OF)
    on = due["closed_at"].notna() & (due["closed_at"] <= due["sla_due_at"])
    geo = dept.area_geojson(services.settings, services.read_model, "neighborhood")
    names = sorted(f["properties"]["name"] for f in geo["features"])
    per = pd.DataFrame(
        {
            "due": is_due.groupby(due["area_neighborhood"]).sum(),
            "on": on.groupby(due["area_neighborhood"]).sum(),
        }
    ).reindex(names, fill_value=0)
    ratio = per["on"] / per["due"].clip(lower=1)
    per["tier"] = np.select(
        [
            per["due"] < policy.min_count,
            ratio >= target - 1e-12,
            ratio >= target - policy.margin - 1e-12,
        ],
        ["Not enough data", "On Target", "Close But Not There"],
        default="Problem That Needs a Plan",
    )
    colours = {
        "On Target": "#067647",
        "Close But Not There": "#b54708",
        "Problem That Needs a Plan": "#b42318",
        "Not enough data": "#475467",
    }
    assert colours == {str(t): style["color"] for t, style in TIER_STYLE.items()}
    drawn, hover = {}, {}
    figure = go.Figure(view["figure"])  # a plain dict: plotly reads it (and checks it)
    for trace in figure.data:
        (colour,) = {c for _, c in trace.colorscale}  # one flat colour: no continuous scale
        for area, data in zip(trace.locations, trace.customdata, strict=True):
            drawn[area] = colour
            hover[area] = (trace.hovertemplate, list(data))
    assert drawn == {a: colours[t] for a, t in per["tier"].items()}
    # The review's areas: Roxbury and Fenway are On Target (green), Jamaica Plain is not.
    for area in ("Roxbury", "Fenway"):
        assert per.loc[area, "tier"] == "On Target"
        assert drawn[area] == TIER_STYLE[Tier.ON_TARGET]["color"]
        template, data = hover[area]
        assert "On Target" in template
        assert data[0] == f"{100 * per.loc[area, 'on'] / per.loc[area, 'due']:.1f}%"
    assert per.loc["Jamaica Plain", "tier"] == "Close But Not There"
    assert drawn["Jamaica Plain"] == TIER_STYLE[Tier.CLOSE]["color"]
    legend = {t.legendgroup: t.name for t in figure.data}
    for tier, name in legend.items():
        count = int((per["tier"] == tier).sum())
        assert name.startswith(tier) and name.endswith(f"{count} area{'' if count == 1 else 's'}")


def test_area_geometries_are_cached_per_layer_and_snapshot(services) -> None:
    dept._layer_geojson.cache_clear()
    first = dept.area_geojson(services.settings, services.read_model, "neighborhood")
    second = dept.area_geojson(services.settings, services.read_model, "neighborhood")
    info = dept._layer_geojson.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert first == second and first["type"] == "FeatureCollection"


def test_unknown_layer_is_explained(services) -> None:
    view = cb.map_view(services, CODE, QUERY + "&layer=atlantis", None, as_of=AS_OF)
    assert "No boundary layer 'atlantis' in the data; known layers: neighborhood" in str(
        view["note"]
    )
    assert view["frame"] is None
    controls = cb.init_controls(services.read_model, QUERY + "&layer=atlantis")
    assert controls["layer"] is None
    assert controls["layer_options"] == [{"label": "neighborhood", "value": "neighborhood"}]
    with pytest.raises(Exception, match="unknown boundary layer"):
        dept.area_geojson(services.settings, services.read_model, "atlantis")


# -- URL state and empty states -------------------------------------------------------------------
def test_controls_follow_the_url_and_back() -> None:
    assert (
        cb.query_from_controls("quarter", "2011-08-15", None, None)
        == "?period=quarter&date=2011-08-15"
    )
    assert (
        cb.query_from_controls(
            "custom", None, "2011-09-01", "2011-09-10", "ward", default_layer="neighborhood"
        )
        == "?period=custom&from=2011-09-01&to=2011-09-10&layer=ward"
    )
    assert cb.query_from_controls(
        "week", "2011-09-05", None, None, "neighborhood", default_layer="neighborhood"
    ) == ("?period=week&date=2011-09-05")


def test_custom_starts_as_the_period_shown() -> None:
    anchor = date(2011, 12, 31)
    shown = "?period=quarter&date=2011-08-15"
    assert cb.custom_dates("custom", "", "", shown, default_anchor=anchor) == (
        "2011-07-01",
        "2011-09-30",
    )
    assert cb.custom_dates("custom", None, None, "", default_anchor=anchor) == (
        "2011-12-01",
        "2011-12-31",
    )  # no address yet: the default month
    assert cb.custom_dates("custom", "2011-01-01", "2011-01-09", shown, default_anchor=anchor) is (
        None
    )  # dates already picked are kept
    assert cb.custom_dates("month", "", "", shown, default_anchor=anchor) is None


def test_custom_without_dates_keeps_the_day_shown() -> None:
    query = cb.query_from_controls("custom", "2011-09-01", None, None)
    assert query == "?period=custom&date=2011-09-01"
    period = cb.parse_period(query, default_anchor=date(2011, 12, 31))
    assert (period.start, period.end) == (date(2011, 9, 1), date(2011, 9, 30))


def test_init_controls_from_the_url(services) -> None:
    o = cb.init_controls(services.read_model, "?period=week&date=2011-09-07")
    assert (o["kind"], o["date"], o["start"]) == ("week", date(2011, 9, 5), None)
    assert o["layer"] == "neighborhood"
    o = cb.init_controls(services.read_model, "?period=custom&from=2011-09-01&to=2011-09-10")
    assert (o["kind"], o["date"], o["start"], o["end"]) == (
        "custom",
        date(2011, 9, 1),
        date(2011, 9, 1),
        date(2011, 9, 10),
    )
    o = cb.init_controls(services.read_model, "")  # defaults: the month of the last day with data
    assert (o["kind"], o["date"]) == ("month", date(2011, 12, 1))


@pytest.mark.parametrize("code", ["PWDz", "pwdx", "<script>alert(1)</script>", "", "..%2F..%2Fetc"])
def test_unknown_department_is_explained_never_a_traceback(services, code) -> None:
    view = cb.department_view(services, code, QUERY, as_of=AS_OF)
    assert view["body_style"] == {"display": "none"}
    text = str(view["notice"].to_plotly_json())
    assert "No department" in text and "Known departments" in text and "PWDx" in text
    assert view["types"] == []
    assert cb.overdue_page(services, code, QUERY, as_of=AS_OF)["data"] == []
    assert cb.overdue_rows(services, code, QUERY, _block(0), as_of=AS_OF)["rowData"] == []
    assert cb.map_view(services, code, QUERY, "neighborhood", as_of=AS_OF)["frame"] is None
    assert cb.types_csv(services, code, QUERY) is None
    assert cb.overdue_csv(services, code, QUERY) is None


def test_percent_encoded_codes_are_decoded(services) -> None:
    view = cb.department_view(services, "No%20Q", "?period=quarter&date=2011-07-01", as_of=AS_OF)
    assert view["body_style"] == {}
    assert "No Q" in str(view["heading"].to_plotly_json())


def test_a_period_without_data_says_where_the_data_is(services) -> None:
    view = cb.department_view(services, "BWSC", "?period=week&date=2010-01-04", as_of=AS_OF)
    assert "The data runs from 2011-07-01 to 2011-12-31" in str(view["notice"].children)


def test_a_period_after_the_data_gives_the_data_range(services, cases) -> None:
    """March 2015 for PWDx: cases of 2011 are still open then (a backlog), but nothing was due
    or opened: the notice gives the first and last local request dates of the data."""
    view = cb.department_view(services, CODE, "?period=month&date=2015-03-01", as_of=AS_OF)
    first = cases["requested_local"].min().date()
    last = cases["requested_local"].max().date()
    text = str(view["notice"].children)
    assert f"The data runs from {first} to {last}" in text
    assert "March 2015" in text and "outside the data" in text
    assert "widen" not in text.lower()
    assert cb.data_range(services.read_model) == (first, last)


def test_counts_in_sentences_are_pluralised() -> None:
    values = {
        "department": "PWDx",
        "period_label": "September 2011",
        "tier": "On Target",
        "compliance": 1.0,
        "target": 0.9,
        "due": 1,
        "on_time": 1,
        "change": None,
        "volume": 1,
        "open_backlog": 0,
        "overdue_open": 0,
        "median_days": None,
        "p90_days": None,
        "min_count": 1,
        "as_of_label": "now",
    }
    text = str(page.heading(values).to_plotly_json())
    assert "1 of 1 due case closed in time" in text and "1 request opened" in text
    assert "1 due cases" not in text and "1 requests" not in text


def test_department_users_only_see_their_departments(demo) -> None:
    settings, _ = demo
    scoped = Services(
        settings=settings,
        read_model=ReadModel(settings.snapshot_dir, scope=lambda: ("ISD",)),
        policy=Services.from_settings(settings).policy,
    )
    view = cb.department_view(scoped, CODE, QUERY, as_of=AS_OF)
    text = str(view["notice"].to_plotly_json())
    # PWDx is in the data, but not for this user: the notice says so, not "no department".
    assert "PWDx is not one of the departments you can see" in text
    assert "No department" not in text and "Departments you can see" in text and "ISD" in text
    assert "BTDT" not in text
    assert cb.department_view(scoped, "ISD", QUERY, as_of=AS_OF)["body_style"] == {}


def test_no_data_yet_explains_how_to_load(tmp_path) -> None:
    settings = make_settings(tmp_path)
    empty = Services.from_settings(settings)
    view = cb.department_view(empty, CODE, QUERY)
    assert view["notice"].children == cb.NO_DATA
    assert cb.overdue_page(empty, CODE, QUERY)["data"] == []
    assert cb.overdue_rows(empty, CODE, QUERY, _block(0)) == {"rowData": [], "rowCount": 0}
    assert cb.init_controls(empty.read_model, QUERY)["layer_options"] == []


def test_the_page_asks_its_questions_in_one_round(services) -> None:
    """``page_answers``: seven questions at once (the reports by department and by type as
    grouping sets, the weekly series of every type), the same as the functions asked one
    after another."""
    import dataclasses

    from dashboard import department as dept
    from tests.support.rounds import CountedRounds

    counted = CountedRounds(services.read_model)
    dept.catalogue(counted)  # kept per snapshot: asked once, not by each view
    counted.rounds.clear()
    scope, _ = cb.resolve(services, CODE, QUERY, as_of=AS_OF)
    assert scope is not None
    answers = dept.page_answers(dataclasses.replace(services, read_model=counted), scope)
    assert counted.rounds == [7]
    assert answers.summary == dept.summary(services, scope)
    assert answers.summary["current"] is not None
    pd.testing.assert_frame_equal(answers.types, dept.types_report(services, scope))
    assert answers.top == dept.top_types(answers.types) and len(answers.top) > 1
    pd.testing.assert_frame_equal(answers.weekly, dept.weekly_by_type(services, scope, answers.top))
    assert set(answers.weekly["type"]) == set(answers.top) and answers.weekly["due"].sum() > 0
    pd.testing.assert_frame_equal(answers.aging, dept.aging(services, scope))
    assert answers.overdue == dept.overdue_count(services, scope) and answers.overdue > 0
    assert len(answers.types) > len(answers.top) and answers.aging["count"].sum() > 0
