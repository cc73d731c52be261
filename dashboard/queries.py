"""The query layer: DuckDB over the current Parquet snapshot.

Callbacks ask questions through :class:`ReadModel` with a :class:`CaseFilter`; they never write SQL.
Every value reaches DuckDB as a bound parameter; column names come from a fixed list (area columns
are checked against the snapshot's manifest), so filter input can never change the shape of a query.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dashboard.errors import SnapshotMissingError, Stat311Error
from dashboard.snapshot import CASES_FILE, read_manifest, require_snapshot

log = logging.getLogger(__name__)

PERIODS = ("day", "week", "month", "quarter", "year")
#: Dimensions a count can be grouped by -> the snapshot column.
DIMENSIONS: dict[str, str] = {
    "department": "department",
    "type": "service_name",
    "service_code": "service_code",
    "status": "status",
    "channel": "channel",
    "location_quality": "location_quality",
}


#: How many questions of one :meth:`ReadModel.select_all` run at the same time, each on its own
#: cursor. DuckDB gives each query two threads, yet the SLA report's three questions at 10M
#: cases took 45 ms one after another and 35 ms at once (presumably the parts of each query that
#: run on one thread overlap).
CONCURRENT_QUESTIONS = 4


class QueryError(Stat311Error):
    """A query asked for something that does not exist (an unknown layer, period, dimension)."""

    exit_code = 2


@dataclass(frozen=True)
class CaseFilter:
    """Which cases: local dates (inclusive) in the city's time zone, and value lists (empty = all)."""

    start: date | None = None
    end: date | None = None
    departments: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    area_layer: str | None = None
    areas: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())

    def with_(self, **changes: Any) -> CaseFilter:
        return replace(self, **changes)


@dataclass(frozen=True)
class Question:
    """One :meth:`ReadModel.select` call, for :meth:`ReadModel.select_all`."""

    template: str
    flt: CaseFilter | None = None
    before: Sequence[Any] = ()
    after: Sequence[Any] = ()
    open_at: datetime | None = None
    #: Answer as columns of values (``{name: [values]}``, from ``fetchall``) instead of a
    #: DataFrame: for a small answer read by plain Python. The Overview's seven questions
    #: took 63.8 ms as frames and 55.8 ms as rows at 1M cases (a script; building a frame
    #: holds the GIL, so the questions asked at the same time wait for each other).
    columns: bool = False


def _as_columns(result: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    """A query's result as ``{column: [values]}`` (every column, even with no rows)."""
    rows = result.fetchall()
    names = [d[0] for d in result.description]
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


class ReadModel:
    """Answers aggregations over the snapshot in ``snapshot_dir``.

    The current snapshot is resolved on every query, so a new snapshot is used as soon as it is
    swapped in. One DuckDB connection per process; each query runs on its own cursor (thread-safe).
    """

    def __init__(
        self,
        snapshot_dir: str | Path,
        *,
        scope: Callable[[], tuple[str, ...] | None] | None = None,
        daily: bool = True,
        public_only: bool = False,
    ) -> None:
        """``scope`` returns the department codes the caller may see (None: all). The web app
        passes the signed-in user's scope; it is applied to every query.

        ``public_only``: every query sees only the cases the public may see (not private), as
        the public side's read model does: its maps, counts and service levels alike.

        ``daily``: answer counts from the snapshot's daily counts when they can
        (:meth:`counts`); False reads every case (the tests and the bench compare the two)."""
        self.snapshot_dir = Path(snapshot_dir)
        self.scope = scope
        self.daily = daily
        self.public_only = public_only
        #: Optional result cache (``get``/``set``, e.g. flask-caching's ``Cache``). Keys hold the
        #: query, its parameters and the snapshot's path, so a new snapshot misses every entry.
        self.cache: Any | None = None
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_pid = 0
        self._local = threading.local()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None
        self._manifest_cache: tuple[Path, dict[str, Any]] | None = None
        self._days_cache: tuple[Path, tuple[date, date] | None] | None = None

    # -- plumbing -----------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None or self._con_pid != os.getpid():
                # A snapshot file never changes (a new snapshot is a new file), so its footer can
                # be parsed once per process instead of once per query: 18.1 -> 6.0 ms for one
                # department's 90 days by week at 10M cases (400 row groups). Set globally: a
                # plain SET holds for one connection only, and every thread has its own cursor.
                self._con = duckdb.connect(config={"threads": 2})
                self._con.execute("SET GLOBAL parquet_metadata_cache = true")
                self._con_pid = os.getpid()
                self._local = threading.local()
            return self._con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB's cursors are not shared between threads). Kept for the
        thread's next query: opening one costs about 0.5 ms, a quarter of a small query."""
        con = self._connection()
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = con.cursor()
        return cursor

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own, for a caller that registers tables on it and closes it."""
        return self._connection().cursor()

    def snapshot(self) -> Path:
        return require_snapshot(self.snapshot_dir)

    def manifest(self, snapshot: Path | None = None) -> dict[str, Any]:
        """The manifest of ``snapshot`` (default: the current one), read once per snapshot."""
        path = snapshot or self.snapshot()
        if self._manifest_cache is None or self._manifest_cache[0] != path:
            self._manifest_cache = (path, read_manifest(path))
        return self._manifest_cache[1]

    def data_days(self) -> tuple[date, date] | None:
        """The first and last local days on which any case of the current snapshot was
        requested, whatever the caller's scope or filter: the days the data covers (None
        without cases). A series of weeks is cut to them, as weeks outside hold no data, not
        zero requests. Read once per snapshot."""
        path = self.snapshot()
        if self._days_cache is None or self._days_cache[0] != path:
            row = (
                self._cursor()
                .execute(
                    "SELECT min(requested_local)::DATE, max(requested_local)::DATE "
                    "FROM read_parquet(?)",
                    [str(path / CASES_FILE)],
                )
                .fetchone()
            )
            days = (row[0], row[1]) if row and row[0] is not None else None
            self._days_cache = (path, days)
        return self._days_cache[1]

    def version(self) -> str:
        """Changes with every new snapshot (use it in cache keys)."""
        return self.snapshot().name

    def _source(self) -> str:
        return str(self.snapshot() / CASES_FILE)

    def _where(self, flt: CaseFilter, *, daily: bool = False) -> tuple[str, list[Any]]:
        """The filter (and the scope) as a WHERE clause and its values. ``daily``: over the
        daily counts, which have ``day`` instead of request times (and no channel or source)."""
        clauses: list[str] = []
        params: list[Any] = []
        allowed = self.scope() if self.scope is not None else None
        if allowed is not None:
            clauses.append("list_contains(?, department)")
            params.append(list(allowed))
        if self.public_only:
            clauses.append("NOT is_private")
        if daily:
            if flt.start is not None:
                clauses.append("day >= ?")
                params.append(flt.start)
            if flt.end is not None:
                clauses.append("day <= ?")
                params.append(flt.end)
        else:
            _dates(flt.start, flt.end, clauses, params)
        for column, values in (
            ("department", flt.departments),
            ("service_name", flt.types),
            ("status", flt.statuses),
            ("channel", flt.channels),
            ("source", flt.sources),
        ):
            if values:
                clauses.append(f"list_contains(?, {column})")
                params.append(list(values))
        if flt.area_layer:
            column = self.area_column(flt.area_layer)
            if flt.areas:
                clauses.append(f'list_contains(?, "{column}")')
                params.append(list(flt.areas))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _daily_file(self, flt: CaseFilter, columns: Sequence[str]) -> str | None:
        """The current snapshot's daily counts, if they can answer a count of ``flt``'s cases
        by ``columns``: None for a snapshot written without them, or a filter or column they do
        not keep (channels, sources)."""
        if not self.daily or flt.channels or flt.sources:
            return None
        snapshot = self.snapshot()
        daily = self.manifest(snapshot).get("daily")
        needed = set(columns)
        if flt.area_layer and flt.areas:
            needed.add(self.area_column(flt.area_layer))
        if not daily or not needed <= set(daily["keys"]):
            return None
        return str(snapshot / daily["file"])

    def area_column(self, layer: str) -> str:
        if layer not in self.manifest()["layers"]:
            raise QueryError(f"unknown boundary layer {layer!r}")
        return f"area_{layer}"

    def _query(self, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        return self._answer("q", sql, params, lambda result: result.df())

    def _column_values(self, sql: str, params: Sequence[Any]) -> dict[str, list[Any]]:
        """:meth:`_query`'s answer as columns of values (see :attr:`Question.columns`)."""
        return self._answer("c", sql, params, _as_columns)

    def _ask(self, question: Question, sql: str, params: Sequence[Any]) -> Any:
        """A prepared question's answer, as a frame or as columns of values."""
        return (self._column_values if question.columns else self._query)(sql, params)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """:meth:`_query` for a small answer wanted as plain rows: no DataFrame is built (for
        a few dozen rows, building one cost more than the query's own grouping)."""
        return self._answer("r", sql, params, lambda result: result.fetchall())

    def _answer(
        self,
        kind: str,
        sql: str,
        params: Sequence[Any],
        fetch: Callable[[duckdb.DuckDBPyConnection], Any],
    ) -> Any:
        """``fetch`` of the query's result, kept in the results cache (when there is one) per
        ``kind`` of answer, snapshot, scope, SQL and values."""
        if self.cache is None:
            return fetch(self._cursor().execute(sql, list(params)))
        key = (
            f"{kind}:"
            + hashlib.sha256(repr((self._key_salt(), sql, list(params))).encode()).hexdigest()
        )
        found = self.cache.get(key)
        if found is not None:
            return found
        answer = fetch(self._cursor().execute(sql, list(params)))
        self.cache.set(key, answer)
        return answer

    def select(
        self,
        template: str,
        *,
        flt: CaseFilter | None = None,
        before: Sequence[Any] = (),
        after: Sequence[Any] = (),
        open_at: datetime | None = None,
    ) -> pd.DataFrame:
        """Run a query of the ``dashboard`` package over the snapshot.

        ``template`` names the cases as ``{cases}`` and the filter's conditions as ``{where}``
        (``TRUE`` without a filter). Values are bound in this order: ``before``, the snapshot path,
        the filter's values, ``after``. Only code in ``dashboard/`` calls this; callbacks never do.

        ``open_at`` (an aware datetime) keeps only the cases open at that instant: requested
        before it and not closed before it (the backlog). Those are read from the cases requested
        in the :data:`~dashboard.snapshot.LONG_OPEN_DAYS` before it plus the snapshot's file of
        long-open cases, not from every case ever requested.
        """
        question = Question(template, flt=flt, before=before, after=after, open_at=open_at)
        return self._query(*self._prepare(question))

    def select_all(self, questions: Sequence[Question]) -> list[Any]:
        """:meth:`select` for each question, answered at the same time (each on its own cursor,
        at most :data:`CONCURRENT_QUESTIONS` at once); the frames in the questions' order (or
        columns of values, for a question that asks for them: :attr:`Question.columns`). The
        first error raised by any of them is raised.

        The SQL of every question, with the caller's scope in it, is written here, in the
        caller's thread: the pool's threads only run it. (The scope comes from the web request,
        which a pool thread does not have: asked there, it said "no restriction".)"""
        prepared = [(q, *self._prepare(q)) for q in questions]
        if len(prepared) < 2:
            return [self._ask(*p) for p in prepared]
        pool = self._executor()
        futures = [pool.submit(self._ask, *p) for p in prepared]
        return [f.result() for f in futures]

    def _prepare(self, question: Question) -> tuple[str, list[Any]]:
        """A question's SQL and its values, the filter and the scope applied."""
        cases, source, condition, params = self._compose(question.flt or CaseFilter())
        if question.open_at is not None:
            cases, source = self._open_at(cases, source, question.open_at)
        sql = question.template.format(cases=cases, where=condition)
        return sql, [*question.before, *source, *params, *question.after]

    def _executor(self) -> ThreadPoolExecutor:
        """The threads of :meth:`select_all`, started on first use in this process (a web
        worker forked from a process that had them gets its own)."""
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():
                pool = ThreadPoolExecutor(CONCURRENT_QUESTIONS, thread_name_prefix="stat311-q")
                self._pool = (os.getpid(), pool)
            return self._pool[1]

    def _compose(self, flt: CaseFilter) -> tuple[str, list[Any], str, list[Any]]:
        """What ``{cases}`` and ``{where}`` stand for in :meth:`select`, each with its values."""
        where, params = self._where(flt)
        condition = where.removeprefix(" WHERE ") or "TRUE"
        return "read_parquet(?)", [self._source()], condition, params

    def _open_at(self, cases: str, source: list[Any], at: datetime) -> tuple[str, list[Any]]:
        """``{cases}`` narrowed to the cases open at ``at``."""
        is_open = "(closed_at IS NULL OR closed_at >= ?)"
        long = self._long_open(source)
        if long is None:  # a snapshot written before the long-open file, or a focus
            return (
                f"(SELECT * FROM {cases} WHERE requested_at < ? AND {is_open})",  # noqa: S608
                [*source, at, at],
            )
        path, days = long
        split = at - timedelta(days=days)
        # Open at `at` and requested before `split`: open for more than `days`, so in the
        # long-open file. The two halves are disjoint (split by request time).
        return (
            f"(SELECT * FROM {cases} WHERE requested_at >= ? AND requested_at < ? AND {is_open} "  # noqa: S608 - fixed text
            f"UNION ALL SELECT * FROM read_parquet(?) WHERE requested_at < ? AND {is_open})",
            [*source, split, at, at, path, split, at],
        )

    def _long_open(self, source: list[Any]) -> tuple[str, int] | None:
        """(path, days) of the long-open file of the snapshot ``source`` reads (the same one,
        even if another is swapped in meanwhile), if it has one."""
        snapshot = Path(source[0]).parent
        long = self.manifest(snapshot).get("long_open")
        if not long:
            return None
        return str(snapshot / long["file"]), int(long["days"])

    def _key_salt(self) -> Any:
        """What, besides the SQL and its values, tells cached results apart."""
        return None

    @contextmanager
    def focus(self, flt: CaseFilter, columns: Sequence[str]) -> Iterator[ReadModel]:
        """A read model over only the cases of ``flt``, read from the snapshot once and held
        in memory (as Arrow) for the block, with ``columns`` and the columns the filter needs.

        For a page that asks several questions about the same cases (the hot-spot page asks
        five about one type over a year): one scan of the snapshot instead of one per question,
        the rest answered from memory. Every :meth:`select` through it must ask for cases
        within ``flt`` (the same values, dates inside its dates) and name only ``columns`` and
        ``requested_local`` (``requested_at`` and ``closed_at`` for ``open_at``); anything
        else raises (:class:`QueryError`, or DuckDB's error for a column it lacks): a
        programming error, never user input."""
        wanted = ["requested_local"]  # the only filter a question through the focus may narrow
        known = set(self.manifest().get("columns", []))
        for column in columns:
            if known and column not in known:
                raise QueryError(f"the snapshot has no column {column!r}")
            if column not in wanted:
                wanted.append(column)
        where, params = self._where(flt)
        select_list = ", ".join(f'"{c}"' for c in wanted)
        cursor = self._new_cursor()
        table = cursor.sql(
            f"SELECT {select_list} FROM read_parquet(?){where}",  # noqa: S608 - checked columns
            params=[self._source(), *params],
        ).to_arrow_table()
        cursor.register(_FOCUS, table)
        focused = _Focused(self, flt=flt, cursor=cursor, columns=tuple(wanted), table=table)
        try:
            yield focused
        finally:
            focused._close_others()
            cursor.unregister(_FOCUS)
            cursor.close()

    def has_column(self, name: str) -> bool:
        return name in self.manifest().get("columns", [name])

    # -- questions ------------------------------------------------------------------------------
    def total(self, flt: CaseFilter) -> int:
        where, params = self._where(flt)
        sql = f"SELECT count(*) AS n FROM read_parquet(?){where}"  # noqa: S608
        return int(self._query(sql, [self._source(), *params])["n"].iloc[0])

    def counts(
        self,
        flt: CaseFilter,
        *,
        by: Sequence[str] = ("department",),
        period: str | None = "week",
        public: bool = False,
    ) -> pd.DataFrame:
        """Case counts by period (local date the period starts) and dimensions (``area:<layer>``
        for a boundary layer's areas).

        Columns: ``period`` (when ``period`` is given), then ``by`` in order, then ``count``;
        sorted by all keys. ``public``: only the cases the public may see (not private).
        Answered from the snapshot's daily counts when they keep every column asked for.
        """
        keys: list[str] = []
        selects: list[str] = []
        columns_of: list[str] = []
        if period is not None:
            if period not in PERIODS:
                raise QueryError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
            selects.append(f"CAST(date_trunc('{period}', requested_local) AS DATE) AS period")
            keys.append("period")
        for dim in by:
            if dim.startswith("area:"):
                column = self.area_column(dim.removeprefix("area:"))
            elif dim in DIMENSIONS:
                column = DIMENSIONS[dim]
            else:
                raise QueryError(f"unknown dimension {dim!r}")
            selects.append(f'"{column}" AS "{dim}"')
            keys.append(f'"{dim}"')
            columns_of.append(column)
        source, where, params, daily = self._count_source(flt, columns_of, public=public)
        if daily:
            # whole local days: the day a case was requested is its requested_local's date
            selects = [s.replace("requested_local", "day") for s in selects]
            select_list = ", ".join([*selects, "CAST(sum(requests) AS BIGINT) AS count"])
        else:
            select_list = ", ".join([*selects, "count(*) AS count"])
        group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
        sql = f"SELECT {select_list} FROM read_parquet(?){where}{group}"  # noqa: S608
        frame = self._query(sql, [source, *params])
        frame["count"] = frame["count"].fillna(0).astype("int64")
        if "period" in frame.columns:
            frame["period"] = pd.to_datetime(frame["period"])
        return frame

    def _count_source(
        self, flt: CaseFilter, columns: Sequence[str], *, public: bool
    ) -> tuple[str, str, list[Any], bool]:
        """Where a count of ``flt``'s cases by ``columns`` reads: (Parquet file, WHERE clause,
        its values, whether the file is the daily counts, whose rows are summed with
        ``sum(requests)`` rather than counted). ``public``: the private cases left out."""
        wanted = [*columns, "is_private"] if public or self.public_only else list(columns)
        daily = self._daily_file(flt, wanted)
        where, params = self._where(flt, daily=daily is not None)
        if public and not self.public_only:  # (public_only puts it in every WHERE)
            where = f"{where} AND NOT is_private" if where else " WHERE NOT is_private"
        return daily or self._source(), where, params, daily is not None

    def area_totals(
        self, flt: CaseFilter, layer: str, *, public: bool = False
    ) -> list[tuple[str | None, int, int]]:
        """(area, requests, open requests) for each area of ``layer`` with ``flt``'s cases, the
        busiest first; among equals by name, and the cases outside every area (or without a
        location, area None) after the named ones. One grouped query, over the daily counts
        when they keep the layer. ``public``: only the cases the public may see."""
        column = self.area_column(layer)
        source, where, params, daily = self._count_source(flt, [column, "status"], public=public)
        n = "sum(requests)" if daily else "count(*)"
        sql = (
            f'SELECT "{column}", CAST({n} AS BIGINT), '  # noqa: S608 - a known layer's column
            f"CAST(coalesce({n} FILTER (WHERE status = 'open'), 0) AS BIGINT) "
            f"FROM read_parquet(?){where} GROUP BY 1 ORDER BY 2 DESC, 1 IS NULL, 1"
        )
        return [(a, int(r), int(o)) for a, r, o in self._rows(sql, [source, *params])]

    def first_day(self) -> date | None:
        """The data's first local day (the earliest request the caller may see), None without
        a snapshot or without cases (from :meth:`options`, cached per snapshot)."""
        try:
            return self.options()["min_date"]
        except SnapshotMissingError:
            return None

    def options(self) -> dict[str, Any]:
        """Values for the filter controls: departments, types, statuses, channels, areas, dates."""
        if self.cache is None:
            return self._options()
        allowed = self.scope() if self.scope is not None else None
        key = (
            "o:"
            + hashlib.sha256(repr((self._source(), allowed, self.public_only)).encode()).hexdigest()
        )
        found = self.cache.get(key)
        if found is None:
            found = self._options()
            self.cache.set(key, found)
        return found

    def _options(self) -> dict[str, Any]:
        """Every value but the channels comes from the daily counts when the snapshot has them
        (62 -> about 22 ms at 10M cases); the channels, which they do not keep, from the cases."""
        snapshot = self.snapshot()  # one snapshot for every question below
        manifest = self.manifest(snapshot)
        cases = str(snapshot / CASES_FILE)
        daily_file = manifest.get("daily") if self.daily else None
        counted = str(snapshot / daily_file["file"]) if daily_file else cases
        cur = self._cursor()
        where, params = self._where(CaseFilter())
        scoped = where.removeprefix(" WHERE ") or "TRUE"

        def distinct(column: str, source: str = counted) -> list[str]:
            sql = (
                f'SELECT DISTINCT "{column}" AS v FROM read_parquet(?) '  # noqa: S608
                f'WHERE "{column}" IS NOT NULL AND {scoped} ORDER BY 1'
            )
            return [r[0] for r in cur.execute(sql, [source, *params]).fetchall()]

        if daily_file:
            span_sql = (
                "SELECT min(day), max(day), CAST(sum(requests) AS BIGINT) "  # noqa: S608
                f"FROM read_parquet(?) WHERE {scoped}"
            )
        else:
            span_sql = (
                "SELECT min(requested_local)::DATE, max(requested_local)::DATE, "  # noqa: S608
                f"count(*) FROM read_parquet(?) WHERE {scoped}"
            )
        span = cur.execute(span_sql, [counted, *params]).fetchone()
        return {
            "departments": distinct("department"),
            "types": distinct("service_name"),
            "statuses": distinct("status"),
            "channels": distinct("channel", cases),
            "layers": {layer: distinct(f"area_{layer}") for layer in manifest["layers"]},
            "min_date": span[0],
            "max_date": span[1],
            "rows": int(span[2] or 0),
        }


def _dates(start: date | None, end: date | None, clauses: list[str], params: list[Any]) -> None:
    """Local dates, inclusive, as conditions on ``requested_local`` (appended to the lists)."""
    if start is not None:
        clauses.append("requested_local >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        clauses.append("requested_local < ?")
        params.append(pd.Timestamp(end + timedelta(days=1)).to_pydatetime())


#: The name the in-memory cases of :meth:`ReadModel.focus` go by in SQL.
_FOCUS = "focused_cases"


def _within(inner: CaseFilter, outer: CaseFilter) -> bool:
    """Whether every case ``inner`` selects is one ``outer`` selects (same values, dates inside)."""
    if replace(inner, start=outer.start, end=outer.end) != outer:
        return False
    if outer.start is not None and (inner.start is None or inner.start < outer.start):
        return False
    return outer.end is None or (inner.end is not None and inner.end <= outer.end)


class _Focused(ReadModel):
    """:meth:`ReadModel.focus`'s read model: ``{cases}`` are the focused cases in memory."""

    def __init__(
        self,
        parent: ReadModel,
        *,
        flt: CaseFilter,
        cursor: duckdb.DuckDBPyConnection,
        columns: tuple[str, ...],
        table: Any,
    ) -> None:
        super().__init__(parent.snapshot_dir, scope=parent.scope, public_only=parent.public_only)
        self.cache = parent.cache
        self._manifest_cache = parent._manifest_cache
        self._parent = parent
        self._flt = flt
        self._focus_cursor = cursor
        self._owner = threading.get_ident()
        #: The focused cases (Arrow), for the cursors of :meth:`select_all`'s other threads.
        self._table = table
        self._others: dict[int, duckdb.DuckDBPyConnection] = {}
        self._columns = columns
        self._path = parent._source()  # pinned: a snapshot swapped in meanwhile is not mixed in
        # The cases were read with the caller's scope and privacy: part of every cached key, as
        # the questions asked of the focus do not repeat them in their SQL.
        self._read_as = (parent.scope() if parent.scope is not None else None, parent.public_only)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """The focus's cursor in the thread that made it; in another thread (a question of
        :meth:`select_all`), that thread's own cursor over the same cases in memory (registering
        them again copies nothing), made on first use and closed with the focus."""
        ident = threading.get_ident()
        if ident == self._owner:
            return self._focus_cursor
        with self._lock:
            cursor = self._others.get(ident)
            if cursor is None:
                cursor = self._others[ident] = self._parent._new_cursor()
                cursor.register(_FOCUS, self._table)
            return cursor

    def _close_others(self) -> None:
        with self._lock:
            others, self._others = list(self._others.values()), {}
        for cursor in others:
            cursor.unregister(_FOCUS)
            cursor.close()

    def data_days(self) -> tuple[date, date] | None:
        return self._parent.data_days()

    def _source(self) -> str:
        return self._path

    def _compose(self, flt: CaseFilter) -> tuple[str, list[Any], str, list[Any]]:
        """The focused cases. The focus's own filter (and the caller's scope) were applied when
        they were read; only narrower dates are applied here, so the focus needs no other filter
        column."""
        if not _within(flt, self._flt):
            raise QueryError(f"{flt} asks for cases outside the focus {self._flt}")
        clauses: list[str] = []
        params: list[Any] = []
        _dates(
            flt.start if flt.start != self._flt.start else None,
            flt.end if flt.end != self._flt.end else None,
            clauses,
            params,
        )
        return _FOCUS, [], " AND ".join(clauses) or "TRUE", params

    def select_all(self, questions: Sequence[Question]) -> list[Any]:
        """At the same time, as :meth:`ReadModel.select_all` does: the first question in this
        thread, the others on the read model's threads, each on a cursor of its own over the
        same focused cases. (Questions about a few thousand cases in memory left the second
        core partly idle: the hot-spot page's took 37 ms at once against 43-50 ms one after
        another on a 1M store; docs/BENCHMARKS-HISTORY.md.)"""
        prepared = [(q, *self._prepare(q)) for q in questions]
        if len(prepared) < 2:
            return [self._ask(*p) for p in prepared]
        pool = self._parent._executor()
        futures = [pool.submit(self._ask, *p) for p in prepared[1:]]
        try:
            first = self._ask(*prepared[0])
        finally:
            wait(futures)  # none outlives this focus's cursors, whatever the first did
        return [first, *(f.result() for f in futures)]

    # Questions that read the snapshot itself go to it (not through the focus's filter).
    def total(self, flt: CaseFilter) -> int:
        return self._parent.total(flt)

    def counts(self, flt: CaseFilter, **kwargs: Any) -> pd.DataFrame:
        return self._parent.counts(flt, **kwargs)

    def options(self) -> dict[str, Any]:
        return self._parent.options()

    def _key_salt(self) -> Any:
        return ("focus", self._path, self._flt, self._columns, self._read_as)

    def _long_open(self, source: list[Any]) -> tuple[str, int] | None:
        return None  # the focused cases are in memory: filtered there

    @contextmanager
    def focus(self, flt: CaseFilter, columns: Sequence[str]) -> Iterator[ReadModel]:
        with self._parent.focus(flt, columns) as focused:
            yield focused
