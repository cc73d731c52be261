"""Smoke test of ``stat311 bench`` at a tiny size: every figure measured, results equal to the
baselines', the temporary directory removed. (The bench itself is not part of the test suite.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from dashboard import bench
from dashboard.settings import Settings

QUERY_FIGURES = {
    "overview: week x department, all",
    "counts by type",
    "filter options",
}
MAP_FIGURES = (
    "department map: ",
    "hotspots callback: ",
    "public map by area: ",
    "public map by cell: ",
    "public map by point: ",
)
BYTES_BAR = "<= 1.5 MB gzipped whatever the number of cases"


def test_bench_runs_every_figure_with_positive_numbers_and_equal_results(
    tmp_path: Path, capsys
) -> None:
    parser = argparse.ArgumentParser(prog="stat311")
    bench.add_subparser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "bench.json"
    work = tmp_path / "work"
    args = parser.parse_args(
        ["bench", "--cases", "2000", "--repeat", "2", "--json", str(out), "--workdir", str(work),
         "--concurrency-seconds", "2", "--concurrency-users", "12", "--min-seconds", "0.002"]
    )  # fmt: skip
    assert args.func(args, Settings.from_env({})) == 0

    result = json.loads(out.read_text())
    assert result["cases"] == 2000 and result["all_equal"] is True
    assert result["repeat"] == 2 and result["min_seconds"] == 0.002
    assert result["facts"].get("not_measured", []) == []  # PostGIS and gunicorn both ran
    names = [f["name"] for f in result["figures"]]
    assert names[0] == "ingest"
    assert set(names) >= QUERY_FIGURES
    assert any(n.startswith("overview: week x department, ") and "90 days" in n for n in names)
    pages = ("overview page callback: ", "department page callback: ")
    for prefix in (*MAP_FIGURES, *pages, "public lookup: ", "concurrency: ", "PostGIS ingest"):
        assert sum(n.startswith(prefix) for n in names) == 1, prefix
    for figure in result["figures"]:
        if figure["name"].startswith(pages):  # compared with the baselines over real rows
            assert figure["extra"]["result_rows"] > 0, figure["name"]
    for figure in result["figures"]:
        name = figure["name"]
        assert figure["median_ms"] > 0 and figure["p95_ms"] >= figure["median_ms"]
        if name.startswith("concurrency: "):
            continue  # no baseline: checked below
        if not name.startswith(("ingest", "Gi*", "PostGIS", "snapshot after")):
            # every query and callback (a p95 bar at 1M and 10M): at least 20 timed runs of
            # ours, though --repeat asks for 2
            assert len(figure["runs_ms"]) >= bench.MIN_RUNS_FOR_P95, name
        assert figure["baseline"] and figure["baseline_median_ms"] > 0 and figure["ratio"] > 0
        single = name.startswith(("ingest", "Gi*", "PostGIS", "department map: ", "snapshot after"))
        expected = 1 if single else 2
        assert len(figure["baselines"]) == expected, name
        for baseline in figure["baselines"]:
            assert baseline["median_ms"] > 0 and baseline["ratio"] > 0
            assert baseline["equal"] is True, (name, baseline["name"])
        if name.startswith("Gi*"):  # fixed size (50,000 cells): its bars always apply
            assert figure["extra"]["max_abs_z_diff"] < 1e-9
            assert {b["bar"] for b in figure["bars"]} == {
                "median <= 50 ms on 50,000 cells",
                ">= 10x faster than esda",
            }
        elif name.startswith(MAP_FIGURES):  # the size bar holds whatever the number of cases
            extra = figure["extra"]
            assert 0 < extra["figure_gzip_bytes"] <= extra["gzip_bytes"] < extra["json_bytes"]
            assert [(b["bar"], b["met"]) for b in figure["bars"]] == [(BYTES_BAR, True)]
        else:
            assert figure["bars"] == []  # the bars are defined at 1M and 10M cases
    ingest = result["figures"][0]
    assert ingest["extra"]["rows_per_s"] > 0
    assert ingest["extra"]["report"]["read"] == 2000

    recent = next(
        f for f in result["figures"] if f["name"].startswith("snapshot after an update of the ")
    )
    assert recent["name"] == "snapshot after an update of the 1,000 most recent cases"
    assert recent["extra"]["written"]["mode"] == "merged"
    assert recent["extra"]["load_report"]["updated"] > 900  # only the resolution text changed
    refresh = next(
        f for f in result["figures"] if f["name"].startswith("snapshot after an update of 1")
    )
    assert refresh["name"] == "snapshot after an update of 1,000 cases"
    load_report, written = refresh["extra"]["load_report"], refresh["extra"]["written"]
    assert load_report["read"] == 1000 and load_report["updated"] > 0
    # merged from exactly the cases the update inserted or changed, as the load staged them
    assert written["mode"] == "merged" and written["cases_read"] == 0
    assert written["cases_from_load"] == load_report["inserted"] + load_report["updated"]
    stored = ingest["extra"]["report"]["inserted"] + load_report["inserted"]
    assert refresh["extra"]["fingerprint"]["cases.parquet"][0] == stored

    hot = next(f for f in result["figures"] if f["name"].startswith("hotspots callback: "))
    assert hot["extra"]["cells"] > 0 and hot["extra"]["result_rows"] > 1

    serve = next(f for f in result["figures"] if f["name"].startswith("concurrency: "))
    extra = serve["extra"]
    assert extra["requests"] > 0 and extra["served"] == extra["requests"]
    # (12 users sign in from one address at once: more than STAT311_SIGN_IN_RATE_LIMIT's default)
    assert extra["errors"] == 0 and extra["error_samples"] == []
    assert {"callback hotspots", "callback public lookup", "page /", "open311 request"} <= set(
        extra["by_kind"]
    )
    assert len(extra["worker_peak_rss_mb"]) == 2 and all(v > 0 for v in extra["worker_peak_rss_mb"])
    assert [b["bar"] for b in serve["bars"]] == ["0 errors", "p95 <= 1.5 s"]
    assert serve["bars"][0]["met"] is True

    pg = next(f for f in result["figures"] if f["name"] == "PostGIS ingest")
    report = pg["extra"]["report"]
    assert report["read"] == 2000 == (
        report["inserted"] + report["updated"] + report["unchanged"]
        + sum(report["quarantined"].values())
    )  # fmt: skip
    assert pg["extra"]["stored"] == report["inserted"] == pg["extra"]["snapshot_rows"]
    lookup = next(f for f in result["figures"] if f["name"] == "PostGIS public lookup by id")
    assert lookup["baselines"][0]["equal"] is True  # the same case as a plain SELECT by id

    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["python"] and machine["versions"]["duckdb"]
    table = capsys.readouterr().out
    assert "SQL GROUP BY on the SQLite store" in table and "pandas over a DataFrame" in table
    assert "map views: bytes sent" in table and "web worker peak RSS (VmHWM)" in table
    # the warm-up's requests are named beside the timed ones: the "0 errors" bar counts both
    warm = extra["warmup_requests"]
    assert warm == 2 * sum(n for _, n in extra["mix"])  # the mix, sent twice
    assert f"after {warm:,} untimed warm-up requests" in table
    assert serve["bars"][0]["value"] == f"0 errors of {extra['requests'] + warm:,}"
    assert list(work.iterdir()) == []  # the temporary directory was removed


def test_heavy_parts_can_be_skipped_and_missing_postgres_is_reported(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from dashboard import pgcluster

    def no_binaries() -> Path:
        raise pgcluster.PostgisUnavailable("PostgreSQL server binaries not found (test)")

    monkeypatch.setattr(pgcluster, "_find_bindir", no_binaries)
    monkeypatch.setattr(bench, "FIGURES", [bench.figure_ingest, bench.figure_serve,
                                           bench.figure_postgis])  # fmt: skip
    result = bench.run_bench(cases=300, repeat=1, workdir=tmp_path, concurrency_seconds=0)
    assert [f["name"] for f in result["figures"]] == ["ingest"]
    assert result["facts"]["not_measured"] == [
        {"figure": "concurrency and web worker RSS", "reason": "skipped (--no-serve)"},
        {
            "figure": "PostgreSQL/PostGIS ingest and lookup",
            "reason": "PostgreSQL server binaries not found (test)",
        },
    ]
    out = capsys.readouterr().out
    assert "not measured: PostgreSQL/PostGIS ingest and lookup: PostgreSQL server" in out


def test_a_wrong_result_is_reported(tmp_path: Path, monkeypatch, capsys) -> None:
    original = bench.query_cases

    def with_a_wrong_baseline(**kwargs):
        cases = original(**kwargs)
        right = cases[2].pandas

        def off_by_one(frame: pd.DataFrame) -> pd.DataFrame:
            counts = right(frame)
            counts.iloc[0, -1] += 1
            return counts

        cases[2].pandas = off_by_one
        return cases

    monkeypatch.setattr(bench, "query_cases", with_a_wrong_baseline)
    monkeypatch.setattr(bench, "FIGURES", [bench.figure_ingest, bench.figure_queries])
    result = bench.run_bench(
        cases=500, repeat=1, workdir=tmp_path, concurrency_seconds=0, postgis=False
    )
    assert result["all_equal"] is False
    by_type = next(f for f in result["figures"] if f["name"] == "counts by type")
    assert [b["equal"] for b in by_type["baselines"]] == [True, False]
    assert "RESULTS DIFFER" in capsys.readouterr().out


def test_canonical_rows_ignore_order_and_types() -> None:
    frame = pd.DataFrame(
        {"period": pd.to_datetime(["2024-01-08", "2024-01-01"]), "d": ["b", None], "n": [2, 1]}
    )
    rows = [("2024-01-01", None, 1), ("2024-01-08", "b", 2)]
    assert bench._frame_rows(frame) == bench._canon(rows)
    assert bench._canon(rows) != bench._canon([("2024-01-01", None, 1), ("2024-01-08", "b", 3)])


def test_timed_freezes_what_is_alive_for_its_timed_runs_only() -> None:
    """Garbage collected and frozen once, after the warm-up and before the timed runs (not
    before each run: that emptied CPython's free lists and slowed small callbacks)."""
    import gc

    from dashboard.bench import TIMING_METHOD, timed

    frozen: list[int] = []

    def run() -> int:
        frozen.append(gc.get_freeze_count())
        return len(frozen)

    measure, last = timed(run, repeat=3, warmup=1)  # min_seconds 0: exactly the runs asked for
    assert last == 4 and len(measure.runs_ms) == 3
    assert frozen[0] == 0 and all(n > 0 for n in frozen[1:])  # the warm-up ran before the freeze
    assert gc.get_freeze_count() == 0  # unfrozen afterwards
    assert "gc.freeze()" in TIMING_METHOD


def test_timed_runs_a_quick_figure_until_its_runs_add_up_to_min_seconds() -> None:
    """At least ``repeat`` runs; more while the timed runs add up to less than ``min_seconds``;
    never more than MAX_TIMED_RUNS; a slow figure gets no extra run."""
    import time

    from dashboard.bench import MAX_TIMED_RUNS, timed

    quick, _ = timed(lambda: time.sleep(0.002), repeat=3, min_seconds=0.05)
    assert 3 < len(quick.runs_ms) < MAX_TIMED_RUNS
    assert sum(quick.runs_ms) >= 50.0  # it stopped once the runs added up to 0.05 s ...
    assert sum(quick.runs_ms[:-1]) < 50.0  # ... and not a run later
    slow, _ = timed(lambda: time.sleep(0.03), repeat=2, min_seconds=0.05)
    assert len(slow.runs_ms) == 2  # two runs of 30 ms already add up to 0.05 s
    capped, _ = timed(lambda: None, repeat=1, min_seconds=60.0)
    assert len(capped.runs_ms) == MAX_TIMED_RUNS
    # ``min_runs`` (stat311's own figures, for their p95): at least that many, slow or not
    least, _ = timed(lambda: time.sleep(0.03), repeat=2, min_seconds=0.05, min_runs=5)
    assert len(least.runs_ms) == 5
    more, _ = timed(lambda: None, repeat=7, min_runs=5)
    assert len(more.runs_ms) == 7  # --repeat above it still counts


def test_the_concurrency_mix_asks_what_it_says(demo, reset_dash_registries, tmp_path) -> None:
    """Every request of the concurrency run's mix, sent to a served app, is answered; the
    public map callbacks answer for the type and view their address names (so the mix really
    varies what it asks, as a browser opening shared links would)."""
    from dataclasses import replace
    from urllib.parse import parse_qs

    import requests

    from dashboard.app_factory import create_app
    from dashboard.bench_serve import add_user, build_mix, sign_in, subjects
    from layouts.public import Ids as P
    from tests.support.browser import serve_wsgi

    settings, _ = demo
    ctx = bench.BenchContext(
        cases=0, repeat=1, ingest_repeat=1, format="boston", seed=0, workdir=tmp_path,
        settings=settings, store_settings=settings,
    )  # fmt: skip
    password = add_user(ctx)
    app = create_app(replace(settings, rate_limit="1000000 per minute"))
    with serve_wsgi(app.server) as base, requests.Session() as session:
        sign_in(session, base, password)
        mix = build_mix(session, base, subjects(ctx))
        seen = set()
        for action in mix:
            answer = session.request(action.method, base + action.path, json=action.body)
            assert answer.status_code in (200, 204), (action.kind, answer.status_code)
            if action.kind != "callback public map":
                continue
            values = {f"{i['id']}.{i['property']}": i["value"] for i in action.body["inputs"]}
            asked = parse_qs(values[f"{P.MAP_URL}.search"].lstrip("?"))
            summary = json.dumps(answer.json()["response"][P.MAP_SUMMARY]["children"])
            assert asked.get("type", ["All requests"])[0] + ":" in summary, (asked, summary)
            seen.add(asked.get("view", ["area"])[0])  # the default view is left out of links
        assert seen == {"area", "cell", "points"}
