"""Hot spots: where requests of one type cluster more than chance explains (no UI here).

The method (``docs/HOTSPOTS.md`` says it in plain words and precisely):

1. The filtered cases with an exact location are counted per H3 cell over the **study area** —
   every cell that covers the city's boundary polygons (the first boundary layer), empty cells
   included. Resolution 9 by default, 8 when the filtered set is thin (fewer than
   :data:`THIN_CASES_PER_CELL` cases per non-empty resolution-9 cell on average), 7–10 on request.
2. The analysed value per cell: ``log1p(count)`` (mode ``count``), ``log1p(late)`` (mode ``late``:
   closed after the due time, or open past it), or the late share smoothed by empirical Bayes
   (mode ``share``).
3. The neighbourhood is the cell and the ``k`` rings of cells around it (binary weights), with
   ``k`` the first peak of global Moran's I (z > :data:`MORAN_Z_MIN`) over k = 1..6, else
   :data:`DEFAULT_K`.
4. Getis-Ord Gi* (the cell itself included) as an analytic z-score with sparse matrices; two-sided
   p; Benjamini–Hochberg q over all cells; bins ±3/±2/±1 at q < 0.01/0.05/0.10.

Emerging hot spots (space-time Gi*, Mann–Kendall, categories) are in
:mod:`dashboard.hotspots_emerging`; the smoothed density (binned Gaussian KDE) is :func:`density`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
from scipy import sparse, special

from dashboard.argtypes import iso_date
from dashboard.errors import Stat311Error
from dashboard.periods import parse_day
from dashboard.queries import CaseFilter, Question, ReadModel
from dashboard.spreadsheet import safe_frame

log = logging.getLogger(__name__)

RESOLUTIONS: tuple[int, ...] = (7, 8, 9, 10)
DEFAULT_RESOLUTION = 9
THIN_RESOLUTION = 8
#: Below this many cases per non-empty resolution-9 cell (on average) the automatic resolution is 8.
THIN_CASES_PER_CELL = 5.0
K_CANDIDATES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: Fewer events than this (requests in the study area; late requests in the late mode; requests
#: with a due time in the share mode) are not tested at all: the normal approximation of Gi* on
#: mostly-empty cells makes hot spots of nothing (one request gave 18 cells "at 99%" on the
#: Boston demo). ArcGIS's Optimized Hot Spot Analysis asks for at least 30 incidents too.
MIN_EVENTS = 30
#: Under this many events the map is tested but cautioned: on random maps of the Boston demo's
#: 263 resolution-8 cells, a false hot cell at 90% appeared in 24% of maps of 30 requests, 12%
#: of 100 and 6% of 150 (400 maps each; docs/HOTSPOTS.md, "Calibration").
CAUTION_EVENTS = 150
#: The label of every cell of a map with fewer than :data:`MIN_EVENTS` events.
UNTESTED_LABEL = "Not tested: too few requests"
DEFAULT_K = 2
#: A Moran's I peak counts only when its z-score is above this (one-sided 95%).
MORAN_Z_MIN = 1.65
#: (q below, bin): the strongest first.
CONFIDENCE: tuple[tuple[float, int], ...] = ((0.01, 3), (0.05, 2), (0.10, 1))
MODES: tuple[str, ...] = ("count", "late", "share", "emerging")
VIEWS: tuple[str, ...] = ("map", "density")
STEPS: tuple[str, ...] = ("week", "month")
DEFAULT_TYPE = "Street Light Outages"
#: Only cases whose location is the reported one are mapped (not a default geocode), and a case
#: the source flags as a duplicate of another is counted once (through the original).
LOCATED = "location_quality = 'exact' AND NOT coalesce(is_duplicate, FALSE)"
#: Mann–Kendall significance for the per-cell trend of counts shown in the work list.
TREND_ALPHA = 0.05

BIN_LABELS: dict[int, str] = {
    3: "Hot spot, 99% confidence",
    2: "Hot spot, 95% confidence",
    1: "Hot spot, 90% confidence",
    0: "Not significant",
    -1: "Cold spot, 90% confidence",
    -2: "Cold spot, 95% confidence",
    -3: "Cold spot, 99% confidence",
}
MODE_LABELS: dict[str, str] = {
    "count": "Requests (count)",
    "late": "Late requests (count)",
    "share": "Share of requests late",
    "emerging": "Emerging hot spots (over time)",
}
#: Approximate cell area per resolution, for labels.
CELL_AREA_KM2: dict[int, float] = {7: 5.16, 8: 0.737, 9: 0.105, 10: 0.015}


@dataclass(frozen=True)
class Measure:
    """What a mode's map analyses, as the work list and the legend show it.

    ``column``: the cells' column the work list is ranked by (after the confidence) and shows
    first; ``own``: the cell's own amount of it, a hot cell with none is not on the work list
    (nothing of that kind to act on there); ``heading``: the column's heading; ``noun``: the
    amount in words ("late requests")."""

    column: str
    own: str
    heading: str
    noun: str


MEASURES: dict[str, Measure] = {
    "count": Measure("count", "count", "Requests", "requests"),
    "late": Measure("late", "late", "Late requests", "late requests"),
    # The share analysed is the smoothed one: ranking by the raw share would put 1 late of 1
    # first, which is what the smoothing is there to prevent.
    "share": Measure("share_smoothed", "late", "Share late (smoothed)", "late requests"),
    # Emerging hot spots analyse the requests of every step.
    "emerging": Measure("count", "count", "Requests", "requests"),
}


class HotspotError(Stat311Error):
    """The hot-spot request cannot be answered as asked (bad dates, unknown type, no study area)."""

    exit_code = 2


# -- parameters (the page's URL and the CLI's flags) ----------------------------------------------


def _one(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()[:200]
    return text or None


@dataclass(frozen=True)
class HotspotParams:
    """One hot-spot question. ``resolution`` None = automatic; ``step`` None = automatic."""

    type: str | None = None
    department: str | None = None
    start: date | None = None
    end: date | None = None
    resolution: int | None = None
    mode: str = "count"
    step: str | None = None
    view: str = "map"

    def to_filter(self) -> CaseFilter:
        return CaseFilter(
            start=self.start,
            end=self.end,
            types=(self.type,) if self.type else (),
            departments=(self.department,) if self.department else (),
        )

    def with_(self, **changes: Any) -> HotspotParams:
        return replace(self, **changes)

    def to_query(self) -> str:
        """``?type=...&from=...`` (keys: type, department, from, to, res, mode, step, view)."""
        pairs: list[tuple[str, str]] = []
        if self.type:
            pairs.append(("type", self.type))
        if self.department:
            pairs.append(("department", self.department))
        if self.start:
            pairs.append(("from", self.start.isoformat()))
        if self.end:
            pairs.append(("to", self.end.isoformat()))
        if self.resolution is not None:
            pairs.append(("res", str(self.resolution)))
        if self.mode != "count":
            pairs.append(("mode", self.mode))
        if self.step:
            pairs.append(("step", self.step))
        if self.view != "map":
            pairs.append(("view", self.view))
        return ("?" + urlencode(pairs)) if pairs else ""

    @classmethod
    def from_query(cls, query: Mapping[str, Any] | str | None) -> HotspotParams:
        """Parse a query string or mapping; malformed values fall back to defaults, never fail."""
        if query is None:
            query = {}
        if isinstance(query, str):
            parsed: dict[str, list[str]] = {}
            for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=False):
                parsed.setdefault(key, []).append(value)
            query = parsed
        start, end = parse_day(_one(query.get("from"))), parse_day(_one(query.get("to")))
        if start and end and start > end:
            start, end = end, start
        res_raw = _one(query.get("res"))
        resolution = int(res_raw) if res_raw and res_raw.isdigit() else None
        mode = (_one(query.get("mode")) or "count").lower()
        step = (_one(query.get("step")) or "").lower() or None
        view = (_one(query.get("view")) or "map").lower()
        return cls(
            type=_one(query.get("type")),
            department=_one(query.get("department")),
            start=start,
            end=end,
            resolution=resolution if resolution in RESOLUTIONS else None,
            mode=mode if mode in MODES else "count",
            step=step if step in STEPS else None,
            view=view if view in VIEWS else "map",
        )


# -- the hexagon grid and its neighbourhoods ------------------------------------------------------
def hex_ring_offsets(d: int) -> np.ndarray:
    """(i, j) offsets of the cells exactly ``d`` steps away in H3 local IJ coordinates (6·d rows).

    In H3's IJ system the grid distance of an offset (a, b) is max(|a|, |b|, |a − b|)."""
    if d == 0:
        return np.zeros((1, 2), dtype=np.int64)
    a, b = np.meshgrid(np.arange(-d, d + 1), np.arange(-d, d + 1), indexing="ij")
    a, b = a.ravel(), b.ravel()
    dist = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(a - b))
    keep = dist == d
    return np.column_stack([a[keep], b[keep]]).astype(np.int64)


@dataclass(frozen=True)
class SpatialWeights:
    """A sparse weights matrix with its row sums (W_i) and row sums of squares (Σ_j w_ij²)."""

    matrix: sparse.csr_matrix
    wsum: np.ndarray
    w2sum: np.ndarray
    k: int
    self_included: bool

    @classmethod
    def from_matrix(cls, matrix: Any, *, k: int = 0, self_included: bool = True):
        m = sparse.csr_matrix(matrix, dtype=np.float64)
        return cls(
            matrix=m,
            wsum=np.asarray(m.sum(axis=1)).ravel(),
            w2sum=np.asarray(m.multiply(m).sum(axis=1)).ravel(),
            k=k,
            self_included=self_included,
        )


class HexGrid:
    """A set of H3 cells of one resolution (sorted ``int64`` ids) and their k-ring neighbourhoods.

    Neighbours come from H3 local IJ coordinates (fast, vectorised) and are checked against
    ``grid_ring`` on a sample; when local IJ cannot be used (a pentagon nearby, or an area
    spanning icosahedron faces) they come from ``grid_ring`` cell by cell.
    """

    MAX_K = max(K_CANDIDATES)

    def __init__(self, cells: Iterable[int]) -> None:
        arr = np.unique(np.asarray(list(cells) if not isinstance(cells, np.ndarray) else cells))
        self.cells: np.ndarray = arr.astype(np.int64)
        self.n = int(self.cells.size)
        self.resolution = h3i.get_resolution(int(self.cells[0])) if self.n else None
        self._lock = threading.Lock()
        self._rings: dict[int, np.ndarray] = {}
        self._weights: dict[tuple[int, bool], SpatialWeights] = {}
        self._ij = self._local_ij()
        self._spacing: float | None = None
        self._centres: np.ndarray | None = None
        self._features: dict[int, dict[str, Any]] = {}

    # -- lookups ----------------------------------------------------------------------------------
    def index_of(self, cells: Sequence[int] | np.ndarray) -> np.ndarray:
        """Position of each cell in :attr:`cells`, or -1 where it is not in the grid."""
        values = np.asarray(cells, dtype=np.int64)
        if self.n == 0 or values.size == 0:
            return np.full(values.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.cells, values)
        pos = np.clip(pos, 0, self.n - 1)
        return np.where(self.cells[pos] == values, pos, -1)

    def _local_ij(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int] | None:
        if self.n == 0:
            return None
        origin = int(self.cells[self.n // 2])
        try:
            ij = np.array([h3i.cell_to_local_ij(origin, int(c)) for c in self.cells], np.int64)
        except h3.H3BaseException:
            return None
        imin, jmin = ij.min(axis=0) - (self.MAX_K + 1)
        span = int(ij[:, 1].max() - jmin + self.MAX_K + 2)
        keys = (ij[:, 0] - imin) * span + (ij[:, 1] - jmin)
        order = np.argsort(keys)
        sorted_keys = keys[order]
        if np.any(np.diff(sorted_keys) == 0):
            return None
        result = (ij, sorted_keys, order, int(imin), int(jmin), span)
        # Check the IJ neighbours against H3 itself on a sample of cells.
        sample = self.cells[:: max(1, self.n // 25)][:25]
        mine = self._ij_ring(1, result)
        for cell in sample:
            idx = int(self.index_of([cell])[0])
            try:
                ring = np.array(h3i.grid_ring(int(cell), 1), dtype=np.int64)
            except h3.H3BaseException:
                return None
            expected = set(ring[self.index_of(ring) >= 0].tolist())
            got = {int(self.cells[j]) for j in mine[idx] if j < self.n}
            if got != expected:
                log.info("local IJ neighbours disagree with grid_ring; using grid_ring")
                return None
        return result

    def _ij_ring(self, d: int, ij_data: tuple) -> np.ndarray:
        ij, sorted_keys, order, imin, jmin, span = ij_data
        off = hex_ring_offsets(d)
        ni = ij[:, 0:1] + off[None, :, 0]
        nj = ij[:, 1:2] + off[None, :, 1]
        keys = (ni - imin) * span + (nj - jmin)
        pos = np.clip(np.searchsorted(sorted_keys, keys), 0, self.n - 1)
        found = sorted_keys[pos] == keys
        return np.where(found, order[pos], self.n).astype(np.int64)

    def _h3_ring(self, d: int) -> np.ndarray:
        out = np.full((self.n, 6 * d), self.n, dtype=np.int64)
        for row, cell in enumerate(self.cells):
            try:
                ring = h3i.grid_ring(int(cell), d)
            except h3.H3BaseException:  # a pentagon inside the ring
                ring = set(h3i.grid_disk(int(cell), d)) - set(h3i.grid_disk(int(cell), d - 1))
            idx = self.index_of(list(ring))
            idx = idx[idx >= 0]
            out[row, : idx.size] = idx
        return out

    def ring(self, d: int) -> np.ndarray:
        """(n, 6·d) positions of each cell's neighbours at grid distance exactly ``d``; a
        neighbour outside the grid is ``n`` (index a padded array with it)."""
        with self._lock:
            if d not in self._rings:
                self._rings[d] = (
                    self._ij_ring(d, self._ij) if self._ij is not None else self._h3_ring(d)
                )
            return self._rings[d]

    def weights(self, k: int, *, self_included: bool = True) -> SpatialWeights:
        """Binary k-ring weights: w_ij = 1 when j is within ``k`` rings of i (i itself included
        for Gi*, excluded for Moran's I)."""
        key = (k, self_included)
        if key in self._weights:
            return self._weights[key]
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        base = np.arange(self.n, dtype=np.int64)
        if self_included:
            rows.append(base)
            cols.append(base)
        for d in range(1, k + 1):
            ring = self.ring(d)
            valid = ring < self.n
            rows.append(np.repeat(base, ring.shape[1])[valid.ravel()])
            cols.append(ring[valid])
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        matrix = sparse.csr_matrix(
            (np.ones(r.size, dtype=np.float64), (r, c)), shape=(self.n, self.n)
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        wsum = np.diff(matrix.indptr).astype(np.float64)
        weights = SpatialWeights(matrix, wsum, wsum.copy(), k, self_included)
        with self._lock:
            self._weights[key] = weights
        return weights

    def neighbour_lists(self, k: int, *, self_included: bool = True) -> dict[int, list[int]]:
        """``{position: [neighbour positions]}`` (to build a libpysal ``W`` for checks)."""
        m = self.weights(k, self_included=self_included).matrix
        return {i: m.indices[m.indptr[i] : m.indptr[i + 1]].tolist() for i in range(self.n)}

    def spacing_m(self) -> float:
        """Mean distance between the centres of adjacent cells in the grid, in metres."""
        if self._spacing is None:
            if self.n == 0:
                return float("nan")
            sample = self.cells[:: max(1, self.n // 50)][:50]
            dists = []
            for cell in sample:
                a = h3i.cell_to_latlng(int(cell))
                for nb in h3i.grid_ring(int(cell), 1):
                    dists.append(h3.great_circle_distance(a, h3i.cell_to_latlng(nb), unit="m"))
            self._spacing = float(np.mean(dists))
        return self._spacing

    def distance_m(self, k: int) -> float:
        """The neighbourhood's reach: ``k`` times the centre-to-centre spacing, in metres."""
        return k * self.spacing_m()

    def centres(self) -> np.ndarray:
        """(n, 2) lat, lon of the cell centres (computed once)."""
        if self._centres is None:
            self._centres = np.array(
                [h3i.cell_to_latlng(int(c)) for c in self.cells], dtype=np.float64
            ).reshape(-1, 2)
        return self._centres

    def feature(self, cell: int) -> dict[str, Any]:
        """A GeoJSON Feature for the cell (id = hex id, ring rounded to 5 decimals), built once:
        maps redraw the same cells for every question. Treat it as read-only. Its coordinates
        are tuples of floats and its dicts hold nothing mutable, so the garbage collector stops
        tracking them and thousands of remembered cells cost no collection time."""
        feature = self._features.get(cell)
        if feature is None:
            ring = tuple(tuple(p) for p in cell_polygon(cell, 5))
            feature = self._features[cell] = {
                "type": "Feature",
                "id": format(cell, "x"),
                "geometry": {"type": "Polygon", "coordinates": (ring,)},
                "properties": {},
            }
        return feature


def cell_str(cells: Iterable[int]) -> list[str]:
    return [format(int(c), "x") for c in cells]


def cell_polygon(cell: int, digits: int = 6) -> list[list[float]]:
    """The cell's boundary as a closed GeoJSON ring of [lon, lat]."""
    ring = [[round(lon, digits), round(lat, digits)] for lat, lon in h3i.cell_to_boundary(cell)]
    return [*ring, ring[0]]


# -- statistics -----------------------------------------------------------------------------------
def gi_star(x: np.ndarray, weights: SpatialWeights) -> np.ndarray:
    """Getis-Ord Gi* z-scores (analytic, normal approximation), the same as ArcGIS and
    ``esda.G_Local(star=True)``::

        z_i = (Σ_j w_ij x_j − x̄ W_i) / (S · sqrt((n Σ_j w_ij² − W_i²) / (n − 1)))

    with x̄ and S the mean and (population) standard deviation of x over all n cells and
    W_i = Σ_j w_ij. Cells where the statistic is undefined (all values equal) get z = 0."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < 2 or np.all(x == x[0]):
        # All equal: the rounding of the mean would leave noise in S and z (~1e-8, not 0).
        return np.zeros(n)
    mean = x.mean()
    s = math.sqrt(max(float(np.mean(x * x)) - mean * mean, 0.0))
    lag = weights.matrix @ x
    wsum, w2sum = weights.wsum, weights.w2sum
    den = s * np.sqrt(np.maximum(n * w2sum - wsum * wsum, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * wsum) / den
    return np.where(np.isfinite(z), z, 0.0)


def p_two_sided(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a standard normal z."""
    return special.erfc(np.abs(np.asarray(z, dtype=np.float64)) / math.sqrt(2.0))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q): q_(i) = min_{j ≥ i} p_(j) · m / j, capped at 1."""
    p = np.asarray(p, dtype=np.float64).ravel()
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def confidence_bins(z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """+3/+2/+1 (hot) and −3/−2/−1 (cold) at q < 0.01/0.05/0.10; 0 otherwise."""
    z = np.asarray(z, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    level = np.zeros(z.shape, dtype=np.int64)
    for threshold, value in reversed(CONFIDENCE):
        level[q < threshold] = value
    return (np.sign(z).astype(np.int64) * level).astype(np.int64)


@dataclass(frozen=True)
class MoranResult:
    k: int
    i: float
    expected: float
    variance: float
    z: float


def morans_i(x: np.ndarray, lag: np.ndarray, degree: np.ndarray) -> MoranResult:
    """Global Moran's I for symmetric binary weights (no self-weight), with the z-score under
    the randomisation assumption. ``lag`` = Σ_j w_ij (x_j − x̄), ``degree`` = W_i."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    z = x - x.mean()
    m2 = float(z @ z)
    s0 = float(degree.sum())
    expected = -1.0 / (n - 1)
    # All values equal: I is undefined (x − x̄ is only the rounding of the mean, which gave I = 1).
    if m2 <= 0 or s0 <= 0 or n < 4 or np.all(x == x[0]):
        return MoranResult(0, float("nan"), expected, float("nan"), float("nan"))
    i_stat = n / s0 * float(z @ lag) / m2
    s1 = 2.0 * s0
    s2 = float(np.sum((2.0 * degree) ** 2))
    b2 = n * float(np.sum(z**4)) / (m2 * m2)
    nn = float(n)
    num = nn * ((nn * nn - 3 * nn + 3) * s1 - nn * s2 + 3 * s0 * s0) - b2 * (
        (nn * nn - nn) * s1 - 2 * nn * s2 + 6 * s0 * s0
    )
    e_i2 = num / ((nn - 1) * (nn - 2) * (nn - 3) * s0 * s0)
    variance = e_i2 - expected * expected
    zi = (i_stat - expected) / math.sqrt(variance) if variance > 0 else float("nan")
    return MoranResult(0, i_stat, expected, variance, zi)


def moran_profile(
    x: np.ndarray, grid: HexGrid, ks: Sequence[int] = K_CANDIDATES
) -> list[MoranResult]:
    """Moran's I and its z for each k (binary k-ring weights without the cell itself)."""
    x = np.asarray(x, dtype=np.float64)
    centred = np.append(x - x.mean(), 0.0)  # the padding slot ``n`` holds 0
    lag = np.zeros(grid.n)
    degree = np.zeros(grid.n)
    out = []
    for k in range(1, max(ks) + 1):
        ring = grid.ring(k)
        lag += centred[ring].sum(axis=1)
        degree += (ring < grid.n).sum(axis=1)
        if k in ks:
            out.append(replace(morans_i(x, lag, degree), k=k))
    return out


def choose_k(profile: Sequence[MoranResult]) -> tuple[int, str]:
    """The first peak of Moran's I z over k with z > :data:`MORAN_Z_MIN`, else :data:`DEFAULT_K`.

    A peak is a k whose z is higher than the z at k − 1 (k = 1 has no predecessor) and at least as
    high as at k + 1; the last k is not a peak (whether z falls after it is unknown)."""
    zs = [r.z for r in profile]
    for idx, result in enumerate(profile[:-1]):
        z = result.z
        if not np.isfinite(z) or z <= MORAN_Z_MIN:
            continue
        before = zs[idx - 1] if idx > 0 else -np.inf
        after = zs[idx + 1]
        if z > before and (not np.isfinite(after) or z >= after):
            return result.k, f"first peak of spatial clustering (Moran's I z = {z:.1f})"
    return DEFAULT_K, "no clear peak of spatial clustering; the default k"


def eb_share(late: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Empirical-Bayes (global, method of moments) smoothed share late per cell.

    m = Σ late / Σ judged; s² = Σ n_i (r_i − m)² / Σ n_i; A = max(s² − m(1 − m)/n̄, 0);
    shrinkage C_i = A / (A + m(1 − m)/n_i); smoothed r_i = m + C_i (r_i − m). A cell without
    judged cases gets m."""
    late = np.asarray(late, dtype=np.float64)
    judged = np.asarray(judged, dtype=np.float64)
    total = judged.sum()
    if total <= 0:
        return np.zeros(late.shape)
    m = late.sum() / total
    has = judged > 0
    rate = np.where(has, late / np.where(has, judged, 1.0), m)
    s2 = float(np.sum(judged * (rate - m) ** 2) / total)
    nbar = total / max(int(has.sum()), 1)
    within = m * (1.0 - m)
    a = max(s2 - within / nbar, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(has, a / (a + within / np.where(has, judged, 1.0)), 0.0)
    c = np.where(np.isfinite(c), c, 0.0)
    return m + c * (rate - m)


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann–Kendall trend test per row of ``series`` (n, T): S, z (continuity-corrected, ties
    accounted for) and the two-sided p. Rows without any variation get z = 0, p = 1."""
    x = np.round(np.asarray(series, dtype=np.float64), 10)
    if x.ndim == 1:
        x = x[None, :]
    n, t = x.shape
    s = np.zeros(n)
    for lag in range(1, t):
        s += np.sign(x[:, lag:] - x[:, :-lag]).sum(axis=1)
    srt = np.sort(x, axis=1)
    new = np.ones((n, t), dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    run = np.cumsum(new, axis=1) - 1
    sizes = np.bincount((np.arange(n)[:, None] * t + run).ravel(), minlength=n * t).reshape(n, t)
    sizes = sizes.astype(np.float64)
    ties = (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    z = np.where(np.isfinite(z) & (var > 0), z, 0.0)
    return s, z, p_two_sided(z)


def trend_words(z: np.ndarray, p: np.ndarray, alpha: float = TREND_ALPHA) -> list[str]:
    return [
        "rising" if pv < alpha and zv > 0 else "falling" if pv < alpha and zv < 0 else "no trend"
        for zv, pv in zip(z, p, strict=True)
    ]


# -- the study area -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyArea:
    grid: HexGrid
    description: str
    layer: str | None
    #: GeoJSON MultiLineString of the area boundaries (simplified), for the map.
    outline: dict[str, Any] | None


_CACHE_LOCK = threading.Lock()
_AREAS: OrderedDict[tuple, StudyArea] = OrderedDict()
_POLYGONS: OrderedDict[tuple, tuple[str | None, list[dict[str, Any]]]] = OrderedDict()
_STORES: dict[str, Any] = {}
_RESULTS: OrderedDict[tuple, HotspotResult] = OrderedDict()
MAX_CACHED_AREAS = 16
MAX_CACHED_RESULTS = 32


def _lru_put(cache: OrderedDict, key: tuple, value: Any, limit: int) -> None:
    with _CACHE_LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)


def _lru_get(cache: OrderedDict, key: tuple) -> Any:
    with _CACHE_LOCK:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value


def clear_caches() -> None:
    with _CACHE_LOCK:
        _AREAS.clear()
        _POLYGONS.clear()
        _RESULTS.clear()


def _store(database_url: str):
    from dashboard.store import Store

    with _CACHE_LOCK:
        if database_url not in _STORES:
            _STORES[database_url] = Store(database_url)
        return _STORES[database_url]


def boundary_polygons(database_url: str, version: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The first boundary layer's name and GeoJSON geometries (cached per snapshot version)."""
    key = (database_url, version)
    cached = _lru_get(_POLYGONS, key)
    if cached is not None:
        return cached
    store = _store(database_url)
    layers = store.boundary_layers()
    if not layers:
        value: tuple[str | None, list[dict[str, Any]]] = (None, [])
    else:
        layer = layers[0]["name"]
        value = (layer, [a["geometry"] for a in store.boundary_areas(layer)])
    _lru_put(_POLYGONS, key, value, MAX_CACHED_AREAS)
    return value


def cells_covering(geometries: Iterable[Mapping[str, Any]], resolution: int) -> np.ndarray:
    """Every cell of ``resolution`` that overlaps any of the GeoJSON (Multi)Polygons."""
    cells: set[int] = set()
    for geometry in geometries:
        shape = h3.geo_to_h3shape(dict(geometry))
        cells.update(h3i.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
    return np.array(sorted(cells), dtype=np.int64)


def _outline(geometries: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not geometries:
        return None
    from shapely.geometry import mapping, shape

    lines: list[list[list[float]]] = []
    for geometry in geometries:
        geom = shape(dict(geometry)).simplify(0.0004, preserve_topology=True)
        boundary = mapping(geom.boundary)
        parts = (
            [boundary["coordinates"]]
            if boundary["type"] == "LineString"
            else list(boundary.get("coordinates", []))
        )
        for part in parts:
            lines.append([[round(x, 5), round(y, 5)] for x, y, *_ in part])
    return {"type": "MultiLineString", "coordinates": lines}


def _hull_cells(read_model: ReadModel, resolution: int) -> np.ndarray:
    """Without a boundary layer: the cells covering the convex hull of every located case."""
    from shapely.geometry import MultiPoint, mapping

    frame = read_model.select(
        f"SELECT DISTINCT h3_9 AS cell FROM {{cases}} WHERE {LOCATED} AND h3_9 IS NOT NULL"  # noqa: S608
    )
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    points = [h3i.cell_to_latlng(int(c))[::-1] for c in frame["cell"].to_numpy(np.int64)]
    hull = MultiPoint(points).convex_hull.buffer(0.002)
    return cells_covering([mapping(hull)], resolution)


def scope_of(read_model: ReadModel) -> tuple[str, ...] | None:
    """The department codes the caller may see through ``read_model`` (None: every one)."""
    provider = getattr(read_model, "scope", None)
    if provider is None:
        return None
    scope = provider()
    return None if scope is None else tuple(scope)


def study_area(database_url: str | None, read_model: ReadModel, resolution: int) -> StudyArea:
    """The study area at ``resolution``: the cells covering the first boundary layer's polygons
    (or, without a layer, the convex hull of the located cases). Cached per snapshot version."""
    version = read_model.version()
    layer, geometries = boundary_polygons(database_url, version) if database_url else (None, [])
    # Without a boundary layer the hull depends on the cases the caller may see: key by scope.
    scope = None if geometries else scope_of(read_model)
    key = (database_url, version, resolution, scope)
    cached = _lru_get(_AREAS, key)
    if cached is not None:
        return cached
    if geometries:
        cells = cells_covering(geometries, resolution)
        description = f"every cell covering the {len(geometries)} areas of the {layer!r} layer"
    else:
        cells = _hull_cells(read_model, resolution)
        description = "the cells covering the convex hull of every located request"
    if cells.size == 0:
        raise HotspotError("no study area: add a boundary layer or load cases with locations")
    area = StudyArea(HexGrid(cells), description, layer, _outline(geometries))
    _lru_put(_AREAS, key, area, MAX_CACHED_AREAS)
    return area


# -- the analysis ---------------------------------------------------------------------------------
def _late_sql(as_of_param: str = "?") -> tuple[str, str]:
    late = (
        "(sla_due_at IS NOT NULL AND ((closed_at IS NOT NULL AND closed_at > sla_due_at) "
        f"OR (closed_at IS NULL AND sla_due_at < {as_of_param})))"
    )
    judged = f"(sla_due_at IS NOT NULL AND (closed_at IS NOT NULL OR sla_due_at < {as_of_param}))"
    return late, judged


@dataclass
class HotspotResult:
    """The answer to one :class:`HotspotParams`: one row per study-area cell in :attr:`cells`."""

    params: HotspotParams
    resolution: int
    resolution_reason: str
    k: int
    k_reason: str
    distance_m: float
    spacing_m: float
    moran: list[MoranResult]
    cells: pd.DataFrame
    located: int
    outside: int
    unlocated: int
    study_area: str
    layer: str | None
    outline: dict[str, Any] | None
    as_of: pd.Timestamp
    duplicates: int = 0
    #: Of the requests in the study area, those with a due time (a service level): with none,
    #: none can be late, and the late and share modes have nothing to analyse.
    due: int = 0
    seconds: float = 0.0
    emerging: dict[str, Any] = field(default_factory=dict)
    #: What the map analyses, counted (see :data:`MIN_EVENTS`); under that nothing is tested:
    #: every bin is 0 and z, p and q are empty.
    events: int = 0

    @property
    def tested(self) -> bool:
        return self.events >= MIN_EVENTS

    def caution(self) -> str | None:
        """Why the map's confidence should be read with care, or None."""
        what = EVENT_NOUNS.get(self.params.mode, "requests")
        if not self.tested:
            return (
                f"Too few {what} ({self.events:,}) to tell hot spots from chance: at least "
                f"{MIN_EVENTS} are needed, so no cell was tested. The map shows where they are."
            )
        if self.events < CAUTION_EVENTS:
            return (
                f"Only {self.events:,} {what}: with fewer than {CAUTION_EVENTS}, chance alone "
                "gives a 90% hot spot in more maps than 1 in 10. Read the 99% cells first."
            )
        return None

    @property
    def in_area(self) -> int:
        return int(self.cells["count"].sum()) if not self.cells.empty else 0

    def bin_counts(self) -> dict[int, int]:
        counts = self.cells["bin"].value_counts()
        return {b: int(counts.get(b, 0)) for b in sorted(BIN_LABELS, reverse=True)}

    @property
    def measure(self) -> Measure:
        """What this map analyses (requests, late requests, the smoothed share late)."""
        return MEASURES[self.params.mode]

    def hot(self) -> pd.DataFrame:
        """Every hot cell, surest first, then the most of the measure the map analyses, then z
        (count: requests; late: late requests; share: the smoothed share late); in the emerging
        mode by pattern (new, intensifying, ... first), then requests, then z. The downloads."""
        column = self.measure.column
        if self.params.mode == "emerging" and "category" in self.cells:
            from dashboard.hotspots_emerging import HOT_CATEGORIES

            rank = {c: i for i, c in enumerate(HOT_CATEGORIES)}
            hot = self.cells[self.cells["category"].isin(rank)].copy()
            hot["_rank"] = hot["category"].map(rank)
            return hot.sort_values(
                ["_rank", column, "z"], ascending=[True, False, False], kind="mergesort"
            ).drop(columns="_rank")
        hot = self.cells[self.cells["bin"] > 0]
        return hot.sort_values(["bin", column, "z"], ascending=False, kind="mergesort")

    def work_list(self, hot: pd.DataFrame | None = None) -> pd.DataFrame:
        """The planner's work list: :meth:`hot` (or ``hot``, its answer already asked for)
        without the cells that have none of the measure of their own (hot for their
        neighbours' requests alone, or in the late and share modes without a late request), in
        the same order."""
        hot = self.hot() if hot is None else hot
        return hot[hot[self.measure.own] > 0]

    def drawn(self) -> pd.DataFrame:
        """The cells a map needs: any with requests, and any significant (or with a pattern)."""
        keep = (self.cells["count"] > 0) | (self.cells["bin"] != 0)
        if "category" in self.cells:
            from dashboard.hotspots_emerging import NO_PATTERN

            keep |= self.cells["category"] != NO_PATTERN
        return self.cells[keep]

    def meta(self) -> dict[str, Any]:
        p = self.params
        return {
            "type": p.type,
            "department": p.department,
            "from": p.start.isoformat() if p.start else None,
            "to": p.end.isoformat() if p.end else None,
            "mode": p.mode,
            "resolution": self.resolution,
            "resolution_reason": self.resolution_reason,
            "k": self.k,
            "k_reason": self.k_reason,
            "distance_m": round(self.distance_m, 1),
            "moran": [{"k": m.k, "I": m.i, "z": m.z} for m in self.moran],
            "cells": int(len(self.cells)),
            "located_cases": self.located,
            "cases_in_study_area": self.in_area,
            "cases_outside_study_area": self.outside,
            "cases_without_location": self.unlocated,
            "duplicates_left_out": self.duplicates,
            "study_area": self.study_area,
            "as_of": self.as_of.isoformat(),
            "events": self.events,
            "tested": self.tested,
            **({"emerging": self.emerging} if self.emerging else {}),
        }


def _resolution(read_model: ReadModel, flt: CaseFilter, requested: int | None) -> tuple[int, str]:
    if requested is not None:
        _h3(requested)
        return requested, "chosen"
    row = read_model.select(
        "SELECT count(*) AS n, count(DISTINCT h3_9) AS cells FROM {cases} "  # noqa: S608
        f"WHERE {{where}} AND {LOCATED} AND h3_9 IS NOT NULL",
        flt=flt,
    ).iloc[0]
    n, cells = int(row["n"]), int(row["cells"])
    if cells and n / cells < THIN_CASES_PER_CELL:
        return THIN_RESOLUTION, (
            f"automatic: {n / cells:.1f} requests per non-empty resolution-9 cell is under "
            f"{THIN_CASES_PER_CELL:g}, so the coarser resolution {THIN_RESOLUTION}"
        )
    per = f"{n / cells:.1f}" if cells else "0"
    return DEFAULT_RESOLUTION, f"automatic: {per} requests per non-empty cell"


def _h3(resolution: int) -> str:
    """The snapshot's H3 column of ``resolution`` (only known resolutions reach SQL)."""
    if resolution not in RESOLUTIONS:
        raise HotspotError(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))}")
    return f"h3_{resolution}"


def _count_questions(
    read_model: ReadModel, flt: CaseFilter, resolution: int, layer: str | None, as_of
) -> list[Question]:
    """:func:`_cell_counts`'s two questions: the counts per cell, and the totals."""
    late, judged = _late_sql()
    h3col = _h3(resolution)
    column = f"area_{layer}" if layer else None
    counts = (
        "count(*) AS count, count(*) FILTER (WHERE status = 'open') AS open, "
        f"count(*) FILTER (WHERE {late}) AS late, count(*) FILTER (WHERE {judged}) AS judged, "
        "count(*) FILTER (WHERE sla_due_at IS NOT NULL) AS due"
    )
    rows = f"FROM {{cases}} WHERE {{where}} AND {LOCATED} AND {h3col} IS NOT NULL"
    if column and read_model.has_column(column):
        # Counted by cell and area, then by cell: each cell's area is the one most of its cases
        # are in, a cell split evenly between two labelled with the first by name (plain mode()
        # broke ties arbitrarily, differently from one query to the next; mode(... ORDER BY ...)
        # cost 17 ms more at 10M cases).
        sql = (
            f'WITH g AS (SELECT {h3col} AS h3, "{column}" AS area, {counts} {rows} '  # noqa: S608
            "GROUP BY 1, 2) SELECT h3, sum(count)::BIGINT AS count, sum(open)::BIGINT AS open, "
            "sum(late)::BIGINT AS late, sum(judged)::BIGINT AS judged, sum(due)::BIGINT AS due, "
            "first(area ORDER BY count DESC, area) FILTER (WHERE area IS NOT NULL) AS area "
            "FROM g GROUP BY 1"
        )
    else:
        sql = f"SELECT {h3col} AS h3, {counts} {rows} GROUP BY 1"  # noqa: S608
    totals = (
        "SELECT count(*) AS n, "
        "count(*) FILTER (WHERE coalesce(is_duplicate, FALSE)) AS duplicates "
        "FROM {cases} WHERE {where}"
    )
    moment = as_of.to_pydatetime()
    return [Question(sql, flt=flt, before=[moment, moment]), Question(totals, flt=flt)]


def _counted(frame: pd.DataFrame, totals: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """:func:`_cell_counts`'s answer from its two questions' frames."""
    row = totals.iloc[0]
    located = int(frame["count"].sum()) if not frame.empty else 0
    duplicates = int(row["duplicates"])
    return frame, located, int(row["n"]) - duplicates - located, duplicates


def _cell_counts(
    read_model: ReadModel, flt: CaseFilter, resolution: int, layer: str | None, as_of
) -> tuple[pd.DataFrame, int, int, int]:
    """Per-cell counts (requests, open, late, judged, and ``due``: with a due time at all), and
    the numbers of located, unlocated and duplicate cases."""
    return _counted(
        *read_model.select_all(_count_questions(read_model, flt, resolution, layer, as_of))
    )


#: An address as shown: its white space collapsed (applied to the few addresses listed, after
#: counting: on every row it cost 3-6 times the whole address query at 10M cases).
ADDRESS_SQL = r"trim(regexp_replace(address, '\s+', ' ', 'g'))"


def _address_question(flt: CaseFilter, resolution: int, top: int = 3) -> Question:
    """The most requested addresses (up to ``top``) of every cell with located cases, joined
    by ``" | "``: columns ``h3`` and ``addresses``.

    Every cell, not a list of them: the question can then be asked before the analysis says
    which cells are drawn, beside the counts (every cell with an address has cases, so is
    drawn; looking each case's cell up in a list of 1,400 also cost more than counting the
    others).
    Addresses are counted as stored and shown with their white space collapsed
    (:data:`ADDRESS_SQL`): Boston's export separates the parts of its ``location`` with two
    spaces where other sources write commas ("587 Beacon St  Boston  MA  02215"), which the
    page's table showed with one space (HTML collapses white space) and the CSV with two."""
    h3col = _h3(resolution)
    return Question(
        f"WITH a AS (SELECT {h3col} AS h3, address, count(*) AS n "  # noqa: S608
        f"FROM {{cases}} WHERE {{where}} AND {LOCATED} AND address IS NOT NULL "
        f"AND {h3col} IS NOT NULL "
        "GROUP BY 1, 2), r AS (SELECT *, row_number() OVER (PARTITION BY h3 "
        "ORDER BY n DESC, address) AS rk FROM a) "
        f"SELECT h3, string_agg({ADDRESS_SQL}, ' | ' ORDER BY rk) AS addresses FROM r "
        "WHERE rk <= ? GROUP BY h3",
        flt=flt,
        after=[top],
    )


def within_data(
    read_model: ReadModel, start: date | None, end: date | None
) -> tuple[date | None, date | None]:
    """``start``–``end`` cut to the days the data covers (:meth:`ReadModel.data_days`): the
    weeks before its first request or after its last are not weeks without requests, and a
    trend over them would rise or fall from nothing (a link asking from 1000-01-01 also made
    52,000 weeks of Mann–Kendall work). Unchanged when either is None or there are no cases."""
    if start is None or end is None:
        return start, end
    days = read_model.data_days()
    if days is None:
        return start, end
    return max(start, days[0]), min(end, days[1])


def _trend_question(
    flt: CaseFilter,
    resolution: int,
    start: date | None,
    end: date | None,
    *,
    late_as_of: pd.Timestamp | None = None,
) -> tuple[Question | None, int | None]:
    """The question of the work list's trends (:func:`_trends_from`): weekly counts of every
    located cell, and the number of whole weeks it asks about (None without dates); no
    question when there are fewer than four weeks or no dates.

    Every cell, not the hot ones: it is then asked beside the counts, before the analysis says
    which cells are hot, on the other core instead of after them (asked after them, for the
    ~1,000 hot cells' cases only, the hot-spot analysis took 7 ms longer in the count mode and
    15 ms in the late mode at 1M cases: a paired script, docs/BENCHMARKS-HISTORY.md)."""
    if start is None or end is None:
        return None, None
    weeks = ((end - start).days + 1) // 7
    if weeks < 4:
        return None, weeks
    first = end + timedelta(days=1) - timedelta(days=7 * weeks)
    h3col = _h3(resolution)
    only, after = "", []
    if late_as_of is not None:
        only = f" AND {_late_sql()[0]}"
        after.append(late_as_of.to_pydatetime())
    question = Question(
        f"SELECT {h3col} AS h3, CAST(date_diff('day', CAST(? AS DATE), "  # noqa: S608
        "CAST(requested_local AS DATE)) // 7 AS INTEGER) AS step, count(*) AS n "
        f"FROM {{cases}} WHERE {{where}} AND {LOCATED} AND {h3col} IS NOT NULL{only} "
        "GROUP BY 1, 2",
        flt=flt.with_(start=first),
        before=[first],
        after=after,
    )
    return question, weeks


def _trends_from(answer: pd.DataFrame | None, cells: np.ndarray, weeks: int | None) -> pd.DataFrame:
    """Mann–Kendall trend of weekly request counts (7-day steps ending on the last day) per
    cell of the sorted ``cells``, from :func:`_trend_question`'s answer (the weekly counts of
    every cell; the others are left out); in the late and share modes of weekly **late**
    requests (late as of the moment the modes count them at), by the week they were
    requested. Columns h3, trend (in words), trend_z, trend_p."""
    out = pd.DataFrame({"h3": cells, "trend": "no trend", "trend_z": 0.0, "trend_p": 1.0})
    if cells.size == 0 or weeks is None:
        return out
    if weeks < 4 or answer is None:
        out["trend"] = "too short to tell"
        return out
    h3 = answer["h3"].to_numpy(np.int64)
    pos = np.minimum(np.searchsorted(cells, h3), cells.size - 1)
    steps = answer["step"].to_numpy(np.int64)
    ok = (cells[pos] == h3) & (steps >= 0) & (steps < weeks)
    series = np.bincount(
        pos[ok] * weeks + steps[ok],
        weights=answer["n"].to_numpy(np.float64)[ok],
        minlength=cells.size * weeks,
    ).reshape(cells.size, weeks)
    _, z, p = mann_kendall(series)
    out["trend_z"], out["trend_p"] = z, p
    out["trend"] = trend_words(z, p)
    return out


def analyse_values(
    grid: HexGrid, values: np.ndarray, *, k: int | None = None
) -> tuple[int, str, list[MoranResult], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """k (chosen unless given), Moran profile, Gi* z, p, BH q and bins for one value per cell."""
    profile = moran_profile(values, grid)
    if k is None:
        k, reason = choose_k(profile)
    else:
        reason = "chosen"
    z = gi_star(values, grid.weights(k))
    p = p_two_sided(z)
    q = bh_qvalues(p)
    return k, reason, profile, z, p, q, confidence_bins(z, q)


def analyse(
    read_model: ReadModel,
    params: HotspotParams,
    *,
    database_url: str | None = None,
    as_of: pd.Timestamp | None = None,
    area: StudyArea | None = None,
) -> HotspotResult:
    """Answer one hot-spot question over the current snapshot (see the module docstring).

    ``database_url`` locates the boundary polygons of the study area; results are cached per
    snapshot version, question and hour of ``as_of`` (default: now)."""
    started = time.perf_counter()
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    if params.mode not in MODES:
        raise HotspotError(f"unknown mode {params.mode!r}; use one of {', '.join(MODES)}")
    if params.start and params.end and params.start > params.end:
        raise HotspotError("the end date is before the start date")
    # The caller's department scope is part of the key: a department user never gets a result
    # computed for someone who may see more.
    key = (
        read_model.version(),
        scope_of(read_model),
        database_url,
        params.with_(view="map"),
        as_of.floor("h"),
    )
    if area is None:
        cached = _lru_get(_RESULTS, key)
        if cached is not None:
            return cached
    flt = params.to_filter()
    # The five questions below are about the same cases: read them from the snapshot once.
    with read_model.focus(flt, _focus_columns(read_model, params.resolution)) as cases:
        return _analyse(read_model, cases, params, flt, key, database_url, as_of, area, started)


def _focus_columns(read_model: ReadModel, resolution: int | None) -> list[str]:
    """The snapshot columns the hot-spot questions name (``_LATE``, ``LOCATED``, the cells of
    the resolutions that can be chosen, the boundary layers' areas, addresses)."""
    wanted = {DEFAULT_RESOLUTION, THIN_RESOLUTION, *([resolution] if resolution else [])}
    areas = [f"area_{layer}" for layer in read_model.manifest().get("layers", [])]
    return [
        "status", "sla_due_at", "closed_at", "location_quality", "is_duplicate", "address",
        *(_h3(r) for r in sorted(wanted)), *areas,
    ]  # fmt: skip


def _analyse(
    read_model: ReadModel,
    cases: ReadModel,
    params: HotspotParams,
    flt: CaseFilter,
    key: tuple,
    database_url: str | None,
    as_of: pd.Timestamp,
    area: StudyArea | None,
    started: float,
) -> HotspotResult:
    """:func:`analyse` once the question's cases are in memory (``cases``); the study area
    and the emerging-hot-spot steps still read the whole snapshot (``read_model``)."""
    resolution, res_reason = _resolution(cases, flt, params.resolution)
    if area is None:
        area = study_area(database_url, read_model, resolution)
    grid = area.grid
    if grid.resolution != resolution:
        raise HotspotError("the study area's resolution does not match")
    # The counts, every cell's most requested addresses and its weekly counts at once (each on
    # its own cursor: two cores), the addresses first in this thread: they take longest.
    trend_question, weeks = _trend_question(
        flt,
        resolution,
        *within_data(read_model, params.start, params.end),
        late_as_of=as_of if params.mode in ("late", "share") else None,
    )
    every_address, count_frame, totals, *weekly = cases.select_all(
        [
            _address_question(flt, resolution),
            *_count_questions(cases, flt, resolution, area.layer, as_of),
            *([trend_question] if trend_question is not None else []),
        ]
    )
    counts, located, unlocated, duplicates = _counted(count_frame, totals)
    pos = grid.index_of(counts["h3"].to_numpy(np.int64)) if not counts.empty else np.zeros(0, int)
    inside = pos >= 0
    outside = int(counts.loc[~inside, "count"].sum()) if not counts.empty else 0
    due = int(counts.loc[inside, "due"].sum()) if not counts.empty else 0
    # The cells' columns as arrays, made into a frame once at the end (setting them on a frame
    # one by one cost about 5 ms at 1M cases).
    cols: dict[str, Any] = {"h3": grid.cells, "cell": cell_str(grid.cells)}
    for column in ("count", "open", "late", "judged"):
        values = np.zeros(grid.n, dtype=np.int64)
        if not counts.empty:
            values[pos[inside]] = counts[column].to_numpy(np.int64)[inside]
        cols[column] = values
    area_names = np.full(grid.n, None, dtype=object)
    if "area" in counts and not counts.empty:
        area_names[pos[inside]] = counts["area"].to_numpy(object)[inside]
    cols["area"] = area_names
    mode = params.mode
    if mode == "late":
        value = np.log1p(cols["late"].astype(np.float64))
    elif mode == "share":
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["share"] = np.where(cols["judged"] > 0, cols["late"] / cols["judged"], np.nan)
        value = eb_share(cols["late"], cols["judged"])
        cols["share_smoothed"] = value
    else:
        value = np.log1p(cols["count"].astype(np.float64))
    cols["value"] = value
    k, k_reason, profile, z, p, q, bins = analyse_values(grid, value)
    events = _events(cols, mode)
    if events < MIN_EVENTS:  # nothing is tested (see MIN_EVENTS)
        z, p, q = (np.full(grid.n, np.nan) for _ in range(3))
        bins = np.zeros(grid.n, dtype=bins.dtype)
    cols["z"], cols["p"], cols["q"], cols["bin"] = z, p, q, bins
    cols["label"] = (
        [BIN_LABELS[int(b)] for b in bins] if events >= MIN_EVENTS else [UNTESTED_LABEL] * grid.n
    )
    emerging_meta: dict[str, Any] = {}
    hot_cells = grid.cells[bins > 0]
    if mode == "emerging":
        from dashboard.hotspots_emerging import HOT_CATEGORIES, emerging_for

        columns, emerging_meta = emerging_for(read_model, params, grid, k, resolution)
        cols.update(columns)
        hot_cells = np.union1d(
            hot_cells, grid.cells[pd.Series(cols["category"]).isin(HOT_CATEGORIES).to_numpy()]
        )
    # Columns by position in the grid (the cells are the grid's, in its order), not by merging;
    # the addresses of cells outside the grid are left out there.
    cols["addresses"] = _by_cell(grid, every_address["h3"], every_address["addresses"])
    cols["address"] = _by_cell(
        grid,
        every_address["h3"],
        [a.split(" | ")[0] for a in _listed(every_address["addresses"])],
    )
    trends = _trends_from(weekly[0] if weekly else None, np.sort(hot_cells), weeks)
    cols["trend"] = _by_cell(grid, trends["h3"], trends["trend"])
    cells = pd.DataFrame(cols)
    result = HotspotResult(
        params=params,
        resolution=resolution,
        resolution_reason=res_reason,
        k=k,
        k_reason=k_reason,
        distance_m=grid.distance_m(k),
        spacing_m=grid.spacing_m(),
        moran=profile,
        cells=cells,
        located=located,
        outside=outside,
        unlocated=unlocated,
        duplicates=duplicates,
        due=due,
        study_area=area.description,
        layer=area.layer,
        outline=area.outline,
        as_of=as_of,
        seconds=time.perf_counter() - started,
        emerging=emerging_meta,
        events=events,
    )
    _lru_put(_RESULTS, key, result, MAX_CACHED_RESULTS)
    return result


def _by_cell(grid: HexGrid, cells: Sequence[int] | pd.Series, values: Iterable[Any]) -> np.ndarray:
    """A column of the grid's cells (in its order): ``values`` at ``cells``, None elsewhere
    (and for cells outside the grid)."""
    out = np.full(grid.n, None, dtype=object)
    pos = grid.index_of(np.asarray(cells, dtype=np.int64))
    items = np.empty(pos.size, dtype=object)
    items[:] = _listed(values)
    out[pos[pos >= 0]] = items[pos >= 0]
    return out


def _listed(values: Iterable[Any]) -> list[Any]:
    """``values`` as a list; a pandas column through its ``tolist`` (looping over a column of
    pandas' Arrow-backed strings one value at a time took about 1 ms per 1,400 cells, ten
    times as long)."""
    return values.tolist() if isinstance(values, pd.Series | np.ndarray) else list(values)


#: What :func:`_events` counts, in words, per mode.
EVENT_NOUNS = {"late": "late requests", "share": "requests with a due time"}


def _events(cells: pd.DataFrame | Mapping[str, np.ndarray], mode: str) -> int:
    """What a map of ``mode`` analyses, counted over the study area: late requests (late),
    requests with a due time (share), else requests."""
    column = {"late": "late", "share": "judged"}.get(mode, "count")
    return int(cells[column].sum())


# -- smoothed density (a secondary view) ----------------------------------------------------------
M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class DensityGrid:
    lon: np.ndarray  # column centres
    lat: np.ndarray  # row centres
    density: np.ndarray  # (rows, cols), requests per km²
    bandwidth_m: float
    cell_m: float
    cases: int


def density(
    read_model: ReadModel,
    params: HotspotParams,
    *,
    bounds: tuple[float, float, float, float],
    bandwidth_m: float,
    max_cells: int = 160,
) -> DensityGrid:
    """Binned Gaussian kernel density of the located cases on a regular grid.

    Cases are counted into square bins (≈ bandwidth / 3 wide, at most ``max_cells`` a side) over
    ``bounds`` (min_lon, min_lat, max_lon, max_lat), then smoothed with a Gaussian of standard
    deviation ``bandwidth_m``; the result is requests per km²."""
    from scipy.ndimage import gaussian_filter

    min_lon, min_lat, max_lon, max_lat = bounds
    lat0 = (min_lat + max_lat) / 2
    m_lon = M_PER_DEG * math.cos(math.radians(lat0))
    width_m = (max_lon - min_lon) * m_lon
    height_m = (max_lat - min_lat) * M_PER_DEG
    cell_m = max(bandwidth_m / 3.0, max(width_m, height_m) / max_cells, 1.0)
    cols = max(int(math.ceil(width_m / cell_m)), 1)
    rows = max(int(math.ceil(height_m / cell_m)), 1)
    dlon, dlat = cell_m / m_lon, cell_m / M_PER_DEG
    frame = read_model.select(
        "SELECT CAST(floor((lon - ?) / ?) AS INTEGER) AS gx, "  # noqa: S608
        "CAST(floor((lat - ?) / ?) AS INTEGER) AS gy, count(*) AS n FROM {cases} "
        f"WHERE {{where}} AND {LOCATED} AND lat IS NOT NULL AND lon IS NOT NULL GROUP BY 1, 2",
        flt=params.to_filter(),
        before=[min_lon, dlon, min_lat, dlat],
    )
    binned = np.zeros((rows, cols))
    if not frame.empty:
        gx, gy = frame["gx"].to_numpy(np.int64), frame["gy"].to_numpy(np.int64)
        ok = (gx >= 0) & (gx < cols) & (gy >= 0) & (gy < rows)
        np.add.at(binned, (gy[ok], gx[ok]), frame["n"].to_numpy(np.float64)[ok])
    smooth = gaussian_filter(binned, sigma=bandwidth_m / cell_m, mode="constant", truncate=4.0)
    per_km2 = smooth / (cell_m * cell_m / 1e6)
    return DensityGrid(
        lon=min_lon + (np.arange(cols) + 0.5) * dlon,
        lat=min_lat + (np.arange(rows) + 0.5) * dlat,
        density=per_km2,
        bandwidth_m=bandwidth_m,
        cell_m=cell_m,
        cases=int(binned.sum()),
    )


def grid_bounds(grid: HexGrid) -> tuple[float, float, float, float]:
    centres = grid.centres()
    pad = 0.004
    return (
        float(centres[:, 1].min() - pad),
        float(centres[:, 0].min() - pad),
        float(centres[:, 1].max() + pad),
        float(centres[:, 0].max() + pad),
    )


# -- exports --------------------------------------------------------------------------------------
EXPORT_COLUMNS: tuple[str, ...] = (
    "cell",
    "count",
    "open",
    "late",
    "judged",
    "share",
    "share_smoothed",
    "value",
    "z",
    "p",
    "q",
    "bin",
    "label",
    "category",
    "trend_z",
    "trend_p",
    "hot_steps",
    "cold_steps",
    "trend",
    "area",
    "address",
    "addresses",
)


def export_frame(result: HotspotResult, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The columns written to CSV/GeoJSON (``h3`` is the cell id as a hex string)."""
    frame = result.cells if cells is None else cells
    columns = [c for c in EXPORT_COLUMNS if c in frame.columns]
    if result.params.mode == "count":
        columns = [c for c in columns if c not in ("late", "judged")]
    out = frame[columns].rename(columns={"cell": "h3"})
    return out.reset_index(drop=True)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def to_geojson(result: HotspotResult, cells: pd.DataFrame | None = None) -> dict[str, Any]:
    """A FeatureCollection: one Polygon feature per cell, properties as :func:`export_frame`;
    the question and the method's choices (k, distance, resolution) under ``"stat311"``."""
    frame = export_frame(result, cells)
    features = []
    for row in frame.to_dict("records"):
        props = {k: _jsonable(v) for k, v in row.items()}
        features.append(
            {
                "type": "Feature",
                "id": props["h3"],
                "geometry": {"type": "Polygon", "coordinates": [cell_polygon(int(row["h3"], 16))]},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "stat311": result.meta(), "features": features}


def to_csv(result: HotspotResult, cells: pd.DataFrame | None = None) -> str:
    frame = export_frame(result, cells)
    centres = np.array([h3i.cell_to_latlng(int(c, 16)) for c in frame["h3"]]).reshape(-1, 2)
    frame.insert(1, "lat", np.round(centres[:, 0], 6))
    frame.insert(2, "lon", np.round(centres[:, 1], 6))
    return safe_frame(frame).to_csv(index=False)  # addresses and areas come from exports


def map_geojson(cells: pd.DataFrame, grid: HexGrid | None = None) -> dict[str, Any]:
    """Small GeoJSON for a map: id = the cell's hex id, no properties, coordinates rounded to
    5 decimals (about 1 m). With ``grid``, its remembered features are used."""
    grid = grid if grid is not None else HexGrid(cells["h3"].to_numpy(np.int64))
    return {
        "type": "FeatureCollection",
        "features": [grid.feature(int(h)) for h in cells["h3"].to_numpy(np.int64)],
    }


def cells_outline(cells: Iterable[int], digits: int = 5) -> dict[str, Any] | None:
    """The outer boundaries (and holes) of a set of cells merged together, as a GeoJSON
    MultiLineString; None for no cells."""
    ids = [h3.int_to_str(int(c)) for c in cells]
    if not ids:
        return None
    geo = h3.h3shape_to_geo(h3.cells_to_h3shape(ids))
    polygons = [geo["coordinates"]] if geo["type"] == "Polygon" else geo["coordinates"]
    lines = []
    for polygon in polygons:
        for ring in polygon:
            coords = [[round(x, digits), round(y, digits)] for x, y in ring]
            lines.append([*coords, coords[0]])
    return {"type": "MultiLineString", "coordinates": lines}


# -- benchmark (not a timed test) -----------------------------------------------------------------
def benchmark(n_cells: int = 50_000, *, k: int = 2, repeat: int = 7, seed: int = 1) -> dict:
    """Median time of :func:`gi_star` on about ``n_cells`` cells beside esda's ``G_Local`` on the
    same binary weights (esda only if installed), and the largest |z| difference."""
    import statistics

    origin = h3i.latlng_to_cell(42.32, -71.08, 10)
    radius = int(math.ceil((-3 + math.sqrt(9 + 12 * (n_cells - 1))) / 6))
    cells = np.array(h3i.grid_disk(origin, radius), dtype=np.int64)[:n_cells]
    grid = HexGrid(cells)
    t0 = time.perf_counter()
    w = grid.weights(k)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    x = np.log1p(rng.poisson(2.0, grid.n).astype(np.float64))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        z = gi_star(x, w)
        times.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "cells": grid.n,
        "k": k,
        "weights_build_ms": round(build_s * 1e3, 2),
        "gi_star_median_ms": round(statistics.median(times) * 1e3, 3),
    }
    try:
        from esda.getisord import G_Local
        from libpysal.weights import W
    except ImportError:  # pragma: no cover - esda is a test dependency
        return out
    wl = W(grid.neighbour_lists(k), silence_warnings=True)
    etimes = []
    for _ in range(max(1, min(repeat, 3))):
        t0 = time.perf_counter()
        ref = G_Local(x, wl, transform="B", star=True, permutations=0)
        etimes.append(time.perf_counter() - t0)
    out["esda_median_ms"] = round(statistics.median(etimes) * 1e3, 3)
    out["max_abs_z_diff"] = float(np.max(np.abs(ref.Zs - z)))
    return out


# -- the command line -----------------------------------------------------------------------------
def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``stat311 hotspots`` to the CLI's subparsers (``func`` = :func:`handler`)."""
    p = subparsers.add_parser(
        "hotspots",
        help="significant hot and cold spots of one request type (Gi* with FDR), as GeoJSON/CSV",
        description="Getis-Ord Gi* hot spots of one request type over H3 cells covering the "
        "city's boundary layer: log1p counts, k-ring neighbourhood chosen by the first peak of "
        "global Moran's I, Benjamini-Hochberg q-values, bins +-3/2/1 at q < 0.01/0.05/0.10. "
        "Writes one feature (or row) per cell with h3, count, z, p, q, bin (and category for "
        "--mode emerging). The method: docs/HOTSPOTS.md.",
    )
    p.add_argument("--type", required=True, metavar="TYPE", help="request type (service name)")
    p.add_argument("--department", metavar="CODE", help="only this department's cases")
    p.add_argument("--from", dest="from_", required=True, type=iso_date, metavar="YYYY-MM-DD")
    p.add_argument("--to", required=True, type=iso_date, metavar="YYYY-MM-DD")
    p.add_argument(
        "--resolution",
        type=int,
        choices=RESOLUTIONS,
        help="H3 resolution (default: 9, or 8 when the cases are thin)",
    )
    p.add_argument("--mode", choices=MODES, default="count")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE.geojson|FILE.csv",
        help="output file; the format follows the extension (.geojson, .json or .csv)",
    )
    p.set_defaults(func=handler)
    return p


def _suggest(value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def handler(args: argparse.Namespace, settings: Any) -> int:
    """``stat311 hotspots``: analyse, write ``--out``, print a one-paragraph summary."""
    from dashboard.snapshot import reading_settings
    from dashboard.store import Store

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".geojson", ".json", ".csv"):
        raise HotspotError(f"--out must end in .geojson, .json or .csv (got {out.name!r})")
    if args.to < args.from_:
        raise HotspotError("--to is before --from")
    store = Store(settings.database_url)
    store.migrate()
    with reading_settings(store, settings) as reading:  # never rewrites the dashboard's
        result = _analyse_args(args, reading)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        out.write_text(to_csv(result), encoding="utf-8")
    else:
        out.write_text(json.dumps(to_geojson(result)), encoding="utf-8")
    print(summary_text(result) + f" Written to {out}.")
    return 0


def _analyse_args(args: argparse.Namespace, settings: Any) -> HotspotResult:
    """The analysis the command line asks for, over the snapshot of ``settings``."""
    read_model = ReadModel(settings.snapshot_dir)
    options = read_model.options()
    if args.type not in options["types"]:
        raise HotspotError(
            f"unknown request type {args.type!r}{_suggest(args.type, options['types'])}"
        )
    if args.department and args.department not in options["departments"]:
        raise HotspotError(
            f"unknown department {args.department!r}"
            f"{_suggest(args.department, options['departments'])}"
        )
    params = HotspotParams(
        type=args.type,
        department=args.department,
        start=args.from_,
        end=args.to,
        resolution=getattr(args, "resolution", None),
        mode=getattr(args, "mode", None) or "count",
    )
    return analyse(read_model, params, database_url=settings.database_url)


def summary_text(result: HotspotResult) -> str:
    bins = result.bin_counts()
    hot = sum(v for b, v in bins.items() if b > 0)
    cold = sum(v for b, v in bins.items() if b < 0)
    text = (
        f"{result.in_area:,} requests in {len(result.cells):,} cells at H3 resolution "
        f"{result.resolution} ({result.resolution_reason}); neighbourhood k = {result.k} "
        f"rings, about {result.distance_m:,.0f} m ({result.k_reason}). "
        f"{hot} hot-spot cells (99%: {bins[3]}, 95%: {bins[2]}, 90%: {bins[1]}), {cold} cold-spot "
        f"cells."
    )
    caution = result.caution()
    if caution:
        text += " " + caution
    if result.emerging:
        cats = result.emerging.get("categories", {})
        shown = ", ".join(f"{name}: {n}" for name, n in cats.items() if n)
        text += f" Emerging ({result.emerging.get('steps')} {result.emerging.get('step')}s): "
        text += (shown or "no pattern anywhere") + "."
    left = [
        f"{n:,} {what}"
        for n, what in (
            (result.outside, "outside the study area"),
            (result.unlocated, "without an exact location"),
            (result.duplicates, "flagged as duplicates"),
        )
        if n
    ]
    if left:
        text += f" Left out: {', '.join(left)}."
    return text


__all__ = [
    "BIN_LABELS",
    "HexGrid",
    "HotspotParams",
    "HotspotResult",
    "analyse",
    "bh_qvalues",
    "gi_star",
    "handler",
    "add_subparser",
]
