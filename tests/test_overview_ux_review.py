"""UX review of the Overview and the stat-meeting pack (bundled Boston 2011 demo):

1. "What changed" judges each request type as its department's page does, one line per
   (department, type) naming the department; the list for all departments is the union of the
   departments' lists.
2. The chart's weeks are whole weeks (Monday to Sunday) as the Week view counts them; a week the
   period ends in before its Sunday says it is partial.
3. Weeks with fewer due cases than the policy's minimum count are gaps in the line, and the
   headline of such a period does not give a percentage.
4. A department user's departments filter says what "all" means for them.
5. The pack's request types: problems, close, on target, then "Not enough data" last (most due
   first), and the line under the table says what it left out.
6. The chart is readable at 390 px: short x axis title, legend clear of the plot, no toolbar.

Expected values come from plain pandas over the raw export (due times worked out from scratch in
``tests/test_sla.py``) or over hand-built cases."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import replace
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest

from callbacks.overview import (
    OUTPUTS,
    chart_start,
    overview_model,
    overview_view,
    sync_outputs,
)
from callbacks.pack import pack_model
from dashboard import department as dept
from dashboard import periods
from dashboard.queries import ReadModel
from dashboard.services import Services
from dashboard.sla import Tier, load_policy
from dashboard.store import Store
from layouts import pack as ui
from layouts.overview import Ids, changes_list, layout
from tests.conftest import BOSTON_ZIP
from tests.support.components import table_rows, walk
from tests.test_sla import _expected_report
from tests.test_sla import expected_cases as expected_cases  # noqa: F401 (a fixture)

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
DECEMBER = "?period=month&date=2011-12-01"
SEPTEMBER = "?period=month&date=2011-09-01"
FIRST_WEEK = "?period=week&date=2011-07-01"  # 27 Jun - 3 Jul 2011: the data starts on 1 July
ORDER = {"Problem That Needs a Plan": 0, "Close But Not There": 1, "On Target": 2,
         "Not enough data": 3}  # fmt: skip


@pytest.fixture(scope="module")
def services(demo) -> Services:
    return Services.from_settings(demo[0])


@pytest.fixture(scope="module")
def opened() -> pd.Series:
    """The local time each request of the raw export was opened (plain pandas)."""
    with zipfile.ZipFile(BOSTON_ZIP) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv"))
        with archive.open(name) as fh:
            frame = pd.read_csv(fh, dtype=str, usecols=["open_dt"])
    return pd.to_datetime(frame["open_dt"])


def _text(component) -> str:
    return json.dumps(component, default=lambda c: c.to_plotly_json(), ensure_ascii=False)


def _scoped(services: Services, departments: tuple[str, ...]) -> Services:
    """The services a department user's request gets (its read model sees only ``departments``)."""
    return replace(
        services,
        read_model=ReadModel(services.settings.snapshot_dir, scope=lambda: departments),
    )


# 1. What changed: one line per (department, request type), as each department's page judges it.


def _tiers(cases: pd.DataFrame, start: date, end: date) -> dict[tuple[str, str], str]:
    """The tier of every (department, type) with anything due, opened or open: plain pandas over
    the cases, the example policy's target (the type's, else the department's, else 90%), margin
    10 points and minimum 20 due."""
    policy = load_policy(None)
    cases = cases[cases["department"] != ""]
    keyed = cases.assign(key=cases["department"] + "\x1f" + cases["type"])
    report = _expected_report(keyed, start, end, "key")
    report = report[(report["due"] > 0) | (report["volume"] > 0) | (report["open_backlog"] > 0)]
    out = {}
    for key, row in report.iterrows():
        department, type_ = key.split("\x1f")
        target = policy.target_for(type_=type_, department=department)
        if row["due"] < 20:
            tier = "Not enough data"
        elif row["compliance"] >= target - 1e-9:
            tier = "On Target"
        elif row["compliance"] >= target - 0.10 - 1e-9:
            tier = "Close But Not There"
        else:
            tier = "Problem That Needs a Plan"
        out[(department, type_)] = tier
    return out


def _lines(model: dict) -> set[tuple[str, str, str, str]]:
    return {(c["department"], c["group"], c["from"], c["to"]) for c in model["type_changes"]}


def test_type_changes_are_per_department_as_pandas_says(services, expected_cases) -> None:
    now = _tiers(expected_cases, date(2011, 12, 1), date(2011, 12, 31))
    before = _tiers(expected_cases, date(2011, 11, 1), date(2011, 11, 30))
    want = {
        (d, t, before.get((d, t), "Not enough data"), tier)
        for (d, t), tier in now.items()
        if before.get((d, t), "Not enough data") != tier
    }
    period = periods.period_of("month", date(2011, 12, 1))
    model = overview_model(services, period, [], as_of=AS_OF)
    assert _lines(model) == want
    # The review's lines: Public Works' own general requests went to "Not enough data" (not
    # "Close But Not There", which pooled every department's), and its graffiti removal is there.
    assert ("PWDx", "Public Works General Request", str(Tier.PROBLEM), str(Tier.NOT_ENOUGH)) in want
    assert ("PWDx", "Graffiti Removal", str(Tier.PROBLEM), str(Tier.CLOSE)) in want
    assert not any(t == "Public Works General Request" and to == str(Tier.CLOSE)
                   for _, t, _, to in _lines(model))  # fmt: skip


def test_the_list_for_all_departments_is_the_union_of_the_departments_lists(services) -> None:
    period = periods.period_of("month", date(2011, 12, 1))
    everyone = overview_model(services, period, [], as_of=AS_OF)
    codes = [c["department"] for c in everyone["cards"]]
    union: set = set()
    for code in codes:
        one = _lines(overview_model(services, period, [code], as_of=AS_OF))
        assert {line[0] for line in one} <= {code}
        assert one == {line for line in _lines(everyone) if line[0] == code}, code
        union |= one
    assert union == _lines(everyone)
    # A department user (scope PWDx) gets Public Works' list.
    scoped = overview_model(_scoped(services, ("PWDx",)), period, [], as_of=AS_OF)
    assert _lines(scoped) == {line for line in _lines(everyone) if line[0] == "PWDx"}


def test_each_type_change_ends_in_the_tier_its_department_page_shows(services) -> None:
    period = periods.period_of("month", date(2011, 12, 1))
    model = overview_model(services, period, [], as_of=AS_OF)
    pages: dict[str, dict[str, str]] = {}
    for change in model["type_changes"]:
        code = change["department"]
        if code not in pages:
            scope = dept.make_scope(services, code, period, as_of=AS_OF)
            types = dept.types_report(services, scope)
            pages[code] = dict(zip(types["group"], types["tier"], strict=True))
        assert pages[code][change["group"]] == change["to"], change
    assert len(pages) >= 3


def _plain(component) -> str:
    """The words of a component, as read."""
    if isinstance(component, str):
        return component
    if isinstance(component, list | tuple):
        return "".join(_plain(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _plain(children)


def _items(component) -> list[str]:
    return [_plain(li) for li in walk(component) if li.__class__.__name__ == "Li"]


def test_each_line_names_its_department_on_the_overview_and_in_the_pack(services) -> None:
    line = (
        "Graffiti Removal (request type, Public Works Department (PWDx)): Problem That Needs a "
        "Plan → Close But Not There"
    )
    overview = _items(overview_view(services, DECEMBER, as_of=AS_OF)["changes"])
    cover = _items(ui.cover(pack_model(services, DECEMBER, as_of=AS_OF)))
    for lines in (overview, cover):
        assert line in lines
        types = [x for x in lines if "(request type" in x]
        assert types and all(
            re.search(r"\(request type, [^)]+ \([A-Z_a-z]+\)\): ", x) for x in types
        )
    assert (
        "Public Works General Request (request type, Public Works Department (PWDx)): Problem "
        "That Needs a Plan → Not enough data"
    ) in overview


def test_a_type_two_departments_share_is_judged_in_each(tmp_path) -> None:
    """Hand-built: "Pothole" in PWDx (30 due, all on time) and BTDT (30 due, none on time) in
    September, the other way round in August. Pooled, it is 50% (Problem) in both months: no
    change to list; per department it is two lines, Problem -> On Target and On Target ->
    Problem."""
    from etl.load import load_file
    from tests.conftest import make_settings
    from tests.support.exports import write_boston_export

    rows = []
    for month, late_code in (("09", "BTDT"), ("08", "PWDx")):
        for i in range(30):
            day = f"2011-{month}-{5 + i % 20:02d}"
            for code in ("PWDx", "BTDT"):
                closed = f"2011-{month}-28 10:00:00" if code == late_code else f"{day} 10:00:00"
                rows.append(
                    {"case_enquiry_id": f"{code}{month}{i}", "type": "Pothole",
                     "department": code, "open_dt": f"{day} 09:00:00",
                     "target_dt": f"{day} 18:00:00", "closed_dt": closed, "case_status": "Closed"}
                )  # fmt: skip
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    store.migrate()
    load_file(write_boston_export(tmp_path / "cases.csv", rows), store=store, settings=settings,
              progress=False)  # fmt: skip
    services = Services.from_settings(settings)
    period = periods.period_of("month", date(2011, 9, 1))
    model = overview_model(services, period, [], as_of=AS_OF)
    assert model["compared"]
    assert _lines(model) == {
        ("PWDx", "Pothole", str(Tier.PROBLEM), str(Tier.ON_TARGET)),
        ("BTDT", "Pothole", str(Tier.ON_TARGET), str(Tier.PROBLEM)),
    }
    # August has no earlier data: nothing to list, and the list says why.
    august = overview_model(services, periods.period_of("month", date(2011, 8, 1)), [], as_of=AS_OF)
    assert not august["compared"]
    assert august["type_changes"] == [] and august["department_changes"] == []
    text = _text(changes_list([], [], limit=3, compared=False))
    assert "No earlier data to compare with: the previous period is before" in text
    store.dispose()


def test_a_long_list_says_how_many_more() -> None:
    items = [{"group": f"T{i}", "department": "PWDx", "department_label": "Public Works (PWDx)",
              "from": "On Target", "to": "Not enough data"} for i in range(5)]  # fmt: skip
    text = _text(changes_list([], items, limit=3))
    assert text.count("(request type, Public Works (PWDx))") == 3
    assert "And 2 more changes: see the department pages." in text
    assert "more" not in _text(changes_list([], items, limit=5))


# 2. The chart's weeks are the Week view's weeks.


def test_the_charts_weeks_are_whole_weeks_as_the_week_view_counts_them(services, opened) -> None:
    period = periods.period_of("month", date(2011, 12, 1))
    assert chart_start(period) == date(2011, 7, 4) and chart_start(period).weekday() == 0
    weeks = overview_model(services, period, [], as_of=AS_OF)["weekly"]
    assert len(weeks) == 26 and (weeks["week"].dt.day_of_week == 0).all()
    end = pd.Timestamp("2012-01-01")  # the day after the period
    for row in weeks.itertuples():
        until = min(row.week + pd.Timedelta(days=7), end)
        assert row.volume == int(((opened >= row.week) & (opened < until)).sum()), row.week
    # The first week and one in the middle agree with the Week view of the same week.
    for row in (weeks.iloc[0], weeks.iloc[10]):
        week = periods.period_of("week", row["week"].date())
        totals = overview_model(services, week, [], as_of=AS_OF)["totals"]
        assert (row["volume"], row["due"], row["on_time"]) == (
            totals["volume"],
            totals["due"],
            totals["on_time"],
        )
    # The review's week: the Week view's 511 requests, never the 133 of a clipped week.
    first = overview_model(services, periods.period_of("week", date(2011, 7, 1)), [], as_of=AS_OF)
    assert first["weekly"]["volume"].tolist() == [511] == [first["totals"]["volume"]]
    assert int(((opened >= "2011-06-27") & (opened < "2011-07-04")).sum()) == 511


def test_a_week_the_period_ends_in_is_labelled_partial(services, opened) -> None:
    view = overview_view(services, SEPTEMBER, as_of=AS_OF)
    rows = table_rows(view["table"])
    last = rows[-1]
    assert last[0] == "2011-09-26 (partial: to 30 Sep)"
    in_week = ((opened >= "2011-09-26") & (opened < "2011-10-01")).sum()
    assert last[4] == f"{in_week:,}"
    assert all("partial" not in r[0] for r in rows[1:-1])
    # The pack's last weeks say it too.
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    assert "26 Sep 2011 (partial: to 30 Sep)" in _text(ui.weeks_table(model["weekly"], 20))


# 3. Too few due cases: no percentage, a gap in the line.


def test_a_week_with_too_few_due_cases_is_not_judged(services) -> None:
    min_count = services.policy.min_count
    view = overview_view(services, FIRST_WEEK, as_of=AS_OF)
    model = overview_model(services, periods.period_of("week", date(2011, 7, 1)), [], as_of=AS_OF)
    assert 0 < model["totals"]["due"] < min_count
    # Every department card that week says too few; so does the headline now.
    assert all(c["tier"] == str(Tier.NOT_ENOUGH) for c in model["cards"])
    assert f"{model['totals']['due']} due, too few due cases to judge" in view["headline"]
    assert "% closed on time" not in view["headline"]
    line = next(t for t in go.Figure(view["figure"]).data if t.name == "Compliance")
    assert list(line.y) == [None]
    assert any("too few due to judge" in cell for row in table_rows(view["table"]) for cell in row)


def test_the_line_leaves_out_thin_weeks_and_keeps_the_rest(services) -> None:
    """December 2011, citywide and for two small departments: the line has a point exactly where
    a week had at least the minimum count of due cases, at on time ÷ due."""
    min_count = services.policy.min_count
    period = periods.period_of("month", date(2011, 12, 1))
    thin_weeks = 0
    for departments in ([], ["PROP"], ["BWSC"]):
        query = DECEMBER + "".join(f"&department={d}" for d in departments)
        view = overview_view(services, query, as_of=AS_OF)
        weeks = overview_model(services, period, departments, as_of=AS_OF)["weekly"]
        line = next(t for t in go.Figure(view["figure"]).data if t.name == "Compliance")
        want = [
            None if due < min_count else pytest.approx(100 * on_time / due)
            for due, on_time in zip(weeks["due"], weeks["on_time"], strict=True)
        ]
        assert list(line.y) == want, query
        thin_weeks += int(weeks["due"].between(1, min_count - 1).sum())
    assert thin_weeks > 0  # the case the rule is about


def test_the_pack_leaves_thin_weeks_unjudged(services) -> None:
    model = pack_model(services, FIRST_WEEK, as_of=AS_OF)
    assert "too few due cases to judge" in model["headline"]
    rows = _text(ui.weeks_table(model["weekly"], services.policy.min_count))
    assert "too few due to judge" in rows and "0.0%" not in rows


# 4. A department user's filter says what "all" is.


def test_a_department_users_filter_names_their_departments(services) -> None:
    key = f"{Ids.DEPARTMENT}.placeholder"
    assert (Ids.DEPARTMENT, "placeholder") in OUTPUTS
    mayor = sync_outputs(services, set(), SEPTEMBER, as_of=AS_OF)
    assert mayor[key] == "All departments"
    pwd = sync_outputs(_scoped(services, ("PWDx",)), set(), SEPTEMBER, as_of=AS_OF)
    assert pwd[key] == "All my departments (Public Works Department (PWDx))"
    two = sync_outputs(_scoped(services, ("PWDx", "ISD")), set(), SEPTEMBER, as_of=AS_OF)
    assert two[key] == (
        "All my departments (Public Works Department (PWDx), Inspectional Services Department "
        "(ISD))"
    )
    dropdown = next(c for c in walk(layout()) if getattr(c, "id", None) == Ids.DEPARTMENT)
    assert dropdown.placeholder == "All departments"


# 5. The pack's request types: judged first, "Not enough data" last.


def _expected_order(types: pd.DataFrame) -> list[str]:
    def key(row):
        judged = row.tier != "Not enough data"
        return (
            ORDER[row.tier],
            row.compliance if judged else 2.0,
            -row.due,
            -row.volume,
            row.group,
        )

    return [r.group for r in sorted(types.itertuples(), key=key)]


@pytest.mark.parametrize("query", [DECEMBER, SEPTEMBER])
def test_pack_types_put_judged_ones_first_and_thin_ones_by_cases_due(services, query) -> None:
    model = pack_model(services, query, as_of=AS_OF)
    for section in model["sections"]:
        types = section["types"]
        assert types["group"].tolist() == _expected_order(types), section["card"]["department"]
        ranks = [ORDER[t] for t in types["tier"]]
        assert ranks == sorted(ranks)
        # The line under the table says what it left out, by tier.
        rest = types.iloc[ui.TYPE_ROWS :]
        text = _text(ui.department_section(section))
        if len(rest):
            counts = rest["tier"].value_counts()
            words = ", ".join(f"{counts[t]:,} {t}" for t in sorted(counts.index, key=ORDER.get))
            noun = "type" if len(rest) == 1 else "types"
            assert f"And {len(rest):,} more request {noun} ({words}): see the" in text
        else:
            assert "more request type" not in text


@pytest.mark.parametrize("query", [DECEMBER, SEPTEMBER])
def test_the_department_page_orders_types_as_the_pack_does(services, query) -> None:
    """One order everywhere: a department's page lists its request types in the pack's order
    (before, its "Not enough data" types were ordered by a percentage it does not show)."""
    model = pack_model(services, query, as_of=AS_OF)
    period = periods.period_of("month", date.fromisoformat(query.rsplit("=", 1)[1]))
    thin_seen = 0
    for section in model["sections"]:
        code = section["card"]["department"]
        scope = dept.make_scope(services, code, period, as_of=AS_OF)
        page = dept.types_report(services, scope)
        assert page["group"].tolist() == _expected_order(page), code
        assert page["group"].tolist() == section["types"]["group"].tolist(), code
        thin_seen += int((page["tier"] == str(Tier.NOT_ENOUGH)).sum() > 1)
    assert thin_seen >= 3  # departments with several thin types, whose order is the question


def test_the_mayors_hotline_lists_its_busiest_thin_types(services) -> None:
    """INFO, December 2011: its 5 problem types, then the "Not enough data" types with the most
    cases due (15, 15, 8...), not those with 1 due that happened to have 0% on time."""
    model = pack_model(services, DECEMBER, as_of=AS_OF)
    (section,) = [s for s in model["sections"] if s["card"]["department"] == "INFO"]
    shown = section["types"].head(ui.TYPE_ROWS)
    judged = shown[shown["tier"] != str(Tier.NOT_ENOUGH)]
    assert len(judged) == 5 and (judged["tier"] == str(Tier.PROBLEM)).all()
    thin = shown[shown["tier"] == str(Tier.NOT_ENOUGH)]
    hidden = section["types"].iloc[ui.TYPE_ROWS :]
    assert thin["due"].min() >= hidden["due"].max()
    assert thin["due"].iloc[0] == section["types"]["due"][section["types"]["tier"]
                                                           == str(Tier.NOT_ENOUGH)].max()  # fmt: skip


# 6. The chart on a phone.


def test_the_chart_fits_a_phone(services) -> None:
    figure = go.Figure(overview_view(services, DECEMBER, as_of=AS_OF)["figure"])
    assert figure.layout.xaxis.title.text == "Week starting"
    # Weeks labelled on their Mondays, level: a handful of short labels.
    ticks = list(figure.layout.xaxis.ticktext)
    assert len(ticks) <= 6 and all(len(re.sub(r"<br>\d{4}", "", t)) <= 6 for t in ticks)
    assert all(pd.Timestamp(v).weekday() == 0 for v in figure.layout.xaxis.tickvals)
    legend = figure.layout.legend
    assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == (
        "h",
        "container",
        0,
        "bottom",
    )  # under the plot, never over the top right corner where the toolbar was
    graph = next(c for c in walk(layout()) if getattr(c, "id", None) == Ids.CHART)
    assert graph.config["displayModeBar"] is False


@pytest.mark.browser
def test_the_chart_at_390_px_in_chromium(demo, reset_dash_registries) -> None:
    """On a phone: the x axis title is whole inside the chart, the legend is under the plot (not
    over it), and there is no toolbar to cover anything; the page does not scroll sideways."""
    from dashboard.app_factory import create_app
    from tests.support.browser import chromium_browser, serve_wsgi
    from tests.support.signin import browser_sign_in, make_user

    settings = demo[0]
    password = make_user(settings, "phone-mayor@city.test", role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        browser_sign_in(page, url, "phone-mayor@city.test", password)
        page.goto(url + "/" + DECEMBER)
        chart = page.locator(f"#{Ids.CHART}")
        chart.locator(".xtitle").wait_for(timeout=30_000)
        chart.hover()
        box = chart.bounding_box()
        title = chart.locator(".xtitle")
        assert title.text_content() == "Week starting"
        t = title.bounding_box()
        assert box["x"] <= t["x"] and t["x"] + t["width"] <= box["x"] + box["width"]
        plot = chart.locator(".nsewdrag").first.bounding_box()  # the plotting area
        legend = chart.locator(".legend").bounding_box()
        assert legend["y"] >= plot["y"] + plot["height"]  # under the plot
        assert legend["y"] + legend["height"] <= box["y"] + box["height"] + 1
        assert chart.locator(".modebar").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_target_reads_the_same_on_every_page() -> None:
    """The Overview and the pack wrote "target 90.0%", the department heading "90%"; and the
    heading rounded a target of 92.5% to "92%". One format everywhere."""
    from layouts.components import target_text

    assert [target_text(t) for t in (0.9, 0.925, 0.85, 1.0, None)] == [
        "90%", "92.5%", "85%", "100%", "–"
    ]  # fmt: skip
