"""The hot-spot page measures what its map analyses (UX review of the Boston demo).

1. In the late and share modes the legend and the work list are about late requests: the legend's
   amount column is the late requests (the share late of those due), the work list is ranked by
   confidence, then the late count (the smoothed share), and shows that column first; the
   downloads keep every column and the same order. Every mode is checked.
2. A department user's Department box says which departments "all" means.
3. The hexagon-size labels are short enough to be read whole.
4. The work list's addresses have one space between words, in the table and in the CSV alike.

Expected values are computed here with pandas and numpy over the snapshot's rows (read with
DuckDB straight from its Parquet file), not through ``dashboard.hotspots``'s own queries.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from typing import Any

import duckdb
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest

from dashboard import hotspots as hs
from dashboard.departments import load_names
from dashboard.hotspots_emerging import HOT_CATEGORIES
from dashboard.queries import ReadModel
from dashboard.services import Services
from tests.support.components import table_cells, table_rows, walk

POTHOLES = "Request for Pothole Repair"
STREETLIGHTS = "Street Light Outages"
#: The review's view: /hotspots?type=Request+for+Pothole+Repair&from=2011-09-01&to=2011-10-31
#: &res=8&mode=late (and the other measures over the same question).
REVIEWED = hs.HotspotParams(
    type=POTHOLES, start=date(2011, 9, 1), end=date(2011, 10, 31), resolution=8, mode="late"
)
#: Emerging hot spots need at least 10 weeks.
H2 = (date(2011, 7, 1), date(2011, 12, 31))


@pytest.fixture(scope="module")
def boston(demo):
    settings, _ = demo
    return settings, Services.from_settings(settings)


@pytest.fixture(scope="module")
def rows(boston) -> pd.DataFrame:
    """Every located pothole and streetlight case of the snapshot with its own resolution-8
    cell, late and judged flags (plain pandas: closed after the due time, or open past it)."""
    _, services = boston
    path = str(services.read_model.snapshot() / "cases.parquet")
    frame = (
        duckdb.connect()
        .execute(
            "SELECT service_name, requested_local, location_quality, is_duplicate, status, "
            "closed_at, sla_due_at, address, lat, lon FROM read_parquet(?) "
            "WHERE service_name IN (?, ?)",
            [path, POTHOLES, STREETLIGHTS],
        )
        .df()
    )
    frame = frame[(frame["location_quality"] == "exact") & ~frame["is_duplicate"].fillna(False)]
    now = pd.Timestamp.now(tz="UTC")
    due, closed = frame["sla_due_at"], frame["closed_at"]
    frame = frame.assign(
        cell=[
            h3i.latlng_to_cell(la, lo, 8) for la, lo in zip(frame["lat"], frame["lon"], strict=True)
        ],
        late=due.notna() & ((closed.notna() & (closed > due)) | (closed.isna() & (due < now))),
        judged=due.notna() & (closed.notna() | (due < now)),
    )
    return frame


def _asked(frame: pd.DataFrame, params: hs.HotspotParams) -> pd.DataFrame:
    """The rows of the question's type requested between its dates (local, inclusive)."""
    day = frame["requested_local"].dt.date
    asked = (frame["service_name"] == params.type) & (day >= params.start) & (day <= params.end)
    return frame[asked]


def _per_cell(frame: pd.DataFrame) -> pd.DataFrame:
    return (
        frame.assign(open=frame["status"] == "open")
        .groupby("cell")
        .agg(
            count=("late", "size"),
            late=("late", "sum"),
            judged=("judged", "sum"),
            open=("open", "sum"),
        )
    )


def _eb(late: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Empirical Bayes, written out again from docs/HOTSPOTS.md (global, method of moments)."""
    m = late.sum() / judged.sum()
    out = np.full(late.shape, m)
    has = judged > 0
    r = late[has] / judged[has]
    s2 = (judged[has] * (r - m) ** 2).sum() / judged.sum()
    a = max(s2 - m * (1 - m) / judged[has].mean(), 0.0)
    out[has] = m + a / (a + m * (1 - m) / judged[has]) * (r - m)
    return out


def _texts(node: Any) -> list[str]:
    """The text of a Dash component tree, in order."""
    if node is None:
        return []
    if isinstance(node, str | int | float):
        return [str(node)]
    if isinstance(node, list | tuple):
        return [t for child in node for t in _texts(child)]
    return _texts(getattr(node, "children", None))


def _table(view: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    rows = table_rows(view["table"])
    return rows[0], rows[1:]


def _legend(view: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    table = view["legend"].children[0]
    head, body = table.children
    headings = ["".join(_texts(th)) for th in head.children.children]
    out = {}
    for tr in body.children:
        cells = ["".join(_texts(c)) for c in tr.children]
        out[cells[0]] = cells[1:]
    return headings, out


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _csv(services: Services, params: hs.HotspotParams) -> pd.DataFrame:
    from callbacks.hotspots import download

    return pd.read_csv(io.StringIO(download(services, params, "csv")["content"]))


# -- 1. the measure the map analyses --------------------------------------------------------------
def test_late_mode_legend_and_work_list_are_about_late_requests(boston, rows) -> None:
    """The review's case: the legend said 285 "Requests" in the 99% cells, the work list's third
    row had 16 requests but 1 late above cells with 4 late."""
    from callbacks.hotspots import download, hotspot_view

    settings, services = boston
    result = hs.analyse(services.read_model, REVIEWED, database_url=settings.database_url)
    own = _per_cell(_asked(rows, REVIEWED))
    cells = result.cells.set_index(result.cells["h3"].astype("int64"))
    # The cells' counts are those of the rows (every located case is in the study area).
    assert own["late"].sum() == cells["late"].sum() == 97 and own["count"].sum() == 438
    joined = cells[["bin", "z", "cell"]].join(own, how="left").fillna(0)
    assert (joined["late"] == cells["late"]).all() and (joined["count"] == cells["count"]).all()

    view = hotspot_view(services, REVIEWED)
    headings, legend = _legend(view)
    assert headings == ["Confidence", "Cells", "Late requests"]
    for b, label in hs.BIN_LABELS.items():
        part = joined[joined["bin"] == b]
        if b == 0:
            label, part = "Not significant (has requests)", part[part["count"] > 0]
        assert legend[label] == [f"{len(part):,}", f"{int(part['late'].sum()):,}"], label
    assert legend["Hot spot, 99% confidence"] != ["59", "285"]  # the review's numbers

    # The work list: hot cells with a late request of their own, 99% first, then the most late,
    # then the strongest z; the late column first after the confidence.
    hot = joined[(joined["bin"] > 0) & (joined["late"] > 0)]
    expected = sorted(hot.itertuples(), key=lambda r: (-r.bin, -r.late, -r.z))[:50]
    headings, table = _table(view)
    assert headings[:5] == ["#", "Confidence", "Late requests", "Requests", "Still open"]
    assert [r[-1] for r in table] == [r.cell for r in expected]
    assert [_number(r[2]) for r in table] == [int(r.late) for r in expected]
    assert [_number(r[3]) for r in table] == [int(r.count) for r in expected]
    # "Still open": of each cell's requests in the window, those open now (pandas, above).
    assert [_number(r[4]) for r in table] == [int(r.open) for r in expected]
    assert any(int(r.open) for r in expected) and any(not int(r.open) for r in expected)
    head = [attributes for _, attributes, _ in table_cells(view["table"])[0]]
    assert "open now" in head[4]["title"] and "Overview's backlog" in head[4]["title"]
    assert not any(th.get("title") for th in head[:4])
    # The statistics' columns say in words what they are.
    titles = {text: a.get("title", "") for _, a, text in table_cells(view["table"])[0]}
    assert "standard deviations" in titles["z"] and "99% confidence" in titles["q"]
    assert "late requests" in titles["Trend (weekly late requests)"]
    assert "too short to tell" in titles["Trend (weekly late requests)"]
    assert "H3" in titles["H3 cell"] and not titles["Most requested addresses"]
    # The review's complaint: a cell with fewer late requests above one with more, same bin.
    ranked = [(int(r.bin), int(r.late)) for r in expected]
    assert ranked == sorted(ranked, reverse=True)
    without = int(((joined["bin"] > 0) & (joined["late"] == 0)).sum())
    assert f"{without:,} more hot" in view["table_note"] and "late request" in view["table_note"]
    assert "the most late requests" in view["table_note"]

    # The downloads: every hot cell, every column, in the table's order.
    csv = _csv(services, REVIEWED)
    every = sorted(joined[joined["bin"] > 0].itertuples(), key=lambda r: (-r.bin, -r.late, -r.z))
    assert csv["h3"].tolist() == [r.cell for r in every]
    assert {"count", "open", "late", "judged", "z", "p", "q", "bin", "addresses"} <= set(csv)
    listed = csv[csv["late"] > 0]["h3"].head(50).tolist()
    assert listed == [r[-1] for r in table]
    geo = json.loads(download(services, REVIEWED, "geojson")["content"])
    assert [f["id"] for f in geo["features"]] == csv["h3"].tolist()


def test_share_mode_ranks_by_the_smoothed_share(boston, rows) -> None:
    from callbacks.hotspots import hotspot_view

    settings, services = boston
    # The pothole question has a few 90% hot cells only; streetlights, the same dates, 37.
    params = REVIEWED.with_(type=STREETLIGHTS, mode="share")
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    cells = result.cells.set_index(result.cells["h3"].astype("int64"))
    own = _per_cell(_asked(rows, params))
    joined = cells[["bin", "z", "cell"]].join(own, how="left").fillna(0)
    joined["smoothed"] = _eb(joined["late"].to_numpy(float), joined["judged"].to_numpy(float))
    assert np.allclose(joined["smoothed"], cells["share_smoothed"], atol=1e-12)

    view = hotspot_view(services, params)
    headings, legend = _legend(view)
    assert headings == ["Confidence", "Cells", "Share late"]
    hot99 = joined[joined["bin"] == 3]
    late, judged = int(hot99["late"].sum()), int(hot99["judged"].sum())
    assert legend["Hot spot, 99% confidence"] == [
        f"{len(hot99):,}",
        f"{late / judged:.0%} ({late:,} of {judged:,})",
    ]

    hot = joined[(joined["bin"] > 0) & (joined["late"] > 0)]
    expected = sorted(hot.itertuples(), key=lambda r: (-r.bin, -r.smoothed, -r.z))[:50]
    assert len(expected) > 5
    # Not the order by requests, nor by the raw share: the smoothed share is what is analysed.
    by_count = sorted(hot.itertuples(), key=lambda r: (-r.bin, -r.count, -r.z))[:50]
    assert [r.cell for r in expected] != [r.cell for r in by_count]
    headings, table = _table(view)
    assert headings[:6] == [
        "#",
        "Confidence",
        "Share late (smoothed)",
        "Late of due",
        "Requests",
        "Still open",
    ]
    assert [r[-1] for r in table] == [r.cell for r in expected]
    assert [r[2] for r in table] == [f"{r.smoothed:.0%}" for r in expected]
    assert [r[3] for r in table] == [
        f"{int(r.late):,} of {int(r.judged):,} ({r.late / r.judged:.0%})" for r in expected
    ]
    csv = _csv(services, params)
    every = sorted(
        joined[joined["bin"] > 0].itertuples(), key=lambda r: (-r.bin, -r.smoothed, -r.z)
    )
    assert csv["h3"].tolist() == [r.cell for r in every]
    assert {"late", "judged", "share", "share_smoothed"} <= set(csv)


def test_count_mode_keeps_requests(boston, rows) -> None:
    from callbacks.hotspots import hotspot_view

    settings, services = boston
    params = REVIEWED.with_(mode="count")
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    cells = result.cells.set_index(result.cells["h3"].astype("int64"))
    own = _per_cell(_asked(rows, params))
    joined = cells[["bin", "z", "cell"]].join(own, how="left").fillna(0)
    view = hotspot_view(services, params)
    headings, legend = _legend(view)
    assert headings == ["Confidence", "Cells", "Requests"]
    hot99 = joined[joined["bin"] == 3]
    assert legend["Hot spot, 99% confidence"] == [
        f"{len(hot99):,}",
        f"{int(hot99['count'].sum()):,}",
    ]
    hot = joined[(joined["bin"] > 0) & (joined["count"] > 0)]
    expected = sorted(hot.itertuples(), key=lambda r: (-r.bin, -r.count, -r.z))[:50]
    headings, table = _table(view)
    assert headings[:4] == ["#", "Confidence", "Requests", "Still open"] and "Late" not in headings
    assert [r[-1] for r in table] == [r.cell for r in expected]
    csv = _csv(services, params)
    assert csv["h3"].tolist() == [
        r.cell
        for r in sorted(
            joined[joined["bin"] > 0].itertuples(), key=lambda r: (-r.bin, -r.count, -r.z)
        )
    ]


def test_emerging_mode_ranks_by_pattern_then_requests(boston, rows) -> None:
    from callbacks.hotspots import hotspot_view

    settings, services = boston
    params = hs.HotspotParams(type=POTHOLES, start=H2[0], end=H2[1], mode="emerging")
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    cells = result.cells.set_index(result.cells["h3"].astype("int64"))
    rank = {c: i for i, c in enumerate(HOT_CATEGORIES)}
    hot = cells[cells["category"].isin(rank)]
    expected = sorted(hot.itertuples(), key=lambda r: (rank[r.category], -r.count, -r.z))
    csv = _csv(services, params)
    assert csv["h3"].tolist() == [r.cell for r in expected]
    view = hotspot_view(services, params)
    headings, table = _table(view)
    assert headings[:4] == ["#", "Category", "Requests", "Still open"]
    assert [r[-1] for r in table] == [r.cell for r in expected if r.count > 0][:50]
    assert _legend(view)[0] == ["Pattern over time", "Cells", "Requests"]


def test_emerging_summary_counts_the_requests_in_its_weeks(boston, rows) -> None:
    """The review's case: "over 26 weeks from 2011-07-03 to 2011-12-31, from 4,659 requests"
    counted the window's 1 and 2 July too, which are in no week. The summary counts the
    requests in the weeks (pandas, below) and says how many of the first days are left out."""
    from callbacks.hotspots import _emerging_summary

    settings, services = boston
    params = hs.HotspotParams(type=POTHOLES, start=H2[0], end=H2[1], mode="emerging")
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    e = result.emerging
    first, last = date.fromisoformat(e["first"]), date.fromisoformat(e["last"])
    assert first > H2[0] and last == H2[1]
    in_weeks = len(_asked(rows, params.with_(start=first)))
    whole = len(_asked(rows, params))
    assert e["requests"] == in_weeks == result.in_area - (whole - in_weeks)
    assert whole > in_weeks  # potholes were requested on 1 and 2 July
    text = "".join(p if isinstance(p, str) else p.children for p in _emerging_summary(result))
    assert f"from {in_weeks:,} requests with a location in those weeks." in text
    assert f" {whole - in_weeks:,} more in the days before {e['first']} are in no week" in text


# -- 2. what "all departments" means --------------------------------------------------------------
def test_a_department_user_is_told_which_departments_all_is(boston) -> None:
    from callbacks.hotspots import page_options
    from layouts.hotspots import Ids, layout

    settings, services = boston
    names = load_names(None)
    everyone = page_options(services.read_model, "", names=names)
    assert everyone["department_placeholder"] == "All" and everyone["department_note"] == ""
    works = ReadModel(settings.snapshot_dir, scope=lambda: ("PWDx",))
    mine = page_options(works, "", names=names)
    assert mine["department_placeholder"] == "All my departments (PWDx)"
    assert "Public Works Department (PWDx) only" in mine["department_note"]
    assert [o["value"] for o in mine["department_options"]] == ["PWDx"]
    two = ReadModel(settings.snapshot_dir, scope=lambda: ("ISD", "PWDx"))
    both = page_options(two, "", names=names)
    assert both["department_placeholder"] == "All my departments (ISD, PWDx)"
    assert (
        "Inspectional Services Department (ISD) and Public Works Department (PWDx) only"
        in both["department_note"]
    )

    def find(node: Any, id_: str) -> Any:
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, list | tuple):
                stack.extend(item)
            elif hasattr(item, "to_plotly_json"):
                if getattr(item, "id", None) == id_:
                    return item
                stack.append(getattr(item, "children", None))
        raise AssertionError(id_)

    assert find(layout(), Ids.DEPARTMENT).placeholder == "All"
    assert find(layout(), Ids.DEPARTMENT_SCOPE) is not None


# -- 3. the hexagon size is read whole -----------------------------------------------------------
def test_hexagon_size_labels_are_short_with_the_detail_elsewhere() -> None:
    from layouts.hotspots import RESOLUTION_HINT, RESOLUTION_OPTIONS

    labels = [o["label"] for o in RESOLUTION_OPTIONS]
    # "Automatic (res. 9; 8 if thin)" was cut at 1400 px ("Automatic (res. 9; …").
    assert max(len(label) for label in labels) <= 20
    assert [o["value"] for o in RESOLUTION_OPTIONS] == ["auto", "7", "8", "9", "10"]
    assert all(f"res. {r}" in label for r, label in zip((7, 8, 9, 10), labels[1:], strict=True))
    assert all(o["title"] for o in RESOLUTION_OPTIONS)
    assert "9" in RESOLUTION_HINT and "8" in RESOLUTION_HINT


# -- 4. addresses ---------------------------------------------------------------------------------
def test_addresses_have_single_spaces_in_the_table_and_the_csv(boston, rows) -> None:
    from callbacks.hotspots import hotspot_view

    _, services = boston
    # Boston's source writes its locations with two spaces between the parts; they are stored
    # with one (tests/test_address_spacing.py), and the page collapses any older store's.
    assert not rows["address"].str.contains("  ", regex=False).any()
    csv = _csv(services, REVIEWED)
    assert not csv["addresses"].str.contains("  ", regex=False).any()
    assert not csv["address"].str.contains("  ", regex=False).any()
    assert "587 Beacon St Boston MA 02215" in set(csv["address"])

    # The most requested addresses, independently: words joined by one space, counted per
    # cell, most first then by name, three at most.
    period = _asked(rows, REVIEWED).dropna(subset=["address"])
    period = period.assign(clean=period["address"].map(lambda a: " ".join(a.split())))
    top = (
        period.groupby(["cell", "clean"]).size().rename("n").reset_index()
        .sort_values(["cell", "n", "clean"], ascending=[True, False, True])
        .groupby("cell").head(3).groupby("cell")["clean"].agg(" | ".join)
    )  # fmt: skip
    by_hex = {format(int(c), "x"): text for c, text in top.items()}
    # (A cell hot for its neighbours' requests alone has no address.)
    got = csv["addresses"].astype(object).where(csv["addresses"].notna(), None).tolist()
    assert got == [by_hex.get(c) for c in csv["h3"]] and sum(map(bool, got)) > 50

    # The page shows the same text as the CSV.
    view = hotspot_view(services, REVIEWED)
    _, table = _table(view)
    shown = {row[-1]: row[-4].split("\n") for row in table}
    assert len(shown) == len(table)
    for cell, items in shown.items():
        assert " | ".join(items) == by_hex[cell]


@pytest.mark.parametrize("mode", ["late", "share", "count"])
def test_the_trend_column_follows_the_measure(boston, rows, mode: str) -> None:
    """The work list's trend is Mann–Kendall over each hot cell's weekly late requests in the
    late and share modes (weekly requests in the count mode), in 7-day steps ending on the last
    day, by the week each case was requested; the heading says which."""
    from callbacks.hotspots import hotspot_view
    from tests.test_stats_review import _mann_kendall

    settings, services = boston
    params = hs.HotspotParams(
        type=REVIEWED.type, start=REVIEWED.start, end=REVIEWED.end, resolution=8, mode=mode
    )
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    asked = _asked(rows, params)
    if mode != "count":
        asked = asked[asked["late"]]
    weeks = ((params.end - params.start).days + 1) // 7
    first = pd.Timestamp(params.end) + pd.Timedelta(days=1 - 7 * weeks)
    step = (asked["requested_local"].dt.normalize() - first).dt.days // 7
    asked = asked.assign(step=step)[(step >= 0) & (step < weeks)]
    counts = asked.groupby(["cell", "step"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(weeks), fill_value=0)

    hot = result.cells[result.cells["bin"] > 0]
    assert len(hot) >= 3
    for row in hot.itertuples():
        h3 = int(row.h3)
        series = counts.loc[h3].to_numpy(float) if h3 in counts.index else np.zeros(weeks)
        z, p = _mann_kendall(series)
        word = "rising" if p < 0.05 and z > 0 else "falling" if p < 0.05 and z < 0 else "no trend"
        assert row.trend == word, (row.cell, series)
    headings, _ = _table(hotspot_view(services, params))
    weekly = "weekly requests" if mode == "count" else "weekly late requests"
    assert f"Trend ({weekly})" in headings


@pytest.mark.parametrize("mode", ["late", "count"])
def test_the_weekly_question_gives_every_cells_trend(boston, rows, mode: str) -> None:
    """The trends' one question (weekly counts of every located cell, asked beside the cell
    counts) gives, for any sorted list of cells, the Mann–Kendall z and p of each cell's weekly
    series counted in plain pandas: cells with many cases, cells with none, and cells picked
    out of the middle of the answer."""
    from tests.test_stats_review import _mann_kendall

    _, services = boston
    params = REVIEWED.with_(mode=mode)
    as_of = pd.Timestamp.now(tz="UTC")  # the fixture's late flags are as of now
    question, weeks = hs._trend_question(
        params.to_filter(),
        8,
        params.start,
        params.end,
        late_as_of=as_of if mode == "late" else None,
    )
    assert question is not None and weeks == 8
    (answer,) = services.read_model.select_all([question])
    asked = _asked(rows, params)
    if mode == "late":
        asked = asked[asked["late"]]
    first = pd.Timestamp(params.end) + pd.Timedelta(days=1 - 7 * weeks)
    step = (asked["requested_local"].dt.normalize() - first).dt.days // 7
    asked = asked.assign(step=step)[(step >= 0) & (step < weeks)]
    counts = asked.groupby(["cell", "step"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(weeks), fill_value=0)
    busy = counts.index.to_numpy(np.int64)
    assert len(busy) >= 20
    # Every other cell with cases, and two cells with none.
    cells = np.sort(np.r_[busy[::2], 0, np.iinfo(np.int64).max])
    got = hs._trends_from(answer, cells, weeks)
    assert got["h3"].tolist() == cells.tolist()
    varying = 0
    for h3, z_got, p_got in zip(got["h3"], got["trend_z"], got["trend_p"], strict=True):
        series = counts.loc[h3].to_numpy(float) if h3 in counts.index else np.zeros(weeks)
        z, p = _mann_kendall(series)
        assert z_got == pytest.approx(z, abs=1e-9) and p_got == pytest.approx(p), h3
        varying += z != 0
    assert varying >= 3


@pytest.mark.parametrize("days", [1, 20, 27])
def test_fewer_than_four_weeks_are_too_short_for_a_trend(boston, days: int) -> None:
    """A window shorter than four whole weeks gives no trend test: every hot cell's trend says
    it is too short to tell; from four weeks on the cells are tested."""
    settings, services = boston

    def hot(length: int) -> pd.DataFrame:
        params = hs.HotspotParams(
            type=REVIEWED.type,
            start=REVIEWED.end - timedelta(days=length - 1),
            end=REVIEWED.end,
            resolution=8,
        )
        cells = hs.analyse(services.read_model, params, database_url=settings.database_url).cells
        return cells[cells["bin"] > 0]

    short = hot(days)
    if days > 1:  # one day's cases are too few to test at all
        assert len(short) > 0
    assert set(short["trend"]) <= {"too short to tell"}
    four = hot(28)
    assert len(four) > 0 and "too short to tell" not in set(four["trend"])


def test_the_method_section_explains_the_headings_without_hovering(reset_dash_registries) -> None:
    """What the work list's statistics headings mean is in the page's text too (the "How hot
    spots are found" section), word for word as their titles: a keyboard or touch user cannot
    hover over a heading."""
    from layouts.hotspots import HEADING_TITLES, layout

    def find(node: Any, kind: str) -> list[Any]:
        return [c for c in walk(node) if type(c).__name__ == kind]

    (details,) = [d for d in find(layout(), "Details") if "How hot spots" in _texts(d)[0]]
    (terms,) = find(details, "Dl")
    pairs = dict(zip(_texts(find(terms, "Dt")), _texts(find(terms, "Dd")), strict=True))
    statistics = {"z", "q", "H3 cell", "Trend (weekly requests)", "Trend (weekly late requests)"}
    assert set(pairs) == statistics
    for heading in statistics:
        assert pairs[heading] == HEADING_TITLES[heading] and len(pairs[heading]) > 40
