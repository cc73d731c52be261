"""Review of the stat-meeting pack and of repeat locations, as the mayor's office and a department
head use them: the pack's numbers equal the department page's heading for the same period, no
percentage is shown or compared under the minimum count, empty states keep the page's heading,
and in Chromium the pack reflows to 320 px, is accessible, and prints in a sensible number of
pages. Expected values from plain pandas over the store's own cases table where they are data."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from dash import html
from sqlalchemy import text

from callbacks.department import heading_values, repeats_view, resolve
from callbacks.overview import parse_state
from callbacks.pack import pack_model, pack_view
from dashboard.app_factory import create_app
from dashboard.services import Services
from dashboard.sla import Tier
from layouts import pack as ui
from tests.conftest import make_settings
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.components import table_cells, walk
from tests.support.signin import browser_sign_in, make_user

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
SEPTEMBER = "?period=month&date=2011-09-01"
PERIODS = [
    "?period=week&date=2011-09-07",
    SEPTEMBER,
    "?period=quarter&date=2011-07-01",
    "?period=custom&from=2011-08-15&to=2011-10-03",
    "",  # the period of the data's last date
]


@pytest.fixture(scope="module")
def services(demo) -> Services:
    return Services.from_settings(demo[0])


@pytest.fixture(scope="module")
def cases(demo) -> pd.DataFrame:
    settings, store = demo
    with store.connect() as conn:
        frame = pd.read_sql(text("SELECT * FROM cases"), conn)
    for name in ("requested_at", "due_at"):
        local = pd.to_datetime(frame[name], utc=True).dt.tz_convert(settings.timezone)
        frame[name.replace("_at", "_local")] = local.dt.tz_localize(None)
    return frame


def _text(component) -> str:
    return json.dumps(component, default=lambda c: c.to_plotly_json())


def _rows(component) -> list[list[str]]:
    """Each body row of each table as its cells' plain text."""
    out = []
    for row in walk(component):
        if isinstance(row, html.Tr):
            cells = row.children if isinstance(row.children, list) else [row.children]
            out.append([" ".join(str(x) for x in _strings(c)) for c in cells])
    return out


def _strings(node) -> list[str]:
    children = getattr(node, "children", node)
    if isinstance(children, str | int | float):
        return [str(children)]
    if children is None:
        return []
    return [
        s
        for child in (children if isinstance(children, list) else [children])
        for s in _strings(child)
    ]


@pytest.mark.parametrize("query", PERIODS)
def test_the_pack_says_what_the_department_page_heading_says(services, query) -> None:
    """Tier, compliance, target, due, on time, opened, backlog, overdue, median days and the
    change since the previous period: the same in the pack as in each department's heading."""
    model = pack_model(services, query, as_of=AS_OF)
    assert model["status"] == "ok"
    period, _ = parse_state(query, default_anchor=services.read_model.options()["max_date"])
    assert model["period_label"] == period.label()
    for section in model["sections"]:
        card = section["card"]
        scope, _ = resolve(services, card["department"], query, as_of=AS_OF)
        heading = heading_values(services, scope)
        for key in ("tier", "due", "on_time", "volume", "open_backlog", "overdue_open"):
            assert card[key] == heading[key], (query, card["department"], key)
        for key, theirs in (
            ("compliance", "compliance"),
            ("target", "target"),
            ("median_days", "median_days"),
            ("compliance_change", "change"),
        ):
            assert card[key] == pytest.approx(heading[theirs], nan_ok=True), (
                query,
                card["department"],
                key,
            )


def test_no_change_is_given_against_a_previous_period_with_too_few_due(services, cases) -> None:
    """PROP had fewer than the minimum of cases due in August 2011 (counted here from the store):
    September's pack gives no change in points for it, on the cover or on its page."""
    prop = cases[
        (cases["department"] == "PROP")
        & (cases["due_local"] >= pd.Timestamp("2011-08-01"))
        & (cases["due_local"] < pd.Timestamp("2011-09-01"))
        & ~cases["is_duplicate"].astype(bool)
    ]
    assert 0 < len(prop) < services.policy.min_count
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    (card,) = [c for c in model["cards"] if c["department"] == "PROP"]
    assert card["tier"] != str(Tier.NOT_ENOUGH)
    assert card["compliance_change"] is None
    (section,) = [s for s in model["sections"] if s["card"]["department"] == "PROP"]
    rows = _rows(ui.department_section(section))
    assert ["Change since the previous period", "–"] in rows


def test_types_under_the_minimum_show_no_percentage(services) -> None:
    """A request type with "Not enough data" shows "–", not "0.0%" for 1 case due, as on the
    department page."""
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    thin = 0
    for section in model["sections"]:
        types = section["types"].head(ui.TYPE_ROWS)
        rows = {r[0]: r for r in _rows(ui.department_section(section))}
        for r in types.itertuples():
            if r.tier == str(Tier.NOT_ENOUGH) and r.due > 0:
                thin += 1
                assert rows[str(r.group)][2] == "–", (section["card"]["department"], r.group)
    assert thin > 0


def test_missing_addresses_read_as_a_dash(services, cases) -> None:
    """An overdue case without an address shows "–" (a missing value printed as an empty cell
    before)."""
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    no_address = set(cases.loc[cases["address"].isna(), "request_id"])
    seen = 0
    for section in model["sections"]:
        rows = {r[0]: r for r in _rows(ui.department_section(section))}
        for request_id in section["overdue"]["request_id"]:
            if request_id in no_address:
                seen += 1
                assert rows[str(request_id)][2] == "–", request_id
    assert seen > 0


def test_empty_states_keep_the_page_heading(services, tmp_path) -> None:
    outside = pack_view(services, "?period=month&date=2019-09-01", as_of=AS_OF)
    assert isinstance(outside[0], html.H1)
    assert outside[0].children == "Stat-meeting pack: September 2019"
    assert "The data runs from 2011-07-01 to 2011-12-31" in _text(outside)
    nothing = pack_view(Services.from_settings(make_settings(tmp_path)), SEPTEMBER)
    assert isinstance(nothing[0], html.H1) and "No data loaded yet" in _text(nothing)


def test_a_department_with_only_a_backlog_says_why_it_is_there(services, cases) -> None:
    """In the last week of 2011 some departments opened nothing and had nothing due, but still
    had cases open: their page says so instead of a page of zeros."""
    query = "?period=week&date=2011-12-26"
    model = pack_model(services, query, as_of=AS_OF)
    quiet = [s for s in model["sections"] if s["card"]["due"] == 0 and s["card"]["volume"] == 0]
    assert quiet
    for section in quiet:
        name = section["card"]["department"]
        mine = cases[cases["department"] == name]
        opened = mine["requested_local"].between("2011-12-26", "2012-01-02", inclusive="left")
        assert not opened.any(), name
        shown = section["card"]["department_name"]  # the department's name (its code when none)
        assert f"Nothing of {shown} was due or opened in" in _text(ui.department_section(section))


def test_departments_in_the_link_choose_the_pages(services) -> None:
    both = pack_model(services, SEPTEMBER + "&department=PWDx&department=ISD", as_of=AS_OF)
    assert {s["card"]["department"] for s in both["sections"]} == {"PWDx", "ISD"}
    unknown = pack_model(services, SEPTEMBER + "&department=NOPE", as_of=AS_OF)
    everyone = pack_model(services, SEPTEMBER, as_of=AS_OF)
    assert [c["department"] for c in unknown["cards"]] == [
        c["department"] for c in everyone["cards"]
    ]


def test_the_repeat_locations_table_has_row_and_column_headers(services) -> None:
    view = repeats_view(services, "PWDx", SEPTEMBER, as_of=AS_OF)
    cells = table_cells(view["table"])
    headers = [attributes for row in cells for tag, attributes, _ in row if tag == "th"]
    assert headers and all(h["scope"] in ("col", "row") for h in headers)
    assert sum(h["scope"] == "row" for h in headers) == len(cells) - 1


@pytest.mark.browser
def test_the_pack_in_chromium_reflows_reads_and_prints(demo, reset_dash_registries) -> None:
    settings = demo[0]
    password = make_user(settings, "pack-review@city.test", role="executive")
    app = create_app(settings)
    expected = [
        s["card"]["department"]
        for s in pack_model(Services.from_settings(settings), SEPTEMBER)["sections"]
    ]
    with serve_wsgi(app.server) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 320, "height": 800})
        browser_sign_in(page, url, "pack-review@city.test", password)
        page.goto(url + "/pack" + SEPTEMBER)
        page.locator("section.pack-department").nth(len(expected) - 1).wait_for(timeout=60_000)
        # Reflow (WCAG 1.4.10): the page does not scroll sideways at 320 px; tables do.
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        # One h1, no skipped heading level, every header cell scoped, the button named.
        levels = page.evaluate(
            "Array.from(document.querySelectorAll('main :is(h1,h2,h3,h4,h5,h6)'))"
            ".map(h => +h.tagName[1])"
        )
        assert levels.count(1) == 1 and levels[0] == 1
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False))
        assert page.evaluate("document.querySelectorAll('th:not([scope])').length") == 0
        assert page.get_by_role("button", name="Print").count() == 1
        assert page.evaluate("document.documentElement.lang") == "en"
        # Print: a sensible number of pages (the cover and at most two per department).
        page.set_viewport_size({"width": 1200, "height": 900})
        page.emulate_media(media="print")
        for paper in ("A4", "Letter"):
            pdf = page.pdf(format=paper)
            pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
            assert len(expected) + 1 <= pages <= 2 * len(expected) + 2, (paper, pages)
        # A period outside the data still has the page's heading.
        page.emulate_media(media="screen")
        page.goto(url + "/pack?period=month&date=2019-09-01")
        heading = page.locator("main h1")
        heading.wait_for(timeout=60_000)
        assert heading.inner_text() == "Stat-meeting pack: September 2019"
