"""Emerging hot spots: space-time Gi* against esda, the category rules on explicit sequences, and
one small hand-built cube per category run through the whole pipeline."""

from __future__ import annotations

import warnings
from datetime import date

import h3.api.basic_int as h3i
import numpy as np
import pytest
from scipy import sparse

from dashboard import hotspots as hs
from dashboard import hotspots_emerging as em

ORIGIN = h3i.latlng_to_cell(42.33, -71.07, 9)


@pytest.fixture(scope="module")
def grid() -> hs.HexGrid:
    return hs.HexGrid(h3i.grid_disk(ORIGIN, 7))


def test_space_time_gi_star_equals_esda_on_the_space_time_weights(grid: hs.HexGrid) -> None:
    from esda.getisord import G_Local
    from libpysal.weights import WSP

    t = 6
    w = grid.weights(1)
    lag = sparse.diags(np.ones(t - 1), -1, shape=(t, t))  # step t sees step t - 1
    big = (sparse.kron(sparse.identity(t), w.matrix) + sparse.kron(lag, w.matrix)).tocsr()
    # Bins ordered step-major: (step, cell) -> step * n + cell.
    rng = np.random.default_rng(7)
    cube = np.log1p(rng.poisson(2.0, (grid.n, t)).astype(float))
    x = cube.T.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = G_Local(
            x, WSP(big).to_W(silence_warnings=True), transform="B", star=True, permutations=0
        )
    z = em.space_time_gi_star(cube, w)
    assert np.max(np.abs(z.T.ravel() - ref.Zs)) < 1e-9


# -- the rules on explicit sequences (T = 10) ------------------------------------------------------
def _flags(text: str) -> tuple[np.ndarray, np.ndarray]:
    """ "..hh.c" -> hot and cold flags ("h" hot, "c" cold, "." neither)."""
    return np.array([c == "h" for c in text]), np.array([c == "c" for c in text])


RULES = [
    (".........h", 0.0, "New hot spot"),
    ("c........h", 0.0, "New hot spot"),  # never hot before: new, even after a cold step
    ("......hhhh", 2.0, "Consecutive hot spot"),
    ("hhhhhhhhhh", 3.0, "Intensifying hot spot"),
    (".hhhhhhhhh", 0.5, "Persistent hot spot"),
    ("hhhhhhhhhh", -3.0, "Diminishing hot spot"),
    (".h..h..h.h", 0.0, "Sporadic hot spot"),
    ("hh......hh", 0.0, "Sporadic hot spot"),  # hot before the final run: not consecutive
    (".cc..h...h", 0.0, "Oscillating hot spot"),
    ("hhhhhhhhh.", 0.0, "Historical hot spot"),
    (".........c", 0.0, "New cold spot"),
    ("......cccc", -2.0, "Consecutive cold spot"),
    ("cccccccccc", -3.0, "Intensifying cold spot"),
    ("cccccccccc", 0.0, "Persistent cold spot"),
    ("cccccccccc", 3.0, "Diminishing cold spot"),
    (".c..c..c.c", 0.0, "Sporadic cold spot"),
    (".hh..c...c", 0.0, "Oscillating cold spot"),
    ("ccccccccc.", 0.0, "Historical cold spot"),
    ("..........", 0.0, "No pattern detected"),
    ("..hh..h...", 0.0, "No pattern detected"),  # hot on and off but not now, under 90%
]


@pytest.mark.parametrize(("pattern", "trend_z", "expected"), RULES)
def test_category_rules(pattern: str, trend_z: float, expected: str) -> None:
    hot, cold = _flags(pattern)
    p = 0.001 if abs(trend_z) >= 2 else 0.5
    got = em.classify(hot[None, :], cold[None, :], np.array([trend_z]), np.array([p]))
    assert got.tolist() == [expected]


def test_every_category_has_a_rule_test_and_a_description() -> None:
    assert {e for _, _, e in RULES} == set(em.CATEGORIES)
    assert set(em.CATEGORY_DESCRIPTIONS) == set(em.CATEGORIES)


# -- hand-built cubes, one per category, through the whole pipeline ---------------------------------
H, N, L = 60, 10, 0
CUBES = {
    "New hot spot": [N] * 9 + [H],
    "Consecutive hot spot": [N] * 6 + [H] * 4,
    "Intensifying hot spot": [20, 25, 30, 36, 43, 51, 60, 70, 82, 95],
    "Persistent hot spot": [H] * 10,
    "Diminishing hot spot": [95, 82, 70, 60, 51, 43, 36, 30, 25, 20],
    "Sporadic hot spot": [N, H, N, N, H, N, N, H, N, H],
    "Oscillating hot spot": [N, L, L, N, N, H, N, N, N, H],
    # The last step sees the previous one: 1 request balances the 60s of step 9.
    "Historical hot spot": [H] * 9 + [1],
    "New cold spot": [N] * 9 + [L],
    "Consecutive cold spot": [N] * 6 + [L] * 4,
    "Intensifying cold spot": [5, 4, 4, 3, 3, 2, 2, 1, 1, 0],
    "Persistent cold spot": [L] * 10,
    "Diminishing cold spot": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4],
    "Sporadic cold spot": [N, L, N, N, L, N, N, L, N, L],
    "Oscillating cold spot": [N, H, N, N, N, L, N, N, N, L],
    "Historical cold spot": [L] * 9 + [H],
    "No pattern detected": [N] * 10,
}


def hand_built_cube(grid: hs.HexGrid, levels: list[int]) -> np.ndarray:
    """Background of 9-11 requests a step everywhere; the centre cell and its ring get
    ``levels`` (requests per step)."""
    base = 10 + (np.arange(grid.n) % 3) - 1
    cube = np.tile(base[:, None], (1, len(levels))).astype(float)
    cube[grid.index_of(h3i.grid_disk(ORIGIN, 1))] = levels
    return cube


@pytest.mark.parametrize("category", list(CUBES))
def test_hand_built_cube(grid: hs.HexGrid, category: str) -> None:
    result = em.emerging_cube(np.log1p(hand_built_cube(grid, CUBES[category])), grid.weights(1))
    centre = grid.index_of([ORIGIN])[0]
    assert result["category"][centre] == category
    far = [i for i, c in enumerate(grid.cells) if h3i.grid_distance(ORIGIN, int(c)) >= 4]
    assert set(result["category"][far]) == {em.NO_PATTERN}


# -- steps -----------------------------------------------------------------------------------------
def test_step_plans() -> None:
    step, first, last, count = em.step_plan(date(2011, 7, 1), date(2011, 12, 31), None)
    assert (step, first, last, count) == ("week", date(2011, 7, 3), date(2011, 12, 31), 26)
    assert em.step_starts(step, first, 2) == [date(2011, 7, 3), date(2011, 7, 10)]
    step, first, last, count = em.step_plan(date(2010, 1, 15), date(2011, 12, 20), None)
    assert (step, first, last, count) == ("month", date(2010, 2, 1), date(2011, 11, 30), 22)
    assert em.step_starts("month", date(2010, 11, 1), 3)[-1] == date(2011, 1, 1)
    with pytest.raises(hs.HotspotError, match="at least 10 whole months"):
        em.step_plan(date(2011, 7, 1), date(2011, 12, 31), "month")
