"""Hot spots: the grid, Gi* against esda, BH, k choice, planted clusters and random data, the
Boston demo through the CLI handler (reproduced independently), and the page's functions."""

from __future__ import annotations

import argparse
import gzip
import json
import warnings
from datetime import date

import duckdb
import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboard import hotspots as hs
from dashboard.queries import ReadModel
from dashboard.services import Services
from tests.conftest import BOSTON_NEIGHBORHOODS
from tests.support.components import table_rows

BOSTON = (42.33, -71.07)
STREETLIGHTS = "Street Light Outages"
H2 = (date(2011, 7, 1), date(2011, 12, 31))


def esda_w(grid: hs.HexGrid, k: int, *, self_included: bool = False):
    from libpysal.weights import W

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return W(grid.neighbour_lists(k, self_included=self_included), silence_warnings=True)


def irregular_grid(radius: int = 10, seed: int = 3) -> hs.HexGrid:
    """A disk of cells around Boston with a bite taken out and a few holes (edges matter)."""
    origin = h3i.latlng_to_cell(*BOSTON, 9)
    cells = np.array(h3i.grid_disk(origin, radius), dtype=np.int64)
    rng = np.random.default_rng(seed)
    bite = set(h3i.grid_disk(h3i.grid_ring(origin, radius)[0], 4))
    keep = [c for c in cells if c not in bite and rng.random() > 0.05]
    return hs.HexGrid(keep)


# -- the grid -------------------------------------------------------------------------------------
def test_ring_offsets_have_six_d_cells() -> None:
    for d in range(1, 7):
        assert len(hs.hex_ring_offsets(d)) == 6 * d


def test_k_ring_neighbours_equal_h3_grid_disk() -> None:
    grid = irregular_grid()
    assert grid._ij is not None  # the fast path is in use
    for k in (1, 2, 3, 6):
        lists = grid.neighbour_lists(k)
        for i, cell in enumerate(grid.cells):
            expected = grid.index_of(h3i.grid_disk(int(cell), k))
            assert sorted(lists[i]) == sorted(expected[expected >= 0].tolist())


def test_h3_fallback_gives_the_same_rings() -> None:
    grid = irregular_grid(radius=6)
    slow = hs.HexGrid(grid.cells)
    slow._ij = None
    for d in (1, 2, 3):
        assert np.array_equal(np.sort(grid.ring(d), axis=1), np.sort(slow.ring(d), axis=1))


def test_neighbourhood_distance_in_metres() -> None:
    grid = irregular_grid(radius=4)
    spacing = grid.spacing_m()
    # Adjacent resolution-9 centres: sqrt(3) x the edge length.
    edge = h3.average_hexagon_edge_length(9, unit="m")
    assert spacing == pytest.approx(np.sqrt(3) * edge, rel=0.05)
    assert grid.distance_m(3) == pytest.approx(3 * spacing)


# -- statistics against references ----------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gi_star_equals_esda(k: int) -> None:
    from esda.getisord import G_Local

    grid = irregular_grid()
    rng = np.random.default_rng(k)
    x = np.log1p(rng.poisson(2.0, grid.n) * (rng.random(grid.n) > 0.3))
    ref = G_Local(x, esda_w(grid, k), transform="B", star=True, permutations=0)
    z = hs.gi_star(x, grid.weights(k))
    assert np.max(np.abs(z - ref.Zs)) < 1e-9


def test_gi_star_accepts_general_sparse_weights() -> None:
    from esda.getisord import G_Local

    grid = irregular_grid(radius=5)
    x = np.log1p(np.random.default_rng(0).poisson(3.0, grid.n))
    w = hs.SpatialWeights.from_matrix(grid.weights(2).matrix, k=2)
    ref = G_Local(x, esda_w(grid, 2), transform="B", star=True, permutations=0)
    assert np.max(np.abs(hs.gi_star(x, w) - ref.Zs)) < 1e-9


def test_morans_i_equals_esda_randomisation() -> None:
    from esda.moran import Moran

    grid = irregular_grid()
    x = np.log1p(np.random.default_rng(5).poisson(1.0, grid.n))
    profile = hs.moran_profile(x, grid)
    assert [m.k for m in profile] == list(hs.K_CANDIDATES)
    for m in profile[:3]:
        ref = Moran(x, esda_w(grid, m.k), transformation="B", permutations=0)
        assert m.i == pytest.approx(ref.I, abs=1e-12)
        assert m.z == pytest.approx(ref.z_rand, abs=1e-9)


def test_bh_qvalues_equal_scipy() -> None:
    p = np.random.default_rng(1).random(500) ** 3
    assert np.allclose(hs.bh_qvalues(p), stats.false_discovery_control(p, method="bh"))
    assert hs.bh_qvalues(np.array([])).size == 0


def test_confidence_bins() -> None:
    z = np.array([4, 3, 2, 1, -2, -3, -4, 5])
    q = np.array([0.001, 0.03, 0.07, 0.2, 0.07, 0.03, 0.009, 0.01])
    assert hs.confidence_bins(z, q).tolist() == [3, 2, 1, 0, -1, -2, -3, 2]
    assert hs.BIN_LABELS[3] == "Hot spot, 99% confidence"


def _profile(zs):
    return [hs.MoranResult(k, 0.0, 0.0, 1.0, z) for k, z in enumerate(zs, start=1)]


def test_k_is_the_first_significant_peak() -> None:
    assert hs.choose_k(_profile([3, 5, 4, 6, 7, 8]))[0] == 2
    assert hs.choose_k(_profile([9, 5, 4, 3, 2, 1]))[0] == 1
    assert hs.choose_k(_profile([1, 1.5, 1.2, 2.5, 3.0, 2.0]))[0] == 5  # the peak at 2 is < 1.65
    k, reason = hs.choose_k(_profile([1, 2, 3, 4, 5, 6]))  # still rising: no peak
    assert k == hs.DEFAULT_K and "no clear peak" in reason
    assert hs.choose_k(_profile([0.1, 0.3, 0.2, 0.1, 0, 0]))[0] == hs.DEFAULT_K


def test_mann_kendall_known_values() -> None:
    s, z, p = hs.mann_kendall(np.arange(10.0)[None, :])
    assert s[0] == 45 and z[0] == pytest.approx(44 / np.sqrt(125))
    # With ties: [1, 1, 2, 3]: S = 5, var = (4*3*13 - 2*1*9) / 18 = 7.6667
    s, z, _ = hs.mann_kendall(np.array([[1.0, 1.0, 2.0, 3.0]]))
    assert s[0] == 5 and z[0] == pytest.approx(4 / np.sqrt((156 - 18) / 18))
    _, z, p = hs.mann_kendall(np.ones((2, 8)))
    assert z.tolist() == [0, 0] and p.tolist() == [1, 1]
    _, z, _ = hs.mann_kendall(np.arange(10.0)[None, ::-1])
    assert z[0] < -3


def test_empirical_bayes_share_shrinks_small_cells() -> None:
    late = np.array([1, 0, 50, 10, 0, 30])
    judged = np.array([1, 0, 100, 100, 2, 40])
    smooth = hs.eb_share(late, judged)
    m = late.sum() / judged.sum()
    assert smooth[1] == pytest.approx(m)  # no judged cases: the citywide share
    assert abs(smooth[0] - m) < abs(1.0 - m)  # 1 of 1 is pulled towards m
    assert abs(smooth[2] - 0.5) < abs(smooth[0] - 1.0)  # big cells barely move
    assert np.all((smooth >= 0) & (smooth <= 1))
    # No variation between cells beyond chance: everything shrinks to m.
    assert np.allclose(hs.eb_share(np.array([1, 1, 1]), np.array([10, 10, 10])), 0.1)


# -- planted clusters and random data --------------------------------------------------------------
def _points_to_counts(grid: hs.HexGrid, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    cells = np.array([h3i.latlng_to_cell(a, b, 9) for a, b in zip(lat, lon, strict=True)])
    pos = grid.index_of(cells)
    return np.bincount(pos[pos >= 0], minlength=grid.n).astype(np.float64)


def _uniform_points(rng: np.random.Generator, grid: hs.HexGrid, n: int):
    centres = grid.centres()
    lat = rng.uniform(centres[:, 0].min() - 0.003, centres[:, 0].max() + 0.003, n)
    lon = rng.uniform(centres[:, 1].min() - 0.004, centres[:, 1].max() + 0.004, n)
    return lat, lon


@pytest.fixture(scope="module")
def disk() -> hs.HexGrid:
    return hs.HexGrid(h3i.grid_disk(h3i.latlng_to_cell(*BOSTON, 9), 12))


def test_planted_cluster_is_found(disk: hs.HexGrid) -> None:
    rng = np.random.default_rng(42)
    lat, lon = _uniform_points(rng, disk, 2500)
    centre = disk.centres()[disk.index_of([h3i.latlng_to_cell(42.345, -71.05, 9)])[0]]
    sigma = 150 / 111_320  # about 150 m
    clat = rng.normal(centre[0], sigma, 250)
    clon = rng.normal(centre[1], sigma / np.cos(np.radians(centre[0])), 250)
    counts = _points_to_counts(disk, np.r_[lat, clat], np.r_[lon, clon])
    k, _, _, z, _, q, bins = hs.analyse_values(disk, np.log1p(counts))
    core = h3i.latlng_to_cell(centre[0], centre[1], 9)
    ring = disk.index_of(h3i.grid_disk(core, 1))
    assert bins[disk.index_of([core])[0]] == 3
    assert np.all(bins[ring] >= 2)
    far = [i for i, c in enumerate(disk.cells) if h3i.grid_distance(core, int(c)) > k + 3]
    assert not np.any(bins[far] > 0)


def test_spatially_random_cases_give_no_significant_cell(disk: hs.HexGrid) -> None:
    clean = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        lat, lon = _uniform_points(rng, disk, 2000)
        counts = _points_to_counts(disk, lat, lon)
        *_, q, _ = hs.analyse_values(disk, np.log1p(counts))
        clean += not np.any(q < 0.05)
    assert clean >= 90, f"only {clean} of 100 random seeds had no significant cell"


def test_sparse_random_cases_give_no_significant_cell(disk: hs.HexGrid) -> None:
    """Thin data (about one case per cell, many empty cells) must not fake hot spots either."""
    clean = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        counts = rng.poisson(0.8, disk.n).astype(np.float64)
        *_, q, _ = hs.analyse_values(disk, np.log1p(counts))
        clean += not np.any(q < 0.05)
    assert clean >= 90, f"only {clean} of 100 random seeds had no significant cell"


# -- parameters ----------------------------------------------------------------------------------------
def test_params_round_trip_and_tolerate_junk() -> None:
    p = hs.HotspotParams(
        type="Street Light Outages",
        department="PWDx",
        start=date(2011, 7, 1),
        end=date(2011, 12, 31),
        resolution=8,
        mode="share",
        step="month",
        view="density",
    )
    assert hs.HotspotParams.from_query(p.to_query()) == p
    junk = hs.HotspotParams.from_query("?res=12&mode=evil&from=2011-13-01&to=x&view=3d&step=yr")
    assert junk == hs.HotspotParams()
    swapped = hs.HotspotParams.from_query({"from": "2011-12-01", "to": "2011-07-01"})
    assert swapped.start == date(2011, 7, 1) and swapped.end == date(2011, 12, 1)


# -- the Boston demo ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def boston(demo):
    settings, _ = demo
    return settings, ReadModel(settings.snapshot_dir)


def _snapshot_file(read_model: ReadModel) -> str:
    return str(read_model.snapshot() / "cases.parquet")


def _independent_study_area(resolution: int) -> set[int]:
    """Straight from the bundled GeoJSON, not through the store."""
    cells: set[int] = set()
    for feature in json.loads(BOSTON_NEIGHBORHOODS.read_text())["features"]:
        shape = h3.geo_to_h3shape(feature["geometry"])
        cells.update(h3i.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
    return cells


def test_cli_writes_cells_an_independent_computation_reproduces(boston, tmp_path) -> None:
    from esda.getisord import G_Local
    from esda.moran import Moran
    from libpysal.weights import W

    settings, read_model = boston
    out = tmp_path / "hot.geojson"
    args = argparse.Namespace(
        type=STREETLIGHTS,
        department=None,
        from_=H2[0],
        to=H2[1],
        resolution=None,
        mode="count",
        out=str(out),
    )
    assert hs.handler(args, settings) == 0
    data = json.loads(out.read_text())
    meta = data["stat311"]
    res, k = meta["resolution"], meta["k"]
    props = pd.DataFrame([f["properties"] for f in data["features"]])
    assert {"h3", "count", "z", "p", "q", "bin"} <= set(props.columns)
    cells = np.array([h3.str_to_int(c) for c in props["h3"]], dtype=np.int64)
    assert set(cells.tolist()) == _independent_study_area(res)

    # Counts, independently: DuckDB over the snapshot file, local dates, exact locations.
    con = duckdb.connect()
    counted = con.execute(
        f"SELECT h3_{res} AS h3, count(*) AS n FROM read_parquet(?) WHERE service_name = ? "
        "AND requested_local >= ? AND requested_local < ? AND location_quality = 'exact' "
        "AND NOT is_duplicate GROUP BY 1",
        [_snapshot_file(read_model), STREETLIGHTS, date(2011, 7, 1), date(2012, 1, 1)],
    ).df()
    thin = (
        counted["n"].sum()
        / con.execute(
            "SELECT count(DISTINCT h3_9) FROM read_parquet(?) WHERE service_name = ? AND "
            "location_quality = 'exact' AND NOT is_duplicate AND requested_local >= ? "
            "AND requested_local < ?",
            [_snapshot_file(read_model), STREETLIGHTS, date(2011, 7, 1), date(2012, 1, 1)],
        ).fetchone()[0]
    )
    assert res == (8 if thin < 5 else 9)
    n = dict(zip(counted["h3"].astype("int64"), counted["n"], strict=True))
    x = np.log1p(np.array([n.get(int(c), 0) for c in cells], dtype=float))
    assert props["count"].tolist() == [n.get(int(c), 0) for c in cells]

    # Weights, independently: h3's grid_disk, libpysal W.
    position = {int(c): i for i, c in enumerate(cells)}

    def weights(kk: int, self_included: bool) -> W:
        nb = {}
        for i, c in enumerate(cells):
            ring = [position[int(d)] for d in h3i.grid_disk(int(c), kk) if int(d) in position]
            nb[i] = ring if self_included else [j for j in ring if j != i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return W(nb, silence_warnings=True)

    zs = [
        Moran(x, weights(kk, False), transformation="B", permutations=0).z_rand
        for kk in range(1, 7)
    ]
    expected_k = hs.DEFAULT_K
    for i in range(5):
        if zs[i] > 1.65 and (i == 0 or zs[i] > zs[i - 1]) and zs[i] >= zs[i + 1]:
            expected_k = i + 1
            break
    assert k == expected_k
    ref = G_Local(x, weights(k, True), transform="B", star=True, permutations=0)
    assert np.max(np.abs(props["z"].to_numpy() - ref.Zs)) < 1e-9
    p = 2 * stats.norm.sf(np.abs(ref.Zs))
    q = stats.false_discovery_control(p, method="bh")
    assert np.allclose(props["p"], p, rtol=1e-9, atol=1e-15)
    assert np.allclose(props["q"], q, rtol=1e-9, atol=1e-15)
    level = np.select([q < 0.01, q < 0.05, q < 0.10], [3, 2, 1], 0) * np.sign(ref.Zs)
    assert props["bin"].tolist() == level.astype(int).tolist()
    assert (props["bin"] == 3).sum() > 0  # downtown Boston's streetlights cluster
    assert meta["distance_m"] == pytest.approx(k * hs.HexGrid(cells).spacing_m(), abs=0.06)


def test_cli_csv_other_modes_and_errors(boston, tmp_path) -> None:
    settings, read_model = boston
    base = dict(type=STREETLIGHTS, department="PWDx", from_=H2[0], to=H2[1], resolution=8)
    out = tmp_path / "late.csv"
    assert hs.handler(argparse.Namespace(**base, mode="late", out=str(out)), settings) == 0
    frame = pd.read_csv(out)
    assert {"h3", "lat", "lon", "count", "late", "z", "p", "q", "bin"} <= set(frame.columns)
    late = (
        duckdb.connect()
        .execute(
            "SELECT count(*) FROM read_parquet(?) WHERE service_name = ? AND department = 'PWDx' "
            "AND requested_local >= ? AND requested_local < ? AND location_quality = 'exact' "
            "AND NOT is_duplicate AND sla_due_at IS NOT NULL "
            "AND ((closed_at IS NOT NULL AND closed_at > sla_due_at) "
            "OR (closed_at IS NULL AND sla_due_at < now()))",
            [_snapshot_file(read_model), STREETLIGHTS, date(2011, 7, 1), date(2012, 1, 1)],
        )
        .fetchone()[0]
    )
    assert frame["late"].sum() == late > 0

    out = tmp_path / "emerging.geojson"
    assert hs.handler(argparse.Namespace(**base, mode="emerging", out=str(out)), settings) == 0
    data = json.loads(out.read_text())
    assert data["stat311"]["emerging"]["steps"] == 26
    assert all("category" in f["properties"] for f in data["features"])

    with pytest.raises(hs.HotspotError, match="did you mean 'Street Light Outages'"):
        hs.handler(
            argparse.Namespace(
                **{**base, "type": "Street Light Outage"}, mode="count", out=str(tmp_path / "x.csv")
            ),
            settings,
        )
    with pytest.raises(hs.HotspotError, match=r"\.geojson, \.json or \.csv"):
        hs.handler(argparse.Namespace(**base, mode="count", out=str(tmp_path / "x.txt")), settings)
    with pytest.raises(hs.HotspotError, match="before"):
        hs.handler(
            argparse.Namespace(
                **{**base, "from_": H2[1], "to": H2[0]}, mode="count", out=str(tmp_path / "x.csv")
            ),
            settings,
        )
    assert hs.HotspotError.exit_code == 2


def test_subparser_has_exactly_the_issue_flags() -> None:
    parser = argparse.ArgumentParser(prog="stat311")
    hs.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["hotspots", "--type", "X", "--from", "2011-07-01", "--to", "2011-12-31", "--out", "a.csv"]
    )
    assert args.func is hs.handler and args.mode == "count" and args.resolution is None
    args = parser.parse_args(
        [
            "hotspots",
            "--type",
            "X",
            "--department",
            "PWDx",
            "--from",
            "2011-07-01",
            "--to",
            "2011-12-31",
            "--resolution",
            "10",
            "--mode",
            "emerging",
            "--out",
            "a.geojson",
        ]
    )
    assert (args.department, args.resolution, args.mode) == ("PWDx", 10, "emerging")
    with pytest.raises(SystemExit):
        parser.parse_args(
            [
                "hotspots",
                "--type",
                "X",
                "--from",
                "2011-07-01",
                "--to",
                "2011-12-31",
                "--resolution",
                "6",
                "--out",
                "a.csv",
            ]
        )


def test_resolution_is_coarser_when_thin_and_every_located_case_is_in_the_area(boston) -> None:
    settings, read_model = boston
    url = settings.database_url
    dense = hs.analyse(
        read_model, hs.HotspotParams(type=STREETLIGHTS, start=H2[0], end=H2[1]), database_url=url
    )
    assert dense.resolution == 9 and dense.outside == 0
    thin = hs.analyse(
        read_model,
        hs.HotspotParams(type=STREETLIGHTS, start=date(2011, 9, 1), end=date(2011, 9, 14)),
        database_url=url,
    )
    assert thin.resolution == 8 and "under 5" in thin.resolution_reason
    total = read_model.total(thin.params.to_filter())
    assert thin.located + thin.unlocated + thin.duplicates == total
    share = hs.analyse(read_model, dense.params.with_(mode="share"), database_url=url)
    judged = share.cells["judged"] > 0
    raw = share.cells.loc[judged, "share"]
    m = share.cells["late"].sum() / share.cells["judged"].sum()
    smooth = share.cells.loc[judged, "share_smoothed"]
    assert np.all(np.abs(smooth - m) <= np.abs(raw - m) + 1e-12)  # shrunk towards m


def test_density_keeps_the_cases(boston) -> None:
    settings, read_model = boston
    params = hs.HotspotParams(type=STREETLIGHTS, start=H2[0], end=H2[1])
    area = hs.study_area(settings.database_url, read_model, 9)
    grid = hs.density(read_model, params, bounds=hs.grid_bounds(area.grid), bandwidth_m=300)
    mass = grid.density.sum() * grid.cell_m**2 / 1e6
    assert grid.cases > 4000 and mass == pytest.approx(grid.cases, rel=0.03)


# -- the page's functions -------------------------------------------------------------------------------
def test_page_defaults_view_and_downloads(boston, reset_dash_registries) -> None:
    from callbacks.hotspots import download, hotspot_view, page_options, params_from_controls
    from layouts.hotspots import layout

    settings, read_model = boston
    o = page_options(read_model, "")
    assert o["type"] == STREETLIGHTS and (o["start"], o["end"]) == ("2011-07-01", "2011-12-31")
    assert o["resolution"] == "auto" and o["mode"] == "count"
    o = page_options(read_model, "?type=Nope&mode=late&res=8")
    assert o["type"] == STREETLIGHTS and o["mode"] == "late" and o["resolution"] == "8"
    layout()  # works with no arguments
    params = params_from_controls(
        type_=STREETLIGHTS,
        department=None,
        start=o["start"],
        end=o["end"],
        resolution="auto",
        mode="count",
        step="auto",
        view="map",
    )
    services = Services.from_settings(settings)
    view = hotspot_view(services, params)
    assert view["search"] == "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31"
    traces = view["figure"]["data"]
    assert traces[0]["type"] == "choroplethmap" and traces[0]["name"] == "Hot spot, 99% confidence"
    assert sum(len(t["locations"]) for t in traces) > 500
    assert len(gzip.compress(json.dumps(view["figure"]).encode())) < 1.5e6
    assert "Hot spot, 99% confidence" in {row[1] for row in table_rows(view["table"])}
    csv = download(services, params, "csv")
    assert csv["filename"].endswith(".csv")
    rows = pd.read_csv(pd.io.common.StringIO(csv["content"]))
    assert len(rows) > 0 and (rows["bin"] > 0).all()
    order = list(zip(-rows["bin"], -rows["count"], -rows["z"], strict=True))
    assert order == sorted(order)  # surest first, then the most requests
    geo = json.loads(download(services, params, "geojson")["content"])
    assert len(geo["features"]) == len(rows)

    empty = hotspot_view(services, params.with_(start=date(2030, 1, 1), end=date(2030, 2, 1)))
    assert "No requests" in json.dumps(empty["notice"].to_plotly_json(), default=str)
    assert empty["method"] is None  # no method line about an analysis of nothing
    short = hotspot_view(services, params.with_(mode="emerging", end=date(2011, 8, 1)))
    assert "at least 10" in json.dumps(short["notice"].to_plotly_json(), default=str)
    dens = hotspot_view(services, params.with_(view="density"))
    assert dens["figure"].data[0].type == "contour"


def test_the_work_list_holds_only_hot_cells_with_requests_of_their_own(boston) -> None:
    """A cell hot for its neighbours' requests alone is on the map and in the downloads, not
    in the planner's work list (emerging potholes, the page's dates, had two such rows)."""
    from callbacks.hotspots import download, hotspot_view

    settings, _ = boston
    services = Services.from_settings(settings)
    params = hs.HotspotParams(
        type="Request for Pothole Repair", start=H2[0], end=H2[1], mode="emerging"
    )
    hot = hs.analyse(services.read_model, params, database_url=settings.database_url).hot()
    without = int((hot["count"] == 0).sum())
    assert without > 0  # the case in point exists in the demo data
    view = hotspot_view(services, params)
    rows = table_rows(view["table"])[1:]
    requests = [int(row[2].replace(",", "")) for row in rows]
    assert len(rows) == min(len(hot) - without, 50) and min(requests) > 0
    assert f"{without:,} more hot" in view["table_note"]
    csv = pd.read_csv(pd.io.common.StringIO(download(services, params, "csv")["content"]))
    assert len(csv) == len(hot)  # the downloads keep every hot cell


def test_map_json_stays_small_at_the_finest_resolution(boston) -> None:
    from callbacks.hotspots import hotspot_view

    settings, _ = boston
    services = Services.from_settings(settings)
    params = hs.HotspotParams(
        type="Schedule a Bulk Item Pickup", start=H2[0], end=H2[1], resolution=10
    )
    view = hotspot_view(services, params)
    assert len(gzip.compress(json.dumps(view["figure"]).encode())) < 1.5e6


def test_benchmark_reports_gi_star_beside_esda() -> None:
    out = hs.benchmark(2_000, repeat=2)
    assert out["cells"] == 2_000 and out["max_abs_z_diff"] < 1e-9
    assert out["gi_star_median_ms"] > 0 and out["esda_median_ms"] > 0


def test_layout_declares_every_id_and_keeps_the_url_state() -> None:
    from layouts.hotspots import Ids, layout

    def ids(node) -> set[str]:
        found: set[str] = set()
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, list | tuple):
                stack.extend(item)
            elif hasattr(item, "to_plotly_json"):
                if getattr(item, "id", None) is not None:
                    found.add(str(item.id))
                stack.extend(v for v in vars(item).values() if hasattr(v, "to_plotly_json"))
                stack.append(getattr(item, "children", None))
        return found

    assert ids(layout()) == {str(i) for i in Ids}
    page = layout(**{"type": "Graffiti Removal", "mode": "emerging", "res": "8", "junk": "1"})
    store = next(c for c in page.children if getattr(c, "id", None) == Ids.STATE)
    assert store.data == "?type=Graffiti+Removal&res=8&mode=emerging"
