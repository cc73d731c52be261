"""Query results are cached per (query, parameters, snapshot); a new snapshot is never served
from the cache, and one user's scope never serves another's."""

from __future__ import annotations

from dashboard.app_factory import create_app
from dashboard.departments import load_names
from dashboard.queries import CaseFilter, ReadModel
from dashboard.snapshot import write_for
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import BOSTON_ZIP, make_settings
from tests.support.caching import DictCache, count_duckdb
from tests.support.signin import client_sign_in, make_user


def test_a_repeated_query_is_served_from_the_cache(demo, monkeypatch) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    model.cache = DictCache()
    calls = count_duckdb(monkeypatch)
    flt = CaseFilter(departments=("PWDx",))
    first = model.counts(flt, by=("department",), period="week")
    assert calls[0] == 1
    second = model.counts(flt, by=("department",), period="week")
    assert calls[0] == 1 and model.cache.hits == 1
    assert second.equals(first)
    model.counts(CaseFilter(departments=("ISD",)), by=("department",), period="week")
    assert calls[0] == 2  # other parameters: another entry
    opts = model.options()
    calls_after = calls[0]
    assert model.options() == opts and calls[0] == calls_after


def test_area_totals_are_cached_apart_from_the_frames(demo, monkeypatch) -> None:
    """The plain rows of ``area_totals`` are cached too, under their own kind of key: the same
    question twice runs one query, a count of the same cases as a frame runs its own."""
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    model.cache = DictCache()
    calls = count_duckdb(monkeypatch)
    flt = CaseFilter(departments=("PWDx",))
    first = model.area_totals(flt, "neighborhood", public=True)
    assert calls[0] == 1 and first
    assert model.area_totals(flt, "neighborhood", public=True) == first
    assert calls[0] == 1 and model.cache.hits == 1
    assert model.area_totals(flt, "neighborhood") != [] and calls[0] == 2  # staff: another
    frame = model.counts(flt, by=("area:neighborhood",), period=None, public=True)
    assert calls[0] == 3
    per_area = {
        (a if isinstance(a, str) else None): n
        for a, n in zip(frame["area:neighborhood"], frame["count"], strict=True)
    }
    assert per_area == {a: n for a, n, _ in first}


def test_a_new_snapshot_is_never_served_from_the_cache(tmp_path) -> None:
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    small = tmp_path / "small.csv"
    import pandas as pd

    raw = pd.read_csv(BOSTON_ZIP, dtype=str, keep_default_na=False)
    raw.head(100).to_csv(small, index=False)
    load_file(small, store=store, settings=settings, progress=False)
    model = ReadModel(settings.snapshot_dir)
    model.cache = DictCache()
    assert model.total(CaseFilter()) == 100
    raw.head(250).to_csv(small, index=False)
    load_file(small, store=store, settings=settings, progress=False)  # a new snapshot
    assert model.total(CaseFilter()) == 250
    assert model.cache.hits == 0
    write_for(store, settings)  # same data, new snapshot directory: still not a stale hit
    assert model.total(CaseFilter()) == 250


def test_the_app_caches_callbacks_per_user_scope(demo, reset_dash_registries, monkeypatch) -> None:
    settings, _ = demo
    app = create_app(settings)
    from flask_caching import Cache

    assert isinstance(app.server.extensions["stat311"].read_model.cache, Cache)
    app.server.extensions["stat311"].read_model.cache.clear()
    calls = count_duckdb(monkeypatch)
    executive = make_user(settings, "cache-exec@city.test", role="executive")
    pwd = make_user(settings, "cache-pwd@city.test", role="department", departments=("PWDx",))
    from tests.test_auth import _callback, payload

    app.server.test_client().get("/healthz")
    key, spec = _callback(app, "..requests-chart.figure")
    body = payload(key, spec, {"requests-period.value": "month"})

    boss = app.server.test_client()
    client_sign_in(boss, "cache-exec@city.test", executive)
    first = boss.post("/_dash-update-component", json=body).get_json()
    used = calls[0]
    again = boss.post("/_dash-update-component", json=body).get_json()
    assert calls[0] == used  # served from the cache
    assert again == first

    head = app.server.test_client()
    client_sign_in(head, "cache-pwd@city.test", pwd)
    scoped = head.post("/_dash-update-component", json=body).get_json()
    assert calls[0] > used  # another scope: computed, not the executive's cached result
    names = {t.get("name") for t in scoped["response"]["requests-chart"]["figure"]["data"]}
    assert names == {load_names(None).label("PWDx")}  # only Public Works, by name


def test_a_focus_is_cached_per_scope_and_privacy(demo) -> None:
    """Questions asked of a focus do not repeat the scope in their SQL (the focused cases were
    read with it), so the cache key must carry it: the same question through a focus read as the
    mayor and as a department user gives each their own count, not the first one cached."""
    import pandas as pd

    from dashboard.snapshot import CASES_FILE, require_snapshot

    settings, _ = demo
    cache = DictCache()
    scope: list[tuple[str, ...] | None] = [None]
    model = ReadModel(settings.snapshot_dir, scope=lambda: scope[0])
    model.cache = cache
    public = ReadModel(settings.snapshot_dir, public_only=True)
    public.cache = cache
    cases = pd.read_parquet(require_snapshot(settings.snapshot_dir) / CASES_FILE)
    flt = CaseFilter(types=("Street Light Outages",))
    question = "SELECT count(*) AS n FROM {cases} WHERE {where}"

    def asked(read_model: ReadModel) -> int:
        with read_model.focus(flt, ["department"]) as focused:
            return int(focused.select(question, flt=flt)["n"].iloc[0])

    lights = cases[cases["service_name"] == "Street Light Outages"]
    assert asked(model) == len(lights)  # the mayor: every department
    scope[0] = ("PWDx",)
    assert asked(model) == int((lights["department"] == "PWDx").sum()) < len(lights)
    scope[0] = None
    assert asked(public) == int((~lights["is_private"].astype(bool)).sum())
    assert asked(model) == len(lights) and cache.hits >= 1  # the mayor's answer, from the cache
