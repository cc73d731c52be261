"""The hot-spot map's traces and legend, row by row, against plain pandas.

``layouts.hotspots.hotspot_map``, ``bin_legend_rows`` and ``category_legend_rows`` convert each
column once and split the
cells by class with numpy (filtering the frame per class cost most of the figure's time). These
tests rebuild, from the frame itself, what each trace and each legend row must hold: every cell
of its class in the frame's order, its hover values, the sums of its class; with untested cells
(z and q empty), cells without an address or area, and each mode's extra hover line.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboard.hotspots import BIN_LABELS, UNTESTED_LABEL
from dashboard.hotspots_emerging import CATEGORIES, NO_PATTERN
from layouts.hotspots import bin_legend_rows, category_legend_rows, hotspot_map

BOUNDS = (-71.2, 42.2, -70.9, 42.4)
BINS = (3, 2, 1, 0, -1, -2, -3)


def _frame(mode: str, *, seed: int = 3, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bins = rng.choice(BINS, size=n)
    z = rng.normal(0, 2, n)
    q = rng.uniform(0, 1, n)
    untested = rng.random(n) < 0.15
    z[untested] = np.nan
    q[untested] = np.nan
    late = rng.integers(0, 9, n)
    judged = late + rng.integers(0, 9, n)
    frame = pd.DataFrame(
        {
            "h3": np.arange(n, dtype=np.int64) + 0x89000000000000,
            "cell": [f"89{i:013x}" for i in range(n)],
            "count": rng.integers(0, 40, n),
            "open": rng.integers(0, 5, n),
            "late": late,
            "judged": judged,
            "z": z,
            "q": q,
            "bin": bins,
            "label": [
                UNTESTED_LABEL if u else BIN_LABELS[int(b)]
                for u, b in zip(untested, bins, strict=True)
            ],
            "address": [None if i % 7 == 0 else f"{i} Main St" for i in range(n)],
            "area": [np.nan if i % 5 == 0 else f"Area {i % 4}" for i in range(n)],
        }
    )
    frame.loc[::6, "count"] = 0  # cells drawn for their neighbours' requests alone
    if mode == "share":
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["share_smoothed"] = np.where(judged > 0, late / np.maximum(judged, 1), 0.0)
    if mode == "emerging":
        frame["category"] = rng.choice(list(CATEGORIES), size=n)
        frame["hot_steps"] = rng.integers(0, 6, n)
        frame["cold_steps"] = rng.integers(0, 6, n)
    return frame


def _geometry(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": c, "geometry": None, "properties": {}} for c in frame["cell"]
        ],
    }


def _shown(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _expected_row(row: pd.Series, mode: str) -> list[Any]:
    detail = ""
    if mode == "late":
        detail = f"Late: {int(row['late']):,}<br>"
    elif mode == "share":
        detail = (
            f"Late: {int(row['late']):,} of {int(row['judged']):,} due; share late (smoothed): "
            f"{row['share_smoothed']:.0%}<br>"
        )
    if mode == "emerging":
        detail += f"Hot in {int(row['hot_steps'])}, cold in {int(row['cold_steps'])} steps<br>"
    label = row["category"] if mode == "emerging" else row["label"]
    return [
        _shown(label),
        int(row["count"]),
        int(row["open"]),
        round(float(row["z"]), 3),
        float(f"{row['q']:.3g}"),
        _shown(row["address"]),
        _shown(row["area"]),
        detail,
    ]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("mode", ["count", "late", "share", "emerging"])
def test_each_trace_holds_its_class_in_order_with_each_rows_hover(mode: str) -> None:
    frame = _frame(mode)
    fig = hotspot_map(
        frame, _geometry(frame), mode=mode, outline=None, bounds=BOUNDS, uirevision="t"
    )
    key = "category" if mode == "emerging" else "bin"
    classes = (
        [c for c in CATEGORIES if c != NO_PATTERN] + [NO_PATTERN]
        if mode == "emerging"
        else [3, 2, 1, -1, -2, -3, 0]
    )
    expected = [(c, frame[frame[key] == c]) for c in classes if (frame[key] == c).any()]
    assert len(fig["data"]) == len(expected) >= 5
    drawn = 0
    for trace, (cls, part) in zip(fig["data"], expected, strict=True):
        assert trace["locations"] == part["cell"].tolist(), cls
        assert [f["id"] for f in trace["geojson"]["features"]] == part["cell"].tolist()
        assert trace["z"] == [0] * len(part)
        rows = [_expected_row(row, mode) for _, row in part.iterrows()]
        assert len(trace["customdata"]) == len(rows)
        for got, want in zip(trace["customdata"], rows, strict=True):
            assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (got, want)
        drawn += len(part)
    assert drawn == len(frame)
    # Untested cells carry empty z and q (NaN), and say so.
    untested = [row for trace in fig["data"] for row in trace["customdata"] if math.isnan(row[3])]
    assert untested and all(math.isnan(row[4]) for row in untested)


@pytest.mark.parametrize("mode", ["count", "late", "share"])
def test_legend_rows_add_up_each_bin_as_pandas_does(mode: str) -> None:
    frame = _frame(mode, seed=11, n=200)
    rows = bin_legend_rows(frame, mode)
    assert [r["label"] for r in rows] == [
        BIN_LABELS[b] if b else "Not significant (has requests)" for b in BINS
    ]
    for b, row in zip(BINS, rows, strict=True):
        part = frame[frame["bin"] == b]
        if b == 0:
            part = part[part["count"] > 0]
        assert row["cells"] == len(part)
        if b == 0:
            assert ((frame["bin"] == 0) & (frame["count"] == 0)).any()  # left out above
        assert row["requests"] == int(part["count"].sum())
        if mode == "count":
            assert "late" not in row and "amount" not in row
        else:
            assert row["late"] == int(part["late"].sum())
        if mode == "late":
            assert row["amount"] == f"{int(part['late'].sum()):,}"
        if mode == "share":
            assert row["judged"] == int(part["judged"].sum())
            assert str(int(part["late"].sum())) in row["amount"].replace(",", "")


def test_category_legend_rows_add_up_each_category_as_pandas_does() -> None:
    """The emerging legend: a row per category present (in the legend's order), "No pattern"
    always, counting only its cells with requests; cells and requests as pandas sums them."""
    frame = _frame("emerging", seed=5, n=300)
    frame.loc[::9, "category"] = np.nan  # cells without a category are in no row
    gone = next(c for c in CATEGORIES if c != NO_PATTERN)
    frame.loc[frame["category"] == gone, "category"] = NO_PATTERN  # a category no cell has
    rows = category_legend_rows(frame)
    present = [c for c in CATEGORIES if c == NO_PATTERN or (frame["category"] == c).any()]
    assert gone not in present and len(present) == len(CATEGORIES) - 1  # no row for it
    labels = [c if c != NO_PATTERN else "No pattern (has requests)" for c in present]
    assert [r["label"] for r in rows] == labels
    sums = frame.groupby("category")["count"].agg(["size", "sum"])
    quiet = frame[(frame["category"] == NO_PATTERN) & (frame["count"] > 0)]
    for category, row in zip(present, rows, strict=True):
        if category == NO_PATTERN:
            assert (row["cells"], row["requests"]) == (len(quiet), int(quiet["count"].sum()))
            assert ((frame["category"] == NO_PATTERN) & (frame["count"] == 0)).any()
        else:
            want = sums.loc[category]
            assert (row["cells"], row["requests"]) == (int(want["size"]), int(want["sum"]))


def test_cells_without_a_shape_and_frames_without_the_optional_columns() -> None:
    """A cell the geometry lacks is still located (plotly leaves it undrawn) but gets no
    feature; a frame without the late/share/emerging columns draws without their hover line;
    an empty frame draws no trace."""
    frame = _frame("count", n=30).drop(columns=["late", "judged"])
    geometry = _geometry(frame)
    geometry["features"] = geometry["features"][::2]  # every other cell has no shape
    for mode in ("count", "late", "share", "emerging"):  # the columns of those modes absent
        fig = hotspot_map(frame, geometry, mode=mode, outline=None, bounds=BOUNDS, uirevision="t")
        located = [c for trace in fig["data"] for c in trace["locations"]]
        shaped = [f["id"] for trace in fig["data"] for f in trace["geojson"]["features"]]
        assert sorted(located) == sorted(frame["cell"])
        assert sorted(shaped) == sorted(frame["cell"].iloc[::2])
        assert all(row[7] == "" for trace in fig["data"] for row in trace["customdata"])
    empty = frame.iloc[:0]
    fig = hotspot_map(empty, _geometry(empty), mode="count", outline=None, bounds=BOUNDS,
                      uirevision="t")  # fmt: skip
    assert fig["data"] == []
