"""Emerging hot spots: how hot and cold spots change over time (no UI here).

1. The cases are counted into a cube: study-area cells × time steps (weeks, or calendar months for
   ranges over a year). Weeks are 7-day steps ending on the last day asked for (a partial first week
   is left out); months are the whole calendar months inside the range.
2. Space-time Gi* on ``log1p(count)`` of every bin (cell, step): its neighbours are the cells within
   ``k`` rings at the same step and at the previous step (the cell itself included at both); mean
   and standard deviation are over all bins. Two-sided p, Benjamini–Hochberg q over all bins; a bin
   is a significant hot (cold) spot when q < :data:`SIGNIFICANT_Q` and z > 0 (z < 0).
3. Mann–Kendall trend test of each cell's series of z-scores (the intensity of clustering).
4. Each cell gets one category by the rules of :func:`classify` (written out in
   ``docs/HOTSPOTS.md``), after ArcGIS's Emerging Hot Spot Analysis.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

import numpy as np

from dashboard.hotspots import (
    LOCATED,
    HexGrid,
    HotspotError,
    HotspotParams,
    SpatialWeights,
    _h3,
    bh_qvalues,
    mann_kendall,
    p_two_sided,
    within_data,
)
from dashboard.queries import CaseFilter, ReadModel

#: Hot categories in work-list order (what needs attention first).
HOT_CATEGORIES: tuple[str, ...] = (
    "New hot spot",
    "Intensifying hot spot",
    "Consecutive hot spot",
    "Persistent hot spot",
    "Sporadic hot spot",
    "Oscillating hot spot",
    "Diminishing hot spot",
    "Historical hot spot",
)
COLD_CATEGORIES: tuple[str, ...] = tuple(c.replace("hot spot", "cold spot") for c in HOT_CATEGORIES)
NO_PATTERN = "No pattern detected"
CATEGORIES: tuple[str, ...] = (*HOT_CATEGORIES, *COLD_CATEGORIES, NO_PATTERN)
#: A bin is significant when its q is below this (90% confidence, the ±1 bins and up).
SIGNIFICANT_Q = 0.10
#: "Almost always": the share of steps a persistent / intensifying / diminishing / historical
#: spot must have been significant.
PERSISTENT_SHARE = 0.90
#: Mann–Kendall significance of the trend in intensity.
TREND_ALPHA = 0.05
#: Fewer steps than this cannot show a pattern over time.
MIN_STEPS = 10
#: Ranges up to this many days use weeks by default, longer ones months.
WEEKS_UP_TO_DAYS = 371

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "New hot spot": "a significant hot spot in the last step only, never before",
    "Consecutive hot spot": "an unbroken run of 2 or more hot steps up to the last one, never hot "
    "before the run, hot in under 90% of steps",
    "Intensifying hot spot": "hot in 90%+ of steps including the last, and getting hotter "
    "(significant rising trend)",
    "Persistent hot spot": "hot in 90%+ of steps including the last, with no significant trend",
    "Sporadic hot spot": "hot in the last step and on and off before (under 90% of steps), never "
    "a cold spot",
    "Oscillating hot spot": "hot in the last step, a cold spot in some earlier step, hot in under "
    "90% of steps",
    "Diminishing hot spot": "hot in 90%+ of steps including the last, but cooling (significant "
    "falling trend)",
    "Historical hot spot": "hot in 90%+ of steps, but not in the last one",
    "New cold spot": "a significant cold spot in the last step only, never before",
    "Intensifying cold spot": "cold in 90%+ of steps including the last, and getting colder "
    "(significant falling trend)",
    "Consecutive cold spot": "an unbroken run of 2 or more cold steps up to the last one, never "
    "cold before the run, cold in under 90% of steps",
    "Persistent cold spot": "cold in 90%+ of steps including the last, with no significant trend",
    "Sporadic cold spot": "cold in the last step and on and off before (under 90% of steps), "
    "never a hot spot",
    "Oscillating cold spot": "cold in the last step, a hot spot in some earlier step, cold in "
    "under 90% of steps",
    "Diminishing cold spot": "cold in 90%+ of steps including the last, but warming (significant "
    "rising trend)",
    "Historical cold spot": "cold in 90%+ of steps, but not in the last one",
    NO_PATTERN: "none of the above (including cells that were never significant)",
}


# -- the statistics -------------------------------------------------------------------------------
def space_time_gi_star(cube: np.ndarray, weights: SpatialWeights) -> np.ndarray:
    """Gi* z-scores of every bin of ``cube`` (n cells × T steps).

    The weights of bin (i, t) are w_ij at step t and w_ij at step t − 1 (``weights`` are the
    spatial ones, self included); x̄, S and N = n·T are taken over all bins. This is the plain
    Gi* formula (see :func:`dashboard.hotspots.gi_star`) on the space-time weights matrix
    I_T ⊗ W + L ⊗ W, with L the one-step lag."""
    x = np.asarray(cube, dtype=np.float64)
    n, t = x.shape
    big_n = n * t
    if big_n < 2 or np.all(x == x.flat[0]):  # all equal: undefined, z = 0 (not rounding noise)
        return np.zeros_like(x)
    mean = float(x.mean())
    s = float(np.sqrt(max(float(np.mean(x * x)) - mean * mean, 0.0)))
    spatial = np.asarray(weights.matrix @ x)
    lag = spatial.copy()
    lag[:, 1:] += spatial[:, :-1]
    factor = np.full(t, 2.0)
    factor[0] = 1.0
    wsum = weights.wsum[:, None] * factor[None, :]
    w2sum = weights.w2sum[:, None] * factor[None, :]
    den = s * np.sqrt(np.maximum(big_n * w2sum - wsum * wsum, 0.0) / (big_n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * wsum) / den
    return np.where(np.isfinite(z), z, 0.0)


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True values that ends at the last step, per row."""
    n, t = flags.shape
    rev = ~flags[:, ::-1]
    first_false = np.where(rev.any(axis=1), rev.argmax(axis=1), t)
    return first_false


def classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray
) -> np.ndarray:
    """The category of each row (cell) from its significant hot/cold steps (n × T booleans) and
    the Mann–Kendall trend of its z-scores. Rules, first match wins:

    If the last step is hot:
      1. hot in ≥ 90% of steps and a significant rising trend → Intensifying hot spot
      2. hot in ≥ 90% of steps and a significant falling trend → Diminishing hot spot
      3. hot in ≥ 90% of steps → Persistent hot spot
      4. hot in the last step only → New hot spot
      5. the hot steps are one unbroken run (≥ 2) ending at the last step → Consecutive hot spot
      6. a cold spot at some earlier step → Oscillating hot spot
      7. otherwise → Sporadic hot spot
    If the last step is cold: the same rules with hot and cold swapped (and the trend's sign).
    Otherwise: hot in ≥ 90% of steps → Historical hot spot; cold in ≥ 90% → Historical cold spot;
    else No pattern detected."""
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    n, t = hot.shape
    out = np.full(n, NO_PATTERN, dtype=object)
    if t == 0:
        return out
    rising = (np.asarray(trend_p) < TREND_ALPHA) & (np.asarray(trend_z) > 0)
    falling = (np.asarray(trend_p) < TREND_ALPHA) & (np.asarray(trend_z) < 0)
    need = PERSISTENT_SHARE * t - 1e-9

    def rules(a: np.ndarray, b: np.ndarray, up: np.ndarray, down: np.ndarray, names: tuple):
        (new, intens, consec, persist, sporadic, oscill, dimin, _hist) = names
        last = a[:, -1]
        count = a.sum(axis=1)
        mostly = count >= need
        run = _trailing_run(a)
        other_before = b[:, :-1].any(axis=1)
        conditions = [
            last & mostly & up,
            last & mostly & down,
            last & mostly,
            last & (count == 1),
            last & (run == count) & (run >= 2),
            last & other_before,
            last,
        ]
        choices = [intens, dimin, persist, new, consec, oscill, sporadic]
        return conditions, choices

    hot_conditions, hot_choices = rules(hot, cold, rising, falling, HOT_CATEGORIES)
    cold_conditions, cold_choices = rules(cold, hot, falling, rising, COLD_CATEGORIES)
    historical_hot = ~hot[:, -1] & (hot.sum(axis=1) >= need)
    historical_cold = ~cold[:, -1] & (cold.sum(axis=1) >= need)
    conditions = [*hot_conditions, *cold_conditions, historical_hot, historical_cold]
    choices = [*hot_choices, *cold_choices, HOT_CATEGORIES[-1], COLD_CATEGORIES[-1]]
    return np.select(conditions, choices, default=NO_PATTERN).astype(object)


def emerging_cube(cube: np.ndarray, weights: SpatialWeights) -> dict[str, np.ndarray]:
    """Everything per cell from a cube of values (already transformed, e.g. log1p counts)."""
    z = space_time_gi_star(cube, weights)
    q = bh_qvalues(p_two_sided(z).ravel()).reshape(z.shape)
    significant = q < SIGNIFICANT_Q
    hot = significant & (z > 0)
    cold = significant & (z < 0)
    _, trend_z, trend_p = mann_kendall(z)
    return {
        "z": z,
        "q": q,
        "hot": hot,
        "cold": cold,
        "trend_z": trend_z,
        "trend_p": trend_p,
        "category": classify(hot, cold, trend_z, trend_p),
    }


# -- over the snapshot ----------------------------------------------------------------------------
def _steps(start: date, end: date, step: str) -> tuple[date, date, int]:
    """(first day, last day, number of whole steps) of ``step`` in [start, end]."""
    if step == "week":
        count = ((end - start).days + 1) // 7
        return end + timedelta(days=1) - timedelta(days=7 * count), end, count
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    month_end = calendar.monthrange(end.year, end.month)[1]
    last = end if end.day == month_end else end.replace(day=1) - timedelta(days=1)
    count = (last.year - first.year) * 12 + last.month - first.month + 1 if last > first else 0
    return first, last, count


def step_plan(
    start: date, end: date, step: str | None, data: tuple[date, date] | None = None
) -> tuple[str, date, date, int]:
    """(step, first day, last day, number of steps) for the range [start, end].

    ``data``: the first and last days of the whole data; when it is too short for
    :data:`MIN_STEPS` steps too, the error says so instead of asking for wider dates."""
    if step is None:
        step = "week" if (end - start).days + 1 <= WEEKS_UP_TO_DAYS else "month"
    if step not in ("week", "month"):
        raise HotspotError(f"unknown time step {step!r}; use week or month")
    first, last, count = _steps(start, end, step)
    if count < MIN_STEPS:
        need = f"Emerging hot spots need at least {MIN_STEPS} whole {step}s"
        if data is not None and _steps(*data, step)[2] < MIN_STEPS:
            days = (data[1] - data[0]).days + 1
            held = f"{need}; the data holds only {days:,} {'day' if days == 1 else 'days'} " + (
                f"({data[0]:%Y-%m-%d})." if days == 1 else f"(from {data[0]} to {data[1]})."
            )
            if step == "month" and _steps(*data, "week")[2] >= MIN_STEPS:
                held += " Choose weeks."
            raise HotspotError(held)
        raise HotspotError(
            f"{need}; this range has {max(count, 0)}. Widen the dates"
            + (" or choose weeks." if step == "month" else ".")
        )
    return step, first, last, count


def step_starts(step: str, first: date, count: int) -> list[date]:
    if step == "week":
        return [first + timedelta(days=7 * i) for i in range(count)]
    out = []
    year, month = first.year, first.month
    for _ in range(count):
        out.append(date(year, month, 1))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def cube_counts(
    read_model: ReadModel,
    params: HotspotParams,
    grid: HexGrid,
    resolution: int,
    plan: tuple[str, date, date, int],
) -> np.ndarray:
    """Located cases per (study-area cell, step)."""
    step, first, last, count = plan
    h3col = _h3(resolution)
    if step == "week":
        index = (
            "CAST(date_diff('day', CAST(? AS DATE), CAST(requested_local AS DATE)) // 7 AS INTEGER)"
        )
    else:
        index = (
            "CAST(date_diff('month', CAST(? AS DATE), CAST(requested_local AS DATE)) AS INTEGER)"
        )
    frame = read_model.select(
        f"SELECT {h3col} AS h3, {index} AS step, count(*) AS n FROM {{cases}} "  # noqa: S608
        f"WHERE {{where}} AND {LOCATED} AND {h3col} IS NOT NULL GROUP BY 1, 2",
        flt=params.with_(start=first, end=last).to_filter(),
        before=[first],
    )
    cube = np.zeros((grid.n, count))
    if frame.empty:
        return cube
    pos = grid.index_of(frame["h3"].to_numpy(np.int64))
    steps = frame["step"].to_numpy(np.int64)
    ok = (pos >= 0) & (steps >= 0) & (steps < count)
    np.add.at(cube, (pos[ok], steps[ok]), frame["n"].to_numpy(np.float64)[ok])
    return cube


def _first_last(read_model: ReadModel, flt: CaseFilter) -> tuple[date, date] | None:
    """The first and last request days of the cases ``flt`` selects (None: there are none)."""
    row = read_model.select(
        "SELECT min(requested_local)::DATE AS lo, max(requested_local)::DATE AS hi "
        "FROM {cases} WHERE {where}",
        flt=flt,
    ).iloc[0]
    if row["lo"] is None or row["hi"] is None or str(row["lo"]) in ("NaT", "None"):
        return None
    lo, hi = row["lo"], row["hi"]
    lo = lo.date() if hasattr(lo, "date") else lo
    hi = hi.date() if hasattr(hi, "date") else hi
    return lo, hi


def _date_span(read_model: ReadModel, params: HotspotParams) -> tuple[date, date]:
    if params.start and params.end:
        return params.start, params.end
    span = _first_last(read_model, params.to_filter())
    if span is None:
        raise HotspotError("No requests match, so there is no time range to study.")
    return params.start or span[0], params.end or span[1]


def emerging_for(
    read_model: ReadModel, params: HotspotParams, grid: HexGrid, k: int, resolution: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-cell columns (category, trend_z, trend_p, hot_steps, cold_steps, final_z) and a
    description of the steps, for :func:`dashboard.hotspots.analyse`."""
    start, end = within_data(read_model, *_date_span(read_model, params))
    try:
        plan = step_plan(start, end, params.step)
    except HotspotError:
        # Too few steps: whether wider dates would help depends on the whole data's days (the
        # date pickers' range, every type), asked only then.
        data = _first_last(read_model, CaseFilter())
        if data is None:
            raise
        plan = step_plan(start, end, params.step, data)
    step, first, last, count = plan
    cube = cube_counts(read_model, params, grid, resolution, plan)
    result = emerging_cube(np.log1p(cube), grid.weights(k))
    categories = result["category"]
    columns = {
        "category": categories,
        "trend_z": result["trend_z"],
        "trend_p": result["trend_p"],
        "hot_steps": result["hot"].sum(axis=1),
        "cold_steps": result["cold"].sum(axis=1),
        "final_z": result["z"][:, -1],
    }
    values, counts = np.unique(categories.astype(str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist(), strict=True))
    meta = {
        "step": step,
        "steps": count,
        "first": first.isoformat(),
        "last": last.isoformat(),
        # The requests in the steps (those of the window's days before the first whole step
        # are not in them).
        "requests": int(cube.sum()),
        "step_starts": [d.isoformat() for d in step_starts(step, first, count)],
        "categories": {c: int(found.get(c, 0)) for c in CATEGORIES},
    }
    return columns, meta
