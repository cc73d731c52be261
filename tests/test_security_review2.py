"""Second security review of the day's changes (the pack, shared tracking numbers, trusted
proxies, the callback body check, the CSP, backups). Real app, real store, Flask test client;
data built in code or the bundled Boston sample (``demo``)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.app_factory import create_app
from dashboard.services import Services
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.exports import write_boston_export
from tests.support.signin import client_sign_in, make_user
from tests.test_auth import payload

STAFF = "/_dash-update-component"
PROXY = "10.0.0.5"


# -- 3. trusted proxies: X-Forwarded-Host / -Proto ------------------------------------------------
@pytest.mark.parametrize("hops", [0, 1])
def test_redirects_never_name_the_host_a_client_sent(demo, reset_dash_registries, hops) -> None:
    """``/public`` answers werkzeug's 308 to ``/public/`` (kept by caches). It was absolute,
    from ``X-Forwarded-Host``/``-Proto`` (with a trusted proxy that does not set them, a
    client's own) or ``Host``: ``https://evil.example/public/``, one request poisoning a
    shared cache for every visitor."""
    app = create_app(replace(demo[0], trusted_proxies=hops))
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
    if hops:
        headers["X-Forwarded-Host"] = "evil.example"
    else:
        headers["Host"] = "evil.example"
    for path, target in (("/public", "/public/"), ("/open311/v2", "/open311/v2/")):
        response = client.get(path, headers=headers)
        assert response.status_code in (301, 302, 308), path
        assert response.headers["Location"] == target, response.headers["Location"]
    # Sign-in's redirects were already relative; they stay so.
    email = "xfh@city.test"
    password = make_user(demo[0], email, role="executive")
    client.environ_base.update(
        {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    )
    response = client_sign_in(client, email, password)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "evil" not in client.get("/pack").headers.get("Location", "")


def test_a_relative_location_cannot_become_another_host() -> None:
    from dashboard.app_factory import _relative_location

    assert _relative_location("http://a.test//evil.example/", "a.test") == "/evil.example/"
    assert _relative_location("http://a.test/\\evil.example", "a.test") == "/evil.example"
    assert _relative_location("https://A.test/x?y=1#z", "a.test") == "/x?y=1#z"
    assert _relative_location("https://other.test/x", "a.test") == "https://other.test/x"
    assert _relative_location("/x", "a.test") == "/x"


# -- 1. the pack and a department user --------------------------------------------------------------
def test_the_pack_of_a_department_user_holds_only_their_department(
    demo, reset_dash_registries
) -> None:
    """Through Dash Pages' routing callback with a crafted search (another department, both,
    a trailing slash), the pack is the user's own department's: byte for byte the pack
    without any department asked, apart from the echoed query."""
    settings = demo[0]
    departments = Services.from_settings(settings).read_model.options()["departments"]
    mine, other = departments[0], departments[1]
    app = create_app(settings)
    email = "pack-dept2@city.test"
    client = app.server.test_client()
    client_sign_in(
        client, email, make_user(settings, email, role="department", departments=(mine,))
    )
    key, spec = next((k, v) for k, v in app.callback_map.items() if "_pages_content" in k)
    period = "?period=month&date=2011-09-01"

    def content(path: str, search: str) -> str:
        values = {"_pages_location.pathname": path, "_pages_location.search": search}
        response = client.post(STAFF, json=payload(key, spec, values))
        assert response.status_code == 200
        children = json.loads(response.data)["response"]["_pages_content"]["children"]
        notices.append(_link_notices(children))
        # Every string that carries a query (the echoed search, the links) is set aside.
        return re.sub(r'"[^"]*\?[^"]*"', '"?"', json.dumps(children))

    notices: list[list[str]] = []

    own = content("/pack", period)
    label = Services.from_settings(settings).departments.label(mine)  # "Name (CODE)"
    assert f'"aria-label": "{label}"' in own
    for path, search in (
        ("/pack", f"{period}&departments={other}"),
        ("/pack", f"{period}&department={other}"),
        ("/pack/", f"{period}&departments={other}&departments={mine}"),
    ):
        got = content(path, search)
        # The screen-only notice of a link's department that was not applied names the code
        # the link asked for (from the address, in the same words whether or not it exists):
        # that is all of it the pack holds.
        said = notices[-1]
        if f"department={other}" in search:
            assert said == [
                f"The link's department filter {other} was not applied: {other} is not one of "
                f"the departments you can see. Departments you can see: {label}."
            ], said
        else:
            assert said == [], said
        assert other not in got, search
        assert got == own, search


def _link_notices(node) -> list[str]:
    """Take the screen-only notices of a link's filter that was not applied out of a Dash
    component tree (JSON), in place (every other part is kept, to be compared); their words."""
    found: list[str] = []

    def words(n) -> str:
        if isinstance(n, str):
            return n
        if isinstance(n, list):
            return "".join(words(c) for c in n)
        if isinstance(n, dict):
            return words(n.get("props", {}).get("children"))
        return ""

    def walk(n):
        if isinstance(n, list):
            keep = []
            for c in n:
                screen_only = isinstance(c, dict) and "no-print" in str(
                    c.get("props", {}).get("className")
                )
                if screen_only and "was not applied" in words(c):
                    found.append(words(c).strip())
                else:
                    walk(c)
                    keep.append(c)
            n[:] = keep
        elif isinstance(n, dict):
            walk(n.get("props", {}).get("children"))

    walk(node)
    return found


# -- 2. a private case sharing a public case's number -------------------------------------------------


def _shared_store(tmp: Path, second_number: str):
    tmp.mkdir()
    settings = make_settings(tmp)
    store = Store(settings.database_url)
    a = write_boston_export(
        tmp / "a.csv", [{"case_enquiry_id": "8001", "type": "Graffiti Removal"}]
    )
    b = write_boston_export(tmp / "b.csv", [{"case_enquiry_id": second_number, "type": "Shooting"}])
    load_file(a, store=store, settings=settings, source="crm", progress=False)
    load_file(b, store=store, settings=settings, source="app", progress=False)
    with store.transaction() as conn:
        conn.execute(text("UPDATE cases SET is_private = 1 WHERE source = 'app'"))
    return settings


def test_a_private_case_with_a_public_number_changes_no_answer(
    tmp_path, reset_dash_registries
) -> None:
    """The API and the portal answer for ``8001`` exactly as when the private case has another
    number: no second card, no count sentence, same status."""
    answers = []
    for name, second in (("shared", "8001"), ("apart", "8999")):
        settings = _shared_store(tmp_path / name, second)
        app = create_app(settings)
        client = app.server.test_client()
        api = client.get("/open311/v2/requests/8001.json")
        public_app = app.server.extensions["stat311_public_app"]
        key, spec = next(
            (k, v)
            for k, v in public_app.callback_map.items()
            if k.startswith("..public-content.children")
        )
        values = {"public-url.pathname": "/public/requests/8001"}
        portal = client.post("/public/_dash-update-component", json=payload(key, spec, values))
        assert api.status_code == portal.status_code == 200
        # The card says how long ago things happened: digits may move on between the two runs.
        answers.append((api.data, re.sub(rb"\d+", b"#", portal.data)))
        assert b"Shooting" not in api.data + portal.data
        assert b"requests have this tracking number" not in portal.data
    assert answers[0] == answers[1]
