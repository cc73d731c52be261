"""``stat311 bench``: performance figures beside a naive baseline measured in the same run.

``stat311 bench [--cases 1000000] [--json out.json] [--repeat R]`` generates N cases with
:mod:`etl.generate`, then measures, for each *figure*, the median and p95 of R timed runs (after one
untimed warm-up run) and the same for each of its baselines; the ratio is the baseline's median
divided by ours (how many times faster stat311 is: above 1 is faster). Results are compared with the
baselines' and a mismatch is reported (and makes the command fail): a benchmark that returns wrong
numbers is worthless.

Figures (more are added by appending a function to :data:`FIGURES`):

- ``ingest``: :func:`etl.load.load_file` of the generated CSV into a fresh default-style SQLite store
  (WAL, R*Tree; the city's bundled boundary layer added first, as ``stat311 demo`` does), snapshot
  included, end to end; baseline ``pandas.read_csv`` + ``DataFrame.to_sql`` into a fresh SQLite file.
- dashboard queries through :class:`dashboard.queries.ReadModel` (DuckDB over the Parquet snapshot):
  overview counts by week x department (all cases, and one department over the last 90 days), counts
  by type, and the filter options; baselines: the same aggregation as SQL ``GROUP BY`` on the SQLite
  store, and in pandas over a DataFrame already in memory.
- SLA queries (:class:`dashboard.sla.SlaEngine`) and Gi* on 50,000 cells (baseline esda).
- map views and their callbacks (:mod:`dashboard.bench_maps`): bytes sent (gzipped JSON) and the
  time of the department map, hot-spot, public map (area, cell, point) and public lookup callbacks,
  called as plain functions, beside SQL ``GROUP BY`` and pandas baselines of their aggregation.
- concurrency (:mod:`dashboard.bench_serve`): gunicorn with 2 workers serving the bench store to
  simulated signed-in users (page loads and Dash callbacks) for ``--concurrency-seconds``; requests,
  errors, p50/p95, and each worker's peak RSS (``--no-serve`` skips it).
- refresh: a later load of changed cases (1% of N, 1,000 to 10,000) into the bench store; the
  snapshot merged from the current one and the cases read again, beside the same snapshot written
  whole (both files' content hashes and row order compared).
- PostgreSQL/PostGIS (:mod:`dashboard.bench_postgis`): ingest of the same CSV into a throwaway
  cluster (baseline ``read_csv`` + ``to_sql``) and lookup by id (``--no-postgis`` skips it; without
  the server binaries it is reported as not measured).

Everything happens in a temporary directory that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from dashboard.argtypes import positive_count
from dashboard.periods import local_end
from dashboard.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
#: The boundary layer loaded into the benchmark store, per export format (name, file, name field).
LAYERS = {
    "boston": (
        "neighborhood",
        ROOT / "geodata" / "samples" / "boston_neighborhoods.geojson",
        "name",
    ),
    "nyc": (
        "community_district",
        ROOT / "tests" / "data" / "community_districts.geojson",
        "boro_cd",
    ),
}
ONE_MILLION = 1_000_000
TEN_MILLION = 10_000_000


# -- measurements -----------------------------------------------------------------------------
@dataclass
class Measure:
    """Timed runs of one thing, in milliseconds."""

    runs_ms: list[float]

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.runs_ms))

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.runs_ms, 95))


@dataclass
class Baseline:
    name: str
    measure: Measure
    equal: bool | None  # the baseline's result equals ours (None: not comparable)
    note: str = ""

    def ratio(self, ours: Measure) -> float:
        """Baseline median / our median, rounded as reported (3 decimals)."""
        return round(self.measure.median_ms / max(ours.median_ms, 1e-9), 3)


@dataclass
class Bar:
    """One bar from issue 8, checked against this run (``met`` None: not applicable here)."""

    text: str
    value: str
    met: bool | None


@dataclass
class Figure:
    name: str
    description: str
    ours: Measure
    baselines: list[Baseline] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        first = self.baselines[0] if self.baselines else None
        return {
            "name": self.name,
            "description": self.description,
            "median_ms": round(self.ours.median_ms, 3),
            "p95_ms": round(self.ours.p95_ms, 3),
            "runs_ms": [round(v, 3) for v in self.ours.runs_ms],
            "baseline": first.name if first else None,
            "baseline_median_ms": round(first.measure.median_ms, 3) if first else None,
            "ratio": first.ratio(self.ours) if first else None,
            "baselines": [
                {
                    "name": b.name,
                    "median_ms": round(b.measure.median_ms, 3),
                    "p95_ms": round(b.measure.p95_ms, 3),
                    "runs_ms": [round(v, 3) for v in b.measure.runs_ms],
                    "ratio": b.ratio(self.ours),
                    "equal": b.equal,
                    "note": b.note,
                }
                for b in self.baselines
            ],
            "bars": [{"bar": b.text, "value": b.value, "met": b.met} for b in self.bars],
            "extra": self.extra,
        }


#: What :func:`timed` does around a figure's runs (recorded in the JSON's facts).
TIMING_METHOD = (
    "warm-up, then gc.collect() and gc.freeze() once, then the timed runs (collector on): "
    "--repeat runs (stat311's own figures at least 20, for their p95), and more until they add "
    "up to --min-seconds (at most 200)"
)
#: The most timed runs :func:`timed` makes to reach its ``min_seconds``.
MAX_TIMED_RUNS = 200
#: ``stat311 bench --min-seconds`` default.
MIN_TIMED_SECONDS = 0.5
#: The fewest timed runs of each of stat311's own figures, whose p95 has a bar: the p95 of
#: fewer runs is their slowest run or near it (of 7 runs, 0.7 of the way from the 6th to the
#: 7th), so one pause of the machine set it (the twelfth session's 10M run: the overview of all
#: weeks, 7 runs, one of 236.4 ms against a median of 40.3). Of 20 runs, the p95 lies between
#: the 19th and the 20th, as a 95th percentile should: one slow run in 20 is what it allows.
MIN_RUNS_FOR_P95 = 20


def timed(
    fn: Callable[[], Any],
    *,
    repeat: int,
    warmup: int = 1,
    min_seconds: float = 0.0,
    min_runs: int = 0,
) -> tuple[Measure, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed (at least ``min_runs``:
    :data:`MIN_RUNS_FOR_P95` for stat311's own figures), and more until the timed runs add up to
    ``min_seconds`` (at most :data:`MAX_TIMED_RUNS` runs); the last result.

    The extra runs are for quick figures: the median and p95 of ten runs of a 5 ms callback
    moved by a third between two bench runs (the public map by area at 10M cases: 4.8 and
    6.5 ms), and a slow figure (a 40 ms SQL baseline) gets fewer extra runs than a quick one, so
    every figure, ours or a baseline, is timed over about the same wall time.

    Python's garbage is collected once, before the timed runs, which then run as a serving
    worker's requests do (the collector on). Collecting before every run, as the bench did until
    2026-11-26, also empties CPython's free lists and hands memory back, which the next run
    then pays for: the public map by area at 10M cases took 8.2 ms that way against 4.3 ms, its
    SQL baseline 46.2 against 42.7 ms (docs/BENCHMARKS-HISTORY.md, fourth session). What is
    alive then is frozen (``gc.freeze``) for the timed runs, so a collection during a run walks
    what the runs created, not the bench's own data (its baselines' frames), which a web worker does not
    hold. Without the freeze, one of ten runs of the public map by point at 1M cases took
    115.1 ms against a median of 42.4 ms."""
    result = None
    for _ in range(warmup):
        result = fn()
    gc.collect()
    gc.freeze()
    runs = []
    try:
        spent = 0.0
        least = max(repeat, min_runs)
        while len(runs) < least or (spent < min_seconds and len(runs) < MAX_TIMED_RUNS):
            started = time.perf_counter()
            result = fn()
            took = time.perf_counter() - started
            runs.append(took * 1000.0)
            spent += took
    finally:
        gc.unfreeze()
    return Measure(runs), result


@dataclass
class BenchContext:
    """What the figure functions share. Figures run in order; later ones may use earlier state."""

    cases: int
    repeat: int
    ingest_repeat: int
    format: str
    seed: int
    workdir: Path
    settings: Settings
    csv_path: Path | None = None
    store_settings: Settings | None = None  # the store the queries run on (set by ingest)
    facts: dict[str, Any] = field(default_factory=dict)
    concurrency_seconds: float = 60.0  # load generator duration (0: no gunicorn run)
    concurrency_users: int = 20
    postgis: bool = True  # measure the PostgreSQL/PostGIS store
    min_seconds: float = 0.0  # timed runs of a figure go on until they add up to this

    def say(self, message: str, *args: Any) -> None:
        log.info("bench: " + message, *args)


# -- ingest -----------------------------------------------------------------------------------
def _fresh_store(ctx: BenchContext, name: str) -> Settings:
    from dashboard.store import Store
    from etl.boundaries import add_layer

    run_dir = ctx.workdir / name
    run_dir.mkdir()
    settings = Settings.from_env(
        {},
        database_url=f"sqlite:///{run_dir / 'stat311.db'}",
        snapshot_dir=run_dir / "snapshots",
        batch_size=ctx.settings.batch_size,
        timezone=ctx.settings.timezone,
    )
    store = Store(settings.database_url)
    store.migrate()
    layer, path, name_field = LAYERS[ctx.format]
    add_layer(
        path, layer=layer, name_field=name_field, store=store, settings=settings, snapshot=False
    )
    store.dispose()
    return settings


def figure_ingest(ctx: BenchContext) -> list[Figure]:
    from dashboard.snapshot import current_snapshot, read_manifest
    from dashboard.store import Store
    from etl.generate import generate
    from etl.load import load_file

    ctx.csv_path = ctx.workdir / f"{ctx.format}_{ctx.cases}.csv"
    ctx.say("generating %s %s cases", f"{ctx.cases:,}", ctx.format)
    gen = generate(ctx.cases, ctx.csv_path, format=ctx.format, seed=ctx.seed)
    ctx.facts["generate"] = {
        "seconds": round(gen.seconds, 3),
        "bytes": gen.bytes,
        "malformed": gen.malformed,
        "rows_per_s": round(gen.rows / gen.seconds),
    }
    ctx.say("%s", gen.summary())

    runs: list[float] = []
    reports = []
    previous: Path | None = None
    for attempt in range(ctx.ingest_repeat):
        settings = _fresh_store(ctx, f"store{attempt}")
        store = Store(settings.database_url)
        ctx.say("ingest %d/%d into %s", attempt + 1, ctx.ingest_repeat, settings.database_url)
        gc.collect()
        started = time.perf_counter()
        report = load_file(ctx.csv_path, store=store, settings=settings, progress=False)
        runs.append((time.perf_counter() - started) * 1000.0)
        reports.append((report, store.count_cases()))
        store.dispose()
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)  # keep only the newest store on disk
        previous = Path(str(settings.snapshot_dir)).parent
        ctx.store_settings = settings
    assert ctx.store_settings is not None
    report, stored = reports[-1]
    snapshot = current_snapshot(ctx.store_settings.snapshot_dir)
    snapshot_rows = read_manifest(snapshot)["rows"] if snapshot else -1
    consistent = all(
        r.read == ctx.cases
        and r.read == r.inserted + r.updated + r.unchanged + r.quarantined_total
        and n == r.inserted
        and r.quarantined == {k: v for k, v in gen.malformed.items() if v}
        for r, n in reports
    ) and (snapshot_rows == stored)

    baseline_runs: list[float] = []
    baseline_rows = []
    for attempt in range(ctx.ingest_repeat):
        path = ctx.workdir / f"baseline{attempt}.sqlite"
        gc.collect()
        started = time.perf_counter()
        rows = _pandas_ingest(ctx.csv_path, path)
        baseline_runs.append((time.perf_counter() - started) * 1000.0)
        baseline_rows.append(rows)
        path.unlink()
    ours = Measure(runs)
    baseline = Baseline(
        "pandas.read_csv + DataFrame.to_sql (SQLite)",
        Measure(baseline_runs),
        equal=consistent and all(r == ctx.cases for r in baseline_rows),
        note="checked: report adds up, malformed rows quarantined with their reasons, store and "
        "snapshot hold every other row; baseline table holds every row",
    )
    rate = ctx.cases / (ours.median_ms / 1000.0)
    base_rate = ctx.cases / (baseline.measure.median_ms / 1000.0)
    figure = Figure(
        name="ingest",
        description=f"load_file of {ctx.cases:,} {ctx.format} rows into a fresh SQLite store "
        "(boundary layer present), snapshot included",
        ours=ours,
        baselines=[baseline],
        extra={
            "rows_per_s": round(rate),
            "baseline_rows_per_s": round(base_rate),
            "report": report.as_json(),
            "store_bytes": _size(Path(str(ctx.store_settings.database_url)[len("sqlite:///") :])),
            "snapshot_bytes": _size(snapshot) if snapshot else 0,
        },
    )
    if ctx.cases >= ONE_MILLION:
        ratio = baseline.ratio(ours)
        figure.bars = [Bar(">= 5x the baseline's speed", fmt_ratio(ratio), ratio >= 5)]
        if ctx.cases < TEN_MILLION:  # the rate bar is set at 1M rows
            figure.bars.insert(
                0,
                Bar(
                    ">= 100,000 rows/s end to end at 1M rows",
                    f"{rate:,.0f} rows/s",
                    rate >= 100_000,
                ),
            )
    return [figure]


def _pandas_ingest(csv_path: Path, db_path: Path, *, chunk_rows: int = 1_000_000) -> int:
    """The naive baseline: ``pandas.read_csv`` + ``DataFrame.to_sql``, in chunks of a million
    rows (reading 10M rows at once took more than the machine's 24 GB)."""
    con = sqlite3.connect(db_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for chunk in pd.read_csv(csv_path, chunksize=chunk_rows):
                chunk.to_sql("cases", con, index=False, if_exists="append")
        con.commit()
        return int(con.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        con.close()


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    total = path.stat().st_size if path.exists() else 0
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        total += extra.stat().st_size if extra.exists() else 0
    return total


# -- dashboard queries ---------------------------------------------------------------------------
SQL_BASELINE = "SQL GROUP BY on the SQLite store"
PANDAS_BASELINE = "pandas over a DataFrame in memory"
Row = tuple[Any, ...]


def _canon(rows: Sequence[Sequence[Any]]) -> list[Row]:
    """Rows as sorted tuples of plain values (dates as ISO text, NaN/NaT as None)."""

    def value(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            return None
        if isinstance(v, pd.Timestamp | datetime):
            return v.date().isoformat()
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, np.integer):
            return int(v)
        return v

    out = [tuple(value(v) for v in row) for row in rows]
    return sorted(out, key=lambda r: tuple((v is None, "" if v is None else v) for v in r))


def _frame_rows(frame: pd.DataFrame) -> list[Row]:
    return _canon(list(frame.itertuples(index=False, name=None)))


@contextmanager
def _local_time(zone: str) -> Iterator[None]:
    """SQLite's ``'localtime'`` modifier reads the process time zone: set it to the city's."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def _utc_text(day: date, zone: str) -> str:
    """Local midnight of ``day`` as the store's UTC text (comparable as a string)."""
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    return local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S.%f")


_SQL_WEEK = "date(requested_at, 'localtime', 'weekday 0', '-6 days')"


@dataclass
class QueryCase:
    """One dashboard query: ours through the ReadModel, and the two baselines."""

    name: str
    description: str
    ours: Callable[[Any], Any]  # (ReadModel) -> result
    sql: Callable[[sqlite3.Connection], Any]
    pandas: Callable[[pd.DataFrame], Any]
    canon: Callable[[Any], Any]  # result of any of the three -> comparable value


def _options_canon(result: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (
            {k: list(v) for k, v in sorted(value.items())}
            if isinstance(value, dict)
            else list(value)
            if isinstance(value, list)
            else _canon([[value]])[0][0]
        )
        for key, value in sorted(result.items())
    }


def query_cases(
    *, zone: str, layer: str, department: str, start: date, end: date
) -> list[QueryCase]:
    """The dashboard queries measured, with their SQL and pandas equivalents."""
    from dashboard.queries import CaseFilter

    area_col = f"area_{layer}"
    utc_start, utc_end = _utc_text(start, zone), _utc_text(end + timedelta(days=1), zone)
    flt = CaseFilter(start=start, end=end, departments=(department,))

    def week(frame: pd.DataFrame) -> pd.Series:
        return frame["requested_local"].dt.to_period("W").dt.start_time.rename("period")

    def pandas_week_department(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.groupby([week(frame), "department"], dropna=False).size().reset_index()

    def pandas_week_department_filtered(frame: pd.DataFrame) -> pd.DataFrame:
        t = frame["requested_local"]
        part = frame[
            (frame["department"] == department)
            & (t >= pd.Timestamp(start))
            & (t < pd.Timestamp(end + timedelta(days=1)))
        ]
        return pandas_week_department(part)

    def sql_options(con: sqlite3.Connection) -> dict[str, Any]:
        def distinct(column: str) -> list[str]:
            sql = f"SELECT DISTINCT {column} FROM cases WHERE {column} IS NOT NULL ORDER BY 1"  # noqa: S608
            return [r[0] for r in con.execute(sql)]

        areas = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT a.area FROM case_areas a JOIN boundary_layers l "
                "ON l.id = a.layer_id WHERE l.name = ? AND a.area IS NOT NULL ORDER BY 1",
                [layer],
            )
        ]
        low, high, rows = con.execute(
            "SELECT date(min(requested_at), 'localtime'), date(max(requested_at), 'localtime'), "
            "count(*) FROM cases"
        ).fetchone()
        return {
            "departments": distinct("department"),
            "types": distinct("service_name"),
            "statuses": distinct("status"),
            "channels": distinct("channel"),
            "layers": {layer: areas},
            "min_date": low,
            "max_date": high,
            "rows": rows,
        }

    def pandas_options(frame: pd.DataFrame) -> dict[str, Any]:
        def distinct(column: str) -> list[str]:
            return sorted(frame[column].dropna().unique().tolist())

        return {
            "departments": distinct("department"),
            "types": distinct("service_name"),
            "statuses": distinct("status"),
            "channels": distinct("channel"),
            "layers": {layer: distinct(area_col)},
            "min_date": frame["requested_local"].min().date(),
            "max_date": frame["requested_local"].max().date(),
            "rows": len(frame),
        }

    return [
        QueryCase(
            name="overview: week x department, all",
            description="ReadModel.counts(CaseFilter(), by=department, period=week)",
            ours=lambda rm: rm.counts(CaseFilter(), by=("department",), period="week"),
            sql=lambda con: con.execute(
                f"SELECT {_SQL_WEEK} AS period, department, count(*) FROM cases "  # noqa: S608
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall(),
            pandas=pandas_week_department,
            canon=lambda r: _frame_rows(r) if isinstance(r, pd.DataFrame) else _canon(r),
        ),
        QueryCase(
            name=f"overview: week x department, {department}, 90 days",
            description=f"counts for department {department}, {start}..{end} (local dates)",
            ours=lambda rm: rm.counts(flt, by=("department",), period="week"),
            sql=lambda con: con.execute(
                f"SELECT {_SQL_WEEK} AS period, department, count(*) FROM cases "  # noqa: S608
                "WHERE department = ? AND requested_at >= ? AND requested_at < ? "
                "GROUP BY 1, 2 ORDER BY 1, 2",
                [department, utc_start, utc_end],
            ).fetchall(),
            pandas=pandas_week_department_filtered,
            canon=lambda r: _frame_rows(r) if isinstance(r, pd.DataFrame) else _canon(r),
        ),
        QueryCase(
            name="counts by type",
            description="ReadModel.counts(CaseFilter(), by=type, period=None)",
            ours=lambda rm: rm.counts(CaseFilter(), by=("type",), period=None),
            sql=lambda con: con.execute(
                "SELECT service_name, count(*) FROM cases GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            pandas=lambda f: f.groupby("service_name", dropna=False).size().reset_index(),
            canon=lambda r: _frame_rows(r) if isinstance(r, pd.DataFrame) else _canon(r),
        ),
        QueryCase(
            name="filter options",
            description="ReadModel.options(): distinct departments, types, statuses, channels, "
            "areas; date span; row count",
            ours=lambda rm: rm.options(),
            sql=sql_options,
            pandas=pandas_options,
            canon=_options_canon,
        ),
    ]


def figure_queries(ctx: BenchContext) -> list[Figure]:
    from dashboard.queries import CaseFilter, ReadModel
    from dashboard.snapshot import CASES_FILE, current_snapshot

    settings = ctx.store_settings
    if settings is None:
        raise RuntimeError("the query figures need the store the ingest figure builds")
    layer = LAYERS[ctx.format][0]
    model = ReadModel(settings.snapshot_dir)
    opts = model.options()
    end = opts["max_date"]
    start = end - timedelta(days=89)
    top = model.counts(CaseFilter(), by=("department",), period=None)
    department = str(top.sort_values("count", ascending=False)["department"].iloc[0])
    cases = query_cases(
        zone=settings.timezone, layer=layer, department=department, start=start, end=end
    )
    snapshot = current_snapshot(settings.snapshot_dir)
    assert snapshot is not None
    columns = ["requested_local", "department", "service_name", "status", "channel"]
    frame = pd.read_parquet(snapshot / CASES_FILE, columns=[*columns, f"area_{layer}"])
    ctx.facts["pandas_frame_bytes"] = int(frame.memory_usage(deep=True).sum())
    db_path = str(settings.database_url)[len("sqlite:///") :]
    con = sqlite3.connect(db_path)
    figures = []
    try:
        for case in cases:
            ctx.say("query %r", case.name)
            ours, ours_result = timed(
                lambda c=case: c.ours(model),
                repeat=ctx.repeat,
                min_seconds=ctx.min_seconds,
                min_runs=MIN_RUNS_FOR_P95,
            )
            with _local_time(settings.timezone):
                sql, sql_result = timed(
                    lambda c=case: c.sql(con), repeat=ctx.repeat, min_seconds=ctx.min_seconds
                )
            pds, pandas_result = timed(
                lambda c=case: c.pandas(frame), repeat=ctx.repeat, min_seconds=ctx.min_seconds
            )
            want = case.canon(ours_result)
            figure = Figure(
                name=case.name,
                description=case.description,
                ours=ours,
                baselines=[
                    Baseline(SQL_BASELINE, sql, case.canon(sql_result) == want),
                    Baseline(PANDAS_BASELINE, pds, case.canon(pandas_result) == want),
                ],
                extra={"result_rows": _result_size(ours_result)},
            )
            figure.bars = _query_bars(ctx.cases, figure)
            figures.append(figure)
    finally:
        con.close()
    return figures


def _result_size(result: Any) -> int:
    if isinstance(result, pd.DataFrame):
        return len(result)
    if isinstance(result, dict):
        return sum(len(v) for v in result.values() if isinstance(v, list | dict))
    return 1


def _query_bars(cases: int, figure: Figure) -> list[Bar]:
    median, p95 = figure.ours.median_ms, figure.ours.p95_ms
    bars = []
    if cases >= TEN_MILLION:
        sql = figure.baselines[0]
        bars.append(Bar("median <= 400 ms at 10M", f"{median:.1f} ms", median <= 400))
        ratio = sql.ratio(figure.ours)
        bars.append(Bar(">= 10x faster than SQL GROUP BY at 10M", fmt_ratio(ratio), ratio >= 10))
    elif cases >= ONE_MILLION:
        bars.append(Bar("median <= 100 ms at 1M", f"{median:.1f} ms", median <= 100))
    if cases >= ONE_MILLION:
        bars.append(Bar("p95 <= 2x median", f"{p95 / median:.2f}x", p95 <= 2 * median))
    return bars


def _sla_bars(cases: int, figure: Figure) -> list[Bar]:
    """Issue 3's bar at 1M; at 10M these are dashboard callbacks like the rest (issue 8)."""
    if cases >= TEN_MILLION:
        return _query_bars(cases, figure)
    median, p95 = figure.ours.median_ms, figure.ours.p95_ms
    bars = []
    if cases >= ONE_MILLION:
        bars.append(Bar("median <= 150 ms at 1M (issue 3)", f"{median:.1f} ms", median <= 150))
        bars.append(Bar("p95 <= 2x median", f"{p95 / median:.2f}x", p95 <= 2 * median))
    return bars


def figure_sla(ctx: BenchContext) -> list[Figure]:
    """The SLA queries behind the overview cards and the department page's types table: ours
    (SlaEngine over the snapshot) beside the same aggregation as SQL GROUP BY on the SQLite store
    and in pandas over a DataFrame in memory. The due times the engine uses (source or policy) are
    copied into the store as a table ``bench_sla_due`` first (untimed), so all three compute the
    same thing."""
    from dashboard.queries import CaseFilter, ReadModel
    from dashboard.sla import SlaEngine, load_policy
    from dashboard.snapshot import CASES_FILE, current_snapshot

    settings = ctx.store_settings
    if settings is None:
        raise RuntimeError("the SLA figures need the store the ingest figure builds")
    zone = settings.timezone
    model = ReadModel(settings.snapshot_dir)
    engine = SlaEngine(model, load_policy(settings.sla_policy), zone)
    last = model.options()["max_date"]
    end = last.replace(day=1) - timedelta(days=1)  # the last full month
    start = end.replace(day=1)
    as_of = pd.Timestamp(local_end(last, zone))
    snapshot = current_snapshot(settings.snapshot_dir)
    assert snapshot is not None
    frame = pd.read_parquet(
        snapshot / CASES_FILE,
        columns=["id", "department", "service_name", "closed_at", "sla_due_at", "sla_due_local",
                 "is_duplicate"],
    )  # fmt: skip
    top = frame["department"].value_counts().index[0]
    db_path = str(settings.database_url)[len("sqlite:///") :]
    con = sqlite3.connect(db_path)
    due_text = frame["sla_due_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    con.execute("DROP TABLE IF EXISTS bench_sla_due")
    con.execute("CREATE TABLE bench_sla_due (case_id INTEGER PRIMARY KEY, due TEXT)")
    con.executemany(
        "INSERT INTO bench_sla_due VALUES (?, ?)",
        [
            (int(i), d)
            for i, d in zip(frame["id"], due_text.astype(object).where(due_text.notna(), None),
                            strict=True)
            if d is not None
        ],
    )  # fmt: skip
    con.commit()
    lo, hi = _utc_text(start, zone), _utc_text(end + timedelta(days=1), zone)
    now = as_of.strftime("%Y-%m-%d %H:%M:%S.%f")

    def sql(group: str, department: str | None) -> list[Row]:
        where = "AND c.department = ?" if department else ""
        params = [now, lo, hi, *([department] if department else [])]
        return con.execute(
            f"SELECT c.{group}, "  # noqa: S608 - group is one of two column names
            "sum(CASE WHEN c.closed_at IS NOT NULL OR d.due <= ? THEN 1 ELSE 0 END), "
            "sum(CASE WHEN c.closed_at IS NOT NULL AND c.closed_at <= d.due THEN 1 ELSE 0 END) "
            "FROM cases c JOIN bench_sla_due d ON d.case_id = c.id "
            f"WHERE d.due >= ? AND d.due < ? AND NOT c.is_duplicate {where} "
            f"GROUP BY c.{group}",
            params,
        ).fetchall()

    def pandas(group: str, department: str | None) -> list[Row]:
        f = frame
        if department:
            f = f[f["department"] == department]
        local = f["sla_due_local"]
        f = f[(local >= pd.Timestamp(start)) & (local < pd.Timestamp(end + timedelta(days=1)))]
        f = f[~f["is_duplicate"]]
        closed = f["closed_at"].notna()
        decided = closed | (f["sla_due_at"] <= as_of)
        on_time = closed & (f["closed_at"] <= f["sla_due_at"])
        out = pd.DataFrame({"g": f[group], "due": decided, "on_time": on_time})
        out = out.groupby("g").sum().reset_index()
        return _canon(list(out.itertuples(index=False, name=None)))

    def canon(result: Any) -> list[Row]:
        if isinstance(result, pd.DataFrame):
            part = result[result["due"] > 0][["group", "due", "on_time"]]
            return _canon(list(part.itertuples(index=False, name=None)))
        return _canon([r for r in result if r[1]])

    cases = [
        (
            "stat meeting: SLA by department, one month",
            f"SlaEngine.report(by=department) for {start}..{end}",
            lambda: engine.report(start=start, end=end, by="department", as_of=as_of),
            "department",
            None,
        ),
        (
            f"department page: SLA by type, {top}, one month",
            f"SlaEngine.report(by=type, department {top}) for {start}..{end}",
            lambda: engine.report(
                start=start, end=end, by="type", flt=CaseFilter(departments=(top,)), as_of=as_of
            ),
            "service_name",
            top,
        ),
    ]
    figures = []
    try:
        for name, description, ours_fn, group, department in cases:
            ctx.say("query %r", name)
            ours, ours_result = timed(
                ours_fn,
                repeat=ctx.repeat,
                min_seconds=ctx.min_seconds,
                min_runs=MIN_RUNS_FOR_P95,
            )
            figure = _beside_sla_baselines(
                ctx,
                name=name,
                description=description,
                ours=ours,
                want=canon(ours_result),
                baselines=[(label, functools.partial(fn, group, department)) for label, fn in
                           ((SQL_BASELINE, sql), (PANDAS_BASELINE, pandas))],
                canon=canon,
            )  # fmt: skip
            figure.bars = _sla_bars(ctx.cases, figure)
            figures.append(figure)
        figures += _page_callbacks(
            ctx, start=start, as_of=as_of, top=top, sql=sql, pandas=pandas, canon=canon
        )
    finally:
        con.execute("DROP TABLE IF EXISTS bench_sla_due")
        con.commit()
        con.close()
    return figures


def _beside_sla_baselines(
    ctx: BenchContext,
    *,
    name: str,
    description: str,
    ours: Measure,
    want: list[Row],
    baselines: Sequence[tuple[str, Callable[[], Any]]],
    canon: Callable[[Any], list[Row]],
) -> Figure:
    """A figure of ``ours`` beside each (label, baseline), timed now; a baseline is equal when
    its result made ``canon`` is ``want``."""
    measured = []
    for label, fn in baselines:
        measure, result = timed(fn, repeat=ctx.repeat, min_seconds=ctx.min_seconds)
        measured.append(Baseline(label, measure, canon(result) == want))
    return Figure(
        name=name,
        description=description,
        ours=ours,
        baselines=measured,
        extra={"result_rows": len(want)},
    )


def _page_callbacks(
    ctx: BenchContext,
    *,
    start: date,
    as_of: pd.Timestamp,
    top: str,
    sql: Callable[[str, str | None], list[Row]],
    pandas: Callable[[str, str | None], list[Row]],
    canon: Callable[[Any], list[Row]],
) -> list[Figure]:
    """The Overview's and a department page's whole callbacks for the last full month, called
    as plain functions (``callbacks.overview.overview_view``, ``callbacks.department.
    department_view``): every report, series, figure and table the page shows, not only the
    SLA report the figures above time. The baselines are those figures' own (the due and on
    time counts per department, and per type of the department, as SQL ``GROUP BY`` and in
    pandas), compared with what the page's cards and types table show."""
    from callbacks import department as department_cb
    from callbacks import overview as overview_cb
    from dashboard import department as dept
    from dashboard.periods import from_query
    from dashboard.services import Services

    assert ctx.store_settings is not None
    services = Services.from_settings(ctx.store_settings)
    query = f"?period=month&date={start.isoformat()}"
    period = from_query(query, default_anchor=start)
    scope, _ = department_cb.resolve(services, top, query, as_of=as_of)
    assert scope is not None

    def cards() -> list[Row]:
        model = overview_cb.overview_model(services, period, [], as_of=as_of)
        return _canon([(c["department"], c["due"], c["on_time"]) for c in model["cards"]])

    def types() -> list[Row]:
        frame = dept.types_report(services, scope)
        part = frame[frame["due"] > 0][["group", "due", "on_time"]]
        return _canon(list(part.itertuples(index=False, name=None)))

    pages = [
        (
            "overview page callback: all departments, one month",
            f"callbacks.overview.overview_view({query!r}): four SLA reports (this and the "
            "previous month, by department and by department and type), 26 weeks of "
            "compliance and volume, the cards, chart, table and changes",
            lambda: overview_cb.overview_view(services, query, as_of=as_of),
            cards,
            "department",
            None,
        ),
        (
            f"department page callback: {top}, one month",
            f"callbacks.department.department_view({top!r}, {query!r}): the heading's "
            "report and previous month, the types report, weekly series of the busiest "
            "types, open-case ageing and overdue count, the charts and tables",
            lambda: department_cb.department_view(services, top, query, as_of=as_of),
            types,
            "service_name",
            top,
        ),
    ]
    figures = []
    for name, description, run, shown, group, department in pages:
        ctx.say("callback %r", name)
        ours, _ = timed(
            run, repeat=ctx.repeat, min_seconds=ctx.min_seconds, min_runs=MIN_RUNS_FOR_P95
        )
        figure = _beside_sla_baselines(
            ctx,
            name=name,
            description=description,
            ours=ours,
            want=canon(shown()),
            baselines=[(label, functools.partial(fn, group, department)) for label, fn in
                       ((SQL_BASELINE, sql), (PANDAS_BASELINE, pandas))],
            canon=canon,
        )  # fmt: skip
        figure.bars = _query_bars(ctx.cases, figure)
        figures.append(figure)
    return figures


def figure_gi_star(ctx: BenchContext) -> list[Figure]:
    """Gi* (analytic z, binary k-ring weights, k = 2) on 50,000 H3 cells beside esda's
    ``G_Local(star=True)`` on the same weights and values; the z-scores must agree to 1e-9."""
    from esda.getisord import G_Local
    from libpysal.weights import W

    from dashboard import hotspots

    n_cells = 50_000
    origin = hotspots.h3i.latlng_to_cell(42.32, -71.08, 10)
    radius = int(np.ceil((-3 + np.sqrt(9 + 12 * (n_cells - 1))) / 6))
    cells = np.array(hotspots.h3i.grid_disk(origin, radius), dtype=np.int64)[:n_cells]
    grid = hotspots.HexGrid(cells)
    weights = grid.weights(2)
    x = np.log1p(np.random.default_rng(1).poisson(2.0, grid.n).astype(np.float64))
    ctx.say("Gi* on %s cells", f"{grid.n:,}")
    ours, z = timed(
        lambda: hotspots.gi_star(x, weights),
        repeat=max(ctx.repeat, 7),
        min_seconds=ctx.min_seconds,
    )
    wl = W(grid.neighbour_lists(2), silence_warnings=True)
    esda_m, ref = timed(
        lambda: G_Local(x, wl, transform="B", star=True, permutations=0),
        repeat=3,
    )
    diff = float(np.max(np.abs(ref.Zs - z)))
    figure = Figure(
        name=f"Gi* on {grid.n:,} cells",
        description="dashboard.hotspots.gi_star (sparse, analytic z), k = 2",
        ours=ours,
        baselines=[
            Baseline(
                "esda.G_Local(star=True), analytic",
                esda_m,
                diff < 1e-9,
                note=f"max |z difference| {diff:.1e}",
            )
        ],
        extra={"cells": grid.n, "max_abs_z_diff": diff},
    )
    ratio = figure.baselines[0].ratio(ours)
    figure.bars = [
        Bar("median <= 50 ms on 50,000 cells", f"{ours.median_ms:.2f} ms", ours.median_ms <= 50),
        Bar(">= 10x faster than esda", fmt_ratio(ratio), ratio >= 10),
    ]
    return [figure]


def figure_maps(ctx: BenchContext) -> list[Figure]:
    """Map views and the callbacks behind them (bytes sent, timings): :mod:`dashboard.bench_maps`."""
    from dashboard.bench_maps import map_figures

    return map_figures(ctx)


def figure_serve(ctx: BenchContext) -> list[Figure]:
    """gunicorn with 2 workers under simulated users, and the workers' peak RSS:
    :mod:`dashboard.bench_serve`."""
    from dashboard.bench_serve import serve_figures

    return serve_figures(ctx)


def _snapshot_fingerprint(snap: Path) -> dict[str, Any]:
    """Rows and an order-free content hash of each snapshot file, and a hash of the id order."""
    import duckdb
    import pyarrow.parquet as pq

    from dashboard.snapshot import CASES_FILE, LONG_OPEN_FILE

    con = duckdb.connect(config={"threads": 2})
    try:
        out: dict[str, Any] = {}
        for name in (CASES_FILE, LONG_OPEN_FILE):
            rows, content = con.execute(
                "SELECT count(*), sum(hash(t)::HUGEINT) FROM read_parquet(?) t",
                [str(snap / name)],
            ).fetchone()
            out[name] = [int(rows), str(content)]
        ids = pq.read_table(snap / CASES_FILE, columns=["id"])["id"].to_numpy()
        out["id_order"] = hashlib.sha256(ids.tobytes()).hexdigest()
        return out
    finally:
        con.close()


def figure_refresh(ctx: BenchContext) -> list[Figure]:
    """A later load into the N-case store: the snapshot merged from the current one and the cases
    the load changed, beside the same snapshot written whole (what every load did before)."""
    from dashboard.snapshot import current_snapshot, read_manifest, write_for
    from dashboard.store import Store
    from etl.generate import generate
    from etl.load import load_file

    assert ctx.store_settings is not None, "figure_ingest runs first"
    settings = ctx.store_settings
    size = max(1_000, min(10_000, ctx.cases // 100))
    path = ctx.workdir / f"update_{size}.csv"
    # The same generator with another seed: the first `size` tracking numbers again, with new
    # contents (request times, types, places, closures), spread over the whole date range.
    generate(size, path, format=ctx.format, seed=ctx.seed + 1)
    store = Store(settings.database_url)
    try:
        ctx.say("refresh: loading an update of %s cases into the store", f"{size:,}")
        gc.collect()
        started = time.perf_counter()
        report = load_file(path, store=store, settings=settings, progress=False)
        total_ms = (time.perf_counter() - started) * 1000.0
        merged = current_snapshot(settings.snapshot_dir)
        assert merged is not None
        manifest = read_manifest(merged)
        ctx.say("refresh: the same snapshot written whole")
        gc.collect()
        started = time.perf_counter()
        whole = write_for(store, settings, full=True)
        whole_ms = (time.perf_counter() - started) * 1000.0
        ours_fp, whole_fp = _snapshot_fingerprint(merged), _snapshot_fingerprint(whole)
    finally:
        store.dispose()
    snapshot_ms = report.stages["snapshot"] * 1000.0
    figure = Figure(
        name=f"snapshot after an update of {size:,} cases",
        description=f"load_file of {size:,} changed cases into the {ctx.cases:,}-case store: "
        "the snapshot stage, merged from the current snapshot and the cases read again",
        ours=Measure([snapshot_ms]),
        baselines=[
            Baseline(
                "the same snapshot written whole (every case read from the store)",
                Measure([whole_ms]),
                equal=ours_fp == whole_fp and manifest["written"]["mode"] == "merged",
                note="checked: both files' rows and content hashes, and the row order, equal",
            )
        ],
        extra={
            "load_report": report.as_json(),
            "refresh_total_ms": round(total_ms, 3),
            "written": manifest["written"],
            "fingerprint": ours_fp,
        },
    )
    return [figure, _recent_refresh(ctx, size=size, whole_fp=whole_fp)]


#: The column each export format carries the resolution text in (internal: not in the snapshot).
_RESOLUTION_COLUMN = {"boston": "closure_reason", "nyc": "Resolution Description"}


def _recent_update(ctx: BenchContext, *, size: int, tag: str) -> Path:
    """The last ``size`` rows of the bench export (its most recent cases: the generator writes
    them in time order) with ``tag`` added to their resolution text, as a new CSV."""
    import csv

    assert ctx.csv_path is not None
    with ctx.csv_path.open("r", encoding="utf-8", newline="") as fh:
        header = next(csv.reader([fh.readline()]))
    per_row = ctx.csv_path.stat().st_size / max(ctx.cases, 1)
    with ctx.csv_path.open("rb") as fh:
        fh.seek(max(0, ctx.csv_path.stat().st_size - int(per_row * (size + 100) * 2)))
        lines = fh.read().decode("utf-8", "replace").splitlines()[1:]  # the first may be cut
    rows = [r for r in csv.reader(lines[-size:]) if len(r) == len(header)]
    column = header.index(_RESOLUTION_COLUMN[ctx.format])
    path = ctx.workdir / f"recent_{size}_{tag}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            row[column] = f"{row[column]} ({tag})"
            writer.writerow(row)
    return path


def _recent_refresh(ctx: BenchContext, *, size: int, whole_fp: dict[str, Any]) -> Figure:
    """The most recent cases changed (only their resolution text, which the snapshot does not
    hold): the merged cases file keeps its older rows in order and sorts the rest, beside the
    same merge sorting the whole file. Both snapshots must equal the one written whole."""
    from dashboard import snapshot as snapshot_module
    from dashboard.snapshot import current_snapshot, read_manifest
    from dashboard.store import Store
    from etl.load import load_file

    settings = ctx.store_settings
    assert settings is not None
    store = Store(settings.database_url)
    results = {}
    saved = snapshot_module.TAIL_SHARE
    try:
        for tag, share in (("streamed", saved), ("sorted", 0.0)):
            snapshot_module.TAIL_SHARE = share
            ctx.say("refresh: the %s most recent cases changed (%s)", f"{size:,}", tag)
            gc.collect()
            report = load_file(
                _recent_update(ctx, size=size, tag=tag),
                store=store,
                settings=settings,
                progress=False,
            )
            snap = current_snapshot(settings.snapshot_dir)
            assert snap is not None
            results[tag] = (report, read_manifest(snap)["written"], _snapshot_fingerprint(snap))
    finally:
        snapshot_module.TAIL_SHARE = saved
        store.dispose()
    (ours, ours_written, ours_fp), (base, base_written, base_fp) = (
        results["streamed"],
        results["sorted"],
    )
    return Figure(
        name=f"snapshot after an update of the {size:,} most recent cases",
        description="load_file of the export's last rows with a new resolution text: the "
        "snapshot stage, older rows of the cases file kept in order and the rest sorted",
        ours=Measure([ours.stages["snapshot"] * 1000.0]),
        baselines=[
            Baseline(
                "the same merge sorting the whole cases file",
                Measure([base.stages["snapshot"] * 1000.0]),
                equal=ours_fp == base_fp == whole_fp
                and ours_written["mode"] == base_written["mode"] == "merged",
                note="checked: both snapshots equal the one written whole (rows, content hash "
                "and id order of both files)",
            )
        ],
        extra={
            "load_report": ours.as_json(),
            "written": ours_written,
            "baseline_load_report": base.as_json(),
        },
    )


def figure_postgis(ctx: BenchContext) -> list[Figure]:
    """Ingest and lookup by id on a throwaway PostgreSQL/PostGIS: :mod:`dashboard.bench_postgis`."""
    from dashboard.bench_postgis import postgis_figures

    return postgis_figures(ctx)


#: The figures, in order. Each takes the context and returns its figures; add new ones here.
FIGURES: list[Callable[[BenchContext], list[Figure]]] = [
    figure_ingest,
    figure_queries,
    figure_sla,
    figure_maps,
    figure_gi_star,
    figure_serve,
    figure_refresh,
    figure_postgis,
]


def _settle(ctx: BenchContext) -> None:
    """``sync`` (write dirty pages to disk now) and note how long it took."""
    began = time.perf_counter()
    os.sync()
    ctx.facts.setdefault("sync_seconds", []).append(round(time.perf_counter() - began, 3))


# -- machine and report ---------------------------------------------------------------------------
def _load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": None,
        "load_average_end": _load_average(),
        "ram_gib": None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {},
        # how `timed` runs a figure (see its docstring): the JSON says which method made it
        "timing": TIMING_METHOD,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                facts["ram_gib"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    for package in (
        "stat311",
        "pandas",
        "numpy",
        "pyarrow",
        "duckdb",
        "sqlalchemy",
        "shapely",
        "h3",
    ):
        try:
            facts["versions"][package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts["versions"][package] = None
    return facts


def fmt_ratio(value: float) -> str:
    """A ratio as printed everywhere: 3 decimals below 1, else 2."""
    return f"{value:.3f}x" if value < 1 else f"{value:.2f}x"


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def format_table(result: dict[str, Any]) -> str:
    """The figures as a fixed-width text table (one line per baseline)."""
    head = ("figure", "median ms", "p95 ms", "baseline", "base median ms", "ratio", "equal")
    rows: list[tuple[str, ...]] = [head]
    for fig in result["figures"]:
        first = True
        for b in fig["baselines"] or [None]:
            rows.append(
                (
                    fig["name"] if first else "",
                    _ms(fig["median_ms"]) if first else "",
                    _ms(fig["p95_ms"]) if first else "",
                    b["name"] if b else "-",
                    _ms(b["median_ms"]) if b else "-",
                    fmt_ratio(b["ratio"]) if b else "-",
                    {True: "yes", False: "NO", None: "-"}[b["equal"]] if b else "-",
                )
            )
            first = False
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for i, row in enumerate(rows):
        cells = [
            c.ljust(w) if j in (0, 3) else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    for fig in result["figures"]:
        extra = fig["extra"]
        if "rows_per_s" in extra:
            lines.append("")
            lines.append(
                f"{fig['name']}: {extra['rows_per_s']:,} rows/s end to end; baseline "
                f"{extra['baseline_rows_per_s']:,} rows/s"
            )
            if "report" in extra:
                load_s = extra["report"]["seconds"]
                rest_s = fig["median_ms"] / 1000 - load_s
                lines.append(
                    f"  of which the load transaction {load_s:,.1f} s, snapshot and the rest "
                    f"{rest_s:,.1f} s (last run)"
                )
                stages = extra["report"].get("stages") or {}
                if stages:
                    lines.append(
                        "  stages (s): "
                        + ", ".join(f"{name} {value:,.1f}" for name, value in stages.items())
                        + " (read_normalise runs in a second process, beside write)"
                    )
    lines.extend(_serving_lines(result))
    bars = [
        (fig["name"], bar)
        for fig in result["figures"]
        for bar in fig["bars"]
        if bar["met"] is not None
    ]
    if bars:
        lines.append("")
        lines.append("bars (issue 8):")
        for name, bar in bars:
            mark = "met" if bar["met"] else "NOT MET"
            lines.append(f"  {mark:7s}  {name}: {bar['bar']} ({bar['value']})")
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.3f} MB"


def _serving_lines(result: dict[str, Any]) -> list[str]:
    """Map bytes, the concurrency run, web worker RSS and figures not measured, under the table."""
    lines: list[str] = []
    maps = [f for f in result["figures"] if "gzip_bytes" in f["extra"]]
    if maps:
        lines += ["", "map views: bytes sent (the callback's outputs as JSON; gzipped / raw):"]
        width = max(len(f["name"]) for f in maps)
        for f in maps:
            e = f["extra"]
            lines.append(
                f"  {f['name']:<{width}}  {_mb(e['gzip_bytes'])} gzipped / {_mb(e['json_bytes'])}"
                f"  (figure alone {_mb(e['figure_gzip_bytes'])} gzipped)"
            )
    for f in result["figures"]:
        e = f["extra"]
        if "requests_per_s" in e:
            lines += [
                "",
                f"{f['name']}: {e['requests']:,} requests ({e['served']:,} served, "
                f"{e['errors']:,} errors), {e['requests_per_s']:,} requests/s, "
                f"p50 {_ms(e['p50_ms'])} ms, p95 {_ms(f['p95_ms'])} ms",
            ]
            if e.get("warmup_requests"):  # their errors count too; their times do not
                lines.append(
                    f"  after {e['warmup_requests']:,} untimed warm-up requests (the mix sent "
                    "twice; their errors are counted)"
                )
            lines += [f"  error: {d}" for d in e["error_samples"]]
            rss = ", ".join(f"{v:,.0f} MB" for v in e["worker_peak_rss_mb"] if v is not None)
            lines.append(f"  web worker peak RSS (VmHWM) after the run: {rss or 'unknown'}")
    for skipped in result["facts"].get("not_measured", []):
        lines += ["", f"not measured: {skipped['figure']}: {skipped['reason']}"]
    return lines


def run_bench(
    *,
    cases: int = ONE_MILLION,
    repeat: int = 10,
    ingest_repeat: int = 1,
    format: str = "boston",
    seed: int = 0,
    settings: Settings | None = None,
    json_path: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    keep: bool = False,
    out: TextIO | None = None,
    command: str | None = None,
    concurrency_seconds: float = 60.0,
    concurrency_users: int = 20,
    postgis: bool = True,
    min_seconds: float = MIN_TIMED_SECONDS,
) -> dict[str, Any]:
    """Run every figure; print the table to ``out`` (default stdout); return (and optionally write)
    the JSON document. ``settings`` supplies the batch size and time zone (never the store).
    ``concurrency_seconds`` 0 skips the gunicorn run; ``postgis`` False skips PostgreSQL;
    ``min_seconds``: each query's timed runs go on past ``repeat`` until they add up to it."""
    if cases <= 0 or repeat <= 0 or ingest_repeat <= 0:
        raise ValueError("cases, repeat and ingest_repeat must be positive")
    if min_seconds < 0:
        raise ValueError("min_seconds must not be negative")
    if concurrency_seconds < 0 or concurrency_users <= 0:
        raise ValueError("concurrency_seconds must be >= 0 and concurrency_users positive")
    if format not in LAYERS:
        raise ValueError(f"unknown format {format!r}")
    out = out or sys.stdout
    base = Path(workdir) if workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="stat311-bench-", dir=base))
    load_start = _load_average()
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    started = time.perf_counter()
    ctx = BenchContext(
        cases=cases,
        repeat=repeat,
        ingest_repeat=ingest_repeat,
        format=format,
        seed=seed,
        workdir=tmp,
        settings=settings or Settings.from_env({}),
        concurrency_seconds=concurrency_seconds,
        concurrency_users=concurrency_users,
        postgis=postgis,
        min_seconds=min_seconds,
    )
    figures: list[Figure] = []
    try:
        for make in FIGURES:
            # Write back what the previous figure left in the page cache (a 10M-row baseline
            # table, a deleted snapshot's files) before timing the next, so that the kernel
            # does not do it during the next figure's runs (a guard).
            _settle(ctx)
            figures.extend(make(ctx))
    finally:
        if keep:
            log.info("bench: kept %s", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "command": command,
        "cases": cases,
        "format": format,
        "seed": seed,
        "repeat": repeat,
        "ingest_repeat": ingest_repeat,
        "min_seconds": min_seconds,
        "warmup_runs": 1,
        "concurrency_seconds": concurrency_seconds,
        "concurrency_users": concurrency_users,
        "ratio": "baseline median / stat311 median (above 1: stat311 is faster)",
        "started_at": started_at,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {**machine_facts(), "load_average_start": load_start},
        "facts": ctx.facts,
        "figures": [f.as_json() for f in figures],
    }
    result["all_equal"] = all(
        b["equal"] is not False for f in result["figures"] for b in f["baselines"]
    )
    m = result["machine"]
    print(
        f"stat311 bench: {cases:,} {format} cases, {repeat} timed runs per query, at least "
        f"{MIN_RUNS_FOR_P95} of stat311's own for their p95 "
        f"(+1 warm-up; more until they add up to {min_seconds:g} s, at most {MAX_TIMED_RUNS}), "
        f"{ingest_repeat} ingest run(s); {m['cpus_usable']} CPUs, "
        f"{m['ram_gib']} GiB RAM, Python {m['python']}",
        file=out,
    )
    print("ratio = baseline median / stat311 median (above 1: stat311 is faster)\n", file=out)
    print(format_table(result), file=out)
    if not result["all_equal"]:
        print("\nRESULTS DIFFER from a baseline (see 'equal' above)", file=out)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"\nJSON written to {json_path}", file=out)
    return result


# -- command line -----------------------------------------------------------------------------
def add_subparser(subparsers: Any) -> None:
    """Add ``bench`` to the ``stat311`` command line."""
    p = subparsers.add_parser(
        "bench",
        help="measure ingest, queries, callbacks, map sizes, serving and PostGIS beside naive "
        "baselines (temporary store)",
        description="Generate N cases, load them into a fresh SQLite store in a temporary "
        "directory, and time ingest, the dashboard queries and callbacks beside naive baselines "
        "measured in the same run (median, p95, ratio; results compared); measure the bytes each "
        "map view sends, gunicorn with 2 workers under simulated users (errors, p50/p95, worker "
        "peak RSS) and ingest and lookup on a throwaway PostgreSQL/PostGIS. Your store is not "
        "touched.",
    )
    p.add_argument("--cases", type=positive_count, default=ONE_MILLION, help="cases to generate")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    p.add_argument(
        "--repeat", type=positive_count, default=10, help="timed runs per query (default 10)"
    )
    p.add_argument(
        "--min-seconds",
        type=float,
        default=MIN_TIMED_SECONDS,
        metavar="S",
        help="time a quick query more than --repeat times, until its timed runs add up to S "
        f"seconds (at most {MAX_TIMED_RUNS} runs; default {MIN_TIMED_SECONDS}; 0: exactly --repeat)",
    )
    p.add_argument(
        "--ingest-repeat", type=positive_count, default=1, help="timed ingest runs (default 1)"
    )
    p.add_argument("--format", choices=sorted(LAYERS), default="boston", help="export format")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--workdir", help="parent of the temporary directory (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument(
        "--concurrency-seconds",
        type=positive_count,
        default=60,
        help="seconds of simulated users against gunicorn (default 60)",
    )
    p.add_argument(
        "--concurrency-users",
        type=positive_count,
        default=20,
        help="simulated users (threads) of the concurrency run (default 20)",
    )
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="skip the gunicorn concurrency run and the web worker RSS",
    )
    p.add_argument(
        "--no-postgis",
        action="store_true",
        help="skip the PostgreSQL/PostGIS ingest and lookup figures",
    )
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    result = run_bench(
        cases=args.cases,
        repeat=args.repeat,
        ingest_repeat=args.ingest_repeat,
        format=args.format,
        seed=args.seed,
        settings=settings,
        json_path=args.json,
        workdir=args.workdir,
        keep=args.keep,
        command=shlex.join(["stat311", *sys.argv[1:]]),
        concurrency_seconds=0 if args.no_serve else args.concurrency_seconds,
        concurrency_users=args.concurrency_users,
        postgis=not args.no_postgis,
        min_seconds=args.min_seconds,
    )
    return 0 if result["all_equal"] else 1
