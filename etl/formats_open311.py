"""Open311 GeoReport v2 request files (``requests.json``, ``requests.xml``) as flat records.

Each request becomes one flat ``{column: text}`` record, so a JSON or XML file reaches the rest of
the pipeline exactly like a CSV: a header (every key seen, in first-seen order) and rows of text.

- ``extended_attributes`` (an object, or XML children) is flattened: its keys become columns
  (Chicago puts ``duplicate`` and ``parent_service_request_id`` there); a key that is already a
  top-level column keeps the top-level value.
- ``notes`` and any other list or object is kept as its JSON text.
- A key given twice in one JSON object: the first non-empty value is read (as with two CSV
  columns of the same name, the first is read).
- ``true``/``false`` become ``true``/``false``, ``null`` becomes empty, and so do ``NaN`` and
  ``Infinity`` (not JSON, but written by some exporters: a request id ``nan`` is no id).

Files are streamed, never read whole: memory is set by the largest single request, not by the
file. A file is read twice: :func:`scan_json` / :func:`scan_xml` check the whole document (a
malformed file is refused before anything is loaded) and collect its header; then
:func:`read_json` / :func:`read_xml` give the records. JSON is decoded one value at a time with
:meth:`json.JSONDecoder.raw_decode` over a sliding window of the text (the array and object syntax
around the requests is walked here, with the standard library's error messages and positions);
XML with :func:`xml.etree.ElementTree.iterparse`, each request cleared once read.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO, StringIO
from typing import IO, Any, TextIO

from dashboard.errors import InputFileError

_NESTED = ("extended_attributes",)
#: Keys of a top-level JSON object that hold the list of requests, in order of preference.
_LIST_KEYS = ("requests", "service_requests", "data", "results")
#: The longest single JSON value (one request, or any value outside the list of requests) read,
#: in characters: the JSON twin of the CSV reader's field limit (a string that is never closed
#: would otherwise read the rest of the file into memory).
MAX_VALUE_CHARS = 64 * 1024 * 1024
#: Characters read from the text at a time.
_CHUNK_CHARS = 1 << 18
#: A value that ends (or fails) this close to the end of the window may continue past it: the
#: window is widened and the value decoded again (longer than ``-Infinity``, the longest literal).
_MARGIN = 32
_NOT_WHITESPACE = re.compile(r"[^ \t\n\r]")


def _first_non_empty(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out or out[key] in (None, ""):
            out[key] = value
    return out


#: What no store can hold as text: NUL (PostgreSQL) and lone surrogates (not UTF-8 at all;
#: ``"\ud800"`` in a JSON file parses to one and then fails every encode).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _text(value: Any) -> str:
    """A JSON value as the text of a CSV cell; NUL and lone surrogates become U+FFFD (as the
    reader does for NUL bytes in a CSV file)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return _UNSTORABLE.sub("\ufffd", text)


def _flatten(record: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    nested: dict[str, Any] = {}
    for key, value in record.items():
        if key in _NESTED and isinstance(value, dict):
            nested.update(value)
        else:
            flat[str(key)] = _text(value)
    for key, value in nested.items():
        if str(key) not in flat or flat[str(key)] == "":
            flat[str(key)] = _text(value)
    return flat


def _flat_keys(record: dict[str, Any]) -> list[str]:
    """The keys of ``_flatten(record)``, in its order, without converting the values."""
    keys: dict[str, None] = {}
    nested: dict[str, None] = {}
    for key, value in record.items():
        if key in _NESTED and isinstance(value, dict):
            nested.update(dict.fromkeys(value))
        else:
            keys[str(key)] = None
    for key in nested:
        keys.setdefault(str(key), None)
    return list(keys)


def _no_number(name: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` are read as ``null``."""
    return None


@dataclass
class Scan:
    """What a first pass over a document found: every column (first-seen order), the number of
    requests, and (JSON) where in the document they are."""

    header: list[str]
    count: int
    #: JSON: ``-1`` for a top-level list, the index of the top-level member holding the list,
    #: or ``_SINGLE`` for a document that is one request object.
    where: int = -1


_SINGLE = -2


class _Header:
    """Columns in first-seen order, and how many records gave them."""

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}
        self.count = 0
        self.not_object: int | None = None  # the first item that is not an object (1-based)

    def add(self, item: Any) -> None:
        self.count += 1
        if isinstance(item, dict):
            for key in _flat_keys(item):
                self.keys.setdefault(key, None)
        elif self.not_object is None:
            self.not_object = self.count


# -- JSON ----------------------------------------------------------------------------------------
class _JsonText:
    """A sliding window over a JSON text stream: values are decoded one at a time, and errors
    name the line, column and character of the whole document, as :func:`json.loads` does."""

    def __init__(self, stream: TextIO, *, path: str) -> None:
        self.stream = stream
        self.path = path
        self.buffer = ""
        self.pos = 0  # in ``buffer``
        self.base = 0  # characters of the document before ``buffer``
        self.lines_before = 0  # line breaks before ``buffer``
        self.last_break_before = -1  # position in the document of the last of them
        self.eof = False
        self.decoder = json.JSONDecoder(
            object_pairs_hook=_first_non_empty, parse_constant=_no_number
        )
        self._read(_CHUNK_CHARS)
        if self.buffer.startswith("\ufeff"):
            raise self.error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)

    def _read(self, size: int) -> bool:
        """Drop what was consumed and append at least ``size`` characters; False at the end."""
        if self.pos:
            breaks = self.buffer.count("\n", 0, self.pos)
            if breaks:
                self.lines_before += breaks
                self.last_break_before = self.base + self.buffer.rfind("\n", 0, self.pos)
            self.base += self.pos
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        if self.eof:
            return False
        chunk = self.stream.read(max(size, _CHUNK_CHARS))
        if not chunk:
            self.eof = True
            return False
        # NUL characters cannot be stored (and are not JSON outside strings anyway).
        self.buffer += chunk.replace("\x00", "\ufffd") if "\x00" in chunk else chunk
        return True

    def error(self, message: str, pos: int) -> InputFileError:
        """The file's refusal for ``message`` at ``pos`` in the window (as ``JSONDecodeError``
        words it: ``msg: line L column C (char P)``, counted in the whole document)."""
        line = self.lines_before + self.buffer.count("\n", 0, pos) + 1
        last_break = self.buffer.rfind("\n", 0, pos)
        column = pos - last_break if last_break >= 0 else self.base + pos - self.last_break_before
        where = f"line {line} column {column} (char {self.base + pos})"
        return InputFileError(f"{self.path}: not valid JSON ({message}: {where})")

    def peek(self) -> str:
        """Skip whitespace; the next character, or ``""`` at the end of the document."""
        while True:
            found = _NOT_WHITESPACE.search(self.buffer, self.pos)
            if found:
                self.pos = found.start()
                return self.buffer[self.pos]
            self.pos = len(self.buffer)
            if not self._read(_CHUNK_CHARS):
                return ""

    def value(self) -> Any:
        """Decode the value at the current position (after :meth:`peek`)."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or (
                    exc.pos >= len(self.buffer) - _MARGIN
                )
                if cut and not self.eof:
                    self._widen()
                    continue  # decoded again with more text (or knowing the end is reached)
                raise self.error(exc.msg, exc.pos) from None
            if end >= len(self.buffer) - _MARGIN and not self.eof:
                self._widen()
                continue  # a number (or anything) touching the window's end may go on
            self.pos = end
            return value

    def _widen(self) -> None:
        """Read more text for a value that may continue past the window (the window then starts
        at the value: positions in it change)."""
        if len(self.buffer) - self.pos > MAX_VALUE_CHARS:
            raise self.error(
                f"a value longer than {MAX_VALUE_CHARS:,} characters, probably a string "
                "that is never closed, starting",
                self.pos,
            )
        self._read(len(self.buffer) - self.pos)

    def expect(self, char: str, message: str) -> None:
        """Step over ``char`` (after :meth:`peek`), or refuse the file with ``message``."""
        if self.peek() != char:
            raise self.error(message, self.pos)
        self.pos += 1


_LIST = object()  # a top-level member whose value is a list (streamed, not kept)


def _json_array(text: _JsonText, member: int) -> Iterator[tuple[str, int, Any]]:
    """``("item", member, value)`` for every item of the array at the current position."""
    text.expect("[", "Expecting value")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        text.peek()
        yield "item", member, text.value()
        char = text.peek()
        if char == "]":
            text.pos += 1
            return
        text.expect(",", "Expecting ',' delimiter")


def _json_object(text: _JsonText, *, whole: bool) -> Iterator[tuple[str, int, Any]]:
    """``("member", i, (key, value))`` for every member of the top-level object; a list value is
    streamed as ``("item", i, value)`` events and given as ``_LIST`` unless ``whole``."""
    text.expect("{", "Expecting value")
    if text.peek() == "}":
        text.pos += 1
        return
    member = 0
    while True:
        if text.peek() != '"':
            raise text.error("Expecting property name enclosed in double quotes", text.pos)
        key = text.value()
        text.expect(":", "Expecting ':' delimiter")
        if text.peek() == "[" and not whole:
            yield from _json_array(text, member)
            yield "member", member, (key, _LIST)
        else:
            yield "member", member, (key, text.value())
        member += 1
        if text.peek() == "}":
            text.pos += 1
            return
        text.expect(",", "Expecting ',' delimiter")


def _json_events(text: _JsonText, *, whole: bool = False) -> Iterator[tuple[str, int, Any]]:
    """The document as events: first ``("document", -1, first character)``, then ``item`` (of
    the top-level list, member -1, or of a list held by a top-level member) and ``member`` (of
    a top-level object). Any other document is decoded and dropped. Refuses the file at the
    first syntax error, or at text after the document."""
    first = text.peek()
    yield "document", -1, first
    if first == "[":
        yield from _json_array(text, -1)
    elif first == "{":
        yield from _json_object(text, whole=whole)
    else:
        text.value()
    if text.peek():
        raise text.error("Extra data", text.pos)


def _kept(key: str, value: Any) -> Any:
    """What the first pass keeps of a top-level member: whether it is empty (``None`` or
    ``""``), a list, or (``extended_attributes``) an object and its keys."""
    if value is None or value == "" or value is _LIST:
        return value
    if key in _NESTED and isinstance(value, dict):
        return dict.fromkeys(value)
    return True


def scan_json(stream: TextIO, *, path: str) -> Scan:
    """Check a GeoReport v2 JSON document whole and collect its header: a list of requests, or
    an object holding the list under ``requests`` / ``service_requests`` / ``data`` /
    ``results`` (or one request object). Raises :class:`InputFileError` as the whole-document
    :func:`json.loads` did, naming where."""
    text = _JsonText(stream, path=path)
    lists: dict[int, _Header] = {}
    kept: dict[str, Any] = {}  # the top-level object, as its keys' first non-empty values
    members: dict[str, int] = {}  # key -> member index of the kept value
    first = ""
    for event, member, payload in _json_events(text):
        if event == "document":
            first = payload
        elif event == "item":
            lists.setdefault(member, _Header()).add(payload)
        elif event == "member":
            key, value = payload
            if key not in kept or kept[key] in (None, ""):
                kept[key] = _kept(key, value)
                members[key] = member
    where = -1
    if first == "[":
        found = lists.get(-1, _Header())
    elif first == "{":
        for key in _LIST_KEYS:
            if kept.get(key) is _LIST:
                where = members[key]
                found = lists.get(where, _Header())
                break
        else:
            if "service_request_id" not in kept:
                raise InputFileError(f"{path}: JSON holds no list of requests")
            found, where = _Header(), _SINGLE
            found.add({key: (None if value is _LIST else value) for key, value in kept.items()})
    else:
        raise InputFileError(f"{path}: JSON holds no list of requests")
    if found.not_object is not None:
        raise InputFileError(f"{path}: JSON request {found.not_object} is not an object")
    return Scan(header=list(found.keys), count=found.count, where=where)


def read_json(stream: TextIO, scan: Scan, *, path: str) -> Iterator[dict[str, str]]:
    """The requests of a document :func:`scan_json` accepted, one flat record at a time."""
    text = _JsonText(stream, path=path)
    if scan.where == _SINGLE:  # one request object: read whole (it is one request)
        pairs = [p for event, _, p in _json_events(text, whole=True) if event == "member"]
        yield _flatten(_first_non_empty(pairs))
        return
    for event, member, payload in _json_events(text):
        if event == "item" and member == scan.where:
            if not isinstance(payload, dict):
                raise InputFileError(f"{path}: the file changed while it was read")
            yield _flatten(payload)


def json_records(text: str, *, path: str) -> list[dict[str, str]]:
    """Requests of a GeoReport v2 JSON document given whole (see :func:`scan_json`)."""
    scan = scan_json(StringIO(text, newline=""), path=path)
    return list(read_json(StringIO(text, newline=""), scan, path=path))


# -- XML -----------------------------------------------------------------------------------------
def _xml_record(element: ET.Element) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for child in element:
        if len(child):
            if child.tag in _NESTED:
                record[child.tag] = {c.tag: (c.text or "").strip() for c in child}
            else:
                record[child.tag] = [
                    {c.tag: (c.text or "").strip() for c in item} if len(item) else item.text
                    for item in child
                ]
        elif child.tag not in record or record[child.tag] in (None, ""):
            record[child.tag] = (child.text or "").strip()
    return record


def _xml_requests(stream: IO[bytes], *, path: str) -> Iterator[dict[str, Any]]:
    """The ``request`` elements of ``<service_requests><request>...`` (at any depth, in document
    order; or the root itself when it is a ``request``), as records before flattening.

    Each outermost request is cleared from the tree once read, and so is anything else outside
    a request, so memory is set by one request. Entities are handled as by
    :func:`xml.etree.ElementTree.fromstring`: no external entity or DTD is fetched (an entity
    that would need one is undefined, refusing the file) and expat bounds entity expansion."""
    open_elements: list[ET.Element] = []
    open_requests = 0  # request elements open below the root
    root_is_request = False
    try:
        for event, element in ET.iterparse(stream, events=("start", "end")):  # noqa: S314
            if event == "start":
                if not open_elements:
                    root_is_request = element.tag == "request"
                elif element.tag == "request":
                    open_requests += 1
                open_elements.append(element)
                continue
            open_elements.pop()
            if not open_elements:  # the root
                if root_is_request:
                    yield _xml_record(element)
                continue
            if root_is_request:
                continue  # the root's children are the request's fields
            if element.tag == "request":
                open_requests -= 1
                if open_requests:
                    continue  # a request inside a request: read with the outer one
                for request in element.iter("request"):
                    yield _xml_record(request)
            elif open_requests:
                continue  # a field of a request
            open_elements[-1].remove(element)
            element.clear()
    except (ET.ParseError, LookupError) as exc:  # LookupError: an encoding Python does not know
        raise InputFileError(f"{path}: not valid XML ({exc})") from exc


def scan_xml(stream: IO[bytes], *, path: str) -> Scan:
    """Check a GeoReport v2 XML document whole and collect its header."""
    found = _Header()
    for record in _xml_requests(stream, path=path):
        found.add(record)
    return Scan(header=list(found.keys), count=found.count)


def read_xml(stream: IO[bytes], *, path: str) -> Iterator[dict[str, str]]:
    """The requests of a document :func:`scan_xml` accepted, one flat record at a time."""
    for record in _xml_requests(stream, path=path):
        yield _flatten(record)


def xml_records(data: bytes, *, path: str) -> list[dict[str, str]]:
    """Requests of a GeoReport v2 XML document given whole (see :func:`scan_xml`)."""
    return list(read_xml(BytesIO(data), path=path))


def as_rows(records: Iterable[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    """A header of every key (first-seen order) and one row per record."""
    records = list(records)
    header: dict[str, None] = {}
    for record in records:
        for key in record:
            header.setdefault(key, None)
    names = list(header)
    return names, [[record.get(name, "") for name in names] for record in records]
