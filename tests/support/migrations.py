"""Processes that start at one instant, as commands on a new store do (every command migrates
first): the target of ``multiprocessing`` workers in the migration tests (SQLite and PostGIS)."""

from __future__ import annotations

from typing import Any

from dashboard.store import Store


def migrate_after(url: str, barrier: Any) -> None:
    """Connect to ``url``, wait at ``barrier`` for the other workers, then migrate."""
    import alembic.command  # noqa: F401 - imported (and connected) before the start line

    store = Store(url)
    store.engine.connect().close()
    barrier.wait(timeout=60)
    try:
        store.migrate()
    finally:
        store.dispose()
