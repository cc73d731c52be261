"""A local HTTP server for the pull tests (there is no internet here): it records every request
(path and query) and its headers, and hands each GET to a ``handle(h, path, query)`` function
that writes the whole response on ``h``."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Handle = Callable[[BaseHTTPRequestHandler, str, dict[str, str]], None]


class LocalServer:
    """``with LocalServer(handle) as api:`` serves on ``api.url`` (127.0.0.1, a free port)."""

    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self.requests: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                server.requests.append({"_path": url.path, **query})
                server.headers.append(dict(self.headers))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.handle(self, url.path, query)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    """One whole response (``Content_Type`` is ``Content-Type``; JSON unless said otherwise)."""
    h.send_response(status)
    headers.setdefault("Content-Type", "application/json")
    headers.setdefault("Content-Length", str(len(body)))
    for k, v in headers.items():
        if v is not None:
            h.send_header(k.replace("_", "-"), v)
    h.end_headers()
    h.wfile.write(body)


def send_json(h: BaseHTTPRequestHandler, data: Any) -> None:
    send(h, 200, json.dumps(data).encode())
