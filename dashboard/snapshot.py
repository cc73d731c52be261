"""The read model: a columnar Parquet snapshot of the store, written whole and swapped atomically.

Layout under the snapshot directory::

    CURRENT                      -> one line: the name of the live snapshot directory
    snap-<version>-<stamp>/cases.parquet
    snap-<version>-<stamp>/manifest.json

A snapshot is written into a new directory, fsynced, then ``CURRENT`` is replaced with
:func:`os.replace` (atomic on POSIX): a reader sees the old snapshot or the new one, never half of
one. The two newest snapshots are kept so that a reader that has just resolved ``CURRENT`` can finish.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import schema
from dashboard.errors import SnapshotMissingError
from dashboard.store import Store

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
CASES_FILE = "cases.parquet"
MANIFEST = "manifest.json"
KEEP = 2

_TS = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "requested_at": _TS,
    "updated_at": _TS,
    "closed_at": _TS,
    "due_at": _TS,
    "requested_local": pa.timestamp("us"),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "is_duplicate": pa.bool_(),
    "is_private": pa.bool_(),
    **{name: pa.int64() for name in schema.H3_FIELDS},
}


def snapshot_columns(layers: list[str]) -> list[str]:
    public = [f for f in schema.CASE_FIELDS if f not in schema.INTERNAL_FIELDS]
    return ["id", *public, *schema.H3_FIELDS, *(f"area_{n}" for n in layers), "requested_local"]


def arrow_schema(layers: list[str]) -> pa.Schema:
    return pa.schema([(c, _TYPES.get(c, pa.string())) for c in snapshot_columns(layers)])


def _to_utc(values: pd.Series) -> pd.Series:
    series = pd.to_datetime(values, utc=False)
    if getattr(series.dt, "tz", None) is None:
        return series.dt.tz_localize("UTC")  # SQLite returns naive UTC
    return series.dt.tz_convert("UTC")


def _prepare(frame: pd.DataFrame, *, timezone: str, layers: list[str]) -> pd.DataFrame:
    for name in schema.TIME_FIELDS:
        frame[name] = _to_utc(frame[name]).astype("datetime64[us, UTC]")
    frame["requested_local"] = (
        frame["requested_at"].dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")
    )
    for name in ("is_duplicate", "is_private"):
        frame[name] = frame[name].astype(bool)
    for name in schema.H3_FIELDS:
        frame[name] = pd.array(frame[name], dtype="Int64")
    for layer in layers:
        if f"area_{layer}" not in frame.columns:
            frame[f"area_{layer}"] = None
    return frame[snapshot_columns(layers)]


def write_snapshot(*, store: Store, snapshot_dir: Path, timezone: str = "UTC") -> Path:
    """Write the whole store as a new snapshot and make it current. Returns its directory."""
    started = time.perf_counter()
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    version = store.data_version()
    layers = [layer["name"] for layer in store.boundary_layers()]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = snapshot_dir / f"snap-{version}-{stamp}"
    partial = snapshot_dir / f".partial-{target.name}"
    partial.mkdir()
    rows = 0
    try:
        arrow = arrow_schema(layers)
        with pq.ParquetWriter(partial / CASES_FILE, arrow, compression="zstd") as writer:
            for frame in store.iter_snapshot_frames():
                frame = _prepare(frame, timezone=timezone, layers=layers)
                writer.write_table(
                    pa.Table.from_pandas(frame, schema=arrow, preserve_index=False),
                    row_group_size=256_000,
                )
                rows += len(frame)
        manifest = {
            "version": version,
            "rows": rows,
            "layers": layers,
            "timezone": timezone,
            "created_at": datetime.now(UTC).isoformat(),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        _fsync_dir(partial)
        partial.rename(target)
        pointer = snapshot_dir / f".{CURRENT}.tmp"
        pointer.write_text(target.name + "\n")
        os.replace(pointer, snapshot_dir / CURRENT)
        _fsync_dir(snapshot_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _prune(snapshot_dir, keep=KEEP)
    log.info(
        "snapshot %s written: %s cases in %.1f s",
        target.name,
        f"{rows:,}",
        time.perf_counter() - started,
    )
    return target


def _fsync_dir(path: Path) -> None:
    for child in path.iterdir():
        if child.is_file():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(snapshot_dir: Path, *, keep: int) -> None:
    current = current_snapshot(snapshot_dir)
    snaps = sorted(
        (p for p in snapshot_dir.glob("snap-*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for old in snaps[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    for partial in snapshot_dir.glob(".partial-*"):
        if time.time() - partial.stat().st_mtime > 3600:  # left by a killed writer
            shutil.rmtree(partial, ignore_errors=True)


def current_snapshot(snapshot_dir: Path) -> Path | None:
    pointer = Path(snapshot_dir) / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = Path(snapshot_dir) / name
    return path if (path / CASES_FILE).exists() else None


def read_manifest(snapshot: Path) -> dict[str, Any]:
    return json.loads((snapshot / MANIFEST).read_text())


def require_snapshot(snapshot_dir: Path) -> Path:
    path = current_snapshot(snapshot_dir)
    if path is None:
        raise SnapshotMissingError(
            f"no snapshot in {snapshot_dir}: load data first (stat311 ingest PATH)"
        )
    return path


def ensure_current(*, store: Store, snapshot_dir: Path, timezone: str) -> Path:
    """The current snapshot, rebuilt first when the store has changed since it was written
    (e.g. a load committed but was stopped before its snapshot was swapped in)."""
    path = current_snapshot(snapshot_dir)
    manifest = read_manifest(path) if path is not None else {}
    if manifest.get("version") != store.data_version() or manifest.get("timezone") != timezone:
        path = write_snapshot(store=store, snapshot_dir=snapshot_dir, timezone=timezone)
    return path
