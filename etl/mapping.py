"""Declarative mappings: any city's export described in a YAML file, no Python needed.

Example (see docs/FORMATS.md)::

    name: springfield
    title: Springfield 311 export
    source: springfield            # stored with the cases (default: name)
    columns:                       # canonical field -> source column, or a list (first present wins)
      request_id: Ticket No
      requested_at: [Opened, Open Date]
      closed_at: Closed
      status_raw: State
      service_name: Problem
      channel: Received Via
      lat: Y
      lon: X
    date_formats: ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]
    timezone: America/Chicago
    status: {Closed: closed, Resolved: closed, Duplicate: duplicate}   # anything else is open
    channels: {Phone: phone, Web Form: web, App: app}                  # anything else is other
    default_geocodes: [[39.7817, -89.6501]]
    id_prefix: "SPR-"
    signature: [Ticket No, Opened]  # optional: columns that must be present

``request_id`` and ``requested_at`` are required. Also here: ``stat311 formats`` and
``stat311 inspect``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from dashboard.errors import ConfigError, InputFileError
from dashboard.schema import CASE_FIELDS, CHANNELS
from etl import adapters
from etl.adapters import Adapter

#: Canonical fields a mapping may feed (the rest are computed).
MAPPABLE = tuple(f for f in CASE_FIELDS if f not in ("source", "status", "location_quality"))
REQUIRED = ("request_id", "requested_at")
_KEYS = {
    "name",
    "title",
    "source",
    "columns",
    "date_formats",
    "timezone",
    "status",
    "channels",
    "default_geocodes",
    "id_prefix",
    "signature",
}


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def adapter_from_spec(spec: Mapping[str, Any], *, path: str = "mapping") -> Adapter:
    """Build and validate an :class:`Adapter` from a mapping's (parsed YAML) content."""
    if not isinstance(spec, Mapping):
        raise _fail(path, "a mapping must be a YAML object (name:, columns:, ...)")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise _fail(path, f"unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    name = str(spec.get("name") or Path(path).stem).strip()
    if not name:
        raise _fail(path, "the mapping has no name")
    columns_in = spec.get("columns")
    if not isinstance(columns_in, Mapping) or not columns_in:
        raise _fail(path, "columns: must map canonical fields to source columns")
    columns: dict[str, tuple[str, ...]] = {}
    for field, source in columns_in.items():
        if field not in MAPPABLE:
            raise _fail(
                path, f"columns: {field!r} is not a canonical field; one of {', '.join(MAPPABLE)}"
            )
        candidates = [source] if isinstance(source, str) else source
        if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
            raise _fail(path, f"columns: {field} must be a column name or a list of names")
        columns[field] = tuple(candidates)
    for field in REQUIRED:
        if field not in columns:
            raise _fail(path, f"columns: {field} is required")
    formats = spec.get("date_formats") or []
    if isinstance(formats, str):
        formats = [formats]
    if not all(isinstance(f, str) and "%" in f for f in formats):
        raise _fail(path, "date_formats: a list of strftime formats such as '%d/%m/%Y %H:%M'")
    timezone = spec.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _fail(path, f"timezone: unknown time zone {timezone!r}") from exc
    closed: set[str] = set()
    duplicate: set[str] = set()
    for raw, value in (spec.get("status") or {}).items():
        value = str(value).lower()
        if value not in ("open", "closed", "duplicate"):
            raise _fail(path, f"status: {raw!r} maps to {value!r}; use open, closed or duplicate")
        if value in ("closed", "duplicate"):
            closed.add(str(raw).strip().lower())
        if value == "duplicate":
            duplicate.add(str(raw).strip().lower())
    channels: dict[str, str] = {}
    for raw, value in (spec.get("channels") or {}).items():
        if value not in CHANNELS:
            raise _fail(
                path, f"channels: {raw!r} maps to {value!r}; use one of {', '.join(CHANNELS)}"
            )
        channels[str(raw).strip().lower()] = value
    points = []
    for point in spec.get("default_geocodes") or []:
        try:
            lat, lon = (float(v) for v in point)
        except (TypeError, ValueError) as exc:
            raise _fail(path, f"default_geocodes: {point!r} is not [lat, lon]") from exc
        points.append((lat, lon))
    signature = spec.get("signature") or []
    if isinstance(signature, str):
        signature = [signature]
    return Adapter(
        name=name,
        title=str(spec.get("title") or f"mapping {name} ({path})"),
        signature=frozenset(str(s) for s in signature),
        columns=columns,
        time_format=formats[0] if formats else None,
        time_formats=tuple(formats[1:]),
        closed_statuses=frozenset(closed or {"closed"}),
        channels=channels,
        default_source=str(spec.get("source") or name),
        duplicate_statuses=frozenset(duplicate),
        timezone=str(timezone) if timezone else None,
        default_geocodes=tuple(points),
        id_prefix=str(spec.get("id_prefix") or ""),
        required=REQUIRED,
    )


def load_mapping(path: str | Path) -> Adapter:
    """Read a YAML mapping file (:class:`ConfigError` naming the file when it is not valid)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the mapping ({exc.strerror or exc})") from exc
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from exc
    adapter = adapter_from_spec(spec, path=str(path))
    if adapter.name in adapters.ADAPTERS and adapters.ADAPTERS[adapter.name] is not adapter:
        raise ConfigError(f"{path}: name {adapter.name!r} is a built-in format; choose another")
    return adapter


@contextlib.contextmanager
def registered(adapter: Adapter) -> Iterator[Adapter]:
    """Make ``adapter`` known (to ``--format`` and the loader) for the duration of the block."""
    before = adapters.ADAPTERS.get(adapter.name)
    adapters.ADAPTERS[adapter.name] = adapter
    try:
        yield adapter
    finally:
        if before is None:
            adapters.ADAPTERS.pop(adapter.name, None)
        else:
            adapters.ADAPTERS[adapter.name] = before


def check_header(adapter: Adapter, header: list[str], *, path: str) -> None:
    if not adapter.matches(header):
        raise InputFileError(
            f"{path}: the header does not fit {adapter.name} (missing {', '.join(adapter.missing(header))})"
        )


def load_with_mapping(path: str | Path, mapping: str | Path | Adapter, **kwargs: Any):
    """:func:`etl.load.load_file` with a declarative mapping (a YAML path or an adapter)."""
    from etl.load import load_file
    from etl.reader import ExportFile

    adapter = mapping if isinstance(mapping, Adapter) else load_mapping(mapping)
    with ExportFile(path).open(batch_size=1) as (header, _batches, _progress):
        check_header(adapter, header, path=str(path))
    with registered(adapter):
        return load_file(path, format=adapter.name, **kwargs)


# -- inspect and formats -------------------------------------------------------------------------
def inspect_file(path: str | Path, *, mapping: str | Path | None = None) -> dict[str, Any]:
    """What a file is: its kind, encoding, columns, the format it matches, or for every format the
    columns it lacks."""
    from etl.reader import ExportFile

    export = ExportFile(path)
    with export.open(batch_size=1) as (header, _batches, _progress):
        pass
    candidates = dict(adapters.ADAPTERS)
    if mapping is not None:
        extra = load_mapping(mapping)
        candidates = {extra.name: extra}
    matched = [a for a in candidates.values() if a.matches(header)]
    matched = adapters._most_specific(matched, header)
    return {
        "path": str(path),
        "kind": export.kind,
        "encoding": export.encoding,
        "compression": export.compression,
        "columns": header,
        "matches": [a.name for a in matched],
        "missing": {
            a.name: a.missing(header) for a in candidates.values() if not a.matches(header)
        },
    }


def cmd_formats(args: argparse.Namespace, settings: Any) -> int:
    for adapter in adapters.ADAPTERS.values():
        signatures = " | ".join(", ".join(sorted(s)) for s in adapter.signatures)
        print(f"{adapter.name}\t{adapter.title}\n\trequired columns: {signatures}")
    print("any other city: stat311 ingest PATH --mapping city.yaml (see docs/FORMATS.md)")
    return 0


def cmd_inspect(args: argparse.Namespace, settings: Any) -> int:
    import json

    info = inspect_file(args.path, mapping=args.mapping)
    if args.json:
        print(json.dumps(info))
        return 0 if info["matches"] else 2
    print(
        f"{info['path']}: {info['kind']} ({info['compression']}, {info['encoding']}), "
        f"{len(info['columns'])} columns"
    )
    if len(info["matches"]) == 1:
        print(f"matches format: {info['matches'][0]}")
        return 0
    if info["matches"]:
        print(f"matches several formats: {', '.join(info['matches'])}; use --format")
        return 0
    print("matches no known format; missing columns per format:")
    for name, missing in sorted(info["missing"].items(), key=lambda kv: len(kv[1])):
        print(f"  {name}: {', '.join(missing)}")
    print(f"columns found: {', '.join(info['columns'])}")
    return 2


def add_subparsers(sub: Any) -> None:
    """``stat311 formats`` and ``stat311 inspect PATH``."""
    p = sub.add_parser("formats", help="list the known export formats and their columns")
    p.set_defaults(func=cmd_formats)
    p = sub.add_parser(
        "inspect",
        help="say which format a file matches, or which columns it lacks",
        description="Read a file's header (CSV, TSV, gzip, zip, Open311 JSON/XML) and say which "
        "format it matches, or for every format which required columns are missing.",
    )
    p.add_argument("path", help="the export file")
    p.add_argument("--mapping", help="check against this YAML mapping instead of the built-ins")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_inspect)
