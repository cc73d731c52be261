"""Settings, declared once as data.

Every setting is an environment variable with the ``STAT311_`` prefix. The table in the README's
"Settings" section is checked against :data:`SETTINGS` by a test, so a setting cannot be added without
being documented.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.errors import ConfigError

PREFIX = "STAT311_"


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _bounds(raw: str) -> tuple[float, float, float, float] | None:
    if not raw.strip():
        return None
    parts = [float(p) for p in raw.split(",")]
    if len(parts) != 4:
        raise ValueError("expected min_lon,min_lat,max_lon,max_lat")
    min_lon, min_lat, max_lon, max_lat = parts
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ValueError("expected min_lon < max_lon and min_lat < max_lat, in degrees")
    return (min_lon, min_lat, max_lon, max_lat)


def _points(raw: str) -> tuple[tuple[float, float], ...]:
    points = []
    for chunk in raw.split(";"):
        if not chunk.strip():
            continue
        lat, lon = (float(p) for p in chunk.split(","))
        points.append((lat, lon))
    return tuple(points)


def _database_url(raw: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(raw)  # raises ArgumentError on text that is no SQLAlchemy URL
    url.get_dialect()  # raises NoSuchModuleError on an unknown database (e.g. `nosuch://`)
    if url.get_backend_name() not in {"sqlite", "postgresql"}:  # e.g. mysql://, which loads
        raise ValueError(
            f"unsupported database {url.get_backend_name()!r}: use sqlite:///... or "
            "postgresql+psycopg://..."
        )
    return raw


def _timezone(raw: str) -> str:
    from zoneinfo import ZoneInfo

    ZoneInfo(raw)  # raises on an unknown zone
    return raw


def _level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _optional_path(raw: str) -> Path | None:
    return Path(raw) if raw.strip() else None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected 0 or a positive integer")
    return value


#: Boston's request types about a home, health or a named person (public side: no text, no address).
SENSITIVE_TYPES = (
    "Unsatisfactory Living Conditions,Squalid Living Conditions,Illegal Rooming House,"
    "Illegal Occupancy,Overcrowding,Student Overcrowding,Bed Bugs,Mice Infestation - Residential,"
    "Pest Infestation - Residential,Chronic Dampness/Mold,Heat - Excessive  Insufficient,Lead,"
    "Rat Bite,Breathe Easy,Heat/Fuel Assistance,No Utilities Residential - Water,"
    "No Utilities Residential - Electricity,No Utilities Residential - Gas,"
    "Maintenance Complaint - Residential,Unsatisfactory Utilities - Electrical  Plumbing,"
    "Rental Unit Delivery Conditions,General Comments For An Employee,Notification,"
    # New York (NYC 311 `Complaint Type`): HPD's housing conditions, complaints about a
    # neighbour or a person, and conditions inside a home.
    "HEAT/HOT WATER,UNSANITARY CONDITION,PAINT/PLASTER,PLUMBING,DOOR/WINDOW,WATER LEAK,"
    "ELECTRIC,GENERAL,FLOORING/STAIRS,APPLIANCE,SAFETY,ELEVATOR,OUTSIDE BUILDING,"
    "Noise - Residential,Drug Activity,Encampment,Homeless Person Assistance,"
    "Non-Emergency Police Matter,Animal-Abuse,Panhandling,Indoor Air Quality,Indoor Sewage,"
    "Unsanitary Animal Pvt Property,Illegal Animal Kept as Pet,Construction Lead Dust"
)


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, default, parser and documentation."""

    name: str
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "sqlite:///var/stat311.db",
        _database_url,
        "SQLAlchemy URL of the system of record. SQLite (default, a file under ./var/) or "
        "PostgreSQL/PostGIS (`postgresql+psycopg://user:pass@host/db`).",
    ),
    Setting(
        "snapshot_dir",
        "var/snapshots",
        Path,
        "Directory holding the Parquet snapshots the dashboard reads (the read model).",
    ),
    Setting(
        "timezone",
        "America/New_York",
        _timezone,
        "The city's IANA time zone: local times in exports are read in it, times are shown in it.",
    ),
    Setting(
        "city_bounds",
        "",
        _bounds,
        "`min_lon,min_lat,max_lon,max_lat`. Coordinates outside are dropped (case kept, flagged "
        "`outside_bounds`). Empty: the extent of the loaded boundary layers plus 0.02°, or no check "
        "when no layer is loaded.",
    ),
    Setting(
        "default_geocodes",
        "42.3594,-71.0587",
        _points,
        "`lat,lon;lat,lon` points that a source uses when it does not know the location "
        "(Boston City Hall by default). Cases there are flagged `default_geocode`.",
    ),
    Setting(
        "default_geocode_tolerance",
        "0.0001",
        float,
        "Distance in degrees within which a point counts as a default geocode.",
    ),
    Setting(
        "sla_policy",
        "",
        _optional_path,
        "Path of the SLA policy file (YAML). Empty: the example shipped in "
        "`dashboard/sla_policy.example.yaml`.",
    ),
    Setting(
        "department_names",
        "",
        _optional_path,
        "Path of the department names file (YAML, `CODE: Name`): the pages show each "
        "department's name beside its code. Empty: the example shipped in "
        "`dashboard/departments.example.yaml` (Boston's and New York's codes).",
    ),
    Setting("batch_size", "50000", _positive_int, "Rows per batch when loading a file."),
    Setting(
        "reader_process_mb",
        "32",
        _non_negative_int,
        "Files of at least this many MB are read and normalised in a second process while the "
        "first writes (on machines with more than one CPU; 0: every file).",
    ),
    Setting(
        "sources_file",
        "",
        _optional_path,
        "YAML file of the sources `stat311 refresh` pulls (Open311 and Socrata; see docs/PULL.md).",
    ),
    Setting(
        "socrata_app_token",
        "",
        str,
        "Socrata app token sent as `X-App-Token` by `stat311 pull socrata` (optional; raises the "
        "rate limit).",
    ),
    Setting(
        "public_sensitive_types",
        SENSITIVE_TYPES,
        str,
        "Comma-separated request types whose description and address are never published "
        "(about someone's home, health or a named person). The default is Boston's list.",
    ),
    Setting(
        "public_exact_types",
        "Street Light Outages,Request for Pothole Repair,Pothole Repair (Internal)",
        str,
        "Comma-separated infrastructure types shown at their exact location on the public side "
        "(all others are snapped to the centre of their ~100 m H3 cell).",
    ),
    Setting(
        "rate_limit",
        "120 per minute",
        str,
        "Rate limit per client address on the public API and portal (flask-limiter syntax, "
        "e.g. `10/second;1000/day`).",
    ),
    Setting(
        "redis_url",
        "",
        str,
        "Redis URL shared by all workers for the rate limiter's counters and the query cache "
        "(`redis://host:6379/0`). Empty: in memory, per worker.",
    ),
    Setting(
        "secret_key",
        "",
        str,
        "Key that signs session cookies. Required when `STAT311_PRODUCTION` is true (at least 32 characters); otherwise a "
        "random key is used and sign-ins end when the server restarts.",
    ),
    Setting(
        "production",
        "false",
        _bool,
        "Production mode: refuses to start without `STAT311_SECRET_KEY`, sends the session "
        "cookie only over HTTPS.",
    ),
    Setting("session_hours", "8", _positive_int, "Hours a sign-in lasts."),
    Setting(
        "lockout_attempts",
        "5",
        _positive_int,
        "Wrong passwords in a row that lock an account.",
    ),
    Setting("lockout_minutes", "15", _positive_int, "Minutes an account stays locked."),
    Setting(
        "sign_in_rate_limit",
        "10 per minute",
        str,
        "Sign-in attempts allowed per client address (flask-limiter syntax), whatever the "
        "account: with the per-account lockout, this bounds guessing one password across many "
        "accounts. Counted in Redis when `STAT311_REDIS_URL` is set.",
    ),
    Setting(
        "trusted_proxies",
        "0",
        _non_negative_int,
        "Reverse proxies in front of the app that add `X-Forwarded-For`/`-Proto`/`-Host` (e.g. 1 "
        "behind one nginx or load balancer). The client address that rate limits, lockouts and "
        "the audit log use is then read from those headers; 0 trusts none (a client could "
        "forge them). Behind a proxy with 0, every client shares the proxy's address and its "
        "limits.",
    ),
    Setting(
        "auth_header",
        "",
        str,
        "Reverse-proxy single sign-on: the name of a trusted header (e.g. `X-Remote-User`) that "
        "carries the signed-in user's e-mail. Off when empty. Only behind a proxy that sets it "
        "and strips it from clients' requests.",
    ),
    Setting(
        "cache_seconds",
        "3600",
        _positive_int,
        "How long dashboard query results stay cached (per query, parameters and snapshot; a new "
        "snapshot is never served from the cache). In process, or in Redis when "
        "`STAT311_REDIS_URL` is set.",
    ),
    Setting("log_level", "INFO", _level, "Logging level: DEBUG, INFO, WARNING or ERROR."),
    Setting("host", "127.0.0.1", str, "Address the development server listens on."),
    Setting("port", "8050", _port, "Port the development server listens on (1 to 65535)."),
    Setting("debug", "false", _bool, "Dash debug mode (never in production)."),
)


def format_value(value: Any) -> str:
    """A parsed value written back in the syntax its setting reads (what `stat311 settings`
    prints): ``lat,lon;lat,lon`` for points, ``a,b,c,d`` for bounds, ``true``/``false``, empty for
    none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        if all(isinstance(v, tuple) for v in value):  # points: lat,lon;lat,lon
            return ";".join(",".join(repr(float(c)) for c in point) for point in value)
        return ",".join(repr(float(v)) for v in value)  # bounds: min_lon,min_lat,max_lon,max_lat
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Settings:
    """Parsed settings. Build with :meth:`from_env`, override with keywords in tests."""

    database_url: str = "sqlite:///var/stat311.db"
    snapshot_dir: Path = Path("var/snapshots")
    timezone: str = "America/New_York"
    city_bounds: tuple[float, float, float, float] | None = None
    default_geocodes: tuple[tuple[float, float], ...] = ((42.3594, -71.0587),)
    default_geocode_tolerance: float = 0.0001
    sla_policy: Path | None = None
    department_names: Path | None = None
    batch_size: int = 50000
    reader_process_mb: int = 32
    sources_file: Path | None = None
    socrata_app_token: str = ""
    public_sensitive_types: str = SENSITIVE_TYPES
    public_exact_types: str = (
        "Street Light Outages,Request for Pothole Repair,Pothole Repair (Internal)"
    )
    rate_limit: str = "120 per minute"
    redis_url: str = ""
    secret_key: str = ""
    production: bool = False
    session_hours: int = 8
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    sign_in_rate_limit: str = "10 per minute"
    trusted_proxies: int = 0
    auth_header: str = ""
    cache_seconds: int = 3600
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8050
    debug: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every declared setting from ``environ`` (default ``os.environ``)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env, setting.default)
            try:
                values[setting.name] = setting.parse(raw)
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{setting.env}={raw!r} is invalid: {exc}") from exc
            except Exception as exc:  # e.g. ZoneInfoNotFoundError
                raise ConfigError(f"{setting.env}={raw!r} is invalid: {exc}") from exc
        values.update(overrides)
        return cls(**values)
