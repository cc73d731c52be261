"""Bad input through the real CLI: refused files, quarantined rows, loading twice, SIGKILL mid-load.

Every CLI run is a subprocess (``python -m dashboard.cli``) with the store and snapshot directory
in tmp_path, on a store that already holds data, so "store unchanged" is a real check.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import NYC_CSV, ROOT, make_settings
from tests.support.exports import BOSTON_MINIMAL_HEADER

HEADER = BOSTON_MINIMAL_HEADER
REASONS = {
    "missing_request_id",
    "unparseable_requested_at",
    "closed_before_requested",
    "wrong_field_count",
}


# -- helpers -------------------------------------------------------------------------------------
def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}
    env.update(
        STAT311_DATABASE_URL=f"sqlite:///{tmp / 'stat311.db'}",
        STAT311_SNAPSHOT_DIR=str(tmp / "snapshots"),
        **extra,
    )
    return env


def run_cli(tmp: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=ROOT,
        env=env_for(tmp, **extra_env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def row(key: str, opened: str = "2011-07-01 10:00:00", closed: str = "", **kw: str) -> list[str]:
    return [
        key,
        opened,
        kw.get("target", "2011-07-08 10:00:00"),
        closed,
        kw.get("status", "Closed" if closed else "Open"),
        kw.get("type", "Pothole"),
        kw.get("dept", "PWDx"),
        kw.get("source", "Self Service"),
        kw.get("lat", "42.3300"),
        kw.get("lon", "-71.0800"),
    ]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def state(tmp: Path) -> dict[str, list[tuple]]:
    """Everything a load writes: cases, ingestion runs, quarantine (all rows, sorted)."""
    store = Store(f"sqlite:///{tmp / 'stat311.db'}")
    try:
        out = {}
        with store.connect() as conn:
            for name in ("cases", "ingestion_runs", "quarantine", "case_areas"):
                rows = conn.execute(select(schema.metadata.tables[name])).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out
    finally:
        store.dispose()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store holding 30 cases, one quarantined row and one run."""
    rows = [row(f"S{i}") for i in range(30)] + [row("", opened="2011-07-01 10:00:00")]
    path = write_csv(tmp_path / "seed.csv", rows)
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    report = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
    store.dispose()
    assert report.inserted == 30 and report.quarantined == {"missing_request_id": 1}
    return tmp_path


def counts(st: dict[str, list[tuple]]) -> tuple[int, int, int]:
    return len(st["cases"]), len(st["ingestion_runs"]), len(st["quarantine"])


# -- files refused whole -----------------------------------------------------------------------------
def binary_file(tmp: Path) -> Path:
    path = tmp / "picture.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40)
    return path


def empty_file(tmp: Path) -> Path:
    path = tmp / "empty.csv"
    path.write_bytes(b"")
    return path


def blank_file(tmp: Path) -> Path:
    path = tmp / "blank.csv"
    path.write_text("\n  \n\n")
    return path


def unknown_header(tmp: Path) -> Path:
    return write_csv(
        tmp / "other_city.csv",
        [["1", "2023-01-01", "Pothole", "Open"]],
        header=["SR_NUMBER", "CREATED_DATE", "SR_TYPE", "STATUS"],
    )


def missing_file(tmp: Path) -> Path:
    return tmp / "no_such_export.csv"


def a_directory(tmp: Path) -> Path:
    path = tmp / "exports"
    path.mkdir()
    return path


def two_csv_zip(tmp: Path) -> Path:
    path = tmp / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", ",".join(HEADER) + "\n" + ",".join(row("Z1")) + "\n")
        archive.writestr("b.csv", ",".join(HEADER) + "\n" + ",".join(row("Z2")) + "\n")
    return path


def corrupt_gzip(tmp: Path) -> Path:
    path = tmp / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 20)
    return path


def corrupt_zip(tmp: Path) -> Path:
    path = tmp / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 50)
    return path


def empty_gzip(tmp: Path) -> Path:
    path = tmp / "nothing.csv.gz"
    path.write_bytes(gzip.compress(b""))
    return path


CASES = {
    "binary": (binary_file, "binary"),
    "empty": (empty_file, "empty"),
    "blank lines only": (blank_file, "empty"),
    "unknown header": (unknown_header, "matches no known format"),
    "missing": (missing_file, "no such file"),
    "directory": (a_directory, "directory"),
    "zip with two CSVs": (two_csv_zip, "exactly one CSV"),
    "corrupt gzip": (corrupt_gzip, "cannot be read"),
    "corrupt zip": (corrupt_zip, "zip"),
    "gzip of nothing": (empty_gzip, "empty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_refused_with_one_line_and_exit_2(seeded, case):
    build, words = CASES[case]
    path = build(seeded)
    before = state(seeded)
    result = run_cli(seeded, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stat311: error: ")
    assert words in lines[0]
    assert str(path) in lines[0]  # names the file
    assert result.stdout == ""
    after = state(seeded)
    assert counts(after) == counts(before) == (30, 1, 1)
    assert after == before


def test_format_that_does_not_match_the_header(seeded):
    before = state(seeded)
    result = run_cli(seeded, "ingest", str(NYC_CSV), "--format", "boston", "--json")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("stat311: error: ") and "not a boston export" in line
    assert state(seeded) == before


def test_file_failing_mid_load_leaves_store_unchanged(seeded):
    """A gzip cut short: several batches are already written inside the transaction when the
    stream breaks; nothing of them may remain."""
    rows = [row(f"T{i}") for i in range(20_000)] + [row("S1", status="Closed", closed="2011-07-02")]
    data = gzip.compress(write_csv(seeded / "whole.csv", rows).read_bytes())
    path = seeded / "cut.csv.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    before = state(seeded)
    result = run_cli(seeded, "ingest", str(path), STAT311_BATCH_SIZE="1000")
    assert result.returncode == 2, result.stderr
    assert "batch loaded" in result.stderr  # it really was mid-load
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("stat311: error: ") and "cannot be read" in last
    assert state(seeded) == before


# -- rows quarantined, the rest loaded -----------------------------------------------------------------
def test_bad_rows_are_quarantined_with_reason_line_and_text(seeded):
    good = [row(f"G{i}", lat=f"42.33{i:02d}") for i in range(20)]
    lines: list[str] = [",".join(HEADER)]
    expected_q: dict[int, tuple[str, str]] = {}

    def add(text: str, reason: str | None = None) -> None:
        lines.append(text)
        if reason:
            expected_q[len(lines)] = (reason, text)

    for i, g in enumerate(good):
        add(",".join(g))
        if i == 3:
            add(",".join(row("")), "missing_request_id")
        if i == 5:
            add(",".join(row("   ")), "missing_request_id")
        if i == 7:
            add(",".join(row("B1", opened="31/31/2011 99:00")), "unparseable_requested_at")
        if i == 8:
            add(",".join(row("B2", opened="")), "unparseable_requested_at")
        if i == 10:
            add(
                ",".join(row("B3", opened="2011-07-05 10:00:00", closed="2011-07-04 09:00:00")),
                "closed_before_requested",
            )
        if i == 12:
            add("B4,2011-07-01 10:00:00,,,Open,Pothole", "wrong_field_count")
        if i == 14:
            add(",".join(row("B5")) + ",extra,fields", "wrong_field_count")
    path = seeded / "mixed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = state(seeded)

    result = run_cli(seeded, "ingest", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    reasons: dict[str, int] = {}
    for reason, _ in expected_q.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    assert reasons == {
        "missing_request_id": 2,
        "unparseable_requested_at": 2,
        "closed_before_requested": 1,
        "wrong_field_count": 2,
    }
    assert report["quarantined"] == reasons
    assert report["read"] == len(lines) - 1 == 27
    assert report["inserted"] == len(good)
    assert report["read"] == (
        report["inserted"] + report["updated"] + report["unchanged"] + sum(reasons.values())
    )

    after = state(seeded)
    assert len(after["cases"]) == len(before["cases"]) + len(good)
    store = Store(f"sqlite:///{seeded / 'stat311.db'}")
    try:
        stored = {
            r["line_number"]: (r["reason"], r["raw"])
            for r in store.quarantined(run_id=report["run_id"], limit=100)
        }
        for g in good:
            assert store.get_case(g[0])["department"] == "PWDx"
        for key in ("B1", "B2", "B3", "B4", "B5"):
            assert store.get_case(key) is None
    finally:
        store.dispose()
    assert stored == expected_q
    assert set(r for r, _ in stored.values()) <= REASONS

    # The CLI shows them too.
    shown = run_cli(seeded, "quarantine", "--run", str(report["run_id"]), "--json")
    assert shown.returncode == 0
    assert {r["line_number"] for r in json.loads(shown.stdout)} == set(expected_q)

    # Loading the same file again: nothing inserted, nothing duplicated.
    again = run_cli(seeded, "ingest", str(path), "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["inserted"] == 0 and second["updated"] == 0
    assert second["unchanged"] == len(good)
    assert second["quarantined"] == reasons
    final = state(seeded)
    assert len(final["cases"]) == len(after["cases"])
    assert len(final["quarantine"]) == len(after["quarantine"])
    # ... and the newest run lists every row it quarantined, with its line.
    store = Store(f"sqlite:///{seeded / 'stat311.db'}")
    try:
        rerun = {
            r["line_number"]: (r["reason"], r["raw"])
            for r in store.quarantined(run_id=second["run_id"], limit=100)
        }
    finally:
        store.dispose()
    assert rerun == expected_q
    assert len(final["ingestion_runs"]) == len(after["ingestion_runs"]) + 1


def test_cli_human_report(seeded):
    path = write_csv(seeded / "few.csv", [row("H1"), row("H2"), row("", opened="x")])
    result = run_cli(seeded, "ingest", str(path))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    assert "read 3 rows as boston" in line
    assert "2 inserted, 0 updated, 0 unchanged, 1 quarantined (missing_request_id 1)" in line


# -- SIGKILL during a load -----------------------------------------------------------------------------
def big_file(path: Path, n: int) -> Path:
    """n Boston rows; the first 30 keys are the seeded cases (with a new status), every 997th row
    has an unreadable open time."""
    head = ",".join(HEADER) + "\n"
    parts = [head]
    for i in range(n):
        key = f"S{i}" if i < 30 else f"K{i}"
        opened = "someday" if i % 997 == 500 else f"2011-{7 + i % 6:02d}-{1 + i % 28:02d} 10:00:00"
        parts.append(
            f"{key},{opened},,2011-12-31 10:00:00,Closed,Type {i % 40},PWDx,Constituent Call,"
            f"42.{3000 + i % 900},-71.{600 + i % 300}\n"
        )
    path.write_text("".join(parts))
    return path


def _processes_running(needle: str) -> list[int]:
    """Live processes whose command line contains ``needle`` (a forked reader has its parent's)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc_dir / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if needle in cmdline and state != "Z":
            found.append(int(proc_dir.name))
    return found


@pytest.mark.parametrize("reader_process_mb", ["0", "100000"], ids=["reader-process", "inline"])
def test_sigkill_mid_load_leaves_store_exactly_as_before(seeded, reader_process_mb):
    path = big_file(seeded / "big.csv", 300_000)
    before = state(seeded)
    assert counts(before) == (30, 1, 1)

    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "ingest", str(path)],
        cwd=ROOT,
        env=env_for(seeded, STAT311_BATCH_SIZE="5000", STAT311_READER_PROCESS_MB=reader_process_mb),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(120, proc.kill)  # never hang the suite
    guard.start()
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "batch loaded: 15,000 rows" in line:  # three batches into the transaction
                running = len(_processes_running(str(path)))
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        guard.cancel()
        proc.stderr.close()
    assert any("batch loaded: 15,000 rows read" in line for line in seen), "".join(seen)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    assert running == (2 if reader_process_mb == "0" else 1)  # the loader (and its reader)
    # a reader process dies with its loader (PR_SET_PDEATHSIG)
    deadline = time.monotonic() + 10
    while _processes_running(str(path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_running(str(path)) == []

    after = state(seeded)
    assert counts(after) == (30, 1, 1)
    assert after == before

    # The next normal load works (and sees the seeded cases as they were).
    small = write_csv(
        seeded / "next.csv",
        [row("S0"), row("S1", closed="2011-07-02 10:00:00"), row("N1"), row("", opened="x")],
    )
    result = run_cli(seeded, "ingest", str(small), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["inserted"], report["updated"], report["unchanged"]) == (1, 1, 1)
    assert report["quarantined"] == {"missing_request_id": 1}
    final = state(seeded)
    assert counts(final) == (31, 2, 2)
