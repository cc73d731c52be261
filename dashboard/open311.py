"""The Open311 GeoReport v2 read API, under ``/open311/v2/`` (a Flask blueprint).

Endpoints (``{fmt}`` is ``json`` or ``xml``): ``discovery.{fmt}``, ``services.{fmt}``,
``services/{code}.{fmt}``, ``requests.{fmt}``, ``requests/{id}.{fmt}`` and the OpenAPI document
``openapi.json``; the base URL itself redirects to ``discovery.json``. Fields and filters
follow http://wiki.open311.org/GeoReport_v2, with the extensions other cities use (``page``,
``page_size``, ``bbox``, ``updated_after``, ``updated_before``, ``extensions=true``);
``docs/OPEN311.md`` documents them with examples.

This module only parses parameters and writes JSON/XML: the data, and every privacy rule, come
from :class:`dashboard.public.PublicData`. A malformed parameter is a 400 with the spec's
``errors`` body and a message saying what to send instead; nothing here answers a 500 on purpose.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from dashboard.public import (
    DEFAULT_LIMIT,
    MAX_ID_LENGTH,
    MAX_IDS,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    MAX_WINDOW_DAYS,
    PublicData,
    RequestQuery,
)
from dashboard.redact import xml_safe

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
MAX_CODES = 100

#: The spec's request fields, in the spec's order.
REQUEST_FIELDS = (
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
)


class ApiError(Exception):
    """An answer other than 200, with the spec's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- parameters ------------------------------------------------------------------------------------
# The rules below are the OpenAPI document's, word for word: what the document calls valid is
# accepted, everything else is a 400 (schemathesis checks both ways).
_DATE_TIME = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$"
)
_EXAMPLE_TIME = "2011-07-01T00:00:00-04:00"
#: The years a time parameter may name (311 records are from this century).
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
STATUS_PATTERN = r"^(open|closed)(,(open|closed))?$"
_NUMBER = r"-?[0-9]{1,3}(\.[0-9]+)?"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"
MAX_PAGE = 1000
#: Longest service_request_id / service_code list (characters).
MAX_IDS_LENGTH = MAX_IDS * (MAX_ID_LENGTH + 1)
MAX_CODES_LENGTH = MAX_CODES * 201


def parse_datetime(name: str, raw: str) -> datetime:
    """An RFC 3339 date and time **with a zone** (ISO-8601 profile), as an aware UTC datetime."""
    match = _DATE_TIME.match(raw)
    problem = (
        f"{name} must be an ISO-8601 date and time with a time zone, "
        f"e.g. {_EXAMPLE_TIME} or 2011-07-01T04:00:00Z (got {raw[:40]!r})"
    )
    if match is None:
        if _DATE_TIME.match(raw.replace(" ", "+")):
            # "+05:30" sent unencoded: a "+" in a query string is a space.
            problem += "; a + in a URL must be sent as %2B"
        raise ApiError(400, problem)
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, om = match.groups()
    try:
        offset = timedelta(0)
        if not zulu:
            if int(oh) > 23 or int(om) > 59:
                raise ValueError("offset")
            offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
        if int(second) > 60:
            raise ValueError("second")
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),  # a leap second counts as :59
            micro,
            tzinfo=timezone(offset),
        )
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, problem) from None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        # (a year 1 or 9999 also overflows the default 90-day window around it)
        raise ApiError(
            400, f"{name} must be from year {EARLIEST_YEAR} to {LATEST_YEAR} (got {raw[:40]!r})"
        )
    return value


def _list(name: str, raw: str | None, *, most: int, longest: int, total: int) -> tuple[str, ...]:
    if raw is None:
        return ()
    if len(raw) > total:
        raise ApiError(400, f"{name} is too long ({len(raw):,} characters; at most {total:,})")
    values = tuple(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    if not values:
        # An empty value is malformed, not absent: "service_request_id=" must not list everything.
        raise ApiError(400, f"{name} must name at least one value (got {raw[:40]!r})")
    if len(values) > most:
        raise ApiError(400, f"{name} lists {len(values)} values; at most {most} are allowed")
    if any(len(v) > longest for v in values):
        raise ApiError(400, f"{name} values must be at most {longest} characters long")
    return values


def _int(name: str, raw: str | None, *, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise ApiError(
            400, f"{name} must be a whole number from {low} to {high} (got {raw[:40]!r})"
        )
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high} (got {value})")
    return value


def _bool(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    if raw in {"true", "false"}:
        return raw == "true"
    raise ApiError(400, f"{name} must be true or false (got {raw[:40]!r})")


def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    if not re.fullmatch(BBOX_PATTERN, raw):
        raise ApiError(
            400,
            "bbox must be minLng,minLat,maxLng,maxLat in decimal degrees, e.g. "
            f"-71.08,42.34,-71.05,42.37 (got {raw[:60]!r})",
        )
    min_lon, min_lat, max_lon, max_lat = (float(p) for p in raw.split(","))
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ApiError(
            400,
            "bbox must have minLng <= maxLng within -180..180 and minLat <= maxLat within "
            f"-90..90 (got {raw[:60]!r})",
        )
    return min_lon, min_lat, max_lon, max_lat


def _statuses(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not re.fullmatch(STATUS_PATTERN, raw):
        raise ApiError(400, f"status must be open, closed or open,closed (got {raw[:40]!r})")
    return tuple(dict.fromkeys(raw.split(",")))


#: Parameters the spec lets a client declare "multiple times, comma delimited": repeated, their
#: values are joined with commas (``status=open&status=closed`` is ``status=open,closed``).
LIST_PARAMETERS = ("service_request_id", "service_code", "status")
#: Parameters that take one value: given twice, the answer is a 400 (not the first one's).
SINGLE_PARAMETERS = (
    "start_date",
    "end_date",
    "updated_after",
    "updated_before",
    "bbox",
    "page",
    "page_size",
    "extensions",
)


def query_values(args: Mapping[str, str]) -> dict[str, str]:
    """One value per parameter: a list parameter given more than once is joined with commas, a
    single-valued one given more than once is a 400 (others are left as the first value)."""
    getlist = getattr(args, "getlist", None)
    if getlist is None:  # a plain mapping has one value per name
        return dict(args)
    out: dict[str, str] = {}
    for name in args:
        values: list[str] = getlist(name)
        if len(values) > 1 and name in LIST_PARAMETERS:
            out[name] = ",".join(dict.fromkeys(values))
        elif len(values) > 1 and name in SINGLE_PARAMETERS:
            raise ApiError(400, f"{name} was given {len(values)} times; give it once")
        else:
            out[name] = values[0]
    return out


def parse_request_query(args: Mapping[str, str], data: PublicData) -> RequestQuery:
    """The query string of ``requests.{fmt}``, validated (ApiError 400 otherwise). A parameter
    given with an empty value is malformed, not absent."""
    args = query_values(args)
    ids = _list(
        "service_request_id",
        args.get("service_request_id"),
        most=MAX_IDS,
        longest=MAX_ID_LENGTH,
        total=MAX_IDS_LENGTH,
    )
    codes = _list(
        "service_code",
        args.get("service_code"),
        most=MAX_CODES,
        longest=200,
        total=MAX_CODES_LENGTH,
    )
    statuses = _statuses(args.get("status"))
    page_size = _int("page_size", args.get("page_size"), low=1, high=MAX_PAGE_SIZE, default=0)
    limit = page_size or DEFAULT_LIMIT
    page = _int("page", args.get("page"), low=1, high=MAX_PAGE, default=1)
    if (page - 1) * limit > MAX_OFFSET:
        raise ApiError(
            400,
            f"page {page} is too deep: at most {MAX_OFFSET:,} requests can be skipped; narrow "
            "the dates instead",
        )
    times = {
        name: parse_datetime(name, args[name])
        for name in ("start_date", "end_date", "updated_after", "updated_before")
        if name in args
    }
    start, end = times.get("start_date"), times.get("end_date")
    window = timedelta(days=MAX_WINDOW_DAYS)
    if start is not None and end is not None:
        if end < start:
            raise ApiError(400, "end_date must not be before start_date")
        if end - start > window:
            raise ApiError(
                400,
                f"start_date and end_date may be at most {MAX_WINDOW_DAYS} days apart "
                f"(they are {(end - start).days} days apart)",
            )
    elif start is not None:
        end = start + window
    elif end is not None:
        start = end - window
    elif "updated_after" not in times and "updated_before" not in times and not ids:
        # The spec's default: the last 90 days -- up to the newest request in the data, so a
        # feed that stopped updating still answers with its last 90 days.
        end = data.latest_requested() or datetime.now(UTC)
        start = end - window
    after, before = times.get("updated_after"), times.get("updated_before")
    if after is not None and before is not None and before < after:
        raise ApiError(400, "updated_before must not be before updated_after")
    return RequestQuery(
        ids=ids,
        service_codes=codes,
        statuses=statuses,
        start=start,
        end=end,
        updated_after=after,
        updated_before=before,
        bbox=_bbox(args.get("bbox")),
        page=page,
        page_size=limit,
        extensions=_bool("extensions", args.get("extensions")),
    )


# -- output ----------------------------------------------------------------------------------------
def _time(value: datetime | None, data: PublicData) -> str | None:
    if value is None:
        return None
    return value.astimezone(data.tz).isoformat(timespec="seconds")


def spec_request(record: Mapping[str, Any], data: PublicData, *, extensions: bool) -> dict:
    """One public case in the spec's fields (and ``extended_attributes`` when asked)."""
    out: dict[str, Any] = {
        "service_request_id": record["request_id"],
        "status": record["status"],
        "status_notes": record["status_notes"],
        "service_name": record["service_name"],
        "service_code": record["service_code"],
        "description": record["description"],
        "agency_responsible": record["department"],
        "service_notice": record["service_notice"],
        "requested_datetime": _time(record["requested_at"], data),
        "updated_datetime": _time(record["updated_at"], data),
        "expected_datetime": _time(record["expected_at"], data),
        "address": record["address"],
        "address_id": None,
        "zipcode": record["zipcode"],
        "lat": record["lat"],
        "long": record["lon"],
        "media_url": None,
    }
    if extensions:
        out["extended_attributes"] = {
            "department": record["department"],
            "channel": record["channel"],
            "service_group": record["service_group"],
            "closed_datetime": _time(record["closed_at"], data),
            "location_precision": record["location_precision"],
            "duplicate_of": record["duplicate_of"],
            "areas": dict(record["areas"]),
        }
    return out


def spec_service(service: Mapping[str, Any]) -> dict:
    parts = [f"{service['service_name']}"]
    if service.get("group") and service["group"] != service["service_name"]:
        parts.append(f"({service['group']})")
    description = " ".join(parts)
    if service.get("department"):
        description += f", handled by {service.get('department_label') or service['department']}"
    if service.get("service_notice"):
        description += f". {service['service_notice']}"
    return {
        "service_code": service["service_code"],
        "service_name": service["service_name"],
        "description": description + ".",
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": service.get("group"),
    }


def _xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_safe(str(value))


def _xml_fill(parent: ET.Element, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if key == "areas" and isinstance(value, Mapping):
            areas = ET.SubElement(parent, "areas")
            for layer, area in value.items():
                ET.SubElement(areas, "area", layer=_xml_text(layer)).text = _xml_text(area)
        elif isinstance(value, Mapping):
            _xml_fill(ET.SubElement(parent, key), value)
        elif isinstance(value, list | tuple):
            holder = ET.SubElement(parent, key)
            for item in value:
                child = ET.SubElement(holder, key[:-1] if key.endswith("s") else "item")
                if isinstance(item, Mapping):
                    _xml_fill(child, item)
                else:
                    child.text = _xml_text(item)
        else:
            ET.SubElement(parent, key).text = _xml_text(value)


def to_xml(root: str, item: str | None, payload: Any) -> bytes:
    """``<root><item>...</item>...</root>`` for a list, ``<root>...</root>`` for a mapping."""
    element = ET.Element(root)
    if item is None:
        _xml_fill(element, payload)
    else:
        for entry in payload:
            _xml_fill(ET.SubElement(element, item), entry)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def respond(payload: Any, fmt: str, *, root: str, item: str | None, status: int = 200):
    if fmt == "xml":
        body = to_xml(root, item, payload)
        return flask.Response(body, status=status, content_type="text/xml; charset=utf-8")
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    return flask.Response(body, status=status, content_type="application/json; charset=utf-8")


def error_response(status: int, message: str, fmt: str = "json"):
    errors = [{"code": status, "description": message}]
    response = respond(errors, fmt, root="errors", item="error", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _split(name: str) -> tuple[str, str]:
    """``"abc.json"`` -> ``("abc", "json")``; a missing or unknown format is a 400."""
    stem, dot, fmt = name.rpartition(".")
    if not dot:
        raise ApiError(400, "add a format to the URL: .json or .xml")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ApiError(400, f"unknown format {fmt[:20]!r}: use .json or .xml")
    return stem, fmt


def _format_of(path: str) -> str:
    return "xml" if path.lower().endswith(".xml") else "json"


# -- the blueprint ----------------------------------------------------------------------------------
def make_blueprint(data: PublicData) -> flask.Blueprint:
    """A new blueprint (one per server) answering from ``data``."""
    bp = flask.Blueprint("open311", __name__, url_prefix=PREFIX)

    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.message, _format_of(flask.request.path))

    @bp.after_request
    def _headers(response: flask.Response) -> flask.Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "public, max-age=60")
        if response.mimetype in {"text/xml", "application/json"}:
            response.headers["Content-Type"] = f"{response.mimetype}; charset=utf-8"
        return response

    @bp.get("/discovery.<fmt>")
    def discovery(fmt: str):
        _, fmt = _split(f"discovery.{fmt}")
        base = flask.request.url_root.rstrip("/") + PREFIX
        changeset = _changeset(data)
        payload = {
            "changeset": changeset,
            "contact": "See the city's 311 web site; this API publishes no personal data.",
            "key_service": "No API key is needed. Requests are rate limited per client.",
            "endpoints": [
                {
                    "specification": SPEC_URL,
                    "url": base,
                    "changeset": changeset,
                    "type": "production",
                    "formats": list(FORMATS.values()),
                }
            ],
        }
        return respond(payload, fmt, root="discovery", item=None)

    @bp.get("/services.<fmt>")
    def services(fmt: str):
        _, fmt = _split(f"services.{fmt}")
        payload = [spec_service(s) for s in data.services()]
        return respond(payload, fmt, root="services", item="service")

    @bp.get("/services/<path:name>")
    def service_definition(name: str):
        code, fmt = _split(name)
        service = data.service(code)
        if service is None:
            raise ApiError(404, f"no service with service_code {code[:100]!r}")
        payload = {"service_code": service["service_code"], "attributes": []}
        return respond(payload, fmt, root="service_definition", item=None)

    @bp.get("/requests.<fmt>")
    def requests_list(fmt: str):
        _, fmt = _split(f"requests.{fmt}")
        query = parse_request_query(flask.request.args, data)
        records = data.find_requests(query)
        payload = [spec_request(r, data, extensions=query.extensions) for r in records]
        return respond(payload, fmt, root="service_requests", item="request")

    @bp.get("/requests/<path:name>")
    def request_one(name: str):
        request_id, fmt = _split(name)
        extensions = _bool("extensions", query_values(flask.request.args).get("extensions"))
        records = data.lookup_all(request_id, areas=extensions)
        if not records:
            # Unknown and private cases answer alike.
            raise ApiError(404, f"no service request {request_id[:MAX_ID_LENGTH]!r}")
        # GeoReport answers with a list: every source's case with this number.
        payload = [spec_request(r, data, extensions=extensions) for r in records]
        return respond(payload, fmt, root="service_requests", item="request")

    @bp.get("/")
    def base():
        # The base URL (``/open311/v2``, as discovery names it, is werkzeug's 308 to here): the
        # endpoints are listed by discovery. No query string; the app's URL prefix is kept.
        return flask.redirect(flask.url_for(".discovery", fmt="json"), code=302)

    @bp.get("/<path:anything>")
    def unknown(anything: str = ""):
        raise ApiError(
            404,
            "no such endpoint: see discovery.json (services.json, requests.json, "
            "requests/{id}.json, services/{code}.json; .xml works too)",
        )

    @bp.get("/openapi.json")
    def openapi():
        return flask.Response(json.dumps(openapi_document(), indent=1), mimetype="application/json")

    return bp


def _changeset(data: PublicData) -> str:
    try:
        created = data.read_model.manifest().get("created_at")
    except Exception:  # no snapshot yet
        created = None
    return created or datetime.now(UTC).isoformat(timespec="seconds")


def install_error_handlers(server: flask.Flask) -> None:
    """Errors under ``/open311/`` (unknown paths, wrong methods, the rate limit, a crash) answer
    with the spec's ``errors`` body; everywhere else Flask's own answer is kept."""

    def _other_version(anything: str = ""):
        return error_response(
            404,
            f"this server speaks GeoReport v2 only: see {PREFIX}/",
            _format_of(flask.request.path),
        )

    # Without these, the staff app's catch-all route would answer /open311/v3/... with its page.
    server.add_url_rule("/open311/", "open311_root_slash", _other_version)
    server.add_url_rule("/open311/<path:anything>", "open311_other", _other_version)

    @server.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        path = flask.request.path
        if not path.startswith("/open311"):
            return exc
        status = exc.code or 500
        if status == 429:
            message = f"Too many requests: the limit is {exc.description}. Try again later."
        elif status == 404:
            message = (
                "no such endpoint: see discovery.json (services.json, requests.json, "
                "requests/{id}.json, services/{code}.json; .xml works too)"
            )
        elif status == 405:
            message = "this API is read-only: use GET"
        elif status >= 500:
            log.exception(
                "Open311 error on %s", path, exc_info=getattr(exc, "original_exception", exc)
            )
            message = "the server could not answer this request"
        else:
            message = exc.description or exc.name
        response = error_response(status, message, _format_of(path))
        response.headers["Access-Control-Allow-Origin"] = "*"
        if status == 405 and exc.get_headers():
            for key, value in exc.get_headers():
                if key.lower() == "allow":
                    response.headers["Allow"] = value
        return response


# -- OpenAPI -----------------------------------------------------------------------------------------
def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


_REQUEST_SCHEMA = {
    "type": "object",
    "required": list(REQUEST_FIELDS),
    "properties": {
        "service_request_id": {"type": "string", "description": "The tracking number."},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": _nullable(
            "string", description="Written from the status, never staff notes."
        ),
        "service_name": _nullable("string"),
        "service_code": _nullable("string"),
        "description": _nullable(
            "string",
            description="The request's text after redaction of personal data (e-mails, phone "
            "numbers, names, licence plates, flat numbers, dates of birth, ages, links with a "
            "query); null for sensitive request types.",
        ),
        "agency_responsible": _nullable("string", description="The department code."),
        "service_notice": _nullable("string", description="The SLA policy's time frame."),
        "requested_datetime": _nullable("string", format="date-time"),
        "updated_datetime": _nullable("string", format="date-time"),
        "expected_datetime": _nullable(
            "string", format="date-time", description="The SLA due time."
        ),
        "address": _nullable(
            "string", description="Without the house number unless the type is exact."
        ),
        "address_id": _nullable("string"),
        "zipcode": _nullable("string"),
        "lat": _nullable("number", minimum=-90, maximum=90),
        "long": _nullable("number", minimum=-180, maximum=180),
        "media_url": _nullable("string"),
        "extended_attributes": {
            "type": "object",
            "description": "Only with extensions=true.",
            "properties": {
                "department": _nullable("string"),
                "channel": _nullable("string"),
                "service_group": _nullable("string"),
                "closed_datetime": _nullable("string", format="date-time"),
                "location_precision": {"type": "string", "enum": ["exact", "cell", "none"]},
                "duplicate_of": _nullable("string"),
                "areas": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}
_SERVICE_SCHEMA = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": _nullable("string"),
        "metadata": {"type": "boolean"},
        "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
        "keywords": _nullable("string"),
        "group": _nullable("string"),
    },
}
_DEFINITION_SCHEMA = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {"type": "array", "items": {"type": "object"}},
    },
}
_DISCOVERY_SCHEMA = {
    "type": "object",
    "required": ["changeset", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["specification", "url", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "changeset": {"type": "string"},
                    "type": {"type": "string"},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_ERRORS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}


def _content(fmt: str, schema: dict[str, Any]) -> dict[str, Any]:
    if fmt == "json":
        return {"application/json": {"schema": schema}}
    return {"text/xml": {"schema": {"type": "string"}}}


def _responses(fmt: str, ok: dict[str, Any], *, codes: Sequence[int] = (400,)) -> dict:
    described = {400: "A malformed parameter.", 404: "Not found (or not public)."}
    out: dict[str, Any] = {"200": {"description": "OK", "content": _content(fmt, ok)}}
    for code in codes:
        out[str(code)] = {"description": described[code], "content": _content(fmt, _ERRORS_SCHEMA)}
    out["429"] = {
        "description": "Over the rate limit; Retry-After says when to try again.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
        "content": _content(fmt, _ERRORS_SCHEMA),
    }
    return out


def _time_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + f" ISO-8601 with a time zone, e.g. {_EXAMPLE_TIME}.",
        "schema": {"type": "string", "format": "date-time"},
    }


_LIST_PARAMS = [
    {
        "name": "service_request_id",
        "in": "query",
        "description": f"Comma-separated tracking numbers (at most {MAX_IDS}); overrides "
        "every other filter.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDS_LENGTH},
    },
    {
        "name": "service_code",
        "in": "query",
        "description": f"Comma-separated service codes (at most {MAX_CODES}).",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CODES_LENGTH},
    },
    _time_param("start_date", "Earliest requested time."),
    _time_param(
        "end_date", f"Latest requested time (at most {MAX_WINDOW_DAYS} days after start_date)."
    ),
    {
        "name": "status",
        "in": "query",
        "description": "open, closed or both, comma-separated.",
        "schema": {"type": "string", "pattern": STATUS_PATTERN},
    },
    {
        "name": "page",
        "in": "query",
        "description": "Page number, from 1.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
    {
        "name": "page_size",
        "in": "query",
        "description": f"Requests per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_LIMIT:,}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    },
    {
        "name": "bbox",
        "in": "query",
        "description": "minLng,minLat,maxLng,maxLat: requests whose published point is inside.",
        "schema": {
            "type": "string",
            "pattern": BBOX_PATTERN,
        },
    },
    _time_param("updated_after", "Last updated at or after."),
    _time_param("updated_before", "Last updated at or before."),
    {
        "name": "extensions",
        "in": "query",
        "description": "true adds extended_attributes (department, channel, area names...).",
        "schema": {"type": "boolean"},
    },
]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 description of this API (served at ``openapi.json``)."""
    request_list = {"type": "array", "items": _REQUEST_SCHEMA}
    paths: dict[str, Any] = {
        "/discovery.json": {
            "get": {
                "summary": "Where the API is and which formats it speaks.",
                "operationId": "discovery",
                "responses": _responses("json", _DISCOVERY_SCHEMA, codes=()),
            }
        }
    }
    for fmt in FORMATS:
        code_param = {
            "name": "service_code",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
        id_param = {
            "name": "service_request_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        }
        extensions = next(p for p in _LIST_PARAMS if p["name"] == "extensions")
        paths[f"/services.{fmt}"] = {
            "get": {
                "summary": "The request types (services).",
                "operationId": f"services_{fmt}",
                "responses": _responses(fmt, {"type": "array", "items": _SERVICE_SCHEMA}, codes=()),
            }
        }
        paths[f"/services/{{service_code}}.{fmt}"] = {
            "get": {
                "summary": "One service's definition (no extra attributes are needed).",
                "operationId": f"service_definition_{fmt}",
                "parameters": [code_param],
                "responses": _responses(fmt, _DEFINITION_SCHEMA, codes=(400, 404)),
            }
        }
        paths[f"/requests.{fmt}"] = {
            "get": {
                "summary": "Service requests, newest first. Default: the last 90 days of data.",
                "operationId": f"requests_{fmt}",
                "parameters": _LIST_PARAMS,
                "responses": _responses(fmt, request_list, codes=(400,)),
            }
        }
        paths[f"/requests/{{service_request_id}}.{fmt}"] = {
            "get": {
                "summary": "One service request by its tracking number.",
                "operationId": f"request_{fmt}",
                "parameters": [id_param, extensions],
                "responses": _responses(fmt, request_list, codes=(400, 404)),
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "stat311 Open311 GeoReport v2 (read)",
            "version": "2",
            "description": "Public 311 service requests with no personal data. "
            "See docs/OPEN311.md.",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
    }
