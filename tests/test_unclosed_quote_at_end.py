"""A quote never closed near the end of a CSV export: the csv module reads the rest of the file
into the open field and hands it back as one last row, so when fewer than
``reader.MAX_ROW_LINES`` lines followed the quote the file loaded with exit 0 and every row after
the quote vanished into one quarantined row (``wrong_field_count``). A quoted field still open
at the end of the file is refused whole, whatever its length: exit 2, one line naming the line
the quote opened on, nothing committed (also when batches were written before the refusal, and
when the file is read in the second reading process). The CLI runs in process on a store in
tmp_path."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dashboard.cli import main
from etl import pipeline
from tests.support.exports import write_boston_export
from tests.test_cli_errors import env, error_line  # noqa: F401 - fixture

ROWS = 200
NEVER_CLOSED = (
    "a quoted field is still open at the end of the file; a quote is probably never closed. "
    "Nothing was loaded"
)


def export_lines(tmp_path: Path, rows: int = ROWS, **fields: dict[str, str]) -> list[str]:
    """The physical lines (with their CRLF) of a legacy Boston export of ``rows`` open cases;
    ``fields`` maps a case's line number (``"line_51"``) to values it gets."""
    values = [
        {"case_enquiry_id": f"1010{n:05d}", **fields.get(f"line_{n + 2}", {})} for n in range(rows)
    ]
    path = write_boston_export(tmp_path / "clean.csv", values)
    text = path.read_bytes().decode("utf-8")  # its CRLF kept
    path.unlink()
    return io.StringIO(text, newline="").readlines()


def open_quote(line: str) -> str:
    """The line with a quote opened before its case status, never closed (as in the report:
    ``,"Closed,``)."""
    assert line.count(",Open,") == 1 and '"' not in line
    return line.replace(",Open,", ',"Open,')


def write(tmp_path: Path, lines: list[str], name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path


def stored(settings) -> tuple[int, int]:
    """(cases, ingestion runs) committed to the store file."""
    db = Path(str(settings.database_url).removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM ingestion_runs").fetchone()[0]
    return cases, runs


@pytest.fixture
def reading(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each load's reading: whether in the second process (``parallel``) and how many batches
    reached the loader, to be written in its transaction (``written``)."""
    seen: list[dict[str, Any]] = []
    real = pipeline.prepared_batches

    @contextlib.contextmanager
    def spy(batches, prepare, *, parallel):
        load = {"parallel": parallel, "written": 0}
        seen.append(load)

        def counted(items):
            for item in items:
                load["written"] += 1
                yield item

        with real(batches, prepare, parallel=parallel) as items:
            yield counted(items)

    monkeypatch.setattr(pipeline, "prepared_batches", spy)
    return seen


def ingest_refused(path: Path, capsys) -> str:
    assert main(["ingest", str(path)]) == 2
    return error_line(capsys)


# -- refused ---------------------------------------------------------------------------------------
def test_the_reported_file_a_quote_on_line_51_of_200_rows_is_refused(
    env,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
    reading,
) -> None:
    """The review's file: it loaded 49 rows and one quarantined row of the rest of the file.
    Batches of 10: four were written in the load's transaction before the quote was read; they
    are rolled back with the run's row."""
    monkeypatch.setenv("STAT311_BATCH_SIZE", "10")
    lines = export_lines(tmp_path)
    lines[50] = open_quote(lines[50])  # line 51
    path = write(tmp_path, lines, "unclosed51.csv")
    assert ingest_refused(path, capsys) == f"stat311: error: {path}: line 51: {NEVER_CLOSED}"
    assert reading == [{"parallel": False, "written": 4}]  # lines 2-41
    assert stored(env) == (0, 0)


def test_a_quote_opened_on_the_very_last_row_is_refused(env, tmp_path, capsys) -> None:  # noqa: F811
    """Nothing follows the quote but the line's own end: still never closed."""
    lines = export_lines(tmp_path)
    lines[-1] = open_quote(lines[-1])  # line 201
    path = write(tmp_path, lines)
    assert (
        ingest_refused(path, capsys) == f"stat311: error: {path}: line {ROWS + 1}: {NEVER_CLOSED}"
    )
    assert stored(env) == (0, 0)

    # ... and without the file's last line break
    lines[-1] = lines[-1].removesuffix("\r\n")
    path = write(tmp_path, lines, "no-last-break.csv")
    assert (
        ingest_refused(path, capsys) == f"stat311: error: {path}: line {ROWS + 1}: {NEVER_CLOSED}"
    )
    assert stored(env) == (0, 0)


def test_the_line_named_is_the_quotes_not_the_rows(env, tmp_path, capsys) -> None:  # noqa: F811
    """A row that begins on line 51 with a closed quoted title of three lines, then opens a quote
    on line 53 that never closes: line 53 is named. An Excel ``sep=,`` line before the header
    moves every line down by one."""
    lines = export_lines(tmp_path, line_51={"case_title": "Pot\nhole\nhere"})
    assert lines[50].endswith("Pot\n") and lines[52].startswith('here"')
    lines[52] = lines[52].replace(",PWDx,", ',"PWDx,')  # the department's quote never closes
    path = write(tmp_path, lines)
    assert ingest_refused(path, capsys) == f"stat311: error: {path}: line 53: {NEVER_CLOSED}"

    path = write(tmp_path, ["sep=,\r\n", *lines], "excel.csv")
    assert ingest_refused(path, capsys) == f"stat311: error: {path}: line 54: {NEVER_CLOSED}"
    assert stored(env) == (0, 0)


def test_a_quote_in_the_header_never_closed_is_refused(env, tmp_path, capsys) -> None:  # noqa: F811
    lines = export_lines(tmp_path)
    lines[0] = lines[0].replace(",open_dt,", ',"open_dt,')
    path = write(tmp_path, lines)
    assert ingest_refused(path, capsys) == f"stat311: error: {path}: line 1: {NEVER_CLOSED}"


@pytest.mark.skipif(not pipeline.parallel_possible(), reason="one CPU: no reader process")
def test_refused_when_read_in_the_second_process(
    env,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
    reading,
) -> None:
    """``STAT311_READER_PROCESS_MB=0``: even this small file is read in the forked reader; its
    refusal reaches the loader, which rolls back the batches it already wrote."""
    monkeypatch.setenv("STAT311_READER_PROCESS_MB", "0")
    monkeypatch.setenv("STAT311_BATCH_SIZE", "10")
    lines = export_lines(tmp_path)
    lines[50] = open_quote(lines[50])
    path = write(tmp_path, lines, "unclosed51.csv")
    assert ingest_refused(path, capsys) == f"stat311: error: {path}: line 51: {NEVER_CLOSED}"
    assert reading == [{"parallel": True, "written": 4}]
    assert stored(env) == (0, 0)


# -- still loaded ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reader_process_mb", ["32", "0"], ids=["inline", "reader-process"])
def test_closed_multiline_quotes_load_and_short_rows_are_quarantined(
    env,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
    reading,
    reader_process_mb,
) -> None:
    """A title of three lines in a closed quote is one row; a row with too few fields is
    quarantined as before, with its line; a last field quoted and closed at the very end of the
    file (no last line break) ends its row normally. All 200 cases load."""
    monkeypatch.setenv("STAT311_READER_PROCESS_MB", reader_process_mb)
    monkeypatch.setenv("STAT311_BATCH_SIZE", "10")
    lines = export_lines(tmp_path, line_51={"case_title": "Pot\nhole\nhere"})
    lines.insert(100, "101099999,2011-09-01 10:00:00,,,\r\n")  # physical line 101
    assert lines[-1].endswith(",Constituent Call\r\n")
    lines[-1] = lines[-1].removesuffix("Constituent Call\r\n") + '"Constituent\r\nCall"'
    path = write(tmp_path, lines)
    assert main(["ingest", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["read"], report["inserted"]) == (ROWS + 1, ROWS)
    assert report["quarantined"] == {"wrong_field_count": 1}
    assert stored(env) == (ROWS, 1)
    assert reading == [{"parallel": reader_process_mb == "0", "written": 21}]
    db = Path(str(env.database_url).removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        quarantined = conn.execute("SELECT line_number, reason, raw FROM quarantine").fetchall()
    assert quarantined == [(101, "wrong_field_count", "101099999,2011-09-01 10:00:00,,,")]
