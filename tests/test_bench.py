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


def test_bench_runs_every_figure_with_positive_numbers_and_equal_results(
    tmp_path: Path, capsys
) -> None:
    parser = argparse.ArgumentParser(prog="stat311")
    bench.add_subparser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "bench.json"
    work = tmp_path / "work"
    args = parser.parse_args(
        ["bench", "--cases", "2000", "--repeat", "2", "--json", str(out), "--workdir", str(work)]
    )
    assert args.func(args, Settings.from_env({})) == 0

    result = json.loads(out.read_text())
    assert result["cases"] == 2000 and result["all_equal"] is True
    names = [f["name"] for f in result["figures"]]
    assert names[0] == "ingest"
    assert set(names) >= QUERY_FIGURES
    assert any(n.startswith("overview: week x department, ") and "90 days" in n for n in names)
    for figure in result["figures"]:
        assert figure["median_ms"] > 0 and figure["p95_ms"] >= figure["median_ms"]
        assert figure["baseline"] and figure["baseline_median_ms"] > 0 and figure["ratio"] > 0
        single = figure["name"] == "ingest" or figure["name"].startswith("Gi*")
        expected = 1 if single else 2
        assert len(figure["baselines"]) == expected
        for baseline in figure["baselines"]:
            assert baseline["median_ms"] > 0 and baseline["ratio"] > 0
            assert baseline["equal"] is True, (figure["name"], baseline["name"])
        if figure["name"].startswith("Gi*"):  # fixed size (50,000 cells): its bars always apply
            assert figure["extra"]["max_abs_z_diff"] < 1e-9
            assert {b["bar"] for b in figure["bars"]} == {
                "median <= 50 ms on 50,000 cells",
                ">= 10x faster than esda",
            }
        else:
            assert figure["bars"] == []  # the bars are defined at 1M and 10M cases
    ingest = result["figures"][0]
    assert ingest["extra"]["rows_per_s"] > 0
    assert ingest["extra"]["report"]["read"] == 2000
    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["python"] and machine["versions"]["duckdb"]
    table = capsys.readouterr().out
    assert "SQL GROUP BY on the SQLite store" in table and "pandas over a DataFrame" in table
    assert list(work.iterdir()) == []  # the temporary directory was removed


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
    result = bench.run_bench(cases=500, repeat=1, workdir=tmp_path)
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
