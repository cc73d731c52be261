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

    def matches(self, header: Sequence[str]) -> bool:
        keys = {_key(h) for h in header}
        return {_key(s) for s in self.signature} <= keys

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

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (BOSTON, NYC)}


def detect(header: Sequence[str], *, path: str = "") -> Adapter:
    """The adapter whose signature the header carries, or :class:`InputFileError`."""
    found = [a for a in ADAPTERS.values() if a.matches(header)]
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
