"""Live pulls against local HTTP servers on 127.0.0.1 serving Open311 and SODA responses of the
real shapes, with faults: 429 + Retry-After, 500s, a timeout, truncated JSON, an empty last page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard import schema
from dashboard.cli import main
from dashboard.store import Store
from etl.pull import Http, Open311Pull, PullError
from tests.support.httpserver import LocalServer, send
from tests.support.soda import soda_select

FAST = ["--timeout", "0.5", "--retries", "3", "--backoff", "0.01", "--max-wait", "0.05"]


class FakeApi(LocalServer):
    """A local HTTP server answering with ``respond(path, query)`` (JSON, or a ``(status, body)``
    error page). ``faults`` maps a predicate on the query to a list of faults, each consumed by
    one matching request: ``429``, ``500``, ``timeout``, ``truncated``."""

    def __init__(self, respond: Callable[[str, dict[str, str]], Any]) -> None:
        super().__init__(self._answer)
        self.respond = respond
        self.faults: list[tuple[Callable[[dict[str, str]], bool], list[str]]] = []

    def _answer(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        fault = self.fault(query)
        if fault == "429":
            send(h, 429, b'{"error":"slow down"}', Retry_After="0")
            return
        if fault == "500":
            send(h, 500, b"<html>oops</html>", Content_Type="text/html")
            return
        if fault == "timeout":
            time.sleep(1.0)
            return
        answer = self.respond(path, query)
        if isinstance(answer, tuple):  # (status, body): an error page
            send(h, answer[0], answer[1].encode(), Content_Type="text/html")
            return
        body = json.dumps(answer).encode()
        if fault == "truncated":  # half the body: JSON that ends too early
            body = body[: len(body) // 2]
        send(h, 200, body)

    def fault(self, query: dict[str, str]) -> str | None:
        for predicate, pending in self.faults:
            if pending and predicate(query):
                return pending.pop(0)
        return None


# -- Open311 ----------------------------------------------------------------------------------
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=200)  # three 90-day windows


def open311_records(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        when = SINCE + timedelta(days=1 + i * 195 / n)
        out.append(
            {
                "service_request_id": f"SR-{i:04d}",
                "status": "closed" if i % 3 == 0 else "open",
                "status_notes": None,
                "service_name": "Pothole" if i % 2 else "Street Light Out",
                "service_code": "POT" if i % 2 else "SLO",
                "description": f"request {i}",
                "agency_responsible": "Public Works",
                "service_notice": None,
                "requested_datetime": when.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
                "updated_datetime": (when + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S-05:00"),
                "expected_datetime": None,
                "address": f"{i} Main St",
                "address_id": None,
                "zipcode": "02118",
                "lat": 42.34 + i * 0.0001,
                "long": -71.07,
                "media_url": None,
            }
        )
    return out


def open311_responder(records: list[dict[str, Any]]) -> Callable[[str, dict[str, str]], Any]:
    def respond(path: str, q: dict[str, str]) -> Any:
        start = datetime.fromisoformat(q["start_date"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(q["end_date"].replace("Z", "+00:00"))
        codes = set(q["service_code"].split(",")) if q.get("service_code") else None
        chosen = [
            r
            for r in records
            if start <= datetime.fromisoformat(r["requested_datetime"]) < end
            and (codes is None or r["service_code"] in codes)
        ]
        size, page = int(q["page_size"]), int(q["page"])
        return chosen[(page - 1) * size : page * size]

    return respond


@pytest.fixture
def env(settings, monkeypatch) -> None:
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_LOG_LEVEL", "ERROR")


def case_ids(store: Store, source: str) -> list[str]:
    c = schema.cases.c
    with store.connect() as conn:
        return [r[0] for r in conn.execute(select(c.request_id).where(c.source == source))]


def pull_open311(api: FakeApi, *extra: str) -> int:
    url = f"{api.url}/open311/v2/requests.json"
    return main(
        ["pull", "open311", url, "--since", SINCE.isoformat(), "--page-size", "10", *FAST, *extra]
    )


def test_open311_pull_walks_windows_and_pages_through_faults(env, store, settings, capsys):
    records = open311_records(45)
    with FakeApi(open311_responder(records)) as api:
        api.faults.append((lambda q: q.get("page") == "2", ["429", "500", "timeout"]))
        assert pull_open311(api, "--jurisdiction", "city.gov") == 0
    out = capsys.readouterr().out
    assert "read 45" in out and "45 inserted" in out
    ids = case_ids(store, "open311")
    assert sorted(ids) == sorted(r["service_request_id"] for r in records)
    windows = {(q["start_date"], q["end_date"]) for q in api.requests}
    assert len(windows) == 3
    assert all(q["jurisdiction_id"] == "city.gov" for q in api.requests)
    spans = [
        datetime.fromisoformat(e.replace("Z", "+00:00"))
        - datetime.fromisoformat(s.replace("Z", "+00:00"))
        for s, e in windows
    ]
    assert max(spans) <= timedelta(days=90)
    assert (settings.snapshot_dir).exists()


def test_open311_empty_last_page_and_service_codes(env, store):
    records = open311_records(40)  # 20 per code: pages of 10 end on a full page, then an empty one
    with FakeApi(open311_responder(records)) as api:
        assert pull_open311(api, "--window-days", "400", "--service-code", "POT") == 0
    assert len(case_ids(store, "open311")) == 20
    pages = [q["page"] for q in api.requests]
    assert pages == ["1", "2", "3"]  # the third page is empty
    assert all(q["service_code"] == "POT" for q in api.requests)


def test_truncated_page_fails_cleanly_and_a_rerun_resumes(env, store, capsys):
    records = open311_records(45)
    with FakeApi(open311_responder(records)) as api:
        # the second window's second page is always cut short
        first = {}

        def second_window_page_2(q: dict[str, str]) -> bool:
            first.setdefault("start", q["start_date"])
            return q["start_date"] != first["start"] and q["page"] == "2"

        api.faults.append((second_window_page_2, ["truncated"] * 10))
        assert pull_open311(api) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "not valid JSON" in err and "re-run to resume" in err
        loaded = case_ids(store, "open311")
        # window 1 and window 2's first page are committed, window 2's page 2 is not
        per_window = _window_counts(records)
        assert len(loaded) == per_window[0] + 10
        api.faults.clear()
        api.requests.clear()
        assert pull_open311(api) == 0
        assert "resumed from" in capsys.readouterr().out
        assert all(q["start_date"] != first["start"] for q in api.requests)
    ids = case_ids(store, "open311")
    assert len(ids) == len(set(ids)) == 45


def _window_counts(records: list[dict[str, Any]]) -> list[int]:
    edges = [SINCE + timedelta(days=90 * k) for k in range(4)]
    counts = [0, 0, 0]
    for r in records:
        when = datetime.fromisoformat(r["requested_datetime"])
        for k in range(3):
            if edges[k] <= when < edges[k + 1]:
                counts[k] += 1
    return counts


def test_persistent_500_gives_up_with_one_line(env, store, capsys):
    with FakeApi(open311_responder(open311_records(5))) as api:
        api.faults.append((lambda q: True, ["500"] * 50))
        assert pull_open311(api) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "HTTP 500" in err and "gave up after 4 attempts" in err
    assert case_ids(store, "open311") == []
    assert len(api.requests) == 4


def test_404_is_not_retried(env, store, capsys):
    with FakeApi(lambda p, q: (404, "no such jurisdiction")) as api:
        assert main(["pull", "open311", f"{api.url}/nope.json", *FAST]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "HTTP 404" in err and "no such jurisdiction" in err
    assert len(api.requests) == 1


def test_retry_after_is_honoured():
    waits: list[float] = []
    with FakeApi(lambda p, q: [{"ok": 1}]) as api:
        api.faults.append((lambda q: True, ["429", "429"]))
        http = Http(timeout=1, retries=3, backoff=0.01, sleep=waits.append)
        assert http.get_json(f"{api.url}/x.json", {}) == [{"ok": 1}]
    assert waits == [0.0, 0.0]


def test_timeout_budget(settings, store):
    with FakeApi(lambda p, q: []) as api:
        api.faults.append((lambda q: True, ["timeout"] * 5))
        http = Http(timeout=0.2, retries=1, backoff=0.01)
        pull = Open311Pull(url=api.url, since=NOW - timedelta(days=1))
        with pytest.raises(PullError, match="timed out after 0.2 s"):
            pull.run(store=store, settings=settings, http=http)


# -- Socrata ----------------------------------------------------------------------------------
def nyc_rows(n: int) -> list[dict[str, Any]]:
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        created = base + timedelta(hours=i)
        rows.append(
            {
                ":id": f"row-{i:04d}",
                ":updated_at": (created + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "unique_key": str(60000000 + i),
                "created_date": created.strftime("%Y-%m-%dT%H:%M:%S.000"),
                "closed_date": (created + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000"),
                "agency": "DOT",
                "agency_name": "Department of Transportation",
                "complaint_type": "Street Condition",
                "descriptor": "Pothole",
                "incident_zip": "10011",
                "incident_address": f"{i} 11 AVENUE",
                "status": "Closed",
                "due_date": (created + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000"),
                "resolution_action_updated_date": (created + timedelta(hours=3)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000"
                ),
                "open_data_channel_type": "ONLINE",
                "latitude": f"{40.70 + i * 0.001:.6f}",
                "longitude": "-74.00",
            }
        )
    return rows


def soda_responder(rows: list[dict[str, Any]]) -> Callable[[str, dict[str, str]], Any]:
    def respond(path: str, q: dict[str, str]) -> Any:
        assert path == "/resource/erm2-nwe9.json"
        assert q["$order"] == ":updated_at, :id"
        page = soda_select(rows, q)  # the first page by `>=`, the next after the last row read
        if ":*" not in q.get("$select", ""):
            page = [{k: v for k, v in r.items() if not k.startswith(":")} for r in page]
        return page

    return respond


def pull_socrata(api: FakeApi, *extra: str) -> int:
    return main(
        [
            "pull",
            "socrata",
            "data.cityofnewyork.us",
            "erm2-nwe9",
            "--format",
            "nyc",
            "--base-url",
            api.url,
            "--limit",
            "7",
            *FAST,
            *extra,
        ]
    )


def test_socrata_pull_pages_resumes_and_sends_the_token(env, store, monkeypatch, capsys):
    monkeypatch.setenv("STAT311_SOCRATA_APP_TOKEN", "tok123")
    rows = nyc_rows(20)
    with FakeApi(soda_responder(rows[:15])) as api:
        api.faults.append((lambda q: " OR " in q.get("$where", ""), ["500", "429"]))
        assert pull_socrata(api, "--since", "2024-01-01") == 0
        assert "$where" in api.requests[0]
        assert all(h.get("X-App-Token") == "tok123" for h in api.headers)
        assert len(case_ids(store, "nyc")) == 15
        # new and updated rows arrive; the re-run starts at the watermark, not from the start
        api.respond = soda_responder(rows)
        api.requests.clear()
        assert pull_socrata(api) == 0
        assert api.requests[0]["$where"] == f":updated_at >= '{rows[14][':updated_at']}'"
    ids = case_ids(store, "nyc")
    assert len(ids) == len(set(ids)) == 20
    out = capsys.readouterr().out
    assert "resumed from" in out


def test_socrata_truncated_page_commits_nothing_of_it(env, store, capsys):
    with FakeApi(soda_responder(nyc_rows(10))) as api:
        api.faults.append((lambda q: " OR " in q.get("$where", ""), ["truncated"] * 10))
        assert pull_socrata(api) == 1
        assert "not valid JSON" in capsys.readouterr().err
        assert len(case_ids(store, "nyc")) == 7
        api.faults.clear()
        assert pull_socrata(api) == 0
    ids = case_ids(store, "nyc")
    assert len(ids) == len(set(ids)) == 10


# -- refresh ----------------------------------------------------------------------------------
def test_refresh_runs_every_source(env, store, tmp_path: Path, monkeypatch, capsys):
    records = open311_records(12)
    with FakeApi(open311_responder(records)) as o311, FakeApi(soda_responder(nyc_rows(9))) as soda:
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - kind: open311\n    url: {o311.url}/requests.json\n"
            f"    since: '{SINCE.isoformat()}'\n    source: boston\n    page_size: 5\n"
            "  - kind: socrata\n    domain: data.cityofnewyork.us\n    dataset: erm2-nwe9\n"
            f"    format: nyc\n    base_url: {soda.url}\n    limit: 4\n"
        )
        monkeypatch.setenv("STAT311_SOURCES_FILE", str(sources))
        assert main(["refresh", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "would fetch" in out and "erm2-nwe9" in out
        assert o311.requests == [] and soda.requests == []
        assert main(["refresh", *FAST]) == 0
    assert len(case_ids(store, "boston")) == 12
    assert len(case_ids(store, "nyc")) == 9
    with store.connect() as conn:
        labels = [r[0] for r in conn.execute(select(schema.ingestion_runs.c.path))]
        n = conn.execute(select(func.count()).select_from(schema.cases)).scalar()
    assert n == 21
    assert any(lb.startswith("pull:open311 ") and lb.endswith("complete") for lb in labels)


def test_refresh_without_sources_file_is_a_usage_error(env, monkeypatch, capsys):
    monkeypatch.delenv("STAT311_SOURCES_FILE", raising=False)
    assert main(["refresh"]) == 2
    assert "STAT311_SOURCES_FILE" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> Iterator[None]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield
