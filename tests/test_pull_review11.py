"""Live pulls, from a review with fake servers (2026-11-27), against the same local servers as
``tests/test_pull.py``:

1. Re-pulling a period: the docs said ``--since`` would, but a later resume point always won, so
   late updates could never be picked up. ``--repull`` (with ``--since``) now starts there.
2. A "200 OK" whose body is an Open311 error list (``[{"code": 503, ...}]``) was loaded as a page
   and failed with exit code 2 naming a temporary file; it is now retried like a 5xx, and a page
   that cannot be loaded fails with exit code 1 naming the page.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.cli import main
from tests.test_pull import (
    FakeApi,
    case_ids,
    env,  # noqa: F401 - fixture
    open311_records,
    open311_responder,
    pull_open311,
)

ERROR_LIST = [{"code": 503, "description": "Service temporarily unavailable, try later"}]


def _statuses(store) -> dict[str, str]:
    c = schema.cases.c
    with store.connect() as conn:
        rows = conn.execute(select(c.request_id, c.status).where(c.source == "open311"))
        return {request_id: status for request_id, status in rows}


def test_repull_picks_up_late_updates_that_a_resumed_pull_skips(
    env,  # noqa: F811
    store,
    capsys,
) -> None:
    records = open311_records(30)
    with FakeApi(open311_responder(records)) as api:
        assert pull_open311(api) == 0
        capsys.readouterr()
        for r in records[:3]:  # closed upstream since the pull
            r["status"] = "closed" if r["status"] == "open" else "open"
        assert pull_open311(api) == 0  # resumes after the last complete window: sees nothing
        resumed = capsys.readouterr().out
        assert "(resumed from " in resumed and ": 0 pages, read 0:" in resumed
        assert pull_open311(api, "--repull") == 0
        again = capsys.readouterr().out
    assert "resumed" not in again and "read 30: 0 inserted, 3 updated, 27 unchanged" in again
    statuses = _statuses(store)
    assert all(statuses[r["service_request_id"]] == r["status"] for r in records)


def test_repull_needs_since(env, capsys) -> None:  # noqa: F811
    assert main(["pull", "open311", "http://127.0.0.1:9/requests.json", "--repull"]) == 2
    assert capsys.readouterr().err.strip() == (
        "stat311: error: --repull needs --since (the start of the period to pull again)"
    )


def test_an_error_list_with_status_200_is_retried(env, store, capsys) -> None:  # noqa: F811
    records = open311_records(20)
    base = open311_responder(records)
    calls = {"n": 0}

    def flaky(path: str, q: dict[str, str]) -> Any:
        calls["n"] += 1
        return ERROR_LIST if calls["n"] == 2 else base(path, q)

    with FakeApi(flaky) as api:
        assert pull_open311(api) == 0
    assert sorted(case_ids(store, "open311")) == sorted(r["service_request_id"] for r in records)


def test_an_error_list_to_the_end_fails_with_exit_1_naming_the_url(
    env,  # noqa: F811
    store,
    capsys,
) -> None:
    with FakeApi(lambda path, q: ERROR_LIST) as api:
        assert pull_open311(api) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"stat311: error: GET {api.url}/open311/v2/requests.json?")
    assert "the server answered with an error: 503 Service temporarily unavailable" in err
    assert "gave up after 4 attempts" in err and "page.json" not in err
    assert case_ids(store, "open311") == []


@pytest.mark.parametrize("rows", [[{"id": 1, "what": "not a request"}], [{"code": 1, "x": 2}]])
def test_a_page_that_cannot_be_loaded_names_the_page_with_exit_1(
    env,  # noqa: F811
    store,
    capsys,
    rows,
) -> None:
    with FakeApi(lambda path, q: rows if q["page"] == "1" else []) as api:
        assert pull_open311(api) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("stat311: error: pull:open311 ") and " page=1: the page cannot be" in err
    assert "page.json" not in err and "/tmp/" not in err
    assert "re-run to resume" in err
