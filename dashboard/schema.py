"""The system of record: SQLAlchemy 2 Core tables for cases, runs, quarantine and boundaries.

The tables here are the source of truth for the Alembic migrations in ``dashboard/migrations``.
Spatial indexing is dialect specific and lives in the migration: an R*Tree virtual table kept in
step by triggers on SQLite, a generated PostGIS ``geometry(Point, 4326)`` column with a GiST index on
PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Canonical case fields, in order (see DESIGN.md, "Canonical case"). Area columns are per layer and
#: live in ``case_areas``; H3 columns are ``h3_7`` .. ``h3_10``.
CASE_FIELDS: tuple[str, ...] = (
    "source",
    "request_id",
    "service_code",
    "service_name",
    "service_group",
    "department",
    "status",
    "status_raw",
    "requested_at",
    "updated_at",
    "closed_at",
    "due_at",
    "channel",
    "description",
    "resolution",
    "address",
    "zipcode",
    "lat",
    "lon",
    "location_quality",
    "parent_request_id",
    "is_duplicate",
    "is_private",
)
H3_RESOLUTIONS: tuple[int, ...] = (7, 8, 9, 10)
H3_FIELDS: tuple[str, ...] = tuple(f"h3_{r}" for r in H3_RESOLUTIONS)
TIME_FIELDS: tuple[str, ...] = ("requested_at", "updated_at", "closed_at", "due_at")
#: Fields that can carry personal data: never on the public side.
INTERNAL_FIELDS: frozenset[str] = frozenset({"description", "resolution"})

STATUSES = ("open", "closed")
CHANNELS = ("phone", "web", "app", "employee", "social", "email", "walk_in", "other", "unknown")
LOCATION_QUALITIES = ("exact", "default_geocode", "outside_bounds", "missing")

ingestion_runs = Table(
    "ingestion_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("path", Text, nullable=False),
    Column("format", String(50), nullable=False),
    Column("file_sha256", String(64)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("read", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("quarantine_reasons", Text, nullable=False, default="{}"),  # JSON {reason: n}
    Column("seconds", Float),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("request_id", String(100), nullable=False),
    Column("service_code", String(200)),
    Column("service_name", String(200)),
    Column("service_group", String(200)),
    Column("department", String(200)),
    Column("status", String(10), nullable=False),
    Column("status_raw", String(100)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("channel", String(20), nullable=False),
    Column("description", Text),
    Column("resolution", Text),
    Column("address", Text),
    Column("zipcode", String(20)),
    Column("lat", Float),
    Column("lon", Float),
    Column("location_quality", String(20), nullable=False),
    Column("h3_7", BigInteger),
    Column("h3_8", BigInteger),
    Column("h3_9", BigInteger),
    Column("h3_10", BigInteger),
    Column("parent_request_id", String(100)),
    Column("is_duplicate", Boolean, nullable=False, default=False),
    Column("is_private", Boolean, nullable=False, default=False),
    Column("row_hash", String(32), nullable=False),
    Column("first_run_id", Integer, ForeignKey("ingestion_runs.id"), nullable=False),
    Column("last_run_id", Integer, ForeignKey("ingestion_runs.id"), nullable=False),
    UniqueConstraint("source", "request_id", name="uq_cases_source_request_id"),
    Index("ix_cases_requested_at", "requested_at"),
    Index("ix_cases_request_id", "request_id"),
    Index("ix_cases_last_run_id", "last_run_id"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("ingestion_runs.id"), nullable=False),
    Column("source", String(100), nullable=False),
    Column("line_number", Integer, nullable=False),
    Column("reason", String(100), nullable=False),
    Column("raw", Text, nullable=False),
    Column("raw_hash", String(32), nullable=False),
    UniqueConstraint("source", "raw_hash", "reason", name="uq_quarantine_source_raw"),
)

boundary_layers = Table(
    "boundary_layers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("name_field", String(100), nullable=False),
    Column("source_path", Text, nullable=False),
    Column("feature_count", Integer, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

boundary_areas = Table(
    "boundary_areas",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "layer_id", Integer, ForeignKey("boundary_layers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(200), nullable=False),
    Column("geometry", Text, nullable=False),  # GeoJSON geometry, EPSG:4326
    UniqueConstraint("layer_id", "name", name="uq_boundary_areas_layer_name"),
)

case_areas = Table(
    "case_areas",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "layer_id",
        Integer,
        ForeignKey("boundary_layers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("area", String(200)),
)

ROLES = ("department", "executive", "admin")

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("departments", Text, nullable=False, default="[]"),  # JSON list of department codes
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    # Sign-in sessions issued before this instant are over (set by a password reset and by
    # disabling the user; NULL: no restriction). See ``Users.session_user``.
    Column("sessions_valid_after", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("email", String(320)),
    Column("event", String(40), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),  # JSON
    Column("ip", String(64)),
    Index("ix_audit_log_at", "at"),
)
