"""The one class that owns database access: :class:`Store`.

SQLite (default) and PostgreSQL/PostGIS share one code path; the database URL chooses. Everything
that reads or writes the system of record goes through here (the ETL loader gets a connection from
:meth:`Store.transaction` and uses the helpers below).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Engine,
    Integer,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url

from dashboard import schema
from dashboard.errors import StoreError

log = logging.getLogger(__name__)

#: SQLite page cache of a loading connection, in MiB (the default for other connections: 64).
LOAD_CACHE_MIB = 256

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: PostgreSQL advisory lock keys (transaction level). Writers of cases and runs take the first, so
#: they run one at a time as on SQLite (whose ``BEGIN IMMEDIATE`` takes the database's write lock):
#: a load never meets another load's uncommitted rows, and run ids follow commit order (a
#: snapshot tagged with the newest run has every committed case). Migrations take the second.
WRITER_LOCK = 311_001
MIGRATION_LOCK = 311_002
#: What PostgreSQL text cannot hold, and what stands for it (the reader does the same for NULs in
#: a file's lines; a JSON ``\u0000`` escape only becomes one after parsing).
NUL, REPLACEMENT = "\x00", "\ufffd"
#: Seconds a SQLite connection waits for another's write lock (a load holds it for its whole
#: transaction) before "database is locked".
BUSY_TIMEOUT_S = 30


@contextmanager
def waiting_for_writers(seconds: float) -> Iterator[None]:
    """SQLite connections opened inside this block, by any :class:`Store`, wait at most
    ``seconds`` for another connection's write lock (a load holds it for its whole
    transaction) instead of :data:`BUSY_TIMEOUT_S`; then "database is locked". For one command
    of one process (``stat311 ... --wait SECONDS``); connections opened before the block keep
    their timeout, and :data:`BUSY_TIMEOUT_S` is back after it. No effect on PostgreSQL."""
    global BUSY_TIMEOUT_S
    previous = BUSY_TIMEOUT_S
    BUSY_TIMEOUT_S = seconds
    try:
        yield
    finally:
        BUSY_TIMEOUT_S = previous


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


class Store:
    """The system of record.

    >>> store = Store("sqlite:///var/stat311.db")  # doctest: +SKIP
    >>> store.migrate()  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in {"sqlite", "postgresql"}:
            raise StoreError(
                f"unsupported database {self.dialect!r}: use sqlite:///... or postgresql+psycopg://..."
            )
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    # -- connection -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            kwargs: dict[str, Any] = {}
            if self.dialect == "sqlite":
                database = self.url.database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
            else:
                kwargs["pool_pre_ping"] = True
                # Every session in UTC, whatever the server's, the database's or PGTZ's zone:
                # times come back as the store wrote them (the CLI printed a run's start in the
                # server's zone, and a snapshot's "run started" mark changed with PGTZ, so the
                # next load rebuilt the snapshot whole instead of merging).
                # (Kept beside any ``options`` the URL already gives, e.g. a search_path.)
                given = self.url.query.get("options")
                given = " ".join(given) if isinstance(given, tuple) else given
                kwargs["connect_args"] = {
                    "options": " ".join(filter(None, [given, "-c TimeZone=UTC"]))
                }
            engine = create_engine(self.url, **kwargs)
            if self.dialect == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            self._engine = engine
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def transaction(
        self, *, exclusive: bool = False, busy_timeout_s: float | None = None
    ) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any exception.

        ``exclusive``: for transactions that write cases or ingestion runs (loads, boundary
        layers). On PostgreSQL they wait for each other (:data:`WRITER_LOCK`); on SQLite every
        transaction already takes the database's write lock.

        ``busy_timeout_s``: on SQLite, wait at most this long for another connection's write
        lock (instead of :data:`BUSY_TIMEOUT_S`), for this transaction only; the connection
        gets its own timeout back before it returns to the pool. Then ``OperationalError``
        ("database is locked")."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection if self.dialect == "sqlite" else None
            restore = None
            if raw is not None and busy_timeout_s is not None:
                restore = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
                raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            try:
                with conn.begin():
                    if raw is not None:
                        # Take the write lock now, so a concurrent loader waits instead of
                        # failing late, and what is read before the first write (e.g. the
                        # boundary layers) is read inside the transaction. (The sqlite3 driver
                        # would only BEGIN at the first INSERT/UPDATE/DELETE: a SELECT does not
                        # start a transaction.)
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    elif exclusive:
                        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                    yield conn
            finally:
                if restore is not None:
                    raw.execute(f"PRAGMA busy_timeout = {restore}")

    def connect(self) -> Connection:
        return self.engine.connect()

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            if self.dialect == "sqlite":
                head = ScriptDirectory.from_config(config).get_current_head()
                if self.schema_revision() == head:
                    # Nothing to do, and no write lock taken: commands and web workers start
                    # while a load holds it.
                    return
            with self.engine.begin() as conn:
                # Two commands started at once on a new database would both create the
                # tables; the second waits here and then finds the schema at head.
                if self.dialect == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                else:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's write lock, now
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except Exception as exc:  # pragma: no cover - reported to the user
            raise StoreError(f"cannot migrate {self!r}: {exc}") from exc

    def backup(self, dest: Path) -> dict[str, Any]:
        """Copy a SQLite store to ``dest`` while it is in use (SQLite's online backup): the copy
        holds what was committed when it started, also while a load is writing, and is checked
        (``PRAGMA quick_check``) before it is given its name (written as ``dest.partial`` first,
        so a killed backup leaves no file that looks complete). Returns ``path``, ``bytes``,
        ``cases``, ``revision`` and ``seconds``. PostgreSQL: :class:`StoreError` (use
        ``pg_dump``). ``dest`` must not exist: a backup never overwrites."""
        import os
        import sqlite3
        import time

        if self.dialect != "sqlite":
            raise StoreError(
                "backup copies a SQLite store; for PostgreSQL use pg_dump, e.g. "
                "pg_dump -Fc DBNAME > stat311.dump"
            )
        dest = Path(dest)
        if dest.exists():
            raise StoreError(f"{dest} already exists: a backup never overwrites, choose a new name")
        source = make_url(self.url).database
        if not source or source == ":memory:" or not Path(source).exists():
            raise StoreError(f"no SQLite store at {source!r} to back up")
        started = time.perf_counter()
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        # Readable by its owner only: the copy holds staff password hashes, the audit log and
        # the cases' personal data, whatever the umask.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # one step: a consistent read of the committed database
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"the copy failed its check ({check}); {dest} was not written")
            cases = int(dst.execute("SELECT count(*) FROM cases").fetchone()[0])
            revision = dst.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        except BaseException:
            dst.close()
            partial.unlink(missing_ok=True)
            raise
        finally:
            src.close()
        dst.close()
        try:
            # A hard link never replaces a file that appeared at ``dest`` meanwhile.
            os.link(partial, dest)
        except FileExistsError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"{dest} already exists: a backup never overwrites") from exc
        except OSError:  # a file system without hard links: the last check, then a rename
            if dest.exists():
                partial.unlink(missing_ok=True)
                raise StoreError(f"{dest} already exists: a backup never overwrites") from None
            os.replace(partial, dest)
        else:
            partial.unlink()
        return {
            "path": str(dest),
            "bytes": dest.stat().st_size,
            "cases": cases,
            "revision": revision,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def ping(self) -> None:
        """Raise unless the database answers a query on the cases table (the health check)."""
        with self.connect() as conn:
            conn.execute(text("SELECT 1 FROM cases LIMIT 1")).fetchall()

    def schema_revision(self) -> str | None:
        with self.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                return None

    # -- reading ----------------------------------------------------------------------------
    def count_cases(self) -> int:
        with self.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.cases)).scalar_one())

    def is_empty(self) -> bool:
        with self.connect() as conn:
            return conn.execute(select(schema.cases.c.id).limit(1)).first() is None

    def latest_run_id(self) -> int:
        """Id of the newest ingestion run (0 when none): the version the snapshot must match."""
        with self.connect() as conn:
            value = conn.execute(select(func.max(schema.ingestion_runs.c.id))).scalar()
        return int(value or 0)

    def data_version(self) -> str:
        """A string that changes whenever cases or boundary layers change."""
        run, layers = self.data_state()
        return f"r{run}-{layers}"

    def data_state(self) -> tuple[int, str]:
        """``(newest ingestion run id, boundary layers tag)``: the two halves of
        :meth:`data_version`. Every case a run inserts or changes gets that run's id as its
        ``last_run_id``, so the cases changed after run ``r`` are those with a larger one."""
        with self.connect() as conn:
            run = conn.execute(select(func.max(schema.ingestion_runs.c.id))).scalar() or 0
            return int(run), self.layers_tag(conn)

    def runs_after(self, run_id: int) -> list[int]:
        """Ids of the ingestion runs after ``run_id``, ascending."""
        runs = schema.ingestion_runs
        query = select(runs.c.id).where(runs.c.id > run_id).order_by(runs.c.id)
        with self.connect() as conn:
            return [int(r) for r in conn.execute(query).scalars()]

    def cases_last_written_by(self) -> set[int]:
        """The runs that last wrote the store's cases, when that is one run (``{run}``) or
        none (an empty store: ``set()``); otherwise the smallest and largest (from the index
        on ``last_run_id``, without a scan)."""
        c = schema.cases.c
        with self.connect() as conn:
            low, high = conn.execute(select(func.min(c.last_run_id), func.max(c.last_run_id))).one()
        return set() if low is None else {int(low), int(high)}

    def layers_tag(self, conn: Connection) -> str:
        """The boundary layers' half of :meth:`data_version`, on an open connection."""
        count, newest = conn.execute(
            select(func.count(), func.max(schema.boundary_layers.c.id))
        ).one()
        return f"l{count}.{newest or 0}"

    def run_started(self, run_id: int) -> str | None:
        """When ingestion run ``run_id`` started (ISO text), or None when there is no such run:
        with the id, it tells this store's run from another store's run of the same number."""
        runs = schema.ingestion_runs
        with self.connect() as conn:
            value = conn.execute(select(runs.c.started_at).where(runs.c.id == run_id)).scalar()
        return None if value is None else str(value)

    def get_case(self, request_id: str, *, source: str | None = None) -> dict[str, Any] | None:
        """One case by tracking number (and source when ids are not unique across sources)."""
        query = select(schema.cases).where(schema.cases.c.request_id == request_id)
        if source is not None:
            query = query.where(schema.cases.c.source == source)
        with self.connect() as conn:
            row = conn.execute(query.order_by(schema.cases.c.id).limit(1)).mappings().first()
        return dict(row) if row else None

    def runs(self, *, limit: int = 20) -> list[dict[str, Any]]:
        query = (
            select(schema.ingestion_runs).order_by(schema.ingestion_runs.c.id.desc()).limit(limit)
        )
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def quarantined(self, *, run_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(schema.quarantine).order_by(schema.quarantine.c.id).limit(limit)
        if run_id is not None:
            query = query.where(schema.quarantine.c.run_id == run_id)
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def iter_snapshot_frames(
        self, *, chunk_size: int = 25_000, after_run: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Cases for the read model, ordered by requested time, with one ``area_<layer>`` column
        per boundary layer. Free text (description, resolution) is left out of the snapshot.

        ``after_run``: only the cases inserted or changed by a run after that one."""
        layers = self.boundary_layers()
        c = schema.cases.c
        columns = [
            c.id,
            *(
                getattr(c, name)
                for name in schema.CASE_FIELDS
                if name not in schema.INTERNAL_FIELDS
            ),
            *(getattr(c, name) for name in schema.H3_FIELDS),
        ]
        query = select(*columns)
        for layer in layers:
            alias = schema.case_areas.alias(f"a{layer['id']}")
            query = query.add_columns(alias.c.area.label(f"area_{layer['name']}")).outerjoin(
                alias, (alias.c.case_id == c.id) & (alias.c.layer_id == layer["id"])
            )
        if after_run is not None:
            query = query.where(c.last_run_id > int(after_run))
        query = query.order_by(c.requested_at, c.id)
        with self.connect() as conn:
            if self.dialect == "sqlite":
                # The plain DBAPI cursor, columns built by Arrow: twice as fast as a SQLAlchemy
                # result turned into a DataFrame from Python lists (the snapshot's main cost).
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                cursor = conn.connection.driver_connection.cursor()
                try:
                    cursor.execute(sql)
                    keys = [d[0] for d in cursor.description]
                    while part := cursor.fetchmany(chunk_size):
                        yield _frame_from_rows(keys, part)
                finally:
                    cursor.close()
                return
            if self.dialect == "postgresql":
                # A server-side cursor is planned for its first 10% of rows by default; right
                # after a bulk load (no statistics yet) that picks a nested loop over case_areas
                # that is quadratic (40 s for 58k cases). We read every row: plan for all of them.
                conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
            result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
                query
            )
            for part in result.partitions(chunk_size):
                yield _frame_from_rows(list(result.keys()), part)

    # -- boundaries -------------------------------------------------------------------------
    def boundary_layers(self) -> list[dict[str, Any]]:
        query = select(schema.boundary_layers).order_by(schema.boundary_layers.c.id)
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def boundary_areas(self, layer: str) -> list[dict[str, Any]]:
        """Areas of one layer: ``[{"name": ..., "geometry": <GeoJSON dict>}]``."""
        bl, ba = schema.boundary_layers, schema.boundary_areas
        query = (
            select(ba.c.name, ba.c.geometry)
            .join(bl, bl.c.id == ba.c.layer_id)
            .where(bl.c.name == layer)
            .order_by(ba.c.name)
        )
        with self.connect() as conn:
            return [
                {"name": r.name, "geometry": json.loads(r.geometry)} for r in conn.execute(query)
            ]

    @staticmethod
    def read_layer_rows(conn: Connection) -> list[dict[str, Any]]:
        """Every area of every layer on an open connection (used inside a load's transaction).

        Areas come in the layer file's order (the order they were inserted in): a point in two
        overlapping areas gets the first, the same one :func:`etl.boundaries.add_layer` gave."""
        bl, ba = schema.boundary_layers, schema.boundary_areas
        query = (
            select(bl.c.id.label("layer_id"), bl.c.name.label("layer"), ba.c.name, ba.c.geometry)
            .join(ba, ba.c.layer_id == bl.c.id)
            .order_by(bl.c.id, ba.c.id)
        )
        return [
            {**row._asdict(), "geometry": json.loads(row.geometry)} for row in conn.execute(query)
        ]

    def bulk_insert(self, conn: Connection, table: Table, frame: pd.DataFrame) -> int:
        """Insert a DataFrame's rows with one DBAPI ``executemany`` (SQLite) or one ``COPY``
        (PostgreSQL): values are converted column by column (times to the dialect's storage
        form, missing values to NULL), with none of the per-row work of an ORM or Core insert.
        Columns must be columns of ``table``."""
        if frame.empty:
            return 0
        names = list(frame.columns)
        values = [self._db_values(frame[name], table.c[name].type) for name in names]
        if self.dialect == "postgresql":
            # COPY on the transaction's own connection: one statement instead of one per row
            # (psycopg's pipelined executemany spent more time per row than the server).
            columns = ", ".join(names)
            cursor = conn.connection.driver_connection.cursor()
            try:
                with cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
                    for row in zip(*values, strict=True):
                        copy.write_row(row)
            finally:
                cursor.close()
            return len(frame)
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        statement = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - names from the schema
            f"VALUES ({', '.join([marker] * len(names))})"
        )
        conn.exec_driver_sql(statement, list(zip(*values, strict=True)))
        return len(frame)

    def max_case_id(self, conn: Connection) -> int:
        return int(conn.execute(select(func.max(schema.cases.c.id))).scalar() or 0)

    def reserve_case_ids(self, conn: Connection, count: int) -> np.ndarray:
        """``count`` new, unused case ids, ascending, for a bulk insert that gives its own ids
        (so nothing has to be read back).

        SQLite: the ids after the largest one (a load holds the database's write lock for its
        whole transaction). PostgreSQL: drawn from the ``cases.id`` sequence, so loads running
        at the same time never get the same id and the sequence stays ahead of every id."""
        if count <= 0:
            return np.empty(0, dtype=np.int64)
        if self.dialect == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, %s)",
                (int(count),),
            ).all()
            return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=count))
        first = self.max_case_id(conn) + 1
        return np.arange(first, first + count, dtype=np.int64)

    def index_new_points(self, conn: Connection, *, after_id: int) -> None:
        """Add the R*Tree rows of the cases inserted after ``after_id`` (SQLite; one statement
        per batch instead of a per-row trigger). PostGIS indexes its generated column itself."""
        if self.dialect != "sqlite":
            return
        # In H3 order: neighbouring points go in one after another, so the tree's pages are
        # reused while they are in the cache (10M points: 172 s in file order, 109 s in a
        # space-filling order with a larger cache).
        conn.exec_driver_sql(
            "INSERT INTO cases_rtree SELECT id, lon, lon, lat, lat FROM cases "
            "WHERE id > ? AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY h3_10, id",
            (after_id,),
        )

    @contextmanager
    def bulk_cache(self, conn: Connection, *, mebibytes: int = LOAD_CACHE_MIB) -> Iterator[None]:
        """SQLite: a larger page cache on this connection for the length of a bulk load (the
        indexes and the R*Tree of a 10M-case store do not fit the default 64 MB), then back."""
        if self.dialect != "sqlite":
            yield
            return
        previous = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{int(mebibytes) * 1024}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")

    def _db_values(self, series: pd.Series, type_: Any) -> list[Any]:
        """One column as DBAPI values: None for missing, times in the dialect's storage form.

        Conversions go through Arrow, which builds the Python values in C (the pandas
        ``astype(object).where(...)`` route cost more than the insert itself)."""
        if isinstance(type_, DateTime):
            times = pd.to_datetime(series, utc=True)
            if self.dialect == "sqlite":
                # SQLAlchemy's SQLite storage form for DateTime: naive UTC text
                # '%Y-%m-%d %H:%M:%S.%f', which is what Arrow casts microsecond times to.
                naive = times.dt.tz_convert(None).astype("datetime64[us]")
                return pa.array(naive, from_pandas=True).cast(pa.string()).to_pylist()
            # ISO text with its zone ('...Z'), which PostgreSQL reads (COPY sends it as it is).
            utc = times.astype("datetime64[us, UTC]")
            return pa.array(utc, from_pandas=True).cast(pa.string()).to_pylist()
        if isinstance(type_, Boolean):
            return [bool(v) for v in series.tolist()]
        if isinstance(type_, Integer) and pd.api.types.is_float_dtype(series.dtype):
            series = series.astype("Int64")  # 1.0 is not an integer to COPY's text format
        try:
            return pa.array(series, from_pandas=True).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: the slow route
            return series.astype(object).where(series.notna(), None).tolist()

    def storable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` as this database can store it: on PostgreSQL a NUL in text becomes U+FFFD
        (PostgreSQL refuses text with NULs; SQLite keeps them). Keys included, so the rows are
        looked up by the ids they are stored under. Columns are checked through Arrow."""
        if self.dialect != "postgresql":
            return frame
        out = frame
        for name in frame.columns:
            column = frame[name]
            if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
                continue
            try:
                array = pa.array(column, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue
            if (
                not pa.types.is_string(array.type)
                or not pc.any(pc.match_substring(array, NUL)).as_py()
            ):
                continue
            if out is frame:
                out = frame.copy()
            out[name] = column.str.replace(NUL, REPLACEMENT, regex=False)
        return out

    def storable_text(self, value: str) -> str:
        """One text value as this database can store it (see :meth:`storable`)."""
        return value.replace(NUL, REPLACEMENT) if self.dialect == "postgresql" else value

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def _frame_from_rows(keys: list[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame of result rows, built column by column through Arrow.

    H3 ids and case ids are 64-bit: they become ``Int64`` (never a float column, as pandas
    makes for integers with missing values, which would round them)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(keys)
    arrays = []
    for key, values in zip(keys, columns, strict=True):
        if key in schema.H3_FIELDS or key == "id":
            arrays.append(pa.array(values, type=pa.int64()))
        else:
            arrays.append(pa.array(values))
    table = pa.table(arrays, names=keys)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
