"""A snapshot written after a load is merged: the current snapshot plus the cases the load changed.

Each merged snapshot is compared with one written whole from the store (the way every snapshot was
written before), and the long-open file with a pandas filter over the store's own cases. The cases
are built here so that a merge that kept an old copy of a changed case, lost the order by request
time, or left a closed case in the long-open file would show.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard import snapshot
from dashboard.errors import InputFileError
from dashboard.settings import Settings
from dashboard.store import Store
from tests.conftest import ROOT, make_settings
from tests.test_store import (
    CHARLESTOWN,
    NORTH_END,
    ROSLINDALE,
    SOUTH_END,
    add_neighbourhoods,
    boston_row,
    cases_frame,
    load,
    write_boston_csv,
)


def _case(case_id: str, where, opened: str, closed: str | None = None, **extra: str):
    status = {"case_status": "Closed", "closed_dt": closed} if closed else {"case_status": "Open"}
    return boston_row(case_id, where, open_dt=opened, **status, **extra)


M6 = _case("M6", ROSLINDALE, "2024-02-01 08:00:00", "2024-02-02 08:00:00")
#: The first export: open and closed cases, some closed 28+ days after they were opened, not in
#: the order they were requested.
FIRST = [
    _case("M1", ROSLINDALE, "2024-01-02 08:00:00"),  # open: long-open
    M6,
    _case("M2", CHARLESTOWN, "2024-01-03 09:00:00", "2024-01-04 09:00:00"),
    _case("M3", SOUTH_END, "2024-01-05 10:00:00", "2024-03-01 10:00:00"),  # closed late
    _case("M4", NORTH_END, "2024-01-06 11:00:00"),  # open
    _case("M5", None, "2024-01-07 12:00:00", "2024-01-08 12:00:00"),  # no coordinates
]
#: The second: M1 closed within days (leaves the long-open file), M2 moved and re-dated to
#: after M6 (its row moves in the file), M4 closed late (stays long-open), M6 unchanged, two new
#: cases (one dated before every other case) and one row that cannot be read.
SECOND = [
    _case("M1", ROSLINDALE, "2024-01-02 08:00:00", "2024-01-05 08:00:00"),
    _case("M2", NORTH_END, "2024-02-10 09:00:00", "2024-02-11 09:00:00"),
    _case("M4", NORTH_END, "2024-01-06 11:00:00", "2024-04-01 11:00:00"),
    M6,
    _case("M7", SOUTH_END, "2023-12-31 23:00:00"),
    _case("M8", CHARLESTOWN, "2024-02-15 08:00:00", "2024-02-16 08:00:00"),
    _case("M9", ROSLINDALE, "not a date"),
]


@pytest.fixture(
    autouse=True, params=[0.0, float("inf")], ids=["sorted-whole", "only-the-tail-sorted"]
)
def tail_share(request, monkeypatch) -> Iterator[list[Path]]:
    """Every test twice: the merged cases file sorted whole (share 0), and with its rows before
    the earliest changed case streamed and only the rest sorted (any share), in row groups of
    two rows so that there are whole row groups before that case, one holding it, and after it.
    Yields the cases files sorted whole, to check which way was taken."""
    monkeypatch.setattr(snapshot, "TAIL_SHARE", request.param)
    if request.param:
        monkeypatch.setattr(snapshot, "TAIL_ROWS", request.param)
        monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 2)
    sorted_whole: list[Path] = []
    merge = snapshot._merge

    def recording(base, removed, added, target, order_by):
        if target.name == snapshot.CASES_FILE:
            sorted_whole.append(target)
        return merge(base, removed, added, target, order_by)

    monkeypatch.setattr(snapshot, "_merge", recording)
    yield sorted_whole


@pytest.fixture
def layered(store: Store, settings: Settings) -> tuple[Store, Settings]:
    add_neighbourhoods(store, settings)
    return store, settings


def _files(path: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pq.read_table(path / name).to_pandas()
        for name in (snapshot.CASES_FILE, snapshot.LONG_OPEN_FILE, snapshot.DAILY_FILE)
    }


def _assert_same_snapshot(merged: Path, whole: Path) -> None:
    """Same rows, in the same order, with the same schema, in every file."""
    for name in (snapshot.CASES_FILE, snapshot.LONG_OPEN_FILE, snapshot.DAILY_FILE):
        # names and types (DuckDB marks a column NOT NULL by what the rows it read held)
        ours, theirs = pq.read_schema(merged / name), pq.read_schema(whole / name)
        assert [(f.name, f.type) for f in ours] == [(f.name, f.type) for f in theirs], name
    ours, theirs = _files(merged), _files(whole)
    for name, frame in ours.items():
        pd.testing.assert_frame_equal(frame, theirs[name], obj=name)


def _how(path: Path) -> tuple[str, int, int]:
    """How a snapshot was written: mode, cases read from the store, cases staged by the load."""
    written = snapshot.read_manifest(path)["written"]
    return written["mode"], written["cases_read"], written["cases_from_load"]


def _expected_long_open(store: Store) -> list[str]:
    """Request ids of the cases still open or closed 28+ days after request, from the store."""
    cases = cases_frame(store, "request_id", "requested_at", "closed_at")
    requested = pd.to_datetime(cases["requested_at"])
    closed = pd.to_datetime(cases["closed_at"])
    late = closed.isna() | (closed - requested >= pd.Timedelta(days=snapshot.LONG_OPEN_DAYS))
    return sorted(cases.loc[late, "request_id"])


def test_a_load_merges_only_the_cases_it_changed_into_the_snapshot(
    layered: tuple[Store, Settings], tmp_path: Path, tail_share: list[Path], monkeypatch
) -> None:
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    first = snapshot.require_snapshot(settings.snapshot_dir)
    # the first load into the empty store: the snapshot is written from the load's own rows
    assert snapshot.read_manifest(first)["written"] == {
        "mode": "full",
        "base": None,
        "cases_read": 0,
        "cases_from_load": 6,
    }
    _assert_same_snapshot(first, snapshot.write_for(store, settings, full=True))
    load(tmp_path / "first.csv", store, settings)  # (and back to a snapshot merged from it)
    first = snapshot.require_snapshot(settings.snapshot_dir)

    sorted_whole = tail_share[:]
    report = load(write_boston_csv(tmp_path / "second.csv", SECOND), store, settings)
    assert (report.inserted, report.updated, report.unchanged) == (2, 3, 1)
    streamed = len(tail_share) == len(sorted_whole)
    assert streamed == (snapshot.TAIL_SHARE > 0)
    assert report.quarantined == {"unparseable_requested_at": 1}
    merged = snapshot.require_snapshot(settings.snapshot_dir)
    manifest = snapshot.read_manifest(merged)
    # the five changed cases, as the load staged them (none read back from the store)
    assert manifest["written"] == {
        "mode": "merged",
        "base": first.name,
        "cases_read": 0,
        "cases_from_load": 5,
    }
    assert manifest["version"] == store.data_version()
    assert manifest["rows"] == store.count_cases() == 8

    files = _files(merged)
    cases, long_open = files[snapshot.CASES_FILE], files[snapshot.LONG_OPEN_FILE]
    order = cases["requested_at"].tolist()
    assert order == sorted(order) and cases["request_id"].iloc[0] == "M7"
    assert cases["request_id"].is_unique
    assert sorted(long_open["request_id"]) == _expected_long_open(store) == ["M3", "M4", "M7"]
    moved = cases.set_index("request_id").loc["M2"]
    assert moved["area_neighborhood"] == "North End"
    assert moved["requested_at"] == pd.Timestamp("2024-02-10 14:00:00", tz="UTC")

    whole = snapshot.write_for(store, settings, full=True)
    assert snapshot.read_manifest(whole)["written"]["mode"] == "full"
    _assert_same_snapshot(merged, whole)

    # Loading the same file again changes no case: nothing is read again, nothing changes, and
    # the daily counts are copied, not counted again.
    counted: list[Path] = []
    write_daily = snapshot.write_daily
    monkeypatch.setattr(
        snapshot,
        "write_daily",
        lambda cases, *a, **k: counted.append(cases) or write_daily(cases, *a, **k),
    )
    load(tmp_path / "second.csv", store, settings)
    assert counted == []
    again = snapshot.require_snapshot(settings.snapshot_dir)
    assert _how(again) == ("merged", 0, 0)
    _assert_same_snapshot(again, whole)
    assert not list(Path(settings.snapshot_dir).glob(".partial-*"))  # the staged rows are gone


def test_a_snapshot_merged_from_one_that_missed_a_load_catches_up(
    layered: tuple[Store, Settings], tmp_path: Path
) -> None:
    """A load committed without its snapshot (killed in between): the next snapshot reads the
    cases of both later runs."""
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    first = snapshot.require_snapshot(settings.snapshot_dir)
    load(write_boston_csv(tmp_path / "second.csv", SECOND), store, settings, snapshot=False)
    third = [_case("M10", SOUTH_END, "2024-03-03 08:00:00"), FIRST[2]]  # M2 back as it was
    load(write_boston_csv(tmp_path / "third.csv", third), store, settings, snapshot=False)
    assert snapshot.current_snapshot(settings.snapshot_dir) == first

    merged = snapshot.ensure_current_for(store, settings)
    assert _how(merged) == ("merged", 6, 0)
    _assert_same_snapshot(merged, snapshot.write_for(store, settings, full=True))


def test_a_load_after_one_without_a_snapshot_reads_the_changed_cases_from_the_store(
    layered: tuple[Store, Settings], tmp_path: Path
) -> None:
    """Its own staged rows are not all that changed since the current snapshot."""
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    load(write_boston_csv(tmp_path / "second.csv", SECOND), store, settings, snapshot=False)
    third = [_case("M10", SOUTH_END, "2024-03-03 08:00:00")]
    load(write_boston_csv(tmp_path / "third.csv", third), store, settings)
    merged = snapshot.require_snapshot(settings.snapshot_dir)
    assert _how(merged) == ("merged", 6, 0)
    _assert_same_snapshot(merged, snapshot.write_for(store, settings, full=True))


def test_a_file_changing_a_case_in_two_batches_reads_it_from_the_store(
    store: Store, tmp_path: Path
) -> None:
    """M1 is inserted by the first batch and changed by the third: the rows staged by the load
    hold it twice, so the store is read instead."""
    settings = make_settings(tmp_path, batch_size=2)
    add_neighbourhoods(store, settings)
    rows = [
        _case("M1", ROSLINDALE, "2024-01-02 08:00:00"),
        _case("M2", CHARLESTOWN, "2024-01-03 09:00:00"),
        _case("M3", SOUTH_END, "2024-01-05 10:00:00"),
        _case("M4", NORTH_END, "2024-01-06 11:00:00"),
        _case("M1", NORTH_END, "2024-01-02 08:00:00", "2024-01-03 08:00:00"),
    ]
    report = load(write_boston_csv(tmp_path / "twice.csv", rows), store, settings)
    assert (report.inserted, report.updated) == (4, 1)
    written_path = snapshot.require_snapshot(settings.snapshot_dir)
    assert _how(written_path) == ("full", 4, 0)
    frame = pq.read_table(written_path / snapshot.CASES_FILE).to_pandas().set_index("request_id")
    assert frame.loc["M1", "area_neighborhood"] == "North End"
    assert frame.loc["M1", "status"] == "closed"
    _assert_same_snapshot(written_path, snapshot.write_for(store, settings, full=True))


def test_a_refused_load_leaves_no_staged_rows_behind(
    layered: tuple[Store, Settings], tmp_path: Path
) -> None:
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    before = snapshot.require_snapshot(settings.snapshot_dir)
    data = gzip.compress(write_boston_csv(tmp_path / "second.csv", SECOND).read_bytes())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) - 30])
    with pytest.raises(InputFileError):
        load(cut, store, settings)
    assert snapshot.require_snapshot(settings.snapshot_dir) == before
    assert not list(Path(settings.snapshot_dir).glob(".partial-*"))


def _new_layer(store: Store, settings: Settings, tmp_path: Path) -> None:
    add_neighbourhoods(store, settings, layer="district")


def _other_time_zone(store: Store, settings: Settings, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, timezone="America/Los_Angeles")


def _other_policy(store: Store, settings: Settings, tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text("types:\n  Request for Pothole Repair: {days: 3}\n")
    return make_settings(tmp_path, sla_policy=str(policy))


def _older_manifest(store: Store, settings: Settings, tmp_path: Path) -> None:
    """A snapshot written before merging existed: its manifest names no run."""
    current = snapshot.require_snapshot(settings.snapshot_dir)
    manifest = snapshot.read_manifest(current)
    for key in ("run", "run_started", "layers_version"):
        del manifest[key]
    (current / snapshot.MANIFEST).write_text(snapshot.json.dumps(manifest))


@pytest.mark.parametrize(
    "change",
    [_new_layer, _other_time_zone, _other_policy, _older_manifest],
    ids=lambda f: f.__name__,
)
def test_the_snapshot_is_written_whole_when_the_current_one_cannot_be_merged_from(
    layered: tuple[Store, Settings], tmp_path: Path, change
) -> None:
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    settings = change(store, settings, tmp_path) or settings
    report = load(write_boston_csv(tmp_path / "second.csv", SECOND), store, settings)
    assert report.read == len(SECOND)
    written = snapshot.require_snapshot(settings.snapshot_dir)
    manifest = snapshot.read_manifest(written)
    assert manifest["written"]["mode"] == "full"
    assert manifest["written"]["cases_read"] == manifest["rows"] == store.count_cases()
    assert manifest["written"]["cases_from_load"] == 0
    _assert_same_snapshot(written, snapshot.write_for(store, settings, full=True))


def test_a_snapshot_of_another_store_is_never_merged_from(tmp_path: Path) -> None:
    """Two stores sharing a snapshot directory (e.g. the database file was replaced): run 1 of
    the second store is not run 1 of the first, so its snapshot is written whole."""
    first_settings = make_settings(tmp_path / "a")
    second_settings = make_settings(tmp_path / "b", snapshot_dir=first_settings.snapshot_dir)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    stores = [Store(s.database_url) for s in (first_settings, second_settings)]
    for s in stores:
        s.migrate()
    load(write_boston_csv(tmp_path / "first.csv", FIRST), stores[0], first_settings)
    only = [_case("N1", ROSLINDALE, "2024-05-01 08:00:00")]
    load(write_boston_csv(tmp_path / "other.csv", only), stores[1], second_settings)
    current = snapshot.require_snapshot(first_settings.snapshot_dir)
    assert snapshot.read_manifest(current)["written"]["mode"] == "full"
    assert pq.read_table(current / snapshot.CASES_FILE)["request_id"].to_pylist() == ["N1"]
    for s in stores:
        s.dispose()


def test_stat311_snapshot_writes_it_whole(layered: tuple[Store, Settings], tmp_path: Path) -> None:
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    load(write_boston_csv(tmp_path / "second.csv", SECOND), store, settings)
    merged = snapshot.require_snapshot(settings.snapshot_dir)
    env = {
        "STAT311_DATABASE_URL": settings.database_url,
        "STAT311_SNAPSHOT_DIR": str(settings.snapshot_dir),
        "PATH": str(Path(sys.executable).parent),
    }
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "snapshot"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    whole = snapshot.require_snapshot(settings.snapshot_dir)
    assert whole != merged and f"snapshot written: {whole}" in done.stdout
    assert snapshot.read_manifest(whole)["written"]["mode"] == "full"
    _assert_same_snapshot(merged, whole)


def test_pruning_keeps_staged_rows_still_being_written_and_removes_abandoned_ones(
    tmp_path: Path,
) -> None:
    """A load staging its rows for over an hour writes to its files, not to its directory."""
    directory = tmp_path / "snapshots"
    busy, abandoned = directory / ".partial-load-1.1-a", directory / ".partial-load-2.2-b"
    for staged in (busy, abandoned):
        staged.mkdir(parents=True)
        (staged / "rows.parquet").write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for path in (busy, abandoned, abandoned / "rows.parquet"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    snapshot._prune(directory, keep=snapshot.KEEP)
    assert busy.exists() and not abandoned.exists()


def test_a_case_moved_later_leaves_the_rows_kept_in_order(
    layered: tuple[Store, Settings], tmp_path: Path, tail_share: list[Path]
) -> None:
    """M1, the earliest case, is re-dated after M6; M5 (the earliest changed time) is closed. The
    rows before M5's time are kept as they are except M1's old row; only the rest is sorted (in
    row groups of two: [M1, M2] and [M3, M4] kept whole but for M1, [M5, M6] holds the start)."""
    store, settings = layered
    load(write_boston_csv(tmp_path / "first.csv", FIRST), store, settings)
    changes = [
        _case("M1", ROSLINDALE, "2024-02-20 08:00:00"),
        _case("M5", None, "2024-01-07 12:00:00", "2024-03-20 08:00:00"),
    ]
    before = len(tail_share)
    load(write_boston_csv(tmp_path / "moved.csv", changes), store, settings)
    merged = snapshot.require_snapshot(settings.snapshot_dir)
    assert _how(merged) == ("merged", 0, 2)
    assert (len(tail_share) == before) == (snapshot.TAIL_SHARE > 0)  # which way it was merged
    ids = pq.read_table(merged / snapshot.CASES_FILE)["request_id"].to_pylist()
    assert ids == ["M2", "M3", "M4", "M5", "M6", "M1"]
    _assert_same_snapshot(merged, snapshot.write_for(store, settings, full=True))
