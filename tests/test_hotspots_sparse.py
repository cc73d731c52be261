"""Too few requests are not tested for hot spots (statistics review, 2026-11-26).

On the Boston demo one Construction Debris request gave "18 hot-spot cells (99%: 18)": Gi*'s
normal approximation on log(1 + count) over mostly empty cells makes hot spots of nothing. Under
:data:`dashboard.hotspots.MIN_EVENTS` (30, as ArcGIS's Optimized Hot Spot Analysis asks) no
cell is tested; under :data:`~dashboard.hotspots.CAUTION_EVENTS` the map is tested and
cautioned. The counts the bands are chosen by are taken here with DuckDB from the snapshot."""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pytest

from callbacks.hotspots import hotspot_view
from dashboard import hotspots as hs
from dashboard.services import Services
from tests.test_hotspots_messages import _notes, boston  # noqa: F401 - fixture

START, END = date(2011, 7, 1), date(2011, 12, 31)


@pytest.fixture(scope="module")
def located(boston: Services) -> dict[str, int]:  # noqa: F811
    """Requests with an exact location per type, not flagged as duplicates (the demo's range)."""
    path = str(boston.read_model.snapshot() / "cases.parquet")
    rows = duckdb.connect().execute(
        f"SELECT service_name, count(*) FROM read_parquet('{path}') "  # noqa: S608
        "WHERE location_quality = 'exact' AND NOT is_duplicate GROUP BY 1"
    )
    return dict(rows.fetchall())


def _type_with(located: dict[str, int], low: int, high: int) -> str:
    return min((n, t) for t, n in located.items() if low <= n <= high)[1]


def test_one_request_is_not_a_hot_spot(boston, located) -> None:  # noqa: F811
    kind = _type_with(located, 1, 1)
    result = hs.analyse(boston.read_model, hs.HotspotParams(type=kind, start=START, end=END))
    assert result.located == 1 and result.events == result.in_area <= 1
    assert not result.tested
    assert result.bin_counts() == {3: 0, 2: 0, 1: 0, 0: len(result.cells), -1: 0, -2: 0, -3: 0}
    assert result.cells["z"].isna().all() and result.cells["q"].isna().all()
    assert set(result.cells["label"]) == {hs.UNTESTED_LABEL}
    assert result.meta()["tested"] is False and result.meta()["events"] == result.events
    text = hs.summary_text(result)
    assert "0 hot-spot cells" in text
    assert f"Too few requests ({result.events}) to tell hot spots from chance" in text
    # Exports say "not tested", not a z of 4.39: empty values.
    feature = hs.to_geojson(result)["features"][0]["properties"]
    assert feature["z"] is None and feature["q"] is None
    view = hotspot_view(boston, hs.HotspotParams(type=kind, start=START, end=END))
    (note,) = _notes(view)
    assert note.startswith(f"Too few requests ({result.events}) to tell hot spots from chance")
    assert "at least 30 are needed" in note and "spread about as evenly" not in note


def test_a_thin_map_is_tested_and_cautioned(boston, located) -> None:  # noqa: F811
    kind = _type_with(located, 2 * hs.MIN_EVENTS, hs.CAUTION_EVENTS - 30)
    result = hs.analyse(boston.read_model, hs.HotspotParams(type=kind, start=START, end=END))
    assert result.located == located[kind]
    assert hs.MIN_EVENTS <= result.events < hs.CAUTION_EVENTS and result.tested
    assert np.isfinite(result.cells["z"]).all()
    caution = result.caution()
    assert caution == (
        f"Only {result.events:,} requests: with fewer than 150, chance alone gives a 90% hot "
        "spot in more maps than 1 in 10. Read the 99% cells first."
    )
    assert caution in hs.summary_text(result)
    view = hotspot_view(boston, hs.HotspotParams(type=kind, start=START, end=END))
    assert caution in _notes(view)


def test_a_full_map_has_no_caution(boston, located) -> None:  # noqa: F811
    kind = "Street Light Outages"
    assert located[kind] > 1000
    result = hs.analyse(boston.read_model, hs.HotspotParams(type=kind, start=START, end=END))
    assert result.tested and result.caution() is None and result.events == result.in_area
    bins = result.bin_counts()
    assert bins[3] > 0 and bins[-3] > 0  # its hot and cold spots are as before
    assert not math.isnan(float(result.cells["z"].abs().max()))


def test_the_late_mode_counts_late_requests(boston, located) -> None:  # noqa: F811
    kind = "Street Light Outages"
    result = hs.analyse(
        boston.read_model, hs.HotspotParams(type=kind, start=START, end=END, mode="late")
    )
    assert result.events == int(result.cells["late"].sum())
    share = hs.analyse(
        boston.read_model, hs.HotspotParams(type=kind, start=START, end=END, mode="share")
    )
    assert share.events == int(share.cells["judged"].sum())
