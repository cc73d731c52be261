"""The public portal (``/public/...``): a separate Dash app with no sign-in, its pages on the
Boston demo, and its separation from the staff app."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from dash import no_update

from callbacks.public import map_view, normalise_number, route, track_action, track_target
from dashboard.app_factory import create_app
from dashboard.public import SENSITIVE_BY_AREA, PublicConfig, cell_centre, span_words
from dashboard.queries import CaseFilter, ReadModel
from dashboard.sla import SlaEngine
from dashboard.store import Store
from layouts.public import Ids, points_map
from tests.conftest import make_settings
from tests.support.components import walk
from tests.test_privacy_crawl import PRIVATE_ID, build_pii_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def app(demo, reset_dash_registries, monkeypatch):
    app = create_app(replace(demo[0], rate_limit="1000000 per minute"))
    app.server.test_client().get("/healthz")
    return app


@pytest.fixture
def data(app):
    return app.server.extensions["stat311_public"]


def text_of(component: Any) -> str:
    parts: list[str] = []
    stack = [component]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str | int | float):
            parts.append(str(item))
        elif isinstance(item, list | tuple):
            stack[:0] = list(item)
        elif hasattr(item, "to_plotly_json"):
            children = getattr(item, "children", None)
            if children is not None:
                stack.insert(0, children)
    return " ".join(parts)


def hrefs(component: Any) -> list[str]:
    return [c.href for c in walk(component) if getattr(c, "href", None)]


# -- separation from the staff app -----------------------------------------------------------------
def test_public_pages_need_no_sign_in_and_staff_ones_still_do(app) -> None:
    client = app.server.test_client()
    for path in (
        "/public/",
        "/public/requests/101000295613",
        "/public/map",
        "/public/performance",
        "/public/_dash-layout",
        "/public/_dash-dependencies",
        "/public/assets/00-bootstrap.min.css",
    ):
        assert client.get(path).status_code == 200, path
    page = client.get("/public/").get_data(as_text=True)
    assert '<html lang="en">' in page and "/public/_dash-component-suites/" in page
    assert client.get("/_dash-layout").status_code == 403
    assert client.get("/requests").status_code == 302
    staff = app.callback_map
    public = app.server.extensions["stat311_public_app"]
    assert not set(public.callback_map) & set(staff)
    for key in staff:  # the staff callbacks are not reachable through the public endpoint
        body = {"output": key, "outputs": [], "inputs": [], "changedPropIds": []}
        assert client.post("/public/_dash-update-component", json=body).status_code == 400


def test_the_portal_never_links_to_staff_pages(app, data) -> None:
    pages = [
        app.server.extensions["stat311_public_app"].layout(),
        route(data, "/public/", now=NOW)[0],
        route(data, "/public/requests/101000295613", now=NOW)[0],
        route(data, "/public/requests/nope", now=NOW)[0],
        route(data, "/public/map", now=NOW)[0],
        route(data, "/public/performance", now=NOW)[0],
        route(data, "/public/unknown", now=NOW)[0],
    ]
    links = [href for page in pages for href in hrefs(page)]
    assert links and all(h.startswith(("/public/", "/open311/", "#")) for h in links), links
    assert "/public/requests/101000295613" in links  # the permanent link
    assert "/open311/v2/requests/101000295613.json" in links


# -- track a request -----------------------------------------------------------------------------
def test_track_a_request_on_the_demo(data) -> None:
    content, title = route(data, "/public/requests/101000295613", now=NOW)
    words = text_of(content)
    assert title.startswith("Request 101000295613")
    for expected in (
        "Request 101000295613",
        "Closed",
        "Street Light Outages",
        "PWDx",
        "Fri 1 Jul 2011, 1:32 AM",  # requested, in Boston time
        "within 14 days (the date set for this request)",  # Boston's own target date
        "Fri 15 Jul 2011, 1:32 AM",  # expected by
        "Closed after 3 hours 34 minutes, within the promised time frame.",
        "shown exactly (public infrastructure)",
        "Mattapan (neighborhood)",
        "Timeline",
    ):
        assert expected in words, expected
    # The number typed stays in the box.
    box = next(c for c in walk(content) if getattr(c, "id", None) == Ids.NUMBER)
    assert box.value == "101000295613"


def test_policy_time_frame_and_an_open_request(data, demo) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    policy_case = model.select(
        "SELECT request_id FROM {cases} WHERE {where} AND sla_due_source = 'policy' "
        "AND department = 'PWDx' AND service_name = 'Highway Maintenance' LIMIT 1"
    )["request_id"].iloc[0]
    words = text_of(route(data, f"/public/requests/{policy_case}", now=NOW)[0])
    assert "usually within 3 business days" in words  # the example policy's type rule
    open_case = model.select(
        "SELECT request_id FROM {cases} WHERE {where} AND status = 'open' "
        "AND sla_due_at IS NOT NULL AND service_name = 'Graffiti Removal' LIMIT 1"
    )["request_id"].iloc[0]
    words = text_of(route(data, f"/public/requests/{open_case}", now=NOW)[0])
    # The demo's newest data is 31 Dec 2011: an open request is counted to there, not to today
    # (NOW, 2026), which the data cannot tell about.
    record = data.lookup(open_case)
    end = datetime(2012, 1, 1, tzinfo=data.tz).astimezone(UTC)
    open_for = span_words((end - record["requested_at"]).total_seconds())
    assert f"Open for {open_for} as of the newest data, 31 Dec 2011" in words
    assert "Open for 14." not in words and "past the expected time" in words
    assert "Still open in the newest data, 31 Dec 2011" in words
    assert "shown to within about 100\u00a0m" in words
    # Data that is current (its newest day ended an hour ago): counted to now, "so far".
    live = datetime(2012, 1, 1, 1, tzinfo=data.tz).astimezone(UTC)
    words = text_of(route(data, f"/public/requests/{open_case}", now=live)[0])
    open_for = span_words((live - record["requested_at"]).total_seconds())
    assert f"Open for {open_for} so far" in words and "Still open today" in words


def test_an_open_request_due_after_the_newest_data_is_not_called_late(data, demo, app) -> None:
    """The review's request 101000335209: open in the newest data (31 Dec 2011), expected 25
    Jan 2012. Its page and the API said "past the expected time" (counted against today)
    while "Time taken" counted to the newest data; both now count to the newest data, and the
    timeline dates "still open" once."""
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    end = datetime(2012, 1, 1, tzinfo=data.tz).astimezone(UTC)
    cases = model.select(
        "SELECT request_id, sla_due_at > ? AS later FROM {cases} WHERE {where} "
        "AND status = 'open' AND NOT is_private AND sla_due_at IS NOT NULL "
        "ORDER BY request_id",
        before=[end],
    )
    later = cases[cases["later"]]["request_id"].iloc[0]
    earlier = cases[~cases["later"]]["request_id"].iloc[0]
    client = app.server.test_client()
    for number, late in ((later, False), (earlier, True)):
        record = data.lookup(number)
        assert (record["expected_at"] < end) == late
        assert ("past the expected time" in record["status_notes"]) == late, number
        words = text_of(route(data, f"/public/requests/{number}", now=NOW)[0])
        assert ("past the expected time" in words) == late, number
        assert ("; expected within " in words) == (not late), number
        assert "Still open in the newest data, 31 Dec 2011" in words
        assert "Sun 1 Jan 2012" not in words  # the end of that day, not another date
        api = client.get(f"/open311/v2/requests/{number}.json").get_json()[0]
        assert api["status_notes"] == record["status_notes"]


def test_unknown_numbers_say_so_and_what_to_check(data) -> None:
    for path in (
        "/public/requests/123",
        "/public/requests/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/public/requests/" + "9" * 500,
        "/public/requests/",
    ):
        content, title = route(data, path, now=NOW)
        words = text_of(content)
        assert "We could not find that request" in words or "Track a request" in words, path
        if "123" in path:
            assert title.startswith("Request not found")
            assert "new requests can take up to a day" in words
    assert text_of(route(data, "/public/nowhere", now=NOW)[0]).startswith("Page not found")


def test_tracking_numbers_are_normalised(data) -> None:
    assert track_target(" #1010 0029 5613 ") == ("/public/requests/101000295613", "")
    assert track_target("") == (no_update, "Enter a tracking number.")
    # The form drawn with the page fires its callback: no message before a click or Enter.
    assert track_action(0, None, "") == (no_update, no_update)
    assert track_action(0, None, None) == (no_update, no_update)
    assert track_action(1, None, "") == (no_update, "Enter a tracking number.")
    assert track_action(0, 1, " 101000295613") == ("/public/requests/101000295613", "")
    target, message = track_target("<b>1</b>")
    assert target is no_update and "letters and digits" in message
    assert normalise_number("ABC-12.3") == ("ABC-12.3", None)


# -- the map ---------------------------------------------------------------------------------------
def test_map_views_count_public_cases_and_snap_locations(data, demo) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    catalogue = data.catalogue()
    end = catalogue["last"]
    start = end.fromordinal(end.toordinal() - 29)
    total = model.total(CaseFilter(start=start, end=end))
    figure, summary, _ = map_view(data, None, "30", "area")
    assert f"All requests: {total:,} in" in "".join(summary)
    area_sum = sum(figure["data"][0]["z"])
    no_area = model.select(
        "SELECT count(*) AS n FROM {cases} WHERE {where} AND area_neighborhood IS NULL",
        flt=CaseFilter(start=start, end=end),
    )["n"].iloc[0]
    assert area_sum == total - no_area
    cells = data.map_data(service_name=None, days=30, view="cell")
    assert cells["frame"]["requests"].sum() == model.total(CaseFilter(start=start, end=end)) - int(
        model.select(
            "SELECT count(*) AS n FROM {cases} WHERE {where} AND (location_quality <> 'exact' "
            "OR list_contains(?, service_name))",  # sensitive types: by area only
            flt=CaseFilter(start=start, end=end),
            after=[sorted(data.config.sensitive_types)],
        )["n"].iloc[0]
    )
    assert SENSITIVE_BY_AREA in cells["note"]
    rats = data.map_data(service_name="Rat Bite", days=365, view="points")
    assert rats["frame"].empty and SENSITIVE_BY_AREA in rats["note"]
    assert data.map_data(service_name="Rat Bite", days=365, view="cell")["frame"].empty
    points = data.map_data(service_name="Graffiti Removal", days=30, view="points")["frame"]
    assert len(points) > 50 and set(points["precision"]) == {"cell"}
    truth = model.select(
        "SELECT request_id, lat, lon, h3_9 FROM {cases} WHERE {where} AND list_contains(?, "
        "request_id)",
        after=[points["request_id"].head(20).tolist()],
    ).set_index("request_id")
    for row in points.head(20).itertuples():
        assert (row.lat, row.lon) == cell_centre(truth.loc[row.request_id, "h3_9"])
        assert (row.lat, row.lon) != (
            truth.loc[row.request_id, "lat"],
            truth.loc[row.request_id, "lon"],
        )
    lights = data.map_data(service_name="Street Light Outages", days=30, view="points")["frame"]
    assert set(lights["precision"]) == {"exact"}
    figure, _, table = map_view(data, "Street Light Outages", "90", "points", 390)
    assert figure["layout"]["map"]["style"] == "white-bg"  # no third-party map tiles
    assert "Request" in text_of(table)
    # Anything a crafted request sends falls back to the defaults.
    for args in ((["x"], "abc", "nope"), (None, None, None), ("<img>", "-5", 3)):
        map_view(data, *args)


def test_the_points_hover_gives_each_requests_day_as_pandas_formats_it() -> None:
    """The hover's "Requested 31 Dec 2011" is formatted once per day (not once per point):
    it must still be each point's own day, as ``Series.dt.strftime`` gives it, a missing time
    included."""
    times = pd.to_datetime(
        ["2011-12-31 23:59:59", "2011-12-31 00:00:00", None, "2012-01-01 00:00:01",
         "2011-02-03 12:00:00", "2012-01-01 23:00:00"]
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(times))],
            "service_name": "Graffiti Removal",
            "status": ["open", "closed", "open", "closed", "closed", "open"],
            "requested_local": times,
            "lat": 42.35,
            "lon": -71.06,
            "precision": "cell",
        }
    )
    figure = points_map(frame, None)
    got = {
        row[0]: row[2]
        for trace in figure["data"]
        if trace["type"] == "scattermap"
        for row in trace["customdata"]
    }
    want = frame["requested_local"].dt.strftime("Requested %d %b %Y").tolist()
    assert len(got) == len(frame)
    for request_id, text in zip(frame["request_id"], want, strict=True):
        assert (got[request_id] == text) or (pd.isna(text) and pd.isna(got[request_id]))
    assert got["r0"] == got["r1"] == "Requested 31 Dec 2011" != got["r3"]


@pytest.mark.parametrize("view", ["area", "cell", "points"])
def test_map_figures_are_valid_plotly_and_look_as_go_figure_would(data, view: str) -> None:
    """The maps are built as plain dicts (no validation, no deep copy of the GeoJSON); plotly's
    own validation, run here, must accept every attribute, and the template is plotly's default,
    as ``go.Figure`` would have sent."""
    import json

    import plotly.graph_objects as go
    from plotly.utils import PlotlyJSONEncoder

    figure, _, _ = map_view(data, None, "30", view)
    assert isinstance(figure, dict) and figure["data"]
    checked = go.Figure(figure)  # raises ValueError on any unknown attribute or bad value
    assert checked.to_plotly_json()["data"][0]["type"] == figure["data"][0]["type"]
    # ... and what is sent is what go.Figure would have sent (a named colour scale that plotly.js
    # reads differently from plotly.py once drew the busiest areas palest)
    assert json.loads(json.dumps(figure, cls=PlotlyJSONEncoder)) == json.loads(checked.to_json())
    assert figure["layout"]["template"] == go.Figure().to_plotly_json()["layout"]["template"]
    counted = [
        t for t in figure["data"] if t["type"] == "choroplethmap" and t.get("showscale", True)
    ]
    if view != "points":
        (trace,) = counted
        frame = data.map_data(service_name=None, days=30, view=view)["frame"]
        key = "cell" if view == "cell" else "name"
        shown = dict(zip(trace["locations"], trace["z"], strict=True))
        want = dict(zip(frame[key].astype(str), frame["requests"], strict=True))
        assert shown and all(want[k] == v for k, v in shown.items())
    if view in {"cell", "points"}:  # drawn over the neighbourhoods' outlines, for orientation
        (outline,) = [t for t in figure["data"] if t.get("name") == "Areas"]
        assert figure["data"][0] is outline and outline["hoverinfo"] == "skip"
        names = {f["id"] for f in outline["geojson"]["features"]}
        assert len(names) == len(outline["locations"]) > 10  # Boston's neighbourhoods


def test_private_cases_are_left_out_of_maps_and_lookups(tmp_path, reset_dash_registries) -> None:
    settings = build_pii_store(tmp_path)
    data = create_app(settings).server.extensions["stat311_public"]
    assert data.lookup(PRIVATE_ID) is None
    for view in ("area", "cell", "points"):
        result = data.map_data(service_name="Graffiti Removal", days=30, view=view)
        frame = result["frame"]
        assert PRIVATE_ID not in frame.to_string()
        if view == "points":
            assert PRIVATE_ID not in set(frame["request_id"])
            graffiti = Store(settings.database_url)
            with graffiti.connect() as conn:
                public = conn.exec_driver_sql(
                    "SELECT count(*) FROM cases WHERE service_name = 'Graffiti Removal' "
                    "AND NOT is_private AND lat IS NOT NULL"
                ).scalar()
            graffiti.dispose()
            assert len(frame) == public
    assert "Unsatisfactory Living Conditions" in PublicConfig().sensitive_types


# -- city performance ------------------------------------------------------------------------------
def test_performance_tiers_match_the_sla_engine(data, demo) -> None:
    settings, _ = demo
    model = data.performance()
    end = model["end"]
    engine = SlaEngine(ReadModel(settings.snapshot_dir), data.policy, settings.timezone)
    direct = engine.report(start=end.fromordinal(end.toordinal() - 29), end=end)
    pwd = next(d for d in model["departments"] if d["department"] == "PWDx")
    row = direct.set_index("group").loc["PWDx"]
    assert pwd["d30"]["tier"] == row["tier"] and pwd["d30"]["due"] == row["due"]
    assert pwd["d30"]["on_time"] == row["on_time"]
    assert pwd["examples"][0] == "Schedule a Bulk Item Pickup"
    order = ["Problem That Needs a Plan", "Close But Not There", "On Target", "Not enough data"]

    def rank(figures) -> int:  # a period with nothing due at all goes after "Not enough data"
        return order.index(figures["tier"]) if figures else len(order)

    def score(figures) -> float:  # within a tier, the lowest share on time first
        value = figures.get("compliance") if figures else None
        return 2.0 if value is None or pd.isna(value) else value

    keys = [(rank(d["d30"]), score(d["d30"]), rank(d["d90"])) for d in model["departments"]]
    assert keys == sorted(keys)  # problems first (30 days, then 90 days for the small ones)
    assert [k[0] for k in keys].count(len(order)) < len(keys)
    problems = [k[1] for k in keys if k[0] == 0]
    assert len(problems) >= 2 and problems == sorted(problems)  # the worst problem heads it
    words = text_of(route(data, "/public/performance", now=NOW)[0])
    assert "In the 30 days to 31 December 2011" in words
    assert "requests due in the last 30 days were done on time" in words
    assert "Table of the chart's numbers" in words and "How this is measured" in words


def test_map_settings_go_to_the_address_and_come_back_from_it(data) -> None:
    from callbacks.public import map_search, map_settings_from_search, map_state

    types = data.catalogue()["types"]
    chosen = {"type": "Street Light Outages", "days": 90, "view": "cell"}
    search = map_search(chosen)
    assert search == "?type=Street+Light+Outages&days=90&view=cell"
    assert map_settings_from_search(search, types=types) == chosen
    assert map_search({"type": None, "days": 30, "view": "area"}) == ""  # defaults left out
    for junk in ("?type=Nope&days=7&view=x", "?days=abc", 5, None, "?type="):
        assert map_settings_from_search(junk, types=types) == {
            "type": None, "days": 30, "view": "area"}  # fmt: skip
    # A control changed: the map follows the controls and the address is rewritten.
    out = map_state(data, triggered={"public-map-view.value"}, search="", type_=None,
                    days="30", view="points")  # fmt: skip
    assert out[0] == "?view=points" and out[1:4] == [no_update] * 3
    assert out[5] == map_view(data, None, 30, "points")[1]  # the summary of that view
    # The address changed (Back, a shared link): the controls and the map follow it.
    out = map_state(data, triggered={"public-map-url.search"}, search=search, type_=None,
                    days="30", view="points")  # fmt: skip
    assert out[0] is no_update and out[1:4] == ["Street Light Outages", "90", "cell"]
    assert out[5] == map_view(data, "Street Light Outages", 90, "cell")[1]
    # The type box's "All request types" is "": no type in the address, and back.
    out = map_state(data, triggered={"public-map-type.value"}, search=search, type_="",
                    days="90", view="cell")  # fmt: skip
    assert out[0] == "?days=90&view=cell" and out[1:4] == [no_update] * 3
    assert out[5] == map_view(data, None, 90, "cell")[1]
    out = map_state(data, triggered={"public-map-url.search"}, search="?days=90&view=cell",
                    type_="Street Light Outages", days="90", view="cell")  # fmt: skip
    assert out[1:4] == ["", "90", "cell"]


@pytest.mark.parametrize("pathname", [123, ["a"], {"a": 1}, 1.5, True])
def test_a_path_that_is_not_text_is_a_page_not_found(data, pathname) -> None:
    """What a hand-made callback request may post instead of a path: a "page not found" (it
    was a 500), and the lookup form's number likewise is no number."""
    content, title = route(data, pathname)
    assert "Page not found" in text_of(content) and title.startswith("Page not found")
    assert normalise_number(pathname) == (None, "Enter a tracking number.")


def test_performance_leaves_private_cases_out(demo, tmp_path) -> None:
    """The public side's service levels count only the cases it may show: a department whose
    cases are all private is not listed, and another's volume is its public cases' (pandas)."""
    import sqlite3
    from zoneinfo import ZoneInfo

    import pandas as pd

    from dashboard.snapshot import write_for
    from tests.support.public import public_data

    settings = make_settings(tmp_path)
    source = sqlite3.connect(demo[0].database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
    source.backup(target)
    source.close()
    target.execute("UPDATE cases SET is_private = 1 WHERE department = 'PROP'")
    target.execute("UPDATE cases SET is_private = 1 WHERE department = 'PWDx' AND id % 3 = 0")
    target.commit()
    cases = pd.read_sql(
        "SELECT department, requested_at, is_private FROM cases WHERE department IS NOT NULL",
        target,
    )
    target.close()
    store = Store(settings.database_url)
    try:
        write_for(store, settings, full=True)
        with public_data(settings) as data:
            model = data.performance()
    finally:
        store.dispose()
    end = model["end"]
    local = (
        pd.to_datetime(cases["requested_at"], utc=True)
        .dt.tz_convert(ZoneInfo(settings.timezone))
        .dt.date
    )
    window = (local >= end.fromordinal(end.toordinal() - 89)) & (local <= end)
    assert cases.loc[window & (cases["department"] == "PROP")].shape[0] > 0  # PROP had cases
    listed = {d["department"]: d for d in model["departments"]}
    assert "PROP" not in listed
    pwd = cases[window & (cases["department"] == "PWDx")]
    assert pwd["is_private"].astype(bool).sum() > 0
    assert listed["PWDx"]["d90"]["volume"] == int((~pwd["is_private"].astype(bool)).sum())


def test_an_empty_store_gives_friendly_pages_and_empty_lists(tmp_path, reset_dash_registries):
    settings = make_settings(tmp_path)
    Store(settings.database_url).migrate()
    app = create_app(settings)
    client = app.server.test_client()
    data = app.server.extensions["stat311_public"]
    assert "No requests have been published yet" in text_of(route(data, "/public/map")[0])
    assert "No requests have been published yet" in text_of(route(data, "/public/performance")[0])
    assert client.get("/open311/v2/services.json").get_json() == []
    assert client.get("/open311/v2/requests.json").get_json() == []
    assert client.get("/open311/v2/requests.json?bbox=-71.2,42.2,-71,42.4").get_json() == []
    assert client.get("/open311/v2/requests/1.json").status_code == 404


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (20, "less than a minute"),
        (60, "1 minute"),
        (45 * 60, "45 minutes"),
        (3 * 3600 + 20 * 60, "3 hours 20 minutes"),
        (3600, "1 hour"),
        (36 * 3600, "36 hours"),
        (14 * 86400, "14 days"),
        (200 * 86400, "7 months"),
        (3 * 365.25 * 86400, "3.0 years"),
        (-5, "less than a minute"),
    ],
)
def test_one_wording_of_spans_for_the_whole_public_side(seconds, words):
    from dashboard.public import span_words

    assert span_words(seconds) == words


def test_open_requests_are_drawn_over_closed_ones_and_listed_first() -> None:
    """Plotly draws later traces on top: the few open requests a resident looks for must not
    be hidden under the closed ones at the same places."""
    from layouts.public import points_map

    frame = pd.DataFrame(
        {
            "request_id": ["1", "2", "3"],
            "service_name": ["Street Light Outages"] * 3,
            "status": ["open", "closed", "closed"],
            "requested_local": ["2011-07-01 10:00"] * 3,
            "lat": [42.35, 42.35, 42.36],
            "lon": [-71.06, -71.06, -71.07],
            "precision": ["exact"] * 3,
        }
    )
    figure = points_map(frame, None)
    data = figure["data"] if isinstance(figure, dict) else figure.to_plotly_json()["data"]
    markers = [t for t in data if t["type"] == "scattermap"]
    assert [t["name"] for t in markers] == ["Closed", "Open"]  # open drawn last, on top
    assert [len(t["lat"]) for t in markers] == [2, 1]
    ranks = {t["name"]: t["legendrank"] for t in markers}
    assert ranks["Open"] < ranks["Closed"]  # and listed first in the legend


def test_the_public_trend_counts_whole_weeks_and_leaves_thin_ones_out(data, demo) -> None:
    """The city performance trend starts on a Monday (26 weeks before the end, a Saturday, cut
    its first week short) and each week's volume is the week's requests; a week with fewer due
    than the policy's minimum count has no share (a gap, never 0%)."""
    from dataclasses import replace as replace_

    settings, _ = demo
    weeks = data.performance()["weekly"]
    assert len(weeks) == 26 and all(pd.Timestamp(w).weekday() == 0 for w in weeks["week"])
    cases = ReadModel(settings.snapshot_dir).select(
        "SELECT requested_local FROM {cases} WHERE {where} AND NOT is_private"
    )
    local = pd.to_datetime(cases["requested_local"])
    first = pd.Timestamp(weeks["week"].iloc[0])
    whole = int(((local >= first) & (local < first + pd.Timedelta(days=7))).sum())
    assert int(weeks["volume"].iloc[0]) == whole > 0
    assert weeks["compliance"].notna().all()  # the demo's weeks are all judged (>= 20 due)

    data.policy = replace_(data.policy, min_count=10**6)  # no week has a million due
    data._cache._items.clear()
    thin = data.performance()["weekly"]
    assert (thin["due"] > 0).all() and thin["compliance"].isna().all()
    words = text_of(route(data, "/public/performance", now=NOW)[0])
    assert "– (too few due to judge)" in words and "0.0%" not in words
