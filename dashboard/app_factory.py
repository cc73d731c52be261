"""The app factory: ``create_app(settings)`` builds a Dash app; nothing happens at import time."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dash
import flask
from dash import Dash, html
from flask_caching import Cache

from dashboard.auth import PUBLIC_PREFIXES, STAFF_PAGE_ENDPOINTS
from dashboard.services import Services
from dashboard.settings import Settings

log = logging.getLogger(__name__)

#: Pages, in navbar order: each name has ``layouts/<name>.py`` (``PAGE`` dict of
#: ``register_page`` arguments, and ``layout(**kwargs)``) and ``callbacks/<name>.py``
#: (``register(app, services)``).
PAGES: tuple[str, ...] = ("overview", "requests", "department", "hotspots", "pack")


def _page_modules() -> list[tuple[str, ModuleType, ModuleType]]:
    return [
        (
            name,
            importlib.import_module(f"layouts.{name}"),
            importlib.import_module(f"callbacks.{name}"),
        )
        for name in PAGES
    ]


def _result_cache(server, settings: Settings):
    """flask-caching: in process by default, Redis when ``STAT311_REDIS_URL`` is set. A key
    holds everything its result depends on, the user's scope included (``ReadModel._query``:
    the SQL and its values, which carry the scope, and the focused cases' scope)."""
    config = {"CACHE_DEFAULT_TIMEOUT": settings.cache_seconds, "CACHE_THRESHOLD": 2000}
    if settings.redis_url:
        config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=settings.redis_url)
    else:
        config.update(CACHE_TYPE="SimpleCache")
    return Cache(server, config=config)


#: The public folders' own paths (redirected to ``/public/`` and ``/open311/``).
_PUBLIC_ROOTS = frozenset({"/public", "/open311"})


#: The Content-Security-Policy of every response (defence in depth against XSS: case text from
#: the public is shown on staff pages), worked out from the real pages in headless Chromium
#: (tests/test_csp.py, which fails on any violation). ``script-src`` is ``'self'`` plus the
#: hashes of the app's own inline scripts (:class:`_ContentSecurityPolicy`); no
#: ``'unsafe-inline'`` and no ``'unsafe-eval'`` for scripts: Dash's clientside callbacks are
#: inline ``<script>`` elements that define a function (hashed like the renderer's start-up),
#: dash-ag-grid runs our ``{"function": ...}`` formatters through its own expression
#: evaluator, and nothing on these pages calls ``eval``/``new Function`` (the webpack bundles'
#: ``new Function("return this")`` is a fallback for browsers without ``globalThis``).
_CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    # Needed: without it Chromium reports inline <style> elements added by Dash's renderer,
    # dcc (Loading, Dropdown, DatePicker), react-dom, plotly.js and dash-ag-grid on every
    # page, and style="" attributes set by plotly.js (and on the sign-in page). They are
    # generated at run time, so no hash fits; a style cannot run a script.
    ("style-src", "'self' 'unsafe-inline'"),
    ("img-src", "'self' data: blob:"),
    ("font-src", "'self'"),  # the vendored Bootstrap icons (dashboard/assets/fonts)
    ("connect-src", "'self'"),
    # Needed: MapLibre (the choroplethmap/scattermap traces in plotly.js) starts its worker
    # from a blob: URL; refused, the maps draw no area or point.
    ("worker-src", "blob:"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
)
#: ``type`` values that make a ``<script>`` run (the HTML standard's JavaScript MIME type
#: essences and ``module``); any other type (Dash's ``application/json`` config) is data.
_SCRIPT_TYPES = frozenset(
    {"", "module", "application/ecmascript", "application/javascript", "application/x-ecmascript"}
    | {"application/x-javascript", "text/ecmascript", "text/javascript", "text/jscript"}
    | {f"text/javascript1.{n}" for n in range(6)}
    | {"text/livescript", "text/x-ecmascript", "text/x-javascript"}
)


class _InlineScripts(HTMLParser):
    """The text of every inline ``<script>`` of a page that a browser would run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "script":
            return
        values = {name: (value or "") for name, value in attrs}
        kind = values.get("type", "").split(";")[0].strip().lower()
        runs = "src" not in values and kind in _SCRIPT_TYPES
        self._current = [] if runs else None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def _inline_script_hashes(page: str) -> list[str]:
    """CSP ``'sha256-...'`` sources of the inline scripts ``page`` runs, in page order (a
    browser hashes the text after turning its line breaks into ``\\n``)."""
    parser = _InlineScripts()
    parser.feed(page)
    parser.close()
    hashes = []
    for script in parser.scripts:
        text = script.replace("\r\n", "\n").replace("\r", "\n")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        if f"'sha256-{digest}'" not in hashes:
            hashes.append(f"'sha256-{digest}'")
    return hashes


#: The extension keys of the Dash apps on the server: the staff app, ``/public/``'s app.
_DASH_APPS = ("stat311_app", "stat311_public_app")


def _policy(hashes: list[str]) -> str:
    directives = dict(_CSP_DIRECTIVES)
    directives["script-src"] = " ".join(["'self'", *hashes])
    order = ["default-src", "script-src", *(name for name, _ in _CSP_DIRECTIVES[1:])]
    return "; ".join(f"{name} {directives[name]}" for name in order)


class _ContentSecurityPolicy:
    """The policy of each Dash app on ``server``: its ``script-src`` allows the app's files
    and the inline scripts of its index page (the renderer's start-up and one per clientside
    callback), hashed from the page Dash renders when the policy is first needed, i.e. at the
    first request: Dash Pages adds its own clientside callback (the tab's title) only then,
    and a Dash upgrade or a new clientside callback changes the scripts, so the hashes cannot
    be written down or taken at start-up. Never hashed from a response: an inline script that
    anything else adds to a served page (an injection) is refused by the browser, and so is
    a clientside callback registered after the first request."""

    def __init__(self, server: flask.Flask) -> None:
        self._server = server
        self._policies: dict[str, str] = {}
        self._lock = threading.Lock()

    def policy(self, app_key: str) -> str:
        found = self._policies.get(app_key)
        if found is None:
            with self._lock:
                found = self._policies.get(app_key)
                if found is None:
                    found = self._policies[app_key] = self._hash_index(app_key)
        return found

    def _hash_index(self, app_key: str) -> str:
        app = self._server.extensions.get(app_key)
        if app is None:  # a server without that app: no inline script is allowed
            return _policy([])
        prefix = app.config.requests_pathname_prefix
        # A request of its own for the app's front page (the one being answered may be any
        # path, e.g. a callback); Dash reads the request only for the pages' <meta> tags.
        with self._server.test_request_context(prefix):
            hashes = _inline_script_hashes(app.index())
        log.info("Content-Security-Policy of %s: %d inline script(s)", prefix, len(hashes))
        return _policy(hashes)


#: Responses compressed with gzip (when the client accepts it): JSON (Dash callbacks and
#: layouts, Open311), XML (Open311), scripts and styles. HTML pages are not, so that no page
#: carrying a secret (the sign-in form's CSRF token) is compressed beside text a visitor chose
#: (BREACH). A hot-spot map's callback answer is about 600 KB of JSON at 10M cases.
COMPRESSED_TYPES: tuple[str, ...] = (
    "application/json",
    "application/geo+json",
    "application/xml",
    "text/xml",
    "application/javascript",
    "text/javascript",
    "text/css",
    "text/csv",
)


#: The paths whose answers are the same files for everyone: Dash's component suites (its
#: scripts, plotly.js among them), under either app's prefix. (The assets folder's files are
#: sent as streams, which flask-compress compresses as they are sent, never from its cache.)
STATIC_PATHS: tuple[str, ...] = ("/_dash-component-suites/",)


class StaticGzipCache:
    """flask-compress's cache, for the compressed bytes of static files only (see
    :data:`STATIC_PATHS`): plotly.js alone is 4.7 MB and took about 150 ms to gzip on every
    browser that asked for it (each new visitor's first page). A callback's or an API's answer
    is never kept (its key is empty: :func:`static_cache_key`). One per web worker, at most
    ``max_bytes`` of compressed bytes (the files of one install: about 2 MB)."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: dict[str, bytes] = {}
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def _kept(key: str) -> bool:
        return not key.endswith(";")  # "gzip;" + an empty key: not a static file

    def get(self, key: str) -> bytes | None:
        return self._items.get(key) if self._kept(key) else None

    def set(self, key: str, value: bytes) -> None:
        if not self._kept(key):
            return
        with self._lock:
            if key in self._items or self._size + len(value) > self.max_bytes:
                return
            self._items[key] = value
            self._size += len(value)

    def __len__(self) -> int:
        return len(self._items)


def static_cache_key(request: flask.Request) -> str:
    """The key of a static file's compressed bytes (its path and query: the fingerprint or the
    asset's modification time), or "" (not kept) for anything else."""
    if request.method == "GET" and any(part in request.path for part in STATIC_PATHS):
        return request.full_path
    return ""


def _compression(server: flask.Flask) -> None:
    """gzip the :data:`COMPRESSED_TYPES` of 1 KB or more (flask-compress); static files are
    compressed once per worker (:class:`StaticGzipCache`)."""
    import flask_compress

    server.config.setdefault("COMPRESS_ALGORITHM", ["gzip"])
    server.config.setdefault("COMPRESS_MIMETYPES", list(COMPRESSED_TYPES))
    server.config.setdefault("COMPRESS_MIN_SIZE", 1024)
    server.config.setdefault("COMPRESS_CACHE_BACKEND", StaticGzipCache)
    server.config.setdefault("COMPRESS_CACHE_KEY", static_cache_key)
    compress = flask_compress.Compress(server)
    server.extensions["stat311_static_gzip"] = compress.cache


def _security_headers(server: flask.Flask) -> None:
    """Headers on every response: no MIME sniffing, only the origin in cross-site referrers
    (staff URLs name departments and filters) and a Content-Security-Policy (see
    :data:`_CSP_DIRECTIVES`; the staff app's on staff responses, the portal's on the public
    side). On everything but the public side (``/public/...``, ``/open311/...``) and static
    files (``auth.PUBLIC_PREFIXES``; their own headers, e.g. Open311's CORS and caching), no
    framing (clickjacking of the sign-in form and the staff pages: ``X-Frame-Options`` and
    ``frame-ancestors 'none'``; the portal may be embedded in the city's site) and
    ``Cache-Control: no-store`` (staff pages, callbacks and downloads carry descriptions and
    exact addresses: no browser or proxy may keep them)."""
    csp = _ContentSecurityPolicy(server)

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        path = flask.request.path
        rule = flask.request.url_rule
        staff_page = rule is not None and rule.endpoint in STAFF_PAGE_ENDPOINTS
        if not staff_page and (path.startswith(PUBLIC_PREFIXES) or path in _PUBLIC_ROOTS):
            headers.setdefault("Content-Security-Policy", csp.policy("stat311_public_app"))
            return response
        headers["X-Frame-Options"] = "DENY"
        headers.setdefault(
            "Content-Security-Policy", csp.policy("stat311_app") + "; frame-ancestors 'none'"
        )
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
        return response


def _relative_location(location: str, host: str) -> str:
    """``location`` without its scheme and host when it names ``host`` (the request's own, as
    the client or a trusted proxy's ``X-Forwarded-Host``/``-Proto`` gave it); a path that
    would read as another host (``//evil.example``) keeps one slash."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def _relative_redirects(server: flask.Flask) -> None:
    """Redirects name no host: werkzeug's own (``/public`` -> ``/public/``, a 308 that caches
    keep) were absolute, built from the request's ``Host``, or from ``X-Forwarded-Host`` and
    ``-Proto`` with ``STAT311_TRUSTED_PROXIES``, which a client sends itself when the proxy
    does not set them: one request could make a shared cache send everyone to another site,
    or to ``http://``. A relative ``Location`` is read against the address the browser asked."""

    @server.after_request
    def _relative(response: flask.Response) -> flask.Response:
        location = response.headers.get("Location")
        if location:
            response.headers["Location"] = _relative_location(location, flask.request.host)
        return response


def _trust_proxies(server: flask.Flask, hops: int) -> None:
    """``STAT311_TRUSTED_PROXIES``: read the client's address, scheme and host from the
    ``X-Forwarded-*`` headers that ``hops`` proxies in front of the app add (werkzeug's
    ``ProxyFix``, which takes the ``hops``-th value from the right, so a value a client forged
    further left is never used). Everything that reads ``request.remote_addr`` (the rate
    limits, the sign-in lockout's address limit, the audit log) then sees the client."""
    if hops <= 0:
        return
    from werkzeug.middleware.proxy_fix import ProxyFix

    server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
    )
    log.info("trusting %d reverse prox%s for the client address", hops, "y" if hops == 1 else "ies")


#: Largest request body read (Flask's ``MAX_CONTENT_LENGTH``: 413 beyond it). A callback's body
#: is a few kilobytes (no callback sends a figure or a table back); the portal's callbacks are
#: open to anyone, and a body is parsed before the rate limit's count can refuse the next one.
MAX_REQUEST_BYTES = 1 << 20

#: The callback endpoints of the staff app and the public app, and the extension key of each
#: Dash app (the staff app is the one ``create_app`` returns).
_CALLBACK_PATHS = {
    "/_dash-update-component": "stat311_app",
    "/public/_dash-update-component": "stat311_public_app",
}


def _same_id(sent: Any, declared: Any) -> bool:
    if isinstance(declared, dict) or (isinstance(declared, str) and declared.startswith("{")):
        return True  # a pattern-matching id: Dash matches the values itself
    return isinstance(sent, str) and sent == str(declared)


def _items_match(sent: Any, declared: list[dict[str, Any]]) -> bool:
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for item, spec in zip(sent, declared, strict=True):
        if isinstance(item, list):  # an ALL/ALLSMALLER wildcard: one entry per component
            if not _same_id(None, spec["id"]) or not all(
                isinstance(i, dict) and i.get("property") == spec["property"] for i in item
            ):
                return False
        elif not (
            isinstance(item, dict)
            and item.get("property") == spec["property"]
            and _same_id(item.get("id"), spec["id"])
        ):
            return False
    return True


def _text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _option(value: Any) -> bool:
    """A native select's value: its option's text (or number, as the page declared it)."""
    return value is None or isinstance(value, str) or _count(value)


def _scalars(value: Any) -> bool:
    return _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))


def _texts(value: Any) -> bool:
    return _text(value) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


#: What a browser can send for a property of a component type: a crafted body with, say, an
#: object for an address's ``search`` or a dropdown's value passed the shape check and reached
#: the callback, which failed with a 500. Types and properties not listed are not checked.
PROPERTY_VALUES: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("Location", "pathname"): _text,
    ("Location", "search"): _text,
    ("Location", "hash"): _text,
    ("Location", "href"): _text,
    ("Dropdown", "value"): _texts,  # every dropdown of this app offers text values
    ("RadioItems", "value"): _scalar,
    ("Select", "value"): _option,  # a native select (dbc.Select): its option's value
    ("Checklist", "value"): _scalars,
    ("Input", "value"): _scalar,  # a text or date box (dbc.Input): its text
    ("Button", "n_clicks"): _count,
    ("TextStore", "data"): _text,
}
#: The type :func:`component_types` gives a ``dcc.Store`` the layout fills with text.
TEXT_STORE = "TextStore"


def component_types(layout: Any) -> dict[str, str]:
    """``{id: component type}`` of every component with a plain (string) id in ``layout``."""
    found: dict[str, str] = {}
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not hasattr(node, "_type"):
            continue
        node_id = getattr(node, "id", None)
        if isinstance(node_id, str):
            kind = node._type
            if kind == "Store" and isinstance(getattr(node, "data", None), str):
                kind = TEXT_STORE  # the page's state as text (its query string)
            found[node_id] = kind
        for name in getattr(node, "_children_props", None) or ["children"]:
            child = getattr(node, name.split(".")[0], None)
            if child is not None:
                stack.append(child)
    return found


#: Inputs a browser always sends as text: Dash Pages' router (``_pages_location``) joins its
#: path with the app's prefix, and a body without one ended in a 500 (``TypeError``).
TEXT_REQUIRED = frozenset({("_pages_location", "pathname")})


def _values_problem(items: Any, types: Mapping[str, str]) -> str | None:
    flat = [one for item in items for one in (item if isinstance(item, list) else [item])]
    for one in flat:
        check = PROPERTY_VALUES.get((types.get(str(one.get("id"))), one.get("property")))
        if check is not None and "value" in one and not check(one["value"]):
            return f"{one.get('id')}.{one.get('property')} cannot hold that value"
    for one in flat:
        if (str(one.get("id")), one.get("property")) in TEXT_REQUIRED and not isinstance(
            one.get("value"), str
        ):
            return f"{one.get('id')}.{one.get('property')} must be text"
    return None


def callback_body_problem(
    body: Any, callback_map: dict[str, Any], types: Mapping[str, str] | None = None
) -> str | None:
    """Why ``body`` is not a request the Dash renderer sends for a callback of
    ``callback_map`` (``None`` when it is): it must name a callback of the app, and its
    inputs and states must be that callback's own, in its order. A crafted body
    used to reach Dash's internals or the callback with arguments no browser sends, and
    ended in a 500 (an alert in the server's log for each request)."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return "the body is not a callback request"
    spec = callback_map.get(body["output"])
    if spec is None:
        return "no such callback"
    if not _items_match(body.get("inputs"), spec.get("inputs", [])):
        return "the inputs are not the callback's"
    if not _items_match(body.get("state", []), spec.get("state", [])):
        return "the states are not the callback's"
    outputs = body.get("outputs", [])
    if not isinstance(outputs, dict | list):
        return "the outputs are not the callback's"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds is not a list of names"
    if types:
        return _values_problem([*body.get("inputs", []), *body.get("state", [])], types)
    return None


def _types_of(app: Dash) -> dict[str, str]:
    """The component types of ``app``'s validation layout (every component any page shows),
    read once per app and kept on it."""
    types = getattr(app, "_stat311_component_types", None)
    if types is None:
        layout = app.validation_layout
        types = component_types(layout() if callable(layout) else layout)
        app._stat311_component_types = types  # type: ignore[attr-defined]
    return types


def _refuse_malformed_callbacks(server: flask.Flask) -> None:
    """A 400 with a JSON reason for a callback request whose body no browser would send
    (see :func:`callback_body_problem`); registered after Dash's own set-up hooks."""

    @server.before_request
    def _check_callback_body() -> Any:
        request = flask.request
        key = _CALLBACK_PATHS.get(request.path)
        if key is None or request.method != "POST":
            return None
        app = server.extensions.get(key)
        body = request.get_json(silent=True)
        types = _types_of(app) if app is not None else None
        problem = callback_body_problem(body, app.callback_map if app is not None else {}, types)
        if problem is None:
            return None
        log.info("callback request refused (%s): %s", request.path, problem)
        return {"error": problem}, 400


def prepare_worker(settings: Settings) -> None:
    """What a web worker started by gunicorn (``app:server``) does before it serves, as
    ``stat311 serve`` does: log as the commands do (``time level logger: message`` at
    ``STAT311_LOG_LEVEL``; gunicorn sets up only its own logger), bring the store's schema to the
    newest revision (safe with workers starting at once), and say when the read-model snapshot
    is missing or out of date. It does not rebuild the snapshot: that can take minutes, longer
    than gunicorn lets a worker start; run ``stat311 snapshot`` first (docs/OPERATIONS.md)."""
    from dashboard.cli import setup_logging
    from dashboard.sla import load_policy
    from dashboard.snapshot import NO_SNAPSHOT_YET, current_if_fresh
    from dashboard.store import Store

    if not logging.getLogger().handlers:  # an embedding program's logging is left alone
        setup_logging(settings.log_level).active = False
    store = Store(settings.database_url)
    store.migrate()
    _, why = current_if_fresh(
        store=store,
        snapshot_dir=settings.snapshot_dir,
        timezone=settings.timezone,
        policy=load_policy(settings.sla_policy),
    )
    if why == NO_SNAPSHOT_YET:
        log.warning(
            "no read-model snapshot yet: the pages say so until `stat311 snapshot` is run or an "
            "export is loaded"
        )
    elif why:
        log.warning(
            "the read-model snapshot is out of date (%s): the pages show what it holds until "
            "`stat311 snapshot` is run with these settings (web workers do not rebuild it)",
            why,
        )
    store.dispose()


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Dash:
    """Build the dashboard. ``services`` defaults to the read model of ``settings``.

    The SLA policy file is read here, so an invalid one stops the start-up with its line and
    problem named."""
    from dashboard import auth
    from dashboard.store import Store
    from layouts import shell

    settings = settings or Settings.from_env()
    services = services or Services.from_settings(settings)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        # Bootstrap and its icons are vendored in dashboard/assets (no CDN needed).
        serve_locally=True,
        title="stat311",
        update_title=None,
        index_string=shell.index_string(),
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    pages = _page_modules()
    validation = [shell.layout()]
    for order, (name, layout_module, callback_module) in enumerate(pages):
        spec = dict(layout_module.PAGE)
        spec.setdefault("order", order)
        title = spec.get("title")
        if callable(title) and "names" in inspect.signature(title).parameters:
            extra = {}
            if "visible" in inspect.signature(title).parameters:
                extra["visible"] = services.read_model.scope  # the current user's departments
            spec["title"] = functools.partial(title, names=services.departments, **extra)
        # A page whose content comes with it (callbacks/<name>.py ``page_layout``) gets its layout
        # function from its callbacks module, which knows the services; layouts never do.
        page_layout = getattr(callback_module, "page_layout", None)
        layout = page_layout(services) if page_layout else layout_module.layout
        dash.register_page(f"stat311.{name}", layout=layout, **spec)
        validation.append(layout_module.layout())
        callback_module.register(app, services)
    dash.register_page(
        shell.NOT_FOUND_MODULE, layout=shell.not_found, path="/404", title=shell.NOT_FOUND_TITLE
    )
    app.layout = shell.layout
    app.validation_layout = html.Div(validation)
    app.server.extensions["stat311"] = services
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    _trust_proxies(app.server, settings.trusted_proxies)
    services.read_model.cache = _result_cache(app.server, settings)
    auth.install(app.server, store=Store(settings.database_url), settings=settings)
    _security_headers(app.server)
    _compression(app.server)
    _relative_redirects(app.server)

    @app.server.errorhandler(dash.exceptions.UnsupportedRelativePath)
    def _bad_path(exc: Exception):  # a crafted routing request (browsers send real paths)
        return {"error": "unsupported path"}, 400

    @app.server.errorhandler(KeyError)
    def _unknown_callback(exc: KeyError):
        # Dash raises KeyError for a callback request naming no server-side callback (crafted,
        # or a clientside one); anything else is a real error and stays a 500.
        if "Callback function not found" in str(exc):
            return {"error": "no such callback"}, 400
        raise exc

    from dashboard.public import install_public

    install_public(app.server, settings=settings, services=services)
    app.server.extensions["stat311_app"] = app
    _refuse_malformed_callbacks(app.server)
    return app
