"""``stat311 bench``: the map views and the callbacks behind them (issue 8, items 2 and 4).

Each map view is measured by calling the real callback function as a plain function (as the tests
do), so figure building is included: the department page's "where are we late" choropleth
(:func:`callbacks.department.map_view`), the hot-spot page (:func:`callbacks.hotspots.hotspot_view`)
and the public map by area, by H3 cell and by point (:func:`callbacks.public.map_view`); plus the
public "track my request" page (:func:`callbacks.public.route` of ``/public/requests/<id>``). The
requests page has no map.

For each: median and p95 of ``--repeat`` timed runs (after one warm-up), with the per-question
result caches emptied before every run (what a worker does for a question it has not seen; the
study area, the boundary geometries and H3 cell polygons stay cached, as in a serving worker); and for
the maps the size of the callback's outputs as JSON (plotly's encoder, as Dash sends them), raw and
gzipped. Baselines compute the aggregation under the view as SQL ``GROUP BY`` on the SQLite store
and in pandas over a DataFrame already in memory, and the results are compared.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from dashboard.bench import (
    LAYERS,
    MIN_RUNS_FOR_P95,
    ONE_MILLION,
    PANDAS_BASELINE,
    SQL_BASELINE,
    TEN_MILLION,
    Bar,
    Baseline,
    BenchContext,
    Figure,
    Measure,
    _canon,
    _utc_text,
    fmt_ratio,
    timed,
)
from dashboard.periods import local_end

#: Issue 8: a map view is at most 1.5 MB gzipped, whatever the number of cases.
MAX_MAP_GZIP_BYTES = 1_500_000


def sent_bytes(outputs: Sequence[Any]) -> tuple[int, int]:
    """(raw, gzipped) size of a callback's outputs serialised as Dash does (plotly's encoder)."""
    import plotly.utils

    text = json.dumps(
        {"multi": True, "response": {f"output-{i}": v for i, v in enumerate(outputs)}},
        cls=plotly.utils.PlotlyJSONEncoder,
    )
    raw = text.encode("utf-8")
    return len(raw), len(gzip.compress(raw, compresslevel=6))


def callback_bars(cases: int, ours: Measure, sql: Baseline | None) -> list[Bar]:
    """The dashboard-callback bars of issue 8, as for the query figures."""
    median, p95 = ours.median_ms, ours.p95_ms
    bars = []
    if cases >= TEN_MILLION:
        bars.append(Bar("median <= 400 ms at 10M", f"{median:.1f} ms", median <= 400))
        if sql is not None:
            ratio = sql.ratio(ours)
            bars.append(
                Bar(">= 10x faster than SQL GROUP BY at 10M", fmt_ratio(ratio), ratio >= 10)
            )
    elif cases >= ONE_MILLION:
        bars.append(Bar("median <= 100 ms at 1M", f"{median:.1f} ms", median <= 100))
    if cases >= ONE_MILLION:
        bars.append(Bar("p95 <= 2x median", f"{p95 / median:.2f}x", p95 <= 2 * median))
    return bars


def bytes_bar(gzip_bytes: int) -> Bar:
    return Bar(
        "<= 1.5 MB gzipped whatever the number of cases",
        f"{gzip_bytes / 1e6:,.3f} MB",
        gzip_bytes <= MAX_MAP_GZIP_BYTES,
    )


def _map_figure(
    ctx: BenchContext,
    *,
    name: str,
    description: str,
    run: Callable[[], Sequence[Any]],
    baselines: list[tuple[str, Callable[[], Any]]],
    ours_value: Callable[[Sequence[Any]], Any],
    is_map: bool = True,
    repeat: int | None = None,
    min_seconds: float | None = None,
) -> Figure:
    """Time ``run`` (the callback), then each baseline; compare ``ours_value(outputs)`` with each
    baseline's result (both already canonical). ``min_seconds`` (default the bench's): see
    :func:`dashboard.bench.timed`."""
    ctx.say("callback %r", name)
    repeat = repeat or ctx.repeat
    min_seconds = ctx.min_seconds if min_seconds is None else min_seconds
    ours, outputs = timed(run, repeat=repeat, min_seconds=min_seconds, min_runs=MIN_RUNS_FOR_P95)
    want = ours_value(outputs)
    measured = []
    for label, fn in baselines:
        measure, got = timed(fn, repeat=repeat, min_seconds=min_seconds)
        measured.append(Baseline(label, measure, got == want))
    extra: dict[str, Any] = {"result_rows": len(want) if isinstance(want, list) else 1}
    figure = Figure(name=name, description=description, ours=ours, baselines=measured, extra=extra)
    sql = next((b for b in measured if b.name == SQL_BASELINE), None)
    figure.bars = callback_bars(ctx.cases, ours, sql)
    if is_map:
        raw, packed = sent_bytes(outputs)
        fig_raw, fig_packed = sent_bytes(outputs[:1])
        extra.update(
            json_bytes=raw,
            gzip_bytes=packed,
            figure_json_bytes=fig_raw,
            figure_gzip_bytes=fig_packed,
        )
        figure.bars.append(bytes_bar(packed))
    return figure


# -- shared data ------------------------------------------------------------------------------------
def _sqlite_path(ctx: BenchContext) -> str:
    assert ctx.store_settings is not None
    return str(ctx.store_settings.database_url)[len("sqlite:///") :]


def _frame(ctx: BenchContext, layer: str) -> pd.DataFrame:
    from dashboard.snapshot import CASES_FILE, current_snapshot

    assert ctx.store_settings is not None
    snapshot = current_snapshot(ctx.store_settings.snapshot_dir)
    assert snapshot is not None
    columns = [
        "id", "request_id", "service_name", "department", "status", "requested_at",
        "requested_local", "closed_at", "sla_due_at", "sla_due_local", "is_duplicate",
        "is_private", "location_quality", "h3_8", "h3_9", f"area_{layer}",
    ]  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    # int64 columns with nulls (the H3 cells) as Int64, not float64 (which rounds the cell ids)
    table = pq.read_table(snapshot / CASES_FILE, columns=columns)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _between(frame: pd.DataFrame, column: str, start: date, end: date) -> pd.Series:
    t = frame[column]
    return (t >= pd.Timestamp(start)) & (t < pd.Timestamp(end + timedelta(days=1)))


def map_figures(ctx: BenchContext) -> list[Figure]:
    """Every map view, and the public lookup, timed as callbacks with baselines."""
    from dashboard.services import Services

    if ctx.store_settings is None:
        raise RuntimeError("the map figures need the store the ingest figure builds")
    layer = LAYERS[ctx.format][0]
    services = Services.from_settings(ctx.store_settings)
    frame = _frame(ctx, layer)
    con = sqlite3.connect(_sqlite_path(ctx))
    try:
        return [
            _department_map(ctx, services, frame, layer),
            *_hotspots(ctx, services, frame, con),
            *_public(ctx, frame, con, layer),
        ]
    finally:
        con.close()


# -- department page ------------------------------------------------------------------------------
def _department_map(ctx: BenchContext, services: Any, frame: pd.DataFrame, layer: str) -> Figure:
    from callbacks import department as cb

    last = services.read_model.options()["max_date"]
    month = (last.replace(day=1) - timedelta(days=1)).replace(day=1)  # the last full month
    code = str(frame["department"].value_counts().index[0])
    query = f"?period=month&date={month.isoformat()}&layer={layer}"
    as_of = pd.Timestamp(local_end(last, ctx.settings.timezone))
    scope, _ = cb.resolve(services, code, query, as_of=as_of)
    assert scope is not None

    last_frame: list[pd.DataFrame] = []

    def run() -> Sequence[Any]:
        view = cb.map_view(services, code, query, layer, as_of=as_of)
        last_frame[:] = [view["frame"]]  # not sent: the callback's outputs are the four below
        return (view["figure"], view["note"], view["table"], query)

    def ours_value(_outputs: Sequence[Any]) -> list:
        shown = last_frame[0]
        return _canon(shown[shown["due"] > 0][["area", "due", "on_time"]].values.tolist())

    def pandas() -> list:
        f = frame[frame["department"] == code]
        f = f[_between(f, "sla_due_local", scope.period.start, scope.period.end)]
        if scope.exclude_duplicates:
            f = f[~f["is_duplicate"]]
        closed = f["closed_at"].notna()
        due = closed | (f["sla_due_at"] <= as_of)
        on_time = closed & (f["closed_at"] <= f["sla_due_at"])
        g = pd.DataFrame({"area": f[f"area_{layer}"], "due": due, "on_time": on_time})
        g = g[g["area"].notna()].groupby("area").sum().reset_index()
        return _canon(g[g["due"] > 0].values.tolist())

    figure = _map_figure(
        ctx,
        name=f"department map: {code}, one month, by {layer}",
        description=f"callbacks.department.map_view({code!r}, {query!r}): SLA due and on time "
        "per area, choropleth (no SQL baseline: the due times come from the SLA policy)",
        run=run,
        baselines=[(PANDAS_BASELINE, pandas)],
        ours_value=ours_value,
    )
    return figure


# -- hot-spot page ----------------------------------------------------------------------------------
def _hotspots(
    ctx: BenchContext, services: Any, frame: pd.DataFrame, con: sqlite3.Connection
) -> list[Figure]:
    from callbacks import hotspots as cb
    from dashboard import hotspots as hs

    opts = cb.page_options(services.read_model, None)  # what the page opens on
    params = cb.params_from_controls(
        type_=opts["type"],
        department=None,
        start=opts["start"],
        end=opts["end"],
        resolution=None,
        mode="count",
        step=None,
        view="map",
    )
    start, end = params.start, params.end
    assert start is not None and end is not None and params.type
    zone = ctx.settings.timezone

    def run() -> Sequence[Any]:
        with hs._CACHE_LOCK:  # a new question: no cached result (the study area stays cached)
            hs._RESULTS.clear()
        view = cb.hotspot_view(services, params)
        keys = ("figure", "legend", "method", "summary", "notice", "table", "table_note")
        return (*(view[k] for k in keys), view["search"] or "?")

    result = hs.analyse(
        services.read_model, params, database_url=services.settings.database_url
    )  # the resolution chosen, and the study area's cells
    column = f"h3_{result.resolution}"
    grid = set(result.cells["h3"].tolist())

    def ours_value(_outputs: Sequence[Any]) -> list:
        cached = hs.analyse(
            services.read_model, params, database_url=services.settings.database_url
        )
        cells = cached.cells[cached.cells["count"] > 0]
        return [*_canon(cells[["h3", "count"]].values.tolist()), ("outside", cached.outside)]

    def compare(rows: list) -> list:
        inside = [r for r in rows if r[0] in grid]
        outside = sum(r[1] for r in rows if r[0] not in grid)
        return [*_canon(inside), ("outside", outside)]

    def sql() -> list:
        return compare(
            con.execute(
                f"SELECT {column}, count(*) FROM cases "  # noqa: S608 - fixed column
                "WHERE service_name = ? AND requested_at >= ? AND requested_at < ? "
                f"AND location_quality = 'exact' AND NOT is_duplicate AND {column} IS NOT NULL "
                "GROUP BY 1",
                [params.type, _utc_text(start, zone), _utc_text(end + timedelta(days=1), zone)],
            ).fetchall()
        )

    def pandas() -> list:
        f = frame[
            (frame["service_name"] == params.type)
            & _between(frame, "requested_local", start, end)
            & (frame["location_quality"] == "exact")
            & ~frame["is_duplicate"].fillna(False)
            & frame[column].notna()
        ]
        counts = f.groupby(column).size()
        return compare([(int(c), int(n)) for c, n in counts.items()])

    figure = _map_figure(
        ctx,
        name=f"hotspots callback: {params.type}, map",
        description=f"callbacks.hotspots.hotspot_view({params.type!r}, {start}..{end}, count, "
        f"resolution {result.resolution}): counts per cell, k choice, Gi*, FDR, addresses, "
        "trends, map; baselines compute only the counts per H3 cell (the aggregation step)",
        run=run,
        baselines=[(SQL_BASELINE, sql), (PANDAS_BASELINE, pandas)],
        ours_value=ours_value,
    )
    figure.extra.update(cells=len(grid), resolution=result.resolution)
    return [figure, _hotspot_counting_step(ctx, services, params, result, sql, pandas, compare)]


def _hotspot_counting_step(
    ctx: BenchContext,
    services: Any,
    params: Any,
    result: Any,
    sql: Callable[[], list],
    pandas: Callable[[], list],
    compare: Callable[[list], list],
) -> Figure:
    """The hot-spot callback's own counting step, timed alone against the same baselines: the
    snapshot read of the question's cases (the callback's ``focus``) and the counts per cell
    (with its open, late and judged counts, as the callback asks). No bar of its own (the bars
    are the whole callback's): it shows how much of the callback's distance to its baseline
    is the aggregation and how much the analysis and the figure."""
    from dashboard import hotspots as hs

    read_model = services.read_model
    flt = params.to_filter()
    columns = hs._focus_columns(read_model, params.resolution)
    as_of = pd.Timestamp.now(tz="UTC")
    layer = result.layer  # the study area's boundary layer, as the callback passes it

    def run() -> Sequence[Any]:
        with read_model.focus(flt, columns) as cases:
            counts, *_ = hs._cell_counts(cases, flt, result.resolution, layer, as_of)
        return [counts]

    def ours_value(outputs: Sequence[Any]) -> list:
        counts = outputs[0]
        return compare(
            [(int(h), int(n)) for h, n in zip(counts["h3"], counts["count"], strict=True)]
        )

    figure = _map_figure(
        ctx,
        name=f"hotspots counting step: {params.type}",
        description="the hot-spot callback's aggregation alone: its snapshot read (focus) and "
        "dashboard.hotspots._cell_counts (counts, open, late, judged per cell); informational, "
        "the bars apply to the whole callback above",
        run=run,
        baselines=[(SQL_BASELINE, sql), (PANDAS_BASELINE, pandas)],
        ours_value=ours_value,
        is_map=False,
    )
    figure.bars = []
    figure.extra["step_of"] = "hotspots callback"
    return figure


# -- public portal ----------------------------------------------------------------------------------
def _public_data(ctx: BenchContext) -> Any:
    from dashboard.public import PublicConfig, PublicData
    from dashboard.sla import load_policy
    from dashboard.store import Store

    settings = ctx.store_settings
    assert settings is not None
    return PublicData(
        settings=settings,
        store=Store(settings.database_url),
        policy=load_policy(settings.sla_policy),
        config=PublicConfig.from_settings(settings),
    )


def _drop_cached(data: Any, kind: str) -> None:
    """Forget the public side's cached results of one kind (e.g. ``"map"``)."""
    cache = data._cache
    with cache._lock:
        for key in [k for k in cache._items if k[0] == kind]:
            del cache._items[key]


def _public(
    ctx: BenchContext, frame: pd.DataFrame, con: sqlite3.Connection, layer: str
) -> list[Figure]:
    from callbacks import public as cb
    from dashboard.public import MAX_MAP_POINTS

    data = _public_data(ctx)
    zone = ctx.settings.timezone
    days = 30
    end = data.catalogue()["last"]
    start = end - timedelta(days=days - 1)
    window = [_utc_text(start, zone), _utc_text(end + timedelta(days=1), zone)]
    public = frame[~frame["is_private"].fillna(False)]
    recent = public[_between(public, "requested_local", start, end)]
    figures = []
    try:
        for view in ("area", "cell", "points"):

            def run(view: str = view) -> Sequence[Any]:
                _drop_cached(data, "map")
                return cb.map_view(data, None, days, view, 1200)

            shown = data.map_data(service_name=None, days=days, view=view)
            baselines = _public_baselines(
                view,
                shown,
                con,
                recent,
                window,
                layer,
                MAX_MAP_POINTS,
                sensitive=sorted(data.config.sensitive_types),
            )
            figure = _map_figure(
                ctx,
                name=f"public map by {'point' if view == 'points' else view}: all, {days} days",
                description=f"callbacks.public.map_view(all types, {days} days, {view!r})",
                run=run,
                baselines=baselines,
                ours_value=lambda _o, v=view: _public_ours(data, v, days),
            )
            figure.extra["resolution"] = shown["resolution"]
            figures.append(figure)
            if view == "cell":
                figures.append(_public_counting_step(ctx, data, shown, baselines, days))
        figures.append(_lookup(ctx, data, public, con))
    finally:
        data.store.dispose()
    return figures


def _public_counting_step(
    ctx: BenchContext,
    data: Any,
    shown: dict[str, Any],
    baselines: list[tuple[str, Callable[[], Any]]],
    days: int,
) -> Figure:
    """The public map by cell's own counting step, timed alone against the same baselines: the
    one query of requests and open requests per cell (``PublicData._cell_counts``) at the
    resolution the map chose. No bar of its own (the bars are the whole callback's)."""
    from dashboard.queries import CaseFilter

    flt = CaseFilter(start=shown["start"], end=shown["end"])
    resolution = shown["resolution"]

    def run() -> Sequence[Any]:
        return [data._cell_counts(flt, resolution)]

    def ours_value(outputs: Sequence[Any]) -> list:
        f = outputs[0]
        return _canon(
            [
                (int(c), int(n), int(o))
                for c, n, o in zip(f["cell"], f["requests"], f["open"], strict=True)
            ]
        )

    figure = _map_figure(
        ctx,
        name=f"public map by cell counting step: all, {days} days",
        description="the public map by cell's aggregation alone: "
        "dashboard.public.PublicData._cell_counts (requests and open per cell, sensitive types "
        "left out); informational, the bars apply to the whole callback above",
        run=run,
        baselines=baselines,
        ours_value=ours_value,
        is_map=False,
    )
    figure.bars = []
    figure.extra["step_of"] = "public map by cell"
    return figure


def _public_ours(data: Any, view: str, days: int) -> list:
    shown = data.map_data(service_name=None, days=days, view=view)
    f = shown["frame"]
    if view == "points":
        return list(f["request_id"].astype(str))
    if view == "cell":
        return _canon(
            [
                (int(c), int(n), int(o))
                for c, n, o in zip(f["cell"], f["requests"], f["open"], strict=True)
            ]
        )
    return _canon(f[["name", "requests", "open"]].values.tolist())


def _public_baselines(
    view: str,
    shown: dict[str, Any],
    con: sqlite3.Connection,
    recent: pd.DataFrame,
    window: list[str],
    layer: str,
    max_points: int,
    *,
    sensitive: Sequence[str] = (),
) -> list[tuple[str, Callable[[], Any]]]:
    """The baselines of one public map view. Cells and points leave out the ``sensitive``
    types, as the portal does (they are published by area only)."""
    where = "c.requested_at >= ? AND c.requested_at < ? AND NOT c.is_private"
    marks = ", ".join("?" * len(sensitive))
    not_sensitive = (
        f" AND (c.service_name IS NULL OR c.service_name NOT IN ({marks}))" if sensitive else ""
    )
    located = recent[~recent["service_name"].isin(list(sensitive))] if sensitive else recent
    is_open = "sum(CASE WHEN c.status = 'open' THEN 1 ELSE 0 END)"
    outside = "(outside the areas or no location)"
    if view == "area":

        def sql() -> list:
            rows = con.execute(
                f"SELECT coalesce(a.area, ?), count(*), {is_open} FROM cases c "  # noqa: S608
                "LEFT JOIN case_areas a ON a.case_id = c.id AND a.layer_id = "
                f"(SELECT id FROM boundary_layers WHERE name = ?) WHERE {where} GROUP BY 1",
                [outside, layer, *window],
            ).fetchall()
            return _canon(rows)

        def pandas() -> list:
            g = recent.assign(open=recent["status"] == "open").groupby(
                recent[f"area_{layer}"].fillna(outside)
            )
            out = pd.DataFrame({"n": g.size(), "open": g["open"].sum()}).reset_index()
            return _canon(out.values.tolist())

    elif view == "cell":
        column = f"h3_{shown['resolution']}"

        def sql() -> list:
            rows = con.execute(
                f"SELECT c.{column}, count(*), {is_open} FROM cases c "  # noqa: S608
                f"WHERE {where} AND c.{column} IS NOT NULL AND c.location_quality = 'exact' "
                f"{not_sensitive} GROUP BY 1",
                [*window, *sensitive],
            ).fetchall()
            return _canon(rows)

        def pandas() -> list:
            f = located[located[column].notna() & (located["location_quality"] == "exact")]
            g = f.assign(open=f["status"] == "open").groupby(column)
            n, opened = g.size(), g["open"].sum()
            return _canon([(int(c), int(n[c]), int(opened[c])) for c in n.index])

    else:

        def sql() -> list:
            rows = con.execute(
                f"SELECT c.request_id FROM cases c WHERE {where} "  # noqa: S608
                f"AND c.lat IS NOT NULL AND c.location_quality = 'exact'{not_sensitive} "
                "ORDER BY c.requested_at DESC, c.id DESC LIMIT ?",
                [*window, *sensitive, max_points],
            ).fetchall()
            return [str(r[0]) for r in rows]

        def pandas() -> list:
            f = located[located["location_quality"] == "exact"]
            f = f.sort_values(["requested_at", "id"], ascending=False).head(max_points)
            return list(f["request_id"].astype(str))

    if view == "points":
        return [("SQL ORDER BY .. LIMIT on the SQLite store", sql), ("pandas sort + head", pandas)]
    return [(SQL_BASELINE, sql), (PANDAS_BASELINE, pandas)]


def _lookup(ctx: BenchContext, data: Any, public: pd.DataFrame, con: sqlite3.Connection) -> Figure:
    """``/public/requests/<id>``: one lookup per timed run, cycling through sampled ids."""
    from callbacks import public as cb

    rng = np.random.default_rng(ctx.seed)
    ids = [str(v) for v in rng.choice(public["request_id"].to_numpy(), size=50)]
    # Lookups are quick: twice the runs, and at least the p95's (the three in step, below).
    runs = max(2 * ctx.repeat, MIN_RUNS_FOR_P95)
    turn = {"ours": 0, "sql": 0, "pandas": 0}

    def nxt(who: str) -> str:
        turn[who] += 1
        return ids[turn[who] % len(ids)]

    def run() -> Sequence[Any]:
        number = nxt("ours")
        return (*cb.route(data, f"/public/requests/{number}"), number)

    def fields(record: Any) -> tuple:
        return (str(record["request_id"]), record["service_name"], record["status"])

    def ours_value(outputs: Sequence[Any]) -> list:
        record = data.lookup(outputs[-1])
        return [fields(record)] if record else []

    def sql() -> list:
        row = con.execute(
            "SELECT request_id, service_name, status FROM cases "
            "WHERE request_id = ? AND NOT is_private ORDER BY id LIMIT 1",
            [nxt("sql")],
        ).fetchone()
        return [(str(row[0]), row[1], row[2])] if row else []

    def pandas() -> list:
        hit = public[public["request_id"] == nxt("pandas")].sort_values("id").head(1)
        return [fields(r) for r in hit.to_dict("records")]

    # The three cycle in step (the same number of calls: exactly ``runs``, with no extra runs to
    # reach the bench's --min-seconds), so the last results are for the same id.
    return _map_figure(
        ctx,
        name="public lookup: /public/requests/<id>",
        description="callbacks.public.route of a request's page (PublicData.lookup on the store "
        f"and the card), {len(ids)} sampled ids in turn; baselines: SELECT by request_id "
        "(sqlite3), a boolean mask in pandas",
        run=run,
        baselines=[("SELECT by request_id on the SQLite store", sql), (PANDAS_BASELINE, pandas)],
        ours_value=ours_value,
        is_map=False,
        repeat=runs,
        min_seconds=0.0,
    )
