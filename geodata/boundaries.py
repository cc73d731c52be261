"""Boundary layers: named polygons (neighbourhoods, districts, wards...) and point-in-polygon.

A *layer* is a :class:`geopandas.GeoDataFrame` with exactly the columns ``["name", "geometry"]``
in EPSG:4326 (lon/lat degrees): one row per area, names unique, non-empty strings, geometries
valid ``Polygon``/``MultiPolygon``, rows in the order the areas first appear in the source.
:func:`read_layer` and :func:`layer_from_geojson` both return this form.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from shapely.errors import GeometryTypeError
from shapely.geometry import mapping, shape

from geodata.errors import BoundaryError
from geodata.h3cells import _as_lat_lon

__all__ = [
    "CRS",
    "assign_areas",
    "layer_extent",
    "layer_from_geojson",
    "layer_to_geojson",
    "read_layer",
]

logger = logging.getLogger(__name__)

#: The coordinate reference system of every layer: WGS84 longitude/latitude.
CRS = "EPSG:4326"

_GEOJSON_SUFFIXES = (".geojson", ".json")
_SHAPEFILE_SUFFIX = ".shp"
_ZIP_SUFFIX = ".zip"
_SUPPORTED = ".geojson, .json, .shp, or a .zip holding a shapefile or GeoJSON"
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_layer(path: str | os.PathLike[str], *, name_field: str) -> gpd.GeoDataFrame:
    """Read a boundary layer from a file into the canonical layer form.

    Parameters
    ----------
    path
        A GeoJSON file (``.geojson``/``.json``), a shapefile (``.shp`` with its ``.shx``,
        ``.dbf`` and ``.prj`` beside it) or a ``.zip`` holding exactly one shapefile or one
        GeoJSON file.
    name_field
        The attribute that names each area (e.g. ``"name"``, ``"BoroName"``, ``"boro_cd"``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``["name", "geometry"]``, CRS EPSG:4326. Any source CRS is reprojected;
        GeoJSON without a CRS is taken as EPSG:4326. Names are converted to ``str`` and
        stripped (whole floats such as ``101.0`` become ``"101"``); features with an empty
        name or no geometry are dropped with a logged warning; invalid geometries are repaired
        with :func:`shapely.make_valid`; features sharing a name are dissolved into one.

    Raises
    ------
    BoundaryError
        If the file is missing, of an unsupported kind or unreadable; a shapefile has no
        ``.prj``; there are no features; ``name_field`` is not an attribute (the message
        lists the available ones); or a geometry is not a polygon.
    """
    src = Path(path)
    if not src.exists():
        raise BoundaryError(f"boundary file not found: {src}", path=src)
    if not src.is_file():
        raise BoundaryError(f"boundary path is not a file: {src}", path=src)
    suffix = src.suffix.lower()
    if suffix == _ZIP_SUFFIX:
        with tempfile.TemporaryDirectory(prefix="stat311-layer-") as tmp:
            inner = _extract_zip(src, Path(tmp))
            frame = _read_file(inner, label=f"{src}!{inner.name}", origin=src)
    elif suffix in _GEOJSON_SUFFIXES or suffix == _SHAPEFILE_SUFFIX:
        frame = _read_file(src, label=str(src), origin=src)
    else:
        raise BoundaryError(
            f"unsupported boundary file {src} (expected {_SUPPORTED})",
            path=src,
        )
    return _normalise(frame, name_field=name_field, source=str(src), path=src)


def _read_file(file: Path, *, label: str, origin: Path) -> gpd.GeoDataFrame:
    """Read one GeoJSON or shapefile with GDAL and make sure it has a known CRS."""
    is_shapefile = file.suffix.lower() == _SHAPEFILE_SUFFIX
    if is_shapefile and not _has_prj(file):
        raise BoundaryError(
            f"shapefile {label} has no .prj file, so its coordinate system is unknown; "
            "include the .prj that came with it",
            path=origin,
        )
    try:
        frame = gpd.read_file(file)
    except (RuntimeError, OSError, ValueError) as exc:  # pyogrio errors are RuntimeErrors
        # GDAL's message repeats the (possibly temporary) path and ends with a driver hint.
        reason = str(exc).replace(f"'{file}' ", "").split("It might help", 1)[0].strip(" ;.")
        raise BoundaryError(f"cannot read boundary file {label}: {reason}", path=origin) from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise BoundaryError(f"boundary file {label} has no geometry", path=origin)
    if frame.crs is None:
        if is_shapefile:  # a .prj GDAL could not interpret
            raise BoundaryError(
                f"shapefile {label} has a .prj that does not define a usable coordinate system",
                path=origin,
            )
        logger.debug("%s: no CRS given, GeoJSON default EPSG:4326 assumed", label)
        frame = frame.set_crs(CRS)
    return frame


def _has_prj(shp: Path) -> bool:
    stem = shp.stem.lower()
    return any(p.suffix.lower() == ".prj" and p.stem.lower() == stem for p in shp.parent.iterdir())


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    return PurePosixPath(info.filename.replace("\\", "/"))


def _is_junk(member: PurePosixPath) -> bool:
    """macOS resource forks and similar that are never the layer."""
    return member.parts[0] == "__MACOSX" or member.name.startswith("._")


def _extract_zip(archive: Path, dest: Path) -> Path:
    """Extract the one shapefile (with its sidecars) or GeoJSON in ``archive`` into ``dest``.

    Members are written flat under their base names, so odd member paths cannot escape
    ``dest``. Returns the path of the extracted ``.shp`` or GeoJSON file.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [
                (info, _member_path(info))
                for info in zf.infolist()
                if not info.is_dir() and not _is_junk(_member_path(info))
            ]
            shps = [m for m in members if m[1].suffix.lower() == _SHAPEFILE_SUFFIX]
            jsons = [m for m in members if m[1].suffix.lower() in _GEOJSON_SUFFIXES]
            if len(shps) == 1:
                base = shps[0][1].with_suffix("").as_posix().lower()
                wanted = [m for m in members if m[1].with_suffix("").as_posix().lower() == base]
                target = shps[0][1].name
            elif len(shps) > 1:
                names = ", ".join(m[1].as_posix() for m in shps)
                raise BoundaryError(
                    f"zip file {archive} holds several shapefiles ({names}); keep one per zip",
                    path=archive,
                )
            elif len(jsons) == 1:
                wanted, target = jsons, jsons[0][1].name
            elif len(jsons) > 1:
                names = ", ".join(m[1].as_posix() for m in jsons)
                raise BoundaryError(
                    f"zip file {archive} holds several GeoJSON files ({names}); keep one per zip",
                    path=archive,
                )
            else:
                found = ", ".join(m[1].as_posix() for m in members) or "nothing"
                raise BoundaryError(
                    f"zip file {archive} holds no shapefile or GeoJSON (found: {found})",
                    path=archive,
                )
            for info, member in wanted:
                (dest / member.name).write_bytes(zf.read(info))
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError) as exc:
        raise BoundaryError(f"cannot read zip file {archive}: {exc}", path=archive) from exc
    return dest / target


# --------------------------------------------------------------------------------------------
# Normalising to the canonical layer form
# --------------------------------------------------------------------------------------------


def _normalise(
    frame: gpd.GeoDataFrame,
    *,
    name_field: str,
    source: str,
    path: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Turn any polygon GeoDataFrame with a CRS into the canonical layer form (see module doc)."""
    if len(frame) == 0:
        raise BoundaryError(f"{source}: the layer has no features", path=path)
    fields = [str(c) for c in frame.columns if c != frame.geometry.name]
    if name_field not in frame.columns or name_field == frame.geometry.name:
        available = ", ".join(fields) if fields else "(none)"
        raise BoundaryError(
            f"{source}: name field {name_field!r} not found; available fields: {available}",
            path=path,
        )

    if not frame.crs.equals(CRS, ignore_axis_order=True):
        logger.info("%s: reprojecting from %s to %s", source, frame.crs.to_string(), CRS)
        frame = frame.to_crs(CRS)

    names = [_name_str(v) for v in frame[name_field].tolist()]
    geoms = np.asarray(frame.geometry.array, dtype=object)

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    bad = ~missing & ~np.isin(
        types, (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
    )
    if bad.any():
        kinds = sorted({g.geom_type for g in geoms[bad]})
        raise BoundaryError(
            f"{source}: {int(bad.sum())} feature(s) are not polygons ({', '.join(kinds)}); "
            "a boundary layer needs Polygon or MultiPolygon geometries",
            path=path,
        )
    if missing.any():
        logger.warning(
            "%s: dropped %d feature(s) without geometry: %s",
            source,
            int(missing.sum()),
            ", ".join(repr(n) for n in np.asarray(names, dtype=object)[missing][:10]),
        )
    unnamed = np.array([not n for n in names], dtype=bool)
    if unnamed.any():
        logger.warning(
            "%s: dropped %d feature(s) with an empty %r", source, int(unnamed.sum()), name_field
        )
    keep = ~missing & ~unnamed
    geoms = _repair(geoms[keep], source=source)
    names = [n for n, k in zip(names, keep, strict=True) if k]

    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n, []).append(i)
    out_geoms: list[Any] = []
    for idx in groups.values():
        out_geoms.append(
            geoms[idx[0]] if len(idx) == 1 else _polygonal(shapely.union_all(geoms[idx]))
        )
    if len(groups) < len(names):
        logger.info(
            "%s: dissolved %d feature(s) into %d area(s) sharing a name",
            source,
            sum(len(i) for i in groups.values() if len(i) > 1),
            sum(1 for i in groups.values() if len(i) > 1),
        )
    empty = [n for n, g in zip(groups, out_geoms, strict=True) if g.is_empty]
    if empty:
        logger.warning("%s: dropped %d area(s) left empty by repair: %s", source, len(empty), empty)
    pairs = [(n, g) for n, g in zip(groups, out_geoms, strict=True) if not g.is_empty]
    if not pairs:
        raise BoundaryError(
            f"{source}: no usable features (every feature lacked a name or an area)", path=path
        )
    return gpd.GeoDataFrame(
        {"name": [n for n, _ in pairs]},
        geometry=[g for _, g in pairs],
        crs=CRS,
    )


def _name_str(value: Any) -> str:
    """Area name as a stripped string; missing values become ``""``; ``101.0`` becomes ``"101"``."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _repair(geoms: np.ndarray, *, source: str) -> np.ndarray:
    """Make invalid geometries valid, keeping only their polygonal parts."""
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    fixed = geoms.copy()
    try:  # shapely >= 2.1 with GEOS >= 3.10: keeps areas, drops collapsed lines/points
        made = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    except (TypeError, ValueError):
        made = shapely.make_valid(geoms[invalid])
    fixed[invalid] = [_polygonal(g) for g in made]
    logger.info("%s: repaired %d invalid geometries with make_valid", source, int(invalid.sum()))
    return fixed


def _polygonal(geom: Any) -> Any:
    """The polygonal part of a geometry (an empty Polygon if there is none)."""
    if geom.geom_type in _POLYGONAL:
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys)


# --------------------------------------------------------------------------------------------
# Using layers
# --------------------------------------------------------------------------------------------


def assign_areas(*, lat: ArrayLike, lon: ArrayLike, layer: gpd.GeoDataFrame) -> np.ndarray:
    """Name the area each point falls in.

    Parameters
    ----------
    lat, lon
        Point coordinates in degrees (WGS84), 1-D and of equal length; missing values allowed.
    layer
        A layer in EPSG:4326 with a ``name`` column (as returned by :func:`read_layer`).

    Returns
    -------
    numpy.ndarray
        ``object`` array with the area name of each point, or ``None`` where the point is in
        no area or its coordinates are missing/not finite. A point on a boundary counts as
        inside (``intersects``/``covers`` semantics); a point in several areas gets the first
        (lowest row position in ``layer``).

    Raises
    ------
    BoundaryError
        If the layer has no ``name`` column or is not in EPSG:4326.
    ValueError
        If ``lat`` and ``lon`` are not 1-D arrays of equal length.

    Notes
    -----
    Points are sorted by longitude once; each area then tests only the points inside its
    bounding box (two binary searches and a latitude mask), with the area geometry *prepared*
    so each test is a fast indexed point-in-polygon (:func:`shapely.intersects_xy`). This is
    much faster than ``STRtree.query(points, predicate="intersects")``, which evaluates the
    predicate without a prepared polygon (measured: ~0.2 s vs ~7 s for 1M points over NYC's
    59 community districts). The layer's geometries are prepared in place (no visible change).
    """
    _require_layer(layer)
    lat_a, lon_a = _as_lat_lon(lat=lat, lon=lon)
    out = np.full(lat_a.shape[0], None, dtype=object)
    valid = np.flatnonzero(np.isfinite(lat_a) & np.isfinite(lon_a))
    if valid.size == 0 or len(layer) == 0:
        return out

    x = lon_a[valid]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ys = lat_a[valid][order]
    area = np.full(xs.shape[0], -1, dtype=np.intp)  # area position per sorted point

    geoms = np.asarray(layer.geometry.array, dtype=object)
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)  # NaN for missing/empty geometries
    starts = np.searchsorted(xs, bounds[:, 0], side="left")
    stops = np.searchsorted(xs, bounds[:, 2], side="right")
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty or starts[k] >= stops[k]:
            continue
        lo, hi = starts[k], stops[k]
        window = (ys[lo:hi] >= bounds[k, 1]) & (ys[lo:hi] <= bounds[k, 3]) & (area[lo:hi] < 0)
        cand = lo + np.flatnonzero(window)
        if cand.size:
            inside = shapely.intersects_xy(geom, xs[cand], ys[cand])
            area[cand[inside]] = k

    found = area >= 0
    names = layer["name"].to_numpy(dtype=object)
    out[valid[order[found]]] = names[area[found]]
    return out


def layer_extent(layer: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Return the bounding box of a layer as ``(min_lon, min_lat, max_lon, max_lat)``.

    Raises
    ------
    BoundaryError
        If the layer is not in EPSG:4326 or has no geometry.
    """
    _require_layer(layer, need_name=False)
    bounds = layer.total_bounds
    if len(layer) == 0 or not np.isfinite(bounds).all():
        raise BoundaryError("the layer is empty, so it has no extent")
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bounds)
    return min_lon, min_lat, max_lon, max_lat


def layer_to_geojson(layer: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return a layer as a GeoJSON ``FeatureCollection`` (a plain, JSON-serialisable ``dict``).

    Each feature has the single property ``name``. Coordinates are lon/lat in EPSG:4326 at
    full double precision (``json.dumps`` writes floats so that they read back exactly), so
    :func:`layer_from_geojson` gives the same layer back.

    Raises
    ------
    BoundaryError
        If the layer has no ``name`` column or is not in EPSG:4326.
    """
    _require_layer(layer)
    features = [
        {
            "type": "Feature",
            "properties": {"name": str(name)},
            "geometry": None if geom is None else _json_lists(mapping(geom)),
        }
        for name, geom in zip(
            layer["name"].tolist(), np.asarray(layer.geometry.array, dtype=object), strict=True
        )
    ]
    return {"type": "FeatureCollection", "features": features}


def layer_from_geojson(obj: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Build a layer from a GeoJSON ``FeatureCollection`` (e.g. from :func:`layer_to_geojson`).

    Coordinates are taken as lon/lat in EPSG:4326 (RFC 7946). Areas are named by the ``name``
    property and normalised as in :func:`read_layer`.

    Raises
    ------
    BoundaryError
        If ``obj`` is not a FeatureCollection, has no features, a feature lacks a valid
        geometry, there is no ``name`` property, or a geometry is not a polygon.
    """
    source = "GeoJSON layer"
    if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
        kind = obj.get("type") if isinstance(obj, Mapping) else type(obj).__name__
        raise BoundaryError(f"{source}: expected a GeoJSON FeatureCollection, got {kind!r}")
    features = obj.get("features")
    if not isinstance(features, list):
        raise BoundaryError(f"{source}: 'features' must be a list")
    props: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for i, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise BoundaryError(f"{source}: feature {i} is not an object")
        raw = feature.get("geometry")
        try:
            geoms.append(None if raw is None else shape(raw))
        except (GeometryTypeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BoundaryError(f"{source}: feature {i} has an invalid geometry: {exc}") from exc
        props.append(dict(feature.get("properties") or {}))
    frame = gpd.GeoDataFrame(pd.DataFrame(props, index=range(len(geoms))), geometry=geoms, crs=CRS)
    return _normalise(frame, name_field="name", source=source)


def _require_layer(layer: gpd.GeoDataFrame, *, need_name: bool = True) -> None:
    if not isinstance(layer, gpd.GeoDataFrame):
        raise BoundaryError(f"expected a layer (GeoDataFrame), got {type(layer).__name__}")
    if need_name and "name" not in layer.columns:
        raise BoundaryError("the layer has no 'name' column; build it with read_layer")
    if layer.crs is None or not layer.crs.equals(CRS, ignore_axis_order=True):
        raise BoundaryError(f"the layer must be in {CRS}, not {layer.crs}")


def _json_lists(obj: Any) -> Any:
    """Tuples (as produced by ``shapely.geometry.mapping``) to lists, recursively."""
    if isinstance(obj, dict):
        return {k: _json_lists(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_lists(v) for v in obj]
    return obj
