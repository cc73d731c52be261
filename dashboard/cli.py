"""The ``stat311`` command line.

Exit codes: 0 success, 1 an error while working, 2 bad input or usage (nothing was changed),
3 the store is busy: another load holds its write lock (nothing was changed; try again later).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dashboard.argtypes import iso_date, port_number, positive_count, source_name
from dashboard.errors import ConfigError, InputFileError, Stat311Error
from dashboard.logs import PrintedResults
from dashboard.settings import SETTINGS, Settings, format_value

log = logging.getLogger("stat311")

DEMO_CASES = Path(__file__).resolve().parent.parent / "etl" / "samples" / "boston_311_2011.zip"
DEMO_LAYER = (
    Path(__file__).resolve().parent.parent / "geodata" / "samples" / "boston_neighborhoods.geojson"
)


def _settings() -> Settings:
    return Settings.from_env()


def _store(settings: Settings):
    from dashboard.store import Store

    return Store(settings.database_url)


def setup_logging(level: str) -> PrintedResults:
    """Log to standard error at ``level``. The results a command prints on standard output are
    not logged again (the returned filter; ``serve`` turns it off once started)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    printed = PrintedResults()
    for handler in root.handlers:
        if handler not in before:  # only the handler made here (not an embedding program's)
            handler.addFilter(printed)
    return printed


# -- output files -----------------------------------------------------------------------------
def check_out_path(text: str, option: str = "--out") -> Path:
    """Refuse an output path that cannot be written, before any work is done: an existing
    directory, or a path under a file. Missing folders are fine (a command may create them)."""
    path = Path(text)
    if path.is_dir():
        raise ConfigError(f"{option} {text}: is a directory, not a file")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {text}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {text}: cannot write in {existing} (permission denied)")
    return path


def _about(exc: OSError, path: Path) -> bool:
    """Whether ``exc`` is about ``path``, a folder above it or a file beside it (a partial file)."""
    target = Path(os.path.abspath(path))
    for name in (exc.filename, exc.filename2):
        if name is None:
            continue
        other = Path(os.path.abspath(os.fsdecode(name)))
        if other == target or other in target.parents or other.parent == target.parent:
            return True
    return False


def writes_out(func: Callable[[argparse.Namespace, Settings], int]) -> Callable[..., int]:
    """Wrap a command writing ``args.out``: check the path first, and report a failure to write
    it (a folder that cannot be made, a read-only file system...) as one line, exit code 2."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        out = check_out_path(args.out)
        try:
            return func(args, settings)
        except OSError as exc:
            if not _about(exc, out):
                raise
            where = f" ({os.fsdecode(exc.filename)})" if exc.filename is not None else ""
            raise ConfigError(
                f"--out {args.out}: cannot write it: {exc.strerror or exc}{where}"
            ) from exc

    return run


# -- a store busy with a load -----------------------------------------------------------------
#: Exit code of a command refused because another load holds the store's write lock (SQLite) for
#: longer than the command waits: nothing was changed, and the same command can simply be run
#: again later (a cron job can tell it from a failure).
EXIT_BUSY = 3
#: Exit code when standard output's reader went away (``stat311 runs --json | head -c 10``), as
#: a tool killed by SIGPIPE reports in the shell (128 + 13); no traceback is printed.
EXIT_BROKEN_PIPE = 141
#: What a writing command reports when it was refused that way (see :data:`EXIT_BUSY`), in the
#: words of the web side's :data:`dashboard.auth.BUSY_MESSAGE`.
BUSY_MESSAGE = (
    "the store is busy: another load is writing to it (waited {wait} for its write lock); "
    "{kept}. Try again when it finishes{longer}"
)
NOTHING_CHANGED = "nothing was changed"
PAGES_KEPT = "the pages loaded before were kept (the next pull resumes after them)"
#: The longest ``--wait`` (a day; SQLite counts its timeout in milliseconds in 32 bits).
MAX_WAIT_S = 86_400


class StoreBusyError(Stat311Error):
    """A writing command refused: another load held the store's write lock for longer than the
    command waited (``--wait``). Nothing was changed."""

    exit_code = EXIT_BUSY


def _store_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" (or "busy"), raw, wrapped by SQLAlchemy or the cause of
    another error: another connection holds the write lock."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    seen: BaseException | None = exc
    while seen is not None:  # (also behind a StoreError: a migration that met the lock)
        orig = seen.orig if isinstance(seen, OperationalError) else seen
        if isinstance(orig, sqlite3.OperationalError):
            text = str(orig).lower()
            if "database is locked" in text or "database is busy" in text:
                return True
        seen = seen.__cause__
    return False


def busy_message(wait: float, *, kept: str = NOTHING_CHANGED, option: bool = True) -> str:
    return BUSY_MESSAGE.format(
        wait=f"{wait:g} s",
        kept=kept,
        longer=", or wait longer with --wait SECONDS." if option else ".",
    )


def wait_seconds(text: str) -> float:
    """A ``--wait`` value: seconds from 0 to :data:`MAX_WAIT_S`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_WAIT_S:  # (also refuses nan)
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_WAIT_S:,} seconds: {text!r}")
    return value


def add_wait_option(parser: argparse.ArgumentParser) -> None:
    from dashboard.store import BUSY_TIMEOUT_S

    parser.add_argument(
        "--wait",
        type=wait_seconds,
        default=float(BUSY_TIMEOUT_S),
        metavar="SECONDS",
        help="how long to wait for the store's write lock while another load holds it "
        f"(SQLite; default {BUSY_TIMEOUT_S}); then nothing is changed and the exit code is "
        f"{EXIT_BUSY}",
    )


def waits_for_writers(
    func: Callable[[argparse.Namespace, Settings], int], *, kept: str = NOTHING_CHANGED
) -> Callable[..., int]:
    """Wrap a command that writes to the store: its SQLite connections wait ``args.wait``
    seconds for another load's write lock; a lock still held then is reported as one line,
    exit code :data:`EXIT_BUSY` (the transaction that could not start changed nothing)."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from dashboard.store import waiting_for_writers

        try:
            with waiting_for_writers(args.wait):
                return func(args, settings)
        except Exception as exc:
            if not _store_busy(exc):
                raise
            log.debug("refused: the store is busy", exc_info=True)
            raise StoreBusyError(busy_message(args.wait, kept=kept)) from exc

    return run


# -- commands ---------------------------------------------------------------------------------
def _check_zip(path: str) -> None:
    """An empty zip has no local file header, so the reader would take it for a binary file."""
    import zipfile

    file = Path(path)
    if not file.is_file() or not zipfile.is_zipfile(file):
        return
    try:
        with zipfile.ZipFile(file) as archive:
            members = [m.filename for m in archive.infolist() if not m.is_dir()]
    except (OSError, zipfile.BadZipFile):
        return  # the reader says why
    if not members:
        raise InputFileError(f"{path}: a zip must hold exactly one CSV file; it holds nothing")


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from etl.load import load_file

    _check_zip(args.path)

    options = dict(
        store=_store(settings),
        settings=settings,
        source=args.source,
        progress=False if args.json else None,
    )
    if getattr(args, "mapping", None):
        from etl.mapping import load_with_mapping

        report = load_with_mapping(args.path, args.mapping, **options)
    else:
        report = load_file(args.path, format=args.format, **options)
    if args.json:
        data = report.as_json()
        out = {k: data[k] for k in ("read", "inserted", "updated", "unchanged", "quarantined")}
        out.update(seconds=data["seconds"], run_id=data["run_id"], format=data["format"])
        out["source"] = data["source"]
        out["stages"] = data["stages"]
        print(json.dumps(out))
    else:
        print(report.summary())
    return 0


def cmd_boundaries_add(args: argparse.Namespace, settings: Settings) -> int:
    from etl.boundaries import add_layer

    report = add_layer(
        args.path,
        layer=args.layer,
        name_field=args.name_field,
        store=_store(settings),
        settings=settings,
    )
    print(report.summary())
    return 0


def cmd_boundaries_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    store.migrate()
    layers = store.boundary_layers()
    if not layers:
        print(
            "no boundary layers; add one with: stat311 boundaries add PATH --layer NAME "
            "--name-field FIELD"
        )
    for layer in layers:
        print(f"{layer['name']}\t{layer['feature_count']} areas\tfrom {layer['source_path']}")
    return 0


def cmd_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.snapshot import write_for

    store = _store(settings)
    store.migrate()
    path = write_for(store, settings, full=True)
    print(f"snapshot written: {path}")
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    out = check_out_path(args.out)
    store = _store(settings)
    if store.dialect != "sqlite":
        raise ConfigError(
            "backup copies a SQLite store; for PostgreSQL use pg_dump, e.g. "
            "pg_dump -Fc DBNAME > stat311.dump"
        )
    if out.exists():
        raise ConfigError(f"--out {args.out}: already exists; a backup never overwrites a file")
    _check_sqlite_store(store)
    report = store.backup(out)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"backup written: {report['path']} ({report['cases']:,} cases, "
            f"{report['bytes'] / 1e6:,.1f} MB, schema {report['revision']}, "
            f"{report['seconds']} s)"
        )
    return 0


def _check_sqlite_store(store) -> None:
    """Refuse, in one line and before any file is written, to back up a SQLite file that is
    missing, is not a database or holds no stat311 schema (a mistyped STAT311_DATABASE_URL):
    the copy would fail its count of cases with a traceback, or copy nothing of use."""
    import sqlite3

    from sqlalchemy.engine import make_url

    path = make_url(store.url).database
    if not path or path == ":memory:" or not Path(path).is_file():
        raise ConfigError(
            f"no SQLite store at {path!r} to back up (STAT311_DATABASE_URL); nothing was written"
        )
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a SQLite database ({exc}); nothing was written") from exc
    if not {"alembic_version", "cases"} <= tables:
        raise ConfigError(
            f"{path} holds no stat311 store (no cases table; STAT311_DATABASE_URL names "
            "another file?); nothing was written"
        )


def _count(store, table, *where) -> int:
    from sqlalchemy import func, select

    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _utc_times(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with its times ``names`` as aware UTC datetimes (SQLite gives naive UTC,
    PostgreSQL aware times), so both stores print the same."""
    from datetime import UTC, datetime

    def utc(value: Any) -> Any:
        if not isinstance(value, datetime):
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    return {**row, **{name: utc(row[name]) for name in names if name in row}}


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard import schema

    store = _store(settings)
    store.migrate()
    runs = [_utc_times(r, "started_at", "finished_at") for r in store.runs(limit=args.limit)]
    total = _count(store, schema.ingestion_runs)
    if total > len(runs):
        print(
            f"showing the newest {len(runs):,} of {total:,} runs (--limit N for more)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(runs, default=str))
        return 0
    if not runs:
        print("no ingestion runs yet")
    for run in runs:
        print(
            f"#{run['id']} {run['started_at']:%Y-%m-%d %H:%M} {run['format']}/{run['source']} "
            f"read {run['read']:,} inserted {run['inserted']:,} updated {run['updated']:,} "
            f"unchanged {run['unchanged']:,} quarantined {run['quarantined']:,} "
            f"{run['quarantine_reasons']} {run['path']}"
        )
    return 0


def cmd_quarantine(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard import schema

    store = _store(settings)
    store.migrate()
    rows = store.quarantined(run_id=args.run, limit=args.limit)
    q = schema.quarantine.c
    total = _count(
        store, schema.quarantine, *([q.run_id == args.run] if args.run is not None else [])
    )
    if total > len(rows):
        print(
            f"showing the first {len(rows):,} of {total:,} quarantined rows (--limit N for more)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("no quarantined rows")
    for row in rows:
        print(f"run {row['run_id']} line {row['line_number']}: {row['reason']}: {row['raw'][:160]}")
    return 0


def load_demo_if_empty(settings: Settings) -> None:
    """Load the bundled Boston sample (neighbourhoods, then 2011 cases) into an empty store."""
    from dashboard.snapshot import ensure_current_for

    store = _store(settings)
    store.migrate()
    if store.is_empty():
        from etl.boundaries import add_layer
        from etl.load import load_file

        log.info("empty store: loading the bundled Boston demo data (58,251 cases, a few seconds)")
        if not any(layer["name"] == "neighborhood" for layer in store.boundary_layers()):
            add_layer(
                DEMO_LAYER,
                layer="neighborhood",
                name_field="name",
                store=store,
                settings=settings,
                snapshot=False,
            )
        report = load_file(DEMO_CASES, store=store, settings=settings, snapshot=False)
        print(report.summary(), file=sys.stderr)
    ensure_current_for(store, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    store.migrate()
    cases = store.count_cases()
    if cases:  # the demo loads into an empty store only: say so, do not claim it is there
        print(
            f"the store already holds {cases:,} cases: the demo data was not loaded (it loads "
            "into an empty store only; point STAT311_DATABASE_URL at a new file to try it)"
        )
        return 0
    load_demo_if_empty(settings)
    print("demo data ready")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.app_factory import create_app
    from dashboard.snapshot import ensure_current_for

    if args.demo:
        load_demo_if_empty(settings)
    else:
        store = _store(settings)
        store.migrate()
        ensure_current_for(store, settings)
    app = create_app(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.demo:
        lines = [
            f"  {email:<22} {role:<24} {password}"
            for email, role, password in ensure_demo_users(settings)
        ]
        print(
            "Demo sign-in (new passwords at every start; the public portal needs none):\n"
            + "\n".join(lines),
            file=sys.stderr,
        )
    print(f"stat311 dashboard on http://{host}:{port}/  (Ctrl+C to stop)", file=sys.stderr)
    printed = getattr(args, "printed_results", None)
    if printed is not None:  # from here on, results are the server's log
        printed.active = False
    app.run(host=host, port=port, debug=settings.debug)
    return 0


def cmd_departments(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.departments import load_names
    from dashboard.queries import CaseFilter, ReadModel
    from dashboard.snapshot import reading_settings

    names = load_names(settings.department_names)
    store = _store(settings)
    store.migrate()
    with reading_settings(store, settings) as reading:
        counts = ReadModel(reading.snapshot_dir).counts(
            CaseFilter(), by=("department",), period=None
        )
    rows = [
        {"department": str(code), "name": names.get(str(code)), "cases": int(count)}
        for code, count in zip(counts["department"], counts["count"], strict=True)
        if code is not None and str(code) != "nan"
    ]
    unnamed = [r["department"] for r in rows if r["name"] is None]
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print("no departments yet: load cases first")
    else:
        width = max(len(r["department"]) for r in rows)
        for r in rows:
            print(f"{r['department']:<{width}}  {r['cases']:>10,}  {r['name'] or '(no name)'}")
    if unnamed:
        print(
            f"{len(unnamed)} department code(s) without a name ({', '.join(unnamed)}): the pages "
            f"show the code; name them in {names_file(settings)}",
            file=sys.stderr,
        )
    return 0


def names_file(settings: Settings) -> str:
    """The department names file in use (the setting, else the shipped example)."""
    from dashboard.departments import EXAMPLE_NAMES

    return str(settings.department_names or EXAMPLE_NAMES)


def cmd_sla(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from dashboard.periods import local_start
    from dashboard.queries import CaseFilter, ReadModel
    from dashboard.sla import SlaEngine, load_policy
    from dashboard.snapshot import reading_settings

    if args.to < args.from_:
        raise ConfigError("--to is before --from")
    policy = load_policy(settings.sla_policy)
    store = _store(settings)
    store.migrate()
    flt = CaseFilter(departments=(args.department,) if args.department else ())
    # The start of that local date (a missing or repeated midnight resolved, not an error).
    as_of = pd.Timestamp(local_start(args.as_of, settings.timezone)) if args.as_of else None
    with reading_settings(store, settings) as reading:  # a what-if policy: a private snapshot
        engine = SlaEngine(ReadModel(reading.snapshot_dir), policy, settings.timezone)
        report = engine.report(start=args.from_, end=args.to, by=args.by, flt=flt, as_of=as_of)
    rows = []
    records = report.to_dict("records")
    for row in records:
        keys = (
            {"department": row["department"], "type": row["group"]}
            if args.by == "department_type"
            else {args.by: row["group"]}
        )
        rows.append(
            {
                **keys,
                "due": row["due"],
                "on_time": row["on_time"],
                "compliance": None if pd.isna(row["compliance"]) else round(row["compliance"], 4),
                "target": round(row["target"], 4),
                "tier": row["tier"],
                "median_days_to_close": None
                if pd.isna(row["median_days"])
                else round(row["median_days"], 2),
                "p90_days_to_close": None
                if pd.isna(row["p90_days"])
                else round(row["p90_days"], 2),
                "volume": row["volume"],
                "open_backlog": row["open_backlog"],
                "overdue_open": row["overdue_open"],
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no cases in this period")
        return 0
    label = "department / type" if args.by == "department_type" else args.by

    def name(r: dict[str, Any]) -> str:
        return f"{r['department']} / {r['type']}" if args.by == "department_type" else r[args.by]

    header = (
        f"{label:<34} {'due':>7} {'on time':>7} {'compl.':>7} {'target':>6}  "
        f"{'tier':<26} {'med d':>6} {'p90 d':>6} {'backlog':>7} {'overdue':>7}"
    )
    print(header)
    # The text is formatted from the report's own values, as the pages format them: from the
    # JSON's 4-decimal values a 83.647% would read 83.7% (rounded twice) where the pages say 83.6%.
    for r, raw in zip(rows, records, strict=True):
        compliance = "-" if r["compliance"] is None else f"{100 * raw['compliance']:.1f}%"
        med = "-" if r["median_days_to_close"] is None else f"{raw['median_days']:.1f}"
        p90 = "-" if r["p90_days_to_close"] is None else f"{raw['p90_days']:.1f}"
        print(
            f"{str(name(r))[:34]:<34} {r['due']:>7,} {r['on_time']:>7,} {compliance:>7} "
            f"{100 * r['target']:>5.0f}%  {r['tier']:<26} {med:>6} {p90:>6} "
            f"{r['open_backlog']:>7,} {r['overdue_open']:>7,}"
        )
    return 0


def _users(settings: Settings):
    from dashboard.auth import Users

    store = _store(settings)
    store.migrate()
    return Users(store, settings)


def _password_from_stdin(args: argparse.Namespace) -> str | None:
    """The password on standard input with --password-stdin (refused when empty), else None (a
    password is generated)."""
    if not getattr(args, "password_stdin", False):
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        from dashboard.auth import AuthError

        raise AuthError("no password on standard input (--password-stdin); nothing was changed")
    return password


def _check_departments(users, codes: Sequence[str]) -> None:
    """Refuse department codes the store's cases do not have (with a suggestion); with no cases
    loaded yet, nothing can be checked: warn and go on."""
    codes = [c.strip() for c in codes if c.strip()]
    if not codes:
        return
    if users.store.is_empty():
        print(
            f"stat311: warning: no cases loaded yet, so department "
            f"{', '.join(repr(c) for c in codes)} cannot be checked",
            file=sys.stderr,
        )
        return
    for code in codes:
        if not users.has_department(code):
            from dashboard.auth import AuthError
            from dashboard.hotspots import _suggest

            known = users.known_departments()
            same = [k for k in known if k.casefold() == code.casefold()]  # codes are case-sensitive
            hint = (
                f"; did you mean {', '.join(map(repr, same))}?" if same else _suggest(code, known)
            )
            raise AuthError(f"unknown department {code!r}: no loaded case has it{hint}")


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _password_from_stdin(args)
    users = _users(settings)
    if args.role == "department":  # other roles with codes are refused by users.add
        _check_departments(users, args.department or [])
    password = users.add(
        args.email,
        role=args.role,
        departments=args.department or [],
        password=password,
    )
    print(f"user {args.email.strip().lower()} added as {args.role}")
    if not args.password_stdin:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _users(settings).list()
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("no users; add one with: stat311 users add EMAIL --role executive")
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        depts = ",".join(r["departments"]) or "all"
        print(f"{r['email']}\t{r['role']}\t{depts}\t{state}")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    _users(settings).disable(args.email)
    print(f"user {args.email} disabled")
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings) -> int:
    _users(settings).enable(args.email)
    print(f"user {args.email} enabled")
    return 0


def cmd_users_reset(args: argparse.Namespace, settings: Settings) -> int:
    given = _password_from_stdin(args)
    password = _users(settings).reset_password(args.email, given)
    print(f"password of {args.email} reset")
    if not args.password_stdin:
        print(f"new password (shown once): {password}")
    return 0


def cmd_users_audit(args: argparse.Namespace, settings: Settings) -> int:
    entries = [_utc_times(e, "at") for e in _users(settings).audit_entries(limit=args.limit)]
    if args.json:
        print(json.dumps(entries, default=str))
        return 0
    for e in entries:
        print(f"{e['at']:%Y-%m-%d %H:%M:%S} {e['event']:<15} {e['email'] or '-':<30} {e['detail']}")
    return 0


DEMO_USERS = (
    ("mayor@demo.stat311", "executive", ()),
    ("pwd@demo.stat311", "department", ("PWDx",)),
)


def ensure_demo_users(settings: Settings) -> list[tuple[str, str, str]]:
    """Demo accounts with passwords made anew at every start (printed once)."""
    users = _users(settings)
    out = []
    existing = {u["email"] for u in users.list()}
    for email, role, departments in DEMO_USERS:
        if email in existing:
            # New password and enabled again in one transaction, with both audit rows.
            password = users.reset_password(email, enable=True)
        else:
            password = users.add(email, role=role, departments=departments)
        out.append(
            (email, role + (f" ({', '.join(departments)})" if departments else ""), password)
        )
    return out


#: Settings whose values are secrets: ``stat311 settings`` says whether they are set, never what
#: they are (its output ends up in terminals, logs and support tickets).
SECRET_SETTINGS = frozenset({"secret_key", "socrata_app_token"})
HIDDEN = "(set, hidden)"
#: Settings holding a URL whose password (``scheme://user:PASSWORD@host/...``) is hidden.
URL_SETTINGS = frozenset({"database_url", "redis_url"})


def hide_url_password(value: str) -> str:
    """``value`` with the password of its ``user:password@`` part replaced by ``***`` (as
    SQLAlchemy renders it, e.g. in ``Store``'s repr); the scheme, user, host, port, database and
    query are kept, so the output still says which database or Redis is used. A URL without a
    password is given back as it was written."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        return value
    return url.render_as_string(hide_password=True) if url.password else value


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    for setting in SETTINGS:
        value = format_value(getattr(settings, setting.name))
        if setting.name in SECRET_SETTINGS and value:
            value = HIDDEN
        elif setting.name in URL_SETTINGS and value:
            value = hide_url_password(value)
        print(f"{setting.env}={value}")
    return 0


# -- parser -----------------------------------------------------------------------------------
#: The commands that write to the store, and so take its write lock (``--wait``). Not
#: ``snapshot`` and the listing commands: they only read, and on SQLite a reader never waits
#: for a load (it sees what the last committed one wrote).
WRITING_COMMANDS = (
    ("ingest",),
    ("boundaries", "add"),
    ("users", "add"),
    ("users", "disable"),
    ("users", "enable"),
    ("users", "reset-password"),
    ("pull", "open311"),
    ("pull", "socrata"),
    ("refresh",),
    ("demo",),
)


def _subcommand(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    """The parser of ``stat311 NAME [ACTION]`` (e.g. ``users add``)."""
    for name in names:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def build_parser() -> argparse.ArgumentParser:
    from etl.adapters import ADAPTERS

    parser = argparse.ArgumentParser(
        prog="stat311",
        description="311 performance and hotspot dashboard. Settings come from STAT311_* "
        "environment variables (see `stat311 settings`).",
        epilog="Exit codes: 0 success; 1 an error while working; 2 bad input or usage (nothing "
        f"was changed); {EXIT_BUSY} the store is busy: another load holds its write lock "
        "(nothing was changed; try again when it finishes, or give a writing command --wait "
        "SECONDS).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="load a 311 export (CSV, .gz, or .zip with one CSV) into the store",
        description="Load a 311 export into the store in one transaction, quarantining rows "
        "that cannot be read, then refresh the dashboard snapshot. Loading the same file twice "
        "changes nothing.",
    )
    p.add_argument(
        "path", help="CSV/TSV, gzip, a zip holding one, or Open311 requests.json/requests.xml"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--format",
        choices=sorted(ADAPTERS),
        help="the export's format (default: detected from the header)",
    )
    how.add_argument(
        "--mapping",
        metavar="YAML",
        help="a declarative mapping for any other city's export (see docs/FORMATS.md); the "
        "mapping defines the format, so not with --format",
    )
    p.add_argument(
        "--source",
        type=source_name,
        help="source name stored with the cases, not empty (default: the format name)",
    )
    p.add_argument("--json", action="store_true", help="print the load report as JSON")
    p.set_defaults(func=cmd_ingest)
    from etl import mapping

    mapping.add_subparsers(sub)
    from etl import pull

    pull.add_subparsers(sub)

    p = sub.add_parser("boundaries", help="boundary layers (neighbourhoods, districts, ...)")
    bsub = p.add_subparsers(dest="boundaries_command", required=True, metavar="ACTION")
    b = bsub.add_parser(
        "add",
        help="add (or replace) a layer and assign every stored case to its area",
        description="Add a boundary layer from GeoJSON or a shapefile (also zipped), in any CRS "
        "(reprojected to EPSG:4326).",
    )
    b.add_argument("path")
    b.add_argument("--layer", required=True, help="layer name, e.g. neighborhood")
    b.add_argument("--name-field", required=True, help="property holding each area's name")
    b.set_defaults(func=cmd_boundaries_add)
    b = bsub.add_parser("list", help="list the layers")
    b.set_defaults(func=cmd_boundaries_list)

    p = sub.add_parser(
        "snapshot",
        help="rebuild the dashboard's Parquet snapshot from the store",
        description="Write the dashboard's Parquet snapshot whole, reading every case from the "
        "store (a load merges only the cases it changed into the current snapshot).",
    )
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser(
        "backup",
        help="copy the SQLite store while it is in use (also during a load)",
        description="Copy the SQLite store to --out with SQLite's online backup: the copy holds "
        "what was committed when it started, also while a load is writing, and is checked "
        "before it gets its name. The copy is readable by its owner only (mode 0600: it holds "
        "password hashes, the audit log and personal data); missing folders are created; it "
        "never overwrites a file. Restore: stop the web workers, delete the store's -wal and "
        "-shm files (a stale -wal would be replayed onto the copy), put the copy in place of "
        "the store, run `stat311 snapshot`. For PostgreSQL use pg_dump (this command then "
        "exits 2).",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="the copy to write (new file)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "runs",
        help="list ingestion runs (newest first)",
        description="List the newest ingestion runs, newest first. When there are more than "
        "--limit, standard error says how many are not shown.",
    )
    p.add_argument(
        "--limit",
        type=positive_count,
        default=20,
        metavar="N",
        help="show the newest N runs (default 20)",
    )
    p.add_argument("--json", action="store_true", help="print the runs as JSON")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "quarantine",
        help="show quarantined rows with their reasons",
        description="Show quarantined rows (oldest first) with their run, line number and "
        "reason. When there are more than --limit, standard error says how many are not shown.",
    )
    p.add_argument("--run", type=int, metavar="N", help="only rows of this ingestion run")
    p.add_argument(
        "--limit",
        type=positive_count,
        default=50,
        metavar="N",
        help="show the first N rows (default 50)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("demo", help="load the bundled Boston 2011 sample into an empty store")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the dashboard (development server)")
    p.add_argument("--host", help="default: STAT311_HOST")
    p.add_argument("--port", type=port_number, help="1 to 65535 (default: STAT311_PORT)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the bundled Boston sample first if the store is empty",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "sla",
        help="SLA compliance and tiers per department or request type for a period",
        description="Compliance = cases due in the period closed by their due time / cases due "
        "in the period (an open case past its due time is a miss). Tiers: On Target >= target; "
        "Close But Not There >= target - margin; Problem That Needs a Plan below; Not enough "
        "data under the minimum count. Targets, margin and minimum come from the SLA policy "
        "file (STAT311_SLA_POLICY).",
    )
    p.add_argument("--from", dest="from_", required=True, type=iso_date, metavar="YYYY-MM-DD")
    p.add_argument("--to", required=True, type=iso_date, metavar="YYYY-MM-DD")
    p.add_argument(
        "--by",
        choices=["department", "type", "department_type"],
        default="department",
        help="one row per department, per request type (pooled over departments), or per "
        "request type of each department, as each department's page judges it "
        "(department_type: JSON rows carry department and type)",
    )
    p.add_argument("--department", metavar="CODE", help="only this department's cases")
    p.add_argument(
        "--as-of",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="judge open cases as of this local date (default: now)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_sla)

    p = sub.add_parser(
        "departments",
        help="the department codes of the loaded cases, their case counts and names",
        description="Each department code of the current snapshot with its number of cases and "
        "the name the pages show (from STAT311_DEPARTMENT_NAMES, else the shipped example). "
        "Codes without a name are listed on stderr: the pages show them as codes.",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_departments)

    p = sub.add_parser(
        "users", help="staff accounts: add, list, disable, enable, reset-password, audit"
    )
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = usub.add_parser(
        "add",
        help="add a user (prints a generated password once)",
        description="Roles: department (sees only its --department codes), executive (all "
        "departments), admin (executive + user management); --department is for the "
        "department role only. A --department code must be one "
        "of the loaded cases' departments (with no cases loaded yet, a warning is printed).",
    )
    u.add_argument("email")
    u.add_argument("--role", required=True, choices=["department", "executive", "admin"])
    u.add_argument(
        "--department", action="append", metavar="CODE", help="repeat for several departments"
    )
    u.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (10+ characters) from standard input; empty is refused",
    )
    u.set_defaults(func=cmd_users_add)
    u = usub.add_parser("list", help="list users")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_users_list)
    u = usub.add_parser("disable", help="disable a user (sign-in refused)")
    u.add_argument("email")
    u.set_defaults(func=cmd_users_disable)
    u = usub.add_parser("enable", help="enable a user again and clear a lockout (audited)")
    u.add_argument("email")
    u.set_defaults(func=cmd_users_enable)
    u = usub.add_parser("reset-password", help="set a new password (generated unless given)")
    u.add_argument("email")
    u.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new password (10+ characters) from standard input; empty is refused",
    )
    u.set_defaults(func=cmd_users_reset)
    u = usub.add_parser(
        "audit", help="the audit log: sign-ins, lockouts, exports, user changes (newest first)"
    )
    u.add_argument(
        "--limit",
        type=positive_count,
        default=50,
        metavar="N",
        help="show the newest N entries (default 50)",
    )
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_users_audit)

    from dashboard import bench, hotspots
    from etl import generate

    hotspots.add_subparser(sub)
    generate.add_subparser(sub)
    bench.add_subparser(sub)
    for name in ("hotspots", "generate"):  # both write --out: check it, report failures to write
        command = sub.choices[name]
        command.set_defaults(func=writes_out(command.get_default("func")))
    # Commands that write to the store wait --wait seconds for a load's write lock, then say so.
    for path in WRITING_COMMANDS:
        command = _subcommand(parser, *path)
        add_wait_option(command)
        kept = PAGES_KEPT if path[0] in ("pull", "refresh") else NOTHING_CHANGED
        command.set_defaults(func=waits_for_writers(command.get_default("func"), kept=kept))

    p = sub.add_parser("settings", help="print the effective settings")
    p.set_defaults(func=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings()
        args.printed_results = setup_logging(settings.log_level)
        code = int(args.func(args, settings) or 0)
        sys.stdout.flush()  # here, so that a reader gone away (`| head`) is met below
        return code
    except BrokenPipeError:
        # `stat311 sla ... | head -5`: the reader stopped reading. No traceback, as for any
        # command line tool; nothing more is written (the Python documentation's recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Stat311Error as exc:
        print(f"stat311: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:
        from geodata.errors import BoundaryError

        if not isinstance(exc, BoundaryError):
            raise
        print(f"stat311: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stat311: interrupted; nothing was committed", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _store_busy(exc):
            raise
        # A command without --wait (e.g. serve --demo) that met a load's write lock.
        from dashboard.store import BUSY_TIMEOUT_S

        log.debug("refused: the store is busy", exc_info=True)
        message = busy_message(BUSY_TIMEOUT_S, kept="nothing was written", option=False)
        print(f"stat311: error: {message}", file=sys.stderr)
        return EXIT_BUSY


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
