"""Ingest review: adversarial files that broke the bad-input contract, each built here in code.

Bytes past the sniffed head in another encoding, a stray NUL near the top, UTF-16 (Excel's
"Unicode Text"), an encrypted or Deflate64 zip member, an Excel workbook, and ``NaN`` in an
Open311 JSON file.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from pathlib import Path

import pytest

from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.exports import BOSTON_MINIMAL_HEADER
from tests.test_adapters import run_cli

HEADER = BOSTON_MINIMAL_HEADER
SNIFF = 64 * 1024  # the reader chooses the encoding from this many bytes


# -- helpers -------------------------------------------------------------------------------------
def row(key: str, *, opened: str = "2011-07-01 10:00:00", kind: str = "Pothole") -> list[str]:
    return [
        key,
        opened,
        "2011-07-08 10:00:00",
        "",
        "Open",
        kind,
        "PWDx",
        "Self Service",
        "42.3300",
        "-71.0800",
    ]


def csv_text(rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def load(tmp: Path, path: Path):
    settings = make_settings(tmp / "store")
    (tmp / "store").mkdir(exist_ok=True)
    store = Store(settings.database_url)
    try:
        report = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
        cases = {}
        with store.connect() as conn:
            for key, name, department in conn.exec_driver_sql(
                "SELECT request_id, service_name, department FROM cases"
            ):
                cases[key] = (name, department)
        quarantined = [(r["line_number"], r["reason"]) for r in store.quarantined(limit=100)]
        return report, cases, sorted(quarantined)
    finally:
        store.dispose()


def stored_case(tmp: Path, request_id: str) -> dict:
    """The case as the store of :func:`load` holds it."""
    store = Store(make_settings(tmp / "store").database_url)
    try:
        case = store.get_case(request_id)
        assert case is not None, request_id
        return case
    finally:
        store.dispose()


# -- encodings -----------------------------------------------------------------------------------
def test_windows_1252_text_past_the_sniffed_head_keeps_its_letters(tmp_path):
    """ASCII for the first 64 KB, then a Windows-1252 "é": read as "é", not as U+FFFD."""
    rows = [row(f"A{i}") for i in range(1500)]
    rows.append(row("LATE", kind="Caf\u00e9 \u2013 terrasse"))
    data = csv_text(rows).encode("cp1252")
    assert data.index(b"Caf\xe9") > SNIFF
    path = tmp_path / "late.csv"
    path.write_bytes(data)

    report, cases, quarantined = load(tmp_path, path)
    assert report.inserted == 1501 and quarantined == []
    assert cases["LATE"] == ("Caf\u00e9 \u2013 terrasse", "PWDx")


def test_utf8_file_with_one_windows_1252_row_keeps_both(tmp_path):
    """A UTF-8 file (a "ü" in its head) with one row appended in Windows-1252 further on."""
    head = csv_text([row("U1", kind="M\u00fcll")] + [row(f"B{i}") for i in range(1500)])
    data = head.encode("utf-8") + ",".join(row("W1", kind="Stra\u00dfe")).encode("cp1252") + b"\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)

    report, cases, _ = load(tmp_path, path)
    assert report.inserted == 1502
    assert cases["U1"][0] == "M\u00fcll"
    assert cases["W1"][0] == "Stra\u00dfe"


def test_a_stray_nul_near_the_top_is_not_a_binary_file(tmp_path):
    """One NUL in the first lines: the file loads as it does when the NUL is deep in the file
    (the NUL is not stored)."""
    text = csv_text([row("N1"), row("N2", kind="Pot\x00hole"), row("N3")])
    path = tmp_path / "nul.csv"
    path.write_bytes(text.encode("utf-8"))

    report, cases, quarantined = load(tmp_path, path)
    assert (report.read, report.inserted, quarantined) == (3, 3, [])
    assert cases["N2"][0] == "Pot\ufffdhole"


def test_utf16_with_a_byte_order_mark_loads_like_utf8(tmp_path):
    """Excel's "Unicode Text": UTF-16LE with a BOM, tab-separated, CRLF."""
    rows = [row("X1", kind="Caf\u00e9"), row("X2", kind="\u8def\u706f"), row("", opened="x")]
    utf16 = tmp_path / "unicode.txt"
    utf16.write_bytes(csv_text(rows, delimiter="\t", newline="\r\n").encode("utf-16"))
    assert utf16.read_bytes()[:2] == b"\xff\xfe"

    report, cases, quarantined = load(tmp_path, utf16)
    assert (report.format, report.inserted) == ("boston", 2)
    assert cases == {"X1": ("Caf\u00e9", "PWDx"), "X2": ("\u8def\u706f", "PWDx")}
    assert quarantined == [(4, "missing_request_id")]


# -- zips refused with one line -------------------------------------------------------------------
def _zip_with_flags(path: Path, *, encrypted: bool = False, method: int | None = None) -> Path:
    """A one-CSV zip whose member claims to be encrypted, or compressed with ``method``
    (9 is Deflate64, which Windows writes for large files and Python cannot read)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("export.csv", csv_text([row("Z1")]))
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    if encrypted:  # general-purpose flag bit 0, in the local and the central header
        data[6] |= 1
        data[central + 8] |= 1
    if method is not None:
        struct.pack_into("<H", data, 8, method)
        struct.pack_into("<H", data, central + 10, method)
    path.write_bytes(bytes(data))
    return path


def _workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"):
            archive.writestr(name, '<?xml version="1.0"?><x/>')
    return path


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda p: _zip_with_flags(p / "locked.zip", encrypted=True), "encrypted"),
        (lambda p: _zip_with_flags(p / "deflate64.zip", method=9), "compression method (9)"),
        (lambda p: _workbook(p / "book.xlsx"), "an Excel workbook"),
    ],
    ids=["encrypted", "deflate64", "xlsx"],
)
def test_unreadable_zip_member_is_refused_with_one_line_and_exit_2(tmp_path, build, words):
    path = build(tmp_path)
    result = run_cli(tmp_path, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"stat311: error: {path}: ")
    assert words in line
    assert result.stdout == ""
    assert not (tmp_path / "snapshots").exists()  # nothing was loaded


# -- odd values ----------------------------------------------------------------------------------
def test_open311_json_nan_is_no_value(tmp_path):
    """``NaN`` is not JSON but some exporters write it: no id is no id, no latitude none."""
    text = (
        '[{"service_request_id": NaN, "requested_datetime": "2023-01-05T10:00:00Z",'
        ' "service_name": "Pothole"},'
        ' {"service_request_id": 7, "requested_datetime": "2023-01-05T10:00:00Z",'
        ' "service_name": "Pothole", "lat": NaN, "long": Infinity}]'
    )
    path = tmp_path / "requests.json"
    path.write_text(text, encoding="utf-8")

    report, cases, quarantined = load(tmp_path, path)
    assert report.inserted == 1
    assert set(cases) == {"7"}
    assert quarantined == [(1, "missing_request_id")]
    assert stored_case(tmp_path, "7")["location_quality"] == "missing"


# -- ids a spreadsheet rewrote -------------------------------------------------------------------
def test_ids_excel_wrote_in_scientific_notation_are_quarantined_not_merged(tmp_path):
    """Excel shows 101000295613 as ``1.01E+11`` and saves it so: three distinct cases would load
    as one case updated twice. They are quarantined instead (``missing_request_id``); ids that
    merely contain an E or a plus are still ids."""
    rows = [
        row("1.01E+11", kind="Pothole"),
        row("1.01E+11", kind="Graffiti"),
        row("1,01E+11", kind="Sidewalk"),  # a decimal comma (European settings)
        row("101000295613"),
        row("E+5"),  # no digits before the E: an id
        row("BOS-2011+7"),
    ]
    path = tmp_path / "excel.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    report, cases, quarantined = load(tmp_path, path)
    assert quarantined == [
        (2, "missing_request_id"),
        (3, "missing_request_id"),
        (4, "missing_request_id"),
    ]
    assert set(cases) == {"101000295613", "E+5", "BOS-2011+7"}
    assert report.inserted == 3 and report.updated == 0


# -- a quote that is never closed ----------------------------------------------------------------
def test_a_quote_never_closed_refuses_the_file_instead_of_swallowing_the_rest(tmp_path):
    """Everything after an unclosed quote would read as one field, so one broken row: with more
    than ``MAX_ROW_LINES`` lines in it the file is refused, naming the line; nothing is loaded."""
    from etl.reader import MAX_ROW_LINES

    text = csv_text([row(f"ok{i}") for i in range(3)])  # lines 2-4 are fine
    text += 'broken,"2011-07-01 10:00:00,x,y\n'  # line 5 opens a quote that never closes
    text += csv_text([row(f"after{i}") for i in range(MAX_ROW_LINES + 5)]).split("\n", 1)[1]
    path = tmp_path / "unclosed.csv"
    path.write_text(text, encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"stat311: error: {path}: line 5: ")
    assert "never closed" in line
    assert list((tmp_path / "snapshots").iterdir()) == []  # no snapshot, nothing staged
    store = Store(f"sqlite:///{tmp_path / 'stat311.db'}")
    try:
        with store.connect() as conn:  # the rows before the quote were not loaded either
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == 0
    finally:
        store.dispose()

    # A quoted field over a few lines is still a row (and its neighbours keep their numbers).
    short = csv_text([row("one"), [*row("two")[:5], "Pot\nhole\nhere", *row("two")[6:]], row("x")])
    path = tmp_path / "multiline.csv"
    path.write_text(short, encoding="utf-8")
    report, cases, _ = load(tmp_path, path)
    assert report.inserted == 3 and cases["two"][0] == "Pot\nhole\nhere"


def test_a_field_over_the_size_limit_is_refused_with_its_line(tmp_path):
    from etl.reader import MAX_FIELD_CHARS

    text = csv_text([row("a"), row("b")]) + 'c,"' + "x" * (MAX_FIELD_CHARS + 10) + '"\n'
    path = tmp_path / "huge.csv"
    path.write_text(text, encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"{path}: line 4: a field longer than" in line and "never closed" in line


def test_open311_json_lone_surrogates_and_nul_are_replaced_not_a_traceback(tmp_path):
    """``"\\ud800"`` in a JSON file parses to a lone surrogate, which no encoder can write (the
    load ended in a traceback); ``\\u0000`` is a NUL, which PostgreSQL cannot hold. Both become
    U+FFFD, as NUL bytes in a CSV file do."""
    text = (
        '[{"service_request_id": "S1", "requested_datetime": "2023-01-05T10:00:00Z",'
        ' "service_name": "Pothole", "description": "bad \\ud800 half \\u0000 nul"}]'
    )
    path = tmp_path / "requests.json"
    path.write_text(text, encoding="utf-8")
    report, cases, quarantined = load(tmp_path, path)
    assert report.inserted == 1 and quarantined == []
    assert stored_case(tmp_path, "S1")["description"] == "bad \ufffd half \ufffd nul"
