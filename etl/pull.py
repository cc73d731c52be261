"""Live pulls: an Open311 GeoReport v2 endpoint or a Socrata (SODA) dataset, page by page.

Each fetched page is parsed in full (a truncated or invalid page fails before anything is loaded),
written to a temporary JSON file and loaded with :func:`etl.load.load_file` (``snapshot=False``), so
it goes through the same validation and quarantine as a file, in one transaction per page. The
read-model snapshot is written once at the end (also after a failure, if any page was loaded).

Pull state lives in the ``ingestion_runs`` table, no schema change: the run of each loaded page has
its ``path`` set to ``pull:<kind> <key> ...`` holding the URL and the window (Open311) or the
updated-field watermark (Socrata). A re-run resumes from the last complete window / watermark.

HTTP: the standard library only. 429 waits for ``Retry-After``; 5xx, timeouts, dropped connections
and truncated JSON are retried with exponential back-off within a bounded budget; then the pull fails
with a one-line message (exit code 1) and keeps the pages loaded so far.

Settings (dashboard/settings.py): ``STAT311_SOCRATA_APP_TOKEN`` (sent as ``X-App-Token``) and
``STAT311_SOURCES_FILE`` (the YAML file of ``stat311 refresh``).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from dashboard import schema
from dashboard.argtypes import source_name
from dashboard.errors import ConfigError, InputFileError, Stat311Error
from dashboard.settings import Settings
from dashboard.store import Store

log = logging.getLogger(__name__)

APP_TOKEN_ENV = "STAT311_SOCRATA_APP_TOKEN"
SOURCES_FILE_ENV = "STAT311_SOURCES_FILE"
USER_AGENT = "stat311-pull/1"
SOCRATA_FORMATS = ("nyc", "chicago", "sf")
#: the largest response body read (a page larger than this is refused, not loaded)
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class PullError(Stat311Error):
    """A live pull failed (the server, the network, or a bad page). Pages loaded before stay."""

    exit_code = 1


REPULL_HELP = (
    "with --since: start there even where an earlier pull already went (re-pull a period, e.g. "
    "to pick up late updates); without it a later resume point wins"
)


# -- HTTP -------------------------------------------------------------------------------------
@dataclass
class Http:
    """GET JSON with retries. ``retries`` is the number of extra attempts per request."""

    timeout: float = 60.0
    retries: int = 5
    backoff: float = 1.0  # first 5xx/timeout wait, doubled each time
    max_wait: float = 300.0  # cap on any one wait (Retry-After included)
    headers: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    max_bytes: int = MAX_RESPONSE_BYTES  # a larger body is refused (not retried)

    def get_json(self, url: str, params: Mapping[str, Any]) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        full = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        attempt = 0
        while True:
            attempt += 1
            problem, wait = self._once(full)
            if isinstance(problem, _Body):
                return problem.data
            if attempt > self.retries:
                attempts = f"{attempt} attempt{'' if attempt == 1 else 's'}"
                raise PullError(
                    f"GET {full}: {problem} (gave up after {attempts}; pages loaded "
                    "before this are kept, re-run to resume)"
                )
            if wait is None:
                wait = self.backoff * 2 ** (attempt - 1)
            wait = min(wait, self.max_wait)
            log.warning(
                "GET %s: %s; retry %d/%d in %.1f s", full, problem, attempt, self.retries, wait
            )
            self.sleep(wait)

    def _once(self, url: str) -> tuple[Any, float | None]:
        """``(_Body, None)`` on success, else ``(problem text, wait or None)``; raises PullError
        for a failure a retry cannot fix (4xx other than 429, not JSON at all)."""
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": USER_AGENT, **self.headers}
        )
        # Redirects are followed only on the same host (and never from https to http): the
        # headers (the app token among them) would otherwise be sent to another server.
        opener = urllib.request.build_opener(_SameHostRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                body = self._read(url, response)
        except urllib.error.HTTPError as exc:
            status = exc.code
            if status == 429:
                return "HTTP 429 Too Many Requests", _retry_after(exc.headers.get("Retry-After"))
            if status >= 500:
                return f"HTTP {status} {exc.reason}", None
            detail = _error_detail(exc)
            raise PullError(f"GET {url}: HTTP {status} {exc.reason}{detail}") from None
        except TimeoutError:
            return f"timed out after {self.timeout:g} s", None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return f"timed out after {self.timeout:g} s", None
            return f"cannot connect ({exc.reason})", None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            return f"connection broken ({type(exc).__name__}: {exc})", None
        try:
            data = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"the response is not valid JSON (truncated?) ({exc})", None
        error = _error_list(data)
        if error:  # "200 OK" with an Open311 error list: the server's error, retried as a 5xx
            return f"the server answered with an error: {error}", None
        return _Body(data), None

    def _read(self, url: str, response: Any) -> bytes:
        """The whole body, at most ``max_bytes`` (else a PullError: a retry would get the same);
        a body shorter than its Content-Length raises IncompleteRead (retried)."""
        too_big = PullError(
            f"GET {url}: the response is larger than {self.max_bytes:,} bytes; nothing of it "
            "was loaded (ask for smaller pages)"
        )
        length = response.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > self.max_bytes:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > self.max_bytes:
                raise too_big
            chunks.append(chunk)
        body = b"".join(chunks)
        if getattr(response, "length", None):  # read(n) does not raise on a short body
            raise http.client.IncompleteRead(body, response.length)
        return body


class _SameHostRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(newurl)
        same_host = (new.hostname or "").lower() == (old.hostname or "").lower()
        downgrade = old.scheme.lower() == "https" and new.scheme.lower() != "https"
        if not same_host or downgrade:
            fp.close()
            where = f"{new.scheme}://{new.hostname or '?'}"
            raise PullError(
                f"GET {req.full_url}: HTTP {code} redirects to {where}, which is not "
                f"{old.scheme}://{old.hostname}; not followed (nothing was loaded from it)"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class _Body:
    data: Any


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(300).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - only for the message
        return ""
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""


# -- checking options -------------------------------------------------------------------------
def check_http_url(value: str, what: str = "URL") -> str:
    """``value`` if it is an http or https URL with a host; else a ConfigError (exit code 2)."""
    text = str(value).strip()
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{what} {value!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ConfigError(f"{what} {value!r} is not an http:// or https:// URL with a host")
    return text


def check_domain(value: str) -> str:
    """A bare host name such as ``data.cityofnewyork.us`` (no scheme, no path)."""
    text = str(value).strip()
    if not text or "/" in text or any(c.isspace() for c in text):
        raise ConfigError(
            f"domain {value!r} is not a host name (e.g. data.cityofnewyork.us, without https://)"
        )
    check_http_url(f"https://{text}", "domain")
    return text


def _number(kind: type, low: float, *, inclusive: bool) -> Callable[[str], Any]:
    """An argparse ``type=``: an int or float at least (or above) ``low``."""
    bound = f">= {low:g}" if inclusive else f"> {low:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if value != value or (value < low if inclusive else value <= low):  # NaN is refused too
            raise argparse.ArgumentTypeError(f"must be {bound}: {text!r}")
        return value

    parse.__name__ = f"{kind.__name__} {bound}"
    return parse


at_least_one = _number(int, 1, inclusive=True)
zero_or_more = _number(int, 0, inclusive=True)
positive_seconds = _number(float, 0, inclusive=False)
seconds_or_zero = _number(float, 0, inclusive=True)


def _positive_option(item: Mapping[str, Any], key: str, default: int, where: str) -> int:
    raw = item.get(key, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} {raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{where}: {key} must be >= 1, not {raw!r}")
    return value


# -- times ------------------------------------------------------------------------------------
def parse_since(value: str) -> datetime:
    """An ISO date or date-time; naive means UTC."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {value!r}: not an ISO date or date-time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- loading pages and the state --------------------------------------------------------------
@dataclass
class PullReport:
    label: str
    pages: int = 0
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    resumed_from: str | None = None

    def add(self, report: Any) -> None:
        self.pages += 1
        self.read += report.read
        self.inserted += report.inserted
        self.updated += report.updated
        self.unchanged += report.unchanged
        self.quarantined += report.quarantined_total

    def summary(self) -> str:
        start = f" (resumed from {self.resumed_from})" if self.resumed_from else ""
        return (
            f"{self.label}{start}: {self.pages} pages, read {self.read:,}: "
            f"{self.inserted:,} inserted, {self.updated:,} updated, {self.unchanged:,} unchanged, "
            f"{self.quarantined:,} quarantined"
        )


def _error_list(data: Any) -> str:
    """The errors of an Open311 error answer (``[{"code": 503, "description": "..."}]``, which
    some servers send with status 200), as text; "" for anything else (rows, an empty page)."""
    if not isinstance(data, list) or not data:
        return ""
    if not all(
        isinstance(r, dict) and set(r) <= {"code", "description"} and "code" in r for r in data
    ):
        return ""
    return "; ".join(f"{r.get('code')} {r.get('description') or ''}".strip() for r in data)[:300]


#: A page is loaded from a file in a temporary directory named after the pulling process
#: (``stat311-pull-<pid>-<random>``): a pull killed with SIGKILL cannot remove its own, and the
#: next pull on the machine removes those of processes that are gone, once they are an hour old
#: (a page loads in seconds; the age also spares a directory of a process in another PID
#: namespace sharing the temporary directory, whose id means nothing here).
PAGE_DIR_PREFIX = "stat311-pull-"
STALE_PAGE_DIR_S = 3600.0


def _page_dir_pid(name: str) -> int | None:
    """The process id in a page directory's name; None for any other name."""
    pid, sep, _ = name.removeprefix(PAGE_DIR_PREFIX).partition("-")
    return int(pid) if name.startswith(PAGE_DIR_PREFIX) and sep and pid.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_page_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the page directories that pulls no longer running left in ``parent`` (the
    system's temporary directory by default): this user's, named with a process id that is not
    running, last changed more than :data:`STALE_PAGE_DIR_S` ago. Returns those removed."""
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    for path in sorted(parent.glob(PAGE_DIR_PREFIX + "*")):
        pid = _page_dir_pid(path.name)
        if pid is None or pid == os.getpid() or _running(pid):
            continue
        try:
            info = path.lstat()
            if (
                not path.is_dir()
                or path.is_symlink()
                or info.st_uid != os.getuid()
                or time.time() - info.st_mtime < STALE_PAGE_DIR_S
            ):
                continue
        except OSError:  # gone meanwhile
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info(
            "removed %d page director%s left by pulls that were killed: %s",
            len(removed),
            "y" if len(removed) == 1 else "ies",
            ", ".join(str(p) for p in removed),
        )
    return removed


@functools.cache
def _remove_stale_page_dirs_once() -> None:
    remove_stale_page_dirs()


def _load_page(
    records: list[dict[str, Any]],
    *,
    store: Store,
    settings: Settings,
    format: str,
    source: str | None,
    label: str,
) -> Any:
    """Load one fully parsed page (one transaction) and label its run with ``label``."""
    from etl.load import load_file

    _remove_stale_page_dirs_once()
    with tempfile.TemporaryDirectory(prefix=f"{PAGE_DIR_PREFIX}{os.getpid()}-") as tmp:
        path = Path(tmp) / "page.json"
        path.write_text(json.dumps(records), encoding="utf-8")
        try:
            report = load_file(
                path,
                store=store,
                settings=settings,
                format=format,
                source=source,
                progress=False,
                snapshot=False,
            )
        except InputFileError as exc:
            # Name the page, not the temporary file it was loaded from; a server's bad page is
            # the server's failure (exit code 1), not a bad option (2).
            reason = str(exc).removeprefix(f"{path}: ")
            raise PullError(
                f"{label}: the page cannot be loaded: {reason} (nothing of it was loaded; pages "
                "loaded before this are kept, re-run to resume)"
            ) from None
    _label_run(store, report.run_id, label)
    return report


def _label_run(store: Store, run_id: int, label: str) -> None:
    with store.transaction(exclusive=True) as conn:
        conn.execute(
            update(schema.ingestion_runs)
            .where(schema.ingestion_runs.c.id == run_id)
            .values(path=label)
        )


def _mark(store: Store, *, source: str, format: str, label: str) -> None:
    """A zero-row run recording pull state (a window that held no requests)."""
    now = Store.now()
    with store.transaction(exclusive=True) as conn:
        conn.execute(
            insert(schema.ingestion_runs).values(
                source=source,
                path=label,
                format=format,
                started_at=now,
                finished_at=now,
                read=0,
                inserted=0,
                updated=0,
                unchanged=0,
                quarantined=0,
                quarantine_reasons="{}",
                seconds=0.0,
            )
        )


def _labels(store: Store, prefix: str) -> Iterator[str]:
    """Run paths starting with ``prefix``, newest first."""
    c = schema.ingestion_runs.c
    query = select(c.path).where(c.path.startswith(prefix, autoescape=True)).order_by(c.id.desc())
    with store.connect() as conn:
        for (path,) in conn.execute(query):
            yield path


def _snapshot(store: Store, settings: Settings) -> None:
    from dashboard.snapshot import write_for

    write_for(store, settings)


# -- Open311 ----------------------------------------------------------------------------------
@dataclass
class Open311Pull:
    url: str  # the requests.json endpoint (or the API base: "/requests.json" is appended)
    jurisdiction: str | None = None
    since: datetime | None = None
    service_codes: tuple[str, ...] = ()
    source: str | None = None
    page_size: int = 100
    window_days: int = 90
    default_days: int = 90  # first pull without --since: this many days back
    #: ``pull --since`` on the command line: start there whatever was pulled before (a re-pull);
    #: a sources file's ``since`` is only where the first pull starts.
    since_wins: bool = False
    max_pages: int = 10_000  # per window, a guard against a server ignoring `page`

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.split("?")[0].endswith((".json", ".xml")) else f"{url}/requests.json"

    @property
    def key(self) -> str:
        parts = [f"pull:open311 {self.endpoint}"]
        if self.jurisdiction:
            parts.append(f"jurisdiction={self.jurisdiction}")
        if self.service_codes:
            parts.append(f"service_code={','.join(sorted(self.service_codes))}")
        return " ".join(parts) + " window="

    def resume_point(self, store: Store) -> datetime | None:
        best: datetime | None = None
        for label in _labels(store, self.key):
            match = re.search(r" window=\S+\.\.(\S+) .*complete$", label)
            if match:
                end = parse_since(match.group(1))
                best = end if best is None or end > best else best
        return best

    def start(self, store: Store, now: datetime) -> tuple[datetime, str | None]:
        resume = None if (self.since_wins and self.since) else self.resume_point(store)
        if resume is not None and (self.since is None or resume > self.since):
            return resume, _iso(resume)
        return self.since or now - timedelta(days=self.default_days), None

    def windows(self, start: datetime, now: datetime) -> Iterator[tuple[datetime, datetime]]:
        while start < now:
            end = min(start + timedelta(days=self.window_days), now)
            yield start, end
            start = end

    def run(
        self, *, store: Store, settings: Settings, http: Http, now: datetime | None = None
    ) -> PullReport:
        store.migrate()
        now = now or datetime.now(UTC).replace(microsecond=0)
        start, resumed = self.start(store, now)
        report = PullReport(label=f"open311 {self.endpoint}", resumed_from=resumed)
        source = self.source or "open311"
        try:
            for w_start, w_end in self.windows(start, now):
                window = f"{self.key}{_iso(w_start)}..{_iso(w_end)}"
                last_label: tuple[int, str] | None = None
                previous_ids: list[str] | None = None
                full = self.page_size  # rows in a full page (less if the server caps page_size)
                for page in range(1, self.max_pages + 1):
                    params = {
                        "start_date": _iso(w_start),
                        "end_date": _iso(w_end),
                        "page": page,
                        "page_size": self.page_size,
                        "jurisdiction_id": self.jurisdiction,
                        "service_code": ",".join(self.service_codes) or None,
                    }
                    data = http.get_json(self.endpoint, params)
                    records = _open311_records(data, self.endpoint)
                    if not records:
                        break
                    ids = [str(r.get("service_request_id", "")) for r in records]
                    if ids == previous_ids:
                        log.warning(
                            "%s: page %d repeats page %d; the server ignores `page`",
                            self.endpoint,
                            page,
                            page - 1,
                        )
                        break
                    previous_ids = ids
                    label = f"{window} page={page}"
                    loaded = _load_page(
                        records,
                        store=store,
                        settings=settings,
                        format="open311",
                        source=source,
                        label=label,
                    )
                    report.add(loaded)
                    last_label = (loaded.run_id, label)
                    if page == 1 and len(records) < full:
                        # fewer than asked: the last page, or the server's own largest page
                        # (many cap page_size); the next page tells (empty, or more rows)
                        full = len(records)
                    elif len(records) < full:
                        break
                if last_label is not None:
                    _label_run(store, last_label[0], f"{last_label[1]} complete")
                else:
                    _mark(store, source=source, format="open311", label=f"{window} page=0 complete")
        finally:
            if report.pages:
                _snapshot(store, settings)
        return report


def _open311_records(data: Any, url: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("requests", "service_requests"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise PullError(f"GET {url}: the response holds no list of requests")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise PullError(f"GET {url}: the response is not a list of request objects")
    return data


# -- Socrata ----------------------------------------------------------------------------------
@dataclass
class SocrataPull:
    domain: str
    dataset: str
    format: str
    since: datetime | None = None
    source: str | None = None
    base_url: str | None = None  # e.g. http://127.0.0.1:8000 (tests); default https://DOMAIN
    updated_field: str = ":updated_at"
    limit: int = 1000
    #: ``pull --since`` on the command line wins over the resume point (see Open311Pull).
    since_wins: bool = False

    @property
    def endpoint(self) -> str:
        base = (self.base_url or f"https://{self.domain}").rstrip("/")
        return f"{base}/resource/{self.dataset}.json"

    @property
    def key(self) -> str:
        return f"pull:socrata {self.endpoint} {self.updated_field}>="

    def resume_point(self, store: Store) -> str | None:
        found = [
            m.group(1)
            for lb in _labels(store, self.key)
            if (m := re.search(r" through=(\S+)$", lb))
        ]
        return max(found, default=None)

    def start(self, store: Store) -> tuple[str | None, str | None]:
        resume = None if (self.since_wins and self.since) else self.resume_point(store)
        since = self.since.strftime("%Y-%m-%dT%H:%M:%S") if self.since else None
        if resume is not None and (since is None or resume > since):
            return resume, resume
        return since, None

    def params(
        self, since: str | None, offset: int, after: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """The first page: ``field >= since``; the next ones start after the last row read
        (``after`` = its field value and ``:id``), so rows edited during the pull (they move to
        the end) cannot shift an unread row onto a page already read."""
        field_ = self.updated_field
        params: dict[str, Any] = {"$select": ":*, *"}  # :id is needed to page

        def quoted(text: str) -> str:
            return "'" + text.replace("'", "''") + "'"

        if after is not None:
            value, row_id = (quoted(x) for x in after)
            params["$where"] = f"{field_} > {value} OR ({field_} = {value} AND :id > {row_id})"
        elif since:
            params["$where"] = f"{field_} >= {quoted(since)}"
        params["$order"] = f"{field_}, :id"
        params["$limit"] = self.limit
        params["$offset"] = 0 if after is not None else offset
        return params

    def run(self, *, store: Store, settings: Settings, http: Http) -> PullReport:
        if self.format not in SOCRATA_FORMATS:
            raise ConfigError(f"--format {self.format!r}: one of {', '.join(SOCRATA_FORMATS)}")
        store.migrate()
        since, resumed = self.start(store)
        report = PullReport(label=f"socrata {self.endpoint}", resumed_from=resumed)
        offset = 0
        full = self.limit  # rows in a full page (less if the server caps $limit)
        previous: list[dict[str, Any]] | None = None
        after: tuple[str, str] | None = None
        try:
            while True:
                data = http.get_json(self.endpoint, self.params(since, offset, after))
                if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                    raise PullError(f"GET {self.endpoint}: the response is not a list of rows")
                if not data:
                    break
                if data == previous:
                    if after is not None:  # paging after the last row read
                        log.warning(
                            "%s: the page after %s = %s (:id %s) repeats the previous page; "
                            "the server ignores $where; stopping here (the next pull resumes)",
                            self.endpoint,
                            self.updated_field,
                            *after,
                        )
                    else:
                        log.warning(
                            "%s: $offset=%d repeats the previous page; the server ignores $offset",
                            self.endpoint,
                            offset,
                        )
                    break
                previous = data
                through = max((str(r.get(self.updated_field) or "") for r in data), default="")
                # Socrata system fields (":id", ":updated_at", ...) are not part of the export.
                rows = [{k: v for k, v in r.items() if not k.startswith(":")} for r in data]
                label = f"{self.key}{since or '-'} offset={offset}"
                if through:
                    label += f" through={through}"
                loaded = _load_page(
                    rows,
                    store=store,
                    settings=settings,
                    format=self.format,
                    source=self.source,
                    label=label,
                )
                report.add(loaded)
                if offset == 0 and len(data) < full:
                    # fewer than asked: the last page, or the server's own largest page; the
                    # next page tells (empty, or more rows)
                    full = len(data)
                elif len(data) < full:
                    break
                offset += len(data)
                last = data[-1]
                if last.get(self.updated_field) is not None and last.get(":id") is not None:
                    after = (str(last[self.updated_field]), str(last[":id"]))
                else:  # cannot page by key: by $offset
                    after = None
        finally:
            if report.pages:
                _snapshot(store, settings)
        return report


# -- sources file (refresh) -------------------------------------------------------------------
def sources_file(explicit: str | None = None, settings: Settings | None = None) -> Path:
    configured = settings.sources_file if settings is not None else None
    value = explicit or (str(configured) if configured else None)
    if not value:
        raise ConfigError(f"no sources file: pass --sources or set {SOURCES_FILE_ENV}")
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{path}: no such sources file")
    return path


#: the keys of the sources file: at the top level, and in a source of each kind
SOURCES_FILE_KEYS = ("sources",)
SOURCE_KEYS = {
    "open311": (
        "kind",
        "url",
        "source",
        "jurisdiction",
        "service_codes",
        "since",
        "page_size",
        "window_days",
    ),
    "socrata": (
        "kind",
        "domain",
        "dataset",
        "format",
        "since",
        "source",
        "base_url",
        "updated_field",
        "limit",
    ),
}
_ANY_SOURCE_KEY = frozenset(k for keys in SOURCE_KEYS.values() for k in keys)


def _source_nodes(root: Any) -> list[Any]:
    """The YAML nodes of the items under ``sources:`` (the last ``sources:`` key, as loaded)."""
    import yaml

    found: list[Any] = []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "sources" and isinstance(value, yaml.SequenceNode):
                found = value.value
    return found


def read_sources(path: Path) -> list[Open311Pull | SocrataPull]:
    import yaml

    from dashboard import yamlfile

    text = path.read_text(encoding="utf-8")
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    # the same text again as a node tree, for the line numbers of unknown keys
    root = yamlfile.compose(text, what="sources file", path=str(path))
    if isinstance(spec, dict):
        yamlfile.check_keys(root, SOURCES_FILE_KEYS, where=str(path))
    items = spec.get("sources") if isinstance(spec, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected `sources:` with a list of sources")
    nodes = _source_nodes(root)
    out: list[Open311Pull | SocrataPull] = []
    for n, item in enumerate(items, start=1):
        where = f"{path}: source {n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: not a mapping")
        kind = item.get("kind")
        known = SOURCE_KEYS.get(kind) if isinstance(kind, str) else None
        if n <= len(nodes):
            # no or an unknown kind: a key of either kind passes, the kind error follows
            yamlfile.check_keys(nodes[n - 1], known or _ANY_SOURCE_KEY, where=where)
        since = parse_since(str(item["since"])) if item.get("since") else None
        try:
            if kind == "open311":
                codes = item.get("service_codes") or ()
                if isinstance(codes, str | int):  # "POT,SLO" as on the command line, not P,O,T
                    codes = [c.strip() for c in str(codes).split(",") if c.strip()]
                out.append(
                    Open311Pull(
                        url=check_http_url(str(item["url"]), f"{where}: url"),
                        jurisdiction=item.get("jurisdiction"),
                        since=since,
                        service_codes=tuple(str(c) for c in codes),
                        source=item.get("source"),
                        page_size=_positive_option(item, "page_size", 100, where),
                        window_days=_positive_option(item, "window_days", 90, where),
                    )
                )
            elif kind == "socrata":
                fmt = str(item["format"])
                if fmt not in SOCRATA_FORMATS:
                    raise ConfigError(f"{where}: format {fmt!r}: one of {SOCRATA_FORMATS}")
                out.append(
                    SocrataPull(
                        domain=_checked(check_domain, str(item["domain"]), where),
                        dataset=str(item["dataset"]),
                        format=fmt,
                        since=since,
                        source=item.get("source"),
                        base_url=check_http_url(str(item["base_url"]), f"{where}: base_url")
                        if item.get("base_url")
                        else None,
                        updated_field=str(item.get("updated_field", ":updated_at")),
                        limit=_positive_option(item, "limit", 1000, where),
                    )
                )
            else:
                raise ConfigError(f"{where}: kind must be open311 or socrata, not {kind!r}")
        except KeyError as exc:
            raise ConfigError(f"{where}: missing {exc.args[0]!r}") from None
    return out


def _checked(check: Callable[[str], str], value: str, where: str) -> str:
    try:
        return check(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# -- CLI --------------------------------------------------------------------------------------
def _http(args: argparse.Namespace, settings: Settings, *, socrata: bool) -> Http:
    """The HTTP client of a pull; the Socrata app token is sent to Socrata pulls only."""
    headers = {}
    token = settings.socrata_app_token
    if token and socrata:
        headers["X-App-Token"] = token
    return Http(
        timeout=args.timeout,
        retries=args.retries,
        backoff=args.backoff,
        max_wait=args.max_wait,
        headers=headers,
    )


def cmd_pull_open311(args: argparse.Namespace, settings: Settings) -> int:
    if args.repull and not args.since:
        raise ConfigError("--repull needs --since (the start of the period to pull again)")
    pull = Open311Pull(
        url=check_http_url(args.url),
        jurisdiction=args.jurisdiction,
        since=parse_since(args.since) if args.since else None,
        since_wins=bool(args.since) and args.repull,
        service_codes=tuple(c for v in args.service_code or () for c in v.split(",") if c),
        source=args.source,
        page_size=args.page_size,
        window_days=args.window_days,
    )
    report = pull.run(
        store=Store(settings.database_url),
        settings=settings,
        http=_http(args, settings, socrata=False),
    )
    print(report.summary())
    return 0


def cmd_pull_socrata(args: argparse.Namespace, settings: Settings) -> int:
    if args.repull and not args.since:
        raise ConfigError("--repull needs --since (the start of the period to pull again)")
    pull = SocrataPull(
        domain=check_domain(args.domain),
        dataset=args.dataset,
        format=args.format,
        since=parse_since(args.since) if args.since else None,
        since_wins=bool(args.since) and args.repull,
        source=args.source,
        base_url=check_http_url(args.base_url, "--base-url") if args.base_url else None,
        updated_field=args.updated_field,
        limit=args.limit,
    )
    report = pull.run(
        store=Store(settings.database_url),
        settings=settings,
        http=_http(args, settings, socrata=True),
    )
    print(report.summary())
    return 0


def cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    pulls = read_sources(sources_file(args.sources, settings))
    store = Store(settings.database_url)
    if args.dry_run:
        store.migrate()
        for pull in pulls:
            if isinstance(pull, Open311Pull):
                start, resumed = pull.start(store, datetime.now(UTC))
                how = "resuming" if resumed else "starting"
                print(
                    f"would fetch {pull.endpoint} in {pull.window_days}-day windows, "
                    f"{how} at {_iso(start)}"
                )
                if pull.service_codes:
                    print(f"  service codes: {','.join(pull.service_codes)}")
            else:
                since, resumed = pull.start(store)
                how = "resuming" if resumed else "since"
                where = f"{how} {pull.updated_field} >= {since}" if since else "every row"
                print(f"would fetch {pull.endpoint} as {pull.format}, {where}")
        return 0
    failed = 0
    for pull in pulls:
        http = _http(args, settings, socrata=isinstance(pull, SocrataPull))
        try:
            print(pull.run(store=store, settings=settings, http=http).summary())
        except Stat311Error as exc:
            failed += 1
            print(f"stat311: error: {exc}", file=sys.stderr)
    if failed:
        raise PullError(f"{failed} of {len(pulls)} sources failed (see above)")
    return 0


def _http_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=60.0,
        metavar="S",
        help="seconds per request, > 0 (default 60)",
    )
    p.add_argument(
        "--retries",
        type=zero_or_more,
        default=5,
        metavar="N",
        help="retries per request, >= 0 (default 5)",
    )
    p.add_argument(
        "--backoff",
        type=seconds_or_zero,
        default=1.0,
        metavar="S",
        help="first back-off in seconds after a 5xx or timeout, doubled each time (default 1)",
    )
    p.add_argument(
        "--max-wait",
        type=seconds_or_zero,
        default=300.0,
        metavar="S",
        help="longest single wait, Retry-After included (default 300 s)",
    )


def add_subparsers(sub: Any) -> None:
    """``stat311 pull open311|socrata`` and ``stat311 refresh``."""
    p = sub.add_parser("pull", help="pull requests from a live Open311 or Socrata API")
    psub = p.add_subparsers(dest="pull_command", required=True, metavar="SOURCE")

    o = psub.add_parser(
        "open311",
        help="pull an Open311 GeoReport v2 endpoint in 90-day windows and pages",
        description="Walk start_date/end_date windows and pages of URL (requests.json), loading "
        "each page in its own transaction; a re-run resumes after the last complete window.",
    )
    o.add_argument(
        "url",
        help="the requests.json URL (or the API base): http:// or https:// with a host",
    )
    o.add_argument("--jurisdiction", metavar="ID", help="jurisdiction_id")
    o.add_argument("--since", metavar="ISO", help="start here (default: resume, or 90 days ago)")
    o.add_argument("--repull", action="store_true", help=REPULL_HELP)
    o.add_argument(
        "--service-code",
        action="append",
        metavar="CODE",
        help="only these service codes (repeat, or comma-separated)",
    )
    o.add_argument(
        "--source",
        type=source_name,
        help="source name stored with the cases (default: open311)",
    )
    o.add_argument(
        "--page-size",
        type=at_least_one,
        default=100,
        metavar="N",
        help="requests per page, >= 1 (default 100)",
    )
    o.add_argument(
        "--window-days",
        type=at_least_one,
        default=90,
        metavar="DAYS",
        help="days per start_date/end_date window, >= 1 (default 90)",
    )
    _http_options(o)
    o.set_defaults(func=cmd_pull_open311)

    s = psub.add_parser(
        "socrata",
        help="pull a Socrata (SODA) dataset, e.g. NYC 311 erm2-nwe9",
        description="Page through DOMAIN's DATASET_ID ordered by the updated field, from --since "
        "or where the last pull stopped. App token: STAT311_SOCRATA_APP_TOKEN.",
    )
    s.add_argument("domain", help="e.g. data.cityofnewyork.us (a host name, no https://)")
    s.add_argument("dataset", metavar="DATASET_ID", help="e.g. erm2-nwe9")
    s.add_argument("--format", required=True, choices=SOCRATA_FORMATS)
    s.add_argument("--since", metavar="ISO", help="rows updated at or after this time")
    s.add_argument("--repull", action="store_true", help=REPULL_HELP)
    s.add_argument(
        "--source",
        type=source_name,
        help="source name stored with the cases (default: the format)",
    )
    s.add_argument(
        "--base-url",
        metavar="URL",
        help="instead of https://DOMAIN (e.g. a local test server)",
    )
    s.add_argument(
        "--updated-field",
        default=":updated_at",
        help="the field $where/$order use (default: the system field :updated_at)",
    )
    s.add_argument(
        "--limit",
        type=at_least_one,
        default=1000,
        metavar="N",
        help="rows per page ($limit), >= 1 (default 1000)",
    )
    _http_options(s)
    s.set_defaults(func=cmd_pull_socrata)

    r = sub.add_parser(
        "refresh",
        help="pull every source of the sources file (for cron)",
        description=f"Run every source in the sources YAML file (--sources or {SOURCES_FILE_ENV}).",
    )
    r.add_argument("--sources", metavar="YAML", help=f"default: ${SOURCES_FILE_ENV}")
    r.add_argument("--dry-run", action="store_true", help="say what would be fetched")
    _http_options(r)
    r.set_defaults(func=cmd_refresh)
