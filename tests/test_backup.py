"""``stat311 backup --out PATH``: a consistent copy of the SQLite store while it is in use, also
while a load holds the write lock (the copy has what was committed, not the load's rows); the
copy is a working store (``stat311 snapshot`` and ``runs`` on it); it never overwrites a file;
PostgreSQL is sent to pg_dump. Real store, real second process holding the lock; what the copy
holds is read with plain sqlite3."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dashboard.cli import main
from tests.test_cli_busy import EMAIL, a_load_writing, loaded  # noqa: F401 - fixture
from tests.test_cli_errors import env, error_line  # noqa: F401 - fixture


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def _db(settings) -> Path:
    return Path(str(settings.database_url).removeprefix("sqlite:///"))


def test_a_backup_during_a_load_has_what_was_committed(loaded, tmp_path, capsys) -> None:  # noqa: F811
    source = _db(loaded)
    cases = _rows(source, "SELECT source, request_id, status FROM cases ORDER BY id")
    users = _rows(source, "SELECT email, role FROM users")
    assert len(cases) == 3 and users == [(EMAIL, "executive")]
    out = tmp_path / "backups" / "stat311-copy.db"
    with a_load_writing(loaded):  # another process: BEGIN IMMEDIATE and an uncommitted write
        assert main(["backup", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and report["cases"] == 3
    assert report["bytes"] == out.stat().st_size > 0
    assert report["revision"] == _rows(source, "SELECT version_num FROM alembic_version")[0][0]
    assert _rows(out, "SELECT source, request_id, status FROM cases ORDER BY id") == cases
    assert _rows(out, "SELECT email, role FROM users") == users
    assert _rows(out, "PRAGMA integrity_check") == [("ok",)]
    assert not out.with_name(out.name + ".partial").exists()
    # Password hashes, the audit log and personal data: readable by the owner only.
    assert out.stat().st_mode & 0o777 == 0o600


def test_the_copy_is_a_working_store(loaded, tmp_path, monkeypatch, capsys) -> None:  # noqa: F811
    out = tmp_path / "copy.db"
    assert main(["backup", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"backup written: {out} (3 cases, ")
    # Restore: point the settings at the copy and rebuild its snapshot.
    monkeypatch.setenv("STAT311_DATABASE_URL", f"sqlite:///{out}")
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(tmp_path / "restored-snapshots"))
    assert main(["snapshot"]) == 0
    assert main(["runs", "--json"]) == 0
    captured = capsys.readouterr().out
    runs = json.loads(captured[captured.index("[") :])
    assert len(runs) == 1 and runs[0]["inserted"] == 3
    assert (tmp_path / "restored-snapshots" / "CURRENT").exists()


def test_a_backup_never_overwrites(loaded, tmp_path, capsys) -> None:  # noqa: F811
    out = tmp_path / "exists.db"
    out.write_bytes(b"keep me")
    assert main(["backup", "--out", str(out)]) == 2
    assert "already exists" in error_line(capsys)
    assert out.read_bytes() == b"keep me"
    assert main(["backup", "--out", str(tmp_path)]) == 2  # a directory
    assert "is a directory" in error_line(capsys)


def test_postgresql_is_sent_to_pg_dump(env, monkeypatch, tmp_path, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("STAT311_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert main(["backup", "--out", str(tmp_path / "x.db")]) == 2
    assert "pg_dump" in error_line(capsys)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("argv", [["backup"], ["backup", "--out"]])
def test_out_is_required(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_a_file_appearing_during_the_copy_is_not_overwritten(loaded, tmp_path, monkeypatch) -> None:  # noqa: F811, E501
    """The check that --out does not exist comes before the copy; a file created at that path
    while the copy is written (another job, a mistake) is kept, and the copy is dropped. (The
    race is staged by creating the file when the copy's connection opens.)"""
    from dashboard.errors import StoreError
    from dashboard.store import Store

    out = tmp_path / "race.db"
    store = Store(loaded.database_url)
    real_connect = sqlite3.connect

    def connect_then_someone_writes(path, *args, **kwargs):
        conn = real_connect(path, *args, **kwargs)
        if str(path).endswith(".partial") and not out.exists():
            out.write_bytes(b"someone else's file")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_then_someone_writes)
    try:
        with pytest.raises(StoreError, match="never overwrites"):
            store.backup(out)
    finally:
        store.dispose()
    assert out.read_bytes() == b"someone else's file"
    assert not out.with_name(out.name + ".partial").exists()
