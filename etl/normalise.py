"""Raw rows -> canonical cases, vectorised per batch, with every unreadable row quarantined.

Quarantine reasons (the keys of the load report):

- ``missing_request_id``: no usable tracking number (empty, longer than the store's
  ``cases.request_id`` column, or a long number a spreadsheet rewrote as ``1.01E+11``: rows
  that were distinct cases would otherwise be loaded as updates of one).
- ``unparseable_requested_at``: the requested (open) time is missing or cannot be read.
- ``closed_before_requested``: the closed time is before the requested time.
- ``wrong_field_count``: the CSV row has more or fewer fields than the header (set by the reader).

Everything else loads: an unreadable closed/due/updated time becomes empty, unreadable or
out-of-city coordinates are dropped and the case flagged (``location_quality``), text longer than
its store column is cut to fit, and of two columns with the same name the first is read.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.schema import CASE_FIELDS, TIME_FIELDS, cases
from etl.adapters import Adapter

REASONS = (
    "missing_request_id",
    "unparseable_requested_at",
    "closed_before_requested",
    "wrong_field_count",
)
#: canonical text field -> its width in the store (PostgreSQL refuses longer values).
_WIDTHS: dict[str, int] = {
    column.name: column.type.length
    for column in cases.columns
    if getattr(column.type, "length", None) is not None
}
#: A zone written after a time: ``...10:00:00Z``, ``...10:00:00+01:00``, ``...10:00 -05``, ``... UTC``.
#: (A date alone such as ``2023-03-15`` ends in ``-15`` but carries no zone.)
_ZONE = re.compile(
    r"\d:\d{2}(?::\d{2})?(?:[.,]\d+)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE
)
#: A full calendar date (year, month and day). Text in no known format is only read when it has
#: one: "now", "today", "10:00" or "March" would otherwise be read relative to the day of the load.
_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}\s+[A-Za-z]{3,9}\.?,?\s+\d{4}"
)
#: A number in the scientific notation spreadsheets (Excel) give long numbers: ``1.01E+11``.
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE]\+[0-9]+")
#: Times outside this window are not 311 times (typos such as year 0201 or 9999): unreadable.
EARLIEST = pd.Timestamp("1900-01-01")
LATEST = pd.Timestamp("2200-01-01")


@dataclass(frozen=True)
class NormaliseContext:
    source: str
    timezone: str
    city_bounds: tuple[float, float, float, float] | None
    default_geocodes: tuple[tuple[float, float], ...]
    default_geocode_tolerance: float


def _within(naive: pd.Series) -> pd.Series:
    """Naive times inside [EARLIEST, LATEST) as datetime64[ns]; anything else NaT."""
    ok = naive.notna() & (naive >= EARLIEST) & (naive < LATEST)
    kept = naive.where(ok)
    return kept.astype("datetime64[ns]")


def _mixed(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read texts in no known format, each on its own: ``(naive, utc)``, one of the two set per
    readable text (``utc`` when the text carries a zone), NaT for the rest."""
    naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    utc = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    text = text[text.str.contains(_DATE, regex=True)]
    if text.empty:
        return naive, utc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, format="mixed", errors="coerce")
            one_by_one = parsed.dt.tz is not None
        except (ValueError, TypeError, OverflowError, AttributeError):
            one_by_one = True  # naive and zoned texts together, or one the parser chokes on
        if one_by_one:
            for key, value in text.items():
                try:
                    stamp = pd.Timestamp(value)
                except (ValueError, TypeError, OverflowError):
                    continue
                if stamp is pd.NaT:
                    continue
                if stamp.tzinfo is None:
                    naive[key] = stamp if EARLIEST <= stamp < LATEST else pd.NaT
                else:
                    stamp = stamp.tz_convert("UTC")
                    inside = EARLIEST <= stamp.tz_localize(None) < LATEST
                    utc[key] = stamp if inside else pd.NaT
            return naive, utc
    naive[text.index] = _within(parsed)
    return naive, utc


def parse_local_times(
    values: pd.Series,
    *,
    timezone: str,
    fmt: str | None,
    more_formats: tuple[str, ...] = (),
    first_occurrence: bool = True,
) -> pd.Series:
    """Parse text times to UTC. Text without a zone is local time in ``timezone`` (DST-correct:
    a wall time that does not exist is moved forward, an ambiguous one is read as the first, daylight
    time, occurrence, or the second with ``first_occurrence=False``); text with a zone (``Z``,
    ``+01:00``) is converted from that zone. Text that is not a full date (with year, month and
    day), or a time outside 1900..2200, is unreadable (NaT)."""
    text = values.fillna("").astype(str).str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    # pandas reads "now" and "today" as the time of the load, whatever the format says.
    present = (text != "") & ~text.str.lower().isin(["now", "today"])
    if not present.any():
        return out
    zoned = present & text.str.contains(_ZONE, regex=True)
    local = present & ~zoned
    if zoned.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="ISO8601")
            parsed = parsed.astype("datetime64[us, UTC]")  # holds any year the fallback finds
            missing = parsed.isna()
            if missing.any():
                part = text[zoned][missing]
                part = part[part.str.contains(_DATE, regex=True)]
                with contextlib.suppress(ValueError, TypeError, OverflowError):  # unreadable
                    parsed[part.index] = pd.to_datetime(
                        part, utc=True, errors="coerce", format="mixed"
                    )
        naive_utc = _within(parsed.dt.tz_localize(None))
        out[zoned] = naive_utc.dt.tz_localize("UTC")
    if local.any():
        naive = pd.Series(pd.NaT, index=text[local].index, dtype="datetime64[ns]")
        for each in (fmt, *more_formats) if fmt else more_formats:
            todo = naive.isna()
            if not todo.any():
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = _within(pd.to_datetime(text[local][todo], format=each, errors="coerce"))
            naive[found.index] = found
        missing = naive.isna()
        if missing.any():
            # Fallback for drift between years (ISO with 'T', milliseconds, dates alone, ...).
            more, zoned_more = _mixed(text[local][missing])
            naive[more.index] = more
            found = zoned_more.notna()
            if found.any():
                out[zoned_more.index[found]] = zoned_more[found]
        ambiguous = np.full(len(naive), first_occurrence, dtype=bool)
        localised = naive.dt.tz_localize(timezone, ambiguous=ambiguous, nonexistent="shift_forward")
        converted = localised.dt.tz_convert("UTC")
        has = converted.notna()
        out[converted.index[has]] = converted[has]
    return out


def _closed_in_the_repeated_hour(
    closed: pd.Series, requested: pd.Series, text: pd.Series, *, timezone: str, adapter: Any
) -> pd.Series:
    """A local closing time in the hour the autumn change repeats, read as its first occurrence,
    can come before the opening (opened 01:30 daylight time, closed "01:10" standard time, an
    hour later in fact). Such a row would be quarantined as closed before requested: where the
    second occurrence puts it after the opening, that reading is the one the data allows."""
    early = closed.notna() & requested.notna() & (closed < requested)
    if not early.any():
        return closed
    later = parse_local_times(
        text[early],
        timezone=timezone,
        fmt=adapter.time_format,
        more_formats=adapter.time_formats,
        first_occurrence=False,
    )
    fits = later.notna() & (later >= requested[early]) & (later != closed[early])
    if not fits.any():
        return closed
    closed = closed.copy()
    closed[fits.index[fits]] = later[fits]
    return closed


def _floats(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.replace("", None), errors="coerce").astype("float64")


_TRUTHY = {"true", "t", "y", "yes", "1", "1.0"}


def _truthy(values: pd.Series) -> pd.Series:
    """True, 1 and the texts true/t/y/yes/1 (any case); anything else False."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    return text.isin(_TRUTHY)


def _text(values: pd.Series, *, single_spaced: bool = False) -> pd.Series:
    """Text stripped of surrounding white space; empty text and missing values become None.
    With ``single_spaced`` each run of blanks inside (and a tab or line break) is made one
    space (Boston's `location` separates its parts with two: "INTERSECTION of  A & B"; about
    0.2 s a million rows).

    Done by Arrow when every value is text or missing (the usual case, 3x faster than pandas'
    string methods); values of other types (numbers from a JSON export) take the pandas route."""
    try:
        arr = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        stripped = values.astype(object).where(values.notna(), "").astype(str).str.strip()
        if single_spaced:
            stripped = stripped.str.replace(r"\s{2,}|[\t\n\r\f\v]", " ", regex=True)
        return stripped.astype(object).where(stripped != "", None)
    arr = pc.utf8_trim_whitespace(arr)
    if single_spaced:
        arr = pc.replace_substring_regex(arr, pattern=r"\s{2,}|[\t\n\r\f\v]", replacement=" ")
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


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
    raw = raw.loc[:, ~raw.columns.duplicated()]  # a name given twice: the first column is read
    n = len(raw)
    resolved = adapter.resolve(header)
    out = pd.DataFrame(index=raw.index)
    for name in CASE_FIELDS:
        out[name] = raw[resolved[name]] if name in resolved else pd.Series([None] * n, dtype=object)
    out["source"] = context.source
    if adapter.derive is not None:
        out = adapter.derive(raw, out)
    timezone = adapter.timezone or context.timezone

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
        # Addresses are stored single-spaced, so every page, CSV and the API read them plainly.
        out[name] = _text(out[name], single_spaced=name == "address")
        if adapter.id_prefix and name in ("request_id", "parent_request_id"):
            out[name] = (adapter.id_prefix + out[name]).where(out[name].notna(), None)
        width = _WIDTHS.get(name)
        if width is not None and name != "request_id":
            out[name] = out[name].str.slice(0, width)

    # times
    closed_text = out["closed_at"]
    for name in TIME_FIELDS:
        out[name] = parse_local_times(
            out[name], timezone=timezone, fmt=adapter.time_format, more_formats=adapter.time_formats
        )
    out["closed_at"] = _closed_in_the_repeated_hour(
        out["closed_at"], out["requested_at"], closed_text, timezone=timezone, adapter=adapter
    )

    # status and channel
    status_raw = out["status_raw"].fillna("").str.lower()
    out["status"] = np.where(status_raw.isin(adapter.closed_statuses), "closed", "open")
    channel_raw = _text(out["channel"]).fillna("").str.lower()
    channel = channel_raw.map(adapter.channels).fillna("other")
    out["channel"] = channel.where(channel_raw != "", "unknown")

    out["is_duplicate"] = status_raw.isin(adapter.duplicate_statuses) | _truthy(out["is_duplicate"])
    out["is_private"] = _truthy(out["is_private"])

    # location
    lat, lon = _floats(out["lat"]), _floats(out["lon"])
    valid = lat.between(-90, 90) & lon.between(-180, 180) & ~((lat == 0) & (lon == 0))
    quality = pd.Series("exact", index=out.index, dtype=object)
    quality[~valid] = "missing"
    default = pd.Series(False, index=out.index)
    for d_lat, d_lon in (*context.default_geocodes, *adapter.default_geocodes):
        # A hair of slack so a point exactly one tolerance away (42.3595 vs 42.3594) counts
        # whatever binary floating point makes of the difference.
        tolerance = context.default_geocode_tolerance + 1e-9
        default |= ((lat - d_lat).abs() <= tolerance) & ((lon - d_lon).abs() <= tolerance)
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
    too_long = out["request_id"].str.len() > _WIDTHS["request_id"]
    unusable = too_long.fillna(False).astype(bool)
    plus = out["request_id"].str.contains("+", regex=False).fillna(False).astype(bool)
    if plus.any():  # (the regular expression only where it can match: 1.01E+11)
        scientific = re.escape(adapter.id_prefix) + _SCIENTIFIC.pattern  # after the id_prefix
        unusable |= out["request_id"].where(plus, "").str.fullmatch(scientific)
    reason[out["request_id"].isna() | unusable] = "missing_request_id"
    bad = reason.notna().to_numpy()
    quarantined: list[tuple[int, str, list[str]]] = [
        (lines[i], reason.iat[i], rows[i]) for i in np.flatnonzero(bad)
    ]
    out["_line"] = lines
    good = out.loc[~bad, [*CASE_FIELDS, "_line"]].reset_index(drop=True)
    return good, quarantined


def empty_report() -> dict[str, Any]:
    return {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "quarantined": {}}
