"""The public side's data: what residents, journalists and the Open311 API may see.

Everything the public portal (``/public/...``) and the Open311 API (``/open311/v2/...``) show
comes from :class:`PublicData`, which applies the privacy rules in one place:

- **Private cases never appear.** A case flagged ``is_private`` is left out of every lookup,
  list and map, and looking it up answers exactly like an unknown number.
- **No internal text.** ``resolution`` is never read (it is not even selected); ``description``
  is published only after :func:`dashboard.redact.redact`, and not at all for the request types
  listed in ``STAT311_PUBLIC_SENSITIVE_TYPES``. Status notes are written from structured fields
  (the source's own status text only as one of a fixed list of status words).
- **Locations are generalised.** Public coordinates are the centre of the case's H3 cell at
  resolution 9 (about 100 m across) and the address loses its house number, except for the
  infrastructure types in ``STAT311_PUBLIC_EXACT_TYPES`` (street lights, potholes...), which are
  shown exactly. Sensitive types are never exact and have no address. A bounding-box filter is
  applied to the *published* coordinates, so it cannot be used to find a true location.

Point lookups and lists read the store (SQLAlchemy Core, bound parameters); aggregates (map,
performance, the service list) read the Parquet snapshot through an unscoped
:class:`~dashboard.queries.ReadModel` of the public side's own (the staff read model is scoped to
the signed-in user and answers nothing to anonymous requests).

:func:`install_public` puts the public side on the Flask server: the Open311 blueprint, the rate
limiter and the public Dash app under ``/public/``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
from sqlalchemy import bindparam, false, func, select

from dashboard import schema
from dashboard.departments import DepartmentNames, load_names
from dashboard.errors import ConfigError, SnapshotMissingError
from dashboard.periods import week_start
from dashboard.queries import CaseFilter, QueryError, ReadModel
from dashboard.redact import redact, redact_address, without_house_numbers
from dashboard.settings import SETTINGS as _SETTINGS  # noqa: E402
from dashboard.settings import Settings
from dashboard.sla import (
    SlaEngine,
    SlaPolicy,
    describe_rule,
    load_policy,
    policy_due,
    policy_due_one,
    weekly,
)
from dashboard.store import Store
from geodata.geojson import geojson_bbox

SETTING_DEFAULTS = {s.name: s.default for s in _SETTINGS}

log = logging.getLogger(__name__)

# -- configuration --------------------------------------------------------------------------------
ENV_SENSITIVE_TYPES = "STAT311_PUBLIC_SENSITIVE_TYPES"
ENV_EXACT_TYPES = "STAT311_PUBLIC_EXACT_TYPES"
ENV_RATE_LIMIT = "STAT311_RATE_LIMIT"
ENV_REDIS_URL = "STAT311_REDIS_URL"

#: Defaults declared once, in dashboard/settings.py.
DEFAULT_SENSITIVE_TYPES = SETTING_DEFAULTS["public_sensitive_types"]
DEFAULT_EXACT_TYPES = SETTING_DEFAULTS["public_exact_types"]
DEFAULT_RATE_LIMIT = SETTING_DEFAULTS["rate_limit"]

#: H3 resolution public locations are snapped to (cell centre; ~0.1 km², ~170 m edge).
CELL_RESOLUTION = 9
#: Cases one tracking number can give (sources may share numbers).
MAX_SAME_ID = 10
#: Open311 list window: at most this many days between start and end.
MAX_WINDOW_DAYS = 90
#: Requests in one Open311 response when no page_size is given (the GeoReport default).
DEFAULT_LIMIT = 1000
#: Largest page_size a client may ask for.
MAX_PAGE_SIZE = 500
#: Deepest row a client may page to (page * page_size).
MAX_OFFSET = 100_000
#: Most ids in one ``service_request_id`` list.
MAX_IDS = 500
MAX_ID_LENGTH = 100
#: Points on the public map's "individual requests" view (the most recent).
MAX_MAP_POINTS = 3000
#: Hexagons on the map before the map switches to the coarser resolution 8.
MAX_MAP_CELLS = 4000
MAP_WINDOWS = (30, 90, 365)
#: Up to this many cases without a due time of their source, the policy's are computed one by
#: one (:func:`~dashboard.sla.policy_due_one`), beyond it at once with pandas.
#: Measured: 0.14 ms for one case one by one, 4.06 ms with pandas; 1.93 against 4.65 ms for 50;
#: 8.62 against 5.59 ms for 200.
FEW_DUE = 50
#: The map by area's name for the requests outside every area or without a location.
OUTSIDE_AREAS = "(outside the areas or no location)"
#: The area of a cell whose centre is in none of the layer's areas (cells always have a place).
CELL_OUTSIDE_AREAS = "(outside the areas)"
TREND_WEEKS = 26
#: The public request page counts an open request to today while the newest data ended less
#: than this long ago, else to the end of the newest data (see ``PublicData.counted_to``).
STALE_AFTER = timedelta(days=2)


def _names(raw: str) -> frozenset[str]:
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


@dataclass(frozen=True)
class PublicConfig:
    """The public side's settings (environment variables, see ``docs/OPEN311.md``)."""

    sensitive_types: frozenset[str] = field(default_factory=lambda: _names(DEFAULT_SENSITIVE_TYPES))
    exact_types: frozenset[str] = field(default_factory=lambda: _names(DEFAULT_EXACT_TYPES))
    rate_limit: str = DEFAULT_RATE_LIMIT
    redis_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PublicConfig:
        environ = os.environ if environ is None else environ
        config = cls(
            sensitive_types=_names(environ.get(ENV_SENSITIVE_TYPES, DEFAULT_SENSITIVE_TYPES)),
            exact_types=_names(environ.get(ENV_EXACT_TYPES, DEFAULT_EXACT_TYPES)),
            rate_limit=environ.get(ENV_RATE_LIMIT, DEFAULT_RATE_LIMIT).strip(),
            redis_url=environ.get(ENV_REDIS_URL, "").strip(),
        )
        config.validate()
        return config

    @classmethod
    def from_settings(cls, settings: Any) -> PublicConfig:
        config = cls(
            sensitive_types=_names(settings.public_sensitive_types),
            exact_types=_names(settings.public_exact_types),
            rate_limit=settings.rate_limit.strip(),
            redis_url=settings.redis_url.strip(),
        )
        config.validate()
        return config

    def validate(self) -> None:
        from limits import parse_many

        try:
            if not parse_many(self.rate_limit):
                raise ValueError("no limit given")
        except ValueError as exc:
            raise ConfigError(
                f"{ENV_RATE_LIMIT}={self.rate_limit!r} is invalid: {exc} "
                "(e.g. '120 per minute' or '10/second;1000/day')"
            ) from None
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"{ENV_REDIS_URL}={self.redis_url!r} is invalid: use redis://host:port/db"
            )

    def is_sensitive(self, service_name: str | None) -> bool:
        return service_name is not None and service_name in self.sensitive_types

    def is_exact(self, service_name: str | None) -> bool:
        """May this type's location be published exactly? (Never for a sensitive type.)"""
        return (
            service_name is not None
            and service_name in self.exact_types
            and service_name not in self.sensitive_types
        )


# -- privacy helpers (pure) -------------------------------------------------------------------------
_UNIT = re.compile(
    r"[,\s]*\b(?:apt|apartment|unit|suite|ste|flat|fl|floor|rm|room)\b\.?\s*#?\s*"
    r"(?:\[number removed\]|[\w-]+)"  # (redaction may have marked the unit's number already)
    r"|[,\s]*#\s*[\w-]+",
    re.IGNORECASE,
)
#: A token's punctuation around its core ("(83" -> "(", "83", "").
_TOKEN = re.compile(r"^(?P<lead>[^\w]*)(?P<core>.*?)(?P<trail>[^\w]*)$", re.DOTALL)
#: Street names with numbers: "4th", "21st", "2nd", "3rd" (ordinals, not house numbers).
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$", re.IGNORECASE)
#: Road numbers: "I-93", "US-1", "MA-2A", "Rte-9".
_ROAD = re.compile(r"^(?:I|US|SR|MA|RT|RTE|HWY)-\d+[A-Z]?$", re.IGNORECASE)
#: Words after which a number names a road, not a house ("Route 28", "Highway 1A").
_ROAD_WORDS = frozenset({"route", "rte", "rt", "highway", "hwy", "interstate"})
#: Words that only announce a number ("No. 16", "Number 16"): dropped with it.
_NUMBER_WORDS = frozenset({"no", "no.", "nr", "nr.", "number", "num", "num."})
_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
#: Street types a number may name on its own, as New York writes its numbered streets ("EAST 35
#: STREET", "1315 48 STREET", "3593 3 AVENUE", "39 AVENUE & 48 STREET").
_NUMBERED_STREET_TYPES = frozenset(
    "street st avenue ave av road rd place pl drive dr lane ln terrace ter court ct "
    "boulevard blvd parkway pkwy way".split()
)
#: Words before such a number that say it names the street ("WEST 35 STREET", "BEACH 69 STREET").
_STREET_PREFIXES = frozenset("east west north south e w n s e. w. n. s. beach".split())
#: What may follow the street type of a street named by a number alone: the address ends, or
#: the next street of an intersection comes.
_INTERSECTION_JOINS = frozenset({"", "&", "and", "@", "/", "at"})
_HOUSE_NUMBER_TOKEN = re.compile(r"\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?")


#: The sources' words for the stages of an open request that the public note may repeat
#: ("Open (In Progress)."), by their lower-cased letters. Any other status text is left out: a
#: source's status column can carry a staff note ("Pending - call J. Roe back").
OPEN_STATUS_WORDS = {
    "in progress": "In Progress",
    "inprogress": "In Progress",
    "work in progress": "In Progress",
    "assigned": "Assigned",
    "pending": "Pending",
    "started": "Started",
    "acknowledged": "Acknowledged",
    "accepted": "Accepted",
    "received": "Received",
    "scheduled": "Scheduled",
    "on hold": "On Hold",
    "reopened": "Reopened",
    "re opened": "Reopened",
    "in review": "In Review",
    "under review": "Under Review",
    "dispatched": "Dispatched",
    "forwarded": "Forwarded",
    "referred": "Referred",
}


def _keeps_number(words: list[str], i: int, core: str) -> bool:
    """Does the address keep ``words[i]`` (whose ``core`` has a digit)? Street names with numbers,
    road numbers, and a ZIP code that ends the address after a state ("MA") or a comma."""
    before = words[i - 1] if i else ""
    if _ORDINAL.match(core) or _ROAD.match(core):
        return True
    if _numbered_street(words, i, core):
        return True
    if before.strip(".,;:()").lower() in _ROAD_WORDS and re.fullmatch(r"\d+[A-Za-z]?", core):
        return True
    after_state = re.fullmatch(r"[A-Z]{2},?", before) is not None
    return bool(_ZIP.match(core)) and i == len(words) - 1 and (after_state or before.endswith(","))


def _numbered_street(words: list[str], i: int, core: str) -> bool:
    """Is ``words[i]`` the number of a street named by its number, New York style ("WEST 35
    STREET", "1315 48 STREET", "39 AVENUE & 48 STREET")? Only when a street type follows it
    and it cannot be the house number: after a direction ("WEST", "BEACH"), after the house
    number itself, or with the address (or this street of an intersection) ending right after
    the street type -- nobody lives at "12 Street"."""
    if not re.fullmatch(r"\d{1,3}", core) or i + 1 >= len(words):
        return False
    if words[i].strip("()") != core or words[i + 1].strip(".,;:()").lower() not in (
        _NUMBERED_STREET_TYPES
    ):
        return False
    before = words[i - 1].strip(",;:()").lower() if i else ""
    if before in _STREET_PREFIXES or _HOUSE_NUMBER_TOKEN.fullmatch(before):
        return True
    beyond = words[i + 2].strip(",;:()").lower() if i + 2 < len(words) else ""
    return beyond in _INTERSECTION_JOINS or words[i + 1].endswith(",")


def _public_description(text: str | None, precision: str) -> str | None:
    """A case's description as the public sees it: redacted, and without house numbers unless
    the case is published at its exact location (so the text does not give the address the
    published location leaves out)."""
    cleaned = redact(text) or None
    return cleaned if precision == "exact" else (without_house_numbers(cleaned) or None)


def generalise_address(address: str | None) -> str | None:
    """The address without any house number or unit: "39 Lorraine St" -> "Lorraine St",
    "Apt 4B, 12 Elm St" -> "Elm St", "Norway Maple (83 Lewiston St)" -> "Norway Maple
    (Lewiston St)", "Elm St 18" -> "Elm St".

    Every word with a digit in it goes, wherever it is, except street names with numbers
    ("W 4th St"), road numbers ("Route 28", "I-93") and a ZIP code at the end after a state
    ("MA 02131") or a comma ("Elm St, 02131"). Errs towards
    removing too much: "Public Alley No. 422" becomes "Public Alley"."""
    text = redact_address(address)
    if not text:
        return None
    text = _UNIT.sub(" ", text)
    words = text.split()
    kept: list[str] = []
    for i, word in enumerate(words):
        parts = _TOKEN.match(word)
        assert parts is not None  # the pattern matches any text
        core = parts["core"]
        if not any(ch.isdigit() for ch in core):
            kept.append(word)
            continue
        if _keeps_number(words, i, core):
            kept.append(word)
            continue
        # The number goes; what announced it goes too ("No. 16"), brackets and commas stay.
        if kept and kept[-1].lower() in _NUMBER_WORDS:
            kept.pop()
        punctuation = (parts["lead"] + parts["trail"]).replace("#", "").replace("-", "")
        if punctuation:
            kept.append(punctuation)
    text = " ".join(kept)
    text = re.sub(r"\(\s*\)|\[\s*\]", " ", text)  # brackets left empty
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    text = re.sub(r"\s+([,;:])", r"\1", text)  # "Roxbury , Elm St" -> "Roxbury, Elm St"
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," -> ","
    text = re.sub(r"\s{2,}", " ", text).strip(" ,;:-&/")
    return text or None


SENSITIVE_BY_AREA = (
    "Requests of sensitive types (about someone's home, health or safety) are shown by area "
    "only, not on cells or points."
)
#: Cases of the sensitive types (bound to the list of them) are left out of the public map's
#: cells and points: they are published by area only (see ``PublicData._record``).
#: (A hash anti-join: 2.9 against 5.2 ms for ``list_contains`` over 100,000 rows, measured.)
NOT_SENSITIVE = "(service_name IS NULL OR service_name NOT IN (SELECT unnest(?::VARCHAR[])))"


def cell_centre(cell: int | None) -> tuple[float, float] | None:
    """(lat, lon) of an H3 cell's centre, rounded to 6 decimals (the published coordinates)."""
    if cell is None or pd.isna(cell):
        return None
    try:
        return _centre(int(cell))
    except (ValueError, TypeError, h3.H3BaseException):  # an invalid cell id: no location
        return None


@functools.lru_cache(maxsize=1 << 17)
def _centre(cell: int) -> tuple[float, float]:
    lat, lon = h3i.cell_to_latlng(cell)
    return round(lat, 6), round(lon, 6)


def _bbox(cells: Sequence[int]) -> list[float] | None:
    """The GeoJSON bbox ([west, south, east, north]) of the cells' features."""
    if not cells:
        return None
    boxes = np.array([_cell_bbox(cell) for cell in cells])
    return [
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    ]


@functools.lru_cache(maxsize=1 << 16)
def _cell_bbox(cell: int) -> tuple[float, float, float, float]:
    box = geojson_bbox([_cell_feature(cell)])
    assert box is not None  # a cell always has a boundary
    return box[0], box[1], box[2], box[3]


@functools.lru_cache(maxsize=1 << 16)
def _cell_feature(cell: int) -> dict[str, Any]:
    """The GeoJSON feature of one H3 cell (its id as text, the boundary to 6 decimals). Cached:
    a city has a few tens of thousands of cells, and a map of 1,400 of them spent 10 ms here.
    Callers must not change the dict."""
    ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3i.cell_to_boundary(cell)]
    ring.append(ring[0])
    return {
        "type": "Feature",
        "id": str(cell),
        "properties": {"name": str(cell)},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def public_point(
    *,
    service_name: str | None,
    lat: float | None,
    lon: float | None,
    cell: int | None,
    location_quality: str | None,
    config: PublicConfig,
) -> tuple[float | None, float | None, str]:
    """Published (lat, lon, precision): precision ``exact``, ``cell`` or ``none``."""
    if lat is None or lon is None or pd.isna(lat) or pd.isna(lon) or location_quality != "exact":
        return None, None, "none"
    if config.is_exact(service_name):
        return float(lat), float(lon), "exact"
    if cell is None or pd.isna(cell):
        cell = h3i.latlng_to_cell(float(lat), float(lon), CELL_RESOLUTION)
    centre = cell_centre(cell)
    if centre is None:
        return None, None, "none"
    return centre[0], centre[1], "cell"


def _aware(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- queries ----------------------------------------------------------------------------------------
_c = schema.cases.c
#: The only case columns the public side reads. ``resolution`` is deliberately absent.
_COLUMNS = (
    _c.id,
    _c.source,
    _c.request_id,
    _c.service_code,
    _c.service_name,
    _c.service_group,
    _c.department,
    _c.status,
    _c.status_raw,
    _c.requested_at,
    _c.updated_at,
    _c.closed_at,
    _c.due_at,
    _c.channel,
    _c.description,
    _c.address,
    _c.zipcode,
    _c.lat,
    _c.lon,
    _c.location_quality,
    _c.h3_9,
    _c.parent_request_id,
    _c.is_duplicate,
)


def _last_update() -> Any:
    """When a case last changed: updated, else closed, else requested."""
    return func.coalesce(_c.updated_at, _c.closed_at, _c.requested_at)


@dataclass(frozen=True)
class RequestQuery:
    """A validated Open311 list query (times are aware UTC datetimes)."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    page: int = 1
    page_size: int = DEFAULT_LIMIT
    extensions: bool = False


class _TtlCache:
    """A small thread-safe cache of computed values, keyed by data version and arguments."""

    def __init__(self, ttl: float = 300.0, size: int = 128) -> None:
        self.ttl, self.size = ttl, size
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = compute()
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (now, value)
        return value


class PublicData:
    """Every read of the public side, with the privacy rules applied (see the module doc)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        policy: SlaPolicy,
        config: PublicConfig | None = None,
        departments: DepartmentNames | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy
        self.config = config or PublicConfig()
        #: Department names by code (the services' descriptions, the portal's pages).
        self.departments = (
            departments if departments is not None else load_names(settings.department_names)
        )
        self.timezone = settings.timezone
        self.tz = ZoneInfo(settings.timezone)
        # Unscoped on purpose: public aggregates are the same for everybody. Private cases are
        # left out of every question, service levels included.
        self.read_model = ReadModel(settings.snapshot_dir, public_only=True)
        self._cache = _TtlCache()

    # -- plumbing -------------------------------------------------------------------------------
    def _param(self, value: datetime) -> datetime:
        """A UTC instant as the store compares it (SQLite keeps naive UTC text)."""
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if self.store.dialect == "sqlite" else value

    def _version(self) -> str:
        try:
            return self.read_model.version()
        except SnapshotMissingError:
            return "none"

    def rule_for(self, service_name: str | None, department: str | None) -> Any:
        if service_name is not None and service_name in self.policy.type_due:
            return self.policy.type_due[service_name]
        if department is not None and department in self.policy.department_due:
            return self.policy.department_due[department]
        return None

    def service_notice(self, service_name: str | None, department: str | None) -> str | None:
        """ "Usually handled within 3 business days", from the SLA policy (None without a rule)."""
        rule = self.rule_for(service_name, department)
        return f"Usually handled within {describe_rule(rule)}" if rule is not None else None

    def _expected(self, rows: list[dict[str, Any]]) -> list[datetime | None]:
        """The SLA due time of each row: the source's own, else the policy's (as the snapshot's
        ``sla_due_at``)."""
        out: list[datetime | None] = [_aware(r["due_at"]) for r in rows]
        missing = [i for i, value in enumerate(out) if value is None]
        if not missing:
            return out
        if len(missing) <= FEW_DUE:  # a request's page: no pandas for one case
            for i in missing:
                requested = _aware(rows[i]["requested_at"])
                out[i] = requested and policy_due_one(
                    requested,
                    service_name=rows[i]["service_name"],
                    department=rows[i]["department"],
                    policy=self.policy,
                    timezone=self.timezone,
                )
            return out
        requested = pd.to_datetime([rows[i]["requested_at"] for i in missing], utc=True)
        local = pd.Series(requested.tz_convert(self.timezone).tz_localize(None))
        due = policy_due(
            local,
            types=pd.Series([rows[i]["service_name"] for i in missing], dtype=object),
            departments=pd.Series([rows[i]["department"] for i in missing], dtype=object),
            policy=self.policy,
            timezone=self.timezone,
        )
        for i, value in zip(missing, due.tolist(), strict=True):
            out[i] = None if pd.isna(value) else value.to_pydatetime()
        return out

    def _areas(self, case_ids: Sequence[int]) -> dict[int, dict[str, str]]:
        if not case_ids:
            return {}
        ca, bl = schema.case_areas, schema.boundary_layers
        query = (
            select(ca.c.case_id, bl.c.name, ca.c.area)
            .join(bl, bl.c.id == ca.c.layer_id)
            .where(ca.c.case_id.in_(list(case_ids)))
            .order_by(bl.c.id)
        )
        out: dict[int, dict[str, str]] = {}
        with self.store.connect() as conn:
            for case_id, layer, area in conn.execute(query):
                if area is not None:
                    out.setdefault(case_id, {})[layer] = area
        return out

    def _private_parents(self, rows: list[dict[str, Any]]) -> set[str]:
        """Parent request ids (of duplicates) that are private: never named publicly."""
        parents = {r["parent_request_id"] for r in rows if r["parent_request_id"]}
        if not parents:
            return set()
        query = select(_c.request_id).where(
            _c.request_id.in_(sorted(parents)), _c.is_private.is_(True)
        )
        with self.store.connect() as conn:
            return set(conn.execute(query).scalars())

    def _records(self, rows: list[dict[str, Any]], *, areas: bool) -> list[dict[str, Any]]:
        expected = self._expected(rows)
        by_case = self._areas([r["id"] for r in rows]) if areas else {}
        hidden = self._private_parents(rows)
        for row in rows:
            if row["parent_request_id"] in hidden:
                row["parent_request_id"] = None
        return [
            self._record(row, due, by_case.get(row["id"], {}))
            for row, due in zip(rows, expected, strict=True)
        ]

    def _record(
        self, row: Mapping[str, Any], expected: datetime | None, areas: Mapping[str, str]
    ) -> dict[str, Any]:
        """One case as the public may see it: a fixed set of keys, privacy rules applied."""
        name = row["service_name"]
        sensitive = self.config.is_sensitive(name)
        # A sensitive type has no published point at all, only its area: most of its cells
        # hold a single such case (1,378 of 2,194 in Boston 2011), so a cell centre with a time
        # to the second would single out a home.
        lat, lon, precision = (
            (None, None, "none")
            if sensitive
            else public_point(
                service_name=name,
                lat=row["lat"],
                lon=row["lon"],
                cell=row["h3_9"],
                location_quality=row["location_quality"],
                config=self.config,
            )
        )
        if sensitive:
            address = None
        elif precision == "exact":
            address = redact_address(row["address"]) or None
        else:
            address = generalise_address(row["address"])
        requested = _aware(row["requested_at"])
        closed = _aware(row["closed_at"])
        updated = _aware(row["updated_at"]) or closed or requested
        return {
            "request_id": row["request_id"],
            "status": row["status"],
            "status_notes": self.status_notes(row, expected),
            "service_code": row["service_code"],
            "service_name": name,
            "service_group": row["service_group"],
            "department": row["department"],
            "description": None
            if sensitive
            else _public_description(row["description"], precision),
            "channel": row["channel"],
            "requested_at": requested,
            "updated_at": updated,
            "closed_at": closed,
            "expected_at": expected,
            "service_notice": self.service_notice(name, row["department"]),
            "time_frame": self.time_frame(row, expected),
            "address": address,
            "zipcode": row["zipcode"] or None,
            "lat": lat,
            "lon": lon,
            "location_precision": precision,
            "duplicate_of": redact(row["parent_request_id"]) if row["is_duplicate"] else None,
            "areas": dict(areas),
            "sensitive": sensitive,
        }

    def status_notes(self, row: Mapping[str, Any], expected: datetime | None) -> str:
        """A public note written from structured fields only: never the resolution text, and
        the source's own status (``status_raw``, staff-only) only as one of the known status
        words (:data:`OPEN_STATUS_WORDS`), never as typed."""
        if row["status"] == "closed":
            if row["is_duplicate"]:
                parent = redact(row["parent_request_id"] or "")
                return (
                    f"Closed as a duplicate of request {parent}."
                    if parent
                    else "Closed as a duplicate of another request."
                )
            closed = _aware(row["closed_at"])
            if closed is None:
                return "Closed."
            when = f"{closed.astimezone(self.tz):%d %B %Y}".lstrip("0")
            return f"Closed on {when}."
        note = "Open"
        word = OPEN_STATUS_WORDS.get(
            " ".join(re.findall(r"[a-z]+", (row["status_raw"] or "").lower()))
        )
        if word:
            note += f" ({word})"
        # Past the expected time as of the instant the request page counts to: now, or the
        # end of the newest data when that is older (counted_to). Against today, a request
        # still open in a 2011 export would read as late though its data says it is not.
        if expected is not None and expected < self.counted_to(datetime.now(UTC))[0]:
            note += "; past the expected time"
        return note + "."

    def time_frame(self, row: Mapping[str, Any], expected: datetime | None) -> str | None:
        """The promised time frame in words: the policy's rule ("usually within 3 business
        days") when the due time comes from the policy, else the source's own due time as a
        span ("within 14 days")."""
        rule = self.rule_for(row["service_name"], row["department"])
        if row["due_at"] is None and rule is not None:
            return f"usually within {describe_rule(rule)}"
        requested = _aware(row["requested_at"])
        if expected is None or requested is None:
            return None
        # Set for this request by the source (its own target date): say so, so that it is not
        # read as the type's usual time (the service's description, Open311 service_notice).
        span = span_words((expected - requested).total_seconds())
        return f"within {span} (the date set for this request)"

    # -- point lookups and lists (the store) ---------------------------------------------------
    def lookup(self, request_id: str, *, areas: bool = True) -> dict[str, Any] | None:
        """One public case by tracking number (the first loaded, when sources share it); None
        when unknown **or private**."""
        found = self.lookup_all(request_id, areas=areas, limit=1)
        return found[0] if found else None

    def lookup_all(
        self, request_id: str, *, areas: bool = True, limit: int = MAX_SAME_ID
    ) -> list[dict[str, Any]]:
        """Every public case with this tracking number, in the order they were loaded: two
        sources (say a CRM export and an Open311 server) can use the same number for different
        requests. Empty when unknown or private; at most ``limit``."""
        request_id = (request_id or "").strip()
        if not request_id or len(request_id) > MAX_ID_LENGTH:
            return []
        query = (
            select(*_COLUMNS)
            .where(_c.request_id == request_id, _c.is_private == false())
            .order_by(_c.id)
            .limit(limit)
        )
        with self.store.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        return self._records(rows, areas=areas) if rows else []

    def latest_requested(self) -> datetime | None:
        """When the newest request the public may see was made (UTC)."""
        with self.store.connect() as conn:
            value = conn.execute(
                select(func.max(_c.requested_at)).where(_c.is_private == false())
            ).scalar()
        return _aware(value)

    def find_requests(self, query: RequestQuery) -> list[dict[str, Any]]:
        """Open311 ``requests``: newest first, one page."""
        statement = select(*_COLUMNS).where(_c.is_private == false())
        if query.ids:
            statement = statement.where(_c.request_id.in_(list(query.ids)))
        else:
            if query.start is not None:
                statement = statement.where(_c.requested_at >= self._param(query.start))
            if query.end is not None:
                statement = statement.where(_c.requested_at <= self._param(query.end))
            if query.updated_after is not None:
                statement = statement.where(_last_update() >= self._param(query.updated_after))
            if query.updated_before is not None:
                statement = statement.where(_last_update() <= self._param(query.updated_before))
            if query.service_codes:
                statement = statement.where(_c.service_code.in_(list(query.service_codes)))
            if query.statuses:
                statement = statement.where(_c.status.in_(list(query.statuses)))
            if query.bbox is not None:
                statement = statement.where(self._bbox_condition(query.bbox))
        statement = (
            statement.order_by(_c.requested_at.desc(), _c.id.desc())
            .limit(query.page_size)
            .offset((query.page - 1) * query.page_size)
        )
        with self.store.connect() as conn:
            rows = [dict(r) for r in conn.execute(statement).mappings()]
        return self._records(rows, areas=query.extensions)

    def _bbox_condition(self, bbox: tuple[float, float, float, float]) -> Any:
        """Cases whose **published** point lies in the box: exact types by their coordinates,
        every other case by its cell's centre (so the box never reveals more than the cell)."""
        min_lon, min_lat, max_lon, max_lat = bbox
        exact = sorted(self.config.exact_types - self.config.sensitive_types)
        centres = self._cell_centres()
        inside = (
            (centres["lat"] >= min_lat)
            & (centres["lat"] <= max_lat)
            & (centres["lon"] >= min_lon)
            & (centres["lon"] <= max_lon)
        )
        cells = [int(c) for c in centres.loc[inside, "cell"]]
        by_cell = _c.h3_9.in_(
            bindparam("public_cells", cells, expanding=True, literal_execute=True)
        )
        # Sensitive types have no published point (their area only): no box holds them.
        not_generalised = exact + sorted(self.config.sensitive_types)
        generalised = (
            _c.service_name.is_(None) | _c.service_name.not_in(not_generalised)
        ) & by_cell
        if not exact:
            return generalised & (_c.location_quality == "exact")
        exactly = (
            _c.service_name.in_(exact)
            & _c.lat.between(min_lat, max_lat)
            & _c.lon.between(min_lon, max_lon)
        )
        return (exactly | generalised) & (_c.location_quality == "exact")

    def _cell_centres(self) -> pd.DataFrame:
        """Every resolution-9 cell that holds a case, with its published centre."""

        def compute() -> pd.DataFrame:
            try:
                cells = self.read_model.select(
                    "SELECT DISTINCT h3_9 AS cell FROM {cases} WHERE {where} AND h3_9 IS NOT NULL"
                )["cell"].tolist()
            except SnapshotMissingError:
                with self.store.connect() as conn:
                    cells = list(
                        conn.execute(select(_c.h3_9).distinct().where(_c.h3_9.is_not(None)))
                        .scalars()
                        .all()
                    )
            points = [(int(c), cell_centre(int(c))) for c in cells]
            points = [(c, p) for c, p in points if p is not None]
            return pd.DataFrame(
                {
                    "cell": np.array([c for c, _ in points], dtype="int64"),
                    "lat": np.array([p[0] for _, p in points], dtype=float),
                    "lon": np.array([p[1] for _, p in points], dtype=float),
                }
            )

        return self._cache.get(("cells", self._version(), self.store.data_version()), compute)

    # -- the service list (the snapshot) -----------------------------------------------------
    def services(self) -> list[dict[str, Any]]:
        """Request types with public cases: code, name, group, department, SLA notice."""

        def compute() -> list[dict[str, Any]]:
            try:
                frame = self.read_model.select(
                    "SELECT service_code, mode(service_name ORDER BY service_name) AS service_name, "
                    "mode(service_group ORDER BY service_group) AS service_group, "
                    "mode(department ORDER BY department) AS department, "
                    "count(*) AS requests FROM {cases} "
                    "WHERE {where} AND NOT is_private AND service_code IS NOT NULL "
                    "GROUP BY service_code ORDER BY lower(mode(service_name ORDER BY service_name)), service_code"
                )
            except SnapshotMissingError:
                return []
            out = []
            for row in frame.itertuples(index=False):
                name = row.service_name if isinstance(row.service_name, str) else None
                group = row.service_group if isinstance(row.service_group, str) else None
                department = row.department if isinstance(row.department, str) else None
                out.append(
                    {
                        "service_code": str(row.service_code),
                        "service_name": name or str(row.service_code),
                        "group": group,
                        "department": department,
                        "department_label": self.departments.label(department) or None,
                        "requests": int(row.requests),
                        "service_notice": self.service_notice(name, department),
                    }
                )
            return out

        return self._cache.get(("services", self._version()), compute)

    def service(self, code: str) -> dict[str, Any] | None:
        return next((s for s in self.services() if s["service_code"] == code), None)

    # -- aggregates for the public pages (the snapshot) --------------------------------------
    def catalogue(self) -> dict[str, Any]:
        """What the public pages' controls offer: request types, boundary layers, the dates the
        data covers (local). Empty values when no data is loaded."""

        def compute() -> dict[str, Any]:
            try:
                span = self.read_model.select(
                    "SELECT min(requested_local)::DATE AS first, max(requested_local)::DATE AS "
                    "last, count(*) AS n FROM {cases} WHERE {where} AND NOT is_private"
                ).iloc[0]
                types = self.read_model.select(
                    "SELECT service_name, count(*) AS n FROM {cases} WHERE {where} "
                    "AND NOT is_private AND service_name IS NOT NULL "
                    "GROUP BY 1 ORDER BY lower(service_name)"
                )
                layers = list(self.read_model.manifest().get("layers", []))
            except SnapshotMissingError:
                return {"types": [], "layers": [], "first": None, "last": None, "rows": 0}
            first = None if pd.isna(span["first"]) else pd.Timestamp(span["first"]).date()
            last = None if pd.isna(span["last"]) else pd.Timestamp(span["last"]).date()
            return {
                "types": types["service_name"].tolist(),
                "layers": layers,
                "first": first,
                "last": last,
                "rows": int(span["n"]),
            }

        return self._cache.get(("catalogue", self._version()), compute)

    def map_data(
        self,
        *,
        service_name: str | None,
        days: int,
        view: str,
        layer: str | None = None,
    ) -> dict[str, Any]:
        """Requests in the ``days`` up to the newest data, of one type (or all), by area, by H3
        cell or one point per request (generalised locations).

        Returns ``{"view", "start", "end", "total", "frame", "geojson", "resolution",
        "note"}``; ``frame`` columns depend on the view (``area``/``cell``: name, requests, open;
        ``points``: request_id, service_name, status, requested_local, lat, lon, precision).
        By cell, also ``"outline"``: the first boundary layer's areas, drawn under the cells
        (None without a layer)."""
        if days not in MAP_WINDOWS:
            days = MAP_WINDOWS[0]
        if view not in {"area", "cell", "points"}:
            view = "area"
        catalogue = self.catalogue()
        result: dict[str, Any] = {
            "view": view,
            "start": None,
            "end": None,
            "total": 0,
            "frame": pd.DataFrame(),
            "geojson": None,
            "resolution": CELL_RESOLUTION,
            "note": None,
            "layer": None,
        }
        if catalogue["last"] is None:
            result["note"] = "No data has been published yet."
            return result
        if service_name is not None and service_name not in set(catalogue["types"]):
            service_name = None
        end: date = catalogue["last"]
        start = end - timedelta(days=days - 1)
        flt = CaseFilter(start=start, end=end, types=(service_name,) if service_name else ())
        result.update(start=start, end=end)
        key = ("map", self._version(), service_name, days, view, layer)
        return self._cache.get(key, lambda: {**result, **self._map(view, flt, layer, catalogue)})

    def _map(
        self, view: str, flt: CaseFilter, layer: str | None, catalogue: dict[str, Any]
    ) -> dict[str, Any]:
        if view == "area" and catalogue["layers"]:
            layer = layer if layer in catalogue["layers"] else catalogue["layers"][0]
            frame = self._area_counts(flt, layer)
            from dashboard.department import area_geojson

            try:
                geojson = area_geojson(self.settings, self.read_model, layer)
            except QueryError:
                geojson = None
            total = int(frame["requests"].sum())
            return {"total": total, "frame": frame, "geojson": geojson, "layer": layer}
        total = int(self.read_model.counts(flt, by=(), period=None, public=True)["count"].sum())
        if view in {"area", "cell"}:  # by area without a boundary layer: by cell
            first_layer = catalogue["layers"][0] if catalogue["layers"] else None
            found = {
                "total": total,
                "view": "cell",
                **self._cells(flt, first_layer),
                "outline": self._outline(catalogue),
            }
        else:
            found = {"total": total, **self._points(flt), "geojson": self._outline(catalogue)}
        if self.config.sensitive_types and (
            not flt.types or any(self.config.is_sensitive(t) for t in flt.types)
        ):
            found["note"] = " ".join(filter(None, [found.get("note"), SENSITIVE_BY_AREA]))
        return found

    def _area_counts(self, flt: CaseFilter, layer: str) -> pd.DataFrame:
        """Requests and open requests per area of ``layer`` (name, requests, open), the
        busiest first; the cases outside every area or without a location under one name.
        One grouped query (from the snapshot's daily counts): :meth:`ReadModel.area_totals`."""
        rows = self.read_model.area_totals(flt, layer, public=True)
        return pd.DataFrame(
            {
                "name": [OUTSIDE_AREAS if a is None else a for a, _, _ in rows],
                "requests": np.array([r for _, r, _ in rows], dtype=np.int64),
                "open": np.array([o for _, _, o in rows], dtype=np.int64),
            }
        )

    def _outline(self, catalogue: dict[str, Any]) -> dict[str, Any] | None:
        """The first boundary layer's areas, drawn under the points for orientation."""
        if not catalogue["layers"]:
            return None
        from dashboard.department import area_geojson

        try:
            return area_geojson(self.settings, self.read_model, catalogue["layers"][0])
        except QueryError:
            return None

    def _cells(self, flt: CaseFilter, layer: str | None = None) -> dict[str, Any]:
        """Requests per H3 cell; with ``layer``, also the area each cell's centre is in
        (``area``: its name, :data:`CELL_OUTSIDE_AREAS` for none; ``layer``: the layer's name), so
        that the table under the map says where a cell is."""
        resolution = CELL_RESOLUTION
        note = None
        frame = self._cell_counts(flt, resolution)
        if len(frame) > MAX_MAP_CELLS:
            resolution = CELL_RESOLUTION - 1
            frame = self._cell_counts(flt, resolution)
            note = (
                f"Many cells have requests: shown at H3 resolution {resolution} "
                "(cells about 0.7 km² each)."
            )
        cells = [int(cell) for cell in frame["cell"]]
        features = [_cell_feature(cell) for cell in cells]
        frame = frame.assign(
            name=[h3i.int_to_str(cell) for cell in cells],
            cell=frame["cell"].astype(str),
        )
        if layer is not None:
            frame["area"] = [
                CELL_OUTSIDE_AREAS if area is None else area
                for area in self._cell_areas(cells, layer)
            ]
        return {
            "frame": frame,
            "geojson": {"type": "FeatureCollection", "features": features, "bbox": _bbox(cells)},
            "resolution": resolution,
            "note": note,
            "view": "cell",
            "layer": layer,
        }

    def _cell_areas(self, cells: Sequence[int], layer: str) -> list[str | None]:
        """The area of ``layer`` each H3 cell's centre is in (None: in none), as a load would
        place a case at that centre (:class:`geodata.areas.StoredLayers`). Remembered per
        snapshot and layer: a map asks again for mostly the same cells."""
        known: dict[int, str | None] = self._cache.get(("cell-areas", self._version(), layer), dict)
        missing = [cell for cell in dict.fromkeys(cells) if cell not in known]
        if missing:
            from geodata.boundaries import assign_areas

            areas = self._cache.get(
                ("layer-areas", self._version(), layer), lambda: self._layer_frame(layer)
            )
            if areas is None:  # the layer left the store after this snapshot was written
                return [None] * len(cells)
            centres = np.array([_centre(cell) for cell in missing], dtype=np.float64)
            names = assign_areas(lat=centres[:, 0], lon=centres[:, 1], layer=areas)
            known.update(zip(missing, names.tolist(), strict=True))
        return [known[cell] for cell in cells]

    def _layer_frame(self, layer: str) -> Any:
        """The areas of ``layer`` as loads read them (in the layer file's order, unsimplified;
        a GeoDataFrame in EPSG:4326), None for a layer the store no longer has."""
        from geodata.areas import StoredLayers

        with self.store.connect() as conn:
            stored = StoredLayers.from_store(conn)
        return next((found.frame for found in stored.layers if found.name == layer), None)

    def _cell_counts(self, flt: CaseFilter, resolution: int) -> pd.DataFrame:
        column = {8: "h3_8", 9: "h3_9"}[resolution]
        return self.read_model.select(
            f"SELECT {column} AS cell, count(*) AS requests, "  # noqa: S608 - fixed column
            "count(*) FILTER (WHERE status = 'open') AS open FROM {cases} "
            f"WHERE {{where}} AND NOT is_private AND {column} IS NOT NULL "
            f"AND location_quality = 'exact' AND {NOT_SENSITIVE} "
            "GROUP BY 1 ORDER BY 2 DESC, 1",  # ties by cell
            flt=flt,
            after=[sorted(self.config.sensitive_types)],
        )

    def _points(self, flt: CaseFilter) -> dict[str, Any]:
        raw = self.read_model.select(
            "SELECT request_id, service_name, status, requested_local, lat, lon, h3_9, "  # noqa: S608
            "location_quality FROM {cases} WHERE {where} AND NOT is_private "
            f"AND lat IS NOT NULL AND location_quality = 'exact' AND {NOT_SENSITIVE} "
            "ORDER BY requested_at DESC, id DESC LIMIT ?",
            flt=flt,
            after=[sorted(self.config.sensitive_types), MAX_MAP_POINTS + 1],
        )
        note = None
        if len(raw) > MAX_MAP_POINTS:
            raw = raw.iloc[:MAX_MAP_POINTS]
            note = f"Showing the {MAX_MAP_POINTS:,} most recent requests."
        # Column by column as plain lists (itertuples over Arrow-backed columns took about
        # half of this map's time for 3,000 points).
        points = [
            public_point(
                service_name=service_name,
                lat=lat,
                lon=lon,
                cell=cell,
                location_quality=quality,
                config=self.config,
            )
            for service_name, lat, lon, cell, quality in zip(
                *(
                    raw[c].tolist()
                    for c in ("service_name", "lat", "lon", "h3_9", "location_quality")
                ),
                strict=True,
            )
        ]
        # The raw coordinates are dropped here: only published ones leave this module.
        frame = pd.DataFrame(
            {
                "request_id": raw["request_id"].astype(str),
                "service_name": raw["service_name"],
                "status": raw["status"],
                "requested_local": raw["requested_local"],
                "lat": [p[0] for p in points],
                "lon": [p[1] for p in points],
                "precision": [p[2] for p in points],
            }
        )
        return {"frame": frame, "note": note, "view": "points"}

    def counted_to(self, now: datetime) -> tuple[datetime, str | None]:
        """Until when an open request's time is counted, and how to say it: ``now`` while the
        data is current (its newest day ended less than :data:`STALE_AFTER` ago), else the end
        of the newest day of data and "the newest data, 28 Feb 2023": the data cannot tell
        whether a request still open in it has been closed since (a demo of 2011, an export
        no longer refreshed)."""
        last = self.catalogue()["last"]
        if last is None:
            return now, None
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=self.tz)
        if now - end < STALE_AFTER:
            return now, None
        return end.astimezone(UTC), f"the newest data, {last.day} {last:%b %Y}"

    def performance(self) -> dict[str, Any]:
        """Each department's tier for the last 30 and 90 days (up to the newest data), the
        change against the 30 days before, and the citywide weekly trend."""
        catalogue = self.catalogue()
        if catalogue["last"] is None:
            return {"end": None, "departments": [], "weekly": pd.DataFrame(), "citywide": {}}

        def compute() -> dict[str, Any]:
            return self._performance(catalogue["last"])

        hour = datetime.now(UTC).strftime("%Y%m%d%H")  # open cases become late as time passes
        return self._cache.get(("performance", self._version(), hour), compute)

    def _performance(self, end: date) -> dict[str, Any]:
        engine = SlaEngine(self.read_model, self.policy, self.timezone)
        windows = {
            "d30": (end - timedelta(days=29), end),
            "d90": (end - timedelta(days=89), end),
            "prev30": (end - timedelta(days=59), end - timedelta(days=30)),
        }
        reports = {
            key: engine.report(start=start, end=stop, by="department").set_index("group")
            for key, (start, stop) in windows.items()
        }
        top = self.read_model.select(
            "SELECT department, service_name, count(*) AS n FROM {cases} WHERE {where} "
            "AND NOT is_private AND department IS NOT NULL AND service_name IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
            flt=CaseFilter(start=windows["d90"][0], end=end),
        )
        examples = {
            dept: part["service_name"].head(3).tolist() for dept, part in top.groupby("department")
        }

        def figures(key: str, dept: str) -> dict[str, Any] | None:
            frame = reports[key]
            if dept not in frame.index:
                return None
            row = frame.loc[dept]
            compliance = None if pd.isna(row["compliance"]) else float(row["compliance"])
            return {
                "tier": str(row["tier"]),
                "compliance": compliance,
                "due": int(row["due"]),
                "on_time": int(row["on_time"]),
                "target": float(row["target"]),
                "volume": int(row["volume"]),
                "median_days": None if pd.isna(row["median_days"]) else float(row["median_days"]),
            }

        departments = []
        for dept in (str(d) for d in reports["d90"].index):
            d30, d90, before = figures("d30", dept), figures("d90", dept), figures("prev30", dept)
            if d90 is None or (d90["due"] == 0 and d90["volume"] == 0):
                continue
            change = None
            if (
                d30 is not None
                and before is not None
                and d30["compliance"] is not None
                and before["compliance"] is not None
                and d30["due"] >= self.policy.min_count
                and before["due"] >= self.policy.min_count
            ):
                change = 100 * (d30["compliance"] - before["compliance"])
            departments.append(
                {
                    "department": dept,
                    "examples": examples.get(dept, []),
                    "d30": d30,
                    "d90": d90,
                    "change_points": change,
                }
            )
        # Problems first: by the last 30 days' tier and score, then (for the departments too
        # small to have one in 30 days) by the 90 days' tier; a department with nothing due last.
        order = {
            "Problem That Needs a Plan": 0,
            "Close But Not There": 1,
            "On Target": 2,
            "Not enough data": 3,
        }

        def rank(figures: dict[str, Any] | None) -> int:
            return order.get(figures["tier"], 4) if figures else 5

        def score(figures: dict[str, Any] | None) -> float:
            value = figures.get("compliance") if figures else None
            return 2.0 if value is None or value != value else float(value)  # None, NaN: last

        # Within a tier the lowest score first (the worst problem heads the page).
        departments.sort(
            key=lambda d: (rank(d["d30"]), score(d["d30"]), rank(d["d90"]), d["department"])
        )
        # Whole weeks from a Monday (the day 26 weeks before the end cut the first week short),
        # and no share for a week with fewer due than the policy's minimum: a gap in the line,
        # never 0%, as on the staff pages.
        first = week_start(end) - timedelta(weeks=TREND_WEEKS - 1)
        weeks = weekly(engine, start=first, end=end)
        if not weeks.empty:
            judged = weeks["due"] >= max(1, self.policy.min_count)
            weeks["compliance"] = weeks["compliance"].where(judged)
        citywide = {}
        for key in ("d30", "d90"):
            frame = reports[key]
            due, on_time = int(frame["due"].sum()), int(frame["on_time"].sum())
            citywide[key] = {
                "due": due,
                "on_time": on_time,
                "compliance": on_time / due if due else None,
            }
        return {
            "end": end,
            "windows": windows,
            "departments": departments,
            "weekly": weeks,
            "citywide": citywide,
            "target": self.policy.target,
            "min_count": self.policy.min_count,
        }


def span_words(seconds: float) -> str:
    """A duration for people, one wording for the whole public side: "45 minutes",
    "3 hours 20 minutes", "36 hours", "4 days", "5 months", "2.1 years"."""
    seconds = max(0.0, float(seconds))
    minutes = seconds / 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        n = round(minutes)
        return f"{n} minute{'s' if n != 1 else ''}"
    hours = minutes / 60
    if hours < 10:
        whole, rest = int(hours), round(minutes - 60 * int(hours))
        text = f"{whole} hour{'s' if whole != 1 else ''}"
        return text + (f" {rest} minute{'s' if rest != 1 else ''}" if rest else "")
    if hours < 48:
        n = round(hours)
        return f"{n} hours"
    days = hours / 24
    if days < 60:
        n = round(days)
        return f"{n} days"
    if days < 730:
        return f"{round(days / 30.44)} months"
    return f"{days / 365.25:.1f} years"


# -- wiring -----------------------------------------------------------------------------------------
#: The public Dash app's callback endpoint.
CALLBACK_PATH = "/public/_dash-update-component"
#: Paths the rate limit applies to: the API and the public Dash app's callbacks.
LIMITED_PREFIXES = ("/open311/", CALLBACK_PATH)
ASSETS = Path(__file__).with_name("assets")


def _is_limited() -> bool:
    import flask

    return flask.request.path.startswith(LIMITED_PREFIXES)


def _callback_over_the_limit(limit: Any) -> Any:
    """The answer to a portal callback over the rate limit (flask-limiter's ``on_breach``): 429
    with the Open311 API's JSON ``errors`` body instead of flask-limiter's HTML page, which the
    Dash renderer cannot read. The limiter adds ``Retry-After`` and the ``X-RateLimit-*``
    headers as to every limited response. Anything else (the API) gets None: its own error
    handler answers (``dashboard.open311.install_error_handlers``)."""
    import json

    import flask

    if not flask.request.path.startswith(CALLBACK_PATH):
        return None
    message = f"Too many requests: the limit is {limit.limit}. Try again later."
    body = json.dumps([{"code": 429, "description": message}])
    response = flask.Response(body, status=429, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _install_limiter(server: Any, config: PublicConfig) -> Any:
    import flask
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    @server.after_request
    def _retry_after_only_when_limited(response: flask.Response) -> flask.Response:
        # Registered before the limiter, so it runs after the limiter added its headers.
        if response.status_code not in (429, 503):  # (503: the store is busy with a load)
            response.headers.pop("Retry-After", None)
        return response

    return Limiter(
        get_remote_address,
        app=server,
        application_limits=[config.rate_limit],
        application_limits_exempt_when=lambda: not _is_limited(),
        storage_uri=config.redis_url or "memory://",
        headers_enabled=True,
        key_prefix="stat311-public",
        # A Redis outage must not take the public side down: count in memory meanwhile.
        swallow_errors=True,
        in_memory_fallback_enabled=bool(config.redis_url),
        on_breach=_callback_over_the_limit,
    )


def install_public(
    server: Any,
    *,
    settings: Settings,
    services: Any = None,
    config: PublicConfig | None = None,
) -> PublicData:
    """Mount the public side on ``server``: the Open311 API (``/open311/v2/``), the rate limit
    and the public Dash app (``/public/``). Called once by the app factory."""
    import dash

    from dashboard import open311

    config = config or PublicConfig.from_settings(settings)
    policy = services.policy if services is not None else load_policy(settings.sla_policy)
    data = PublicData(
        settings=settings,
        store=Store(settings.database_url),
        policy=policy,
        config=config,
        departments=services.departments if services is not None else None,
    )
    server.register_blueprint(open311.make_blueprint(data))
    open311.install_error_handlers(server)
    server.extensions["stat311_limiter"] = _install_limiter(server, config)
    server.extensions["stat311_public"] = data

    # The composition root of the public app, as the app factory is of the staff one: the UI
    # modules are imported here, never at the top of a dashboard module.
    layouts = importlib.import_module("layouts.public")
    callbacks = importlib.import_module("callbacks.public")
    previous_app = dash._get_app.APP  # a second Dash app must not become "the" app for the staff
    app = dash.Dash(
        __name__,
        server=server,
        url_base_pathname="/public/",
        use_pages=False,
        serve_locally=True,
        assets_folder=str(ASSETS),
        title="Track a 311 request",
        update_title=None,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"},
            {
                "name": "description",
                "content": "Track a 311 service request, public map and "
                "city performance. No personal data is published.",
            },
        ],
        index_string=layouts.INDEX_STRING,
    )
    dash._get_app.APP = previous_app
    app.layout = layouts.layout
    app.validation_layout = layouts.validation_layout()
    callbacks.register(app, data)
    server.extensions["stat311_public_app"] = app
    return data
