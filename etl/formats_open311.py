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
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from dashboard.errors import InputFileError

_NESTED = ("extended_attributes",)


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


def _no_number(name: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` are read as ``null``."""
    return None


def json_records(text: str, *, path: str) -> list[dict[str, str]]:
    """Requests of a GeoReport v2 JSON document: a list, or an object holding the list under
    ``requests`` / ``service_requests`` (or one request object)."""
    try:
        data = json.loads(text, object_pairs_hook=_first_non_empty, parse_constant=_no_number)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, dict):
        for key in ("requests", "service_requests", "data", "results"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data] if "service_request_id" in data else None
    if not isinstance(data, list):
        raise InputFileError(f"{path}: JSON holds no list of requests")
    records = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise InputFileError(f"{path}: JSON request {index} is not an object")
        records.append(_flatten(item))
    return records


def xml_records(data: bytes, *, path: str) -> list[dict[str, str]]:
    """Requests of a GeoReport v2 XML document: ``<service_requests><request>...``."""
    try:
        root = ET.fromstring(data)  # noqa: S314 - a local file the operator chose
    except ET.ParseError as exc:
        raise InputFileError(f"{path}: not valid XML ({exc})") from exc
    requests = [root] if root.tag == "request" else root.findall(".//request")
    records = []
    for element in requests:
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
        records.append(_flatten(record))
    return records


def as_rows(records: list[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    """A header of every key (first-seen order) and one row per record."""
    header: dict[str, None] = {}
    for record in records:
        for key in record:
            header.setdefault(key, None)
    names = list(header)
    return names, [[record.get(name, "") for name in names] for record in records]
