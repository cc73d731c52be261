"""The portal's count maps keep their colours readable when one place is far busier than the rest
(a review at 10M cases: one cell of 160 requests left nearly every other cell white). Expected
ranges computed here with numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from layouts.public import COLOUR_CAP_QUANTILE, count_map

FEATURES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": str(i),
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[i, 0], [i + 1, 0], [i + 1, 1], [i, 1], [i, 0]]],
            },
        }
        for i in range(40)
    ],
}


def _trace(counts: list[int]) -> dict:
    frame = pd.DataFrame(
        {
            "cell": [str(i) for i in range(len(counts))],
            "name": [f"cell {i}" for i in range(len(counts))],
            "requests": counts,
            "open": [0] * len(counts),
        }
    )
    figure = count_map(frame, FEATURES, key="cell")
    (trace,) = [t for t in figure["data"] if t.get("hovertemplate")]
    return trace


def test_one_busy_cell_does_not_wash_out_the_others() -> None:
    rng = np.random.default_rng(7)
    counts = [*rng.integers(1, 11, size=39).tolist(), 160]
    trace = _trace(counts)
    cap = math.ceil(np.quantile(counts, COLOUR_CAP_QUANTILE))
    assert 1.5 * cap < 160
    assert (trace["zmin"], trace["zmax"]) == (0, cap)
    assert trace["colorbar"]["ticktext"][-1] == f"{cap}+"
    assert trace["colorbar"]["tickvals"][-1] == cap
    assert trace["z"] == counts  # the hover keeps every count
    # most cells now span at least a tenth of the scale (before: at most 10/160)
    assert np.mean(np.array(counts[:-1]) / trace["zmax"] >= 0.1) > 0.9


def test_an_even_spread_keeps_the_whole_range() -> None:
    counts = list(range(1, 41))
    trace = _trace(counts)
    assert (trace["zmin"], trace["zmax"]) == (0, 40)
    assert "ticktext" not in trace["colorbar"]


def test_places_without_a_feature_stay_in_the_table_not_on_the_map() -> None:
    """Rows whose key has no feature (the cases outside every area, or an area the layer does
    not draw) are left off the map; the others keep their counts and hover in the frame's order.
    A frame of such rows only draws the empty map's message."""
    from dashboard.public import OUTSIDE_AREAS

    frame = pd.DataFrame(
        {
            "cell": ["3", OUTSIDE_AREAS, "12", "not drawn", "0"],
            "name": ["three", OUTSIDE_AREAS, "twelve", "nowhere", "zero"],
            "requests": pd.array([40, 30, 20, 10, 5], dtype="int64[pyarrow]"),
            "open": np.array([4, 3, 2, 1, 0], dtype=np.int64),
        }
    )
    figure = count_map(frame, FEATURES, key="cell")
    (trace,) = [t for t in figure["data"] if t.get("hovertemplate")]
    drawn = frame[frame["cell"].isin([f["id"] for f in FEATURES["features"]])]
    assert trace["locations"] == drawn["cell"].tolist() == ["3", "12", "0"]
    assert trace["z"] == drawn["requests"].astype(int).tolist()
    assert trace["customdata"] == [
        [n, int(o)] for n, o in zip(drawn["name"], drawn["open"], strict=True)
    ]
    assert all(type(v) is int for v in trace["z"] + [o for _, o in trace["customdata"]])
    nowhere = count_map(frame.iloc[[1, 3]], FEATURES, key="cell")
    assert [t for t in nowhere.data if t.type == "choroplethmap"] == []
    assert "No requests with a location" in nowhere.layout.annotations[0].text
