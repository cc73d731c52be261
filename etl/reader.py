"""Open an export (CSV, gzip, zip with one CSV) and stream it in batches of raw rows.

Also read: tab- or semicolon-separated files (the delimiter is sniffed from the header line, or
named by a first line ``sep=;`` as Excel writes it) and Open311 GeoReport v2 ``requests.json`` /
``requests.xml`` documents, which become a synthetic header (every key) and rows of text, numbered
by request (``lines[i]`` is the request's position); those are streamed twice, once to check the
whole document and collect its header, once to read it (see :mod:`etl.formats_open311`).

UTF-8 (bytes past the sniffed head that are not UTF-8 are read as Windows-1252), Windows-1252 and
UTF-16 (with a byte-order mark, or without one when its first KB is mostly ASCII) are read. A file
that cannot be read as a whole (missing, binary, empty, no header, a zip without exactly one CSV,
an encrypted zip, an Excel workbook, a quote never closed) raises
:class:`dashboard.errors.InputFileError` before anything is loaded. Rows with the wrong number of
fields are handed back separately, with their line number, to be quarantined.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dashboard.errors import InputFileError
from etl import formats_open311

log = logging.getLogger(__name__)

#: The longest field read (characters). Far beyond any real 311 text (a 5 MB description loads;
#: the store keeps its first 200 characters), short of what an unclosed quote in a large file
#: would swallow: such a file is refused instead of read into memory.
MAX_FIELD_CHARS = 64 * 1024 * 1024
#: A quoted field may hold line breaks; one that spans more physical lines than this is a quote
#: that is never closed (everything after it would load as one broken row): the file is refused.
#: A quoted field still open at the end of the file is refused too, whatever its length.
MAX_ROW_LINES = 1_000
csv.field_size_limit(MAX_FIELD_CHARS)

_SNIFF_BYTES = 64 * 1024
#: UTF-16 without a byte-order mark is recognised from this many bytes of the head: text that is
#: mostly ASCII has a NUL in (nearly) every other byte.
_UTF16_SNIFF_BYTES = 1024
#: Excel's first line naming the delimiter (``sep=;``), the header follows on the next line.
_EXCEL_SEP = re.compile(r"sep=(?P<sep>[^\r\n])", re.IGNORECASE)
#: Codec error handler of UTF-8 files: see :func:`_cp1252_fallback`.
_CP1252_FALLBACK = "stat311-cp1252-fallback"
#: A refused zip's message names at most this many of its files, then "and N more".
_ZIP_NAMES_SHOWN = 5


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Bytes that are not UTF-8 in a file taken for UTF-8 are read as Windows-1252.

    The encoding is chosen from the file's first 64 KB; an export that is ASCII there and has a
    Windows-1252 "é" further on keeps its letter instead of the replacement character U+FFFD."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return bytes(exc.object[exc.start : exc.end]).decode("cp1252", "replace"), exc.end


codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


def _zip_names(members: list[zipfile.ZipInfo]) -> str:
    """``"a.csv, b.csv"``; past :data:`_ZIP_NAMES_SHOWN` names, ``"... and N more"``."""
    if not members:
        return "nothing"
    names = ", ".join(m.filename for m in members[:_ZIP_NAMES_SHOWN])
    more = len(members) - _ZIP_NAMES_SHOWN
    return f"{names} and {more} more" if more > 0 else names


@dataclass
class RawBatch:
    """Rows as read: ``rows[i]`` has exactly ``len(header)`` fields and starts on ``lines[i]``."""

    rows: list[list[str]]
    lines: list[int]
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, raw text) wrong field count


class _CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts bytes consumed (for progress on compressed input)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        return n


class ExportFile:
    """An export on disk. Use :meth:`open` to get the header and a batch iterator."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputFileError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputFileError(f"{self.path}: is a directory, not an export file")
        self.size = self.path.stat().st_size
        if self.size == 0:
            raise InputFileError(f"{self.path}: the file is empty")
        self.compression = self._detect_compression()
        self.encoding = "utf-8"
        self.kind = "csv"  # csv, tsv, json or xml (known once opened)
        self.delimiter = ","
        # A zip without a CSV whose one .txt file is read instead: its files, named if that text
        # turns out not to be a table (a README is not data). None otherwise.
        self._zip_without_csv: list[zipfile.ZipInfo] | None = None

    def _detect_compression(self) -> str:
        with self.path.open("rb") as fh:
            magic = fh.read(4)
        if magic[:2] == b"\x1f\x8b":
            return "gzip"
        if magic == b"PK\x03\x04":
            return "zip"
        return "none"

    @contextmanager
    def _binary(self) -> Iterator[tuple[IO[bytes], _CountingReader]]:
        with self.path.open("rb") as fh:
            counter = _CountingReader(fh)
            if self.compression == "gzip":
                stream: IO[bytes] = gzip.GzipFile(fileobj=io.BufferedReader(counter))
                yield stream, counter
            elif self.compression == "zip":
                try:
                    archive = zipfile.ZipFile(fh)
                except zipfile.BadZipFile as exc:
                    raise InputFileError(f"{self.path}: not a readable zip file ({exc})") from exc
                members = [
                    m
                    for m in archive.infolist()
                    if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                ]
                if any(m.filename == "xl/workbook.xml" for m in members):
                    raise InputFileError(
                        f"{self.path}: an Excel workbook, not a CSV export; "
                        "save it as CSV (UTF-8) and load that"
                    )
                # The CSV, or failing that the one text file (a README.txt beside a CSV is not data).
                csvs = [m for m in members if m.filename.lower().endswith(".csv")]
                for ext in (".tsv", ".json", ".xml", ".txt"):
                    if not csvs:
                        csvs = [m for m in members if m.filename.lower().endswith(ext)]
                if not csvs and members:
                    raise self._no_csv(members)
                if len(csvs) != 1:
                    raise InputFileError(
                        f"{self.path}: a zip must hold exactly one CSV file; "
                        f"it holds {_zip_names(members)}"
                    )
                if csvs[0].filename.lower().endswith(".txt"):
                    self._zip_without_csv = members
                try:
                    opened = archive.open(csvs[0])
                except (RuntimeError, NotImplementedError) as exc:
                    # a password-protected member, or a method zipfile lacks (Deflate64, zstd)
                    why = (
                        "it is encrypted"
                        if csvs[0].flag_bits & 0x1
                        else f"its compression method ({csvs[0].compress_type}) is not supported"
                    )
                    raise InputFileError(
                        f"{self.path}: {csvs[0].filename} in the zip cannot be read: {why}; "
                        "unzip it and load the file itself"
                    ) from exc
                with opened as member:
                    counter = _CountingReader(member)
                    # progress on a zip: compressed size is unknown per read; use uncompressed.
                    self.size = csvs[0].file_size or 1
                    yield io.BufferedReader(counter), counter  # type: ignore[arg-type]
            else:
                yield io.BufferedReader(counter), counter  # type: ignore[arg-type]

    def _no_csv(self, members: list[zipfile.ZipInfo]) -> InputFileError:
        return InputFileError(
            f"{self.path}: the zip holds no CSV file (it holds: {_zip_names(members)})"
        )

    def _not_a_table(self, message: str) -> InputFileError:
        """The error for a head that is no table: ``message``, or for the .txt read from a zip
        without a CSV, that the zip holds no CSV file (naming what it does hold)."""
        if self._zip_without_csv is not None:
            return self._no_csv(self._zip_without_csv)
        return InputFileError(f"{self.path}: {message}")

    def _check_text(self, head: bytes) -> bytes:
        """Refuse a head that is not text and choose ``encoding``. Returns the head to sniff the
        kind and delimiter from: UTF-16 (with its byte-order mark, as Excel's "Unicode Text"
        saves, or without one: see :func:`_utf16_without_bom`) is given back as UTF-8. A stray NUL
        is not binary: too many control bytes are."""
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            self.encoding = "utf-16"
            head = head[: len(head) // 2 * 2].decode("utf-16", "replace").encode("utf-8")
        elif order := _utf16_without_bom(head):
            self.encoding = order
            head = head[: len(head) // 2 * 2].decode(order, "replace").encode("utf-8")
            log.debug("%s: read as %s (no byte-order mark)", self.path, order.upper())
        if not head.strip():
            raise self._not_a_table("the file is empty")
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            # Exports saved by spreadsheet software on Windows.
            self.encoding = "cp1252"
        controls = sum(1 for b in head if b < 9 or 13 < b < 32)
        if controls > len(head) // 100:
            raise self._not_a_table("a binary file, not a CSV export")
        return head

    @contextmanager
    def open(self, *, batch_size: int) -> Iterator[tuple[list[str], Iterator[RawBatch], _Progress]]:
        """Yield ``(header, batches, progress)``. The header is stripped of a BOM and spaces."""
        try:
            with self._binary() as (stream, counter):
                buffered = io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[arg-type]
                try:
                    head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
                except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                    raise InputFileError(f"{self.path}: cannot be read ({exc})") from exc
                head = self._check_text(head)
                sniffed = "utf-8" if self.encoding.startswith("utf-16") else self.encoding
                self.kind = _kind(head)
                if self.kind in ("json", "xml"):
                    scan = self._scan_document(buffered)
                    progress = _Progress(counter, self.size)
                    yield scan.header, self._document_batches(scan, batch_size, progress), progress
                    return
                text = io.TextIOWrapper(
                    buffered, encoding=self.encoding, errors=self._errors, newline=""
                )
                source = _Lines(text)
                lines = iter(source)
                named = _excel_separator(head, sniffed)
                skipped = 0  # lines before the header (Excel's sep= line)
                if named is not None:
                    next(lines)
                    skipped = 1
                    self.delimiter = named
                else:
                    self.delimiter = _delimiter(head, sniffed)
                if self.delimiter == "\t":
                    self.kind = "tsv"
                reader = csv.reader(lines, delimiter=self.delimiter)
                try:
                    header = next(reader)
                except StopIteration as exc:
                    raise self._not_a_table("the file is empty") from exc
                except csv.Error as exc:
                    raise self._not_a_table(f"not a CSV file ({exc})") from exc
                if source.ended:
                    raise _unclosed_at_end(self.path, header, reader.line_num + skipped)
                header = [h.replace("\ufeff", "").strip() for h in header]
                if len(header) < 2 or not any(header):
                    if skipped:
                        raise InputFileError(
                            f"{self.path}: line 2 is not a CSV header separated by "
                            f"{self.delimiter!r}, as the first line (sep=) says"
                        )
                    raise self._not_a_table("the first line is not a CSV header")
                progress = _Progress(counter, self.size)
                batches = self._batches(
                    reader, len(header), batch_size, self.path, skipped=skipped, source=source
                )
                yield header, batches, progress
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
            # also while streaming: a compressed file that breaks half-way is refused whole
            raise InputFileError(f"{self.path}: cannot be read ({exc})") from exc
        except csv.Error as exc:
            raise InputFileError(f"{self.path}: not a readable CSV file ({exc})") from exc

    @property
    def _errors(self) -> str:
        """How bytes the encoding cannot read are decoded (see :func:`_cp1252_fallback`)."""
        return _CP1252_FALLBACK if self.encoding == "utf-8" else "replace"

    def _json_text(self, stream: IO[bytes]) -> io.TextIOWrapper:
        """The decoded text of a JSON document (a UTF-8 byte-order mark dropped)."""
        encoding = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        return io.TextIOWrapper(
            stream,  # type: ignore[arg-type]
            encoding=encoding,
            errors=self._errors,
            newline="",
        )

    def _scan_document(self, stream: IO[bytes]) -> formats_open311.Scan:
        """First pass over a JSON or XML document: the whole file is checked (a malformed one
        is refused here, before anything is loaded) and its header collected."""
        if self.kind == "json":
            scan = formats_open311.scan_json(self._json_text(stream), path=str(self.path))
        else:
            scan = formats_open311.scan_xml(stream, path=str(self.path))
        if not scan.count:
            raise InputFileError(f"{self.path}: the file holds no requests")
        if len(scan.header) < 2:
            raise InputFileError(f"{self.path}: the requests have fewer than two fields")
        return scan

    def _document_batches(
        self, scan: formats_open311.Scan, batch_size: int, progress: _Progress
    ) -> Iterator[RawBatch]:
        """Second pass: the requests in batches of rows under ``scan.header``, numbered by
        position. The file is opened again (here, so in the reader process when there is one)."""
        path = str(self.path)
        read = 0
        try:
            with self._binary() as (stream, counter):
                progress.counter = counter
                buffered = io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[arg-type]
                if self.kind == "json":
                    records = formats_open311.read_json(self._json_text(buffered), scan, path=path)
                else:
                    records = formats_open311.read_xml(buffered, path=path)
                batch = RawBatch(rows=[], lines=[])
                for record in records:
                    read += 1
                    batch.rows.append([record.get(name, "") for name in scan.header])
                    batch.lines.append(read)
                    if len(batch.rows) >= batch_size:
                        yield batch
                        batch = RawBatch(rows=[], lines=[])
                if batch.rows:
                    yield batch
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
            raise InputFileError(f"{self.path}: cannot be read ({exc})") from exc
        if read != scan.count:
            raise InputFileError(
                f"{self.path}: the file changed while it was read ({scan.count:,} requests, "
                f"then {read:,}). Nothing was loaded"
            )

    @staticmethod
    def _batches(
        reader: csv.Reader,
        width: int,
        batch_size: int,
        path: Path,
        *,
        skipped: int = 0,
        source: _Lines | None = None,
    ) -> Iterator[RawBatch]:
        """Rows in batches, numbered by the physical line they start on (``skipped`` lines were
        read before ``reader`` saw any). ``source``, the lines ``reader`` reads: a row the end of
        the file ended (a quoted field still open there) refuses the file, whatever its length.
        """
        batch = RawBatch(rows=[], lines=[])
        start = reader.line_num + 1 + skipped
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                hint = (
                    f"a field longer than {MAX_FIELD_CHARS:,} characters: a quote is probably "
                    "never closed"
                    if "field limit" in str(exc)
                    else f"not readable as CSV ({exc})"
                )
                raise InputFileError(f"{path}: line {start}: {hint}. Nothing was loaded") from exc
            if source is not None and source.ended:
                raise _unclosed_at_end(path, row, reader.line_num + skipped)
            if reader.line_num + skipped - start >= MAX_ROW_LINES:
                raise InputFileError(
                    f"{path}: line {start}: a quoted field runs over "
                    f"{reader.line_num + skipped - start + 1:,} lines; a quote is probably never "
                    "closed. Nothing was loaded"
                )
            if len(row) == width:
                batch.rows.append(row)
                batch.lines.append(start)
            elif row and any(cell.strip() for cell in row):
                batch.bad.append((start, _to_csv_line(row)))
            # blank lines are not rows: skipped silently, as every CSV reader does
            start = reader.line_num + 1 + skipped
            if len(batch.rows) + len(batch.bad) >= batch_size:
                yield batch
                batch = RawBatch(rows=[], lines=[])
        if batch.rows or batch.bad:
            yield batch


class _Lines:
    """The lines of a CSV text (NUL characters, which PostgreSQL cannot store, replaced), noting
    when they run out (``ended``).

    A csv reader asks for the next line only while a row is unfinished or to start the next
    one: a row handed back after the lines ran out was ended by the end of the file, which only
    happens inside a quoted field (the csv module, not strict, returns the rest of the file as
    that field's text instead of an error)."""

    def __init__(self, text: Iterable[str]) -> None:
        self.ended = False
        self._lines = self._read(text)

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def _read(self, text: Iterable[str]) -> Iterator[str]:
        for ln in text:
            yield ln.replace("\x00", "\ufffd") if "\x00" in ln else ln
        self.ended = True


def _unclosed_at_end(
    path: str | os.PathLike[str], row: list[str], last_line: int
) -> InputFileError:
    """The refusal of a file whose quoted field is still open at its end (``row``, read up to
    physical line ``last_line``), naming the line the quote opened on: the open field is the
    row's last, holding every line break from there on."""
    text = row[-1] if row else ""
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    opened = last_line - breaks + (1 if text.endswith(("\n", "\r")) else 0)
    return InputFileError(
        f"{path}: line {opened}: a quoted field is still open at the end of the file; a quote "
        "is probably never closed. Nothing was loaded"
    )


def _kind(head: bytes) -> str:
    """``json``, ``xml`` or ``csv`` from the first bytes (after a byte-order mark and spaces)."""
    start = head.lstrip(b"\xef\xbb\xbf").lstrip()[:1]
    if start in (b"[", b"{"):
        return "json"
    if start == b"<":
        return "xml"
    return "csv"


def _delimiter(head: bytes, encoding: str) -> str:
    """The header line's delimiter: a tab or semicolon when the line has more of it than commas."""
    line = head.split(b"\n", 1)[0].decode(encoding, "replace")
    counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def _excel_separator(head: bytes, encoding: str) -> str | None:
    """The delimiter a first line ``sep=;`` names (Excel writes it, and reads the header from the
    next line), or None."""
    first = head.split(b"\n", 1)[0].removeprefix(codecs.BOM_UTF8)
    line = first.decode(encoding, "replace").lstrip("\ufeff").rstrip("\r")
    named = _EXCEL_SEP.fullmatch(line)
    return named["sep"] if named else None


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` for text in UTF-16 without a byte-order mark, else None.

    In the first KB of such a file that is mostly ASCII (a header line is), nearly every other
    byte is NUL: the high bytes, at odd positions (little-endian) or even ones (big-endian),
    while the other half holds almost none. A stray NUL in a UTF-8 file is not that; a binary
    file that happens to be is still refused afterwards, for its control characters."""
    sample = head[:_UTF16_SNIFF_BYTES]
    sample = sample[: len(sample) // 2 * 2]
    pairs = len(sample) // 2
    if pairs < 8:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= 0.7 * pairs and even <= 0.1 * pairs:
        return "utf-16-le"
    if even >= 0.7 * pairs and odd <= 0.1 * pairs:
        return "utf-16-be"
    return None


def _to_csv_line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


@dataclass
class _Progress:
    counter: _CountingReader
    total: int

    @property
    def done(self) -> int:
        return self.counter.consumed
