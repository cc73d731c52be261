"""Alembic environment: runs on the connection handed over by :class:`dashboard.store.Store`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from dashboard.schema import metadata

config = context.config
target_metadata = metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    """Leave the hand-written spatial objects (R*Tree tables, PostGIS column/index) alone."""
    if type_ == "table" and (name.startswith("cases_rtree") or name == "spatial_ref_sys"):
        return False
    return not (name in {"geom", "ix_cases_geom"} and reflected and compare_to is None)


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
