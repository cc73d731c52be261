"""The served app on a PostgreSQL + PostGIS store, answer for answer the same as on SQLite.

The store-level tests (``test_postgis.py``, ``test_postgis_review.py``) check what the store holds;
this module checks what the *app* serves from it. The same data goes into a SQLite store and a
PostGIS store, each with its own snapshot directory, through the real ``stat311`` command:
``stat311 demo`` (the Boston neighbourhoods and the bundled Boston 2011 export, then the
snapshot) and ``stat311 ingest --format open311`` of a small ``requests.json`` written here (a
private request, one that reuses a Boston tracking number, a duplicate of the private one, a row
that is quarantined). The real app (``create_app(settings)``) is built once for each store, and
the same requests go to both through Flask's test client: the Open311 API, the public portal's
callbacks, staff sign-in (on PostGIS), the staff pages' callbacks and downloads, and ``stat311
runs`` / ``quarantine`` / ``backup``. Some answers are also checked against pandas over the raw
export, and the filters against what they ask for.

What reads which: Open311 lists and lookups and the portal's request pages read the store
(``PublicData``: SQLAlchemy Core); ``services.json``, the portal's map and performance, and every
staff page, the overdue list and the CSV downloads included, read the DuckDB snapshot; the store
is also read for the boundary polygons (department map, hot-spot study area) and written for
sign-ins and the audit rows of downloads.

The PostGIS database's sessions default to ``America/Los_Angeles`` (``ALTER DATABASE ... SET
timezone``), neither UTC nor the city's zone, as on a server set to its own local time: psycopg
then hands times out in that zone, and what the app shows must not change.

Answers are compared whole. Left out, because they are each store's or snapshot's own: the
snapshot's creation time (``discovery.json``'s changeset, the manifest's ``created_at``), the
start of the run that wrote it and the name of the snapshot it was merged from (manifest), and
the start, end and length of each load (``runs``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dashboard.app_factory import create_app
from dashboard.auth import Users
from dashboard.settings import Settings
from dashboard.store import Store
from tests.conftest import BOSTON_ZIP, ROOT
from tests.support.postgis import ENV_URL, postgis_url_from_env
from tests.support.signin import client_sign_in, make_user
from tests.test_auth import payload
from tests.test_open311 import sample_ids

pytestmark = pytest.mark.postgis

STAT311 = Path(sys.executable).with_name("stat311")
API = "/open311/v2"
STAFF_CALLBACK = "/_dash-update-component"
PORTAL_CALLBACK = "/public/_dash-update-component"
SIDES = ("sqlite", "postgis")
#: The PostGIS database's session time zone: not UTC and not the city's (America/New_York).
PG_TIMEZONE = "America/Los_Angeles"
BOSTON_ROWS = 58_251

# -- the Open311 file loaded after the demo ------------------------------------------------------
PRIVATE_ID = "PGAPP-PRIVATE-1"
PRIVATE_CODE = "PGAPP-PRIVATE-ONLY"  # a request type with no public request at all
PUBLIC_ID = "PGAPP-PUBLIC-1"
DUPLICATE_ID = "PGAPP-DUPLICATE-1"  # a duplicate of the private request
SHARED_ID = "101000295613"  # a Boston tracking number, reused by the Open311 source
UNKNOWN_ID = "PGAPP-NO-SUCH-1"
_COMMON = {"agency_responsible": "PWDx", "duplicate": "false", "private_case": "false"}
EXTRA_REQUESTS: list[dict[str, Any]] = [
    {
        **_COMMON,
        "service_request_id": PRIVATE_ID,
        "private_case": "true",
        "status": "open",
        "service_code": PRIVATE_CODE,
        "service_name": "Private Only Type",
        "description": "Resident John Smith at 12 Elm St",
        "requested_datetime": "2011-09-15T10:00:00-04:00",
        "address": "12 Elm St",
        "lat": 42.3301,
        "long": -71.0801,
    },
    {
        **_COMMON,
        "service_request_id": PUBLIC_ID,
        "status": "closed",
        "service_code": "Request for Pothole Repair",
        "service_name": "Request for Pothole Repair",
        "description": "Pothole outside 40 Dartmouth St",
        "requested_datetime": "2011-09-15T11:30:00-04:00",
        "updated_datetime": "2011-09-16T09:15:00-04:00",
        "address": "40 Dartmouth St",
        "lat": 42.3401,
        "long": -71.0702,
    },
    {
        **_COMMON,
        "service_request_id": SHARED_ID,
        "status": "open",
        "service_code": "Graffiti Removal",
        "service_name": "Graffiti Removal",
        "requested_datetime": "2011-08-01T09:00:00-04:00",
        "expected_datetime": "2011-08-05T09:00:00-04:00",
        "address": "7 Beacon St",
        "lat": 42.3575,
        "long": -71.0627,
    },
    {
        **_COMMON,
        "service_request_id": DUPLICATE_ID,
        "duplicate": PRIVATE_ID,
        "status": "closed",
        "service_code": "Street Light Outages",
        "service_name": "Street Light Outages",
        "requested_datetime": "2011-09-15T12:00:00-04:00",
        "updated_datetime": "2011-09-15T13:00:00-04:00",
        "address": "14 Elm St",
        "lat": 42.3302,
        "long": -71.0802,
    },
    {  # quarantined: no readable time
        **_COMMON,
        "service_request_id": "PGAPP-BAD-1",
        "status": "open",
        "service_code": "Graffiti Removal",
        "service_name": "Graffiti Removal",
        "requested_datetime": "the day before yesterday",
    },
]
#: The extra requests that load (all but the quarantined one).
EXTRA_LOADED = 4


# -- the two stores and their apps ----------------------------------------------------------------
@dataclass
class Side:
    name: str
    url: str
    snapshots: Path
    settings: Settings
    environ: dict[str, str]
    reports: list[dict[str, Any]] = field(default_factory=list)


def _cli(side: Side, *args: str) -> subprocess.CompletedProcess:
    """The real ``stat311`` command in a subprocess, configured only by STAT311_* variables."""
    return subprocess.run(
        [str(STAT311), *args],
        cwd=ROOT,
        env=side.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _admin(url: str, database: str) -> sa.Engine:
    target = make_url(url).set(database=database)
    return sa.create_engine(target, poolclass=NullPool, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module", autouse=True)
def _database_zone_only() -> Iterator[None]:
    """No ``PGTZ`` from the environment: the database's own zone applies, in this process too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PGTZ", raising=False)
        yield


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A new, empty PostGIS database whose sessions run in :data:`PG_TIMEZONE`, on the
    throwaway server (or on ``$STAT311_TEST_DATABASE_URL``'s server: a database of its own
    there, dropped afterwards, since that one is not guaranteed to be empty)."""
    external = bool(os.environ.get(ENV_URL, "").strip())
    with postgis_url_from_env() as server:
        name = f"app_{uuid.uuid4().hex[:12]}"
        admin = _admin(server, "postgres")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone TO '{PG_TIMEZONE}'")
            engine = _admin(server, name)
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                engine.dispose()
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            if external:  # (a throwaway server goes with its databases)
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


@pytest.fixture(scope="module")
def sides(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Side]:
    """Both stores loaded the same way, in parallel, through the CLI: ``stat311 demo`` then
    ``stat311 ingest`` of the Open311 file. Read-only for the tests, except users and audit rows."""
    tmp = tmp_path_factory.mktemp("app_on_postgis")
    extra = tmp / "requests.json"
    extra.write_text(json.dumps(EXTRA_REQUESTS), encoding="utf-8")
    urls = {"sqlite": f"sqlite:///{tmp / 'stat311.db'}", "postgis": pg_url}
    out: dict[str, Side] = {}
    for name, url in urls.items():
        snapshots = tmp / f"{name}_snapshots"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("STAT311_", "PGTZ"))}
        environ.update(
            STAT311_DATABASE_URL=url,
            STAT311_SNAPSHOT_DIR=str(snapshots),
            STAT311_LOG_LEVEL="WARNING",
        )
        settings = Settings.from_env(
            {},
            database_url=url,
            snapshot_dir=snapshots,
            rate_limit="1000000 per minute",  # the tests send many requests from one address
            sign_in_rate_limit="1000 per minute",
            secret_key=uuid.uuid4().hex * 2,
        )
        out[name] = Side(name, url, snapshots, settings, environ)

    def load(side: Side) -> None:
        demo = _cli(side, "demo")
        assert demo.returncode == 0, (side.name, demo.stderr[-2000:])
        assert "demo data ready" in demo.stdout
        ingest = _cli(side, "ingest", str(extra), "--format", "open311", "--json")
        assert ingest.returncode == 0, (side.name, ingest.stderr[-2000:])
        side.reports.append(json.loads(ingest.stdout.strip().splitlines()[-1]))

    with ThreadPoolExecutor(len(out)) as pool:
        list(pool.map(load, out.values()))
    return out


def _clear_dash_registries() -> None:
    """Dash keeps pages and callbacks in module globals: each app must start from none."""
    import dash
    from dash._callback import GLOBAL_CALLBACK_LIST, GLOBAL_CALLBACK_MAP

    dash.page_registry.clear()
    GLOBAL_CALLBACK_LIST.clear()
    GLOBAL_CALLBACK_MAP.clear()


@pytest.fixture(scope="module")
def apps(sides: dict[str, Side]) -> Iterator[dict[str, Any]]:
    """The real app of each store (Dash's set-up finished by a first request)."""
    out = {}
    for name, side in sides.items():
        _clear_dash_registries()
        app = create_app(side.settings)
        assert app.server.test_client().get("/healthz").status_code == 200
        out[name] = app
    yield out
    _clear_dash_registries()
    for app in out.values():
        app.server.extensions["stat311_public"].store.dispose()
        app.server.extensions["stat311_users"].store.dispose()


@pytest.fixture(scope="module")
def staff(sides: dict[str, Side], apps: dict[str, Any]) -> dict[str, Any]:
    """A signed-in executive's test client on each app."""
    clients = {}
    for name, side in sides.items():
        email = "pgapp-exec@city.test"
        password = make_user(side.settings, email, role="executive")
        client = apps[name].server.test_client()
        response = client_sign_in(client, email, password)
        assert response.status_code == 302, (name, response.get_data(as_text=True)[:300])
        clients[name] = client
    return clients


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The bundled Boston export as it is in the file (text), with its local open time."""
    frame = pd.read_csv(BOSTON_ZIP, dtype=str, keep_default_na=False)
    frame["opened"] = pd.to_datetime(frame["open_dt"], format="%Y-%m-%d %H:%M:%S")
    return frame


# -- helpers ---------------------------------------------------------------------------------------
def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ (None when equal), to keep failure messages short."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {str(a)[:200]!r} != {type(b).__name__} {str(b)[:200]!r}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(set(a) ^ set(b))[:10]} differ"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {str(a)[:300]!r} != {str(b)[:300]!r}"


def assert_same(answers: dict[str, Any], what: str) -> Any:
    """The SQLite and PostGIS answers are equal; returns the SQLite one."""
    difference = first_difference(answers["sqlite"], answers["postgis"])
    assert difference is None, f"{what}: SQLite and PostGIS differ at {difference}"
    return answers["sqlite"]


def get(apps: dict[str, Any], path: str, status: int = 200) -> dict[str, Any]:
    """``path`` from both apps (a new anonymous client each); the responses by side."""
    out = {}
    for name, app in apps.items():
        response = app.server.test_client().get(path)
        assert response.status_code == status, (name, path, response.get_data(as_text=True)[:500])
        out[name] = response
    return out


def get_json(apps: dict[str, Any], path: str, status: int = 200) -> Any:
    responses = get(apps, path, status)
    for name, response in responses.items():
        assert response.mimetype == "application/json", (name, path)
    return assert_same({n: r.get_json() for n, r in responses.items()}, path)


def xml_tree(element: ET.Element) -> Any:
    """An XML element as nested lists (tag, attributes, text, children), to compare."""
    return [element.tag, element.attrib, element.text, [xml_tree(c) for c in element]]


def get_xml(apps: dict[str, Any], path: str, status: int = 200) -> ET.Element:
    responses = get(apps, path, status)
    trees = {}
    for name, response in responses.items():
        assert response.mimetype == "text/xml", (name, path)
        trees[name] = xml_tree(ET.fromstring(response.data))
    assert_same(trees, path)
    return ET.fromstring(responses["sqlite"].data)


def callback(app: Any, output: str) -> tuple[str, dict[str, Any]]:
    """The registered callback whose outputs begin with ``output`` (its key and spec)."""
    found = [
        (key, spec)
        for key, spec in app.callback_map.items()
        if key == output or key.startswith(output) or key.startswith(".." + output)
    ]
    assert len(found) == 1, (output, [k for k, _ in found])
    return found[0]


def post_callbacks(
    apps: dict[str, Any],
    clients: dict[str, Any] | None,
    output: str,
    values: dict[str, Any],
    *,
    portal: bool = False,
) -> dict[str, Any]:
    """One callback on both apps (the staff app's, or the portal's when ``portal``): each
    side's JSON answer."""
    out = {}
    for name, app in apps.items():
        dash_app = app.server.extensions["stat311_public_app"] if portal else app
        key, spec = callback(dash_app, output)
        client = app.server.test_client() if clients is None else clients[name]
        response = client.post(
            PORTAL_CALLBACK if portal else STAFF_CALLBACK, json=payload(key, spec, values)
        )
        assert response.status_code == 200, (name, output, response.get_data(as_text=True)[:500])
        out[name] = json.loads(response.data)
    return out


def words(value: Any) -> str:
    """Every text in a Dash answer, in order (component trees as JSON)."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            found.append(str(item))
        elif isinstance(item, list):
            for x in item:
                walk(x)
        elif isinstance(item, dict):
            if "props" in item:
                walk(item["props"].get("children"))
            else:
                for x in item.values():
                    walk(x)

    walk(value)
    return " ".join(found)


def sql_rows(url: str, sql: str, **params: Any) -> list[Any]:
    store = Store(url)
    try:
        with store.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        store.dispose()


# -- the stores ------------------------------------------------------------------------------------
def test_both_stores_loaded_the_same_and_the_apps_are_their_own(
    sides: dict[str, Side], apps: dict[str, Any]
) -> None:
    reports = {n: s.reports[0] for n, s in sides.items()}
    for report in reports.values():
        assert (report["read"], report["inserted"], report["updated"], report["unchanged"]) == (
            len(EXTRA_REQUESTS),
            EXTRA_LOADED,
            0,
            0,
        )
        assert report["quarantined"] == {"unparseable_requested_at": 1}
    for name, side in sides.items():
        (cases,) = sql_rows(side.url, "SELECT count(*) FROM cases")
        assert cases[0] == BOSTON_ROWS + EXTRA_LOADED, name
        (private,) = sql_rows(side.url, "SELECT request_id FROM cases WHERE is_private")
        assert private[0] == PRIVATE_ID, name
    # Each app reads its own store and snapshot (else every comparison below is vacuous).
    for name, app in apps.items():
        services = app.server.extensions["stat311"]
        public = app.server.extensions["stat311_public"]
        assert services.settings.database_url == sides[name].url
        assert public.store.dialect == ("postgresql" if name == "postgis" else "sqlite")
        assert Path(public.read_model.snapshot()).parent == sides[name].snapshots
    # The PostGIS database's sessions default to a zone that is neither UTC nor the city's.
    engine = sa.create_engine(sides["postgis"].url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar() == PG_TIMEZONE
    finally:
        engine.dispose()


# -- Open311 -----------------------------------------------------------------------------------------
def test_services_are_the_same_and_are_the_exports_public_types(apps, raw) -> None:
    services = get_json(apps, f"{API}/services.json")
    get_xml(apps, f"{API}/services.xml")
    codes = [s["service_code"] for s in services]
    # pandas: every type of the export, and the Open311 file's public types (all Boston types)
    expected = set(raw.loc[raw["type"].str.strip() != "", "type"].str.strip())
    assert set(codes) == expected
    assert PRIVATE_CODE not in codes  # its only request is private
    assert len(codes) == len(set(codes))
    # discovery: the same but for its changeset, which is the snapshot's own creation time
    discovery = {n: r.get_json() for n, r in get(apps, f"{API}/discovery.json").items()}
    for name, app in apps.items():
        changeset = app.server.extensions["stat311"].read_model.manifest()["created_at"]
        assert discovery[name].pop("changeset") == changeset
        assert discovery[name]["endpoints"][0].pop("changeset") == changeset
    assert_same(discovery, "discovery.json")
    light = get_json(apps, f"{API}/services/{quote('Street Light Outages')}.json")
    assert light == {"service_code": "Street Light Outages", "attributes": []}
    get_json(apps, f"{API}/services/{PRIVATE_CODE}.json", status=404)


DAY = {"start_date": "2011-09-15T00:00:00-04:00", "end_date": "2011-09-15T23:59:59-04:00"}
LIST_QUERIES: dict[str, dict[str, str | list[str]]] = {
    "default window": {},
    "one code": {"service_code": "Street Light Outages"},
    "two codes": {"service_code": "Graffiti Removal,Request for Pothole Repair"},
    "two codes, repeated": {"service_code": ["Graffiti Removal", "Street Light Outages"]},
    "open": {"status": "open", "page_size": "500"},
    "closed": {"status": "closed", "page_size": "500"},
    "open and closed": {"status": "open,closed", **DAY},
    "one day": DAY,
    "start only, UTC": {"start_date": "2011-12-20T05:00:00Z"},
    "end only, +05:30": {"end_date": "2011-07-01T12:00:00+05:30"},
    "updated after": {"updated_after": "2011-12-30T00:00:00-05:00"},
    "updated before": {"updated_before": "2011-07-01T12:00:00-04:00"},
    "updated between": {
        "updated_after": "2011-09-15T12:00:00-04:00",
        "updated_before": "2011-09-16T12:00:00-04:00",
    },
    "bbox": {"bbox": "-71.09,42.33,-71.06,42.35", **DAY},
    "bbox, exact type": {
        "bbox": "-71.09,42.30,-71.05,42.34",
        "service_code": "Street Light Outages",
        "start_date": "2011-09-01T00:00:00-04:00",
        "end_date": "2011-09-30T23:59:59-04:00",
    },
    "page 3 of 50": {"page": "3", "page_size": "50"},
    "extensions": {"extensions": "true", **DAY},
    "ids": {"service_request_id": f"{SHARED_ID},{PUBLIC_ID},{PRIVATE_ID},{UNKNOWN_ID}"},
    "nothing matches": {"service_code": PRIVATE_CODE},
}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _within(query: dict[str, Any], item: dict[str, Any]) -> bool:
    """Does a listed request satisfy the query's filters (as the API documents them)?"""
    codes = query.get("service_code")
    if codes:
        codes = codes if isinstance(codes, list) else codes.split(",")
        if item["service_code"] not in codes:
            return False
    if "status" in query and item["status"] not in query["status"].split(","):
        return False
    requested, updated = _time(item["requested_datetime"]), _time(item["updated_datetime"])
    for name, ok in (
        ("start_date", lambda t: requested >= t),
        ("end_date", lambda t: requested <= t),
        ("updated_after", lambda t: updated >= t),
        ("updated_before", lambda t: updated <= t),
    ):
        if name in query and not ok(_time(query[name])):
            return False
    if "bbox" in query:
        west, south, east, north = (float(v) for v in query["bbox"].split(","))
        lat, lon = item["lat"], item["long"]
        if lat is None or not (south <= lat <= north and west <= lon <= east):
            return False
    return True


@pytest.mark.parametrize("name", LIST_QUERIES)
def test_request_lists_are_the_same(apps, name: str) -> None:
    query = urlencode(LIST_QUERIES[name], doseq=True)
    items = get_json(apps, f"{API}/requests.json?{query}")
    if name == "nothing matches":
        assert items == []
    else:
        assert items, f"{name}: nothing to compare"
    assert PRIVATE_ID not in {i["service_request_id"] for i in items}
    if name != "ids":  # (ids override every other filter)
        outside = [i["service_request_id"] for i in items if not _within(LIST_QUERIES[name], i)]
        assert not outside, f"{name}: {len(outside)} requests outside the filter: {outside[:5]}"
    root = get_xml(apps, f"{API}/requests.xml?{query}")
    assert len(root.findall("request")) == len(items)
    if name == "ids":
        ids = [i["service_request_id"] for i in items]
        # every source's case with a shared number; newest first
        assert sorted(ids) == sorted([SHARED_ID, SHARED_ID, PUBLIC_ID]), ids
    if name == "two codes, repeated":
        assert {i["service_code"] for i in items} == {"Graffiti Removal", "Street Light Outages"}
    if name == "extensions":
        assert all("extended_attributes" in i for i in items)
        assert any(i["extended_attributes"]["areas"] for i in items)


def test_one_day_of_street_lights_is_the_exports(apps, raw) -> None:
    """``requests.json`` over one day and one type against pandas over the raw file: the same
    cases (and the Open311 file's public one of that type), statuses, and exact points."""
    query = urlencode({**DAY, "service_code": "Street Light Outages", "page_size": "500"})
    items = get_json(apps, f"{API}/requests.json?{query}")
    day = raw[
        (raw["opened"] >= "2011-09-15")
        & (raw["opened"] < "2011-09-16")
        & (raw["type"] == "Street Light Outages")
    ]
    assert len(day) > 5
    by_id = {i["service_request_id"]: i for i in items}
    assert set(by_id) == set(day["case_enquiry_id"]) | {DUPLICATE_ID}
    for row in day.itertuples(index=False):
        item = by_id[row.case_enquiry_id]
        assert item["status"] == row.case_status.strip().lower()
        assert item["requested_datetime"] == pd.Timestamp(row.open_dt).isoformat() + "-04:00"
        if item["lat"] is not None:  # exact type: the stored point, as in the file
            assert (item["lat"], item["long"]) == (float(row.latitude), float(row.longitude))
    # newest first
    times = [datetime.fromisoformat(i["requested_datetime"]) for i in items]
    assert times == sorted(times, reverse=True)


def test_pages_are_the_same_and_add_up(apps) -> None:
    whole = get_json(apps, f"{API}/requests.json?{urlencode({**DAY, 'page_size': '500'})}")
    assert 100 < len(whole) < 500
    pages = []
    for page in (1, 2, 3, 4, 5):
        query = urlencode({**DAY, "page_size": "100", "page": str(page)})
        pages += get_json(apps, f"{API}/requests.json?{query}")
    assert [i["service_request_id"] for i in pages] == [i["service_request_id"] for i in whole]
    assert pages == whole


def test_requests_by_id_are_the_same_and_private_is_unknown(apps, sides) -> None:
    kinds = sample_ids(sides["sqlite"].settings)
    ids = [*kinds.values(), SHARED_ID, PUBLIC_ID, DUPLICATE_ID]
    for request_id in ids:
        for suffix in (".json", ".json?extensions=true"):
            items = get_json(apps, f"{API}/requests/{quote(request_id)}{suffix}")
            assert {i["service_request_id"] for i in items} == {request_id}
        root = get_xml(apps, f"{API}/requests/{quote(request_id)}.xml?extensions=true")
        assert root.find("request/service_request_id").text == request_id
    shared = get_json(apps, f"{API}/requests/{SHARED_ID}.json?extensions=true")
    assert [i["service_name"] for i in shared] == ["Street Light Outages", "Graffiti Removal"]
    assert [i["extended_attributes"]["channel"] for i in shared] == ["employee", "unknown"]
    duplicate = get_json(apps, f"{API}/requests/{DUPLICATE_ID}.json?extensions=true")[0]
    assert duplicate["extended_attributes"]["duplicate_of"] is None  # the parent is private
    assert PRIVATE_ID not in json.dumps(duplicate)
    # Private and unknown: 404 on both, with the same answer but for the number.
    for fmt in ("json", "xml"):
        private = get(apps, f"{API}/requests/{PRIVATE_ID}.{fmt}", status=404)
        unknown = get(apps, f"{API}/requests/{UNKNOWN_ID}.{fmt}", status=404)
        for name in SIDES:
            body = private[name].get_data(as_text=True)
            assert body.replace(PRIVATE_ID, UNKNOWN_ID) == unknown[name].get_data(as_text=True)
        assert_same({n: r.get_data(as_text=True) for n, r in private.items()}, fmt)


# -- the public portal -----------------------------------------------------------------------------
def test_portal_request_pages_are_the_same(apps, sides) -> None:
    kinds = sample_ids(sides["sqlite"].settings)
    for request_id in [*kinds.values(), SHARED_ID, PUBLIC_ID, DUPLICATE_ID]:
        path = f"/public/requests/{quote(request_id)}"
        answer = assert_same(
            post_callbacks(apps, None, "public-content.children", {"public-url.pathname": path},
                           portal=True),
            path,
        )  # fmt: skip
        text = words(answer["response"])
        assert f"Request {request_id}" in text, text[:300]
    # private and unknown: the same "not found" page on both, but for the number
    pages = {}
    for request_id in (PRIVATE_ID, UNKNOWN_ID):
        path = f"/public/requests/{request_id}"
        answer = post_callbacks(
            apps, None, "public-content.children", {"public-url.pathname": path}, portal=True
        )
        pages[request_id] = json.dumps(assert_same(answer, path)).replace(request_id, "#")
    assert pages[PRIVATE_ID] == pages[UNKNOWN_ID]
    for route in ("/public/performance", "/public/"):
        assert_same(
            post_callbacks(apps, None, "public-content.children", {"public-url.pathname": route},
                           portal=True),
            route,
        )  # fmt: skip


@pytest.mark.parametrize("view", ["area", "cell", "points"])
def test_portal_maps_are_the_same(apps, view: str) -> None:
    values = {
        "public-map-url.search": f"?days=90&view={view}",
        "public-map-type.value": None,
        "public-map-days.value": "90",
        "public-map-view.value": view,
        "public-viewport.data": 1200,
    }
    answers = post_callbacks(apps, None, "public-map-url.search", values, portal=True)
    for name, answer in answers.items():
        assert PRIVATE_ID not in json.dumps(answer), name
        figure = answer["response"]["public-map-graph"]["figure"]
        # (under the cells and points: the areas' outlines, for orientation)
        trace = next(t for t in figure["data"] if t.get("name") != "Areas")
        if view == "points":
            assert trace["type"] == "scattermap" and trace["lat"], (name, view)
            continue
        assert trace["locations"], (name, view)
        if view == "cell":
            # Busiest first; cells with as many requests in one order (by cell), so the map and
            # its table are the same on every call and every store.
            assert trace["z"] == sorted(trace["z"], reverse=True), name
            shown = list(zip(trace["z"], trace["locations"], strict=True))
            ordered = sorted(shown, key=lambda item: (-item[0], int(item[1])))
            moved = sum(a != b for a, b in zip(shown, ordered, strict=True))
            assert moved == 0, (
                f"{name}: {moved} of {len(shown)} cells are not in cell order among the cells "
                "with as many requests"
            )
    assert_same(answers, view)


# -- staff: sign-in on PostGIS -------------------------------------------------------------------------
def _csrf(client: Any, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _user(url: str, email: str) -> Any:
    (row,) = sql_rows(
        url, "SELECT failed_attempts, locked_until FROM users WHERE email = :e", e=email
    )
    return row


def test_staff_sign_in_lockout_and_sign_out_on_postgis(sides, apps, command) -> None:
    side, app = sides["postgis"], apps["postgis"]
    settings = side.settings
    email = "pgapp-staff@city.test"
    password = make_user(settings, email, role="department", departments=("PWDx",))
    # The user is in the PostGIS store only: the SQLite app does not know it.
    lite = apps["sqlite"].server.test_client()
    assert client_sign_in(lite, email, password).status_code == 401
    client = app.server.test_client()
    started = datetime.now(UTC)

    # A wrong password counts one attempt, in the PostGIS store.
    assert client_sign_in(client, email, "a wrong password").status_code == 401
    assert _user(side.url, email).failed_attempts == 1
    assert client.get("/requests").status_code == 302
    # The attempts up to the limit lock the account.
    for _ in range(settings.lockout_attempts - 1):
        assert client_sign_in(client, email, "a wrong password").status_code == 401
    row = _user(side.url, email)
    assert row.failed_attempts == 0 and row.locked_until is not None
    locked_for = row.locked_until - datetime.now(UTC)
    assert timedelta(minutes=settings.lockout_minutes - 1) < locked_for
    assert locked_for <= timedelta(minutes=settings.lockout_minutes)
    # Locked: even the right password is refused.
    assert client_sign_in(client, email, password).status_code == 401
    assert client.get("/requests").status_code == 302
    # `stat311 users enable` on the PostGIS URL clears the lock.
    assert command(side, "users", "enable", email)[0] == 0
    assert client_sign_in(client, email, password).status_code == 302
    assert client.get("/department/PWDx").status_code == 200
    assert client.get("/_dash-layout").status_code == 200

    # A copy of the session cookie works... until sign-out ends the session on the server.
    kept = client.get_cookie("stat311_session").value
    copy = app.server.test_client()
    copy.set_cookie("stat311_session", kept)
    assert copy.get("/requests").status_code == 200
    signed_out = client.post("/sign-out", data={"csrf_token": _csrf(client, "/sign-out")})
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/sign-in"
    assert client.get("/requests").status_code == 302
    replay = app.server.test_client()
    replay.set_cookie("stat311_session", kept)
    assert replay.get("/requests").status_code == 302
    assert replay.post(STAFF_CALLBACK, json={}).status_code == 403

    # A password reset ends the sessions issued before it.
    assert client_sign_in(client, email, password).status_code == 302
    before_reset = client.get_cookie("stat311_session").value
    new_password = Users(Store(side.url), settings).reset_password(email)
    again = app.server.test_client()
    again.set_cookie("stat311_session", before_reset)
    assert again.get("/requests").status_code == 302
    assert client_sign_in(again, email, new_password).status_code == 302
    assert again.get("/requests").status_code == 200

    # Every step is in the PostGIS audit log, at its time, with the client's address.
    rows = sql_rows(
        side.url,
        "SELECT at, event, detail, ip FROM audit_log WHERE email = :e ORDER BY id",
        e=email,
    )
    events = [r.event for r in rows]
    reasons = [json.loads(r.detail).get("reason") for r in rows if r.event == "sign_in_failed"]
    assert events.count("sign_in_failed") == settings.lockout_attempts + 1
    assert reasons == ["password"] * settings.lockout_attempts + ["locked"]
    assert events.count("locked_out") == 1
    assert events.count("sign_in") == 3 and events.count("sign_out") == 1
    assert events[0] == "user_added" and "user_enabled" in events and "password_reset" in events
    assert events.index("locked_out") < events.index("user_enabled") < events.index("sign_out")
    for r in rows:
        assert r.at.utcoffset() is not None and started - timedelta(seconds=5) <= r.at
        assert r.at <= datetime.now(UTC)
    web = [r for r in rows if r.event in {"sign_in", "sign_in_failed", "sign_out", "locked_out"}]
    assert {r.ip for r in web} == {"127.0.0.1"}
    # None of it went to the SQLite store.
    assert sql_rows(sides["sqlite"].url, "SELECT id FROM users WHERE email = :e", e=email) == []


# -- staff pages -----------------------------------------------------------------------------------
SEPTEMBER = {"kind": "month", "date": "2011-09-01", "query": "?period=month&date=2011-09-01"}
DEPARTMENT = {
    "department-kind.value": "month",
    "department-date.value": "2011-09-01",
    "department-code.data": "PWDx",
    "department-state.data": SEPTEMBER["query"],
}
OVERDUE_REQUEST = {"startRow": 0, "endRow": 100, "sortModel": []}
HOTSPOTS = {
    "hotspots-type.value": "Street Light Outages",
    "hotspots-dates-start.value": "2011-07-01",
    "hotspots-dates-end.value": "2011-12-31",
    "hotspots-mode.value": "count",
    "hotspots-view.value": "map",
}
STAFF_VIEWS: dict[str, tuple[str, dict[str, Any]]] = {
    "overview": (
        "overview-headline.children",
        {
            "overview-kind.value": "month",
            "overview-date.value": "2011-09-01",
            "overview-url.search": SEPTEMBER["query"],
        },
    ),
    "department": ("department-heading.children", DEPARTMENT),
    "department repeats": ("department-repeats-summary.children", DEPARTMENT),
    "department map": (
        "department-map.figure",
        {**DEPARTMENT, "department-layer.value": "neighborhood"},
    ),
    "department overdue": (
        "department-overdue.getRowsResponse",
        {**DEPARTMENT, "department-overdue.getRowsRequest": OVERDUE_REQUEST},
    ),
    "department overdue by address": (
        "department-overdue.getRowsResponse",
        {
            **DEPARTMENT,
            "department-overdue.getRowsRequest": {
                "startRow": 20,
                "endRow": 40,
                "sortModel": [{"colId": "address", "sort": "asc"}],
            },
        },
    ),
    "department init": ("department-kind.value", {"department-state.data": SEPTEMBER["query"]}),
    "hot spots": ("hotspots-map.figure", HOTSPOTS),
    "hot spots init": ("hotspots-type.options", {"hotspots-state.data": "?type=Graffiti+Removal"}),
    "requests": (
        "requests-chart.figure",
        {
            "requests-dates-start.value": "2011-09-01",
            "requests-dates-end.value": "2011-09-30",
            "requests-period.value": "week",
            "requests-layer.value": "neighborhood",
            "requests-area.value": ["Roxbury", "Dorchester"],
        },
    ),
    "requests init": ("requests-department.options", {"requests-state.data": "?period=month"}),
}


#: Something each staff answer must say (so that two empty answers do not compare equal).
STAFF_CONTENT = {
    "overview": '"September 2011: ',
    "department": "September 2011",
    "department repeats": "requests in September 2011",
    "department map": "September 2011, by neighborhood",
    "department overdue": '"rowCount": ',
    "department overdue by address": '"rowCount": ',
    "department init": '"department-date": {"value": "2011-09-01"',
    "hot spots": "hot-spot cells",
    "hot spots init": '"value": "Graffiti Removal"',
    "requests": "requests between 2011-09-01 and 2011-09-30",
    "requests init": "Public Works Department (PWDx)",
}


@pytest.mark.parametrize("name", STAFF_VIEWS)
def test_staff_callbacks_are_the_same(apps, staff, name: str) -> None:
    output, values = STAFF_VIEWS[name]
    answer = assert_same(post_callbacks(apps, staff, output, values), name)
    text = json.dumps(answer, ensure_ascii=False)
    assert STAFF_CONTENT[name] in text, text[:500]
    if name == "department overdue":
        rows = answer["response"]["department-overdue"]["getRowsResponse"]
        assert rows["rowCount"] > 0 and len(rows["rowData"]) == min(100, rows["rowCount"])
    if name == "department overdue by address":  # rows 20-39 of the list by address
        rows = answer["response"]["department-overdue"]["getRowsResponse"]["rowData"]
        addresses = [r["address"] for r in rows if r["address"] is not None]
        assert len(rows) == 20 and addresses == sorted(addresses), addresses[:5]


def _hex_cell(cell: str) -> int:
    return int(cell, 16)


def test_hot_spot_cells_are_labelled_with_their_busiest_area(apps, staff) -> None:
    """Each hot-spot cell is labelled (map and work list) with the area most of its requests
    are in; a cell split evenly between two areas must get the same one every time (the first
    by name, as its addresses are ranked: most requests, then by name). Checked on both stores
    against DuckDB over each app's own snapshot."""
    import h3.api.basic_int as h3i

    from dashboard import hotspots as hs

    params = hs.HotspotParams.from_query(
        {"type": "Street Light Outages", "from": "2011-07-01", "to": "2011-12-31", "mode": "count"}
    )
    answers = post_callbacks(apps, staff, "hotspots-map.figure", HOTSPOTS)
    for name, app in apps.items():
        labels: dict[int, str] = {}
        for trace in answers[name]["response"]["hotspots-map"]["figure"]["data"]:
            if "locations" in trace and "customdata" in trace:
                for cell, custom in zip(trace["locations"], trace["customdata"], strict=True):
                    labels[_hex_cell(cell)] = custom[6]
        resolutions = {h3i.get_resolution(c) for c in labels}
        assert len(resolutions) == 1 and labels, name
        column = f"h3_{resolutions.pop()}"
        expected = app.server.extensions["stat311"].read_model.select(
            f"WITH a AS (SELECT {column} AS cell, area_neighborhood AS area, count(*) AS n "
            f"FROM {{cases}} WHERE {{where}} AND {hs.LOCATED} AND area_neighborhood IS NOT NULL "
            "GROUP BY 1, 2), r AS (SELECT *, max(n) OVER (PARTITION BY cell) AS top FROM a) "
            "SELECT cell, first(area ORDER BY n DESC, area) AS area, "
            "count(*) FILTER (WHERE n = top) AS tied FROM r GROUP BY 1",
            flt=params.to_filter(),
        )
        busiest = dict(zip(expected["cell"].astype("int64"), expected["area"], strict=True))
        ties = int((expected["tied"] > 1).sum())
        wrong = {
            h3i.int_to_str(c): (shown, busiest.get(c, "—"))
            for c, shown in labels.items()
            if shown != busiest.get(c, "—")
        }
        assert not wrong, (
            f"{name}: {len(wrong)} of {len(labels)} cells ({ties} split evenly between areas) "
            f"labelled with another area than their busiest (shown, expected): "
            f"{dict(list(wrong.items())[:5])}"
        )


def test_staff_totals_are_the_exports(apps, staff, raw) -> None:
    """The requests page's total for September 2011 against pandas over the raw file (staff
    see every case, the private one included)."""
    values = {
        "requests-dates-start.value": "2011-09-01",
        "requests-dates-end.value": "2011-09-30",
        "requests-period.value": "month",
    }
    answer = assert_same(post_callbacks(apps, staff, "requests-chart.figure", values), "total")
    summary = answer["response"]["requests-summary"]["children"]
    september = raw[(raw["opened"] >= "2011-09-01") & (raw["opened"] < "2011-10-01")]
    extra = [r for r in EXTRA_REQUESTS if r["requested_datetime"].startswith("2011-09")]
    assert summary.startswith(f"{len(september) + len(extra):,} requests"), summary


def _download(answer: dict[str, Any], component: str) -> tuple[str, str]:
    data = answer["response"][component]["data"]
    content = data["content"]
    if data.get("base64"):
        content = base64.b64decode(content).decode("utf-8")
    return data["filename"], content


def test_staff_downloads_are_the_same_and_audited(apps, staff, sides) -> None:
    """The department's overdue list and request types, and the hot-spot work list, as CSV:
    the same files from both stores (they are read from each store's snapshot), each download
    audited in its own store first."""
    exports = "SELECT detail, email, ip FROM audit_log WHERE event = 'export' ORDER BY id"
    before = {name: len(sql_rows(s.url, exports)) for name, s in sides.items()}
    by_opened = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "opened", "sort": "asc"}]}
    answers = {
        "overdue": post_callbacks(
            apps,
            staff,
            "department-overdue-download.data",
            {
                **DEPARTMENT,
                "department-overdue-csv.n_clicks": 1,
                "department-overdue.getRowsRequest": by_opened,
            },
        ),
        "types": post_callbacks(
            apps,
            staff,
            "department-types-download.data",
            {**DEPARTMENT, "department-types-csv.n_clicks": 1},
        ),
        "hot spots": post_callbacks(
            apps,
            staff,
            "hotspots-download.data",
            {**HOTSPOTS, "hotspots-csv.n_clicks": 1, "hotspots-geojson.n_clicks": None},
        ),
    }
    rows = assert_same(
        post_callbacks(
            apps,
            staff,
            "department-overdue.getRowsResponse",
            {**DEPARTMENT, "department-overdue.getRowsRequest": OVERDUE_REQUEST},
        ),
        "overdue rows",
    )["response"]["department-overdue"]["getRowsResponse"]
    # Each download wrote its audit row, in its own store, with the signed-in user.
    for name, side in sides.items():
        audited = sql_rows(side.url, exports)[before[name] :]
        details = [json.loads(r.detail) for r in audited]
        assert [d["what"] for d in details] == ["overdue_csv", "request_types_csv", "hotspots"]
        assert {(r.email, r.ip) for r in audited} == {("pgapp-exec@city.test", "127.0.0.1")}
        assert details[0]["rows"] == rows["rowCount"] and details[0]["department"] == "PWDx"
    # The files.
    for name, component in (
        ("overdue", "department-overdue-download"),
        ("types", "department-types-download"),
        ("hot spots", "hotspots-download"),
    ):
        for side in SIDES:
            assert _download(answers[name][side], component)[1], (name, side)
    overdue = assert_same(answers["overdue"], "overdue csv")
    filename, content = _download(overdue, "department-overdue-download")
    assert filename == "PWDx_overdue_2011-09-01_2011-09-30.csv"
    frame = pd.read_csv(io.StringIO(content), dtype=str)
    assert len(frame) == rows["rowCount"] > 0
    assert list(frame["opened"]) == sorted(frame["opened"])  # the grid's order
    types = assert_same(answers["types"], "types csv")
    assert "Street Light Outages" in _download(types, "department-types-download")[1]
    hot = assert_same(answers["hot spots"], "hot spots csv")
    assert _download(hot, "hotspots-download")[0].endswith(".csv")


# -- the CLI on the PostGIS URL ------------------------------------------------------------------------
#: What a run's report holds that is its own timing, not its data.
RUN_TIMING = ("started_at", "finished_at", "seconds")


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Any:
    """``stat311 ARGS`` on a side's store, in this process (``dashboard.cli.main``, what the
    console script runs; a subprocess costs a second of imports per command): ``(exit code,
    stdout, stderr)``."""
    from dashboard.cli import main

    def run(side: Side, *args: str) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("STAT311_")]:
                patch.delenv(key)
            for key, value in side.environ.items():
                if key.startswith("STAT311_"):
                    patch.setenv(key, value)
            capsys.readouterr()
            code = main(list(args))
            out, err = capsys.readouterr()
        return code, out, err

    return run


def _instant(value: Any) -> datetime:
    """A time a command printed or a store gave (SQLite's are naive UTC), as an aware UTC
    instant."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_runs_quarantine_and_backup_on_postgis(sides, command, tmp_path) -> None:
    pg, lite = sides["postgis"], sides["sqlite"]
    # runs --json: the same runs with the same counts on both stores (only their own timing
    # differs: the loads ran separately).
    runs = {}
    for name, side in sides.items():
        code, out, err = command(side, "runs", "--json")
        assert code == 0 and err == "", (name, err)
        runs[name] = json.loads(out)
    assert [r["id"] for r in runs["postgis"]] == [2, 1]
    assert [r["inserted"] for r in runs["postgis"]] == [EXTRA_LOADED, BOSTON_ROWS]
    assert [r["read"] for r in runs["postgis"]] == [len(EXTRA_REQUESTS), BOSTON_ROWS]
    assert [json.loads(r["quarantine_reasons"]) for r in runs["postgis"]] == [
        {"unparseable_requested_at": 1},
        {},
    ]
    assert runs["postgis"][1]["path"] == str(BOSTON_ZIP)
    assert_same(
        {n: [{k: v for k, v in r.items() if k not in RUN_TIMING} for r in runs[n]] for n in SIDES},
        "runs --json",
    )
    # runs: one line per run, the same but for the times; --limit says what it leaves out.
    texts = {}
    for name, side in sides.items():
        code, out, _ = command(side, "runs")
        assert code == 0
        texts[name] = [re.sub(r"^(#\d+) \S+ \S+ ", r"\1 ", line) for line in out.splitlines()]
    text = assert_same(texts, "runs")
    assert len(text) == 2 and text[0].startswith("#2 open311/open311 read 5 inserted 4 ")
    code, out, err = command(pg, "runs", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 1 and out.startswith("#2 ")
    assert "showing the newest 1 of 2 runs (--limit N for more)" in err

    # quarantine: the Open311 file's bad row, with its run, line and reason, alike on both.
    answers = {}
    for name, side in sides.items():
        answers[name] = [
            list(command(side, *args))
            for args in (("quarantine", "--run", "2", "--json"), ("quarantine",))
            + (("quarantine", "--run", "1"),)
        ]
    (as_json, as_text, run_one) = assert_same(answers, "quarantine")
    rows = json.loads(as_json[1])
    assert [(r["run_id"], r["reason"], r["source"]) for r in rows] == [
        (2, "unparseable_requested_at", "open311")
    ]
    assert "the day before yesterday" in rows[0]["raw"]
    assert as_text[0] == 0 and as_text[1].startswith("run 2 line ")
    assert "unparseable_requested_at" in as_text[1]
    assert run_one == [0, "no quarantined rows\n", ""]

    # backup: on PostgreSQL the real command refuses in one line naming pg_dump, exit code 2,
    # and writes nothing (SQLite's online copy is tested in test_backup.py).
    out = tmp_path / "backup" / "copy.db"
    refused = _cli(pg, "backup", "--out", str(out))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("stat311: error: backup copies a SQLite store")
    assert "pg_dump" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == "" and not out.exists() and not out.parent.exists()
    assert lite.url.startswith("sqlite:")


def test_commands_show_times_alike_on_both_stores(sides, staff, command) -> None:
    """``stat311 runs`` and ``stat311 users audit`` print stored times without a zone: on
    SQLite they are UTC, and on PostgreSQL they must be too, not the database session's zone
    (psycopg hands ``timestamptz`` out in the session's ``TimeZone``, here Los Angeles, as on a
    server set to its own local time). ``runs --json`` writes them in one notation on both."""
    notation = {}
    for name, side in sides.items():
        _, out, _ = command(side, "runs", "--json")
        runs = json.loads(out)
        stored = {r.id: r.started_at for r in sql_rows(side.url, "SELECT * FROM ingestion_runs")}
        for run in runs:  # the instant itself is right on both
            assert _instant(run["started_at"]) == _instant(stored[run["id"]]), name
        notation[name] = [re.sub(r"[0-9]", "9", r["started_at"]) for r in runs]
        _, text, _ = command(side, "runs")
        for line, run in zip(text.splitlines(), runs, strict=True):
            shown = f"#{run['id']} {_instant(run['started_at']):%Y-%m-%d %H:%M} "
            assert line.startswith(shown), (
                f"{name}: `stat311 runs` shows {line[:20]!r}; the run started at "
                f"{shown[3:].strip()} UTC"
            )
        _, text, _ = command(side, "users", "audit", "--limit", "3")
        store = Store(side.url)
        try:
            entries = Users(store, side.settings).audit_entries(limit=3)
        finally:
            store.dispose()
        for line, entry in zip(text.splitlines(), entries, strict=True):
            shown = f"{_instant(entry['at']):%Y-%m-%d %H:%M:%S} {entry['event']}"
            assert line.startswith(shown), (
                f"{name}: `stat311 users audit` shows {line[:30]!r}, not {shown!r} (UTC)"
            )
    assert_same(notation, "runs --json started_at notation")


def test_the_snapshots_hold_the_same(sides, apps) -> None:
    """The two snapshots' manifests are the same but for what is each snapshot's own: when it
    and its run were written, and the name of the snapshot it was merged from."""
    manifests = {}
    for name, app in apps.items():
        manifest = json.loads(json.dumps(app.server.extensions["stat311"].read_model.manifest()))
        assert manifest["rows"] == BOSTON_ROWS + EXTRA_LOADED, name
        assert manifest["run"] == 2 and manifest["written"]["mode"] == "merged", name
        for key in ("created_at", "run_started"):
            manifest.pop(key)
        manifest["written"].pop("base")
        manifests[name] = manifest
    assert_same(manifests, "snapshot manifest")
