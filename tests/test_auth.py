"""Staff sign-in, roles and enforcement, through the real Flask/Dash request handling."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import pytest
from sqlalchemy import update

from dashboard import schema
from dashboard.app_factory import create_app
from dashboard.auth import Users
from dashboard.departments import load_names
from dashboard.errors import ConfigError
from dashboard.queries import CaseFilter, ReadModel
from dashboard.store import Store
from tests.conftest import make_settings
from tests.support.signin import client_sign_in, make_user


def payload(output_key: str, spec: dict[str, Any], values: dict[str, Any] | None = None) -> dict:
    """A ``/_dash-update-component`` body for one registered callback."""
    values = values or {}
    declared = spec["output"] if isinstance(spec["output"], list | tuple) else [spec["output"]]
    outputs = [{"id": str(o.component_id), "property": o.component_property} for o in declared]

    def item(dep: dict[str, Any]) -> dict[str, Any]:
        key = f"{dep['id']}.{dep['property']}"
        return {"id": str(dep["id"]), "property": dep["property"], "value": values.get(key)}

    return {
        "output": output_key,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [item(d) for d in spec["inputs"]],
        "state": [item(d) for d in spec.get("state", [])],
        "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]][:1],
    }


@pytest.fixture
def app(demo, reset_dash_registries):
    settings, _ = demo
    app = create_app(settings)
    app.server.test_client().get("/healthz")  # Dash finishes its setup (pages' routing callbacks)
    return app


@pytest.fixture
def executive(demo) -> tuple[str, str]:
    return "exec@city.test", make_user(demo[0], "exec@city.test", role="executive")


@pytest.fixture
def pwd_user(demo) -> tuple[str, str]:
    return "pwd@city.test", make_user(
        demo[0], "pwd@city.test", role="department", departments=("PWDx",)
    )


def _page_paths() -> list[str]:
    paths = []
    for page in dash.page_registry.values():
        template = page.get("path_template")
        paths.append(re.sub(r"<[^>]+>", "PWDx", template) if template else page["path"])
    return paths


# -- anonymous requests ---------------------------------------------------------------------------
def test_every_staff_page_redirects_an_anonymous_request_to_sign_in(app) -> None:
    client = app.server.test_client()
    paths = _page_paths()
    assert "/" in paths and "/requests" in paths
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path


def test_dash_endpoints_refuse_anonymous_requests(app) -> None:
    client = app.server.test_client()
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 403, path


def test_every_registered_callback_refuses_an_anonymous_request(app) -> None:
    client = app.server.test_client()
    assert len(app.callback_map) >= 6
    for key, spec in list(app.callback_map.items()):
        response = client.post("/_dash-update-component", json=payload(key, spec))
        assert response.status_code == 403, key
        assert b"PWDx" not in response.data


def test_public_paths_and_assets_need_no_sign_in(app) -> None:
    client = app.server.test_client()
    assert client.get("/sign-in").status_code == 200
    assert client.get("/assets/00-bootstrap.min.css").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "path", ["/sign-inX", "/sign-in/anything", "/sign-out-x", "/healthz.json", "/_favicon.icoX"]
)
def test_paths_that_only_begin_like_a_public_one_need_sign_in(app, path: str) -> None:
    """Public single paths match exactly: a path that only begins like one is a staff path,
    redirected (before, it was served the staff app's page with every page's layout)."""
    response = app.server.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")
    assert b"validation_layout" not in response.data


# -- sign-in mechanics ----------------------------------------------------------------------------
def test_sign_in_then_pages_and_callbacks_work(app, executive) -> None:
    client = app.server.test_client()
    response = client_sign_in(client, *executive)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/requests").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_wrong_password_and_lockout(app, executive, demo) -> None:
    settings, _ = demo
    email, password = executive
    client = app.server.test_client()
    for _ in range(settings.lockout_attempts):
        refused = client_sign_in(client, email, "wrong password!")
        assert refused.status_code == 401
        # The e-mail typed is kept (escaped), the password is not, and the password box has
        # the focus: only the password is typed again.
        page = refused.get_data(as_text=True)
        assert f'value="{email}"' in page and "wrong password!" not in page
        assert re.search(r'id="password"[^>]*autofocus', page)
    # Locked: even the right password is refused now.
    assert client_sign_in(client, email, password).status_code == 401
    assert client.get("/requests").status_code == 302
    # When the lock has run out, the right password works again.
    store = Store(settings.database_url)
    with store.transaction() as conn:
        conn.execute(
            update(schema.users)
            .where(schema.users.c.email == email)
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert client_sign_in(client, email, password).status_code == 302
    events = [e["event"] for e in Users(store, settings).audit_entries(limit=20)]
    assert "locked_out" in events and "sign_in" in events and "sign_in_failed" in events


def test_missing_or_wrong_csrf_token_is_refused(app, executive) -> None:
    client = app.server.test_client()
    email, password = executive
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": email, "password": password})
    assert response.status_code == 400
    response = client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert client.get("/requests").status_code == 302
    # Sign-out needs the token too.
    client_sign_in(client, email, password)
    assert client.post("/sign-out", data={}).status_code == 400
    assert client.get("/requests").status_code == 200


def test_expired_session_is_signed_out(app, executive, demo) -> None:
    client = app.server.test_client()
    client_sign_in(client, *executive)
    assert client.get("/requests").status_code == 200
    with client.session_transaction() as session:
        session["issued"] = time.time() - demo[0].session_hours * 3600 - 1
    assert client.get("/requests").status_code == 302


def test_sign_out(app, executive) -> None:
    client = app.server.test_client()
    assert "You are signed in as" not in client.get("/sign-in").get_data(as_text=True)
    client_sign_in(client, *executive)
    # Back on the sign-in page while signed in: it says so, with the way on, and the form.
    page = client.get("/sign-in?next=/requests").get_data(as_text=True)
    assert f"You are signed in as {executive[0]}." in page
    assert '<a href="/requests">Continue</a>' in page and 'name="password"' in page
    form = client.get("/sign-out").get_data(as_text=True)
    assert "Sign out of\nstat311 on this device?" in form and 'href="/">Cancel</a>' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/requests").status_code == 302


def test_next_parameter_cannot_leave_the_site(app, executive) -> None:
    client = app.server.test_client()
    form = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    email, password = executive
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            "/sign-in",
            data={"csrf_token": token, "email": email, "password": password, "next": target},
        )
        assert response.headers["Location"] == "/", target
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").get_data(as_text=True)
        ).group(1)


def test_disabled_user_cannot_sign_in(app, demo) -> None:
    settings, store = demo
    password = make_user(settings, "gone@city.test", role="executive")
    Users(store, settings).disable("gone@city.test")
    assert client_sign_in(app.server.test_client(), "gone@city.test", password).status_code == 401


def test_production_mode_needs_a_secret_key(tmp_path, reset_dash_registries) -> None:
    with pytest.raises(ConfigError, match="STAT311_SECRET_KEY"):
        create_app(make_settings(tmp_path, production=True))
    app = create_app(make_settings(tmp_path, production=True, secret_key="k" * 64))
    assert app.server.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("key", [" ", "x", "s3cret", "k" * 31, " " * 40 + "short"])
def test_production_mode_refuses_a_short_secret_key(tmp_path, reset_dash_registries, key) -> None:
    """A review started gunicorn with a key of one space: sessions anyone could forge."""
    with pytest.raises(ConfigError) as err:
        create_app(make_settings(tmp_path, production=True, secret_key=key))
    assert str(err.value).startswith(
        f"STAT311_SECRET_KEY is too short for production: {len(key.strip())} characters, "
        "at least 32"
    )
    create_app(make_settings(tmp_path / "dev", secret_key=key))  # outside production: allowed


def test_reverse_proxy_header_mode(demo, reset_dash_registries, executive) -> None:
    settings, _ = demo
    app = create_app(settings.__class__(**{**settings.__dict__, "auth_header": "X-Remote-User"}))
    client = app.server.test_client()
    assert client.get("/requests").status_code == 302
    assert client.get("/requests", headers={"X-Remote-User": "nobody@x.test"}).status_code == 302
    assert client.get("/requests", headers={"X-Remote-User": executive[0]}).status_code == 200


# -- department scope -----------------------------------------------------------------------------
def _callback(app, output_prefix: str) -> tuple[str, dict]:
    return next(
        (k, v)
        for k, v in app.callback_map.items()
        if k.startswith(output_prefix) or k == output_prefix
    )


def test_department_user_sees_only_their_department(app, pwd_user, demo) -> None:
    settings, _ = demo
    client = app.server.test_client()
    client_sign_in(client, *pwd_user)
    model = ReadModel(settings.snapshot_dir)
    pwd_total = model.total(CaseFilter(departments=("PWDx",)))
    key, spec = _callback(app, "..requests-chart.figure")
    for asked in ([], ["ISD"], ["PWDx", "ISD", "BTDT"], ["' OR 1=1 --"]):
        body = payload(
            key, spec, {"requests-department.value": asked, "requests-period.value": "month"}
        )
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 200, asked
        data = json.loads(response.data)["response"]
        summary = data["requests-summary"]["children"]
        expected = pwd_total if (not asked or "PWDx" in asked) else 0
        assert summary.startswith(f"{expected:,} requests"), (asked, summary)
        names = {t.get("name") for t in data["requests-chart"]["figure"]["data"]}
        assert names <= {load_names(None).label("PWDx")}, names  # the legend names departments
    # The filter options offer only their department.
    key, spec = _callback(app, "..requests-department.options")
    response = client.post("/_dash-update-component", json=payload(key, spec))
    options = json.loads(response.data)["response"]["requests-department"]["options"]
    assert [o["value"] for o in options] == ["PWDx"]


@pytest.mark.parametrize("asked", [[], ["ISD", "PWDx"], None])
def test_department_user_overview_cards(app, pwd_user, asked) -> None:
    """Only their department's card, whatever is asked: nothing asked (the page as it opens)
    was the case that showed every department, when the SLA report's questions ran on threads
    that did not have the web request, so its scope."""
    client = app.server.test_client()
    client_sign_in(client, *pwd_user)
    key, spec = _callback(app, "..overview-headline.children")
    body = payload(
        key,
        spec,
        {"overview-kind.value": "month", "overview-date.value": "2011-09-01",
         "overview-department.value": asked},
    )  # fmt: skip
    response = client.post("/_dash-update-component", json=body)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    data = json.loads(text)["response"]
    cards = data["overview-cards"]["children"]
    hrefs = re.findall(r"/department/[^?\"]+", json.dumps(cards))
    assert hrefs and set(hrefs) == {"/department/PWDx"}, hrefs
    for other in ("ISD", "PARK", "BTDT", "PROP", "INFO"):
        assert f'"{other}"' not in text and f"/department/{other}" not in text, other


@pytest.mark.parametrize(
    "junk",
    ["'; DROP TABLE cases; --", "x" * 20_000, "\u202e\u0000漢字🚧", "<script>alert(1)</script>",
     "1 OR 1=1", "../../etc/passwd"],
)  # fmt: skip
def test_injection_attempts_in_every_filter_input_never_500(app, executive, junk) -> None:
    client = app.server.test_client()
    client_sign_in(client, *executive)
    for key, spec in list(app.callback_map.items()):
        values = {}
        for dep in [*spec["inputs"], *spec.get("state", [])]:
            name = f"{dep['id']}.{dep['property']}"
            values[name] = [junk] if dep["property"] == "value" else junk
        response = client.post("/_dash-update-component", json=payload(key, spec, values))
        assert response.status_code in (200, 204, 400), (key, response.status_code)
        assert b"Traceback" not in response.data


def test_exports_are_audited_and_scoped(app, pwd_user, demo) -> None:
    settings, store = demo
    client = app.server.test_client()
    client_sign_in(client, *pwd_user)
    key, spec = _callback(app, "..department-types-download.data")  # and its busy message
    for code, expect_rows in (("PWDx", True), ("ISD", False)):
        body = payload(
            key,
            spec,
            {
                "department-types-csv.n_clicks": 1,
                "department-code.data": code,
                "department-state.data": "?period=month&date=2011-09-01",
            },
        )
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code in (200, 204), code
        text = response.get_data(as_text=True)
        if expect_rows:
            assert "Street Light Outages" in text
        else:  # another department's export: nothing
            assert "Street Light Outages" not in text
    entries = Users(store, settings).audit_entries(limit=10)
    exports = [e for e in entries if e["event"] == "export" and e["email"] == pwd_user[0]]
    assert exports and "request_types_csv" in exports[0]["detail"]
