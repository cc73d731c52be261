"""The UX review of the department and Requests pages (bundled Boston 2011 data), as plain
functions: a department user's link to another department or filter by it is explained without
a word about that department (the same text whether or not the data has it), the page keeps its
<h1>, repeat-location dates do not break, the trend lines' colours are far apart, the figures
leave room for plotly's tool bar, and the Requests chart names departments.

Expected values are computed here (pandas over the snapshot, the names file read with PyYAML,
CIEDE2000 written out below), never taken from the code under test. The browser side is in
``tests/test_browser_department_phone.py``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
import yaml
from dash import html

from callbacks import department as cb
from callbacks import requests as rq
from dashboard.app_factory import create_app
from dashboard.departments import EXAMPLE_NAMES, DepartmentNames
from dashboard.queries import CaseFilter, ReadModel
from dashboard.services import Services
from dashboard.snapshot import CASES_FILE
from dashboard.urlstate import FilterState
from layouts import department as page
from layouts import department_figures as figures
from layouts.figures import OTHER_COLOUR, SERIES_COLOURS
from layouts.requests import Ids as RequestIds
from tests.conftest import make_settings
from tests.support.components import table_cells, table_rows

QUERY = "?period=month&date=2011-12-01"
AS_OF = pd.Timestamp("2030-01-01", tz="UTC")
#: The shipped names file, read here with PyYAML (not with dashboard.departments).
NAMES: dict[str, str] = yaml.safe_load(EXAMPLE_NAMES.read_text(encoding="utf-8"))


def label(code: str) -> str:
    return f"{NAMES[code]} ({code})" if code in NAMES else code


def walk(node: Any) -> Any:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            yield from walk(child)
    elif children is not None:
        yield from walk(children)


def text_of(node: Any) -> str:
    """The words a component shows (its strings, in order)."""
    return "".join(n for n in walk(node) if isinstance(n, str))


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cases(demo) -> pd.DataFrame:
    settings, _ = demo
    return pd.read_parquet(ReadModel(settings.snapshot_dir).snapshot() / CASES_FILE)


def _services(settings: Any, scope: tuple[str, ...] | None) -> Services:
    plain = Services.from_settings(settings)
    return Services(
        settings=settings,
        read_model=ReadModel(
            settings.snapshot_dir, scope=None if scope is None else (lambda: scope)
        ),
        policy=plain.policy,
        departments=plain.departments,
    )


@pytest.fixture(scope="module")
def pwd_user(demo) -> Services:
    """What pwd@demo.stat311 (role department, scope PWDx) gets."""
    return _services(demo[0], ("PWDx",))


@pytest.fixture(scope="module")
def executive(demo) -> Services:
    return _services(demo[0], None)


# -- 1. the department page: another department's link ------------------------------------------
def test_a_department_user_is_told_about_access_not_absence(pwd_user, cases) -> None:
    """The review's link: ISD is in the data (pandas says so), and pwd@demo may not see it."""
    assert (cases["department"] == "ISD").sum() > 0
    view = cb.department_view(pwd_user, "ISD", QUERY, as_of=AS_OF)
    words = text_of(view["notice"])
    assert words == (
        "ISD is not one of the departments you can see"
        "Departments you can see: Public Works Department (PWDx)."
    )
    assert "in the data" not in words and "No department" not in words
    assert view["body_style"] == {"display": "none"} and view["types"] == []


def test_the_access_notice_is_the_same_whether_or_not_the_department_exists(
    pwd_user, cases
) -> None:
    """A scoped user learns nothing from the notice: for a code in the data (ISD, BTDT) and for
    codes that are not (ZZZ, and isd in the wrong case), the notice and the heading are the
    same once the code asked for is taken out."""
    present = set(cases["department"].dropna())
    asked = {"ISD": True, "BTDT": True, "ZZZ": False, "isd": False}
    assert {code: code in present for code in asked} == asked
    shapes = set()
    for code in asked:
        view = cb.department_view(pwd_user, code, QUERY, as_of=AS_OF)
        notice = repr(view["notice"].to_plotly_json()).replace(code, "<code>")
        title = repr(view["heading"].to_plotly_json()).replace(code, "<code>")
        shapes.add((notice, title, view["announcement"]))
    assert len(shapes) == 1
    # and nothing of another department: no code of the data but PWDx appears.
    (notice, _, _) = shapes.pop()
    assert not {c for c in present - {"PWDx"} if c in notice}, notice


def test_a_department_user_asking_for_their_own_code_without_cases_is_told_no_data(demo) -> None:
    """A code in the user's scope that the data does not have is theirs: "not in the data" is
    the truth and tells them nothing about anyone else."""
    scoped = _services(demo[0], ("PWDx", "GHOST"))
    words = text_of(cb.department_view(scoped, "GHOST", QUERY, as_of=AS_OF)["notice"])
    assert words.startswith("No department GHOST in the data")
    assert "Departments you can see: GHOST, Public Works Department (PWDx)." in words


def test_an_executive_keeps_the_not_in_the_data_message(executive, cases) -> None:
    assert (cases["department"] == "ZZZ").sum() == 0
    view = cb.department_view(executive, "ZZZ", QUERY, as_of=AS_OF)
    words = text_of(view["notice"])
    assert words.startswith("No department ZZZ in the data")
    assert "Check the link: department codes are case-sensitive. Known departments: " in words
    known = sorted(cases["department"].dropna().unique())
    assert words.endswith(", ".join(label(c) for c in known) + ".")
    assert "not one of the departments you can see" not in words


def _h1s(node: Any) -> list[Any]:
    return [n for n in walk(node) if isinstance(n, html.H1)]


@pytest.mark.parametrize("who, code", [("pwd", "ISD"), ("pwd", "ZZZ"), ("exec", "ZZZ")])
def test_the_page_keeps_one_h1_when_there_is_no_department_to_show(
    pwd_user, executive, who, code
) -> None:
    services = pwd_user if who == "pwd" else executive
    view = cb.department_view(services, code, QUERY, as_of=AS_OF)
    (h1,) = _h1s(view["heading"])
    assert text_of(h1) == f"{code} department"
    # one per page: the notice's title is a level below
    assert (
        _h1s(view["notice"]) == []
        and len([n for n in walk(view["notice"]) if isinstance(n, html.H2)]) == 1
    )


def test_the_page_keeps_its_h1_with_no_data_loaded(tmp_path) -> None:
    view = cb.department_view(Services.from_settings(make_settings(tmp_path)), "PWDx", QUERY)
    assert view["notice"].children == cb.NO_DATA
    assert [text_of(h) for h in _h1s(view["heading"])] == ["PWDx department"]


def test_the_heading_of_a_missing_code_is_text_never_markup() -> None:
    (h1,) = _h1s(page.problem_heading("<b>x</b>%20y"))
    assert text_of(h1) == "<b>x</b> y department"
    assert text_of(page.problem_heading("")) == "Department"


# -- 2. the Requests page: a department filter the user may not use ---------------------------------
def test_a_dropped_department_filter_is_explained_to_a_department_user(pwd_user, cases) -> None:
    names = pwd_user.departments
    o = rq.filter_options(pwd_user.read_model, "?department=ISD", names=names)
    assert o["department"] == [] and o["department_dropped"] == ["ISD"]
    notice = rq.department_filter_notice(pwd_user.read_model, ["ISD"], names=names)
    assert text_of(notice) == (
        "The link's department filter ISD was not applied: ISD is not one of the departments "
        "you can see. Departments you can see: Public Works Department (PWDx)."
    )
    # the chart then shows what the user may see: PWDx's requests, counted with pandas
    view = rq.requests_view(pwd_user.read_model, FilterState(), names=names)
    assert (
        view["summary"]
        == f"{(cases['department'] == 'PWDx').sum():,} requests across 1 department."
    )


def test_the_filter_notice_is_the_same_whether_or_not_the_department_exists(pwd_user) -> None:
    names = pwd_user.departments
    texts = {
        code: text_of(rq.department_filter_notice(pwd_user.read_model, [code], names=names))
        for code in ("ISD", "ZZZ")
    }
    assert texts["ISD"].replace("ISD", "<code>") == texts["ZZZ"].replace("ZZZ", "<code>")
    both = text_of(rq.department_filter_notice(pwd_user.read_model, ["ISD", "ZZZ"], names=names))
    assert both.startswith(
        "The link's department filters ISD and ZZZ were not applied: they are not among the "
        "departments you can see."
    )


def test_an_executive_is_told_a_filtered_department_is_not_in_the_data(executive) -> None:
    o = rq.filter_options(executive.read_model, "?department=NOPE&department=PWDx")
    assert o["department"] == ["PWDx"] and o["department_dropped"] == ["NOPE"]
    notice = rq.department_filter_notice(executive.read_model, o["department_dropped"])
    assert text_of(notice) == (
        "The link's department filter NOPE was not applied: there is no department NOPE in the "
        "data."
    )
    assert rq.department_filter_notice(executive.read_model, []) is None
    many = [f"X{i}" for i in range(8)]
    assert "X0, X1, X2, X3, X4 and 3 more were not applied" in text_of(
        rq.department_filter_notice(executive.read_model, many)
    )


def test_nothing_is_dropped_when_no_data_is_loaded(tmp_path) -> None:
    o = rq.filter_options(ReadModel(tmp_path / "snap"), "?department=PWDx")
    assert o["department_dropped"] == []


def test_the_page_shows_the_filter_notice(reset_dash_registries, tmp_path) -> None:
    """The controls' first callback fills the notice (a region of the layout)."""
    app = create_app(make_settings(tmp_path))
    outputs = [
        key for key, spec in app.callback_map.items() if spec["inputs"][0]["id"] == "requests-state"
    ]
    assert any(f"{RequestIds.LINK_NOTICE}.children" in key for key in outputs), outputs


# -- 3. repeat locations: dates on one line --------------------------------------------------------
def test_repeat_location_dates_do_not_wrap(executive) -> None:
    table = cb.repeats_view(executive, "PWDx", QUERY, as_of=AS_OF)["table"]
    rows = table_cells(table)[1:]
    assert rows
    for cells in rows:
        first, last = cells[-2], cells[-1]
        for _, attributes, text in (first, last):
            assert pd.Timestamp(text).strftime("%Y-%m-%d") == text
            assert "text-nowrap" in attributes.get("class", "").split()
        # the text columns may wrap
        assert "text-nowrap" not in cells[3][1].get("class", "")


# -- 4. the department figures -----------------------------------------------------------------------
def _lab(colour: str) -> tuple[float, float, float]:
    def linear(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def ciede2000(c1: str, c2: str) -> float:
    """CIEDE2000 colour difference of two sRGB colours."""
    return _de00(_lab(c1), _lab(c2))


def _de00(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 (Sharma, Wu and Dalal 2005) of two Lab colours."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar**7 / (cbar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1 = math.degrees(math.atan2(b1, a1p)) % 360
    h2 = math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = h2 - h1
    if c1p * c2p == 0:
        dh = 0
    elif dh > 180:
        dh -= 360
    elif dh < -180:
        dh += 360
    dhh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbar = h1 + h2
    elif abs(h1 - h2) <= 180:
        hbar = (h1 + h2) / 2
    else:
        hbar = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(hbar - 30))
        + 0.24 * math.cos(math.radians(2 * hbar))
        + 0.32 * math.cos(math.radians(3 * hbar + 6))
        - 0.20 * math.cos(math.radians(4 * hbar - 63))
    )
    dtheta = 30 * math.exp(-(((hbar - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cbarp**7 / (cbarp**7 + 25**7))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt(
        (dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh)
    )


def test_ciede2000_gives_the_published_values() -> None:
    """The formula on Sharma, Wu and Dalal's first published pair, in Lab (2.0425), and on the
    review's two blues (close, about 11) against blue and vermillion (far apart)."""
    assert _de00((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000("#0072B2", "#0072B2") == 0
    assert ciede2000("#0072B2", "#1F8FD0") == pytest.approx(ciede2000("#1F8FD0", "#0072B2"))
    assert 9 < ciede2000("#0072B2", "#1F8FD0") < 13
    assert ciede2000("#0072B2", "#D55E00") > 40


def _types(n: int) -> pd.DataFrame:
    weeks = pd.date_range("2011-11-28", periods=5, freq="7D")
    rows = [
        {
            "type": f"Type {t}",
            "week": w,
            "volume": 10 + t,
            "due": 30,
            "on_time": 27,
            "compliance": 0.9,
        }
        for t in range(n)
        for w in weeks
    ]
    return pd.DataFrame(rows)


def test_the_five_trend_lines_are_far_apart_in_colour() -> None:
    """The page shows the five busiest types: every two of their lines, and each line and the
    target's green, are 20 or more apart (CIEDE2000; 2.3 is a just-noticeable difference).
    Before, the first and fifth lines were 11 apart: two blues."""
    fig = go.Figure(figures.weekly_by_type(_types(5), target=0.9))  # validates the dict
    lines = [t for t in fig.data if t.name.startswith("Type") and t.showlegend is not False]
    colours = [t.line.color for t in lines]
    target = next(t.line.color for t in fig.data if t.name.startswith("Target"))
    assert len(set(colours)) == 5
    for a, b in itertools.combinations([*colours, target], 2):
        assert ciede2000(a, b) >= 20, (a, b, ciede2000(a, b))
    # and each line has its own marker, the same in both panels
    symbols = {t.name: t.marker.symbol for t in fig.data if t.name.startswith("Type")}
    assert len(set(symbols.values())) == 5
    for t in fig.data:
        if t.name.startswith("Type"):
            assert t.marker.symbol == symbols[t.name]


def test_the_trend_colours_are_the_shared_ones_in_another_order() -> None:
    """The colours are those of layouts.figures (each 3:1 on white, checked by
    tests/test_chart_contrast.py for ten types), only in another order."""
    assert sorted(figures.TREND_COLOURS) == sorted(SERIES_COLOURS)


def test_the_figures_leave_room_for_the_tool_bar_and_the_legend() -> None:
    """Room above the figures for plotly's tool bar (about 26 px high), and the trend's legend
    at the foot of the figure, so plotly keeps the axis title above it."""
    trend = go.Figure(figures.weekly_by_type(_types(5), target=0.9)).layout
    assert trend.margin.t >= 60  # tool bar, then the first panel's title
    assert (trend.legend.yref, trend.legend.y, trend.legend.yanchor) == ("container", 0, "bottom")
    assert trend.height is None  # the graph's box sets it (taller on a phone)
    ages = pd.DataFrame(
        {"bucket": ["0–2 days"] * 2, "state": ["Overdue", "Not yet due"], "count": [3, 4]}
    )
    aging = go.Figure(figures.aging_histogram(ages, as_of_label="now")).layout
    assert aging.margin.t >= 60 and aging.legend.yanchor == "bottom" and aging.legend.y >= 1
    assert "select2d" in page.GRAPH_CONFIG["modeBarButtonsToRemove"]


# -- 5. the Requests chart names departments ---------------------------------------------------------
def test_the_requests_legend_and_table_name_departments(executive, cases) -> None:
    view = rq.requests_view(executive.read_model, FilterState(), names=executive.departments)
    names = [t.name for t in go.Figure(view["figure"]).data]
    # each bar series is one department by name, with its count (pandas); the ten largest
    # (ties either way), then the rest folded
    counts = cases["department"].value_counts()
    by_label = {label(c): int(n) for c, n in counts.items()}
    shown = {t.name: sum(t.y) for t in go.Figure(view["figure"]).data[:-1]}
    assert len(shown) == 10 and all(by_label[n] == v for n, v in shown.items())
    # the rest in one grey series: the demo has 11 departments, so it holds one, named
    rest = [label(c) for c in counts.index if label(c) not in shown]
    assert len(counts) == 11 and names[-1] == rest[0]
    assert go.Figure(view["figure"]).data[-1].marker.color == OTHER_COLOUR
    assert sum(go.Figure(view["figure"]).data[-1].y) == by_label[rest[0]]
    assert min(shown.values()) >= counts.iloc[9]
    assert "Public Works Department (PWDx)" in names and "PWDx" not in names
    assert not set(names) & set(counts.index)  # no bare code
    total = sum(sum(t.y) for t in go.Figure(view["figure"]).data)
    assert total == len(cases)
    headings = table_rows(view["table"])[0]
    assert "Public Works Department (PWDx)" in headings and "PWDx" not in headings
    # the link keeps the codes
    filtered = rq.requests_view(
        executive.read_model, FilterState(department=("PWDx",)), names=executive.departments
    )
    assert filtered["search"] == "?department=PWDx"
    assert [t.name for t in go.Figure(filtered["figure"]).data] == [
        "Public Works Department (PWDx)"
    ]
    assert executive.read_model.total(CaseFilter(departments=("PWDx",))) == sum(
        sum(t.y) for t in go.Figure(filtered["figure"]).data
    )


def test_a_code_without_a_name_stays_a_code(executive) -> None:
    view = rq.requests_view(
        executive.read_model,
        FilterState(department=("PWDx", "ISD")),
        names=DepartmentNames({"PWDx": "Public Works"}),
    )
    assert sorted(t.name for t in go.Figure(view["figure"]).data) == ["ISD", "Public Works (PWDx)"]


def test_the_requests_charts_first_five_departments_have_distinct_colours() -> None:
    """The Requests chart stacks up to ten departments in ``SERIES_COLOURS``' order: its first
    five (the busiest) are as far apart as the trend lines' (the busiest and the fifth-busiest
    department were both blue)."""
    first = SERIES_COLOURS[:5]
    for i, a in enumerate(first):
        for b in first[i + 1 :]:
            assert ciede2000(a, b) >= 20, (a, b, ciede2000(a, b))


def test_a_department_users_requests_csv_has_only_their_departments(pwd_user, cases) -> None:
    """The Requests table's CSV goes through the same scoped read model as the page: a PWDx user
    asking for every department (or for ISD by link) gets PWDx's counts only."""
    import io

    from callbacks.requests import table_csv

    for query in ("?period=month", "?period=month&department=ISD&department=PWDx"):
        out = table_csv(pwd_user.read_model, query, names=pwd_user.departments)
        got = pd.read_csv(io.StringIO(out["content"]), index_col="month")
        assert list(got.columns) == [label("PWDx")]
        pwd = cases[cases["department"] == "PWDx"]
        expected = pwd.groupby(pwd["requested_local"].dt.strftime("%Y-%m-01")).size()
        assert got[label("PWDx")].to_dict() == expected.to_dict()


def test_the_overview_says_why_a_links_department_is_not_shown(pwd_user, executive) -> None:
    """The Overview dropped a link's department the user may not see (or that is not in the
    data) without a word; it now says so as the Requests page does, in the same words whether
    or not the department exists, and keeps saying it once the address has dropped it."""
    from callbacks.overview import sync_outputs
    from layouts.overview import Ids as OverviewIds

    notice_id = f"{OverviewIds.NOTICE}.children"
    link = "?period=month&date=2011-12-01&department=ISD&department=PWDx"
    shown = "?period=month&date=2011-12-01&department=PWDx"  # the address, rewritten
    for search in (link, shown):
        out = sync_outputs(pwd_user, set(), search, initial=link)
        text = text_of(html.Div(out[notice_id]))
        assert "The link's department filter ISD was not applied" in text
        assert "ISD is not one of the departments you can see" in text
        assert "Departments you can see: Public Works Department (PWDx)." in text
        assert out[f"{OverviewIds.DEPARTMENT}.value"] == ["PWDx"]
    missing = sync_outputs(
        pwd_user, set(), link.replace("ISD", "ZZZ"), initial=link.replace("ISD", "ZZZ")
    )
    assert "ZZZ is not one of the departments you can see" in text_of(html.Div(missing[notice_id]))
    # an executive: a code that is not in the data
    out = sync_outputs(executive, set(), "?department=ZZZ", initial="?department=ZZZ")
    assert "there is no department ZZZ in the data" in text_of(html.Div(out[notice_id]))
    # nothing dropped: no notice
    plain = sync_outputs(executive, set(), link, initial=link)
    assert plain[notice_id] is None


def test_the_pack_says_why_a_links_department_is_not_shown(pwd_user) -> None:
    """The pack kept `department=ISD` in its address and showed PWDx alone, without a word; it
    now says why on screen (the notice is not printed)."""
    from callbacks.pack import pack_view

    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    view = pack_view(pwd_user, "?period=month&date=2011-12-01&department=ISD", as_of=as_of)
    first = view[0]
    assert "no-print" in first.className
    assert "ISD is not one of the departments you can see" in text_of(first)
    assert "Inspectional" not in text_of(html.Div(view))  # nothing of ISD's in the pack
    plain = pack_view(pwd_user, "?period=month&date=2011-12-01", as_of=as_of)
    assert "not one of the departments" not in text_of(html.Div(plain))


def test_hot_spots_say_why_a_links_type_or_department_is_not_shown(
    pwd_user, executive, cases
) -> None:
    """Hot spots switched a link's request type the user cannot see (or one not in the data) to
    the default type without a word; the page now says which type it shows instead, in the
    same words whether or not another department has that type."""
    from callbacks.hotspots import link_notice, page_options

    isd_only = sorted(
        set(cases.loc[cases["department"] == "ISD", "service_name"].dropna())
        - set(cases.loc[cases["department"] == "PWDx", "service_name"].dropna())
    )[0]
    for asked in (isd_only, "No Such Type"):
        o = page_options(pwd_user.read_model, f"?type={asked}", names=pwd_user.departments)
        assert o["type_dropped"] == asked and o["type"] != asked
        text = text_of(html.Div(link_notice(pwd_user.read_model, o)))
        assert text == (
            f"The link's request type “{asked}” is not among the request types of your "
            f"departments: showing {o['type']} instead."
        )
    o = page_options(executive.read_model, "?type=No+Such+Type&department=ZZZ")
    text = text_of(html.Div(link_notice(executive.read_model, o)))
    assert "“No Such Type” is not among the data: showing" in text
    assert "there is no department ZZZ in the data" in text
    fine = page_options(executive.read_model, f"?type={isd_only}")
    assert link_notice(executive.read_model, fine) is None
