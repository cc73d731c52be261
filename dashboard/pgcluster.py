"""Throwaway PostgreSQL + PostGIS servers (the tests and ``stat311 bench`` use them).

``throwaway_postgis()`` starts a private cluster (initdb into a temp dir under /tmp,
``pg_ctl start`` on a free 127.0.0.1 port, trust auth, fsync off), creates an empty
database with ``CREATE EXTENSION postgis`` and yields its SQLAlchemy URL
(``postgresql+psycopg://postgres@127.0.0.1:PORT/stat311_test``).  On exit the server
is stopped with ``pg_ctl stop -m immediate`` and the directory is removed.

PostgreSQL refuses to run as root, so when the tests run as root the server-side
programs (initdb, pg_ctl, postgres) run as the ``postgres`` system user created by
the Debian package, via ``runuser -u postgres --``.

Missing binaries or PostGIS raise :class:`PostgisUnavailable` (a ``RuntimeError``) pointing to
``.ci/install-system-deps.sh``; tests are never skipped for that, the bench reports the figure as
not measured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PG_MAJOR = "15"
DEFAULT_BINDIR = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
SUPERUSER = "postgres"
DBNAME = "stat311_test"
INSTALL_HINT = (
    "run `sudo .ci/install-system-deps.sh` (installs postgresql-15 and postgresql-15-postgis-3)"
)
START_TIMEOUT_S = 60


class PostgisUnavailable(RuntimeError):
    """PostgreSQL server binaries, PostGIS or a user to run the server as are missing."""


CMD_TIMEOUT_S = 120


def _find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres/createdb."""
    candidates: list[Path] = [DEFAULT_BINDIR]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for cand in candidates:
        if all((cand / prog).is_file() for prog in ("initdb", "pg_ctl", "postgres", "createdb")):
            return cand
    raise PostgisUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl, postgres, createdb) not found in "
        f"{', '.join(map(str, candidates))}: {INSTALL_HINT}"
    )


def _sharedir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [str(pg_config), "--sharedir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if out:
                return Path(out)
    return Path(f"/usr/share/postgresql/{PG_MAJOR}")


def _check_postgis(bindir: Path) -> None:
    control = _sharedir(bindir) / "extension" / "postgis.control"
    if not control.exists():  # follows the Debian alternatives symlink
        raise PostgisUnavailable(
            f"PostGIS extension not installed ({control} missing): {INSTALL_HINT}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], *, what: str, cwd: Path, logfile: Path | None = None) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=CMD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            _failure(f"{what} timed out after {CMD_TIMEOUT_S}s", cmd, logfile)
        ) from exc
    if proc.returncode != 0:
        raise RuntimeError(
            _failure(
                f"{what} failed (exit {proc.returncode})\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
                cmd,
                logfile,
            )
        )


def _failure(msg: str, cmd: list[str], logfile: Path | None) -> str:
    text = f"{msg}\ncommand: {' '.join(cmd)}"
    if logfile is not None:
        try:
            server_log = logfile.read_text(errors="replace")
        except OSError as exc:
            server_log = f"<cannot read {logfile}: {exc}>"
        text += f"\n--- server log {logfile} ---\n{server_log}--- end server log ---"
    log.error("%s", text)
    return text


@contextlib.contextmanager
def throwaway_postgis(dbname: str = DBNAME) -> Iterator[str]:
    """Start a private PostgreSQL+PostGIS server; yield a SQLAlchemy URL to an empty DB.

    The database (``dbname``, default ``stat311_test``; superuser ``postgres``, no password)
    already has ``CREATE EXTENSION postgis``.  The server listens on 127.0.0.1 on a free port and on
    a unix socket inside its temp dir; it is killed and the directory removed on exit.
    Raises :class:`PostgisUnavailable` when the binaries or PostGIS are missing, and
    ``RuntimeError`` (with the server log) if anything else fails.
    """
    bindir = _find_bindir()
    _check_postgis(bindir)

    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgisUnavailable(
                f"running as root but there is no `postgres` system user to run the server: "
                f"{INSTALL_HINT}"
            ) from None
        # runuser is in /usr/sbin on Debian, which is not always on PATH.
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
        )
        if runuser is None:
            raise PostgisUnavailable("running as root but `runuser` (util-linux) is not available")
        prefix = [runuser, "-u", "postgres", "--"]

    # /tmp is world-traversable (1777), so the postgres user can reach the dir.
    # Keep the path short: unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="stat311-pg-", dir="/tmp"))
    datadir = root / "data"
    sockdir = root / "sock"
    logfile = root / "server.log"
    try:
        if as_root:
            os.chown(root, pw.pw_uid, pw.pw_gid)
        for sub in (datadir, sockdir):
            sub.mkdir(mode=0o700)
            if as_root:
                os.chown(sub, pw.pw_uid, pw.pw_gid)

        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
            what="initdb",
            cwd=root,
        )

        port = 0
        for attempt in range(3):  # the free port can be taken between probe and bind
            port = free_port()
            server_opts = " ".join(
                [
                    f"-p {port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={sockdir}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            try:
                _run(
                    [
                        *prefix,
                        str(bindir / "pg_ctl"),
                        "start",
                        "-D",
                        str(datadir),
                        "-l",
                        str(logfile),
                        "-w",
                        "-t",
                        str(START_TIMEOUT_S),
                        "-o",
                        server_opts,
                    ],
                    what="pg_ctl start",
                    cwd=root,
                    logfile=logfile,
                )
            except RuntimeError:
                if attempt == 2 or "could not bind" not in _read(logfile):
                    raise
                log.warning("port %d was taken, retrying with another port", port)
                continue
            break

        # createdb is a client: it connects over TCP and needs no special user.
        _run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                SUPERUSER,
                dbname,
            ],
            what="createdb",
            cwd=root,
            logfile=logfile,
        )
        url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{dbname}"
        _create_postgis(url, logfile)
        yield url
    finally:
        # Also covers a failed/timed-out `pg_ctl start -w` that left a postmaster running.
        if (datadir / "postmaster.pid").exists():
            try:
                _run(
                    [
                        *prefix,
                        str(bindir / "pg_ctl"),
                        "stop",
                        "-D",
                        str(datadir),
                        "-m",
                        "immediate",
                        "-w",
                    ],
                    what="pg_ctl stop",
                    cwd=root,
                    logfile=logfile,
                )
            except RuntimeError:
                log.exception("could not stop throwaway PostgreSQL in %s", root)
        shutil.rmtree(root, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _create_postgis(url: str, logfile: Path) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION postgis")
    except psycopg.Error as exc:
        raise RuntimeError(
            _failure(f"CREATE EXTENSION postgis failed: {exc}", ["psql", conninfo], logfile)
        ) from exc
