"""The test infrastructure itself works for real: a PostGIS server and a headless browser."""

from __future__ import annotations

import urllib.request

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.support.browser import chromium_browser, serve_wsgi
from tests.support.postgis import ENV_URL, postgis_url_from_env, throwaway_postgis


@pytest.mark.postgis
def test_throwaway_postgis_runs_spatial_queries_and_cleans_up() -> None:
    with throwaway_postgis() as url:
        assert url.startswith("postgresql+psycopg://")
        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                version = conn.execute(sa.text("SELECT PostGIS_Version()")).scalar_one()
                assert version.startswith("3")
                wkt = conn.execute(
                    sa.text("SELECT ST_AsText(ST_SetSRID(ST_MakePoint(-71.05, 42.36), 4326))")
                ).scalar_one()
                assert wkt == "POINT(-71.05 42.36)"
                # Fresh and empty: only PostGIS' own spatial_ref_sys table exists.
                tables = (
                    conn.execute(
                        sa.text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                        )
                    )
                    .scalars()
                    .all()
                )
                assert tables == ["spatial_ref_sys"]
        finally:
            engine.dispose()

    # The server is gone once the context exits.
    with pytest.raises(sa.exc.OperationalError):
        sa.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": 2}
        ).connect().close()


def test_postgis_url_from_env_prefers_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql://u:p@db.example:5433/stat311")
    with postgis_url_from_env() as url:
        assert url == "postgresql+psycopg://u:p@db.example:5433/stat311"


def test_serve_wsgi_serves_and_stops() -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with serve_wsgi(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base_url}/hello", timeout=5) as resp:
            assert resp.read() == b"/hello"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base_url}/hello", timeout=2)


@pytest.mark.browser
def test_dash_button_click_updates_div_in_chromium() -> None:
    from dash import Dash, Input, Output, html
    from playwright.sync_api import expect

    app = Dash(__name__)
    app.layout = html.Div(
        [
            html.Button("Go", id="go", n_clicks=0),
            html.Div("not clicked", id="out"),
        ]
    )

    @app.callback(Output("out", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
    def on_click(n_clicks: int) -> str:
        return f"clicked {n_clicks}"

    with serve_wsgi(app.server) as base_url, chromium_browser() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(base_url, wait_until="networkidle")
        page.wait_for_selector("#go", state="visible")
        out = page.locator("#out")
        expect(out).to_have_text("not clicked")
        page.click("#go")
        expect(out).to_have_text("clicked 1", timeout=15_000)
        page.click("#go")
        expect(out).to_have_text("clicked 2", timeout=15_000)


def test_throwaway_redis_answers_and_is_gone_afterwards(tmp_path) -> None:
    import redis

    from tests.support.redis import throwaway_redis

    with throwaway_redis(tmp_path) as url:
        client = redis.Redis.from_url(url)
        client.set("stat311", "ok")
        assert client.get("stat311") == b"ok"
        client.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
