"""A reader process that crashes (a C extension killed by SIGSEGV after the fork, seen once in
CI) is not the file's fault: the load's transaction is rolled back and the file is loaded again
in one process, with the same result as a load that never crashed."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal

import pytest

from etl import load as load_module
from etl import pipeline
from tests.test_etl_formats_stream import csv_text, load, row


def _crash_in_child(parent: int, real):
    def normalise(*args, **kwargs):
        if os.getpid() != parent:  # the reader process: die as a crashing C extension does
            faulthandler.disable()  # (no traceback of the deliberate crash in the test log)
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(*args, **kwargs)

    return normalise


def test_the_pipeline_reports_a_reader_killed_by_a_signal() -> None:
    parent = os.getpid()

    def prepare(batch: int) -> int:
        if os.getpid() != parent:
            faulthandler.disable()
            os.kill(os.getpid(), signal.SIGSEGV)
        return batch

    with (
        pytest.raises(pipeline.ReaderDied) as caught,
        pipeline.prepared_batches(iter(range(5)), prepare, parallel=True) as prepared,
    ):
        list(prepared)
    assert caught.value.exitcode == -signal.SIGSEGV


def test_a_crashed_reader_process_is_retried_in_one_process(tmp_path, monkeypatch, caplog) -> None:
    text = csv_text([row(f"c{i}") for i in range(300)], newline="\n")
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    for name in ("plain", "crash"):
        (tmp_path / name).mkdir()
    expected = load(tmp_path / "plain", path, batch_size=25, reader_process_mb=1000)

    monkeypatch.setattr(
        load_module, "normalise", _crash_in_child(os.getpid(), load_module.normalise)
    )
    with caplog.at_level(logging.WARNING, logger="etl.load"):
        got = load(tmp_path / "crash", path, batch_size=25, reader_process_mb=0)
    assert "the reader process stopped without finishing (exit code -11)" in caplog.text
    assert "loading it again in one process" in caplog.text
    report, cases, quarantine = got
    assert report.read == expected[0].read == 300
    assert report.inserted == expected[0].inserted
    assert cases == expected[1] and quarantine == expected[2]
