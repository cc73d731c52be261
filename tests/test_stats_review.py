"""Statistics review: defects found by recomputing the SLA and hot-spot numbers independently
(plain pandas / numpy / scipy, esda + libpysal) on the Boston demo and on small hand-built cases."""

from __future__ import annotations

import json
import warnings
from datetime import date, timedelta

import duckdb
import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboard import hotspots as hs
from dashboard import hotspots_emerging as em
from dashboard.queries import ReadModel
from dashboard.sla import DueRule, SlaEngine, SlaPolicy, load_policy, policy_due
from tests.conftest import BOSTON_NEIGHBORHOODS

TZ = "America/New_York"
STREETLIGHTS = "Street Light Outages"
H2 = (date(2011, 7, 1), date(2011, 12, 31))


# -- SLA ------------------------------------------------------------------------------------------
def test_policy_due_with_a_department_rule_and_pandas_string_columns() -> None:
    """pandas' default string dtype: no case's type has a rule, its department has one. This
    raised TypeError (the type lookup gave a float column that could not hold the rules)."""
    policy = SlaPolicy(
        type_due={"PWD Graffiti": DueRule(30)},
        department_due={"PWDx": DueRule(2, business=True)},
        country="US",
    )
    local = pd.Series(pd.to_datetime(["2011-09-02 16:00", "2011-09-12 10:00", "2011-09-12 10:00"]))
    types = pd.Series(["Pothole", "Pothole", "Pothole"])  # str dtype, as pandas makes it
    departments = pd.Series(["PWDx", "PWDx", "PARK"])
    assert isinstance(types.dtype, pd.StringDtype)
    due = policy_due(local, types=types, departments=departments, policy=policy, timezone=TZ)
    # Fri 2011-09-02 16:00 EDT + 2 business days over the weekend and Labor Day (Mon 09-05):
    # Wed 09-07 16:00 EDT = 20:00 UTC. Mon 09-12 10:00 + 2: Wed 09-14 10:00 EDT = 14:00 UTC.
    assert due.iloc[0] == pd.Timestamp("2011-09-07 20:00", tz="UTC")
    assert due.iloc[1] == pd.Timestamp("2011-09-14 14:00", tz="UTC")
    assert pd.isna(due.iloc[2])  # PARK has no rule: no SLA


@pytest.mark.parametrize(
    ("end", "cut"),
    [
        # Cuba: 2011-03-20 00:00 did not exist (00:00 CST -> 01:00 CDT, at 05:00 UTC).
        (date(2011, 3, 19), pd.Timestamp("2011-03-20 05:00", tz="UTC")),
        # 2011-11-13 00:00-01:00 happened twice (01:00 CDT -> 00:00 CST); the day began at the
        # first 00:00, 04:00 UTC.
        (date(2011, 11, 12), pd.Timestamp("2011-11-13 04:00", tz="UTC")),
    ],
)
def test_report_in_a_city_whose_clocks_change_at_midnight(demo, end: date, cut) -> None:
    """A period ending the day before a midnight clock change raised instead of reporting; the
    backlog is counted at the first instant of the next local day."""
    settings, _ = demo
    read_model = ReadModel(settings.snapshot_dir)
    engine = SlaEngine(read_model, load_policy(None), "America/Havana")
    got = engine.report(
        start=end - timedelta(days=6), end=end, as_of=pd.Timestamp("2026-01-01", tz="UTC")
    ).set_index("group")
    cases = pd.read_parquet(
        read_model.snapshot() / "cases.parquet",
        columns=["department", "requested_at", "closed_at", "is_duplicate"],
    )
    cases = cases[~cases["is_duplicate"]]
    open_at_cut = cases[
        (cases["requested_at"] < cut) & (cases["closed_at"].isna() | (cases["closed_at"] >= cut))
    ]
    want = open_at_cut.groupby("department").size()
    have = got.loc[got["open_backlog"] > 0, "open_backlog"]
    assert have.to_dict() == want.to_dict()


# -- hot spots: equal values ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def disk() -> hs.HexGrid:
    return hs.HexGrid(h3i.grid_disk(h3i.latlng_to_cell(42.33, -71.07, 9), 7))


@pytest.mark.parametrize("value", [np.log1p(7.0), 0.0])
def test_equal_values_give_zero_gi_star_and_no_morans_i(disk: hs.HexGrid, value: float) -> None:
    """Every cell the same: Gi* is undefined (every z is 0, docs/HOTSPOTS.md) and so is Moran's I.
    The rounding of the mean gave z ~ 1e-8 and Moran's I = 1 with z up to 170."""
    x = np.full(disk.n, value)
    assert np.all(hs.gi_star(x, disk.weights(2)) == 0.0)
    profile = hs.moran_profile(x, disk)
    assert all(np.isnan(m.z) and np.isnan(m.i) for m in profile)
    assert hs.choose_k(profile)[0] == hs.DEFAULT_K
    cube = np.full((disk.n, 10), value)
    assert np.all(em.space_time_gi_star(cube, disk.weights(1)) == 0.0)


def test_share_mode_without_variation_beyond_chance_on_the_demo(demo) -> None:
    """Empty Litter Basket: empirical Bayes pulls every cell to the citywide share, so the map has
    nothing to test; the Moran profile said "I = 1, z = 26 ... 123" (perfect clustering)."""
    settings, _ = demo
    result = hs.analyse(
        ReadModel(settings.snapshot_dir),
        hs.HotspotParams(type="Empty Litter Basket", start=H2[0], end=H2[1], mode="share"),
        database_url=settings.database_url,
        as_of=pd.Timestamp("2026-01-01", tz="UTC"),
    )
    cells = result.cells
    late, judged = cells["late"].to_numpy(float), cells["judged"].to_numpy(float)
    # Independently: the method-of-moments between-cell variance is not above the binomial one.
    m = late.sum() / judged.sum()
    has = judged > 0
    s2 = np.sum(judged[has] * (late[has] / judged[has] - m) ** 2) / judged.sum()
    assert s2 <= m * (1 - m) / judged[has].mean()
    assert np.ptp(cells["share_smoothed"].to_numpy()) == 0.0
    assert (cells["z"] == 0.0).all() and (cells["bin"] == 0).all()
    assert all(np.isnan(r.z) for r in result.moran)
    assert result.k == hs.DEFAULT_K


# -- emerging hot spots on the demo, independently -------------------------------------------------
def _mann_kendall(series: np.ndarray) -> tuple[float, float]:
    """Direct Mann–Kendall: S over every pair, tie-corrected variance, continuity correction."""
    t = len(series)
    x = np.round(series, 10)
    s = sum(np.sign(x[j] - x[i]) for i in range(t) for j in range(i + 1, t))
    _, ties = np.unique(x, return_counts=True)
    var = (t * (t - 1) * (2 * t + 5) - sum(g * (g - 1) * (2 * g + 5) for g in ties)) / 18
    if s == 0 or var <= 0:
        return 0.0, 1.0
    z = (s - np.sign(s)) / np.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def _category(hot: np.ndarray, cold: np.ndarray, trend_z: float, trend_p: float) -> str:
    """The table of docs/HOTSPOTS.md, rule by rule."""
    mostly = 0.9 * len(hot)
    rising, falling = trend_p < 0.05 and trend_z > 0, trend_p < 0.05 and trend_z < 0

    def rules(a, b, up, down, kind):
        if not a[-1]:
            return None
        if a.sum() >= mostly:
            return f"{'Intensifying' if up else 'Diminishing' if down else 'Persistent'} {kind}"
        if a.sum() == 1:
            return f"New {kind}"
        run = len(a) - (np.flatnonzero(~a)[-1] + 1)
        if run >= 2 and run == a.sum():
            return f"Consecutive {kind}"
        return f"{'Oscillating' if b[:-1].any() else 'Sporadic'} {kind}"

    found = rules(hot, cold, rising, falling, "hot spot") or rules(
        cold, hot, falling, rising, "cold spot"
    )
    if found:
        return found
    if hot.sum() >= mostly:
        return "Historical hot spot"
    if cold.sum() >= mostly:
        return "Historical cold spot"
    return "No pattern detected"


def test_emerging_categories_on_the_demo_match_an_independent_computation(demo) -> None:
    from esda.getisord import G_Local
    from libpysal.weights import W

    settings, _ = demo
    read_model = ReadModel(settings.snapshot_dir)
    result = hs.analyse(
        read_model,
        hs.HotspotParams(type=STREETLIGHTS, start=H2[0], end=H2[1], mode="emerging"),
        database_url=settings.database_url,
    )
    res, k = result.resolution, result.k
    # Weeks: 7-day steps ending on the last day, the partial first week left out.
    weeks = ((H2[1] - H2[0]).days + 1) // 7
    first = H2[1] + timedelta(days=1) - timedelta(days=7 * weeks)
    assert (result.emerging["steps"], result.emerging["first"]) == (weeks, first.isoformat())
    cells: set[int] = set()
    for feature in json.loads(BOSTON_NEIGHBORHOODS.read_text())["features"]:
        shape = h3.geo_to_h3shape(feature["geometry"])
        cells.update(h3i.h3shape_to_cells_experimental(shape, res, contain="overlap"))
    order = sorted(cells)
    position = {c: i for i, c in enumerate(order)}
    n = len(order)
    frame = (
        duckdb.connect()
        .execute(
            f"SELECT h3_{res} AS h3, requested_local FROM read_parquet(?) WHERE service_name = ? "
            "AND location_quality = 'exact' AND NOT is_duplicate AND requested_local >= ? "
            "AND requested_local < ?",
            [
                str(read_model.snapshot() / "cases.parquet"),
                STREETLIGHTS,
                first,
                H2[1] + timedelta(1),
            ],
        )
        .df()
    )
    cube = np.zeros((n, weeks))
    steps = (frame["requested_local"].dt.normalize() - pd.Timestamp(first)).dt.days // 7
    for cell, step in zip(frame["h3"].to_numpy("int64", na_value=0), steps, strict=True):
        if int(cell) in position:
            cube[position[int(cell)], int(step)] += 1
    # Space-time neighbours of bin (i, t), numbered t * n + i: the k-disk at t and at t - 1.
    disks = [[position[d] for d in h3i.grid_disk(c, k) if d in position] for c in order]
    neighbours = {
        t * n + i: [t * n + j for j in disks[i]]
        + ([(t - 1) * n + j for j in disks[i]] if t else [])
        for t in range(weeks)
        for i in range(n)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = G_Local(
            np.log1p(cube).T.ravel(),
            W(neighbours, silence_warnings=True),
            transform="B",
            star=True,
            permutations=0,
        )
    z = ref.Zs.reshape(weeks, n).T
    q = stats.false_discovery_control(2 * stats.norm.sf(np.abs(z)).ravel(), method="bh")
    q = q.reshape(z.shape)
    hot, cold = (q < 0.10) & (z > 0), (q < 0.10) & (z < 0)
    trends = [_mann_kendall(z[i]) for i in range(n)]
    want = [_category(hot[i], cold[i], *trends[i]) for i in range(n)]
    got = result.cells
    assert got["h3"].tolist() == order
    assert np.max(np.abs(got["final_z"].to_numpy() - z[:, -1])) < 1e-9
    assert np.max(np.abs(got["trend_z"].to_numpy() - [t[0] for t in trends])) < 1e-9
    assert got["hot_steps"].tolist() == hot.sum(axis=1).tolist()
    assert got["cold_steps"].tolist() == cold.sum(axis=1).tolist()
    assert got["category"].tolist() == want
    assert len(set(want)) > 3  # several patterns, not only "No pattern detected"
