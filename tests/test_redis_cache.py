"""The query cache and the rate limiter on a real Redis (``STAT311_REDIS_URL``): what several web
workers share. A throwaway ``redis-server`` is started for the module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
import redis
from flask import Flask

from dashboard.app_factory import _result_cache, create_app
from dashboard.queries import CaseFilter, ReadModel
from dashboard.snapshot import (
    CASES_FILE,
    CURRENT,
    DAILY_FILE,
    current_snapshot,
    read_manifest,
    write_daily,
)
from tests.support.caching import count_duckdb
from tests.support.redis import throwaway_redis

API = "/open311/v2"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def empty_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_two_workers_share_results_and_a_new_snapshot_is_never_served_old_ones(
    demo, redis_url, empty_redis, tmp_path, monkeypatch
) -> None:
    settings, _ = demo
    first_snap = current_snapshot(settings.snapshot_dir)
    snaps = tmp_path / "snapshots"
    shutil.copytree(first_snap, snaps / first_snap.name)
    (snaps / CURRENT).write_text(first_snap.name + "\n")
    shared = replace(settings, snapshot_dir=snaps, redis_url=redis_url)

    # two web workers: two processes' worth of read models and flask-caching objects
    worker_a, worker_b = ReadModel(snaps), ReadModel(snaps)
    worker_a.cache = _result_cache(Flask("worker_a"), shared)
    worker_b.cache = _result_cache(Flask("worker_b"), shared)
    assert type(worker_a.cache.cache).__name__ == "RedisCache"

    flt = CaseFilter(departments=("PWDx",))
    first = worker_a.counts(flt, by=("department",), period="week")
    assert empty_redis.dbsize() >= 1  # the answer is in Redis, not in worker A's memory
    calls = count_duckdb(monkeypatch)
    again = worker_b.counts(flt, by=("department",), period="week")
    assert calls[0] == 0 and again.equals(first)  # worker B did not run the query
    every = pq.read_table(first_snap / CASES_FILE, columns=["department"]).to_pandas()
    assert int(first["count"].sum()) == int((every["department"] == "PWDx").sum())

    # a new snapshot (the first half of the cases) is current: no worker gets the old answer
    second_snap = snaps / (first_snap.name + "-half")
    shutil.copytree(first_snap, second_snap)
    table = pq.read_table(second_snap / CASES_FILE)
    half = table.slice(0, table.num_rows // 2)
    pq.write_table(half, second_snap / CASES_FILE)
    # the snapshot's daily counts agree with its cases (the counts are answered from them)
    layers = read_manifest(second_snap)["layers"]
    write_daily(second_snap / CASES_FILE, second_snap / DAILY_FILE, layers=layers)
    (snaps / CURRENT).write_text(second_snap.name + "\n")
    fresh = worker_b.counts(flt, by=("department",), period="week")
    assert calls[0] == 1
    want = int((half.column("department").to_pandas() == "PWDx").sum())
    assert int(fresh["count"].sum()) == want < int(first["count"].sum())


def test_the_app_uses_redis_for_results_and_counts_the_rate_limit_across_workers(
    demo, redis_url, empty_redis, reset_dash_registries
) -> None:
    shared = replace(demo[0], rate_limit="3 per minute", redis_url=redis_url)
    app_a = create_app(shared)
    cache = app_a.server.extensions["stat311"].read_model.cache
    assert type(cache.cache).__name__ == "RedisCache"
    worker_a = app_a.server.test_client()
    worker_b = create_app(shared).server.test_client()
    assert worker_a.get(f"{API}/services.json").status_code == 200
    assert worker_b.get(f"{API}/services.json").status_code == 200
    assert worker_a.get(f"{API}/services.json").status_code == 200
    # the limiter's counter for this client lives in Redis (flask-limiter's key layout)
    assert any(key.startswith(b"LIMITS:LIMITER/") for key in empty_redis.keys("*"))
    # the fourth request in the minute, on the other worker: over the shared limit
    limited = worker_b.get(f"{API}/services.json")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
