"""Shared fixtures. Test data is either the real exports bundled in the repository or built in code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dash
import pytest

from dashboard.settings import Settings
from dashboard.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BOSTON_ZIP = ROOT / "etl" / "samples" / "boston_311_2011.zip"
BOSTON_NEIGHBORHOODS = ROOT / "geodata" / "samples" / "boston_neighborhoods.geojson"
NYC_CSV = DATA / "nyc_311_sample_2023-02-28.csv"
NYC_BOROUGHS = DATA / "nybb_16a.zip"
NYC_DISTRICTS = DATA / "community_districts.geojson"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the test process's shared Chromium (``tests.support.browser``), if it started."""
    from tests.support.browser import close_shared_browser

    close_shared_browser()


def make_settings(tmp: Path, **overrides) -> Settings:
    """Settings for a store and snapshot directory under ``tmp`` (nothing else changed)."""
    values = {
        "database_url": f"sqlite:///{tmp / 'stat311.db'}",
        "snapshot_dir": tmp / "snapshots",
        "batch_size": 20_000,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.database_url)
    s.migrate()
    yield s
    s.dispose()


def _loaded(tmp: Path, *, layer: Path, layer_name: str, name_field: str, export: Path):
    from etl.boundaries import add_layer
    from etl.load import load_file

    s = make_settings(tmp)
    store = Store(s.database_url)
    store.migrate()
    add_layer(
        layer, layer=layer_name, name_field=name_field, store=store, settings=s, snapshot=False
    )
    load_file(export, store=store, settings=s, progress=False)
    return s, store


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Store]]:
    """Boston neighbourhoods + the Boston 2011 export, loaded once per session (snapshot written).
    Read-only: tests must not change it."""
    s, store = _loaded(
        tmp_path_factory.mktemp("boston"),
        layer=BOSTON_NEIGHBORHOODS,
        layer_name="neighborhood",
        name_field="name",
        export=BOSTON_ZIP,
    )
    yield s, store
    store.dispose()


@pytest.fixture(scope="session")
def nyc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Store]]:
    """NYC community districts + the NYC sample, loaded once per session. Read-only."""
    s, store = _loaded(
        tmp_path_factory.mktemp("nyc"),
        layer=NYC_DISTRICTS,
        layer_name="community_district",
        name_field="boro_cd",
        export=NYC_CSV,
    )
    yield s, store
    store.dispose()


@pytest.fixture
def reset_dash_registries() -> Iterator[None]:
    """Dash keeps pages and callbacks in module globals: clear them around each app built."""
    from dash._callback import GLOBAL_CALLBACK_LIST, GLOBAL_CALLBACK_MAP

    def clear() -> None:
        dash.page_registry.clear()
        GLOBAL_CALLBACK_LIST.clear()
        GLOBAL_CALLBACK_MAP.clear()

    clear()
    yield
    clear()


@pytest.fixture
def served_demo(demo, reset_dash_registries, monkeypatch) -> Iterator[tuple[str, str]]:
    """The app on the demo store, served on a free port, no rate limit in the way, with an
    executive user :data:`A11Y_USER`: ``(base url, that user's password)``."""
    from dashboard.app_factory import create_app
    from tests.support.browser import serve_wsgi
    from tests.support.signin import A11Y_USER, make_user

    monkeypatch.setenv("STAT311_RATE_LIMIT", "1000000 per minute")
    settings, _ = demo
    password = make_user(settings, A11Y_USER, role="executive")
    app = create_app(settings)
    with serve_wsgi(app.server) as url:
        yield url, password
