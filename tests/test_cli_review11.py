"""Command-line answers a review found wrong (2026-11-26): each says what happened, in one line.

- an impossible port (``--port 99999``, ``STAT311_PORT=99999``) printed the server's banner and
  then a traceback (exit 1); an unsupported database URL (``mysql://``) exited 1 from the
  store. Both are invalid settings or options: one line, exit code 2.
- a reader that stops reading (``| head``) gave a ``BrokenPipeError`` traceback.
- ``stat311 demo`` on a store holding cases said "demo data ready" and loaded nothing.
- ``users add --role executive --department PWDx`` was accepted, and ``users list`` then showed
  an executive "of PWDx", who sees every department anyway.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.cli import EXIT_BROKEN_PIPE, main
from dashboard.settings import Settings
from dashboard.store import Store
from etl.load import load_file
from tests.support.exports import write_boston_export
from tests.test_cli_errors import env, error_line, usage_error  # noqa: F401 - fixture


def test_an_impossible_port_is_refused_in_one_line(
    env: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    assert "must be from 1 to 65535: '99999'" in usage_error(capsys, ["serve", "--port", "99999"])
    assert "not a port number: 'http'" in usage_error(capsys, ["serve", "--port", "http"])
    monkeypatch.setenv("STAT311_PORT", "99999")
    assert main(["settings"]) == 2
    assert error_line(capsys) == (
        "stat311: error: STAT311_PORT='99999' is invalid: expected a port number from 1 to 65535"
    )
    monkeypatch.setenv("STAT311_PORT", "65535")
    assert main(["settings"]) == 0
    assert "STAT311_PORT=65535" in capsys.readouterr().out.splitlines()


def test_an_unsupported_database_is_an_invalid_setting(
    env: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    monkeypatch.setenv("STAT311_DATABASE_URL", "mysql://user@host/db")
    assert main(["runs"]) == 2
    assert error_line(capsys) == (
        "stat311: error: STAT311_DATABASE_URL='mysql://user@host/db' is invalid: unsupported "
        "database 'mysql': use sqlite:///... or postgresql+psycopg://..."
    )


def test_a_reader_that_stops_reading_gets_no_traceback(tmp_path: Path) -> None:
    """``stat311 settings | head -0``: the pipe is closed before the command writes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "settings"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "STAT311_LOG_LEVEL": "ERROR"},
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE == 141
    assert err == ""


def test_demo_on_a_store_with_cases_says_it_loaded_nothing(
    env: Settings,  # noqa: F811
    tmp_path: Path,
    capsys,
) -> None:
    store = Store(env.database_url)
    store.migrate()
    load_file(write_boston_export(tmp_path / "one.csv", [{"case_enquiry_id": "1"}]),
              store=store, settings=env)  # fmt: skip
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the store already holds 1 cases: the demo data was not loaded")
    assert "demo data ready" not in out
    assert store.count_cases() == 1
    store.dispose()


@pytest.mark.parametrize("role", ["executive", "admin"])
def test_department_codes_are_for_department_users_only(
    env: Settings,  # noqa: F811
    capsys,
    role: str,
) -> None:
    argv = ["users", "add", "boss@example.org", "--role", role, "--department", "PWDx"]
    assert main(argv) == 2
    assert error_line(capsys) == (
        f"stat311: error: an {role} sees every department: --department is for the department role"
    )
    assert main(["users", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["users", "add", "boss@example.org", "--role", role]) == 0
    assert f"added as {role}" in capsys.readouterr().out


def test_users_help_names_every_action(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "add, list, disable, enable, reset-password, audit" in help_text
