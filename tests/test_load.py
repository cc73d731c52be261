"""Loading: upsert by (source, request_id), counts, duplicates, compressed inputs, streaming, hashes."""

from __future__ import annotations

import csv
import gzip
import shutil
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

import etl.load
from dashboard import schema
from dashboard.errors import InputFileError
from dashboard.store import Store
from etl.load import load_file, row_hashes
from etl.reader import ExportFile
from tests.conftest import NYC_CSV, make_settings
from tests.support.exports import BOSTON_MINIMAL_HEADER

BOSTON_HEADER = BOSTON_MINIMAL_HEADER


# -- helpers -------------------------------------------------------------------------------------
def new_store(tmp: Path, name: str = "db", **overrides) -> tuple:
    root = tmp / name
    root.mkdir(parents=True, exist_ok=True)
    settings = make_settings(root, **overrides)
    store = Store(settings.database_url)
    store.migrate()
    return settings, store


def load(path: Path, settings, store, **kwargs):
    return load_file(path, store=store, settings=settings, progress=False, snapshot=False, **kwargs)


def table(store: Store, name: str, drop: tuple[str, ...] = ()) -> list[tuple]:
    """Every row of a table, sorted, without the ``drop`` columns."""
    t = schema.metadata.tables[name]
    columns = [c for c in t.columns if c.name not in drop]
    with store.connect() as conn:
        rows = conn.execute(select(*columns)).all()
    return sorted((tuple(r) for r in rows), key=repr)


def count(store: Store, name: str) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.metadata.tables[name])).scalar()


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def balanced(report) -> bool:
    return report.read == (
        report.inserted + report.updated + report.unchanged + sum(report.quarantined.values())
    )


def report_key(report) -> dict:
    data = report.as_json()
    for name in ("seconds", "stages", "run_id", "path"):
        data.pop(name)
    return data


# -- loading twice -------------------------------------------------------------------------------
def test_loading_the_same_file_twice_changes_nothing(tmp_path):
    header, rows = read_rows(NYC_CSV)
    settings, store = new_store(tmp_path)
    first = load(NYC_CSV, settings, store)
    assert first.read == len(rows) == 4_999
    assert first.inserted == 4_997 and balanced(first)
    cases_before = table(store, "cases")
    quarantine_before = count(store, "quarantine")

    # Another batch size: the row hash must not depend on which rows share a batch.
    settings_small = make_settings(tmp_path / "db", batch_size=333)
    second = load(NYC_CSV, settings_small, store)
    assert second.inserted == 0
    assert second.updated == 0
    assert second.unchanged == first.inserted
    assert second.quarantined == first.quarantined
    assert balanced(second)
    assert table(store, "cases") == cases_before  # not a single value rewritten
    assert count(store, "quarantine") == quarantine_before
    assert count(store, "ingestion_runs") == 2
    store.dispose()


# -- a newer export ------------------------------------------------------------------------------
def test_newer_export_updates_changed_rows(tmp_path):
    header, rows = read_rows(NYC_CSV)
    col = {name: i for i, name in enumerate(header)}
    settings, store = new_store(tmp_path)
    load(NYC_CSV, settings, store)
    before = store.count_cases()

    newer = [list(r) for r in rows]
    open_rows = [r for r in newer if r[col["Status"]] != "Closed" and not r[col["Closed Date"]]]
    closed_now = open_rows[:40]
    for r in closed_now:  # closed overnight
        r[col["Status"]] = "Closed"
        r[col["Closed Date"]] = "03/01/2023 10:00:00 AM"
        r[col["Resolution Description"]] = "Resolved in the newer export."
    moved = [r for r in newer if r[col["Status"]] == "Closed" and r[col["Closed Date"]]][100:110]
    for r in moved:  # a later closed time
        r[col["Closed Date"]] = "03/02/2023 08:30:00 PM"
    added = []
    for i in range(5):
        extra = list(rows[i + 10])
        extra[col["Unique Key"]] = f"9900000{i}"
        added.append(extra)
    newer += added
    # A row that becomes unreadable in the newer export: quarantined, the stored case kept.
    touched = {r[col["Unique Key"]] for r in closed_now + moved} | {"56923577", "56921224"}
    spoiled = next(r for r in newer if r[col["Unique Key"]] not in touched)
    spoiled_key = spoiled[col["Unique Key"]]
    stored_spoiled = store.get_case(spoiled_key)
    spoiled[col["Created Date"]] = "not a date"
    path = write_rows(tmp_path / "newer.csv", header, newer)

    report = load(path, settings, store)
    assert report.read == len(newer)
    assert report.inserted == len(added)
    assert report.updated == len(closed_now) + len(moved)
    assert report.quarantined == {"closed_before_requested": 2, "unparseable_requested_at": 1}
    assert report.unchanged == len(rows) - 2 - len(closed_now) - len(moved) - 1
    assert balanced(report)
    assert store.count_cases() == before + len(added)

    for r in closed_now:
        case = store.get_case(r[col["Unique Key"]])
        assert case["status"] == "closed" and case["status_raw"] == "Closed"
        assert case["closed_at"] == datetime(2023, 3, 1, 15, 0)  # 10:00 AM EST
        assert case["resolution"] == "Resolved in the newer export."
        assert case["last_run_id"] == report.run_id and case["first_run_id"] != report.run_id
    for r in moved:
        case = store.get_case(r[col["Unique Key"]])
        assert case["closed_at"] == datetime(2023, 3, 3, 1, 30)  # 08:30 PM EST
    for r in added:
        assert store.get_case(r[col["Unique Key"]])["first_run_id"] == report.run_id
    assert store.get_case(spoiled_key) == stored_spoiled
    store.dispose()


# -- duplicated keys inside one file ---------------------------------------------------------------
def expected_counts(state: dict[str, tuple], rows: list[list[str]], batch_size: int) -> Counter:
    """File-order model, batch by batch: a key's first row is compared with the store, a later
    one with the row before it, except that every row of a key whose last row in the batch is
    what the store held before the batch is unchanged; the store ends with the last row of
    every key."""
    out: Counter[str] = Counter()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        before = dict(state)
        last = {row[0]: tuple(row[1:]) for row in batch}
        for row in batch:
            key, content = row[0], tuple(row[1:])
            if key in before and before[key] == last[key]:
                out["unchanged"] += 1
            elif key not in state:
                out["inserted"] += 1
            elif state[key] == content:
                out["unchanged"] += 1
            else:
                out["updated"] += 1
            state[key] = content
    return out


def boston_row(key: str, status: str = "Open", closed: str = "", dept: str = "PWDx") -> list[str]:
    return [
        key,
        "2011-07-01 10:00:00",
        "2011-07-08 10:00:00",
        closed,
        status,
        "Pothole",
        dept,
        "Self Service",
        "42.3300",
        "-71.0800",
    ]


@pytest.mark.parametrize("batch_size", [3, 1000])
def test_duplicate_keys_in_one_file(tmp_path, batch_size):
    rows = [
        boston_row("A"),
        boston_row("B"),
        boston_row("A"),  # same again: unchanged
        boston_row("C"),
        boston_row("A", "Closed", "2011-07-02 10:00:00"),  # closed: updated
        boston_row("B", dept="BTDT"),  # updated
        boston_row("D"),
        boston_row("B", dept="BTDT"),  # unchanged
        boston_row("A", "Closed", "2011-07-03 09:00:00"),  # updated
    ]
    settings, store = new_store(tmp_path, batch_size=batch_size)
    path = write_rows(tmp_path / "dups.csv", BOSTON_HEADER, rows)
    state: dict[str, tuple] = {}
    expected = expected_counts(state, rows, batch_size)
    report = load(path, settings, store)
    assert (
        (report.inserted, report.updated, report.unchanged)
        == (
            expected["inserted"],
            expected["updated"],
            expected["unchanged"],
        )
        == (4, 3, 2)
    )
    assert balanced(report)
    assert store.count_cases() == 4
    a = store.get_case("A")
    assert a["status"] == "closed" and a["closed_at"] == datetime(2011, 7, 3, 13, 0)
    assert store.get_case("B")["department"] == "BTDT"

    # Loading it again: in one batch every key ends as stored, so nothing is counted as changed;
    # in batches of 3 the first A (open) differs from the stored last A (closed).
    again = load(path, settings, store)
    expected = expected_counts(state, rows, batch_size)
    assert (again.inserted, again.updated, again.unchanged) == (
        expected["inserted"],
        expected["updated"],
        expected["unchanged"],
    )
    assert again.updated == (0 if batch_size >= len(rows) else 5)
    assert again.inserted == 0 and balanced(again)
    assert store.count_cases() == 4
    assert store.get_case("A")["closed_at"] == datetime(2011, 7, 3, 13, 0)
    store.dispose()


# -- CSV, gzip, zip --------------------------------------------------------------------------------
def compressed_copies(tmp: Path) -> dict[str, Path]:
    plain = tmp / "nyc.csv"
    shutil.copy(NYC_CSV, plain)
    gz = tmp / "nyc.csv.gz"
    gz.write_bytes(gzip.compress(NYC_CSV.read_bytes()))
    zipped = tmp / "nyc.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(NYC_CSV, "export/nyc.csv")
    unnamed = tmp / "download"  # a gzip without the .gz name: detected by its magic bytes
    unnamed.write_bytes(gz.read_bytes())
    return {"csv": plain, "gz": gz, "zip": zipped, "gz-unnamed": unnamed}


def test_csv_gzip_and_zip_give_identical_loads(tmp_path):
    results = {}
    for kind, path in compressed_copies(tmp_path).items():
        settings, store = new_store(tmp_path, kind)
        report = load(path, settings, store)
        cases = table(store, "cases", drop=("id",))
        quarantine = table(store, "quarantine", drop=("id",))
        results[kind] = (report_key(report), cases, quarantine)
        store.dispose()
    reference = results["csv"]
    assert reference[0]["read"] == 4_999
    assert len(reference[1]) == 4_997 and len(reference[2]) == 2
    for kind, result in results.items():
        assert result == reference, kind


def test_zip_with_two_csvs_is_refused(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(NYC_CSV, "a.csv")
        archive.write(NYC_CSV, "b.csv")
    settings, store = new_store(tmp_path)
    with pytest.raises(InputFileError, match=r"exactly one CSV.*a\.csv, b\.csv"):
        load(path, settings, store)
    assert store.count_cases() == 0 and count(store, "ingestion_runs") == 0
    store.dispose()


def test_zip_with_a_readme_beside_the_csv(tmp_path):
    path = tmp_path / "with_readme.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "NYC 311 export, see the portal for the licence.\n")
        archive.write(NYC_CSV, "nyc.csv")
    settings, store = new_store(tmp_path)
    report = load(path, settings, store)
    assert report.read == 4_999 and report.format == "nyc"
    store.dispose()


def test_empty_zip_is_refused(tmp_path):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(InputFileError):
        ExportFile(path).open(batch_size=10).__enter__()


# -- streaming -------------------------------------------------------------------------------------
def big_boston_file(path: Path, n: int, *, compress: bool = False) -> Path:
    lines = [",".join(BOSTON_HEADER)]
    lines += [
        f"{i},2011-07-01 10:00:00,,,Open,Pothole {i % 50},PWDx,Self Service,42.33{i % 97:02d},-71.08"
        for i in range(n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    if compress:
        path.write_bytes(gzip.compress(data, compresslevel=1))
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["csv", "gzip"])
def test_reader_streams_in_bounded_batches(tmp_path, compress):
    n, batch_size = 150_000, 1_000
    path = big_boston_file(
        tmp_path / ("big.csv.gz" if compress else "big.csv"), n, compress=compress
    )
    total = path.stat().st_size
    export = ExportFile(path)
    with export.open(batch_size=batch_size) as (header, batches, progress):
        assert header == BOSTON_HEADER
        first = next(batches)
        # One batch read: only a bounded window of the file has been consumed.
        assert len(first.rows) == batch_size
        assert progress.done < total / 3
        assert first.lines[:3] == [2, 3, 4]
        seen = len(first.rows)
        next_line = first.lines[-1] + 1
        for batch in batches:
            assert 0 < len(batch.rows) + len(batch.bad) <= batch_size
            assert batch.lines[0] == next_line  # nothing skipped, nothing read twice
            next_line = batch.lines[-1] + 1
            seen += len(batch.rows)
        assert seen == n
        assert progress.done == total


def test_loader_hands_the_normaliser_bounded_batches(tmp_path, monkeypatch):
    sizes: list[int] = []
    real = etl.load.normalise

    def spy(header, rows, lines, **kwargs):
        sizes.append(len(rows))
        return real(header, rows, lines, **kwargs)

    monkeypatch.setattr(etl.load, "normalise", spy)
    path = big_boston_file(tmp_path / "big.csv", 12_345)
    settings, store = new_store(tmp_path, batch_size=1_000)
    report = load(path, settings, store)
    assert report.read == report.inserted == 12_345
    assert max(sizes) == 1_000 and sum(sizes) == 12_345 and len(sizes) == 13
    store.dispose()


def test_line_numbers_count_physical_lines(tmp_path):
    """A quoted field spanning lines moves the line numbers of the rows after it."""
    text = (
        ",".join(BOSTON_HEADER) + "\n"
        "1,2011-07-01 10:00:00,,,Open,Pothole,PWDx,Self Service,42.33,-71.08\n"
        '2,2011-07-01 10:00:00,,,Open,"Pot\nhole\n",PWDx,Self Service,42.33,-71.08\n'
        "\n"
        "3,2011-07-01 10:00:00,,,Open,Pothole,PWDx\n"
        "4,2011-07-01 10:00:00,,,Open,Pothole,PWDx,Self Service,42.33,-71.08\n"
    )
    path = tmp_path / "lines.csv"
    path.write_text(text)
    with ExportFile(path).open(batch_size=100) as (_, batches, _progress):
        (batch,) = list(batches)
    assert [r[0] for r in batch.rows] == ["1", "2", "4"]
    # line 1 header, 2 row 1, 3-5 row 2, 6 blank, 7 the short row, 8 row 4
    assert batch.lines == [2, 3, 8]
    assert batch.bad == [(7, "3,2011-07-01 10:00:00,,,Open,Pothole,PWDx")]


# -- row hash --------------------------------------------------------------------------------------
def test_row_hash_depends_on_content_only(tmp_path):
    from etl.adapters import NYC
    from etl.normalise import NormaliseContext, normalise

    header, rows = read_rows(NYC_CSV)
    context = NormaliseContext("nyc", "America/New_York", None, (), 0.0001)
    whole, _ = normalise(header, rows, list(range(2, len(rows) + 2)), adapter=NYC, context=context)
    hashes = row_hashes(whole.drop(columns=["_line"]))
    assert hashes.str.fullmatch(r"[0-9a-f]{16}").all()
    # Same row alone, or among others: same hash.
    for i in (2, 17, 4000):  # rows 0 and 1 are quarantined (closed before created)
        alone, _ = normalise(header, [rows[i]], [i + 2], adapter=NYC, context=context)
        assert (
            row_hashes(alone.drop(columns=["_line"])).iat[0]
            == hashes[whole["_line"] == i + 2].iat[0]
        )
    # Any canonical field changing changes the hash; the source name does not enter it.
    one = whole.drop(columns=["_line"]).iloc[[0]].copy()
    base = row_hashes(one).iat[0]
    for field, value in [
        ("status", "open" if one["status"].iat[0] == "closed" else "closed"),
        ("closed_at", pd.Timestamp("2023-03-05 10:00", tz="UTC")),
        ("department", "XYZ"),
        ("lat", 40.5),
        ("description", "other words"),
    ]:
        changed = one.copy()
        changed[field] = [value]
        assert row_hashes(changed).iat[0] != base, field
    renamed = one.copy()
    renamed["source"] = ["elsewhere"]
    assert row_hashes(renamed).iat[0] == base
    # Unique over the sample (no two different cases collide).
    assert hashes.nunique() == len(hashes)


def test_source_option_keeps_sources_apart(tmp_path):
    settings, store = new_store(tmp_path)
    first = load(NYC_CSV, settings, store, source="nyc-a")
    second = load(NYC_CSV, settings, store, source="nyc-b")
    assert first.inserted == second.inserted == 4_997
    assert store.count_cases() == 2 * 4_997
    with store.connect() as conn:
        sources = dict(
            conn.execute(
                select(schema.cases.c.source, func.count()).group_by(schema.cases.c.source)
            ).all()
        )
    assert sources == {"nyc-a": 4_997, "nyc-b": 4_997}
    store.dispose()


def test_format_option_must_match_header(tmp_path):
    settings, store = new_store(tmp_path)
    with pytest.raises(InputFileError, match="not a boston export"):
        load(NYC_CSV, settings, store, format="boston")
    assert count(store, "ingestion_runs") == 0
    store.dispose()


def test_nul_characters_deep_in_a_file_are_not_stored(tmp_path):
    """A stray NUL after the sniffed head: the row loads, without the NUL (PostgreSQL refuses
    NUL in text)."""
    rows = [boston_row(f"P{i}") for i in range(3000)]  # well over 64 KB before the NUL
    rows.append(boston_row("NUL", dept="PW\x00Dx"))
    path = write_rows(tmp_path / "nul.csv", BOSTON_HEADER, rows)
    assert path.stat().st_size > 64 * 1024
    settings, store = new_store(tmp_path)
    report = load(path, settings, store)
    assert report.inserted == 3001
    assert store.get_case("NUL")["department"] == "PW\ufffdDx"
    store.dispose()


def test_a_column_named_twice_reads_the_first(tmp_path):
    header = [*BOSTON_HEADER, "type"]
    rows = [[*boston_row("D1"), "Second Type"]]
    path = write_rows(tmp_path / "twice.csv", header, rows)
    settings, store = new_store(tmp_path)
    report = load(path, settings, store)
    assert report.inserted == 1
    assert store.get_case("D1")["service_name"] == "Pothole"
    store.dispose()


def test_a_load_gives_back_the_default_page_cache_and_fills_the_rtree(tmp_path):
    settings, store = new_store(tmp_path)
    load(NYC_CSV, settings, store)
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -65536
        with_point = conn.exec_driver_sql(
            "SELECT id, lon, lat FROM cases WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY id"
        ).all()
        indexed = conn.exec_driver_sql(
            "SELECT id, min_lon, min_lat FROM cases_rtree ORDER BY id"
        ).all()
    assert len(with_point) > 4_000
    assert [r[0] for r in indexed] == [r[0] for r in with_point]
    # R*Tree coordinates are 32-bit floats: within 1e-4 degrees (about 10 m) of the stored ones
    worst = max(
        max(abs(a[1] - b[1]), abs(a[2] - b[2])) for a, b in zip(indexed, with_point, strict=True)
    )
    assert worst < 1e-4, worst
