"""Writing commands while a load holds SQLite's write lock (a load is one transaction: about
7 minutes at 10M rows). They waited ``BUSY_TIMEOUT_S`` (30 s) and then died with a 40-line
SQLAlchemy traceback ending in ``database is locked`` and exit code 1. Now: ``--wait SECONDS``
(default 30) on every writing command, then one line saying the store is busy, exit code 3, and
nothing changed; a command whose wait outlasts the load goes ahead (a cron job can queue).

The CLI runs in process (``main([...])``) on a store in tmp_path; the load is a second process
holding ``BEGIN IMMEDIATE`` on the same file, as a running load does. What changed is read with
plain sqlite3 (every row of every table), not with the code under test."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard.cli import EXIT_BUSY, WRITING_COMMANDS, _subcommand, build_parser, main
from dashboard.settings import Settings
from dashboard.store import BUSY_TIMEOUT_S, waiting_for_writers
from tests.conftest import BOSTON_NEIGHBORHOODS
from tests.test_cli_errors import env, load, stdin, write_export  # noqa: F401 - fixture
from tests.test_pull import FAST, SINCE, FakeApi, open311_records, open311_responder

EMAIL = "ops@city.test"
PASSWORD = "a-good-password"
#: Time a refused command may take beyond its --wait (start-up, migration check, reading input).
SLACK_S = 5.0

HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE users SET failed_attempts = failed_attempts")  # a write, never committed
print("locked", flush=True)
if len(sys.argv) > 2:
    time.sleep(float(sys.argv[2]))
else:
    sys.stdin.read()
db.execute("ROLLBACK")
"""


def _path(settings: Settings) -> str:
    return str(settings.database_url).removeprefix("sqlite:///")


@contextmanager
def a_load_writing(settings: Settings, *, for_s: float | None = None) -> Iterator[None]:
    """Another process holding the store's write lock, until the block ends (or ``for_s``)."""
    argv = [sys.executable, "-c", HOLDER, _path(settings)]
    if for_s is not None:
        argv.append(str(for_s))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


def contents(settings: Settings) -> list[str]:
    """Every row of every table (plain sqlite3)."""
    with sqlite3.connect(_path(settings)) as db:
        return list(db.iterdump())


def snapshots(settings: Settings) -> list[str]:
    root = Path(settings.snapshot_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def loaded(env, tmp_path, monkeypatch, capsys) -> Settings:  # noqa: F811 - the fixture
    """A store with 3 cases (department PWDx), their snapshot, and one user."""
    assert main(["ingest", str(write_export(tmp_path / "first.csv"))]) == 0
    stdin(monkeypatch, f"{PASSWORD}\n")
    assert main(["users", "add", EMAIL, "--role", "executive", "--password-stdin"]) == 0
    capsys.readouterr()
    return env


def busy_line(capsys: pytest.CaptureFixture[str], wait: str) -> None:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        f"stat311: error: the store is busy: another load is writing to it (waited {wait} s for "
        "its write lock); nothing was changed. Try again when it finishes, or wait longer with "
        "--wait SECONDS."
    )


def _other_export(tmp_path: Path) -> Path:
    path = write_export(tmp_path / "second.csv", cases=5, bad=1)
    text = path.read_text(encoding="utf-8").replace("10100", "20200")
    path.write_text(text, encoding="utf-8")
    return path


COMMANDS = {
    "ingest": lambda tmp: ["ingest", str(_other_export(tmp))],
    "ingest --json": lambda tmp: ["ingest", str(_other_export(tmp)), "--json"],
    "boundaries add": lambda tmp: [
        "boundaries",
        "add",
        str(BOSTON_NEIGHBORHOODS),
        "--layer",
        "neighborhood",
        "--name-field",
        "name",
    ],
    "users add": lambda tmp: ["users", "add", "new@city.test", "--role", "executive"],
    "users add --department": lambda tmp: [
        "users",
        "add",
        "pw@city.test",
        "--role",
        "department",
        "--department",
        "PWDx",
    ],
    "users disable": lambda tmp: ["users", "disable", EMAIL],
    "users enable": lambda tmp: ["users", "enable", EMAIL],
    "users reset-password": lambda tmp: ["users", "reset-password", EMAIL],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_writing_command_is_refused_in_one_line_and_changes_nothing(
    loaded, tmp_path, capsys, name
) -> None:
    argv = COMMANDS[name](tmp_path)
    before, files = contents(loaded), snapshots(loaded)
    with a_load_writing(loaded):
        started = time.perf_counter()
        assert main([*argv, "--wait", "0.5"]) == EXIT_BUSY == 3
        took = time.perf_counter() - started
        busy_line(capsys, "0.5")
        assert contents(loaded) == before
    assert 0.5 <= took < 0.5 + SLACK_S
    assert contents(loaded) == before  # the load's own write was rolled back
    assert snapshots(loaded) == files  # no snapshot written either
    # The same command once the load is over.
    assert main(argv) == 0
    assert contents(loaded) != before


def test_a_command_waiting_longer_than_the_load_goes_ahead(loaded, tmp_path, capsys) -> None:
    """What a cron job behind a nightly load does: ``--wait`` longer than the load."""
    with a_load_writing(loaded, for_s=1.5):
        started = time.perf_counter()
        assert main(["users", "disable", EMAIL, "--wait", "60"]) == 0
        assert main(["ingest", str(_other_export(tmp_path)), "--json", "--wait", "60"]) == 0
        took = time.perf_counter() - started
    assert 1.0 <= took < 1.5 + 2 * SLACK_S
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"user {EMAIL} disabled"
    assert '"inserted": 5' in out[1] and '"quarantined": {"missing_request_id": 1}' in out[1]
    with sqlite3.connect(_path(loaded)) as db:
        assert db.execute("SELECT disabled FROM users WHERE email = ?", (EMAIL,)).fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM cases").fetchone() == (8,)


def test_wait_zero_refuses_at_once(loaded, capsys) -> None:
    before = contents(loaded)
    with a_load_writing(loaded):
        started = time.perf_counter()
        assert main(["users", "enable", EMAIL, "--wait", "0"]) == EXIT_BUSY
        assert time.perf_counter() - started < SLACK_S
    busy_line(capsys, "0")
    assert contents(loaded) == before


def test_a_pull_refused_keeps_nothing_of_its_page_and_resumes_later(loaded, capsys) -> None:
    records = open311_records(12)
    before = contents(loaded)
    with FakeApi(open311_responder(records)) as api:
        url = f"{api.url}/open311/v2/requests.json"
        argv = ["pull", "open311", url, "--since", SINCE.isoformat(), "--page-size", "5", *FAST]
        with a_load_writing(loaded):
            assert main([*argv, "--wait", "0.3"]) == EXIT_BUSY
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1, err
            assert err.startswith("stat311: error: the store is busy: another load is writing")
            assert "the pages loaded before were kept" in err
            assert contents(loaded) == before
        assert main(argv) == 0
    with sqlite3.connect(_path(loaded)) as db:
        assert db.execute("SELECT count(*) FROM cases WHERE source = 'open311'").fetchone() == (12,)


def test_demo_into_an_empty_store_is_refused_too(env, capsys) -> None:  # noqa: F811
    assert main(["users", "list"]) == 0  # creates the empty store
    capsys.readouterr()
    before = contents(env)
    with a_load_writing(env):
        assert main(["demo", "--wait", "0.2"]) == EXIT_BUSY
    busy_line(capsys, "0.2")
    assert contents(env) == before and snapshots(env) == []


def test_a_command_without_wait_says_so_too(env, capsys) -> None:  # noqa: F811
    """``serve --demo`` writes (the demo data and accounts) but has no --wait: the same line and
    exit code, after the store's own wait (shortened here with the store's own setting)."""
    assert main(["users", "list"]) == 0
    capsys.readouterr()
    before = contents(env)
    with a_load_writing(env), waiting_for_writers(0.2):
        assert main(["serve", "--demo", "--port", "1"]) == EXIT_BUSY
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == (
        "stat311: error: the store is busy: another load is writing to it (waited 0.2 s for its "
        "write lock); nothing was written. Try again when it finishes."
    )
    assert "Traceback" not in err
    assert contents(env) == before


def test_reading_commands_do_not_wait(loaded, capsys) -> None:
    """Listing and ``snapshot`` only read: they answer at once from the last committed load."""
    with a_load_writing(loaded):
        for argv in (["runs"], ["users", "list"], ["users", "audit"], ["snapshot"]):
            started = time.perf_counter()
            assert main(argv) == 0, argv
            assert time.perf_counter() - started < SLACK_S, argv
    assert EMAIL in capsys.readouterr().out


# -- the option and the exit code are documented ---------------------------------------------
def test_every_writing_command_has_wait_with_the_default_of_30_s() -> None:
    parser = build_parser()
    assert BUSY_TIMEOUT_S == 30
    for path in WRITING_COMMANDS:
        command = _subcommand(parser, *path)
        options = {o for action in command._actions for o in action.option_strings}
        assert "--wait" in options, path
        help_text = command.format_help()
        assert "--wait SECONDS" in help_text and "exit code is 3" in help_text, path
    args = parser.parse_args(["users", "disable", EMAIL])
    assert args.wait == BUSY_TIMEOUT_S
    assert parser.parse_args(["ingest", "x.csv", "--wait", "600"]).wait == 600
    # Reading commands have no --wait.
    for path in (("runs",), ("snapshot",), ("users", "list"), ("boundaries", "list")):
        command = _subcommand(parser, *path)
        assert "--wait" not in {o for a in command._actions for o in a.option_strings}, path


@pytest.mark.parametrize("value", ["-1", "nan", "soon", "86401"])
def test_a_bad_wait_is_a_usage_error(env, capsys, value) -> None:  # noqa: F811
    with pytest.raises(SystemExit) as exc:
        main(["users", "disable", EMAIL, "--wait", value])
    assert exc.value.code == 2
    assert "argument --wait:" in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_exit_codes_are_in_the_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 success; 1 an error while working; 2 bad input or usage" in text
    assert "3 the store is busy: another load holds its write lock" in text
