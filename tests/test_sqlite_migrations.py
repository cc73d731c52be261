"""Commands started at once on a new SQLite store (every command migrates first: cron jobs, the
web workers, `make run`) all succeed, and a store already at the newest schema is not locked by
the check (so commands and workers start while a load holds the write lock). Real processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from dashboard.store import Store
from tests.support.migrations import migrate_after

WORKERS = 4


def test_first_migrations_at_the_same_time_on_sqlite(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):  # the race is a matter of timing: several fresh stores
        url = f"sqlite:///{tmp_path / f'store{attempt}.db'}"
        barrier = context.Barrier(WORKERS)
        workers = [
            context.Process(target=migrate_after, args=(url, barrier)) for _ in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0] * WORKERS, attempt
        store = Store(url)
        try:
            assert {"cases", "users", "audit_log"} <= set(
                sa.inspect(store.engine).get_table_names()
            )
            with store.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
        finally:
            store.dispose()


def test_a_store_at_the_newest_schema_migrates_while_a_load_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    revision = store.schema_revision()
    store.dispose()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # as a load does, for minutes
    try:
        started = time.perf_counter()
        again = Store(f"sqlite:///{path}")
        again.migrate()
        seconds = time.perf_counter() - started
        assert again.schema_revision() == revision
        again.dispose()
    finally:
        holder.rollback()
        holder.close()
    assert seconds < 5  # not the 30 s busy timeout
