"""What the documentation review of today's features found by running them: ``stat311 settings``
said "secrets hidden" (docs/OPERATIONS.md) but printed the password of a PostgreSQL or Redis
URL; ``stat311 backup`` of a file that is not a stat311 store ended in a traceback; and a
restore done as the runbook said (put the copy in place) had the old store's ``-wal`` replayed
onto it. Real CLI, real SQLite files, no mocks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.cli import main
from tests.test_cli_errors import env, error_line  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent


# -- settings: passwords inside URLs are secrets too -------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        (
            "STAT311_DATABASE_URL",
            "postgresql+psycopg://stat311:pg-Secret-42@db.internal:5432/stat311",
            "postgresql+psycopg://stat311:***@db.internal:5432/stat311",
        ),
        (
            "STAT311_REDIS_URL",
            "redis://:redis-Secret-42@cache.internal:6379/0",
            "redis://:***@cache.internal:6379/0",
        ),
    ],
)
def test_settings_hide_the_password_of_a_url(env, monkeypatch, capsys, name, value, shown):  # noqa: F811
    monkeypatch.setenv(name, value)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "Secret-42" not in out
    printed = dict(line.split("=", 1) for line in out.splitlines())
    assert printed[name] == shown


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/stat311.db",
        "sqlite:////srv/stat311/stat311.db",
        "postgresql+psycopg://stat311@db/stat311",
        "redis://cache:6379/0",
        "",
    ],
)
def test_urls_without_a_password_are_printed_as_given(url):
    from dashboard.cli import hide_url_password

    assert hide_url_password(url) == url


# -- backup: a file that is not a stat311 store is one line, exit 2, nothing written ------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no SQLite store at"),
        (b"", "holds no stat311 store"),
        (b"case_enquiry_id,open_dt\n1,2011-07-01\n" * 200, "is not a SQLite database"),
    ],
    ids=["missing", "empty-file", "not-a-database"],
)
def test_backup_of_something_that_is_not_a_store_is_refused(
    env,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
    content,
    message,
):
    store = tmp_path / "typo.db"
    if content is not None:
        store.write_bytes(content)
    monkeypatch.setenv("STAT311_DATABASE_URL", f"sqlite:///{store}")
    out = tmp_path / "backups" / "copy.db"
    assert main(["backup", "--out", str(out)]) == 2
    line = error_line(capsys)
    assert message in line and "nothing was written" in line
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    if content is not None:
        assert store.read_bytes() == content  # the file it named is left as it was


def test_backup_of_another_sqlite_database_is_refused(env, tmp_path, monkeypatch, capsys):  # noqa: F811
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    monkeypatch.setenv("STAT311_DATABASE_URL", f"sqlite:///{other}")
    out = tmp_path / "copy.db"
    assert main(["backup", "--out", str(out)]) == 2
    assert "holds no stat311 store" in error_line(capsys)
    assert not out.exists()


# -- restore: why the runbook says to delete the old -wal and -shm files -----------------------

_WRITER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("UPDATE cases SET status_raw = 'written after the backup'")
os._exit(0)  # killed: its WAL is left behind, not checkpointed
"""


def test_a_restore_must_remove_the_old_wal(env, tmp_path, capsys):  # noqa: F811
    """Put back as the runbook says: the copy alone is the backup; left beside the old store's
    ``-wal`` (a crashed worker or load), SQLite replays that WAL onto the copy."""
    assert main(["demo"]) == 0
    capsys.readouterr()
    store = Path(str(env.database_url).removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    assert main(["backup", "--out", str(copy)]) == 0
    subprocess.run([sys.executable, "-c", _WRITER, str(store)], check=True)
    wal = store.with_name(store.name + "-wal")
    assert wal.stat().st_size > 0

    def restored(*, remove_wal: bool) -> int:
        if remove_wal:
            for suffix in ("-wal", "-shm"):
                store.with_name(store.name + suffix).unlink(missing_ok=True)
        placed = store.with_name("placed.db")  # `cp copy.db placed.db && mv placed.db store`
        placed.write_bytes(copy.read_bytes())
        os.replace(placed, store)
        db = sqlite3.connect(store)
        try:
            return db.execute(
                "SELECT count(*) FROM cases WHERE status_raw = 'written after the backup'"
            ).fetchone()[0]
        finally:
            db.close()

    # Left beside the copy, the stale WAL comes back on top of it, or the store fails to open
    # ("disk I/O error"), depending on what its -shm index held: either way not the backup.
    try:
        assert restored(remove_wal=False) > 0
    except sqlite3.DatabaseError as exc:
        assert "disk I/O error" in str(exc) or "malformed" in str(exc), exc
    assert restored(remove_wal=True) == 0
    runbook = (ROOT / "docs" / "OPERATIONS.md").read_text()
    assert "-wal" in runbook.split("## Backups", 1)[1].split("## Monitoring", 1)[0]


def test_backup_help_says_how_to_restore(capsys):
    with pytest.raises(SystemExit):
        main(["backup", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-wal" in text and "0600" in text and "stat311 snapshot" in text
