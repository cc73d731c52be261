"""The Content-Security-Policy: sent on every staff and public response (the hashes of exactly
the inline scripts each index page runs, no ``'unsafe-inline'``/``'unsafe-eval'`` for scripts,
``frame-ancestors 'none'`` on the staff side only), every page working under it in real
headless Chromium without a single violation, and a page with an injected or changed inline
script refused by Chromium. Real app, the Boston 2011 demo."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from typing import Any

import pytest
from bs4 import BeautifulSoup
from playwright.sync_api import expect

from dashboard.app_factory import create_app
from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.signin import browser_sign_in, client_sign_in, make_user
from tests.test_auth import _callback, payload

EMAIL = "csp@city.test"
STAFF_PAGES = {
    "overview": "/",
    "requests": "/requests",
    "department": "/department/PWDx",
    "hot spots": "/hotspots",
    "pack": "/pack?period=month&date=2011-09-01",
    "404": "/no-such-page",
}
PUBLIC_PAGES = {
    "track": "/public/",
    "request": "/public/requests/101000295613",
    "map": "/public/map?view=area",
    "performance": "/public/performance",
}
#: The fixed part of the policy, on every response.
FIXED = {
    "default-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "worker-src": ["blob:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}


def _directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, policy
        parsed[name] = sources
    return parsed


def _running_inline_scripts(page: str) -> list[str]:
    """The text of the page's inline scripts a browser runs (parsed with BeautifulSoup, not
    the app's own parser; Dash's ``application/json`` config is data, never run)."""
    soup = BeautifulSoup(page, "html.parser")
    return [
        tag.string or ""
        for tag in soup.find_all("script")
        if not tag.has_attr("src")
        and tag.get("type", "").lower() in ("", "text/javascript", "application/javascript")
    ]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture
def app(demo, reset_dash_registries, monkeypatch):
    monkeypatch.setenv("STAT311_RATE_LIMIT", "1000000 per minute")
    return create_app(demo[0])


@pytest.fixture
def password(demo) -> str:
    return make_user(demo[0], EMAIL, role="executive")


# -- the headers -----------------------------------------------------------------------------------
def test_every_page_and_callback_carries_the_policy_with_its_index_scripts_hashes(
    app, password
) -> None:
    client = app.server.test_client()
    staff: dict[str, Any] = {"sign-in": client.get("/sign-in")}
    client_sign_in(client, EMAIL, password)
    staff |= {name: client.get(path) for name, path in STAFF_PAGES.items()}
    staff["sign-out"] = client.get("/sign-out")
    staff["layout"] = client.get("/_dash-layout")
    key, spec = _callback(app, "..requests-chart.figure")
    body = payload(key, spec, {"requests-period.value": "month"})
    staff["callback"] = client.post("/_dash-update-component", json=body)
    public_app = app.server.extensions["stat311_public_app"]
    public: dict[str, Any] = {name: client.get(path) for name, path in PUBLIC_PAGES.items()}
    key, spec = _callback(public_app, "..public-content.children")
    body = payload(key, spec, {"public-url.pathname": "/public/requests/101000295613"})
    public["callback"] = client.post("/public/_dash-update-component", json=body)
    public["open311"] = client.get("/open311/v2/services.json")
    assert staff["404"].status_code == 200  # Dash's page saying so
    assert all(r.status_code == 200 for r in (staff | public).values()), {
        n: r.status_code for n, r in (staff | public).items()
    }
    assert "Request 101000295613" in public["callback"].get_data(as_text=True)
    assert json.loads(staff["callback"].data)["response"]["requests-summary"]

    for side, responses, index in (
        ("staff", staff, staff["overview"]),
        ("public", public, public["track"]),
    ):
        scripts = _running_inline_scripts(index.get_data(as_text=True))
        # The renderer's start-up and the clientside callbacks (at least one per app).
        assert any("new DashRenderer" in s for s in scripts), side
        assert any("dash_clientside" in s for s in scripts), side
        hashes = sorted({_sha256(s) for s in scripts})
        policies = {
            name: r.headers.get("Content-Security-Policy", "") for name, r in responses.items()
        }
        assert len(set(policies.values())) == 1, policies  # one policy for the whole side
        directives = _directives(next(iter(policies.values())))
        script_src = directives.pop("script-src")
        assert script_src[0] == "'self'" and sorted(script_src[1:]) == hashes, (side, script_src)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        if side == "staff":
            assert directives.pop("frame-ancestors") == ["'none'"]
        assert directives == FIXED, (side, directives)

    # Every page of a side has the same inline scripts (the hashes fit each of them).
    for name, response in (staff | public).items():
        if response.mimetype == "text/html" and name not in ("sign-in", "sign-out"):
            page_hashes = {_sha256(s) for s in _running_inline_scripts(response.get_data(True))}
            policy = response.headers["Content-Security-Policy"]
            assert page_hashes and all(h in policy for h in page_hashes), name
    for name in ("sign-in", "sign-out"):  # plain HTML: no inline script, a form to 'self'
        page = staff[name].get_data(as_text=True)
        assert _running_inline_scripts(page) == [], name
        assert re.search(r'<form method="post" action="/sign-(in|out)">', page), name


def test_the_hashes_are_of_the_rendered_index_never_of_a_response(
    demo, reset_dash_registries
) -> None:
    """The hashes are taken from the index Dash renders at the first request (Dash Pages adds
    its title callback's script only then), never from the response being sent: a script
    added to a served page is not in its own response's policy, and neither is a clientside
    callback registered later (its inline script would be refused: every clientside callback
    belongs in ``create_app``)."""
    from dash import Input, Output

    app = create_app(demo[0])
    public_app = app.server.extensions["stat311_public_app"]

    @app.server.after_request
    def _inject(response):  # registered later, so it runs before the security headers' hook
        if response.mimetype == "text/html":
            response.set_data(
                response.get_data().replace(b"</body>", b"<script>alert(1)</script></body>")
            )
        return response

    def rendered(dash_app: Any, path: str) -> list[str]:
        with app.server.test_request_context(path):
            return _running_inline_scripts(dash_app.index())

    at_start = {_sha256(s) for s in rendered(app, "/")}
    client = app.server.test_client()
    public = client.get("/public/")
    assert b"<script>alert(1)</script>" in public.data
    policies = {
        "staff": client.get("/sign-in").headers["Content-Security-Policy"],
        "public": public.headers["Content-Security-Policy"],
    }
    expected = {
        "staff": {_sha256(s) for s in rendered(app, "/")},
        "public": {_sha256(s) for s in rendered(public_app, "/public/")},
    }
    assert at_start < expected["staff"]  # the first request added Dash Pages' title script
    for name, policy in policies.items():
        assert set(_directives(policy)["script-src"][1:]) == expected[name], name
        assert _sha256("alert(1)") not in policy

    app.clientside_callback(
        "function(s) { return 'csp-probe'; }",
        Output("overview-pack", "title"),
        Input("overview-url", "search"),
    )
    probe = [s for s in rendered(app, "/") if "csp-probe" in s]
    assert len(probe) == 1
    assert client.get("/sign-in").headers["Content-Security-Policy"] == policies["staff"]
    assert _sha256(probe[0]) not in policies["staff"]


# -- in Chromium -----------------------------------------------------------------------------------
REPORTER = """
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation({
  page: location.href, directive: e.violatedDirective, blocked: e.blockedURI,
  sample: e.sample, source: e.sourceFile, line: e.lineNumber,
}), true);
"""


#: Chromium's console message for a CSP violation: "Refused to load ..." (older versions, and
#: still for some directives) or "Executing inline script violates the following Content
#: Security Policy directive ..." (Chromium 156 for scripts).
REFUSED = re.compile(r"^Refused to|violates the following Content Security Policy directive")


class Watch:
    """Every CSP violation and CSP console message of a browser context."""

    def __init__(self, context: Any) -> None:
        self.violations: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        context.expose_function("__cspViolation", lambda v: self.violations.append(v))
        context.add_init_script(REPORTER)
        context.on("console", self._console)
        context.on("weberror", lambda e: self.errors.append(str(e.error)))

    def _console(self, message: Any) -> None:
        if REFUSED.search(message.text):
            self.refused.append(message.text)

    def assert_clean(self) -> None:
        kinds = Counter(
            (v["directive"], v["blocked"], v["source"], v["page"].split("?")[0])
            for v in self.violations
        )
        assert not kinds and not self.refused, (sorted(kinds.items()), self.refused[:5])
        assert self.errors == [], self.errors


PLOT_RENDERED = """(sel) => {
  const plot = document.querySelector(sel + ' .js-plotly-plot');
  return !!plot && !!plot._fullData && plot._fullData.length > 0
    && !!plot.querySelector('.main-svg');
}"""
MAP_RENDERED = """(sel) => {
  const plot = document.querySelector(sel + ' .js-plotly-plot');
  if (!plot || !plot._fullLayout || !plot._fullLayout.map) return false;
  const canvas = plot.querySelector('canvas');
  const map = plot._fullLayout.map._subplot.map;
  // MapLibre draws a feature only once its worker has cut the GeoJSON into tiles.
  return !!canvas && canvas.width > 0 && map.loaded() && map.queryRenderedFeatures().length > 0;
}"""


@pytest.fixture
def served(app, password):
    with serve_wsgi(app.server) as url:
        yield url


@pytest.mark.browser
def test_every_staff_page_works_without_a_violation(served, password) -> None:
    url = served
    with chromium_browser() as browser:
        context = browser.new_context()
        watch = Watch(context)
        page = context.new_page()
        browser_sign_in(page, url, EMAIL, password)

        page.goto(url + "/?period=month&date=2011-09-01")
        expect(page.locator("#overview-cards .card").first).to_be_visible(timeout=30_000)
        page.wait_for_function(PLOT_RENDERED, arg="#overview-chart", timeout=20_000)
        # A clientside callback wrote the pack link from the address.
        expect(page.locator("#overview-pack")).to_have_attribute(
            "href", "/pack?period=month&date=2011-09-01", timeout=20_000
        )
        page.locator("#overview-kind").get_by_text("Quarter", exact=True).click()
        expect(page).to_have_url(re.compile(r"period=quarter"), timeout=20_000)
        expect(page.locator("#overview-pack")).to_have_attribute(
            "href", re.compile(r"^/pack\?period=quarter"), timeout=20_000
        )

        page.goto(url + STAFF_PAGES["requests"])
        expect(page.locator("#requests-summary")).to_contain_text("requests", timeout=30_000)
        page.wait_for_function(PLOT_RENDERED, arg="#requests-chart", timeout=20_000)
        page.locator("#requests-department").click()
        page.get_by_role("option", name="Public Works Department (PWDx)", exact=True).click()
        page.keyboard.press("Escape")
        expect(page).to_have_url(re.compile(r"department=PWDx"), timeout=20_000)

        page.goto(url + "/department/PWDx?period=month&date=2011-09-01")
        expect(page.locator("#department-heading")).to_contain_text("PWDx", timeout=30_000)
        types = page.locator("#department-types")
        expect(types.locator(".ag-row").first).to_be_visible(timeout=20_000)
        expect(page.locator("#department-overdue .ag-row").first).to_be_visible(timeout=20_000)
        page.wait_for_function(MAP_RENDERED, arg="#department-map", timeout=30_000)
        types.locator(".ag-header-cell[col-id='due'] .ag-header-cell-label").click()
        expect(types.locator(".ag-header-cell[col-id='due']")).to_have_attribute(
            "aria-sort", "ascending"
        )

        page.goto(url + STAFF_PAGES["hot spots"])
        expect(page.locator("#hotspots-table tbody tr").first).to_be_visible(timeout=30_000)
        page.wait_for_function(MAP_RENDERED, arg="#hotspots-map", timeout=30_000)
        page.get_by_label("Measure").select_option(label="Late requests (count)")
        expect(page.locator("#hotspots-table thead")).to_contain_text("Late", timeout=30_000)

        page.goto(url + STAFF_PAGES["pack"])
        expect(page.locator("#main h1").first).to_contain_text("2011", timeout=30_000)

        page.goto(url + STAFF_PAGES["404"])
        expect(page.locator("#main")).to_contain_text("Page not found", timeout=20_000)
        page.wait_for_timeout(500)  # any late violation (workers, lazy chunks) is reported
    watch.assert_clean()


@pytest.mark.browser
def test_every_public_page_works_without_a_violation(served) -> None:
    url = served
    with chromium_browser() as browser:
        context = browser.new_context()
        watch = Watch(context)
        page = context.new_page()

        page.goto(url + PUBLIC_PAGES["request"])
        result = page.locator("#public-track-result")
        expect(result).to_contain_text("Request 101000295613", timeout=30_000)
        # The clientside callback set the tab's title.
        expect(page).to_have_title(re.compile("Request 101000295613"), timeout=20_000)
        box = page.get_by_label("Tracking number")
        box.fill("123456")
        box.press("Enter")
        expect(result).to_contain_text("We could not find that request", timeout=20_000)

        for view, table in (("area", "Area ("), ("cell", "H3 cell"), ("points", "Request")):
            page.goto(url + f"/public/map?view={view}")
            expect(page.locator("#public-map-summary")).to_contain_text(":", timeout=30_000)
            expect(page.locator("#public-map-table")).to_contain_text(table, timeout=20_000)
            page.wait_for_function(MAP_RENDERED, arg="#public-map-graph", timeout=30_000)
        page.select_option("#public-map-days", "90")
        expect(page).to_have_url(re.compile(r"days=90"), timeout=20_000)
        page.wait_for_function(MAP_RENDERED, arg="#public-map-graph", timeout=30_000)

        page.goto(url + PUBLIC_PAGES["performance"])
        expect(page.locator("#public-content h1, #public-content h2").first).to_be_visible(
            timeout=30_000
        )
        page.wait_for_timeout(500)
    watch.assert_clean()


@pytest.mark.browser
def test_an_injected_or_changed_inline_script_is_refused(served) -> None:
    """The policy is enforced, not only sent: the real public index with one script added and
    one of its own inline scripts changed (served with its real headers) runs neither, and the
    unchanged page, its control, runs."""
    url = served
    injected = "<script>window.__injected = true;</script>"
    handler = '<img src="/no-such-image" onerror="window.__handler = true">'

    def tamper(route: Any) -> None:
        response = route.fetch()
        body = response.text()
        changed = body.replace("new DashRenderer()", "new DashRenderer() /* changed */", 1)
        assert changed != body
        route.fulfill(response=response, body=changed.replace("</body>", injected + handler))

    with chromium_browser() as browser:
        control = browser.new_context()
        control_watch = Watch(control)
        page = control.new_page()
        page.goto(url + "/public/")
        expect(page.get_by_role("heading", name="Track a request")).to_be_visible(timeout=30_000)
        control_watch.assert_clean()

        context = browser.new_context()
        watch = Watch(context)
        page = context.new_page()
        page.route(re.compile(r".*/public/$"), tamper)
        page.goto(url + "/public/")
        page.wait_for_function("() => document.readyState === 'complete'")
        page.wait_for_timeout(1_000)
        assert page.evaluate("() => [window.__injected, window.__handler]") == [None, None]
        # The renderer never started: only Dash's placeholder, no portal.
        assert page.locator("#react-entry-point").inner_text().strip() == "Loading..."
        assert page.get_by_role("heading", name="Track a request").count() == 0
        blocked = {(v["directive"], v["blocked"]) for v in watch.violations}
        assert ("script-src-elem", "inline") in blocked, watch.violations
        assert ("script-src-attr", "inline") in blocked, watch.violations
        assert len([v for v in watch.violations if v["directive"] == "script-src-elem"]) == 2
        assert len(watch.refused) == 3, watch.refused  # the two scripts and the handler
