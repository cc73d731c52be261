"""Ingest formats: Excel's ``sep=`` first line, UTF-16 without a byte-order mark, and Open311
JSON/XML files streamed in bounded memory. Every file is built here in code.

The expected records of the Open311 files are written out by hand (what the whole-file reader
produced); error messages are compared with what :func:`json.loads` and
:func:`xml.etree.ElementTree.fromstring` say about the same text.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dashboard.errors import InputFileError
from dashboard.store import Store
from etl import formats_open311
from etl.load import load_file
from etl.reader import ExportFile
from tests.conftest import make_settings
from tests.support.exports import BOSTON_MINIMAL_HEADER
from tests.test_adapters import run_cli
from tests.test_bad_input import state
from tests.test_etl_review import csv_text as review_csv_text
from tests.test_etl_review import row
from tests.test_formats import GEOREPORT, georeport_xml

HEADER = BOSTON_MINIMAL_HEADER


# -- helpers -------------------------------------------------------------------------------------
def csv_text(rows: list[list[str]], *, delimiter: str = ",", newline: str = "\r\n") -> str:
    """As the review's, with Excel's line ends."""
    return review_csv_text(rows, delimiter=delimiter, newline=newline)


def load(tmp: Path, path: Path, **overrides):
    """Load ``path`` into the store under ``tmp``: the report, ``{id: (name, department)}`` and
    the quarantine as sorted ``(line, reason)``."""
    (tmp / "store").mkdir(exist_ok=True)
    settings = make_settings(tmp / "store", **overrides)
    store = Store(settings.database_url)
    try:
        report = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
        with store.connect() as conn:
            cases = {
                key: (name, department)
                for key, name, department in conn.exec_driver_sql(
                    "SELECT request_id, service_name, department FROM cases"
                )
            }
        quarantined = [(r["line_number"], r["reason"]) for r in store.quarantined(limit=1000)]
        return report, cases, sorted(quarantined)
    finally:
        store.dispose()


def read_export(path: Path, *, batch_size: int = 1000):
    """What the reader gives: header, rows and their line numbers, wrong-width rows, batches."""
    rows, lines, bad, batches = [], [], [], 0
    with ExportFile(path).open(batch_size=batch_size) as (header, chunks, _progress):
        for batch in chunks:
            batches += 1
            rows += batch.rows
            lines += batch.lines
            bad += batch.bad
    return header, rows, lines, bad, batches


def records(path: Path) -> list[dict[str, str]]:
    """The file's rows as ``{column: text}`` (every column of the header)."""
    header, rows, _, _, _ = read_export(path)
    return [dict(zip(header, r, strict=True)) for r in rows]


# -- 1. Excel's sep= first line ------------------------------------------------------------------
@pytest.mark.parametrize("sep", [";", ",", "\t", "|"], ids=["semicolon", "comma", "tab", "pipe"])
def test_excel_sep_line_names_the_delimiter_and_lines_stay_physical(tmp_path, sep):
    """``sep=X`` on line 1, the header on line 2: read with X; quarantined rows keep the line
    numbers of the file (a row spanning two lines moves the next row's number by two)."""
    rows = [
        row("E1", kind=f"Pot{sep}hole"),  # line 3; the delimiter inside a quoted field
        row("", opened="2011-07-02 10:00:00"),  # line 4: no id
        row("E2", kind="Street\nLight"),  # lines 5-6
        ["E3", "2011-07-01 10:00:00"],  # line 7: too few fields
        row("E4", opened="not a time"),  # line 8
    ]
    path = tmp_path / "excel.csv"
    path.write_text(f"sep={sep}\r\n" + csv_text(rows, delimiter=sep), encoding="utf-8")

    report, cases, quarantined = load(tmp_path, path)
    assert (report.format, report.read, report.inserted) == ("boston", 5, 2)
    assert cases == {"E1": (f"Pot{sep}hole", "PWDx"), "E2": ("Street\nLight", "PWDx")}
    assert quarantined == [
        (4, "missing_request_id"),
        (7, "wrong_field_count"),
        (8, "unparseable_requested_at"),
    ]
    header, _, lines, bad, _ = read_export(path)
    assert header == HEADER and lines == [3, 4, 5, 8] and [n for n, _ in bad] == [7]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""), ("utf-16", b"")],
    ids=["utf8-bom", "cp1252", "utf16-bom"],
)
def test_excel_sep_line_after_a_bom_and_in_other_encodings(tmp_path, encoding, prefix):
    """Excel writes a UTF-8 BOM before ``sep=;``; a European export is Windows-1252."""
    rows = [row("B1", kind="Caf\u00e9 \u2013 terrasse"), row("", opened="x"), row("B2")]
    data = prefix + ("sep=;\r\n" + csv_text(rows, delimiter=";")).encode(encoding)
    path = tmp_path / "european.csv"
    path.write_bytes(data)

    report, cases, quarantined = load(tmp_path, path)
    assert report.inserted == 2
    assert cases["B1"] == ("Caf\u00e9 \u2013 terrasse", "PWDx")
    assert quarantined == [(4, "missing_request_id")]
    with ExportFile(path).open(batch_size=10) as (header, _batches, _progress):
        assert header == HEADER  # no BOM, no "sep=" column


def test_excel_sep_file_reloads_unchanged_and_a_broken_one_loads_nothing(tmp_path):
    rows = [row(f"R{i}") for i in range(30)] + [row("", opened="x")]
    path = tmp_path / "excel.csv"
    path.write_text("sep=;\n" + csv_text(rows, delimiter=";", newline="\n"), encoding="utf-8")
    first, _, quarantined = load(tmp_path, path, batch_size=7)
    second, cases, again = load(tmp_path, path, batch_size=7)
    assert (first.inserted, first.quarantined) == (30, {"missing_request_id": 1})
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 30)
    assert quarantined == again == [(33, "missing_request_id")]  # moved to the new run, same line
    assert len(cases) == 30

    # A quote never closed on line 5, after rows of several batches: refused whole, named by
    # its physical line; the store is as it was.
    from etl.reader import MAX_ROW_LINES

    broken = tmp_path / "broken.csv"
    text = "sep=;\n" + csv_text([row(f"ok{i}") for i in range(2)], delimiter=";", newline="\n")
    text += 'bad;"2011-07-01 10:00:00;x\n'
    text += "\n".join(";".join(row(f"after{i}")) for i in range(MAX_ROW_LINES + 5)) + "\n"
    broken.write_text(text, encoding="utf-8")
    before = state(tmp_path / "store")
    with pytest.raises(InputFileError, match=r"broken\.csv: line 5: .*never closed"):
        load(tmp_path, broken, batch_size=2)
    assert state(tmp_path / "store") == before


def test_a_sep_line_naming_a_delimiter_the_header_lacks_is_refused(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("sep=|\n" + csv_text([row("W1")]), encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "line 2 is not a CSV header separated by '|'" in line


# -- 2. UTF-16 without a byte-order mark ---------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("delimiter", ["\t", ","], ids=["tab", "comma"])
def test_utf16_without_a_bom_loads_like_utf8(tmp_path, encoding, delimiter):
    rows = [row("X1", kind="Caf\u00e9"), row("X2", kind="\u8def\u706f"), row("", opened="x")]
    rows += [row(f"N{i}") for i in range(400)]  # past the first KB and the 64 KB head
    rows.append(row("LAST", kind="\u00c5sa"))
    data = csv_text(rows, delimiter=delimiter).encode(encoding)
    assert data[:2] not in (b"\xff\xfe", b"\xfe\xff")
    path = tmp_path / "unicode.txt"
    path.write_bytes(data)

    report, cases, quarantined = load(tmp_path, path)
    assert (report.format, report.inserted) == ("boston", 403)
    assert cases["X1"] == ("Caf\u00e9", "PWDx") and cases["X2"] == ("\u8def\u706f", "PWDx")
    assert cases["LAST"] == ("\u00c5sa", "PWDx")
    assert quarantined == [(4, "missing_request_id")]
    export = ExportFile(path)
    with export.open(batch_size=10):
        assert export.encoding == encoding


def test_utf16_without_a_bom_with_a_sep_line_gzipped(tmp_path):
    text = "sep=;\r\n" + csv_text([row("G1", kind="M\u00fcll"), row("", opened="x")], delimiter=";")
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress(text.encode("utf-16-le")))
    report, cases, quarantined = load(tmp_path, path)
    assert cases == {"G1": ("M\u00fcll", "PWDx")}
    assert quarantined == [(4, "missing_request_id")]


def test_open311_json_and_xml_in_utf16_without_a_bom(tmp_path):
    as_json = tmp_path / "requests.json"
    as_json.write_bytes(json.dumps(GEOREPORT, ensure_ascii=False).encode("utf-16-le"))
    as_xml = tmp_path / "requests.xml"
    xml = georeport_xml(GEOREPORT).replace('encoding="utf-8"', 'encoding="utf-16"')
    as_xml.write_bytes(xml.encode("utf-16-be"))
    for path in (as_json, as_xml):
        got = records(path)
        assert [r["service_request_id"] for r in got] == ["638344", "638349", ""]
        assert got[0]["agency_responsible"] == "Department of Public Works"


def test_binary_with_a_nul_in_every_other_byte_is_still_refused_whole(tmp_path):
    """Little-endian 16-bit numbers look like UTF-16 text at first sight (a NUL in every other
    byte): decoded, they are control characters, and the file is refused as binary."""
    path = tmp_path / "samples.csv"
    path.write_bytes(struct.pack("<2000H", *(i % 200 for i in range(2000))))
    result = run_cli(tmp_path, "ingest", str(path))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == f"stat311: error: {path}: a binary file, not a CSV export"
    assert result.stdout == ""


def test_nuls_every_other_byte_in_a_utf8_line_are_not_utf16(tmp_path):
    """NULs near the top of a UTF-8 file, alternating in one field but not through the first
    KB: still UTF-8 (and the NULs are not stored)."""
    text = csv_text([row("N1", kind="A\x00B\x00C\x00D")] + [row(f"N{i}") for i in range(2, 60)])
    path = tmp_path / "nuls.csv"
    path.write_bytes(text.encode("utf-8"))
    report, cases, _ = load(tmp_path, path)
    assert report.inserted == 59
    assert cases["N1"][0] == "A\ufffdB\ufffdC\ufffdD"


# -- 3. Open311 JSON and XML, streamed -----------------------------------------------------------
NOTES = '[{"datetime": "2010-04-14T06:37:38-08:00", "type": "opened"}]'
GEOREPORT_HEADER = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
    "notes",
    "duplicate",
    "channel",
    "parent_service_request_id",
]
GEOREPORT_RECORDS = [
    {
        "service_request_id": "638344",
        "status": "closed",
        "status_notes": "Duplicate request.",
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": "Curb is broken",
        "agency_responsible": "Department of Public Works",
        "service_notice": "",
        "requested_datetime": "2010-04-14T06:37:38-08:00",
        "updated_datetime": "2010-04-14T06:37:38-08:00",
        "expected_datetime": "2010-04-15T06:37:38-08:00",
        "address": "8TH AVE and JUDAH ST",
        "address_id": "545483",
        "zipcode": "94122",
        "lat": "37.762221815",
        "long": "-122.4651145",
        "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg",
        "notes": NOTES,
        "duplicate": "638300",
        "channel": "phone",
        "parent_service_request_id": "",
    },
    {
        **dict.fromkeys(GEOREPORT_HEADER, ""),
        "service_request_id": "638349",
        "status": "open",
        "service_name": "Potholes",
        "service_code": "007",
        "requested_datetime": "2010-04-19T06:37:38-08:00",
        "lat": "0",
        "long": "0",
        "duplicate": "false",
        "parent_service_request_id": "638344",
    },
    {
        **dict.fromkeys(GEOREPORT_HEADER, ""),
        "status": "open",
        "service_name": "x",
        "requested_datetime": "2010-04-19T06:37:38-08:00",
    },
]


@pytest.mark.parametrize(
    "shape", ["list", "requests", "service_requests", "xml", "xml-nested", "gzip"]
)
def test_the_georeport_sample_reads_as_before(tmp_path, shape):
    """The GeoReport sample of ``tests/test_formats.py`` in every accepted shape: the header and
    rows the whole-file reader gave, batched, numbered by position."""
    if shape == "list":
        data = json.dumps(GEOREPORT).encode()
    elif shape in ("requests", "service_requests"):
        data = json.dumps({"meta": {"n": 3}, shape: GEOREPORT}, indent=2).encode()
    elif shape == "xml":
        data = georeport_xml(GEOREPORT).encode()
    elif shape == "xml-nested":  # requests at any depth, in document order
        data = georeport_xml(GEOREPORT).replace("<service_requests>", "<a><b>x</b><c>")
        data = data.replace("</service_requests>", "</c></a>").encode()
    else:
        data = gzip.compress(b"\xef\xbb\xbf" + json.dumps({"requests": GEOREPORT}).encode())
    path = tmp_path / f"{shape}.dat"  # the kind is read from the content
    path.write_bytes(data)

    header, rows, lines, bad, batches = read_export(path, batch_size=2)
    assert header == GEOREPORT_HEADER
    assert [dict(zip(header, r, strict=True)) for r in rows] == GEOREPORT_RECORDS
    assert (lines, bad, batches) == ([1, 2, 3], [], 2)


def test_json_edge_cases_read_as_before(tmp_path):
    """First non-empty duplicate keys, NaN and Infinity as no value, lone surrogates and NUL
    (escaped, and a raw NUL byte) as U+FFFD, extended_attributes flattened under the top-level
    columns, lists and objects as JSON text, ``true`` as text."""
    text = (
        '[{"service_request_id": "A", "service_request_id": "", "status": "", "status": "open",'
        ' "lat": NaN, "long": -Infinity, "description": "bad \\ud800 and \\u0000, raw \x00.",'
        ' "extended_attributes": {"status": "closed", "channel": "web", "n": {"k": 1}},'
        ' "notes": [], "flag": true, "n": null, "deep": {"b": [1, 2.50], "a": "\\u00e9"}},\n'
        ' {"service_request_id": 12, "lat": 4.2e1, "extra": false}]'
    )
    path = tmp_path / "requests.json"
    path.write_text(text, encoding="utf-8")
    header, rows, lines, _, _ = read_export(path)
    assert header == [
        "service_request_id",
        "status",
        "lat",
        "long",
        "description",
        "notes",
        "flag",
        "n",
        "deep",
        "channel",
        "extra",
    ]
    assert rows == [
        [
            "A",
            "open",
            "",
            "",
            "bad \ufffd and \ufffd, raw \ufffd.",
            "[]",
            "true",
            '{"k": 1}',
            '{"a": "\u00e9", "b": [1, 2.5]}',
            "web",
            "",
        ],
        ["12", "", "42.0", "", "", "", "", "", "", "", "false"],
    ]
    assert lines == [1, 2]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # the preferred key holding a list wins, whatever the order; a null is replaced
        (
            '{"meta": {"k": [1]}, "data": [{"service_request_id": "D", "x": "1"}],'
            ' "requests": null, "requests": [{"service_request_id": "R", "y": 2}]}',
            [{"service_request_id": "R", "y": "2"}],
        ),
        (
            '{"results": [{"service_request_id": "S", "z": 1}], "other": [[1], 2]}',
            [{"service_request_id": "S", "z": "1"}],
        ),
        # the first of two lists under one key
        (
            '{"requests": [{"a": "1", "b": "2"}], "requests": [{"c": "3", "d": "4"}]}',
            [{"a": "1", "b": "2"}],
        ),
        # one request object
        (
            '{"service_request_id": "ONE", "notes": [{"t": 1}], "extended_attributes":'
            ' {"z": "9", "service_request_id": "no"}, "service_request_id": "two"}',
            [{"service_request_id": "ONE", "notes": '[{"t": 1}]', "z": "9"}],
        ),
    ],
    ids=["preferred-key", "results", "duplicate-list", "single"],
)
def test_json_shapes_read_as_before(tmp_path, document, expected):
    path = tmp_path / "requests.json"
    path.write_text(document, encoding="utf-8")
    assert records(path) == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"requests": [], "data": [{"a": 1, "b": 2}]}', "the file holds no requests"),
        ('{"features": [{"a": 1}]}', "JSON holds no list of requests"),
        ('{"requests": {"a": 1}}', "JSON holds no list of requests"),
        ('{"results": [{"a": 1, "b": 2}, 5, []]}', "JSON request 2 is not an object"),
        ("[]", "the file holds no requests"),
        ('[{"a": 1}]', "the requests have fewer than two fields"),
        # a syntax error is reported first, as json.loads did
        ('{"results": [{"a": 1}, 5], "x": }', "not valid JSON (Expecting value: line 1"),
    ],
)
def test_json_refusals_are_worded_as_before(tmp_path, document, message):
    path = tmp_path / "requests.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(InputFileError) as refused:
        read_export(path)
    assert str(refused.value).startswith(f"{path}: {message}")


SWEPT = (
    '[{"service_request_id": "1", "a": [1, 2.5e3, -Infinity, true],\n'
    '  "extended_attributes": {"x": "y\\u00e9\\n"}},\r\n {"b": null, "b": "q", "c": NaN},\n'
    ' {"d": {"e": [], "f": {}}, "g": -0.5E-3}]\n'
)


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 20])
def test_every_truncation_of_a_json_file_is_refused_naming_where_json_loads_does(
    monkeypatch, chunk
):
    """Cut anywhere, or with a character inserted anywhere: the file is refused with the message
    and position :func:`json.loads` gives for the whole text, also when the reading window is a
    few characters wide (values then cross its edge)."""
    monkeypatch.setattr(formats_open311, "_CHUNK_CHARS", chunk)
    variants = {SWEPT[:cut] for cut in range(len(SWEPT))}
    variants |= {SWEPT[:i] + c + SWEPT[i:] for i in range(0, len(SWEPT), 2) for c in ',]}"x:'}
    refused = 0
    for text in sorted(variants):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            expected = f"p: not valid JSON ({exc})"
        else:
            continue  # still JSON (e.g. a space or comma inside a string)
        with pytest.raises(InputFileError) as got:
            formats_open311.scan_json(io.StringIO(text, newline=""), path="p")
        assert str(got.value) == expected, repr(text)
        refused += 1
    assert refused > 400
    # and the whole text, read through the same narrow window, gives the expected requests
    scan = formats_open311.scan_json(io.StringIO(SWEPT, newline=""), path="p")
    got = list(formats_open311.read_json(io.StringIO(SWEPT, newline=""), scan, path="p"))
    assert scan.header == ["service_request_id", "a", "x", "b", "c", "d", "g"]
    assert got == [
        {"service_request_id": "1", "a": "[1, 2500.0, null, true]", "x": "y\u00e9\n"},
        {"b": "q", "c": ""},
        {"d": '{"e": [], "f": {}}', "g": "-0.0005"},
    ]


def test_every_truncation_of_an_xml_file_is_refused_naming_where_elementtree_does():
    text = georeport_xml(GEOREPORT[:2]).encode()
    refused = 0
    for cut in range(len(text)):
        try:
            ET.fromstring(text[:cut])  # noqa: S314 - built here
        except ET.ParseError as exc:
            expected = f"p: not valid XML ({exc})"
        else:
            continue
        with pytest.raises(InputFileError) as got:
            formats_open311.scan_xml(io.BytesIO(text[:cut]), path="p")
        assert str(got.value) == expected
        refused += 1
    assert refused >= len(text) - 1  # all but the cut of the last line break


def test_xml_with_nested_requests_reads_them_in_document_order(tmp_path):
    """``.//request`` order: an outer request before the one inside it; a root that is itself
    a request is the only request."""
    path = tmp_path / "requests.xml"
    path.write_text(
        "<r><request><service_request_id>1</service_request_id><a> x </a><a>y</a>"
        "<request><service_request_id>2</service_request_id></request></request>"
        "<meta><request><service_request_id>3</service_request_id><a/></request></meta></r>"
    )
    assert records(path) == [
        {"service_request_id": "1", "a": "x", "request": '["2"]'},
        {"service_request_id": "2", "a": "", "request": ""},
        {"service_request_id": "3", "a": "", "request": ""},
    ]
    path.write_text("<request><service_request_id>9</service_request_id><b>1</b></request>")
    assert records(path) == [{"service_request_id": "9", "b": "1"}]


def test_xml_entities_stay_as_safe_as_before(tmp_path):
    """No external entity is read (it is undefined: the file is refused), and an entity
    expanding to gigabytes is refused by expat's amplification limit."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    external = tmp_path / "external.xml"
    external.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">]>'
        "<r><request><service_request_id>&e;</service_request_id><a>1</a></request></r>"
    )
    with pytest.raises(InputFileError, match="undefined entity &e;") as refused:
        read_export(external)
    assert "TOP-SECRET" not in str(refused.value)
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{laughs}]>'
        "<r><request><service_request_id>&l9;</service_request_id><a>1</a></request></r>"
    )
    with pytest.raises(InputFileError, match="amplification"):
        read_export(bomb)
    unknown = tmp_path / "unknown.xml"
    unknown.write_text('<?xml version="1.0" encoding="no-such-codec"?><r/>')
    with pytest.raises(InputFileError, match="not valid XML"):  # was a LookupError traceback
        read_export(unknown)


def big_request(i: int) -> dict:
    return {
        "service_request_id": f"R{i}",
        "requested_datetime": "2023-01-05T10:00:00Z",
        "service_name": "Pothole",
        "description": f"{i} " + "x" * 3000,
        "lat": 42.3,
        "long": -71.06,
        "notes": [{"type": "opened", "datetime": "2023-01-05T10:00:00Z"}],
        "extended_attributes": {"channel": "phone"},
    }


def write_big_json(path: Path, size: int) -> int:
    """A top-level list of requests of about ``size`` bytes; the number of requests."""
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        while fh.tell() < size:
            fh.write(("," if count else "") + json.dumps(big_request(count)))
            count += 1
        fh.write("]")
    return count


def peak_reading(path: Path) -> tuple[int, int, int]:
    """Peak traced memory (bytes) while the reader gives every batch of ``path``; the rows and
    the number of the last row."""
    tracemalloc.start()
    try:
        rows, last = 0, 0
        with ExportFile(path).open(batch_size=100) as (header, batches, _progress):
            for batch in batches:
                rows += len(batch.rows)
                last = batch.lines[-1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "description" in header
    return peak, rows, last


def test_reading_a_50_mb_json_file_takes_memory_for_a_batch_not_the_file(tmp_path):
    """tracemalloc's peak while a ~50 MB Open311 JSON file is read whole (both passes, every
    batch): far below the file size, and about what a ~10 MB file takes."""
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    small_count = write_big_json(small, 10_000_000)
    big_count = write_big_json(big, 50_000_000)
    small_peak, small_rows, _ = peak_reading(small)
    big_peak, big_rows, last = peak_reading(big)
    size = big.stat().st_size
    measured = f"peak {big_peak / 1e6:.1f} MB for {size / 1e6:.1f} MB, {small_peak / 1e6:.1f} MB"
    assert (small_rows, big_rows, last) == (small_count, big_count, big_count)
    assert big_peak < size / 10, measured
    assert big_peak < 1.5 * small_peak, measured  # does not grow with the file


def write_big_xml(path: Path, size: int) -> int:
    """``<service_requests>`` of about ``size`` bytes; the number of requests."""
    head, _, rest = georeport_xml([big_request(0)]).partition("<request>")
    request = "<request>" + rest.rsplit("</service_requests>", 1)[0]
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(head)
        while fh.tell() < size:
            fh.write(request.replace(">R0<", f">R{count}<"))
            count += 1
        fh.write("</service_requests>\n")
    return count


def test_reading_a_big_xml_file_takes_memory_for_a_batch_not_the_file(tmp_path):
    small, big = tmp_path / "small.xml", tmp_path / "big.xml"
    small_count = write_big_xml(small, 4_000_000)
    big_count = write_big_xml(big, 20_000_000)
    small_peak, small_rows, _ = peak_reading(small)
    big_peak, big_rows, last = peak_reading(big)
    size = big.stat().st_size
    measured = f"peak {big_peak / 1e6:.1f} MB for {size / 1e6:.1f} MB, {small_peak / 1e6:.1f} MB"
    assert (small_rows, big_rows, last) == (small_count, big_count, big_count)
    assert big_peak < size / 4, measured
    assert big_peak < 1.5 * small_peak, measured


def write_requests(path: Path, count: int, *, tail: str = "") -> None:
    items = [
        {
            "service_request_id": f"J{i}",
            "requested_datetime": "2023-01-05T10:00:00Z",
            "service_name": "Pothole",
        }
        for i in range(count)
    ]
    text = json.dumps(items, indent=1)
    path.write_text(text[:-2] + tail + text[-2:] if tail else text, encoding="utf-8")


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "reader-process"])
def test_a_malformed_request_near_the_end_refuses_the_whole_file(tmp_path, parallel):
    """The last of 1,000 requests (40 batches of 25) is broken: nothing is loaded, and the
    message names where, as for a small file; then the mended file loads, and loads again
    unchanged."""
    overrides = {"batch_size": 25, "reader_process_mb": 0 if parallel else 1000}
    seed = tmp_path / "seed.json"
    write_requests(seed, 3)
    load(tmp_path, seed, **overrides)
    before = state(tmp_path / "store")

    path = tmp_path / "requests.json"
    write_requests(path, 1000, tail=', {"service_request_id": "bad" "x": 1}')
    with pytest.raises(InputFileError) as refused:
        load(tmp_path, path, **overrides)
    text = path.read_text()
    with pytest.raises(json.JSONDecodeError) as stdlib:
        json.loads(text)
    assert str(refused.value) == f"{path}: not valid JSON ({stdlib.value})"
    assert str(stdlib.value).startswith("Expecting ',' delimiter: line 5001 ")
    assert state(tmp_path / "store") == before

    write_requests(path, 1000)
    first, _, _ = load(tmp_path, path, **overrides)
    second, cases, _ = load(tmp_path, path, **overrides)
    assert (first.inserted, first.unchanged) == (997, 3)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 1000)
    assert len(cases) == 1000


@pytest.mark.parametrize("parallel", [False, True], ids=["inline", "reader-process"])
def test_a_refusal_after_batches_were_written_leaves_the_store_as_it_was(tmp_path, parallel):
    """A refusal found while streaming, after batches were written in the load's transaction (a
    CSV quote never closed, 40 batches in): the transaction is rolled back, in one process or
    with the reader process."""
    overrides = {"batch_size": 25, "reader_process_mb": 0 if parallel else 1000}
    seed = tmp_path / "seed.csv"
    seed.write_text(csv_text([row("S1"), row("S2")]), encoding="utf-8")
    load(tmp_path, seed, **overrides)
    before = state(tmp_path / "store")
    from etl.reader import MAX_ROW_LINES

    text = csv_text([row(f"ok{i}") for i in range(1000)], newline="\n")
    text += 'bad,"2011-07-01 10:00:00,x\n' + "\n".join("x" for _ in range(MAX_ROW_LINES + 1))
    path = tmp_path / "late.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=r"late\.csv: line 1002: .*never closed"):
        load(tmp_path, path, **overrides)
    assert state(tmp_path / "store") == before


def test_a_document_that_changes_between_the_two_passes_is_refused(tmp_path):
    """The requests are read in a second pass: a file rewritten after the first (shorter now)
    is refused once its batches run out, instead of loading a mix."""
    path = tmp_path / "requests.json"
    write_requests(path, 120)
    given: list[int] = []
    changed = r"changed while it was read \(120 requests, then 60"
    with (
        pytest.raises(InputFileError, match=changed),
        ExportFile(path).open(batch_size=50) as (header, batches, _progress),
    ):
        assert header == ["service_request_id", "requested_datetime", "service_name"]
        write_requests(path, 60)
        given += [len(batch.rows) for batch in batches]
    assert given == []  # the comprehension was cut short: nothing reached the list
