"""Source formats: each a small declarative mapping from export columns to canonical fields.

An :class:`Adapter` says which header identifies the format, which source column feeds each canonical
field (the first one present wins, so one adapter covers several vintages of an export), how local
times are written, and how statuses and channels map. The few things a mapping cannot say are small
functions (``derive``). Adding a city is adding one mapping here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dashboard.errors import InputFileError


def _key(name: str) -> str:
    """Header names compared without case, spaces, underscores or punctuation."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True)
class Adapter:
    name: str
    title: str
    #: Every one of these (compared with :func:`_key`) must be in the header for auto-detection.
    signature: frozenset[str]
    #: canonical field -> candidate source columns, first present wins.
    columns: Mapping[str, Sequence[str]]
    #: strftime format of local times (tried first; anything else falls back to a general parser).
    time_format: str | None
    #: lower-cased raw status -> open|closed; anything not listed is open.
    closed_statuses: frozenset[str]
    #: lower-cased raw channel -> canonical channel; anything not listed is "other"; empty "unknown".
    channels: Mapping[str, str]
    default_source: str
    #: Extra derivations on (raw frame, canonical frame) -> canonical frame.
    derive: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None
    duplicate_statuses: frozenset[str] = field(default_factory=frozenset)
    #: Other headers that identify the same format (a schema renamed between years).
    alt_signatures: tuple[frozenset[str], ...] = ()
    #: Local time zone of the source; None: the ``timezone`` setting.
    timezone: str | None = None
    #: More strftime formats tried, in order, after ``time_format``.
    time_formats: tuple[str, ...] = ()
    #: Default-geocode points of this source, added to the ``default_geocodes`` setting.
    default_geocodes: tuple[tuple[float, float], ...] = ()
    #: Prefixed to every request id (and parent request id), e.g. to keep two cities apart.
    id_prefix: str = ""
    #: Canonical fields that must resolve to a column for the header to match.
    required: tuple[str, ...] = ()

    @property
    def signatures(self) -> tuple[frozenset[str], ...]:
        return (self.signature, *self.alt_signatures)

    def matched_signature(self, header: Sequence[str]) -> frozenset[str] | None:
        """The largest signature this header carries, or None."""
        keys = {_key(h) for h in header}
        found = [s for s in self.signatures if {_key(c) for c in s} <= keys]
        if not found:
            return None
        resolved = self.resolve(header)
        if any(name not in resolved for name in self.required):
            return None
        return max(found, key=len)

    def matches(self, header: Sequence[str]) -> bool:
        return self.matched_signature(header) is not None

    def missing(self, header: Sequence[str]) -> list[str]:
        """What this header lacks to match: signature columns (of the closest signature) and
        required canonical fields with none of their candidate columns."""
        keys = {_key(h) for h in header}
        best = min(self.signatures, key=lambda s: len({_key(c) for c in s} - keys))
        out = sorted(c for c in best if _key(c) not in keys)
        resolved = self.resolve(header)
        for name in self.required:
            if name not in resolved:
                out.append(f"{name} (one of: {', '.join(self.columns.get(name, ()))})")
        return out

    def resolve(self, header: Sequence[str]) -> dict[str, str]:
        """canonical field -> the actual header column used, for this file's header."""
        by_key = {_key(h): h for h in header}
        resolved: dict[str, str] = {}
        for canonical, candidates in self.columns.items():
            for candidate in candidates:
                if _key(candidate) in by_key:
                    resolved[canonical] = by_key[_key(candidate)]
                    break
        return resolved


def _boston_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    # Boston has no service code: the type is the code, as in Boston's Open311 service list.
    out["service_code"] = out["service_name"]
    return out


def _nyc_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    # Intersections have no Incident Address: "STREET 1 & STREET 2".
    if "Intersection Street 1" in raw.columns and "Intersection Street 2" in raw.columns:
        a, b = raw["Intersection Street 1"].str.strip(), raw["Intersection Street 2"].str.strip()
        crossing = (a + " & " + b).where((a != "") & (b != ""), "")
        address = out["address"].fillna("")
        out["address"] = address.where(address.str.strip() != "", crossing)
    out["service_code"] = out["service_name"]
    return out


BOSTON = Adapter(
    name="boston",
    title="Boston 311 (data.boston.gov), legacy and current schemas",
    signature=frozenset({"case_enquiry_id", "open_dt", "case_status"}),
    columns={
        "request_id": ("case_enquiry_id",),
        "requested_at": ("open_dt",),
        "due_at": ("sla_target_dt", "target_dt"),
        "closed_at": ("closed_dt",),
        "status_raw": ("case_status",),
        "service_name": ("type",),
        "service_group": ("reason",),
        "department": ("department",),
        "description": ("case_title",),
        "resolution": ("closure_reason",),
        "address": ("location",),
        "zipcode": ("location_zipcode",),
        "lat": ("latitude",),
        "lon": ("longitude",),
        "channel": ("source",),
    },
    time_format="%Y-%m-%d %H:%M:%S",
    closed_statuses=frozenset({"closed"}),
    channels={
        "constituent call": "phone",
        "self service": "web",
        "citizens connect app": "app",
        "employee generated": "employee",
        "twitter": "social",
    },
    default_source="boston",
    derive=_boston_derive,
)

NYC = Adapter(
    name="nyc",
    title="New York City 311 (NYC Open Data), current 41-column and older 52-column exports",
    signature=frozenset({"Unique Key", "Created Date", "Complaint Type", "Agency"}),
    columns={
        "request_id": ("Unique Key",),
        "requested_at": ("Created Date",),
        "closed_at": ("Closed Date",),
        "due_at": ("Due Date",),
        "updated_at": ("Resolution Action Updated Date",),
        "status_raw": ("Status",),
        "department": ("Agency",),
        "service_name": ("Complaint Type",),
        "service_group": ("Agency Name",),
        "description": ("Descriptor",),
        "resolution": ("Resolution Description",),
        "address": ("Incident Address",),
        "zipcode": ("Incident Zip",),
        "lat": ("Latitude",),
        "lon": ("Longitude",),
        "channel": ("Open Data Channel Type",),
    },
    time_format="%m/%d/%Y %I:%M:%S %p",
    closed_statuses=frozenset({"closed"}),
    channels={
        "phone": "phone",
        "online": "web",
        "mobile": "app",
        "unknown": "unknown",
        "other": "other",
    },
    default_source="nyc",
    derive=_nyc_derive,
)

# -- helpers shared by the formats below ----------------------------------------------------------
_TRUE = {"true", "t", "y", "yes", "1"}
_FALSE = {"", "false", "f", "n", "no", "0", "none", "null", "nan"}


def _column(raw: pd.DataFrame, *names: str) -> pd.Series | None:
    by_key = {_key(str(c)): c for c in raw.columns}
    for name in names:
        if _key(name) in by_key:
            return raw[by_key[_key(name)]].fillna("").astype(str).str.strip()
    return None


def point_from_text(value: str) -> tuple[float | None, float | None]:
    """(lat, lon) from a location value as exports write it: ``(41.88, -87.63)``, ``POINT (-87.63
    41.88)``, a Socrata dict ``{'latitude': '41.88', 'longitude': '-87.63', ...}`` or GeoJSON
    ``{"type": "Point", "coordinates": [-87.63, 41.88]}`` (JSON or a Python dict's text)."""
    import ast
    import json
    import re

    text = (value or "").strip()
    if not text:
        return None, None
    if text.startswith("{"):
        data = None
        for parse in (json.loads, ast.literal_eval):
            try:
                data = parse(text)
                break
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if not isinstance(data, dict):
            return None, None
        try:
            if "coordinates" in data:
                lon, lat = data["coordinates"][:2]
                return float(lat), float(lon)
            if "latitude" in data and "longitude" in data:
                return float(data["latitude"]), float(data["longitude"])
        except (TypeError, ValueError, IndexError, KeyError):
            return None, None
        return None, None
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    if len(numbers) != 2:
        return None, None
    a, b = float(numbers[0]), float(numbers[1])
    if text.upper().startswith("POINT"):
        return b, a  # WKT is (lon lat)
    return a, b


def _fill_point(raw: pd.DataFrame, out: pd.DataFrame, *names: str) -> pd.DataFrame:
    """Coordinates from a location column where the latitude/longitude columns are empty."""
    location = _column(raw, *names)
    if location is None:
        return out
    lat = out["lat"].fillna("").astype(str).str.strip()
    lon = out["lon"].fillna("").astype(str).str.strip()
    empty = ((lat == "") | (lon == "")) & (location != "")
    if empty.any():
        points = location[empty].map(point_from_text)
        out.loc[empty, "lat"] = points.map(lambda p: p[0])
        out.loc[empty, "lon"] = points.map(lambda p: p[1])
    return out


def _code_from_name(out: pd.DataFrame) -> pd.DataFrame:
    code = out["service_code"]
    missing = code.isna() | (code.astype(str).str.strip() == "")
    out["service_code"] = code.where(~missing, out["service_name"])
    return out


def _chicago_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    out = _fill_point(raw, out, "LOCATION")
    return _code_from_name(out)


def _sf_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    out = _fill_point(raw, out, "Point", "point")
    return _code_from_name(out)


def _la_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    out = _fill_point(raw, out, "Location")
    address = out["address"].fillna("").astype(str).str.strip()
    parts = [_column(raw, n) for n in ("HouseNumber", "Direction", "StreetName", "Suffix")]
    if all(p is not None for p in parts):
        built = (
            (parts[0] + " " + parts[1] + " " + parts[2] + " " + parts[3]).str.split().str.join(" ")
        )
        out["address"] = address.where(address != "", built)
    return _code_from_name(out)


def _open311_derive(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """GeoReport v2 and its common extensions: Chicago's ``duplicate`` (true, or the id of the
    original request) and ``parent_service_request_id``; a ``closed_date``/``closed_datetime``."""
    duplicate = _column(raw, "duplicate")
    if duplicate is not None:
        low = duplicate.str.lower()
        is_id = ~low.isin(_TRUE | _FALSE)
        out["is_duplicate"] = low.isin(_TRUE) | is_id
        parent = out["parent_request_id"].fillna("").astype(str).str.strip()
        out["parent_request_id"] = parent.where((parent != "") | ~is_id, duplicate)
    status = out["status_raw"].fillna("").astype(str).str.strip().str.lower()
    closed = out["closed_at"].fillna("").astype(str).str.strip()
    # GeoReport v2 has no closed time: a closed request's last update is when it closed.
    if _column(raw, "closed_date", "closed_datetime") is None:
        out["closed_at"] = out["closed_at"].where(
            (closed != "") | (status != "closed"), out["updated_at"]
        )
    return _fill_point(raw, out, "point", "location")


_OPEN311_COLUMNS: dict[str, tuple[str, ...]] = {
    "request_id": ("service_request_id", "token"),
    "requested_at": ("requested_datetime",),
    "updated_at": ("updated_datetime",),
    "closed_at": ("closed_date", "closed_datetime"),
    "due_at": ("expected_datetime",),
    "status_raw": ("status", "status_description"),
    "service_code": ("service_code",),
    "service_name": ("service_name",),
    "service_group": ("service_subtype",),
    "department": ("agency_responsible",),
    "description": ("description", "service_details"),
    "resolution": ("status_notes",),
    "address": ("address",),
    "zipcode": ("zipcode", "zip_code"),
    "lat": ("lat", "latitude"),
    "lon": ("long", "lon", "longitude"),
    "channel": ("source",),
    "parent_request_id": ("parent_service_request_id",),
    "is_private": ("private_case",),
}
_OPEN311_CHANNELS = {
    "phone": "phone",
    "call": "phone",
    "voice in": "phone",
    "web": "web",
    "internet": "web",
    "mobile": "app",
    "mobile/open311": "app",
    "open311": "app",
    "iphone": "app",
    "android": "app",
    "email": "email",
    "e-mail": "email",
    "twitter": "social",
    "walk-in": "walk_in",
    "employee": "employee",
    "integrated agency": "employee",
    "other department": "employee",
    "unknown": "unknown",
}

CHICAGO = Adapter(
    name="chicago",
    title="Chicago 311 (data.cityofchicago.org), CSV export and SODA API (lower-case, ISO times)",
    # SR_SHORT_CODE and OWNER_DEPARTMENT too: a bare SR_NUMBER/SR_TYPE/CREATED_DATE table is not
    # enough to call a file a Chicago export.
    signature=frozenset(
        {"SR_NUMBER", "SR_TYPE", "SR_SHORT_CODE", "CREATED_DATE", "OWNER_DEPARTMENT"}
    ),
    columns={
        "request_id": ("SR_NUMBER",),
        "requested_at": ("CREATED_DATE",),
        "updated_at": ("LAST_MODIFIED_DATE",),
        "closed_at": ("CLOSED_DATE",),
        "status_raw": ("STATUS",),
        "service_code": ("SR_SHORT_CODE",),
        "service_name": ("SR_TYPE",),
        "service_group": ("CREATED_DEPARTMENT",),
        "department": ("OWNER_DEPARTMENT",),
        "address": ("STREET_ADDRESS",),
        "zipcode": ("ZIP_CODE",),
        "lat": ("LATITUDE",),
        "lon": ("LONGITUDE",),
        "channel": ("ORIGIN",),
        "parent_request_id": ("PARENT_SR_NUMBER",),
        "is_duplicate": ("DUPLICATE",),
    },
    time_format="%m/%d/%Y %I:%M:%S %p",
    time_formats=("%Y-%m-%dT%H:%M:%S.%f",),
    closed_statuses=frozenset({"completed", "closed", "canceled", "cancelled"}),
    channels={
        "phone call": "phone",
        "phone": "phone",
        "internet": "web",
        "mobile device": "app",
        "open311 interface": "app",
        "e-mail": "email",
        "email": "email",
        "alderman's office": "employee",
        "generated in house": "employee",
        "city department": "employee",
        "spot": "employee",
        "walk-in": "walk_in",
        "twitter": "social",
        "unknown": "unknown",
    },
    default_source="chicago",
    derive=_chicago_derive,
    timezone="America/Chicago",
)

SAN_FRANCISCO = Adapter(
    name="sf",
    title="San Francisco 311 (DataSF), classic export and current Open311-style names",
    signature=frozenset({"CaseID", "Opened", "Request Type"}),
    alt_signatures=(
        frozenset(
            {"service_request_id", "requested_datetime", "service_name", "supervisor_district"}
        ),
    ),
    columns={
        "request_id": ("CaseID", "service_request_id"),
        "requested_at": ("Opened", "requested_datetime"),
        "updated_at": ("Updated", "updated_datetime"),
        "closed_at": ("Closed", "closed_date"),
        "status_raw": ("Status", "status_description"),
        "service_name": ("Category", "service_name"),
        "service_group": ("Request Type", "service_subtype"),
        "department": ("Responsible Agency", "agency_responsible"),
        "description": ("Request Details", "service_details"),
        "resolution": ("Status Notes", "status_notes"),
        "address": ("Address",),
        "lat": ("Latitude", "lat"),
        "lon": ("Longitude", "long"),
        "channel": ("Source",),
    },
    time_format="%m/%d/%Y %I:%M:%S %p",
    time_formats=("%Y-%m-%dT%H:%M:%S.%f",),
    closed_statuses=frozenset({"closed"}),
    channels={**_OPEN311_CHANNELS},
    default_source="sf",
    derive=_sf_derive,
    timezone="America/Los_Angeles",
)

LOS_ANGELES = Adapter(
    name="la",
    title="Los Angeles MyLA311 (data.lacity.org), every year's export",
    signature=frozenset({"SRNumber", "CreatedDate", "RequestType"}),
    columns={
        "request_id": ("SRNumber",),
        "requested_at": ("CreatedDate",),
        "updated_at": ("UpdatedDate",),
        "closed_at": ("ClosedDate",),
        "due_at": ("ServiceDate",),
        "status_raw": ("Status",),
        "service_name": ("RequestType",),
        "department": ("Owner",),
        "resolution": ("ActionTaken",),
        "address": ("Address",),
        "zipcode": ("ZipCode",),
        "lat": ("Latitude",),
        "lon": ("Longitude",),
        "channel": ("RequestSource",),
    },
    time_format="%m/%d/%Y %I:%M:%S %p",
    time_formats=("%Y-%m-%dT%H:%M:%S.%f", "%Y %b %d %I:%M:%S %p"),
    closed_statuses=frozenset({"closed", "cancelled", "canceled"}),
    channels={
        "call": "phone",
        "voicemail": "phone",
        "queue initiated customer call": "phone",
        "self service": "web",
        "web form": "web",
        "mobile app": "app",
        "self service_san": "web",
        "driver self report": "employee",
        "city attorney": "employee",
        "council's office": "employee",
        "email": "email",
        "walk-in": "walk_in",
        "twitter": "social",
        "unknown": "unknown",
    },
    default_source="la",
    derive=_la_derive,
    timezone="America/Los_Angeles",
)

PHILADELPHIA = Adapter(
    name="philadelphia",
    title="Philadelphia 311 (OpenDataPhilly, Open311-style names; private cases kept private)",
    signature=frozenset(
        {
            "service_request_id",
            "requested_datetime",
            "service_name",
            "expected_datetime",
            "private_case",
        }
    ),
    columns={**_OPEN311_COLUMNS, "lon": ("lon", "long", "longitude")},
    time_format="%Y-%m-%d %H:%M:%S",
    closed_statuses=frozenset({"closed"}),
    channels={**_OPEN311_CHANNELS},
    default_source="philadelphia",
    derive=_open311_derive,
    timezone="America/New_York",
)

OPEN311 = Adapter(
    name="open311",
    title="Open311 GeoReport v2: requests.json, requests.xml and the GeoReport bulk CSV",
    signature=frozenset({"service_request_id", "requested_datetime", "service_name"}),
    columns=_OPEN311_COLUMNS,
    time_format=None,
    closed_statuses=frozenset({"closed"}),
    channels={**_OPEN311_CHANNELS},
    default_source="open311",
    derive=_open311_derive,
)

ADAPTERS: dict[str, Adapter] = {
    a.name: a for a in (BOSTON, NYC, CHICAGO, SAN_FRANCISCO, LOS_ANGELES, PHILADELPHIA, OPEN311)
}


def _most_specific(found: list[Adapter], header: Sequence[str]) -> list[Adapter]:
    """Drop every format whose matched signature is strictly inside another's (the Open311 bulk
    CSV's names are inside San Francisco's and Philadelphia's)."""
    sigs = {a.name: {_key(c) for c in a.matched_signature(header) or ()} for a in found}
    return [a for a in found if not any(sigs[a.name] < sigs[b.name] for b in found if b is not a)]


def detect(header: Sequence[str], *, path: str = "") -> Adapter:
    """The adapter whose signature the header carries, or :class:`InputFileError`."""
    found = _most_specific([a for a in ADAPTERS.values() if a.matches(header)], header)
    if len(found) == 1:
        return found[0]
    preview = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "")
    if not found:
        raise InputFileError(
            f"{path}: the header matches no known format ({preview}); "
            f"known formats: {', '.join(ADAPTERS)} (use --format to choose one)"
        )
    raise InputFileError(
        f"{path}: the header matches several formats ({', '.join(a.name for a in found)}); "
        "use --format"
    )


def get(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise InputFileError(
            f"unknown format {name!r}; known formats: {', '.join(ADAPTERS)}"
        ) from None
