"""``stat311 bench``: the PostgreSQL/PostGIS store (issue 8, item 7).

A throwaway PostgreSQL + PostGIS cluster (:func:`dashboard.pgcluster.throwaway_postgis`: initdb in a
temporary directory, a free 127.0.0.1 port, fsync off) receives the same generated CSV through the
normal loader, :func:`etl.load.load_file`, into a migrated store with the city's boundary layer
(snapshot included, end to end). Baseline: ``pandas.read_csv`` + ``DataFrame.to_sql`` (chunks of a
million rows) into a second database of the same cluster. Then the public lookup path,
:meth:`dashboard.public.PublicData.lookup`, is timed on the PostGIS store beside a plain
``SELECT`` by (source, request_id) through SQLAlchemy.

Without the PostgreSQL server binaries or PostGIS the figures are reported as not measured, with
the reason (``--no-postgis`` skips them).
"""

from __future__ import annotations

import contextlib
import gc
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from dashboard.bench import (
    LAYERS,
    Baseline,
    BenchContext,
    Figure,
    Measure,
    timed,
)
from dashboard.settings import Settings

BASELINE_DB = "stat311_bench_baseline"
LOOKUP_IDS = 50


def _not_measured(ctx: BenchContext, reason: str) -> list[Figure]:
    ctx.facts.setdefault("not_measured", []).append(
        {"figure": "PostgreSQL/PostGIS ingest and lookup", "reason": reason}
    )
    ctx.say("PostGIS figures not measured: %s", reason)
    return []


def postgis_figures(ctx: BenchContext) -> list[Figure]:
    from dashboard.pgcluster import PostgisUnavailable, throwaway_postgis

    if not ctx.postgis:
        return _not_measured(ctx, "skipped (--no-postgis)")
    if ctx.csv_path is None:
        raise RuntimeError("the PostGIS figures need the CSV the ingest figure generates")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgis("stat311_bench"))
        except PostgisUnavailable as exc:
            return _not_measured(ctx, str(exc))
        ingest, settings = _ingest(ctx, url)
        return [ingest, _lookup(ctx, settings)]


def _ingest(ctx: BenchContext, url: str) -> tuple[Figure, Settings]:
    from dashboard.snapshot import current_snapshot, read_manifest
    from dashboard.store import Store
    from etl.boundaries import add_layer
    from etl.load import load_file

    assert ctx.csv_path is not None
    run_dir = ctx.workdir / "postgis"
    run_dir.mkdir()
    settings = Settings.from_env(
        {},
        database_url=url,
        snapshot_dir=run_dir / "snapshots",
        batch_size=ctx.settings.batch_size,
        timezone=ctx.settings.timezone,
    )
    store = Store(url)
    try:
        store.migrate()
        layer, path, name_field = LAYERS[ctx.format]
        add_layer(
            path, layer=layer, name_field=name_field, store=store, settings=settings, snapshot=False
        )
        ctx.say("ingest into PostGIS %s", url)
        gc.collect()
        started = time.perf_counter()
        report = load_file(ctx.csv_path, store=store, settings=settings, progress=False)
        ours = Measure([(time.perf_counter() - started) * 1000.0])
        stored = store.count_cases()
    finally:
        store.dispose()
    snapshot = current_snapshot(settings.snapshot_dir)
    snapshot_rows = read_manifest(snapshot)["rows"] if snapshot else -1
    consistent = (
        report.read == ctx.cases
        and report.read
        == report.inserted + report.updated + report.unchanged + report.quarantined_total
        and stored == report.inserted
        and snapshot_rows == stored
    )
    ctx.say("baseline: pandas.read_csv + to_sql into PostgreSQL")
    base_url = _create_database(url, BASELINE_DB)
    gc.collect()
    started = time.perf_counter()
    baseline_rows = _pandas_to_postgres(ctx.csv_path, base_url)
    baseline = Baseline(
        "pandas.read_csv + DataFrame.to_sql (PostgreSQL)",
        Measure([(time.perf_counter() - started) * 1000.0]),
        equal=consistent and baseline_rows == ctx.cases,
        note="checked: report adds up, store and snapshot hold every inserted row; baseline "
        "table holds every row",
    )
    extra = {
        # the keys the table prints for the SQLite ingest too ("rows/s end to end", "of which")
        "rows_per_s": _rows_per_s(ctx.cases, ours),
        "baseline_rows_per_s": _rows_per_s(ctx.cases, baseline.measure),
        "report": report.as_json(),
        "stored": stored,
        "snapshot_rows": snapshot_rows,
    }
    description = (
        f"load_file of {ctx.cases:,} {ctx.format} rows into a fresh PostgreSQL/PostGIS store "
        "(boundary layer present), snapshot included"
    )
    return Figure("PostGIS ingest", description, ours, [baseline], extra=extra), settings


def _rows_per_s(rows: int, measure: Measure) -> int:
    return round(rows / (measure.median_ms / 1000.0))


def _create_database(url: str, name: str) -> str:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _pandas_to_postgres(csv_path: Any, url: str, *, chunk_rows: int = 1_000_000) -> int:
    """The naive baseline: ``pandas.read_csv`` + ``DataFrame.to_sql`` through SQLAlchemy."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for chunk in pd.read_csv(csv_path, chunksize=chunk_rows):
                chunk.to_sql("cases", engine, index=False, if_exists="append", chunksize=10_000)
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one())
    finally:
        engine.dispose()


def _lookup(ctx: BenchContext, settings: Settings) -> Figure:
    """PublicData.lookup on the PostGIS store, one id per run, beside a plain SELECT."""
    import sqlalchemy as sa

    from dashboard.public import PublicConfig, PublicData
    from dashboard.schema import cases
    from dashboard.sla import load_policy
    from dashboard.store import Store

    store = Store(settings.database_url)
    data = PublicData(
        settings=settings,
        store=store,
        policy=load_policy(settings.sla_policy),
        config=PublicConfig.from_settings(settings),
    )
    try:
        with store.connect() as conn:
            rows = conn.execute(
                sa.select(cases.c.source, cases.c.request_id)
                .where(cases.c.is_private == sa.false())
                .order_by(sa.func.md5(cases.c.request_id))
                .limit(LOOKUP_IDS)
            ).all()
        keys = [(str(s), str(r)) for s, r in rows]
        turn = {"ours": 0, "sql": 0}

        def nxt(who: str) -> tuple[str, str]:
            turn[who] += 1
            return keys[turn[who] % len(keys)]

        def ours() -> list:
            record = data.lookup(nxt("ours")[1])
            return [(str(record["request_id"]), record["service_name"], record["status"])]

        def sql() -> list:
            source, request_id = nxt("sql")
            with store.connect() as conn:
                row = conn.execute(
                    sa.select(cases.c.request_id, cases.c.service_name, cases.c.status).where(
                        cases.c.source == source, cases.c.request_id == request_id
                    )
                ).one()
            return [(str(row[0]), row[1], row[2])]

        runs = 2 * ctx.repeat  # lookups are quick: twice the runs for the p95
        ctx.say("lookup by id on PostGIS, %d runs", runs)
        # Exactly ``runs`` each (no extra runs for --min-seconds): the two cycle through the ids
        # in step, so their last results are for the same id.
        ours_m, ours_result = timed(ours, repeat=runs)
        sql_m, sql_result = timed(sql, repeat=runs)
    finally:
        store.dispose()
    return Figure(
        name="PostGIS public lookup by id",
        description="PublicData.lookup (the /public/requests/<id> and Open311 path) on the "
        f"PostGIS store, {len(keys)} sampled ids in turn",
        ours=ours_m,
        baselines=[
            Baseline(
                "SELECT by (source, request_id) via SQLAlchemy",
                sql_m,
                sql_result == ours_result,
            )
        ],
        extra={"lookups": runs, "p95_ms": round(float(np.percentile(ours_m.runs_ms, 95)), 3)},
    )
