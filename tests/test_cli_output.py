"""A command's result is printed once: on standard output, not again in its standard-error log.

Real subprocesses of ``python -m dashboard.cli``; the log level stays INFO so the progress lines
still reach standard error, and the filter is checked apart for the server's case (results of
work done after start-up are logged).
"""

from __future__ import annotations

import logging
from pathlib import Path

from dashboard.logs import RESULT, PrintedResults
from tests.conftest import ROOT
from tests.support.exports import write_boston_export
from tests.test_bad_input import run_cli


def test_ingest_and_boundaries_print_their_result_once(tmp_path: Path) -> None:
    export = write_boston_export(
        tmp_path / "cases.csv", [{"case_enquiry_id": str(101000000000 + i)} for i in range(3)]
    )
    ingest = run_cli(tmp_path, "ingest", str(export), STAT311_LOG_LEVEL="INFO")
    assert ingest.returncode == 0, ingest.stderr
    summary = ingest.stdout.strip()
    assert "3 inserted" in summary
    assert summary not in ingest.stderr
    assert "rows read so far" in ingest.stderr  # progress is still logged
    assert "snapshot" in ingest.stderr  # and so is the snapshot, which stdout does not state

    layer = run_cli(
        tmp_path,
        "boundaries",
        "add",
        str(ROOT / "geodata" / "samples" / "boston_neighborhoods.geojson"),
        "--layer",
        "neighborhood",
        "--name-field",
        "name",
        STAT311_LOG_LEVEL="INFO",
    )
    assert layer.returncode == 0, layer.stderr
    placed = layer.stdout.strip()
    assert placed.startswith("layer 'neighborhood': 26 areas; 3 stored cases placed")
    assert placed not in layer.stderr


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("etl.load", logging.INFO, __file__, 1, "done", None, None)
    record.__dict__.update(extra)
    return record


def test_the_filter_drops_results_only_while_active() -> None:
    printed = PrintedResults()
    assert not printed.filter(_record(**RESULT))
    assert printed.filter(_record())  # any other record passes
    printed.active = False  # serve, once started: a later load's result is its log
    assert printed.filter(_record(**RESULT))
