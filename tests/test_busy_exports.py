"""Downloads while a load holds SQLite's write lock (a load is one transaction: minutes at 10M
cases). Every export writes an audit row first; that write waited ``BUSY_TIMEOUT_S`` (30 s) and
then failed, so the download callback answered 500 and the user got nothing and no reason. Now
the export is refused after :data:`dashboard.auth.EXPORT_BUSY_TIMEOUT_S` with the busy message
in a status box next to the buttons, and nothing is handed out unaudited.

A real SQLite store (a copy of the Boston 2011 demo), a real write lock held by a second
connection, the callbacks' plain functions inside a request context of the real app."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import flask
import pytest
from dash import html, no_update
from sqlalchemy.exc import OperationalError

from callbacks import department as dept_cb
from callbacks import hotspots as hs_cb
from dashboard import auth, schema
from dashboard import hotspots as hs
from dashboard.app_factory import create_app
from dashboard.auth import BUSY_MESSAGE, EXPORT_BUSY_TIMEOUT_S, Users
from dashboard.settings import Settings
from dashboard.store import BUSY_TIMEOUT_S, WRITER_LOCK, Store
from layouts import department as dept_page
from layouts import hotspots as hs_page
from tests.conftest import make_settings
from tests.support.components import walk
from tests.support.signin import client_sign_in, make_user
from tests.test_auth import _callback, payload

CODE = "PWDx"
QUERY = "?period=month&date=2011-09-01"
EMAIL = "busy-export@city.test"
STREETLIGHTS = hs.HotspotParams(
    type="Street Light Outages", start=date(2011, 7, 1), end=date(2011, 12, 31)
)
#: A refused export may take this much longer than the wait for the lock (building the CSV, the
#: hot-spot analysis); far below the 30 s it took before.
SLACK_S = 5.0


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def settings(demo, tmp_path_factory) -> Settings:
    """A copy of the demo store and its snapshot (the demo is shared and read-only)."""
    source, _ = demo
    tmp = tmp_path_factory.mktemp("busy")
    copy = make_settings(tmp)
    with (
        sqlite3.connect(_path(source)) as src,
        sqlite3.connect(_path(copy)) as dst,
    ):
        src.backup(dst)
    shutil.copytree(source.snapshot_dir, copy.snapshot_dir)
    make_user(copy, EMAIL, role="executive")
    return copy


@pytest.fixture
def app(settings, reset_dash_registries):
    app = create_app(settings)
    app.server.test_client().get("/healthz")  # Dash finishes its setup
    return app


def _path(settings: Settings) -> str:
    return str(settings.database_url).removeprefix("sqlite:///")


@contextmanager
def signed_in(app) -> Iterator[Any]:
    """A callback's request context: the real app, the executive signed in."""
    users: Users = app.server.extensions["stat311_users"]
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        flask.g.stat311_user = users.by_email(EMAIL)
        yield app.server.extensions["stat311"]  # the app's Services


@contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """What a running load holds: SQLite's write lock, on another connection."""
    loader = sqlite3.connect(_path(settings), isolation_level=None)
    loader.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        loader.execute("ROLLBACK")
        loader.close()


def exports(settings: Settings) -> list[dict[str, Any]]:
    """The export rows of the audit log, oldest first (plain sqlite3, not the code under test)."""
    with sqlite3.connect(_path(settings)) as db:
        rows = db.execute(
            "SELECT email, detail FROM audit_log WHERE event = 'export' ORDER BY id"
        ).fetchall()
    return [{"email": email, **json.loads(detail)} for email, detail in rows]


def timed(call) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def assert_busy(answer: tuple[Any, Any]) -> None:
    download, notice = answer
    assert download is no_update  # nothing handed out, and the last download is left alone
    assert isinstance(notice, html.Div) and "alert" in notice.className
    assert BUSY_MESSAGE in notice.children


# -- the department page ----------------------------------------------------------------------
def test_department_downloads_are_refused_with_the_busy_message_during_a_load(
    app, settings
) -> None:
    assert EXPORT_BUSY_TIMEOUT_S < BUSY_TIMEOUT_S / 5  # the point: well short of the 30 s
    before = len(exports(settings))
    with signed_in(app) as services, write_lock(settings):
        types, types_s = timed(lambda: dept_cb.types_download(services, CODE, QUERY))
        overdue, overdue_s = timed(lambda: dept_cb.overdue_download(services, CODE, QUERY))
        # Before: OperationalError ("database is locked") after 30 s, a 500 for the user.
        for answer in (types, overdue):
            assert_busy(answer)
        for seconds in (types_s, overdue_s):
            # It waited for the lock (a short write ends in milliseconds), then gave up.
            assert EXPORT_BUSY_TIMEOUT_S * 0.9 <= seconds < EXPORT_BUSY_TIMEOUT_S + SLACK_S
        assert len(exports(settings)) == before  # no audit row: no export
    # The short wait was the export's only: the store's connections wait the full time again.
    store: Store = app.server.extensions["stat311_users"].store
    held = [store.connect() for _ in range(3)]  # every pooled connection, and new ones
    try:
        for conn in held:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_S * 1000
    finally:
        for conn in held:
            conn.close()
    # The load done, the same buttons work and clear the message, and both exports are audited.
    with signed_in(app) as services:
        types, types_s = timed(lambda: dept_cb.types_download(services, CODE, QUERY))
        overdue = dept_cb.overdue_download(services, CODE, QUERY)
    assert types_s < EXPORT_BUSY_TIMEOUT_S  # no wait without a load
    for answer, name in ((types, "request_types"), (overdue, "overdue")):
        download, notice = answer
        assert notice is None
        assert download["filename"].startswith(f"{CODE}_{name}_") and download["content"]
    assert "Street Light Outages" in types[0]["content"]
    audited = exports(settings)[before:]
    assert [(e["email"], e["what"], e["department"]) for e in audited] == [
        (EMAIL, "request_types_csv", CODE),
        (EMAIL, "overdue_csv", CODE),
    ]


# -- the hot-spot page ------------------------------------------------------------------------
def test_hotspot_downloads_are_refused_with_the_busy_message_during_a_load(
    app, settings, monkeypatch
) -> None:
    monkeypatch.setattr(auth, "EXPORT_BUSY_TIMEOUT_S", 0.5)  # quick; the real wait is above
    before = len(exports(settings))
    with signed_in(app) as services:
        hs_cb.download(services, STREETLIGHTS, "csv")  # the analysis, cached as the page has it
        with write_lock(settings):
            for fmt in ("csv", "geojson"):
                answer, seconds = timed(
                    lambda f=fmt: hs_cb.download_answer(services, STREETLIGHTS, f)
                )
                assert_busy(answer)
                assert seconds < 0.5 + SLACK_S, fmt
            assert len(exports(settings)) == before
        csv = hs_cb.download_answer(services, STREETLIGHTS, "csv")
        geojson = hs_cb.download_answer(services, STREETLIGHTS, "geojson")
    for (download, notice), suffix in ((csv, ".csv"), (geojson, ".geojson")):
        assert notice is None and download["filename"].endswith(suffix)
    header = csv[0]["content"].splitlines()[0].split(",")
    assert {"lat", "lon", "bin"} <= set(header) and len(csv[0]["content"].splitlines()) > 1
    assert json.loads(geojson[0]["content"])["features"]
    audited = exports(settings)[before:]
    assert [(e["email"], e["what"], e["format"]) for e in audited] == [
        (EMAIL, "hotspots", "csv"),
        (EMAIL, "hotspots", "geojson"),
    ]


# -- other errors -----------------------------------------------------------------------------
@contextmanager
def audit_log_missing(settings: Settings) -> Iterator[None]:
    """A database error that is not "database is locked": the audit table is not there."""
    with sqlite3.connect(_path(settings)) as db:
        db.execute("ALTER TABLE audit_log RENAME TO audit_log_away")
    try:
        yield
    finally:
        with sqlite3.connect(_path(settings)) as db:
            db.execute("ALTER TABLE audit_log_away RENAME TO audit_log")


def test_another_database_error_during_an_export_still_raises(app, settings) -> None:
    """Only SQLite's "database is locked/busy" is the busy message; anything else is an error
    as before (no download, no message hiding it)."""
    with signed_in(app) as services, audit_log_missing(settings):
        with pytest.raises(OperationalError, match="no such table: audit_log"):
            dept_cb.types_download(services, CODE, QUERY)
        with pytest.raises(OperationalError, match="no such table: audit_log"):
            dept_cb.overdue_download(services, CODE, QUERY)
        with pytest.raises(OperationalError, match="no such table: audit_log"):
            hs_cb.download_answer(services, STREETLIGHTS, "csv")
        with pytest.raises(OperationalError, match="no such table: audit_log"):
            auth.audit_export("anything")


# -- the page: where the message goes ---------------------------------------------------------
def _status_region(root: Any, region_id: str, button_id: str) -> Any:
    """The component ``region_id``, checked to be a status region beside ``button_id`` (the
    two in the same parent)."""
    nodes = walk(root)
    (region,) = [n for n in nodes if getattr(n, "id", None) == region_id]
    assert region.role == "status", region_id
    assert region.to_plotly_json()["props"].get("aria-live") == "polite", region_id
    parents = [
        n
        for n in nodes
        if isinstance(getattr(n, "children", None), list) and any(c is region for c in n.children)
    ]
    assert parents, region_id
    siblings = [getattr(c, "id", None) for c in parents[0].children]
    assert button_id in siblings or any(
        button_id in {getattr(d, "id", None) for d in walk(c)} for c in parents[0].children
    ), (region_id, siblings)
    return region


def test_each_download_button_has_a_status_region_that_its_callback_fills(app) -> None:
    pairs = [
        (dept_page.layout(CODE), dept_page.Ids.TYPES_BUSY, dept_page.Ids.TYPES_CSV),
        (dept_page.layout(CODE), dept_page.Ids.OVERDUE_BUSY, dept_page.Ids.OVERDUE_CSV),
        (hs_page.layout(), hs_page.Ids.DOWNLOAD_BUSY, hs_page.Ids.CSV),
        (hs_page.layout(), hs_page.Ids.DOWNLOAD_BUSY, hs_page.Ids.GEOJSON),
    ]
    for root, region_id, button_id in pairs:
        region = _status_region(root, str(region_id), str(button_id))
        assert region.children is None  # empty until a download is refused
    outputs = " ".join(app.callback_map)
    for region_id, download_id in (
        (dept_page.Ids.TYPES_BUSY, dept_page.Ids.TYPES_DOWNLOAD),
        (dept_page.Ids.OVERDUE_BUSY, dept_page.Ids.OVERDUE_DOWNLOAD),
        (hs_page.Ids.DOWNLOAD_BUSY, hs_page.Ids.DOWNLOAD),
    ):
        # One callback answers both: the download, or the message (and clears it).
        assert any(
            f"{download_id}.data" in key and f"{region_id}.children" in key
            for key in app.callback_map
        ), outputs


def test_a_refused_download_answers_200_with_the_message_in_the_page(
    app, settings, monkeypatch
) -> None:
    """Through Dash's endpoint, as the browser asks: no more 500."""
    monkeypatch.setattr(auth, "EXPORT_BUSY_TIMEOUT_S", 0.5)
    client = app.server.test_client()
    password = make_user(settings, "busy-client@city.test", role="executive")
    assert client_sign_in(client, "busy-client@city.test", password).status_code == 302
    key, spec = _callback(app, "..department-types-download.data")
    body = payload(
        key,
        spec,
        {
            "department-types-csv.n_clicks": 1,
            "department-code.data": CODE,
            "department-state.data": QUERY,
        },
    )
    with write_lock(settings):
        refused = client.post("/_dash-update-component", json=body)
    assert refused.status_code == 200
    answer = json.loads(refused.data)["response"]
    assert "department-types-download" not in answer  # no_update: nothing sent
    assert BUSY_MESSAGE in json.dumps(answer["department-types-busy"])
    served = client.post("/_dash-update-component", json=body)
    assert served.status_code == 200
    answer = json.loads(served.data)["response"]
    assert answer["department-types-busy"]["children"] is None  # the message is cleared
    assert "Street Light Outages" in answer["department-types-download"]["data"]["content"]


# -- PostgreSQL: loads do not block the audit row ---------------------------------------------
@pytest.mark.postgis
def test_on_postgresql_an_export_is_audited_while_a_load_holds_the_writer_lock(
    tmp_path: Path,
) -> None:
    """Nothing changes on PostgreSQL: a load (the writer's advisory lock, an open transaction
    that wrote) does not block audit inserts, so the export is audited at once, never refused."""
    import sqlalchemy as sa

    from tests.support.postgis import throwaway_postgis

    with throwaway_postgis() as url:
        pg = make_settings(tmp_path, database_url=url)
        store = Store(url)
        store.migrate()
        users = Users(store, pg)
        users.add(EMAIL, role="executive")
        server = flask.Flask(__name__)
        server.extensions["stat311_users"] = users
        loader = sa.create_engine(url).connect()
        try:
            loader.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            loader.execute(  # a load's run, uncommitted
                sa.insert(schema.ingestion_runs).values(
                    source="busy", path="busy.csv", format="boston", started_at=Store.now()
                )
            )
            with server.test_request_context("/_dash-update-component", method="POST"):
                flask.g.stat311_user = users.by_email(EMAIL)
                _, seconds = timed(lambda: auth.audit_export("request_types_csv", rows=1))
            assert seconds < 1.0
            entries = users.audit_entries(limit=5)
            assert entries[0]["event"] == "export" and entries[0]["email"] == EMAIL
            assert json.loads(entries[0]["detail"]) == {"what": "request_types_csv", "rows": 1}
        finally:
            loader.rollback()
            loader.close()
            store.dispose()
