"""Declarative YAML mappings (``stat311 ingest PATH --mapping city.yaml``), ``stat311 formats`` and
``stat311 inspect``. Expected values are written by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.errors import ConfigError, InputFileError
from etl.adapters import ADAPTERS
from etl.mapping import adapter_from_spec, inspect_file, load_mapping, load_with_mapping
from tests.conftest import ROOT, make_settings
from tests.test_formats import CHICAGO_HEADER, cases_of, check, quarantined_of

MAPPING = """\
name: springfield
title: Springfield (UK) 311 export
source: springfield
columns:
  request_id: Ticket No
  requested_at: [Opened, Date Opened]   # renamed in 2021
  closed_at: Closed
  status_raw: State
  service_name: Problem
  department: Team
  channel: Received Via
  description: Details
  lat: Y
  lon: X
  is_private: Confidential
date_formats: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]
timezone: Europe/London
status:
  Closed: closed
  Resolved: closed
  Duplicate: duplicate
channels:
  Telephone: phone
  Web Form: web
  App: app
default_geocodes: [[51.5007, -0.1246]]
id_prefix: "SPR-"
"""

HEADER_2020 = "Ticket No;Opened;Closed;State;Problem;Team;Received Via;Details;Y;X;Confidential"
HEADER_2021 = HEADER_2020.replace("Opened", "Date Opened")


def env_for(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}
    env.update(
        STAT311_DATABASE_URL=f"sqlite:///{tmp / 'stat311.db'}",
        STAT311_SNAPSHOT_DIR=str(tmp / "snapshots"),
    )
    return env


def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=ROOT,
        env=env_for(tmp),
        capture_output=True,
        text=True,
        timeout=300,
    )


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "springfield.yaml"
    path.write_text(MAPPING)
    return path


def test_mapping_loads_a_city_field_by_field(tmp_path, mapping):
    settings = make_settings(tmp_path)
    export = write(
        tmp_path / "springfield_2020.csv",
        [
            HEADER_2020,
            "1001;05/01/2020 10:15;06/01/2020 09:00;Resolved;Fly-tipping;Streets;Telephone;"
            "Sofa on the pavement;51.52;-0.10;N",
            # summer time, a date alone for closed, a default geocode, private, a duplicate
            "1002;01/07/2020 10:15;02/07/2020;Duplicate;Graffiti;Streets;Web Form;Tag;"
            "51.5007;-0.1246;Y",
            "1003;02/07/2020 10:15;01/07/2020 10:00;Closed;Graffiti;Streets;App;x;51.5;-0.1;N",
            "1004;32/13/2020 10:15;;Open;Graffiti;Streets;Fax;x;51.5;-0.1;N",
            "1005;03/07/2020 08:00;;In progress;Potholes;Roads;;Holé in the road;51.51;-0.11;N",
        ],
        encoding="cp1252",
    )
    report = load_with_mapping(
        export, mapping, store=_store(settings), settings=settings, progress=False, snapshot=False
    )
    assert report.format == "springfield" and report.source == "springfield"
    assert (report.read, report.inserted, report.updated, report.unchanged) == (5, 3, 0, 0)
    assert report.quarantined == {"closed_before_requested": 1, "unparseable_requested_at": 1}
    assert quarantined_of(settings) == {4: "closed_before_requested", 5: "unparseable_requested_at"}
    assert "springfield" not in ADAPTERS  # registered only for the load
    cases = cases_of(settings)
    assert set(cases) == {"SPR-1001", "SPR-1002", "SPR-1005"}
    check(
        cases["SPR-1001"],
        source="springfield",
        service_name="Fly-tipping",
        department="Streets",
        description="Sofa on the pavement",
        status="closed",
        status_raw="Resolved",
        channel="phone",
        requested_at=datetime(2020, 1, 5, 10, 15, tzinfo=UTC),  # GMT
        closed_at=datetime(2020, 1, 6, 9, 0, tzinfo=UTC),
        lat=51.52,
        lon=-0.10,
        location_quality="exact",
        is_private=False,
        is_duplicate=False,
    )
    check(
        cases["SPR-1002"],
        requested_at=datetime(2020, 7, 1, 9, 15, tzinfo=UTC),  # BST, UTC+1
        closed_at=datetime(2020, 7, 1, 23, 0, tzinfo=UTC),  # a date alone: local midnight
        status="closed",
        is_duplicate=True,
        is_private=True,
        channel="web",
        location_quality="default_geocode",
        lat=None,
    )
    check(
        cases["SPR-1005"],
        status="open",
        channel="unknown",
        description="Holé in the road",
        requested_at=datetime(2020, 7, 3, 7, 0, tzinfo=UTC),
    )

    # the 2021 export renamed "Opened": the same mapping reads it; the same case is unchanged
    later = write(
        tmp_path / "springfield_2021.csv",
        [
            HEADER_2021,
            "1001;05/01/2020 10:15;06/01/2020 09:00;Resolved;Fly-tipping;Streets;Telephone;"
            "Sofa on the pavement;51.52;-0.10;N",
            "2001;05/01/2021 10:15;;Open;Graffiti;Streets;App;x;51.5;-0.1;N",
        ],
    )
    report = load_with_mapping(
        later, mapping, store=_store(settings), settings=settings, progress=False, snapshot=False
    )
    assert (report.read, report.inserted, report.updated, report.unchanged) == (2, 1, 0, 1)
    check(cases_of(settings)["SPR-2001"], channel="app", status="open")


def _store(settings):
    from dashboard.store import Store

    store = Store(settings.database_url)
    store.migrate()
    return store


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"name": "x", "columns": {"request_id": "a"}}, "requested_at is required"),
        (
            {"name": "x", "columns": {"request_id": "a", "requested_at": "b", "colour": "c"}},
            "not a canonical field",
        ),
        (
            {
                "name": "x",
                "columns": {"request_id": "a", "requested_at": "b"},
                "timezone": "Mars/Base",
            },
            "unknown time zone",
        ),
        (
            {
                "name": "x",
                "columns": {"request_id": "a", "requested_at": "b"},
                "status": {"Done": "finished"},
            },
            "use open, closed or duplicate",
        ),
        (
            {
                "name": "x",
                "columns": {"request_id": "a", "requested_at": "b"},
                "channels": {"Fax": "fax"},
            },
            "use one of",
        ),
        (
            {
                "name": "x",
                "columns": {"request_id": "a", "requested_at": "b"},
                "default_geocodes": [[1]],
            },
            r"is not \[lat, lon\]",
        ),
        (
            {
                "name": "x",
                "columns": {"request_id": "a", "requested_at": "b"},
                "date_formats": ["dd/mm/yyyy"],
            },
            "strftime",
        ),
        (
            {"name": "x", "columns": {"request_id": "a", "requested_at": "b"}, "extra": 1},
            "unknown keys extra",
        ),
        (["not", "a", "mapping"], "must be a YAML object"),
    ],
)
def test_invalid_mappings_are_refused(spec, words):
    with pytest.raises(ConfigError, match=words):
        adapter_from_spec(spec, path="city.yaml")


def test_mapping_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_mapping(tmp_path / "missing.yaml")
    builtin = tmp_path / "nyc.yaml"
    builtin.write_text("name: nyc\ncolumns: {request_id: a, requested_at: b}\n")
    with pytest.raises(ConfigError, match="built-in"):
        load_mapping(builtin)


def test_mapping_that_does_not_fit_the_file(tmp_path, mapping):
    settings = make_settings(tmp_path)
    export = write(tmp_path / "other.csv", ["id,when,what", "1,2020-01-01,x"])
    with pytest.raises(InputFileError, match=r"requested_at \(one of: Opened, Date Opened\)"):
        load_with_mapping(
            export,
            mapping,
            store=_store(settings),
            settings=settings,
            progress=False,
            snapshot=False,
        )


# -- the command line ----------------------------------------------------------------------------
def test_cli_ingest_with_mapping(tmp_path, mapping):
    export = write(
        tmp_path / "s.csv",
        [HEADER_2020, "7;05/01/2020 10:15;;Open;Graffiti;Streets;App;x;51.5;-0.1;N"],
    )
    result = run_cli(tmp_path, "ingest", str(export), "--mapping", str(mapping), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["format"] == "springfield" and report["inserted"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {request_id: a}\n")
    result = run_cli(tmp_path, "ingest", str(export), "--mapping", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("stat311: error: ")
    assert "requested_at is required" in result.stderr


def test_cli_formats_lists_every_format(tmp_path):
    result = run_cli(tmp_path, "formats")
    assert result.returncode == 0, result.stderr
    for name in ("boston", "nyc", "chicago", "sf", "la", "philadelphia", "open311"):
        assert f"\n{name}\t" in "\n" + result.stdout
    assert "--mapping" in result.stdout


def test_cli_inspect(tmp_path, mapping):
    chicago = tmp_path / "chicago.csv"
    chicago.write_text(",".join(CHICAGO_HEADER) + "\n")
    result = run_cli(tmp_path, "inspect", str(chicago))
    assert result.returncode == 0, result.stderr
    assert "matches format: chicago" in result.stdout

    unknown = write(tmp_path / "unknown.tsv", ["SR_NUMBER\tCREATED_DATE\tSR_TYPE", "1\t2\t3"])
    result = run_cli(tmp_path, "inspect", str(unknown))
    assert result.returncode == 2
    assert "matches no known format" in result.stdout
    assert "chicago: OWNER_DEPARTMENT, SR_SHORT_CODE" in result.stdout
    info = inspect_file(unknown)
    assert info["kind"] == "tsv" and info["matches"] == []
    assert info["missing"]["chicago"] == ["OWNER_DEPARTMENT", "SR_SHORT_CODE"]

    export = write(tmp_path / "s.csv", [HEADER_2021])
    result = run_cli(tmp_path, "inspect", str(export), "--mapping", str(mapping), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["matches"] == ["springfield"]


def test_the_documented_example_is_a_valid_mapping():
    import re

    import yaml

    text = (ROOT / "docs" / "FORMATS.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    adapter = adapter_from_spec(yaml.safe_load(block), path="FORMATS.md")
    assert adapter.name == "springfield" and adapter.timezone == "Europe/London"
    assert adapter.resolve(["Ticket No", "Date Opened"]) == {
        "request_id": "Ticket No",
        "requested_at": "Date Opened",
    }
    assert adapter.duplicate_statuses == {"duplicate"}
