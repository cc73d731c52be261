"""Leftovers of killed loads and snapshot writes (``.partial-*`` in the snapshot directory).

Real processes, killed with SIGKILL: a load's staging directory (``.partial-load-*``, made by
:meth:`LoadRows.begin` as a load does) and a snapshot being written (``.partial-snap-*``) are
removed by the next snapshot, and by the next load, at once; those of a process still running
are never touched; those of an older version (no ``.owner`` file) go by their age, as before.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard import snapshot
from dashboard.cli import main
from dashboard.settings import Settings
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import ROOT, make_settings
from tests.support.exports import write_boston_export
from tests.test_cli_errors import env  # noqa: F401 - fixture

FILLER = 1_000_000  # bytes staged by the killed load, besides its two Parquet files

#: A load's staging, as a load makes it (LoadRows.begin, then rows written to it); then it
#: stalls until it is killed.
_STAGING = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dashboard.snapshot import LoadRows

    rows = LoadRows(Path(sys.argv[1]), timezone="UTC", policy=None)
    rows.begin(run_id=99, layers=[], layers_tag="")
    (rows.dir / "staged.bin").write_bytes(b"x" * int(sys.argv[2]))
    print(rows.dir, flush=True)
    time.sleep(300)
    """
)

#: A snapshot write that stalls once its partial directory is complete (before the swap).
_SNAPSHOT_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dashboard import snapshot
    from dashboard.store import Store

    def stall(path):
        print(path, flush=True)
        time.sleep(300)

    snapshot._fsync_dir = stall
    snapshot.write_snapshot(store=Store(sys.argv[1]), snapshot_dir=Path(sys.argv[2]))
    """
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def loaded(settings: Settings, tmp_path: Path) -> Iterator[Store]:
    """A store of three cases, with its snapshot."""
    store = Store(settings.database_url)
    rows = [{"case_enquiry_id": f"L{i}"} for i in range(3)]
    load_file(write_boston_export(tmp_path / "first.csv", rows), store=store, settings=settings)
    assert snapshot.current_snapshot(settings.snapshot_dir) is not None
    yield store
    store.dispose()


@contextmanager
def running(script: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Run ``script`` in another Python process until it prints the directory it made; yield
    the process and that directory. The process is killed (SIGKILL) at the end if still alive."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(120, proc.kill)  # never hang the suite
    guard.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line, f"the child ended first (exit code {proc.wait()})"
        yield proc, Path(line)
    finally:
        guard.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def write(store: Store, settings: Settings) -> Path:
    return snapshot.write_snapshot(store=store, snapshot_dir=settings.snapshot_dir)


def removals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "dashboard.snapshot" and r.getMessage().startswith("removed the leftover")
    ]


# -- (a) killed: removed at once ---------------------------------------------------------------
def test_a_killed_loads_staging_is_removed_by_the_next_snapshot(
    loaded: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with running(_STAGING, str(settings.snapshot_dir), str(FILLER)) as (proc, staging):
        assert staging.name.startswith(".partial-load-") and staging.parent == settings.snapshot_dir
        assert (staging / "staged.bin").exists()
        kill(proc)
    assert staging.exists()  # SIGKILL: nothing of it cleaned up

    caplog.set_level(logging.INFO, logger="dashboard.snapshot")
    written = write(loaded, settings)
    assert not staging.exists()  # at once, not an hour later
    assert snapshot.current_snapshot(settings.snapshot_dir) == written
    assert not list(settings.snapshot_dir.glob(".partial-*"))
    (message,) = removals(caplog)
    assert staging.name in message and f"process {proc.pid} " in message
    staged = int(message.split("(", 1)[1].split(" bytes", 1)[0].replace(",", ""))
    assert staged > FILLER  # the filler and the two Parquet files


def test_a_killed_loads_staging_is_removed_by_the_next_load(
    loaded: Store, settings: Settings
) -> None:
    """Before the next load stages its own rows (not only once its snapshot is written)."""
    with running(_STAGING, str(settings.snapshot_dir), str(FILLER)) as (proc, staging):
        kill(proc)
    assert staging.exists()
    rows = snapshot.load_rows_for(settings)
    rows.begin(run_id=100, layers=[], layers_tag="")
    try:
        assert not staging.exists()
        assert rows.dir is not None and rows.dir.exists()
        assert list(settings.snapshot_dir.glob(".partial-*")) == [rows.dir]
    finally:
        rows.discard()
    assert not list(settings.snapshot_dir.glob(".partial-*"))


@pytest.mark.usefixtures("env")
def test_a_killed_snapshot_writes_partial_is_removed_by_the_next_snapshot(
    loaded: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the CLI (``stat311 snapshot``), as an operator would after the kill."""
    before = snapshot.current_snapshot(settings.snapshot_dir)
    args = (settings.database_url, str(settings.snapshot_dir))
    with running(_SNAPSHOT_WRITER, *args) as (proc, partial):
        assert partial.name.startswith(".partial-snap-")
        assert (partial / snapshot.CASES_FILE).exists()
        kill(proc)
    assert partial.exists() and snapshot.current_snapshot(settings.snapshot_dir) == before

    caplog.set_level(logging.INFO, logger="dashboard.snapshot")
    assert main(["snapshot"]) == 0
    assert not partial.exists()
    assert not list(settings.snapshot_dir.glob(".partial-*"))
    assert not list(settings.snapshot_dir.glob(f".{snapshot.CURRENT}.*.tmp"))
    assert snapshot.current_snapshot(settings.snapshot_dir) not in (None, before)
    assert any(partial.name in m and "bytes" in m for m in removals(caplog))


# -- (b) alive: never touched --------------------------------------------------------------------
def test_a_running_loads_staging_is_left_alone(loaded: Store, settings: Settings) -> None:
    with running(_STAGING, str(settings.snapshot_dir), str(FILLER)) as (proc, staging):
        files = sorted(p.name for p in staging.iterdir())
        write(loaded, settings)  # the next snapshot
        rows = snapshot.load_rows_for(settings)  # and another load, at the same time
        rows.begin(run_id=100, layers=[], layers_tag="")
        rows.discard()
        assert proc.poll() is None
        assert staging.exists() and sorted(p.name for p in staging.iterdir()) == files
        assert (staging / "staged.bin").stat().st_size == FILLER
        kill(proc)
    write(loaded, settings)
    assert not staging.exists()


def test_a_running_snapshot_writes_partial_is_left_alone_by_a_load(
    loaded: Store, settings: Settings
) -> None:
    """A load starting while a snapshot is being written (the writer holds the snapshot lock,
    the load does not)."""
    args = (settings.database_url, str(settings.snapshot_dir))
    with running(_SNAPSHOT_WRITER, *args) as (proc, partial):
        rows = snapshot.load_rows_for(settings)
        rows.begin(run_id=100, layers=[], layers_tag="")
        rows.discard()
        assert proc.poll() is None
        assert (partial / snapshot.CASES_FILE).exists() and (partial / snapshot.MANIFEST).exists()


def test_a_pid_used_again_is_not_taken_for_the_owner(loaded: Store, settings: Settings) -> None:
    """An owner file naming a running process with another start time (its pid was given to a
    new process) is a leftover; with the same start time it is not (kept, though unlocked)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        # field 22 of /proc/<pid>/stat: clock ticks after boot (the name may hold spaces)
        start = Path(f"/proc/{sleeper.pid}/stat").read_text().rpartition(")")[2].split()[19]
        reused, alive = (
            settings.snapshot_dir / f".partial-load-{sleeper.pid}.1-{name}" for name in "ab"
        )
        for directory, started in ((reused, str(int(start) - 100)), (alive, start)):
            directory.mkdir()
            owner = {"pid": sleeper.pid, "start": started, "host": socket.gethostname()}
            (directory / snapshot.OWNER).write_text(json.dumps(owner))
        write(loaded, settings)
        assert not reused.exists() and alive.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    write(loaded, settings)
    assert not alive.exists()  # its process has ended now


# -- (c) an older version's: by age ------------------------------------------------------------
def test_an_old_kind_of_leftover_goes_by_its_age(loaded: Store, settings: Settings) -> None:
    directory = settings.snapshot_dir
    young, old = directory / ".partial-load-1.1-young", directory / ".partial-load-2.2-old"
    for staged in (young, old):
        staged.mkdir()
        (staged / ".cases.staged.parquet").write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    for path in (old, old / ".cases.staged.parquet"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    write(loaded, settings)
    assert young.exists() and not old.exists()
    rows = snapshot.load_rows_for(settings)  # the load's sweep: the same rule
    rows.begin(run_id=100, layers=[], layers_tag="")
    rows.discard()
    assert young.exists()
    for path in (young, young / ".cases.staged.parquet"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    rows = snapshot.load_rows_for(settings)
    rows.begin(run_id=101, layers=[], layers_tag="")
    rows.discard()
    assert not young.exists()


def test_an_old_kind_of_snapshot_partial_is_removed_by_the_next_snapshot(
    loaded: Store, settings: Settings
) -> None:
    """Snapshots are written one at a time (under the snapshot lock), so a ``.partial-snap-*``
    found by a snapshot write holding it belongs to no writer, whatever version left it."""
    partial = settings.snapshot_dir / ".partial-snap-r1-abc-20240101T000000000000-1.1"
    partial.mkdir()
    (partial / snapshot.CASES_FILE).write_bytes(b"x" * 1000)
    rows = snapshot.load_rows_for(settings)  # a load does not hold the lock: by age, kept
    rows.begin(run_id=100, layers=[], layers_tag="")
    rows.discard()
    assert partial.exists()
    write(loaded, settings)
    assert not partial.exists()
