"""The second reading process (etl/pipeline.py): same results as reading in-process, errors raised
where their batch would be, nothing left behind when either side fails or is killed."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.store import Store
from etl import pipeline
from etl.generate import generate
from tests.conftest import make_settings

ROWS = 6_000


def _store(tmp: Path, name: str, **overrides):
    root = tmp / name
    root.mkdir()
    settings = make_settings(root, batch_size=1_000, **overrides)
    store = Store(settings.database_url)
    store.migrate()
    return settings, store


def _cases(store: Store) -> list[tuple]:
    t = schema.cases
    columns = [c for c in t.columns if c.name not in ("first_run_id", "last_run_id")]
    with store.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*columns).order_by(t.c.id)))


def _quarantine(store: Store) -> list[tuple]:
    q = schema.quarantine
    with store.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(q.c.line_number, q.c.reason, q.c.raw)))


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "boston.csv"
    generate(ROWS, path, format="boston", seed=3)
    return path


def _ingest(settings, path: Path) -> subprocess.CompletedProcess[str]:
    """``stat311 ingest --json PATH`` in a new process, as users run it.

    A load whose reader is forked runs in a process of its own here: forking a test worker that
    has run other tests (DuckDB's and the browser tests' threads) once crashed the child in
    pandas. The command line is a fresh process with no such threads when it forks."""
    env = {
        **os.environ,
        "STAT311_DATABASE_URL": settings.database_url,
        "STAT311_SNAPSHOT_DIR": str(settings.snapshot_dir),
        "STAT311_BATCH_SIZE": str(settings.batch_size),
        "STAT311_READER_PROCESS_MB": str(settings.reader_process_mb),
    }
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "ingest", "--json", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _report(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_second_process_loads_exactly_what_one_process_loads(tmp_path, export):
    one_settings, one = _store(tmp_path, "inline", reader_process_mb=10_000)
    two_settings, two = _store(tmp_path, "forked", reader_process_mb=0)
    assert pipeline.parallel_possible()  # the CI machine has two CPUs: the fork really happens
    a = _report(_ingest(one_settings, export))
    b = _report(_ingest(two_settings, export))
    assert a["read"] == b["read"] == ROWS
    for name in ("inserted", "updated", "unchanged", "quarantined"):
        assert a[name] == b[name], name
    assert a["quarantined"]  # the generator's malformed rows: quarantine crosses the process gap
    assert _cases(one) == _cases(two)
    assert _quarantine(one) == _quarantine(two)
    assert b["stages"]["read_normalise"] > 0 and b["stages"]["write"] > 0
    # and a second load through the second process changes nothing
    again = _report(_ingest(two_settings, export))
    assert again["inserted"] == 0 and again["updated"] == 0 and again["unchanged"] == a["inserted"]


def test_a_file_breaking_half_way_in_the_reader_process_is_refused_whole(tmp_path, export):
    settings, store = _store(tmp_path, "cut", reader_process_mb=0)
    data = gzip.compress(export.read_bytes())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    done = _ingest(settings, cut)
    assert done.returncode != 0
    assert "cannot be read" in done.stderr
    assert _cases(store) == []


def _square(n: int) -> int:
    return n * n


def _until_error(batches, error: type[BaseException], match: str) -> list[int]:
    """The values received from a forked reader before ``error`` (which must come) is raised."""
    got: list[int] = []
    with (
        pytest.raises(error, match=match),
        pipeline.prepared_batches(batches, _square, parallel=True) as prepared,
    ):
        for item in prepared:
            got.append(item.value)
    return got


def test_results_come_in_order_and_a_reader_error_is_raised_at_its_batch():
    def batches():
        yield from range(5)
        raise OSError("the disk went away")

    assert _until_error(batches(), OSError, "disk went away") == [0, 1, 4, 9, 16]


def test_an_error_that_cannot_cross_processes_still_arrives_as_a_message():
    class Odd(Exception):
        def __init__(self, a, b):  # not re-creatable from its args: pickling fails
            super().__init__(f"{a}/{b}")

    def batches():
        yield 1
        raise Odd(1, 2)

    assert _until_error(batches(), RuntimeError, "Odd: 1/2") == [1]


def test_a_reader_process_that_dies_is_reported_not_waited_for():
    def batches():
        yield 1
        yield 2
        os.kill(os.getpid(), signal.SIGKILL)  # runs in the child
        yield 3

    seen = _until_error(batches(), RuntimeError, "reader process stopped")
    # what the child had queued may or may not have crossed before it died; nothing after it did
    assert seen in ([], [1], [1, 4])


def test_the_writer_failing_stops_the_reader_process():
    def batches():
        n = 0
        while True:  # endless: only stopping the child ends it
            n += 1
            yield n

    with (
        pytest.raises(RuntimeError, match="writer failed"),
        pipeline.prepared_batches(batches(), _square, parallel=True) as prepared,
    ):
        for item in prepared:
            if item.value == 9:
                raise RuntimeError("writer failed")
    assert not multiprocessing.active_children()


def test_killing_the_loader_kills_its_reader_process(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from etl import pipeline

            def batches():
                n = 0
                while True:
                    n += 1
                    time.sleep(0.01)
                    yield n

            with pipeline.prepared_batches(batches(), abs, parallel=True) as prepared:
                for item in prepared:
                    if item.value == 3:
                        import multiprocessing
                        (child,) = multiprocessing.active_children()
                        print(child.pid, flush=True)
                    time.sleep(0.05)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        child = int(proc.stdout.readline())
        assert _alive(child)
        proc.kill()  # SIGKILL: no clean-up code of the parent runs
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if proc.poll() is None:
            proc.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_reader_works_when_the_loader_is_pid_1(tmp_path):
    """In a container the loader can be pid 1; its reader must not take that for an orphaning."""
    script = "from etl import pipeline\n" + textwrap.dedent(
        """
        with pipeline.prepared_batches(iter(range(4)), abs, parallel=True) as prepared:
            print([item.value for item in prepared], flush=True)
        """
    )
    proc = subprocess.run(
        ["unshare", "--fork", "--pid", "--mount-proc", sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 1, 2, 3]"


class _Cycle:
    """A reference cycle, as garbage for a collector to free."""

    def __init__(self) -> None:
        self.me = self


def _freeze_and_collect(batch: int) -> tuple[int, int, int]:
    """In the reader process: (the batch, objects frozen there, objects the collector freed)."""
    import gc

    return batch, gc.get_freeze_count(), gc.collect()


def test_the_reader_process_never_collects_what_it_inherits() -> None:
    """Everything alive at the fork is frozen in the child (``gc.freeze``): its collector
    frees only the child's own garbage, never an inherited object (one holding another
    thread's state crashed a child with SIGSEGV). The parent's collector is as before."""
    import gc

    assert gc.get_freeze_count() == 0
    inherited = [_Cycle() for _ in range(1000)]
    del inherited  # garbage the parent has not collected yet, inherited by the child
    with pipeline.prepared_batches([1, 2], _freeze_and_collect, parallel=True) as batches:
        got = [p.value for p in batches]
    assert [b for b, _, _ in got] == [1, 2]
    frozen, freed = got[0][1], got[0][2]
    assert frozen > 1000  # the cycles among them
    assert freed < 1000  # the child left the inherited cycles alone
    assert gc.get_freeze_count() == 0  # the parent's objects went back to its collector
    assert gc.collect() >= 1000  # and the parent frees its cycles as before
