"""Web workers started by gunicorn, as the deployment recipe runs them (a review, 2026-11-27).

Under gunicorn the app's log lines were lost (gunicorn sets up only its own logger), a worker
on a new database answered 500 ("relation cases does not exist") because only the commands
brought the schema up to date, a stale snapshot was served without a word, and ``/healthz``
said "ok" whatever the state of the store. Real gunicorn, real HTTP."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from dashboard.store import Store
from etl.load import load_file
from tests.conftest import ROOT, make_settings
from tests.support.exports import write_boston_export

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: ", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """One gunicorn worker serving ``app:server`` on a free port; its base URL."""
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
             "app:server"],
            cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    requests.get(base + "/healthz", timeout=5)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _env(settings) -> dict[str, str]:
    return {
        "STAT311_DATABASE_URL": settings.database_url,
        "STAT311_SNAPSHOT_DIR": str(settings.snapshot_dir),
        "STAT311_LOG_LEVEL": "INFO",
        "STAT311_SECRET_KEY": "a-test-secret-key-of-thirty-two-chars",
    }


def test_a_worker_on_a_new_database_brings_the_schema_up_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    log = tmp_path / "gunicorn.log"
    with gunicorn(_env(settings), log) as base:
        health = requests.get(base + "/healthz", timeout=10)
        api = requests.get(base + "/open311/v2/requests.json", timeout=10)
    text = log.read_text()
    assert health.status_code == 503
    assert health.text == "no read-model snapshot yet: run `stat311 snapshot` or load an export"
    assert api.status_code != 500, api.text
    db = sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (0,)  # the tables exist
    db.close()
    assert re.search(LINE.pattern + r"no read-model snapshot yet", text, re.M), text


def test_a_stale_snapshot_is_named_in_the_log_and_healthz_checks_the_store(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    store.migrate()
    load_file(write_boston_export(tmp_path / "one.csv", [{"case_enquiry_id": "1"}]),
              store=store, settings=settings)  # fmt: skip
    store.dispose()
    policy = tmp_path / "policy.yaml"
    policy.write_text("compliance_target: 85\n", encoding="utf-8")
    log = tmp_path / "gunicorn.log"
    with gunicorn({**_env(settings), "STAT311_SLA_POLICY": str(policy)}, log) as base:
        assert requests.get(base + "/healthz", timeout=10).text == "ok"
        # The store stops answering (its cases table gone): the check says so, with 503.
        db = sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///"))
        db.execute("ALTER TABLE cases RENAME TO cases_away")
        db.commit()
        broken = requests.get(base + "/healthz", timeout=10)
        db.execute("ALTER TABLE cases_away RENAME TO cases")
        db.commit()
        db.close()
        assert (broken.status_code, broken.text) == (503, "the store does not answer")
        assert requests.get(base + "/healthz", timeout=10).status_code == 200
    text = log.read_text()
    assert re.search(
        LINE.pattern + r"the read-model snapshot is out of date \(the SLA policy changed since "
        r"it was written\)",
        text,
        re.M,
    ), text
    assert re.search(LINE.pattern + r"health check failed: the store does not answer", text, re.M)
