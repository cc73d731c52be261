"""Headless Chromium (Debian's /usr/bin/chromium via Playwright) and a WSGI test server.

Playwright's own browser downloads are not used: ``chromium_browser()`` drives the
system Chromium installed by ``.ci/install-system-deps.sh``.  ``serve_wsgi(app)``
serves a Flask/WSGI app (e.g. ``dash_app.server``) on 127.0.0.1 in a daemon thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INSTALL_HINT = "run `sudo .ci/install-system-deps.sh` (installs chromium and fonts-dejavu-core)"


#: One Chromium per test process, launched by the first test that needs it (a launch took
#: about 0.6 s, and the suite asked for one about a hundred times).
_SHARED: dict[str, Any] = {}


def _shared_browser() -> Browser:
    browser = _SHARED.get("browser")
    if browser is not None and browser.is_connected():
        return browser
    if not CHROMIUM_PATH.exists():
        raise RuntimeError(f"{CHROMIUM_PATH} not found: {INSTALL_HINT}")
    from playwright.sync_api import sync_playwright

    close_shared_browser()
    playwright = sync_playwright().start()
    _SHARED["playwright"] = playwright
    _SHARED["browser"] = playwright.chromium.launch(
        executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True
    )
    return _SHARED["browser"]


def close_shared_browser() -> None:
    """Close the process's Chromium and Playwright (the session's end; after a crash)."""
    browser, playwright = _SHARED.pop("browser", None), _SHARED.pop("playwright", None)
    with contextlib.suppress(Exception):
        if browser is not None:
            browser.close()
    with contextlib.suppress(Exception):
        if playwright is not None:
            playwright.stop()


@contextlib.contextmanager
def chromium_browser() -> Iterator[Browser]:
    """Headless system Chromium driven by Playwright: yield the ``Browser``.

    The process's one Chromium is shared: every test gets its own contexts (``new_page`` and
    ``new_context`` each make one: cookies, storage and cache of their own), and the contexts
    made inside the ``with`` block are closed when it ends. Raises ``RuntimeError`` if
    /usr/bin/chromium is missing (never skips).
    """
    browser = _shared_browser()
    before = list(browser.contexts)
    try:
        yield browser
    finally:
        for context in browser.contexts:
            if not any(context is kept for kept in before):
                with contextlib.suppress(Exception):
                    context.close()


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (free port) in a daemon thread; yield its base URL.

    The yielded URL has no trailing slash, e.g. ``"http://127.0.0.1:40123"``.  For a
    Dash app pass ``dash_app.server``.  The server is shut down on exit.
    """
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"serve_wsgi:{server.server_port}",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
