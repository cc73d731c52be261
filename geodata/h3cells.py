"""H3 hexagonal cells for points, in the 64-bit integer form (h3 v4 API).

Cell ids are ``numpy.int64``: H3 indexes are unsigned 64-bit numbers whose top bit is always 0,
so they fit a signed int64 unchanged (and Parquet/DuckDB store them natively). ``0`` is never a
valid H3 cell and stands for "no cell" (missing or unusable coordinates).
"""

from __future__ import annotations

import logging
from itertools import repeat
from typing import Any

import numpy as np
from h3.api import basic_int as _h3
from numpy.typing import ArrayLike

__all__ = [
    "NO_CELL",
    "RESOLUTIONS",
    "cell_boundary",
    "cell_to_latlng",
    "cells",
    "to_str",
]

logger = logging.getLogger(__name__)

#: Resolutions precomputed for every case (7 ~ 5 km², 8 ~ 0.7 km², 9 ~ 0.1 km², 10 ~ 0.015 km²).
RESOLUTIONS: tuple[int, ...] = (7, 8, 9, 10)

#: The id used for points without a cell (missing, non-finite or out-of-range coordinates).
NO_CELL: int = 0

_MAX_RESOLUTION = 15


def cells(*, lat: ArrayLike, lon: ArrayLike, resolution: int) -> np.ndarray:
    """Return the H3 cell of each point at one resolution.

    Parameters
    ----------
    lat, lon
        Latitudes and longitudes in degrees (WGS84), 1-D and of equal length. NumPy arrays,
        pandas Series (nullable dtypes included) or sequences; ``None``/``NaN``/``pd.NA`` allowed.
    resolution
        H3 resolution, 0 to 15.

    Returns
    -------
    numpy.ndarray
        ``int64`` cell ids, one per point. Points whose latitude or longitude is missing or not
        finite, or lies outside [-90, 90] / [-180, 180], get :data:`NO_CELL` (0).

    Raises
    ------
    ValueError
        If ``resolution`` is not an integer in 0..15, or the coordinate arrays are not 1-D
        and of equal length.

    Notes
    -----
    h3 4.x has no vectorised point-to-cell function, so this loops in C-level ``map`` over
    Python floats with the integer API (``h3.api.basic_int``), which avoids the string
    round trip of the default API (about twice as fast).
    """
    res = _check_resolution(resolution)
    lat_a, lon_a = _as_lat_lon(lat=lat, lon=lon)
    out = np.zeros(lat_a.shape[0], dtype=np.int64)
    ok = _usable(lat_a, lon_a)
    if not ok.all():
        logger.debug("h3 cells: %d of %d points without usable coordinates", (~ok).sum(), ok.size)
    count = int(ok.sum())
    if count:
        out[ok] = np.fromiter(
            map(_h3.latlng_to_cell, lat_a[ok].tolist(), lon_a[ok].tolist(), repeat(res)),
            dtype=np.int64,
            count=count,
        )
    return out


def cell_to_latlng(cell: int) -> tuple[float, float]:
    """Return the centre of a cell as ``(lat, lon)`` in degrees.

    Raises
    ------
    ValueError
        If ``cell`` is not a valid H3 cell id.
    """
    lat, lng = _h3.cell_to_latlng(_check_cell(cell))
    return float(lat), float(lng)


def cell_boundary(cell: int) -> list[tuple[float, float]]:
    """Return the outline of a cell as a closed GeoJSON ring of ``(lon, lat)`` pairs.

    The first vertex is repeated at the end. Cells crossing the antimeridian are returned as
    h3 gives them (not split), which does not matter for city-sized areas.

    Raises
    ------
    ValueError
        If ``cell`` is not a valid H3 cell id.
    """
    ring = [(float(lng), float(lat)) for lat, lng in _h3.cell_to_boundary(_check_cell(cell))]
    ring.append(ring[0])
    return ring


def to_str(cell: int) -> str:
    """Return the usual hexadecimal string form of a cell id (e.g. ``'892a1008003ffff'``).

    Raises
    ------
    ValueError
        If ``cell`` is not a valid H3 cell id.
    """
    return _h3.int_to_str(_check_cell(cell))


def _check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
        raise ValueError(
            f"H3 resolution must be an integer 0..{_MAX_RESOLUTION}, got {resolution!r}"
        )
    if not 0 <= resolution <= _MAX_RESOLUTION:
        raise ValueError(f"H3 resolution must be 0..{_MAX_RESOLUTION}, got {resolution}")
    return int(resolution)


def _check_cell(cell: int) -> int:
    if isinstance(cell, bool) or not isinstance(cell, int | np.integer):
        raise ValueError(f"an H3 cell id must be an integer, got {cell!r}")
    value = int(cell)
    if value <= 0 or not _h3.is_valid_cell(value):
        raise ValueError(f"not a valid H3 cell id: {value}")
    return value


def _usable(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Mask of points with finite, in-range coordinates (NaN compares false, so it is excluded)."""
    return (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)


def _as_float(values: Any, label: str) -> np.ndarray:
    if hasattr(values, "to_numpy"):  # pandas Series/Index/ExtensionArray, incl. nullable dtypes
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            arr = np.asarray(values, dtype=np.float64)  # None -> nan
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{label} must be 1-D, got shape {arr.shape}")
    return arr


def _as_lat_lon(*, lat: ArrayLike, lon: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Coerce coordinates to two 1-D float64 arrays of equal length (missing -> NaN)."""
    lat_a = _as_float(lat, "lat")
    lon_a = _as_float(lon, "lon")
    if lat_a.shape != lon_a.shape:
        raise ValueError(f"lat and lon differ in length: {lat_a.shape[0]} != {lon_a.shape[0]}")
    return lat_a, lon_a
