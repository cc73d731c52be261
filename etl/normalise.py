"""Raw rows -> canonical cases, vectorised per batch, with every unreadable row quarantined.

Quarantine reasons (the keys of the load report):

- ``missing_request_id``: no tracking number.
- ``unparseable_requested_at``: the requested (open) time is missing or cannot be read.
- ``closed_before_requested``: the closed time is before the requested time.
- ``wrong_field_count``: the CSV row has more or fewer fields than the header (set by the reader).

Everything else loads: an unreadable closed/due/updated time becomes empty, unreadable or
out-of-city coordinates are dropped and the case flagged (``location_quality``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dashboard.schema import CASE_FIELDS, TIME_FIELDS
from etl.adapters import Adapter

REASONS = (
    "missing_request_id",
    "unparseable_requested_at",
    "closed_before_requested",
    "wrong_field_count",
)
_ZONE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True)
class NormaliseContext:
    source: str
    timezone: str
    city_bounds: tuple[float, float, float, float] | None
    default_geocodes: tuple[tuple[float, float], ...]
    default_geocode_tolerance: float


def parse_local_times(values: pd.Series, *, timezone: str, fmt: str | None) -> pd.Series:
    """Parse text times to UTC. Text without a zone is local time in ``timezone`` (DST-correct:
    a wall time that does not exist is moved forward, an ambiguous one is read as the first, daylight
    time, occurrence); text with a zone (``Z``, ``+01:00``) is converted from that zone."""
    text = values.fillna("").astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    present = text != ""
    if not present.any():
        return out
    zoned = present & text.str.contains(_ZONE, regex=True)
    local = present & ~zoned
    if zoned.any():
        out[zoned] = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="ISO8601")
    if local.any():
        naive = pd.Series(pd.NaT, index=text[local].index, dtype="datetime64[ns]")
        if fmt:
            naive = pd.to_datetime(text[local], format=fmt, errors="coerce")
        missing = naive.isna()
        if missing.any():
            # Fallback for drift between years (ISO with 'T', milliseconds, dates alone, ...).
            naive[missing] = pd.to_datetime(text[local][missing], format="mixed", errors="coerce")
        naive = naive.astype("datetime64[ns]")
        localised = naive.dt.tz_localize(
            timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
        )
        out[local] = localised.dt.tz_convert("UTC")
    return out


def _floats(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.replace("", None), errors="coerce").astype("float64")


def _text(values: pd.Series) -> pd.Series:
    stripped = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    return stripped.astype(object).where(stripped != "", None)


def normalise(
    header: list[str],
    rows: list[list[str]],
    lines: list[int],
    *,
    adapter: Adapter,
    context: NormaliseContext,
) -> tuple[pd.DataFrame, list[tuple[int, str, list[str]]]]:
    """Map one batch. Returns ``(cases, quarantined)``: ``cases`` has the canonical columns plus
    ``_line``; ``quarantined`` holds ``(line, reason, raw row)``."""
    raw = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header)
    raw.columns = header
    n = len(raw)
    resolved = adapter.resolve(header)
    out = pd.DataFrame(index=raw.index)
    for name in CASE_FIELDS:
        out[name] = raw[resolved[name]] if name in resolved else pd.Series([None] * n, dtype=object)
    out["source"] = context.source
    if adapter.derive is not None:
        out = adapter.derive(raw, out)

    # text fields
    for name in (
        "request_id",
        "service_code",
        "service_name",
        "service_group",
        "department",
        "status_raw",
        "description",
        "resolution",
        "address",
        "zipcode",
        "parent_request_id",
    ):
        out[name] = _text(out[name])

    # times
    for name in TIME_FIELDS:
        out[name] = parse_local_times(out[name], timezone=context.timezone, fmt=adapter.time_format)

    # status and channel
    status_raw = out["status_raw"].fillna("").str.lower()
    out["status"] = np.where(status_raw.isin(adapter.closed_statuses), "closed", "open")
    channel_raw = _text(out["channel"]).fillna("").str.lower()
    channel = channel_raw.map(adapter.channels).fillna("other")
    out["channel"] = channel.where(channel_raw != "", "unknown")

    out["is_duplicate"] = status_raw.isin(adapter.duplicate_statuses) | out["is_duplicate"].isin(
        [True, "true", "True", "Y", "y", "1"]
    )
    out["is_private"] = out["is_private"].isin([True, "true", "True", "Y", "y", "1"])

    # location
    lat, lon = _floats(out["lat"]), _floats(out["lon"])
    valid = lat.between(-90, 90) & lon.between(-180, 180) & ~((lat == 0) & (lon == 0))
    quality = pd.Series("exact", index=out.index, dtype=object)
    quality[~valid] = "missing"
    default = pd.Series(False, index=out.index)
    for d_lat, d_lon in context.default_geocodes:
        default |= ((lat - d_lat).abs() <= context.default_geocode_tolerance) & (
            (lon - d_lon).abs() <= context.default_geocode_tolerance
        )
    quality[valid & default] = "default_geocode"
    if context.city_bounds is not None:
        min_lon, min_lat, max_lon, max_lat = context.city_bounds
        inside = lat.between(min_lat, max_lat) & lon.between(min_lon, max_lon)
        quality[valid & ~default & ~inside] = "outside_bounds"
    keep = quality == "exact"
    out["lat"] = lat.where(keep)
    out["lon"] = lon.where(keep)
    out["location_quality"] = quality

    # quarantine
    reason = pd.Series(None, index=out.index, dtype=object)
    closed_early = out["closed_at"].notna() & (out["closed_at"] < out["requested_at"])
    reason[closed_early] = "closed_before_requested"
    reason[out["requested_at"].isna()] = "unparseable_requested_at"
    reason[out["request_id"].isna()] = "missing_request_id"
    bad = reason.notna().to_numpy()
    quarantined: list[tuple[int, str, list[str]]] = [
        (lines[i], reason.iat[i], rows[i]) for i in np.flatnonzero(bad)
    ]
    out["_line"] = lines
    good = out.loc[~bad, [*CASE_FIELDS, "_line"]].reset_index(drop=True)
    return good, quarantined


def empty_report() -> dict[str, Any]:
    return {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "quarantined": {}}
