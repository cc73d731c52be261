"""The read model: a columnar Parquet snapshot of the store, swapped in atomically.

Layout under the snapshot directory::

    CURRENT                      -> one line: the name of the live snapshot directory
    snap-<version>-<stamp>/cases.parquet
    snap-<version>-<stamp>/long_open.parquet
    snap-<version>-<stamp>/manifest.json

A snapshot is written into a new directory, fsynced, then ``CURRENT`` is replaced with
:func:`os.replace` (atomic on POSIX): a reader sees the old snapshot or the new one, never half of
one. The two newest snapshots are kept so that a reader that has just resolved ``CURRENT`` can finish.

A new snapshot is written whole (every case read from the store), or merged: the current
snapshot's files minus the cases inserted or changed since it was written, plus those cases (a load
of 10,000 cases into a 10M-case store then handles 10,000 cases, not 10M). The changed cases come
from the load that changed them, which stages their snapshot rows as it writes them
(:class:`LoadRows`; the first load into an empty store writes the snapshot from them alone), or,
when those are not all that changed, from the store by their ``last_run_id``. ``stat311
snapshot`` always writes it whole.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import schema
from dashboard.errors import SnapshotMissingError
from dashboard.settings import Settings
from dashboard.sla import SlaPolicy, load_policy, policy_due
from dashboard.store import Store

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
#: More than a snapshot name can be (the pointer holds one name and a newline).
_POINTER_MAX_BYTES = 4096
#: Pointers remembered by :func:`current_snapshot` (one per snapshot a process has seen).
_POINTERS_KEPT = 64
CASES_FILE = "cases.parquet"
#: The cases that stayed open long (see :data:`LONG_OPEN_DAYS`), a second copy of their rows.
LONG_OPEN_FILE = "long_open.parquet"
#: Case counts per local day of request and :data:`DAILY_KEYS` (and boundary area), written with
#: every snapshot from its cases file: questions that only count cases by those (the overview's
#: weeks by department, the public map by area) read it instead of every case. At 10M cases it
#: has 2.7M rows; the public map's 30 days by area take 1.9 ms from it and 4.7 ms from the cases.
DAILY_FILE = "daily.parquet"
#: The columns the daily counts are kept apart by (besides ``day`` and the ``area_*`` columns).
#: Not the channel or the source: either would double the file.
DAILY_KEYS = ("department", "service_name", "status", "is_private")
#: Its row groups are larger than the cases file's: a month of them is a few thousand rows, and
#: fewer groups to skip made the map's count 2.0 -> 1.6 ms at 10M cases.
DAILY_ROW_GROUP_ROWS = 100_000
#: A case is in :data:`LONG_OPEN_FILE` when it is still open, or was closed this many days or more
#: after it was requested. "Open at time t" then reads the main file only from t minus this many
#: days (it is sorted by request time) plus this file, instead of every case ever requested.
LONG_OPEN_DAYS = 28
#: Rows per row group of the snapshot's files: small enough that a date range skips most of them.
ROW_GROUP_ROWS = 25_000
#: DuckDB's memory for rewriting the snapshot files (it spills to disk beyond it).
REWRITE_MEMORY = "1GB"
#: The order of the rows of each file.
CASES_ORDER = "requested_at, id"
#: A merge re-sorts only the cases file's rows from the earliest changed request time on when
#: they are at most this share of the file and at most :data:`TAIL_ROWS` rows (they are sorted
#: in memory, as Arrow: about 250 MB for 500,000 rows); see :func:`_merge_cases`.
TAIL_SHARE = 0.25
TAIL_ROWS = 500_000
#: "open at t" (closed_at IS NULL OR closed_at >= t) skips every row group closed before t by its
#: statistics: the backlog at 10M, 14.3 -> 5.7 ms here.
LONG_OPEN_ORDER = "closed_at NULLS FIRST, requested_at, id"
_CASES_STAGED = ".cases.staged.parquet"
_LONG_STAGED = ".long_open.staged.parquet"
MANIFEST = "manifest.json"
LOCK = ".lock"
KEEP = 2
#: In a ``.partial-*`` directory (a load's staged rows, or a snapshot being written): a file the
#: process using the directory holds an ``flock`` on, with its pid, start time and host. Once the
#: lock can be taken the directory is a leftover (see :func:`_remove_leftovers`).
OWNER = ".owner"
#: A ``.partial-*`` directory without :data:`OWNER` (left by an older version) is removed once
#: nothing in it was written for this many seconds.
LEFTOVER_AGE = 3600

_TS = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "requested_at": _TS,
    "updated_at": _TS,
    "closed_at": _TS,
    "due_at": _TS,
    "requested_local": pa.timestamp("us"),
    "sla_due_at": _TS,
    "sla_due_local": pa.timestamp("us"),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "is_duplicate": pa.bool_(),
    "is_private": pa.bool_(),
    **{name: pa.int64() for name in schema.H3_FIELDS},
}


def snapshot_columns(layers: list[str]) -> list[str]:
    public = [f for f in schema.CASE_FIELDS if f not in schema.INTERNAL_FIELDS]
    return [
        "id",
        *public,
        *schema.H3_FIELDS,
        *(f"area_{n}" for n in layers),
        "requested_local",
        "sla_due_at",
        "sla_due_local",
        "sla_due_source",
    ]


def arrow_schema(layers: list[str]) -> pa.Schema:
    return pa.schema([(c, _TYPES.get(c, pa.string())) for c in snapshot_columns(layers)])


def _to_utc(values: pd.Series) -> pd.Series:
    # SQLite returns naive UTC, which utc=True takes as UTC; aware values are converted, also
    # when they carry different fixed offsets (e.g. -05:00 and -04:00 across DST).
    return pd.to_datetime(values, utc=True)


def _local(values: pd.Series, timezone: str) -> pd.Series:
    return values.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")


def _prepare(
    frame: pd.DataFrame, *, timezone: str, layers: list[str], policy: SlaPolicy | None
) -> pd.DataFrame:
    for name in schema.TIME_FIELDS:
        frame[name] = _to_utc(frame[name]).astype("datetime64[us, UTC]")
    frame["requested_local"] = _local(frame["requested_at"], timezone)
    # SLA due time: the source's own, else the policy's (by type, then department).
    due = frame["due_at"].copy()
    source = pd.Series(np.where(due.notna(), "source", None), index=frame.index, dtype=object)
    if policy is not None:
        missing = due.isna()
        if missing.any():
            planned = policy_due(
                frame.loc[missing, "requested_local"],
                types=frame.loc[missing, "service_name"],
                departments=frame.loc[missing, "department"],
                policy=policy,
                timezone=timezone,
            )
            due[missing] = planned
            source[missing & due.notna()] = "policy"
    frame["sla_due_at"] = due.astype("datetime64[us, UTC]")
    frame["sla_due_local"] = _local(frame["sla_due_at"], timezone)
    frame["sla_due_source"] = source
    for name in ("is_duplicate", "is_private"):
        frame[name] = frame[name].astype(bool)
    for name in schema.H3_FIELDS:
        frame[name] = pd.array(frame[name], dtype="Int64")
    for layer in layers:
        if f"area_{layer}" not in frame.columns:
            frame[f"area_{layer}"] = None
    return frame[snapshot_columns(layers)]


@contextmanager
def _writer_lock(snapshot_dir: Path) -> Iterator[None]:
    """Serialise snapshot writers on one directory (loads, ``ensure_current`` in several workers).

    Without it two writers raced on the pointer file and one's pruning deleted the other's
    freshly swapped-in snapshot. A writer that waited writes the store as it is then, so the
    newest data still wins."""
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    with (snapshot_dir / LOCK).open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_snapshot(
    *,
    store: Store,
    snapshot_dir: Path,
    timezone: str = "UTC",
    policy: SlaPolicy | None = None,
    full: bool = False,
    load_rows: LoadRows | None = None,
) -> Path:
    """Write the store as a new snapshot and make it current. Returns its directory.

    ``policy`` gives SLA due times to cases whose source has none (``sla_due_at``). When the
    current snapshot was written from this store with the same boundary layers, time zone and
    policy, only the cases inserted or changed since then are read from the store and merged
    into its files (see :func:`_merge_base`); ``full`` reads every case instead. ``load_rows``:
    the rows a load staged as it went (see :class:`LoadRows`), used instead of reading the
    changed cases back when they are exactly those."""
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    with _writer_lock(snapshot_dir):
        return _write_locked(
            store=store,
            snapshot_dir=snapshot_dir,
            timezone=timezone,
            policy=policy,
            full=full,
            load_rows=load_rows,
        )


@dataclass(frozen=True)
class _Base:
    """The snapshot a new one is merged from, and the run it was written after."""

    path: Path
    run: int


def _merge_base(
    snapshot_dir: Path,
    *,
    store: Store,
    run: int,
    layers_tag: str,
    columns: list[str],
    timezone: str,
    policy: SlaPolicy | None,
) -> _Base | None:
    """The current snapshot when a new one can be merged from it, else None (write it whole).

    Merging is right when the current snapshot holds this store's cases as of some run ``r``:
    written after ``r`` of this store (the run's start time is checked, so a store that was
    replaced by another one is not merged with), with the same boundary layers, time zone, SLA
    policy, columns and long-open rule. Cases are never deleted from the store and every case a
    run inserts or changes carries that run's id, so the cases with ``last_run_id > r`` are all
    that can differ."""
    path = current_snapshot(snapshot_dir)
    if path is None:
        return None
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return None
    base_run = manifest.get("run")
    fingerprint = policy.fingerprint if policy is not None else None
    long_open = manifest.get("long_open") or {}
    if (
        not isinstance(base_run, int)
        or base_run > run
        or manifest.get("layers_version") != layers_tag
        or manifest.get("timezone") != timezone
        or manifest.get("policy") != fingerprint
        or manifest.get("columns") != columns
        or long_open.get("days") != LONG_OPEN_DAYS
        or not (path / LONG_OPEN_FILE).exists()
        or manifest.get("run_started") != store.run_started(base_run)
    ):
        return None
    return _Base(path, base_run)


def _write_locked(
    *,
    store: Store,
    snapshot_dir: Path,
    timezone: str,
    policy: SlaPolicy | None,
    full: bool = False,
    load_rows: LoadRows | None = None,
) -> Path:
    started = time.perf_counter()
    # The version is read before the cases: a load committing in between makes the snapshot
    # look older than it is (rebuilt, or merged again, once more), never newer.
    run, layers_tag = store.data_state()
    version = f"r{run}-{layers_tag}"
    layers = [layer["name"] for layer in store.boundary_layers()]
    arrow = arrow_schema(layers)
    base = None
    if not full:
        base = _merge_base(
            snapshot_dir,
            store=store,
            run=run,
            layers_tag=layers_tag,
            columns=arrow.names,
            timezone=timezone,
            policy=policy,
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    unique = f"{os.getpid()}.{threading.get_ident()}"
    target = snapshot_dir / f"snap-{version}-{stamp}"
    partial = snapshot_dir / f".partial-{target.name}-{unique}"
    partial.mkdir()
    owner = _Owner(partial)
    pointer = snapshot_dir / f".{CURRENT}.{unique}.tmp"
    staged = load_rows is not None and load_rows.usable(
        store=store,
        base=base,
        run=run,
        layers_tag=layers_tag,
        timezone=timezone,
        policy=policy,
    )
    try:
        read = 0
        if staged:
            assert load_rows is not None and load_rows.dir is not None
            load_rows.close()
            changed, changed_long = load_rows.dir / _CASES_STAGED, load_rows.dir / _LONG_STAGED
        else:
            changed, changed_long = partial / _CASES_STAGED, partial / _LONG_STAGED
            frames = store.iter_snapshot_frames(after_run=base.run if base is not None else None)
            read = _stage(
                frames,
                cases=changed,
                long_open=changed_long,
                arrow=arrow,
                timezone=timezone,
                layers=layers,
                policy=policy,
            )
        unchanged = False
        if base is None:
            # From the store the rows come sorted; a load's rows come in its file's order.
            _rewrite(changed, partial / CASES_FILE, order_by=CASES_ORDER if staged else None)
            _rewrite(changed_long, partial / LONG_OPEN_FILE, order_by=LONG_OPEN_ORDER)
        else:
            # Both files: the base's rows minus every changed case, plus the changed cases (a
            # case that no longer stays open long leaves the long-open file).
            unchanged = _merge_cases(
                base.path / CASES_FILE, changed, partial / CASES_FILE, arrow=arrow
            )
            _merge(
                base.path / LONG_OPEN_FILE,
                changed,
                changed_long,
                partial / LONG_OPEN_FILE,
                LONG_OPEN_ORDER,
            )
            changed.unlink()
            changed_long.unlink()
        daily_keys = _daily_keys(layers)
        if unchanged and _has_daily(base, daily_keys):
            # the same cases as the base's: its daily counts too (a second at 10M cases)
            assert base is not None
            shutil.copyfile(base.path / DAILY_FILE, partial / DAILY_FILE)
        else:
            write_daily(partial / CASES_FILE, partial / DAILY_FILE, layers=layers)
        rows = pq.ParquetFile(partial / CASES_FILE).metadata.num_rows
        long_rows = pq.ParquetFile(partial / LONG_OPEN_FILE).metadata.num_rows
        daily_rows = pq.ParquetFile(partial / DAILY_FILE).metadata.num_rows
        manifest = {
            "version": version,
            "run": run,
            "run_started": store.run_started(run),
            "layers_version": layers_tag,
            "rows": rows,
            "long_open": {"file": LONG_OPEN_FILE, "days": LONG_OPEN_DAYS, "rows": long_rows},
            "daily": {"file": DAILY_FILE, "keys": daily_keys, "rows": daily_rows},
            "layers": layers,
            "timezone": timezone,
            "policy": policy.fingerprint if policy is not None else None,
            "columns": arrow.names,
            # how it was written: whole, or merged from a base with the cases read again
            "written": {
                "mode": "full" if base is None else "merged",
                "base": base.path.name if base is not None else None,
                "cases_read": read,
                # the changed cases as staged by the load itself (not read back from the store)
                "cases_from_load": load_rows.rows if staged and load_rows is not None else 0,
            },
            "created_at": datetime.now(UTC).isoformat(),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        owner.unlink()  # not part of the snapshot (still locked until the rename is done)
        _fsync_dir(partial)
        partial.rename(target)
        with pointer.open("w") as fh:
            fh.write(target.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, snapshot_dir / CURRENT)
        _fsync(snapshot_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        pointer.unlink(missing_ok=True)
        raise
    finally:
        owner.release()
    _prune(snapshot_dir, keep=KEEP)
    how = (
        f"{load_rows.rows:,} from the load"
        if staged and load_rows is not None
        else f"{read:,} read"
    )
    log.info(
        "snapshot %s written: %s cases (%s%s) in %.1f s",
        target.name,
        f"{rows:,}",
        how,
        "" if base is None else f", merged into {base.path.name}",
        time.perf_counter() - started,
    )
    return target


def _stage(
    frames: Iterator[pd.DataFrame],
    *,
    cases: Path,
    long_open: Path,
    arrow: pa.Schema,
    timezone: str,
    layers: list[str],
    policy: SlaPolicy | None,
) -> int:
    """Write ``frames`` (prepared) to ``cases``, and the long-open ones also to ``long_open``,
    with pyarrow, batch by batch. Returns the number of rows."""
    rows = 0
    with (
        pq.ParquetWriter(cases, arrow, compression="lz4") as writer,
        pq.ParquetWriter(long_open, arrow, compression="lz4") as long_writer,
    ):
        for frame in frames:
            rows += _write_frame(
                frame,
                writer=writer,
                long_writer=long_writer,
                arrow=arrow,
                timezone=timezone,
                layers=layers,
                policy=policy,
            )
    return rows


def _write_frame(
    frame: pd.DataFrame,
    *,
    writer: pq.ParquetWriter,
    long_writer: pq.ParquetWriter,
    arrow: pa.Schema,
    timezone: str,
    layers: list[str],
    policy: SlaPolicy | None,
) -> int:
    """One frame of cases, prepared, to the staged cases file and its long-open rows to the
    staged long-open file. Returns the number of rows."""
    frame = _prepare(frame, timezone=timezone, layers=layers, policy=policy)
    table = pa.Table.from_pandas(frame, schema=arrow, preserve_index=False)
    writer.write_table(table)
    closed, requested = frame["closed_at"], frame["requested_at"]
    long = (closed.isna() | (closed - requested >= pd.Timedelta(days=LONG_OPEN_DAYS))).to_numpy()
    if long.any():
        long_writer.write_table(table.filter(long))
    return len(frame)


class LoadRows:
    """The snapshot rows of the cases one load inserts or changes, staged while it runs.

    The loader hands each batch's new and changed cases (with their ids and areas) to
    :meth:`add`; after the commit, :func:`write_snapshot` merges them into the current snapshot
    instead of reading them back from the store, or, when the load wrote every case of the store
    (the first load), writes the snapshot from them alone. They are used only when they are all
    that changed: this load is the only run since the snapshot merged into, with the same
    boundary layers, time zone and SLA policy, and no case was staged twice (a file that changes
    a case in two of its batches: the store is read instead). Otherwise nothing is lost: the
    snapshot is written as without them.
    """

    def __init__(self, snapshot_dir: Path, *, timezone: str, policy: SlaPolicy | None) -> None:
        self.snapshot_dir = Path(snapshot_dir)
        self.timezone = timezone
        self.policy = policy
        self.dir: Path | None = None
        self.run_id: int | None = None
        self.layers: list[str] = []
        self.layers_tag = ""
        self.rows = 0
        self.unique = True
        self._arrow = arrow_schema([])
        self._writers: tuple[pq.ParquetWriter, pq.ParquetWriter] | None = None
        self._owner: _Owner | None = None

    def begin(self, *, run_id: int, layers: list[str], layers_tag: str) -> None:
        """Called by the load once it knows its run and the store's layers (in its transaction)."""
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        # what killed loads and snapshot writes left, before this load stages its own rows
        _remove_leftovers(self.snapshot_dir, writer_locked=False)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        # ".partial-": a load killed before it cleaned up leaves it, with its OWNER file, for
        # the next load or snapshot to remove (_remove_leftovers).
        self.dir = (
            self.snapshot_dir / f".partial-load-{os.getpid()}.{threading.get_ident()}-{stamp}"
        )
        self.dir.mkdir()
        self._owner = _Owner(self.dir)
        self.run_id, self.layers, self.layers_tag = run_id, layers, layers_tag
        self._arrow = arrow_schema(layers)
        self._writers = (
            pq.ParquetWriter(self.dir / _CASES_STAGED, self._arrow, compression="lz4"),
            pq.ParquetWriter(self.dir / _LONG_STAGED, self._arrow, compression="lz4"),
        )

    def add(self, frame: pd.DataFrame, *, rewritten: bool = False) -> None:
        """New or changed cases: ``id``, the case fields, H3 cells and ``area_<layer>``
        (``frame`` is prepared in place). ``rewritten``: some of them were already written by
        this load, in an earlier batch; the rows staged are then of no use (the store will be
        read)."""
        if rewritten:
            self.unique = False
        if not self.unique or self._writers is None or frame.empty:
            return
        writer, long_writer = self._writers
        self.rows += _write_frame(
            frame,
            writer=writer,
            long_writer=long_writer,
            arrow=self._arrow,
            timezone=self.timezone,
            layers=self.layers,
            policy=self.policy,
        )

    def close(self) -> None:
        if self._writers is not None:
            for writer in self._writers:
                writer.close()
            self._writers = None

    def discard(self) -> None:
        self.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def usable(
        self,
        *,
        store: Store,
        base: _Base | None,
        run: int,
        layers_tag: str,
        timezone: str,
        policy: SlaPolicy | None,
    ) -> bool:
        """Whether these rows are exactly the cases changed since ``base`` (or, without a base,
        every case of the store)."""
        fingerprint = policy.fingerprint if policy is not None else None
        mine = self.policy.fingerprint if self.policy is not None else None
        if (
            self.dir is None
            or not (self.dir / _CASES_STAGED).exists()
            or not (self.dir / _LONG_STAGED).exists()
            or self.run_id is None
            or not self.unique
            or run != self.run_id
            or layers_tag != self.layers_tag
            or timezone != self.timezone
            or fingerprint != mine
        ):
            return False
        if base is not None:
            return store.runs_after(base.run) == [self.run_id]
        return store.cases_last_written_by() == {self.run_id}


@contextmanager
def _duckdb(spill: Path, *, connections: int = 1) -> Iterator[list[Any]]:
    """In-memory DuckDB connections for writing snapshot files (2 threads, order kept,
    :data:`REWRITE_MEMORY`, spilling to ``spill``), closed and their spill removed at the end."""
    import duckdb

    config = {
        "threads": 2,
        "preserve_insertion_order": True,
        "memory_limit": REWRITE_MEMORY,
        "temp_directory": str(spill),
    }
    opened = [duckdb.connect(config=config) for _ in range(connections)]
    try:
        yield opened
    finally:
        for con in opened:
            con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _copy_options(row_group_rows: int = ROW_GROUP_ROWS) -> str:
    return f"(FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE {row_group_rows})"


def _rewrite(staged: Path, target: Path, *, order_by: str | None = None) -> None:
    """Rewrite a staged Parquet file (pyarrow's, written batch by batch) with DuckDB's writer,
    in the same row order unless ``order_by`` is given, then delete it.

    DuckDB reads its own files faster: on the 10M-case snapshot a count by type took 13.3 ms
    from DuckDB's LZ4 file against 29.1 ms from pyarrow's zstd file, all weeks by department
    92 against 136 ms, for a file of the same size (746 vs 741 MB). Row order is kept
    (``preserve_insertion_order``, DuckDB's default), so the snapshot stays sorted by request
    time. DuckDB sorts outside Python's memory."""
    order = f" ORDER BY {order_by}" if order_by else ""
    # spilling beside the snapshot, not in the working directory
    with _duckdb(staged.parent / ".duckdb-spill") as (con,):
        con.execute(
            f"COPY (SELECT * FROM read_parquet(?){order}) TO '{_sql_text(target)}' "  # noqa: S608 - fixed text
            f"{_copy_options()}",
            [str(staged)],
        )
    staged.unlink()


def _daily_keys(layers: list[str]) -> list[str]:
    return ["day", *DAILY_KEYS, *(f"area_{name}" for name in layers)]


def _has_daily(base: _Base | None, keys: list[str]) -> bool:
    """Whether ``base`` has daily counts by ``keys``."""
    if base is None or not (base.path / DAILY_FILE).exists():
        return False
    return (read_manifest(base.path).get("daily") or {}).get("keys") == keys


def write_daily(cases: Path, target: Path, *, layers: list[str]) -> list[str]:
    """Write :data:`DAILY_FILE` from the snapshot's cases file: one row per local day of request
    and value of the keys (:data:`DAILY_KEYS`, then one ``area_*`` column per layer) that has
    cases, with their number (``requests``), sorted by day. Returns the keys, ``day`` first."""
    keys = _daily_keys(layers)
    columns = ", ".join(f'"{k}"' for k in keys[1:])
    with _duckdb(target.parent / ".duckdb-spill") as (con,):
        con.execute(
            f"COPY (SELECT CAST(requested_local AS DATE) AS day, {columns}, "  # noqa: S608 - fixed names
            "count(*) AS requests FROM read_parquet(?) GROUP BY ALL "
            f"ORDER BY ALL) TO '{_sql_text(target)}' {_copy_options(DAILY_ROW_GROUP_ROWS)}",
            [str(cases)],
        )
    return keys


def _merge(base: Path, removed: Path, added: Path, target: Path, order_by: str) -> None:
    """Write ``target``: the rows of ``base`` whose id is not in ``removed``, plus the rows of
    ``added``, sorted by ``order_by`` (DuckDB; a UNION ALL alone does not keep its inputs'
    order when it runs on two threads)."""
    with _duckdb(target.parent / ".duckdb-spill") as (con,):
        con.execute(
            "COPY (SELECT * FROM read_parquet($base) "  # noqa: S608 - fixed text
            "WHERE id NOT IN (SELECT id FROM read_parquet($removed)) "
            "UNION ALL BY NAME SELECT * FROM read_parquet($added) "
            f"ORDER BY {order_by}) TO '{_sql_text(target)}' {_copy_options()}",
            {"base": str(base), "removed": str(removed), "added": str(added)},
        )


def _merge_cases(base: Path, changed: Path, target: Path, *, arrow: pa.Schema) -> bool:
    """:func:`_merge` for the cases file, which is sorted by request time, re-sorting only its
    rows from the earliest request time among the changed cases on.

    A refresh mostly changes recent cases, so the rows before that time (all but a few weeks of
    the snapshot) keep their order: they are streamed from the current file, minus the changed
    cases, and only the rest is sorted. When the rest is more than :data:`TAIL_SHARE` of the
    file or :data:`TAIL_ROWS` rows (or the file has no statistics to tell), the whole file is
    sorted as by :func:`_merge`.
    The rows go to DuckDB's writer as one Arrow stream, which it writes in order. Returns
    whether nothing changed (``target`` is then a copy of ``base``)."""
    import pyarrow.compute as pc

    changed_rows = pq.read_table(changed, columns=["id", "requested_at"])
    if changed_rows.num_rows == 0:  # nothing changed: the same rows in the same order
        shutil.copyfile(base, target)
        return True
    start = pc.min(changed_rows["requested_at"]).as_py()
    base_file = pq.ParquetFile(base)
    head = _groups_before(base_file, start)
    total = base_file.metadata.num_rows
    before = sum(base_file.metadata.row_group(i).num_rows for i, whole in head or [] if whole)
    tail = total - before + changed_rows.num_rows
    if head is None or tail > TAIL_SHARE * max(total, 1) or tail > TAIL_ROWS:
        _merge(base, changed, changed, target, CASES_ORDER)
        return False
    removed = changed_rows["id"]
    # two connections: one writes while the other sorts the rest for the stream it reads
    with _duckdb(target.parent / ".duckdb-spill", connections=2) as (writer, sorter):

        def batches() -> Iterator[pa.RecordBatch]:
            for index, whole in head:
                table = base_file.read_row_group(index)
                keep = pc.invert(pc.is_in(table["id"], value_set=removed))
                if not whole:  # the row group holding the start: only its rows before it
                    keep = pc.and_(keep, pc.less(table["requested_at"], start))
                yield from table.filter(keep).cast(arrow).to_batches()
            rest = sorter.sql(
                "SELECT * FROM (SELECT * FROM read_parquet($base) "  # noqa: S608 - fixed text
                "WHERE requested_at >= $start "
                "AND id NOT IN (SELECT id FROM read_parquet($changed)) "
                "UNION ALL BY NAME SELECT * FROM read_parquet($changed)) "
                f"ORDER BY {CASES_ORDER}",
                params={"base": str(base), "changed": str(changed), "start": start},
            ).to_arrow_table()
            yield from rest.cast(arrow).to_batches()

        writer.register("merged", pa.RecordBatchReader.from_batches(arrow, batches()))
        writer.execute(
            f"COPY (SELECT * FROM merged) TO '{_sql_text(target)}' {_copy_options()}"  # noqa: S608 - fixed text
        )
    return False


def _groups_before(parquet: pq.ParquetFile, start: Any) -> list[tuple[int, bool]] | None:
    """The row groups holding rows requested before ``start``, each with whether all its rows
    are (file order: sorted by request time); None when a row group has no statistics."""
    if start is None:
        return None
    column = parquet.schema_arrow.get_field_index("requested_at")
    groups = []
    for index in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        if stats.min >= start:
            break
        groups.append((index, stats.max < start))
    return groups


def _sql_text(path: Path) -> str:
    """A path as the text of a SQL string literal (COPY ... TO takes no bound value)."""
    return str(path).replace("'", "''")


def _fsync_dir(path: Path) -> None:
    """fsync every file in ``path``, then the directory itself."""
    for child in path.iterdir():
        if child.is_file():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(snapshot_dir: Path, *, keep: int) -> None:
    """Remove all but the ``keep`` newest snapshots (never the current one) and the leftovers of
    killed loads and snapshot writes. Called with the writer lock held."""
    current = current_snapshot(snapshot_dir)
    snaps = sorted(
        (p for p in snapshot_dir.glob("snap-*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for old in snaps[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    _remove_leftovers(snapshot_dir, writer_locked=True)


#: The ``.partial-*`` directories this process is using now (never looked into by its own
#: :func:`_remove_leftovers`: on a file system that emulates ``flock`` with POSIX locks, closing
#: another descriptor of the file would drop this process's lock).
_HELD: set[str] = set()
_HELD_LOCK = threading.Lock()


class _Owner:
    """Marks a ``.partial-*`` directory as in use by this process until :meth:`release`.

    :data:`OWNER` is created in it and locked (``flock``, exclusive) before anything is written
    to it, and holds the process's pid, start time and host. The kernel drops the lock when the
    process dies, however it dies (SIGKILL included); a forked child (the loader's reader)
    shares it and dies with its parent. Where files cannot be locked the file is not kept, and
    the directory is judged by its age, as one of an older version."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        with _HELD_LOCK:
            _HELD.add(str(directory))
        if fcntl is None:  # pragma: no cover - not POSIX
            return
        path = directory / OWNER
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            log.debug("cannot mark %s as in use: %s", directory, exc)
            return
        try:
            # Written only once locked: a cleaner that takes the lock of an empty file has come
            # between the open and the lock (it judges the directory by its age: it is new).
            fcntl.flock(fd, fcntl.LOCK_EX)
            pid = os.getpid()
            me = {"pid": pid, "start": _process_start(pid), "host": socket.gethostname()}
            os.write(fd, json.dumps(me).encode())
        except OSError as exc:  # no locks on this file system: judged by its age
            log.debug("cannot lock %s: %s", path, exc)
            os.close(fd)
            path.unlink(missing_ok=True)
            return
        self._fd = fd

    def unlink(self) -> None:
        """Remove the file (the lock is kept until :meth:`release`)."""
        (self.directory / OWNER).unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with _HELD_LOCK:
            _HELD.discard(str(self.directory))


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot, from ``/proc``), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after the command name, which may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie: it has ended
        return None
    return fields[19]


def _owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the process ``owner`` describes is still running, as far as can be told here:
    the same host, the pid in use, and (where ``/proc`` tells) the same start time."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except (OSError, OverflowError):
        return False
    start = owner.get("start")
    if start is None:
        return True
    return _process_start(pid) == start


def _why_leftover(partial: Path, fd: int | None, *, writer_locked: bool) -> str | None:
    """Why ``partial`` (with ``fd`` open on its :data:`OWNER` file, if it has one) belongs to no
    live process, or None when it may. Takes the owner lock on ``fd`` when it can."""
    owner: dict[str, Any] | None = None
    if fd is not None and fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # locked: in use
        except OSError:  # no locks here: judged by its age
            fd = None
        else:
            with contextlib.suppress(OSError, ValueError):
                owner = json.loads(os.read(fd, 4096) or b"null")
    if writer_locked and partial.name.startswith(".partial-snap-"):
        # Snapshots are written one at a time, under the writer lock this process holds.
        return "a snapshot write that did not finish"
    if isinstance(owner, dict):
        if _owner_alive(owner):  # its lock was lost somehow: leave it alone
            return None
        return f"process {owner.get('pid')} on {owner.get('host')}, which has ended"
    age = time.time() - _last_written(partial)
    if age > LEFTOVER_AGE:
        return f"nothing written in it for {age / 60:.0f} minutes"
    return None


def _remove_leftovers(snapshot_dir: Path, *, writer_locked: bool) -> None:
    """Remove the ``.partial-*`` directories that belong to no live load or snapshot write.

    One whose :data:`OWNER` lock can be taken belongs to a process that has ended (unless that
    process is still running on this host, which is then trusted); one locked is in use and
    left alone. With the writer lock held (``writer_locked``), every ``.partial-snap-*`` is a
    leftover, since snapshots are only written under that lock, and so is every pointer file
    being written (``.CURRENT.*.tmp``). A directory without an owner file (an older version's, or
    one whose file is being created) is removed once nothing in it was written for
    :data:`LEFTOVER_AGE` seconds. Each removal is logged (INFO) with its size."""
    for partial in sorted(snapshot_dir.glob(".partial-*")):
        with _HELD_LOCK:
            if str(partial) in _HELD:
                continue
        try:
            fd: int | None = os.open(partial / OWNER, os.O_RDWR | os.O_CLOEXEC)
        except OSError:  # none (or not a directory, or removed meanwhile)
            fd = None
        try:
            if not partial.is_dir():
                continue
            why = _why_leftover(partial, fd, writer_locked=writer_locked)
            if why is None:
                continue
            size = _size(partial)
            shutil.rmtree(partial, ignore_errors=True)  # with its owner lock held, if any
        except FileNotFoundError:  # removed meanwhile (by another load or snapshot)
            continue
        finally:
            if fd is not None:
                os.close(fd)
        if not partial.exists():
            log.info("removed the leftover %s (%s bytes): %s", partial.name, f"{size:,}", why)
    if writer_locked:
        for pointer in snapshot_dir.glob(f".{CURRENT}.*.tmp"):
            with contextlib.suppress(OSError):
                pointer.unlink()
                log.info("removed the leftover %s", pointer.name)


def _size(directory: Path) -> int:
    """The bytes of the files under ``directory``."""
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _last_written(directory: Path) -> float:
    """The newest modification time of a directory and the files in it (a load that stages its
    snapshot rows for more than an hour keeps writing to its files, not to the directory)."""
    times = [directory.stat().st_mtime]
    with contextlib.suppress(OSError):  # removed meanwhile
        times.extend(child.stat().st_mtime for child in directory.iterdir())
    return max(times)


#: (``CURRENT`` file, its bytes) -> (the snapshot it names, that snapshot's cases file). See
#: :func:`current_snapshot`.
_POINTERS: dict[tuple[str, bytes], tuple[Path, str]] = {}


def current_snapshot(snapshot_dir: Path) -> Path | None:
    """The live snapshot's directory, or None when there is none (or it has no cases file).

    Asked several times by every callback, so it is kept cheap: the pointer is read with plain
    ``os`` calls and the paths it names are remembered by its bytes (about 5 µs against 18 µs
    for ``Path.read_text`` and the path arithmetic, measured). It is read every time, so a
    pointer rewritten in place is seen at once."""
    pointer = os.path.join(snapshot_dir, CURRENT)
    try:
        fd = os.open(pointer, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        text = os.read(fd, _POINTER_MAX_BYTES)
    finally:
        os.close(fd)
    known = _POINTERS.get((pointer, text))
    if known is None:
        path = Path(snapshot_dir) / text.decode("utf-8", "replace").strip()
        if len(_POINTERS) > _POINTERS_KEPT:
            _POINTERS.clear()
        known = _POINTERS[(pointer, text)] = (path, str(path / CASES_FILE))
    return known[0] if os.path.exists(known[1]) else None


def read_manifest(snapshot: Path) -> dict[str, Any]:
    return json.loads((snapshot / MANIFEST).read_text())


def require_snapshot(snapshot_dir: Path) -> Path:
    path = current_snapshot(snapshot_dir)
    if path is None:
        raise SnapshotMissingError(
            f"no snapshot in {snapshot_dir}: load data first (stat311 ingest PATH)"
        )
    return path


def write_for(
    store: Store, settings: Settings, *, full: bool = False, load_rows: LoadRows | None = None
) -> Path:
    """:func:`write_snapshot` with the settings' directory, time zone and SLA policy."""
    return write_snapshot(
        store=store,
        snapshot_dir=settings.snapshot_dir,
        timezone=settings.timezone,
        policy=load_policy(settings.sla_policy),
        full=full,
        load_rows=load_rows,
    )


def load_rows_for(settings: Settings) -> LoadRows:
    """A :class:`LoadRows` with the settings' directory, time zone and SLA policy."""
    return LoadRows(
        settings.snapshot_dir,
        timezone=settings.timezone,
        policy=load_policy(settings.sla_policy),
    )


def ensure_current_for(store: Store, settings: Settings) -> Path:
    """:func:`ensure_current` with the settings' directory, time zone and SLA policy."""
    return ensure_current(
        store=store,
        snapshot_dir=settings.snapshot_dir,
        timezone=settings.timezone,
        policy=load_policy(settings.sla_policy),
    )


def settings_differ(snapshot_dir: Path, *, timezone: str, policy: SlaPolicy | None) -> str:
    """Why the current snapshot was written with other settings than these (another time zone
    or SLA policy), or "" when it was not (or there is none)."""
    path = current_snapshot(snapshot_dir)
    if path is None:
        return ""
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return ""
    fingerprint = policy.fingerprint if policy is not None else None
    if manifest.get("timezone") != timezone:
        return f"the time zone {manifest.get('timezone')}, not {timezone}"
    if manifest.get("policy") != fingerprint:
        return "another SLA policy"
    return ""


@contextmanager
def reading_settings(store: Store, settings: Settings) -> Iterator[Settings]:
    """The settings a reading command (``sla``, ``hotspots``, ``departments``) reads a snapshot
    with: ``settings`` themselves once the shared snapshot is current for them.

    A reading command never rewrites the snapshot the dashboard serves with settings it was
    not written with: ``STAT311_SLA_POLICY=what-if.yaml stat311 sla ...`` would otherwise
    change the live pages' figures. When the shared snapshot was written with another time
    zone or SLA policy, the command writes a private one with its own settings in a temporary
    directory (removed afterwards), reads that, and says so. Otherwise it brings the shared one
    up to date as :func:`ensure_current_for` does (after a load that stopped before its snapshot,
    say), since that is what every reader with these settings needs."""
    policy = load_policy(settings.sla_policy)
    other = settings_differ(settings.snapshot_dir, timezone=settings.timezone, policy=policy)
    if not other:
        ensure_current_for(store, settings)
        yield settings
        return
    import tempfile
    from dataclasses import replace

    with tempfile.TemporaryDirectory(prefix="stat311-private-snapshot-") as private:
        log.warning(
            "the dashboard's snapshot was written with %s: reading a private snapshot of the "
            "store's %s cases written with this command's settings (the dashboard's figures are "
            "left as they are; run `stat311 snapshot` with these settings to make them everyone's)",
            other,
            f"{store.count_cases():,}",
        )
        write_snapshot(
            store=store, snapshot_dir=Path(private), timezone=settings.timezone, policy=policy
        )
        yield replace(settings, snapshot_dir=Path(private))


def ensure_current(
    *, store: Store, snapshot_dir: Path, timezone: str, policy: SlaPolicy | None = None
) -> Path:
    """The current snapshot, rebuilt first when the store, the time zone or the SLA policy has
    changed since it was written (e.g. a load committed but was stopped before its snapshot was
    swapped in)."""
    fresh = {"store": store, "snapshot_dir": snapshot_dir, "timezone": timezone, "policy": policy}
    path, why = current_if_fresh(**fresh)
    if path is not None:
        return path
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    with _writer_lock(snapshot_dir):
        # Several workers may have found it stale at once: the first rebuilds, the others use it.
        path, why = current_if_fresh(**fresh)
        if path is None:
            # A rebuild reads every case (about 2.5 minutes at 10M cases): say why, and how to
            # do it ahead of a restart next time.
            cases = f"{store.count_cases():,}"
            if why == NO_SNAPSHOT_YET:
                log.info("no read-model snapshot yet: writing one from the store's %s cases", cases)
            else:
                log.warning(
                    "the read-model snapshot is out of date (%s): rebuilding it from the store's "
                    "%s cases before going on; run `stat311 snapshot` after such a change to do "
                    "this ahead of a restart",
                    why,
                    cases,
                )
            path = _write_locked(
                store=store, snapshot_dir=snapshot_dir, timezone=timezone, policy=policy
            )
    return path


NO_SNAPSHOT_YET = "there is none yet"


def current_if_fresh(
    *, store: Store, snapshot_dir: Path, timezone: str, policy: SlaPolicy | None
) -> tuple[Path | None, str]:
    """``(the current snapshot, "")`` when it is fresh, else ``(None, why it is not)``."""
    path = current_snapshot(snapshot_dir)
    if path is None:
        return None, NO_SNAPSHOT_YET
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):  # unreadable manifest: rebuild
        return None, "its manifest cannot be read"
    fingerprint = policy.fingerprint if policy is not None else None
    if manifest.get("version") != store.data_version():
        return None, "the store changed since it was written"
    if manifest.get("timezone") != timezone:
        return None, f"the time zone changed from {manifest.get('timezone')} to {timezone}"
    if manifest.get("policy") != fingerprint:
        return None, "the SLA policy changed since it was written"
    return path, ""
