"""User mistakes on the command line: one line ``stat311: error: ...`` and exit code 2, never a
traceback, and nothing changed. The CLI runs in process (``main([...])``) on a store in tmp_path."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from dashboard.auth import Users
from dashboard.cli import HIDDEN, SECRET_SETTINGS, build_parser, main
from dashboard.settings import SETTINGS, Settings
from dashboard.store import Store
from etl.pull import Http, PullError
from tests.support.exports import BOSTON_MINIMAL_HEADER

HEADER = BOSTON_MINIMAL_HEADER


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [s.env for s in SETTINGS]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_LOG_LEVEL", "ERROR")
    return settings


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line on standard error (no traceback, no usage)."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("stat311: error: "), err
    return err


def usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """An option refused by argparse: exit code 2, the reason on the last line of stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


def write_export(path: Path, *, cases: int = 3, bad: int = 0) -> Path:
    """A tiny Boston (legacy) export: ``cases`` rows of department PWDx, ``bad`` rows without id."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for n in range(cases):
        writer.writerow(
            [f"10100{n:04d}", "2011-07-01 10:00:00", "2011-07-08 10:00:00", "", "Open"]
            + ["Pothole", "PWDx", "Self Service", "42.35", "-71.06"]
        )
    for n in range(bad):
        writer.writerow(
            ["", "2011-07-01 10:00:00", "", "", "Open", f"Pothole {n}", "PWDx", "", "", ""]
        )
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def load(settings: Settings, path: Path) -> None:
    from etl.load import load_file

    store = Store(settings.database_url)
    store.migrate()
    load_file(path, store=store, settings=settings, progress=False, snapshot=False)
    store.dispose()


def users_of(settings: Settings) -> dict[str, dict]:
    store = Store(settings.database_url)
    store.migrate()
    try:
        return {u["email"]: u for u in Users(store, settings).list()}
    finally:
        store.dispose()


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


# -- 1. --out paths that cannot be written --------------------------------------------------------
HOTSPOTS = ["hotspots", "--type", "Request for Pothole Repair", "--from", "2011-07-01"]
HOTSPOTS += ["--to", "2011-12-31", "--out"]


def test_hotspots_out_under_a_file_is_refused_before_any_work(env, tmp_path, capsys):
    (tmp_path / "file.csv").write_text("x")
    out = tmp_path / "file.csv" / "x.csv"
    assert main([*HOTSPOTS, str(out)]) == 2
    assert error_line(capsys) == (
        f"stat311: error: --out {out}: {tmp_path / 'file.csv'} is a file, not a directory"
    )
    assert not Path(env.database_url.removeprefix("sqlite:///")).exists()  # nothing opened


def test_hotspots_out_that_cannot_be_created_is_one_line(demo, monkeypatch, capsys):
    settings, _ = demo
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_LOG_LEVEL", "ERROR")
    assert main([*HOTSPOTS, "/proc/nope/x.csv"]) == 2
    err = error_line(capsys)
    assert err.startswith("stat311: error: --out /proc/nope/x.csv: "), err


def test_generate_out_that_is_a_directory_is_refused(env, tmp_path, capsys):
    assert main(["generate", "--cases", "10", "--out", str(tmp_path)]) == 2
    assert error_line(capsys) == f"stat311: error: --out {tmp_path}: is a directory, not a file"
    assert not list(tmp_path.glob(".*.partial"))


def test_a_write_failure_on_out_is_reported_not_raised(env, tmp_path, monkeypatch, capsys):
    """Whatever the check before cannot see (a read-only or full disk) is caught at the write."""
    import dashboard.cli as cli

    out = tmp_path / "x.csv"

    def failing(args, settings):
        raise PermissionError(13, "Permission denied", str(out))

    args = build_parser().parse_args(["generate", "--cases", "1", "--out", str(out)])
    from dashboard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot write it: Permission denied"):
        cli.writes_out(failing)(args, env)


# -- 2. an invalid STAT311_DATABASE_URL ------------------------------------------------------
def test_invalid_database_url_names_the_variable(env, monkeypatch, capsys):
    monkeypatch.setenv("STAT311_DATABASE_URL", "nonsense")
    assert main(["runs"]) == 2
    assert error_line(capsys).startswith(
        "stat311: error: STAT311_DATABASE_URL='nonsense' is invalid"
    )


# -- 3. pull: URL and option values ----------------------------------------------------------
def test_pull_open311_refuses_a_non_http_url(env, capsys):
    assert main(["pull", "open311", "not-a-url"]) == 2
    assert error_line(capsys) == (
        "stat311: error: URL 'not-a-url' is not an http:// or https:// URL with a host"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["open311", "https://x.example", "--window-days", "0"], "--window-days: must be >= 1"),
        (["open311", "https://x.example", "--page-size", "-3"], "--page-size: must be >= 1"),
        (["open311", "https://x.example", "--timeout", "0"], "--timeout: must be > 0"),
        (["socrata", "d.example", "abcd-1234", "--format", "nyc", "--limit", "0"], "--limit"),
        (["socrata", "d.example", "abcd-1234", "--format", "nyc", "--timeout", "-1"], "> 0"),
    ],
)
def test_pull_option_values_are_checked(env, capsys, argv, message):
    assert message in usage_error(capsys, ["pull", *argv])


def test_pull_socrata_refuses_a_url_as_domain(env, capsys):
    assert main(["pull", "socrata", "https://d.example", "abcd-1234", "--format", "nyc"]) == 2
    assert "is not a host name" in error_line(capsys)


def test_gave_up_after_one_attempt_is_singular():
    http = Http(retries=0, sleep=lambda s: None)
    http._once = lambda url: ("HTTP 500 Internal Server Error", None)  # type: ignore[method-assign]
    with pytest.raises(PullError, match=r"gave up after 1 attempt;"):
        http.get_json("https://x.example/requests.json", {})


# -- 4. --password-stdin with nothing on standard input --------------------------------------
def test_users_add_refuses_an_empty_password_on_stdin(env, monkeypatch, capsys):
    stdin(monkeypatch, "")
    assert main(["users", "add", "f@city.gov", "--role", "executive", "--password-stdin"]) == 2
    assert "no password on standard input" in error_line(capsys)
    assert users_of(env) == {}


def test_users_reset_password_refuses_an_empty_password_on_stdin(env, monkeypatch, capsys):
    stdin(monkeypatch, "a-good-password\n")
    assert main(["users", "add", "f@city.gov", "--role", "executive", "--password-stdin"]) == 0
    stdin(monkeypatch, "\n")
    capsys.readouterr()
    assert main(["users", "reset-password", "f@city.gov", "--password-stdin"]) == 2
    assert "no password on standard input" in error_line(capsys)
    store = Store(env.database_url)
    try:
        assert Users(store, env).authenticate("f@city.gov", "a-good-password") is not None
    finally:
        store.dispose()


# -- 5. department codes of users ------------------------------------------------------------
def test_users_add_refuses_an_unknown_department(env, tmp_path, monkeypatch, capsys):
    load(env, write_export(tmp_path / "cases.csv"))
    stdin(monkeypatch, "a-good-password\n")
    argv = ["users", "add", "c@city.gov", "--role", "department", "--password-stdin"]
    assert main([*argv, "--department", "pwdx"]) == 2
    assert error_line(capsys) == (
        "stat311: error: unknown department 'pwdx': no loaded case has it; did you mean 'PWDx'?"
    )
    assert users_of(env) == {}
    stdin(monkeypatch, "a-good-password\n")
    assert main([*argv, "--department", "PWDx"]) == 0
    assert users_of(env)["c@city.gov"]["departments"] == ["PWDx"]


def test_users_add_on_an_empty_store_warns_that_it_cannot_check(env, monkeypatch, capsys):
    stdin(monkeypatch, "a-good-password\n")
    argv = ["users", "add", "c@city.gov", "--role", "department", "--department", "NOPE"]
    assert main([*argv, "--password-stdin"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "'NOPE'" in err
    assert users_of(env)["c@city.gov"]["departments"] == ["NOPE"]


# -- 6. enabling a user is audited -----------------------------------------------------------
def test_users_enable_is_in_the_audit_log(env, monkeypatch, capsys):
    stdin(monkeypatch, "a-good-password\n")
    assert main(["users", "add", "f@city.gov", "--role", "executive", "--password-stdin"]) == 0
    assert main(["users", "disable", "f@city.gov"]) == 0
    assert main(["users", "enable", "f@city.gov"]) == 0
    capsys.readouterr()
    assert main(["users", "audit", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["user_enabled", "user_disabled"]


# -- 7. runs / quarantine --limit ------------------------------------------------------------
def test_runs_and_quarantine_say_when_rows_are_not_shown(env, tmp_path, capsys):
    export = write_export(tmp_path / "cases.csv", bad=3)
    for _ in range(3):
        load(env, export)
    assert main(["runs", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.strip() == "showing the newest 2 of 3 runs (--limit N for more)"
    assert main(["runs"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["quarantine", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.strip() == "showing the first 2 of 3 quarantined rows (--limit N for more)"


@pytest.mark.parametrize("command", ["runs", "quarantine"])
@pytest.mark.parametrize("limit", ["0", "-5"])
def test_limit_below_one_is_refused(env, capsys, command, limit):
    assert "--limit: must be positive" in usage_error(capsys, [command, "--limit", limit])


@pytest.mark.parametrize("command", ["runs", "quarantine"])
def test_limit_is_in_the_help(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--limit N" in capsys.readouterr().out


# -- 8. stat311 settings prints what the variables read --------------------------------------
@pytest.mark.parametrize(
    "environ",
    [
        {},
        {
            "STAT311_CITY_BOUNDS": "-71.2,42.2,-70.9,42.4",
            "STAT311_DEFAULT_GEOCODES": "42.3594,-71.0587;40.7128,-74.0060",
            "STAT311_DEFAULT_GEOCODE_TOLERANCE": "1e-05",
            "STAT311_SLA_POLICY": "/etc/stat311/sla.yaml",
            "STAT311_SOURCES_FILE": "sources.yaml",
            "STAT311_PRODUCTION": "yes",
            "STAT311_DEBUG": "1",
            "STAT311_SECRET_KEY": "s3cret",
            "STAT311_SOCRATA_APP_TOKEN": "tok-abc123",
        },
    ],
)
def test_every_printed_setting_parses_back_to_the_same_value(env, monkeypatch, capsys, environ):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    printed = dict(line.split("=", 1) for line in out.splitlines())
    assert set(printed) == {s.env for s in SETTINGS}
    effective = Settings.from_env()
    secrets = {s.env for s in SETTINGS if s.name in SECRET_SETTINGS}
    # secrets say whether they are set, never what they are
    for name in secrets:
        assert printed[name] == (HIDDEN if environ.get(name) else "")
        if environ.get(name):
            assert environ[name] not in out
    again = Settings.from_env({k: v for k, v in printed.items() if k not in secrets})
    for setting in SETTINGS:
        if setting.env not in secrets:
            assert getattr(again, setting.name) == getattr(effective, setting.name), setting.env
    assert printed["STAT311_DEFAULT_GEOCODES"] == (
        "42.3594,-71.0587;40.7128,-74.006" if environ else "42.3594,-71.0587"
    )


# -- 9. ingest: empty zip, --format with --mapping, empty --source ----------------------------
def test_ingest_of_an_empty_zip_says_it_holds_no_csv(env, tmp_path, capsys):
    path = tmp_path / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    assert main(["ingest", str(path)]) == 2
    assert error_line(capsys) == (
        f"stat311: error: {path}: a zip must hold exactly one CSV file; it holds nothing"
    )


def test_ingest_refuses_format_with_mapping(env, tmp_path, capsys):
    export = write_export(tmp_path / "cases.csv")
    err = usage_error(capsys, ["ingest", str(export), "--format", "nyc", "--mapping", "x.yaml"])
    assert "not allowed with argument --format" in err


@pytest.mark.parametrize("source", ["", "  "])
def test_ingest_refuses_an_empty_source(env, tmp_path, capsys, source):
    export = write_export(tmp_path / "cases.csv")
    assert "--source: must not be empty" in usage_error(
        capsys, ["ingest", str(export), "--source", source]
    )
    assert not Path(env.database_url.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["pull", "open311", "https://example.test/open311/v2", "--source", ""],
        ["pull", "socrata", "data.example.test", "abcd-1234", "--source", " "],
    ],
)
def test_pull_refuses_an_empty_source(env, capsys, argv):
    assert "--source: must not be empty" in usage_error(capsys, argv)


# -- 10. help texts --------------------------------------------------------------------------
def test_generate_help_shows_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "%%" not in text
    assert "2-5% of cases" in text and "~0.01% malformed rows" in text


def test_pull_doc_no_longer_says_the_settings_are_missing():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "PULL.md").read_text()
    assert "not yet part of" not in doc
    printed = {s.env for s in SETTINGS}
    assert {"STAT311_SOURCES_FILE", "STAT311_SOCRATA_APP_TOKEN"} <= printed
