"""Load one export into the store: stream, normalise, quarantine, upsert, all in one transaction.

The whole load is a single database transaction: a load that fails, or is killed, leaves the store
exactly as it was. Re-loading the same file changes nothing (every row is "unchanged"). After the
commit a new read-model snapshot is written and swapped in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from dashboard import schema
from dashboard.errors import InputFileError
from dashboard.logs import RESULT
from dashboard.settings import Settings
from dashboard.snapshot import LoadRows, load_rows_for, write_for
from dashboard.store import Store
from etl import adapters, pipeline
from etl.normalise import NormaliseContext, normalise
from etl.reader import ExportFile, RawBatch
from geodata import h3cells
from geodata.areas import StoredLayers

log = logging.getLogger(__name__)

_LOOKUP_CHUNK = 5000
#: PostgreSQL: rows a load inserts before its first in-transaction ANALYZE (then each doubling).
_ANALYZE_FROM = 50_000
_HASHED = [f for f in schema.CASE_FIELDS if f != "source"]
#: Fields every load sets whatever its columns: never "absent".
_ALWAYS_SET = frozenset({"source", "request_id", "status", "location_quality", "service_code"})
#: What an absent column leaves in a field, per kind of field: no information, not a value.
_UNKNOWN_IF = {"channel": "unknown", "is_duplicate": False, "is_private": False}
#: The fields of a location, kept or replaced together.
_LOCATION = ("lat", "lon", "location_quality", *schema.H3_FIELDS)


def absent_fields(adapter: adapters.Adapter, header: list[str]) -> frozenset[str]:
    """The canonical fields this file has no column for (schema drift: a year's export without
    ``closed_dt``, say). A stored case updated from such a file keeps what it had there, unless
    the adapter derived a value for the row from other columns (see :func:`_keep_absent`)."""
    resolved = adapter.resolve(header)
    fields = {f for f in schema.CASE_FIELDS if f not in resolved and f not in _ALWAYS_SET}
    if "status_raw" in fields:
        fields.add("status")  # the status is read from the raw status
    return frozenset(fields)


@dataclass
class LoadReport:
    """What a load did. ``read == inserted + updated + unchanged + sum(quarantined.values())``."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    #: Of the ``unchanged`` rows, those of cases the store holds a newer version of (their
    #: ``updated_at`` is later than the row's): an older export loaded after a newer one does
    #: not reopen or revert them.
    kept_newer: int = 0
    seconds: float = 0.0
    #: where the time went, in seconds: ``read_normalise`` (reading, normalising, hashing, H3;
    #: in a second process for large files, overlapping the rest), ``write`` (inserts and
    #: updates), of which ``rtree`` (the SQLite spatial index) and ``stage_snapshot_rows`` (the
    #: snapshot rows of the cases written, staged for the snapshot), and ``snapshot`` (after the
    #: commit, when one is written).
    stages: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None
    format: str = ""
    source: str = ""
    path: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["stages"] = {k: round(v, 3) for k, v in self.stages.items()}
        return data

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def summary(self) -> str:
        q = ", ".join(f"{k} {v:,}" for k, v in sorted(self.quarantined.items())) or "none"
        return (
            f"{self.path}: read {self.read:,} rows as {self.format} into source {self.source!r}: "
            f"{self.inserted:,} inserted, {self.updated:,} updated, {self.unchanged:,} unchanged"
            + (
                f" ({self.kept_newer:,} older than the stored case: not applied)"
                if self.kept_newer
                else ""
            )
            + f", {self.quarantined_total:,} quarantined ({q}) in {self.seconds:.1f} s"
        )


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """A stable 64-bit content hash per canonical row (hex), to tell updated from unchanged."""
    values = pd.util.hash_pandas_object(frame[_HASHED], index=False).to_numpy(dtype=np.uint64)
    return pd.Series([f"{v:016x}" for v in values.tolist()], index=frame.index, dtype=object)


def _with_hash_and_cells(cases: pd.DataFrame) -> pd.DataFrame:
    """The normalised batch without ``_line``, plus its ``row_hash`` and H3 cells (pure
    functions of the batch: done on the reading side, see :mod:`etl.pipeline`)."""
    cases = cases.drop(columns=["_line"])
    cases["row_hash"] = row_hashes(cases)
    lat, lon = cases["lat"].to_numpy(float), cases["lon"].to_numpy(float)
    # The cell containing the point at each resolution (not the finest cell's parents: H3
    # children do not tile their parent exactly, and ~5% of points would differ).
    for resolution, name in zip(schema.H3_RESOLUTIONS, schema.H3_FIELDS, strict=True):
        cells = h3cells.cells(lat=lat, lon=lon, resolution=resolution)
        cases[name] = pd.arrays.IntegerArray(cells, mask=cells == h3cells.NO_CELL)
    return cases


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for every missing value (NaT, NaN, pd.NA)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Loader:
    """Loads exports into a :class:`Store` (see :func:`load_file`)."""

    def __init__(self, store: Store, settings: Settings, *, reader_process: bool = True) -> None:
        self.store = store
        self.settings = settings
        #: Whether a large file may be read in a second process (see etl.pipeline).
        self.reader_process = reader_process
        self._analyzed_at = 0

    def _quarantine_upsert(self) -> Any:
        """Insert a quarantined row; one already kept (same source, raw text and reason) from an
        earlier run moves to this run and line, so re-loading a file does not grow the table and
        every run's quarantined rows can be listed with their line numbers."""
        table = schema.quarantine
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        statement = dialect.insert(table)
        return statement.on_conflict_do_update(
            index_elements=["source", "raw_hash", "reason"],
            set_={
                "run_id": statement.excluded.run_id,
                "line_number": statement.excluded.line_number,
            },
            where=table.c.run_id != statement.excluded.run_id,
        )

    def load(
        self,
        path: str | Path,
        *,
        format: str | None = None,
        source: str | None = None,
        progress: bool | None = None,
        load_rows: LoadRows | None = None,
    ) -> LoadReport:
        """Load ``path`` in one transaction. ``load_rows``: where to stage the snapshot rows of
        the cases this load inserts or changes (see :class:`dashboard.snapshot.LoadRows`)."""
        started = time.perf_counter()
        export = ExportFile(path)
        report = LoadReport(path=str(path))
        batch_size = self.settings.batch_size
        with export.open(batch_size=batch_size) as (header, batches, position):
            adapter = adapters.get(format) if format else adapters.detect(header, path=str(path))
            if format and not adapter.matches(header):
                missing = sorted(adapter.signature - set(header))
                raise InputFileError(
                    f"{path}: the header is not a {adapter.name} export "
                    f"(missing {', '.join(missing)})"
                )
            report.format = adapter.name
            report.source = source or adapter.default_source
            sha = _file_sha256(Path(path))
            bar = _progress_bar(position.total, enabled=progress, label=Path(path).name)
            with self.store.transaction(exclusive=True) as conn, self.store.bulk_cache(conn):
                layers = StoredLayers.from_store(conn)
                bounds = self.settings.city_bounds or layers.bounds(margin=0.02)
                context = NormaliseContext(
                    source=report.source,
                    timezone=self.settings.timezone,
                    city_bounds=bounds,
                    default_geocodes=self.settings.default_geocodes,
                    default_geocode_tolerance=self.settings.default_geocode_tolerance,
                )
                run_id = conn.execute(
                    insert(schema.ingestion_runs).values(
                        source=report.source,
                        path=str(path),
                        format=adapter.name,
                        file_sha256=sha,
                        started_at=Store.now(),
                        read=0,
                        inserted=0,
                        updated=0,
                        unchanged=0,
                        quarantined=0,
                        quarantine_reasons="{}",
                    )
                ).inserted_primary_key[0]
                report.run_id = run_id
                if load_rows is not None:
                    load_rows.begin(
                        run_id=run_id,
                        layers=[layer.name for layer in layers.layers],
                        layers_tag=self.store.layers_tag(conn),
                    )
                self._analyzed_at = 0  # rows inserted at this load's last ANALYZE (PostgreSQL)
                if self.store.dialect == "postgresql":
                    # The key lookups differ only in their values: a cached generic plan cannot
                    # hash the IN list and compares every row with every key (a 1M load stalled
                    # at 300k rows). Plan each with its values.
                    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
                reasons: Counter[str] = Counter()
                self._absent = absent_fields(adapter, header)
                if self._absent:
                    log.debug(
                        "%s has no column for %s: stored cases keep their values there",
                        Path(path).name,
                        ", ".join(sorted(self._absent)),
                    )

                stages: Counter[str] = Counter()

                def prepare(batch: RawBatch) -> _Batch:
                    cases, quarantined = normalise(
                        header, batch.rows, batch.lines, adapter=adapter, context=context
                    )
                    cases = _with_hash_and_cells(cases)
                    bad = [(line, "wrong_field_count", text) for line, text in batch.bad]
                    rows_q = [(line, reason, _csv(raw)) for line, reason, raw in quarantined] + bad
                    return _Batch(len(batch.rows) + len(batch.bad), cases, rows_q, position.done)

                # A large file is read and normalised in a second process while this one writes.
                parallel = (
                    self.reader_process
                    and export.size >= self.settings.reader_process_mb * 1024 * 1024
                    and pipeline.parallel_possible()
                )
                with pipeline.prepared_batches(batches, prepare, parallel=parallel) as prepared:
                    for item in prepared:
                        began = time.perf_counter()
                        stages["read_normalise"] += item.seconds
                        batch = item.value
                        self._quarantine(conn, run_id, report.source, batch.quarantined)
                        reasons.update(reason for _, reason, _ in batch.quarantined)
                        report.read += batch.read
                        self._upsert(conn, run_id, report, batch.cases, layers, stages, load_rows)
                        stages["write"] += time.perf_counter() - began
                        bar.update(batch.position, report)
                report.stages = dict(stages)
                report.quarantined = dict(sorted(reasons.items()))
                report.seconds = time.perf_counter() - started
                conn.execute(
                    update(schema.ingestion_runs)
                    .where(schema.ingestion_runs.c.id == run_id)
                    .values(
                        finished_at=Store.now(),
                        read=report.read,
                        inserted=report.inserted,
                        updated=report.updated,
                        unchanged=report.unchanged,
                        quarantined=report.quarantined_total,
                        quarantine_reasons=json.dumps(report.quarantined),
                        seconds=report.seconds,
                    )
                )
            bar.close()
        return report

    # -- pieces ---------------------------------------------------------------------------------
    def _quarantine(
        self, conn: Connection, run_id: int, source: str, rows: list[tuple[int, str, str]]
    ) -> None:
        if not rows:
            return
        records: dict[tuple[str, str], dict[str, Any]] = {}
        for line, reason, text in sorted(rows):
            raw_hash = hashlib.md5(text.encode("utf-8", "replace")).hexdigest()
            # the same bad line twice in a file is kept once, at its first line
            records.setdefault(
                (raw_hash, reason),
                {
                    "run_id": run_id,
                    "source": source,
                    "line_number": line,
                    "reason": reason,
                    "raw": self.store.storable_text(text),
                    "raw_hash": raw_hash,
                },
            )
        conn.execute(self._quarantine_upsert(), list(records.values()))

    def _keep_statistics(self, conn: Connection, report: LoadReport) -> None:
        """PostgreSQL: ``ANALYZE cases`` inside the load whenever the rows it inserted have
        doubled since the last one (a load into a new store has no statistics, and the planner
        would take a 1M-row table for a small one). Each costs a sample of ~30,000 rows."""
        if self.store.dialect != "postgresql":
            return
        if report.inserted >= max(_ANALYZE_FROM, 2 * self._analyzed_at):
            conn.exec_driver_sql("ANALYZE cases")
            self._analyzed_at = report.inserted

    def _existing(
        self, conn: Connection, source: str, keys: list[str]
    ) -> dict[str, tuple[int, str, int, Any]]:
        """``request_id -> (id, row_hash, last_run_id, updated_at)`` of the keys already stored
        for ``source``.

        Plain DBAPI statements in chunks: compiling a Core ``IN`` of thousands of bound
        parameters per chunk cost more than the lookup itself."""
        found: dict[str, tuple[int, str, int, Any]] = {}
        if not keys:
            return found
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            statement = (
                "SELECT request_id, id, row_hash, last_run_id, updated_at FROM cases "  # noqa: S608
                f"WHERE source = {marker} AND request_id IN ({', '.join([marker] * len(chunk))})"
            )
            for request_id, case_id, row_hash, last_run, updated in conn.exec_driver_sql(
                statement, (source, *chunk)
            ):
                found[request_id] = (case_id, row_hash, last_run, updated)
        return found

    @staticmethod
    def _older(cases: pd.DataFrame, existing: dict[str, tuple[Any, ...]]) -> set[str]:
        """Keys whose last row in ``cases`` was updated before the stored case (both times
        known)."""
        if not existing:  # a first load: nothing stored to be newer
            return set()
        final = cases.drop_duplicates("request_id", keep="last")
        final = final[final["request_id"].isin(list(existing)) & final["updated_at"].notna()]
        if final.empty:
            return set()
        stored = pd.to_datetime(
            final["request_id"].map(lambda k: existing[k][3]), utc=True, format="ISO8601"
        )
        incoming = pd.to_datetime(final["updated_at"], utc=True)
        older = stored.notna() & (incoming < stored)
        return set(final.loc[older, "request_id"])

    def _keep_absent(
        self,
        conn: Connection,
        source: str,
        cases: pd.DataFrame,
        absent: frozenset[str],
        existing: dict[str, tuple[Any, ...]],
    ) -> pd.DataFrame:
        """``cases`` with the stored values of ``absent`` fields put back in the rows of stored
        cases where the file left them empty (a value an adapter derived from other columns is
        kept), and their row hashes recomputed: a file without ``closed_dt`` neither erases
        the stored closing times nor counts as an update for lacking them."""
        kept = [f for f in schema.CASE_FIELDS if f in absent and f not in _LOCATION]
        location = bool(absent & {"lat", "lon"})
        columns = [*kept, *(_LOCATION if location else ())]
        if not columns:
            return cases
        rows = cases["request_id"].isin(list(existing))
        if not rows.any():
            return cases
        # Only the stored cases with something there to keep (a format that never has the
        # column, reloaded, finds none): plain DBAPI statements, as in _existing.
        something = " OR ".join(
            f"{c} = TRUE" if c in ("is_duplicate", "is_private") else f"{c} IS NOT NULL"
            for c in columns
        )
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        stored_parts = [pd.DataFrame(columns=["request_id", *columns])]
        keys = cases.loc[rows, "request_id"].drop_duplicates().tolist()
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            statement = (
                f"SELECT request_id, {', '.join(columns)} FROM cases "  # noqa: S608 - schema names
                f"WHERE source = {marker} AND request_id IN ({', '.join([marker] * len(chunk))}) "
                f"AND ({something})"
            )
            found = conn.exec_driver_sql(statement, (source, *chunk)).fetchall()
            if found:
                stored_parts.append(pd.DataFrame(found, columns=["request_id", *columns]))
        stored = pd.concat(stored_parts).set_index("request_id")
        if stored.empty:
            return cases
        cases = cases.copy()
        at = cases.index[rows]
        keys_at = cases.loc[at, "request_id"]
        for name in kept:
            value = stored[name].reindex(keys_at.to_numpy())
            value.index = at
            incoming = cases.loc[at, name]
            empty = incoming.isna() | (
                incoming == _UNKNOWN_IF[name] if name in _UNKNOWN_IF else False
            )
            fill = empty & value.notna().to_numpy()
            if not fill.any():
                continue
            filled = value[fill]
            if name in schema.TIME_FIELDS:
                filled = pd.to_datetime(filled, utc=True, format="ISO8601")
            elif name in ("is_duplicate", "is_private"):
                filled = filled.astype(bool)
            cases[name] = (
                cases[name].astype(object) if name not in schema.TIME_FIELDS else cases[name]
            )
            cases.loc[filled.index, name] = filled
        if location:
            # No location in the file for the row (nothing derived): the stored one, whole.
            none = cases.loc[at, "lat"].isna() & cases.loc[at, "lon"].isna()
            value = stored.reindex(keys_at.to_numpy())
            value.index = at
            fill = none & value["location_quality"].notna().to_numpy()
            if fill.any():
                idx = fill.index[fill]
                for name in _LOCATION:
                    if name in schema.H3_FIELDS:
                        cells = value.loc[idx, name].astype("Int64")
                        cases[name] = cases[name].astype("Int64")
                        cases.loc[idx, name] = cells
                    elif name in ("lat", "lon"):
                        coordinate = pd.to_numeric(value.loc[idx, name], errors="coerce")
                        cases.loc[idx, name] = coordinate.astype(float).to_numpy()
                    else:
                        cases.loc[idx, name] = value.loc[idx, name].to_numpy()
        for name in kept:  # the dtypes the hash was computed with
            if name in ("is_duplicate", "is_private"):
                cases[name] = cases[name].astype(bool)
        cases["row_hash"] = row_hashes(cases)
        return cases

    def _upsert(
        self,
        conn: Connection,
        run_id: int,
        report: LoadReport,
        cases: pd.DataFrame,
        layers: StoredLayers,
        stages: Counter[str],
        load_rows: LoadRows | None = None,
    ) -> None:
        if cases.empty:
            return
        cases = self.store.storable(cases)  # PostgreSQL: no NUL in text (keys included)
        keys = cases["request_id"].drop_duplicates().tolist()
        self._keep_statistics(conn, report)
        existing = self._existing(conn, report.source, keys)
        stored_hash = {k: v[1] for k, v in existing.items()}
        absent = getattr(self, "_absent", frozenset())
        if absent and existing:
            cases = self._keep_absent(conn, report.source, cases, absent, existing)

        # A stored case the file holds an older version of (by its updated time) is left as it
        # is: a backfill or a delayed retry does not reopen cases closed since.
        older_keys = self._older(cases, existing)
        # Rows are applied in file order: the first row of a key compares with the store, a later
        # row of the same key with the row before it. Every row of a key the store holds a newer
        # version of is unchanged, and so is every row of a key whose last row here is what the
        # store already holds (a file that repeats a key with other values, loaded again,
        # changes nothing and reports nothing changed).
        by_key = cases.groupby("request_id", sort=False)["row_hash"]
        previous = by_key.shift(1)
        first = previous.isna()
        stored_now = cases["request_id"].map(stored_hash)
        previous[first] = stored_now[first]
        as_stored = stored_now.notna() & (by_key.transform("last") == stored_now)
        settled = cases["request_id"].isin(older_keys) | as_stored
        inserted = previous.isna() & ~settled
        unchanged = settled | (~inserted & (previous == cases["row_hash"]))
        report.inserted += int(inserted.sum())
        report.unchanged += int(unchanged.sum())
        report.updated += int((~inserted & ~unchanged).sum())
        report.kept_newer += int(cases["request_id"].isin(older_keys).sum())

        final = cases.drop_duplicates("request_id", keep="last")
        in_store = final["request_id"].isin(list(existing))
        new = final[~in_store].copy()
        changed = final[
            in_store
            & (final["row_hash"] != final["request_id"].map(stored_hash))
            & ~final["request_id"].isin(older_keys)
        ]
        changed = changed.copy()
        if new.empty and changed.empty:
            return
        if not new.empty:
            new["first_run_id"] = run_id
            new["last_run_id"] = run_id
            # Ids are given here, so the new cases' ids are known without reading them back.
            ids = self.store.reserve_case_ids(conn, len(new))
            new.insert(0, "id", ids)
            self.store.bulk_insert(conn, schema.cases, new)
            began = time.perf_counter()
            self.store.index_new_points(conn, after_id=int(ids[0]) - 1)
            stages["rtree"] += time.perf_counter() - began
        if not changed.empty:
            changed["id"] = changed["request_id"].map(lambda k: existing[k][0])
            changed["last_run_id"] = run_id
            values = {
                name: bindparam(name)
                for name in [*schema.CASE_FIELDS, *schema.H3_FIELDS, "row_hash", "last_run_id"]
            }
            statement = (
                update(schema.cases).where(schema.cases.c.id == bindparam("_id")).values(values)
            )
            conn.execute(statement, _records(changed.rename(columns={"id": "_id"})))
        touched = pd.concat([new, changed])
        assigned = []
        if layers:
            touched["case_id"] = touched["id"]
            changed_ids = touched.loc[touched["request_id"].isin(list(existing)), "case_id"]
            if not changed_ids.empty:
                for start in range(0, len(changed_ids), _LOOKUP_CHUNK):
                    chunk = changed_ids.iloc[start : start + _LOOKUP_CHUNK].tolist()
                    conn.execute(
                        delete(schema.case_areas).where(schema.case_areas.c.case_id.in_(chunk))
                    )
            lat, lon = touched["lat"].to_numpy(float), touched["lon"].to_numpy(float)
            assigned = layers.assign(lat=lat, lon=lon)
            rows = layers.assign_records(
                case_ids=touched["case_id"].to_numpy(), lat=lat, lon=lon, assigned=assigned
            )
            if rows:
                self.store.bulk_insert(conn, schema.case_areas, pd.DataFrame(rows))
        if load_rows is not None:
            began = time.perf_counter()
            for layer, names in assigned:
                touched[f"area_{layer.name}"] = names
            # a case this load already wrote in an earlier batch, written again
            rewritten = any(existing[k][2] == run_id for k in changed["request_id"])
            load_rows.add(touched, rewritten=rewritten)
            stages["stage_snapshot_rows"] += time.perf_counter() - began


@dataclass
class _Batch:
    """One batch, normalised: what the writer needs."""

    read: int
    cases: pd.DataFrame
    quarantined: list[tuple[int, str, str]]
    position: int


def _csv(row: list[str]) -> str:
    from etl.reader import _to_csv_line

    return _to_csv_line(row)


class _Bar:
    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.total = total
        self.last = 0
        self.tqdm = None
        if enabled:
            from tqdm import tqdm

            self.tqdm = tqdm(
                total=total, unit="B", unit_scale=True, desc=f"loading {label}", file=sys.stderr
            )

    def update(self, done: int, report: LoadReport) -> None:
        if self.tqdm is not None:
            self.tqdm.update(max(0, done - self.last))
            self.tqdm.set_postfix(rows=f"{report.read:,}", refresh=False)
        else:
            log.info(
                "batch loaded: %s rows read so far (%d%% of the file)",
                f"{report.read:,}",
                min(100, int(100 * done / max(self.total, 1))),
            )
        self.last = done

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.update(max(0, self.total - self.last))
            self.tqdm.close()


def _progress_bar(total: int, *, enabled: bool | None, label: str) -> _Bar:
    if enabled is None:
        enabled = sys.stderr.isatty()
    return _Bar(total, enabled, label)


def load_file(
    path: str | Path,
    *,
    store: Store,
    settings: Settings,
    format: str | None = None,
    source: str | None = None,
    progress: bool | None = None,
    snapshot: bool = True,
) -> LoadReport:
    """Load one export into ``store`` and (by default) refresh the read-model snapshot."""
    store.migrate()
    # With a snapshot to write, the load stages the rows of the cases it writes as it goes, so
    # that the snapshot need not read them back from the store.
    load_rows = load_rows_for(settings) if snapshot else None
    try:
        try:
            report = Loader(store, settings).load(
                path, format=format, source=source, progress=progress, load_rows=load_rows
            )
        except pipeline.ReaderDied as exc:
            # The load's transaction was rolled back: nothing of it is in the store. A reader
            # process killed by a signal (a C extension crashing after the fork) is not the
            # file's fault: read it again, in this process.
            log.warning("%s: %s; loading it again in one process", path, exc)
            if load_rows is not None:
                load_rows.discard()
                load_rows = load_rows_for(settings)
            report = Loader(store, settings, reader_process=False).load(
                path, format=format, source=source, progress=progress, load_rows=load_rows
            )
        log.info("%s", report.summary(), extra=RESULT)
        if snapshot:
            began = time.perf_counter()
            write_for(store, settings, load_rows=load_rows)
            report.stages["snapshot"] = time.perf_counter() - began
    finally:
        if load_rows is not None:
            load_rows.discard()
    return report
