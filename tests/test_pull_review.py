"""Review of `stat311 pull`: local HTTP servers (127.0.0.1, a thread each) serve Open311 and SODA
pages with faults: a server capping the page size, redirects to another host, huge, truncated,
reset, HTML or invalid bodies, Retry-After dates, tokens, bad rows, equal timestamps, re-runs."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.cli import main
from dashboard.store import Store
from etl.pull import Http, Open311Pull, PullError, _retry_after
from tests.support.httpserver import LocalServer, send, send_json
from tests.support.soda import soda_select

FAST = ["--timeout", "0.5", "--retries", "2", "--backoff", "0.01", "--max-wait", "0.05"]
TOKEN = "sekret-app-token-42"


Server = LocalServer


# -- data built in code -----------------------------------------------------------------------
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=30)


def open311_records(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        when = SINCE + timedelta(hours=1 + i)
        out.append(
            {
                "service_request_id": f"SR-{i:04d}",
                "status": "open",
                "service_name": "Pothole",
                "service_code": "POT",
                "description": f"request {i}",
                "agency_responsible": "Public Works",
                "requested_datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated_datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "address": f"{i} Main St",
                "zipcode": "02118",
                "lat": 42.34,
                "long": -71.07,
            }
        )
    return out


def open311_server(records: list[dict[str, Any]], *, cap: int | None = None) -> Server:
    """Pages of ``records`` in the window; ``cap``: the server's largest page (page_size above
    it is served as ``cap``, as many GeoReport servers do)."""

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        start = datetime.fromisoformat(q["start_date"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(q["end_date"].replace("Z", "+00:00"))
        chosen = [
            r for r in records if start <= datetime.fromisoformat(r["requested_datetime"]) < end
        ]
        size = int(q["page_size"])
        if cap is not None:
            size = min(size, cap)
        page = int(q["page"])
        send_json(h, chosen[(page - 1) * size : page * size])

    return Server(handle)


def soda_rows(n: int, *, same_from: int | None = None) -> list[dict[str, Any]]:
    """NYC rows; from row ``same_from`` on, every row shares one ``:updated_at``."""
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        created = base + timedelta(hours=i)
        k = i if same_from is None or i < same_from else same_from
        rows.append(
            {
                ":id": f"row-{i:04d}",
                ":updated_at": (base + timedelta(days=2, hours=k)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"
                ),
                "unique_key": str(60000000 + i),
                "created_date": created.strftime("%Y-%m-%dT%H:%M:%S.000"),
                "agency": "DOT",
                "complaint_type": "Street Condition",
                "descriptor": "Pothole",
                "status": "Open",
                "incident_zip": "10011",
                "latitude": "40.71",
                "longitude": "-74.00",
            }
        )
    return rows


def soda_server(rows: list[dict[str, Any]], *, cap: int | None = None) -> Server:
    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        assert path == "/resource/erm2-nwe9.json"
        send_json(h, soda_select(rows, q, cap))

    return Server(handle)


@pytest.fixture(autouse=True)
def _env(settings, monkeypatch) -> Iterator[None]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_LOG_LEVEL", "ERROR")
    monkeypatch.delenv("STAT311_SOCRATA_APP_TOKEN", raising=False)
    yield


def cases(store: Store) -> list[tuple]:
    c = schema.cases.c
    with store.connect() as conn:
        return sorted(
            tuple(r) for r in conn.execute(select(c.source, c.request_id, c.row_hash, c.status))
        )


def ids(store: Store, source: str) -> list[str]:
    c = schema.cases.c
    with store.connect() as conn:
        return sorted(r[0] for r in conn.execute(select(c.request_id).where(c.source == source)))


def pull_open311(url: str, *extra: str) -> int:
    return main(["pull", "open311", url, "--since", SINCE.isoformat(), *FAST, *extra])


def pull_socrata(url: str, *extra: str) -> int:
    args = ["data.cityofnewyork.us", "erm2-nwe9", "--format", "nyc", "--base-url", url]
    return main(["pull", "socrata", *args, *FAST, *extra])


# -- paging -----------------------------------------------------------------------------------
def test_open311_server_capping_page_size_loses_nothing(store):
    records = open311_records(23)  # one window; the server serves at most 7 per page
    with open311_server(records, cap=7) as api:
        assert pull_open311(f"{api.url}/requests.json", "--page-size", "10") == 0
    assert ids(store, "open311") == sorted(r["service_request_id"] for r in records)
    assert [q["page"] for q in api.requests] == ["1", "2", "3", "4"]  # 7, 7, 7, 2


def test_open311_short_first_page_costs_one_empty_page(store):
    records = open311_records(4)
    with open311_server(records) as api:
        assert pull_open311(f"{api.url}/requests.json", "--page-size", "10") == 0
    assert len(ids(store, "open311")) == 4
    assert [q["page"] for q in api.requests] == ["1", "2"]


def test_open311_exact_multiple_and_rerun_changes_nothing(store, capsys):
    records = open311_records(30)
    with open311_server(records) as api:
        url = f"{api.url}/requests.json"
        assert pull_open311(url, "--page-size", "10") == 0
        first = cases(store)
        assert [q["page"] for q in api.requests] == ["1", "2", "3", "4"]
        capsys.readouterr()
        assert pull_open311(url, "--page-size", "10") == 0  # resumes at the last window's end
        assert "0 inserted, 0 updated" in capsys.readouterr().out
        # re-pulling the same period explicitly loads the same records as unchanged
        main(["pull", "open311", url, "--since", SINCE.isoformat(), *FAST, "--window-days", "1"])
    assert cases(store) == first
    assert [r[1] for r in first] == sorted(r["service_request_id"] for r in records)


def test_socrata_server_capping_limit_loses_nothing(store):
    rows = soda_rows(23)
    with soda_server(rows, cap=5) as api:
        assert pull_socrata(api.url, "--limit", "8") == 0
    assert ids(store, "nyc") == sorted(r["unique_key"] for r in rows)
    assert len(api.requests) == 5  # 5, 5, 5, 5, 3 rows


def test_socrata_server_ignoring_offset_stops(store):
    rows = soda_rows(3)

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        send_json(h, [dict(r) for r in rows])  # $offset ignored

    with Server(handle) as api:
        assert pull_socrata(api.url, "--limit", "10") == 0
    assert len(api.requests) == 2
    assert len(ids(store, "nyc")) == 3


def test_socrata_equal_timestamps_across_pages_resume_and_new_rows(store):
    rows = soda_rows(12, same_from=4)  # rows 4..11 share one :updated_at, across page edges
    with soda_server(rows[:9]) as api:
        assert pull_socrata(api.url, "--limit", "3") == 0
        assert ids(store, "nyc") == sorted(r["unique_key"] for r in rows[:9])
        # three more rows with the very same :updated_at as the watermark
        api.handle = soda_server(rows).handle
        api.requests.clear()
        assert pull_socrata(api.url, "--limit", "3") == 0
        watermark = rows[4][":updated_at"]
        assert api.requests[0]["$where"] == f":updated_at >= '{watermark}'"
    assert ids(store, "nyc") == sorted(r["unique_key"] for r in rows)


def test_socrata_row_updated_between_pages_is_not_skipped(store):
    rows = soda_rows(10)
    state = {"moved": False}

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        later_page = q.get("$offset", "0") != "0" or " OR " in q.get("$where", "")
        if later_page and not state["moved"]:  # row 0 is edited while the pull is on page 2
            rows[0][":updated_at"] = "2024-04-01T00:00:00.000Z"
            rows[0]["status"] = "Closed"
            state["moved"] = True
        send_json(h, soda_select(rows, q))

    with Server(handle) as api:
        assert pull_socrata(api.url, "--limit", "5") == 0
        assert pull_socrata(api.url, "--limit", "5") == 0  # the next incremental pull
    assert ids(store, "nyc") == sorted(r["unique_key"] for r in rows)


# -- failures leave the store as it was ----------------------------------------------------------
def _reset(h: BaseHTTPRequestHandler) -> None:
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()


def _half(h: BaseHTTPRequestHandler, body: bytes, *, then: Callable[[], Any]) -> None:
    """Half of ``body`` under the whole body's Content-Length, then ``then()`` (the connection
    closed cleanly, or reset)."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body[: len(body) // 2])
    h.wfile.flush()
    then()


FAULTS: dict[str, Callable[[BaseHTTPRequestHandler, bytes], None]] = {
    "html": lambda h, b: send(h, 200, b"<html><body>\n<h1>Maintenance</h1>\n</body></html>"),
    "invalid_json": lambda h, b: send(h, 200, b'[{"service_request_id": "X", }]'),
    "short_body": lambda h, b: _half(h, b, then=lambda: h.connection.shutdown(socket.SHUT_WR)),
    "reset_half_way": lambda h, b: _half(h, b, then=lambda: (time.sleep(0.05), _reset(h))),
    "timeout": lambda h, b: time.sleep(0.8),
    "not_a_list": lambda h, b: send(h, 200, b'{"error": true, "message": "bad query"}'),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failing_page_leaves_the_store_as_it_was(store, capsys, fault):
    records = open311_records(12)
    state = {"fail": False}

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        start = datetime.fromisoformat(q["start_date"].replace("Z", "+00:00"))
        chosen = [r for r in records if datetime.fromisoformat(r["requested_datetime"]) >= start]
        body = json.dumps(chosen[:1] + [dict(chosen[0], status="closed")] + chosen[1:]).encode()
        if state["fail"]:
            FAULTS[fault](h, body)
        else:
            send_json(h, chosen[:6])

    with Server(handle) as api:
        url = f"{api.url}/requests.json"
        assert pull_open311(url, "--page-size", "50") == 0
        before = cases(store)
        with store.connect() as conn:
            runs_before = conn.execute(select(schema.ingestion_runs.c.id)).fetchall()
        capsys.readouterr()
        state["fail"] = True  # another jurisdiction: a fresh pull from --since, not a resume
        assert pull_open311(url, "--page-size", "50", "--jurisdiction", "b") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stat311: error: GET ")
    assert cases(store) == before
    with store.connect() as conn:
        assert conn.execute(select(schema.ingestion_runs.c.id)).fetchall() == runs_before


def test_huge_response_is_refused_not_loaded(settings, store):
    big = [dict(r, description="x" * 500) for r in open311_records(40)]

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        body = json.dumps(big).encode()
        if q.get("chunked"):  # no Content-Length: the body ends when the connection closes
            send(h, 200, body, Content_Length=None, Connection="close")
            h.close_connection = True
        else:
            send(h, 200, body)

    with Server(handle) as api:
        http = Http(timeout=2, retries=3, backoff=0.01, max_bytes=5_000)
        for extra in ("", "?chunked=1"):
            pull = Open311Pull(url=f"{api.url}/requests.json{extra}", since=SINCE)
            with pytest.raises(PullError, match="larger than 5,000 bytes"):
                pull.run(store=store, settings=settings, http=http)
        assert len(api.requests) == 2  # not retried
        assert Http(timeout=2, max_bytes=10**7).get_json(f"{api.url}/x.json", {}) == big
    assert cases(store) == []


# -- retries ----------------------------------------------------------------------------------
def test_retry_after_http_date_forms():
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 -0000") == 0.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S -0000")
    assert 100 < _retry_after(later) <= 120
    assert _retry_after("soon") is None


def test_429_date_wait_is_capped_and_5xx_backs_off_to_a_bound():
    waits: list[float] = []
    answers = ["429", "500", "503", "ok"]
    far = (datetime.now(UTC) + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S -0000")

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        what = answers.pop(0)
        if what == "429":
            send(h, 429, b"{}", Retry_After=far)
        elif what != "ok":
            send(h, int(what), b"<html>down</html>", Content_Type="text/html")
        else:
            send_json(h, [{"ok": 1}])

    with Server(handle) as api:
        http = Http(timeout=1, retries=3, backoff=0.5, max_wait=30, sleep=waits.append)
        assert http.get_json(f"{api.url}/x.json", {}) == [{"ok": 1}]
        assert waits == [30, 1.0, 2.0]  # Retry-After capped; 0.5 * 2**1, 0.5 * 2**2
        answers[:] = ["500"] * 5
        with pytest.raises(PullError, match=r"HTTP 500 .*gave up after 3 attempts"):
            Http(timeout=1, retries=2, backoff=0, sleep=waits.append).get_json(api.url, {})


def test_403_stops_at_once_with_one_line(store, capsys):
    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        send(
            h, 403, b"<html>\n<h1>Forbidden</h1>\n<p>no key</p>\n</html>", Content_Type="text/html"
        )

    with Server(handle) as api:
        assert pull_socrata(api.url) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "HTTP 403" in err and "Forbidden" in err
    assert len(api.requests) == 1


# -- credentials --------------------------------------------------------------------------------
def test_app_token_goes_to_socrata_only_not_open311(store, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STAT311_SOCRATA_APP_TOKEN", TOKEN)
    with open311_server(open311_records(3)) as o311, soda_server(soda_rows(3)) as soda:
        assert pull_open311(f"{o311.url}/requests.json") == 0
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - kind: open311\n    url: {o311.url}/requests.json\n"
            f"    since: '{SINCE.isoformat()}'\n"
            "  - kind: socrata\n    domain: data.cityofnewyork.us\n    dataset: erm2-nwe9\n"
            f"    format: nyc\n    base_url: {soda.url}\n"
        )
        assert main(["refresh", "--sources", str(sources), *FAST]) == 0
    assert o311.headers and all("X-App-Token" not in h for h in o311.headers)
    assert soda.headers and all(h.get("X-App-Token") == TOKEN for h in soda.headers)


def test_redirect_to_another_host_is_not_followed(store, monkeypatch, capsys):
    monkeypatch.setenv("STAT311_SOCRATA_APP_TOKEN", TOKEN)
    with soda_server(soda_rows(4)) as other:
        target = f"http://localhost:{other.port}"

        def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
            send(h, 302, b"", Location=f"{target}{h.path}")

        with Server(handle) as api:
            assert pull_socrata(api.url) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "redirects to http://localhost" in err
    assert TOKEN not in err
    assert other.requests == []  # the token never reached the other host
    assert cases(store) == []


def test_redirect_on_the_same_host_is_followed(store):
    rows = soda_rows(4)

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        if path.startswith("/resource/"):
            send(h, 301, b"", Location=h.path.replace("/resource/", "/api/v2/", 1))
        else:
            send_json(h, soda_select(rows, q))

    with Server(handle) as api:
        assert pull_socrata(api.url) == 0
    assert len(ids(store, "nyc")) == 4


def test_token_is_never_logged_or_shown_in_runs(store, monkeypatch, capsys, caplog):
    caplog.set_level("DEBUG")
    monkeypatch.setenv("STAT311_SOCRATA_APP_TOKEN", TOKEN)
    monkeypatch.setenv("STAT311_LOG_LEVEL", "DEBUG")
    state = {"n": 0}
    rows = soda_rows(5)

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        state["n"] += 1
        if state["n"] == 1:
            send(h, 500, b"oops")
        elif state["n"] == 2:
            send(h, 429, b"{}", Retry_After="0")
        else:
            send_json(h, soda_select(rows, q))

    with Server(handle) as api:
        assert pull_socrata(api.url) == 0
        assert main(["runs"]) == 0
        assert main(["runs", "--json"]) == 0
    out = capsys.readouterr()
    assert "retry 1/2" in caplog.text  # the retries were logged ...
    assert TOKEN not in out.out + out.err + caplog.text  # ... without the token


# -- rows ---------------------------------------------------------------------------------------
def test_bad_rows_in_a_good_page_are_quarantined_with_their_reason(store):
    records = open311_records(5)
    records[1]["requested_datetime"] = "not a date"
    records[3]["service_request_id"] = ""

    def handle(h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        send_json(h, records if q["page"] == "1" else [])

    with Server(handle) as api:
        assert pull_open311(f"{api.url}/requests.json", "--page-size", "10") == 0
    assert ids(store, "open311") == ["SR-0000", "SR-0002", "SR-0004"]
    q = schema.quarantine.c
    with store.connect() as conn:
        kept = sorted(conn.execute(select(q.reason, q.source)).fetchall())
    assert kept == [("missing_request_id", "open311"), ("unparseable_requested_at", "open311")]
