"""Adapters on the real exports (Boston 2011 zip, NYC sample) and on synthetic current/older schemas.

Every expected value is computed here from the raw file with the csv module and zoneinfo (or written
by hand from the file), never taken from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.errors import InputFileError
from dashboard.store import Store
from etl.adapters import BOSTON, NYC, detect
from etl.load import load_file
from tests.conftest import BOSTON_ZIP, NYC_CSV, ROOT, make_settings

NY = ZoneInfo("America/New_York")
BOSTON_FMT = "%Y-%m-%d %H:%M:%S"
NYC_FMT = "%m/%d/%Y %I:%M:%S %p"
CITY_HALL = (42.3594, -71.0587)

# The channel mappings as the issue states them.
BOSTON_CHANNELS = {
    "Constituent Call": "phone",
    "Self Service": "web",
    "Citizens Connect App": "app",
    "Employee Generated": "employee",
    "Twitter": "social",
}
NYC_CHANNELS = {
    "PHONE": "phone",
    "ONLINE": "web",
    "MOBILE": "app",
    "UNKNOWN": "unknown",
    "OTHER": "other",
}


# -- helpers -------------------------------------------------------------------------------------
def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}
    env["STAT311_DATABASE_URL"] = f"sqlite:///{tmp / 'stat311.db'}"
    env["STAT311_SNAPSHOT_DIR"] = str(tmp / "snapshots")
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored_cases(url: str) -> dict[str, dict]:
    """request_id -> the stored case, as plain Python values (None for NULL)."""
    store = Store(url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(schema.cases)).mappings().all()
    finally:
        store.dispose()
    return {r["request_id"]: dict(r) for r in rows}


def counts(cases: dict[str, dict], field: str) -> dict:
    return dict(Counter(c[field] for c in cases.values()))


def local_to_utc(text: str, fmt: str) -> datetime | None:
    """Local wall time -> naive UTC, independently of the code (zoneinfo, fold=0: the first, daylight
    time, reading of an ambiguous hour)."""
    text = text.strip()
    if not text:
        return None
    local = datetime.strptime(text, fmt).replace(tzinfo=NY)
    return local.astimezone(UTC).replace(tzinfo=None)


def read_boston_raw() -> list[dict[str, str]]:
    with zipfile.ZipFile(BOSTON_ZIP) as archive:
        (name,) = archive.namelist()
        with archive.open(name) as member:
            return list(csv.DictReader(io.TextIOWrapper(member, encoding="utf-8", newline="")))


def read_nyc_raw() -> list[dict[str, str]]:
    with NYC_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def same_time(actual: datetime | None, expected: datetime | None) -> bool:
    return actual == expected


def loaded(tmp: Path, path: Path) -> tuple[dict, dict[str, dict], str]:
    result = run_cli(tmp, "ingest", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    url = f"sqlite:///{tmp / 'stat311.db'}"
    return report, stored_cases(url), url


# -- Boston 2011 (legacy schema) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def boston_raw() -> list[dict[str, str]]:
    return read_boston_raw()


@pytest.fixture(scope="module")
def boston_loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, dict], str]:
    return loaded(tmp_path_factory.mktemp("boston_cli"), BOSTON_ZIP)


def test_boston_report_counts(boston_raw, boston_loaded):
    report, cases, _ = boston_loaded
    assert len(boston_raw) == 58_251
    assert report["format"] == "boston"
    assert report["read"] == len(boston_raw) == 58_251
    # Independent quarantine expectation: no id, no readable open time, or closed before opened.
    expected_q: Counter[str] = Counter()

    def read(text: str) -> datetime | None:
        try:
            return local_to_utc(text, BOSTON_FMT)
        except ValueError:
            return None

    for row in boston_raw:
        opened, closed = read(row["open_dt"]), read(row["closed_dt"])
        if not row["case_enquiry_id"].strip():
            expected_q["missing_request_id"] += 1
        elif opened is None:
            expected_q["unparseable_requested_at"] += 1
        elif closed is not None and closed < opened:
            expected_q["closed_before_requested"] += 1
    assert report["quarantined"] == dict(expected_q)
    q = sum(report["quarantined"].values())
    assert report["read"] == report["inserted"] + report["updated"] + report["unchanged"] + q
    distinct_ids = len({r["case_enquiry_id"] for r in boston_raw})
    assert report["inserted"] == distinct_ids == len(cases) == 58_251


def test_boston_every_row_mapped(boston_raw, boston_loaded):
    _, cases, _ = boston_loaded
    mismatches: Counter[str] = Counter()
    for row in boston_raw:
        case = cases[row["case_enquiry_id"]]
        checks = {
            "department": case["department"] == row["department"],
            "service_name": case["service_name"] == row["type"],
            "service_group": case["service_group"] == (row["reason"] or None),
            "status_raw": case["status_raw"] == row["case_status"],
            "status": case["status"] == row["case_status"].lower(),
            "channel": case["channel"] == BOSTON_CHANNELS.get(row["source"], "other"),
            "requested_at": same_time(
                case["requested_at"], local_to_utc(row["open_dt"], BOSTON_FMT)
            ),
            "closed_at": same_time(case["closed_at"], local_to_utc(row["closed_dt"], BOSTON_FMT)),
            "due_at": same_time(case["due_at"], local_to_utc(row["target_dt"], BOSTON_FMT)),
            "zipcode": case["zipcode"] == (row["location_zipcode"].strip() or None),
        }
        mismatches.update(name for name, ok in checks.items() if not ok)
    assert not mismatches, mismatches


def test_boston_rows_field_by_field(boston_loaded):
    """Rows read by eye from the raw file, expected values written by hand."""
    _, cases, _ = boston_loaded
    # July (EDT, UTC-4), Employee Generated, closed.
    first = cases["101000295613"]
    assert first["requested_at"] == datetime(2011, 7, 1, 5, 32, 33)  # 01:32:33 EDT
    assert first["due_at"] == datetime(2011, 7, 15, 5, 32, 32)  # target_dt 01:32:32 EDT
    assert first["closed_at"] == datetime(2011, 7, 1, 9, 6, 58)  # 05:06:58 EDT
    assert first["department"] == "PWDx"
    assert first["service_name"] == "Street Light Outages"
    assert first["service_group"] == "Street Lights"
    assert first["status"] == "closed"
    assert first["channel"] == "employee"
    assert (first["lat"], first["lon"]) == (42.2715, -71.0772)
    assert first["location_quality"] == "exact"
    # December (EST, UTC-5), Constituent Call, on the City Hall default geocode.
    december = cases["101000366012"]
    assert december["requested_at"] == datetime(2011, 12, 20, 11, 31, 42)  # 06:31:42 EST
    assert december["due_at"] == datetime(2011, 12, 22, 11, 31, 41)
    assert december["closed_at"] == datetime(2011, 12, 21, 11, 11, 19)
    assert december["channel"] == "phone"
    assert december["location_quality"] == "default_geocode"
    assert december["lat"] is None and december["lon"] is None
    # Open case from the app, no closed time.
    open_case = cases["101000295638"]
    assert open_case["status"] == "open" and open_case["status_raw"] == "Open"
    assert open_case["closed_at"] is None
    assert open_case["channel"] == "app"
    assert open_case["department"] == "INFO"
    assert open_case["service_name"] == "Graffiti Removal"
    # Twitter -> social
    assert cases["101000296607"]["channel"] == "social"


def test_boston_channel_status_and_location_counts(boston_raw, boston_loaded):
    _, cases, _ = boston_loaded
    expected_channels = Counter(BOSTON_CHANNELS.get(r["source"], "other") for r in boston_raw)
    assert expected_channels["other"] == 120  # "Maximo Integration"
    assert counts(cases, "channel") == dict(expected_channels)
    expected_status = Counter(r["case_status"].lower() for r in boston_raw)
    assert counts(cases, "status") == dict(expected_status)

    def quality(row: dict[str, str]) -> str:
        try:
            float(row["latitude"]), float(row["longitude"])
        except ValueError:
            return "missing"
        # Within the documented tolerance (0.0001 degrees) of the default point, in exact
        # decimal arithmetic: the file gives 4 decimals.
        d_lat = abs(Decimal(row["latitude"]) - Decimal("42.3594"))
        d_lon = abs(Decimal(row["longitude"]) - Decimal("-71.0587"))
        if d_lat <= Decimal("0.0001") and d_lon <= Decimal("0.0001"):
            return "default_geocode"
        return "exact"

    expected_quality = Counter(quality(r) for r in boston_raw)
    on_the_point = sum(
        r["latitude"] == "42.3594" and r["longitude"] == "-71.0587" for r in boston_raw
    )
    assert on_the_point == 4_775
    assert expected_quality["default_geocode"] >= on_the_point
    assert 0.07 < expected_quality["default_geocode"] / len(boston_raw) < 0.09  # "about 8%"
    assert counts(cases, "location_quality") == dict(expected_quality)
    # Coordinates are kept only for exact locations.
    for case in cases.values():
        exact = case["location_quality"] == "exact"
        assert (case["lat"] is not None) == exact and (case["lon"] is not None) == exact
        assert (case["h3_9"] is not None) == exact


def test_boston_dst_changeover_hour(boston_raw, boston_loaded):
    """2011-11-06 01:xx happens twice in Boston; the first (EDT) reading is used."""
    _, cases, _ = boston_loaded
    ambiguous = [r for r in boston_raw if r["open_dt"].startswith("2011-11-06 01:")]
    assert ambiguous
    for row in ambiguous:
        wall = datetime.strptime(row["open_dt"], BOSTON_FMT)
        expected = wall.replace(hour=wall.hour + 4)  # EDT, UTC-4
        assert cases[row["case_enquiry_id"]]["requested_at"] == expected


# -- NYC sample (current 41-column export + 5 computed regions) ---------------------------------------
@pytest.fixture(scope="module")
def nyc_raw() -> list[dict[str, str]]:
    return read_nyc_raw()


@pytest.fixture(scope="module")
def nyc_loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, dict], str]:
    return loaded(tmp_path_factory.mktemp("nyc_cli"), NYC_CSV)


def nyc_closed_early(raw: list[dict[str, str]]) -> set[str]:
    out = set()
    for row in raw:
        opened, closed = (
            local_to_utc(row["Created Date"], NYC_FMT),
            local_to_utc(row["Closed Date"], NYC_FMT),
        )
        if closed is not None and closed < opened:
            out.add(row["Unique Key"])
    return out


def test_nyc_report_counts(nyc_raw, nyc_loaded):
    report, cases, _ = nyc_loaded
    assert len(nyc_raw) == 4_999
    assert report["format"] == "nyc"
    assert report["read"] == 4_999
    early = nyc_closed_early(nyc_raw)
    assert early == {"56923577", "56921224"}  # closed in January, created 2023-02-28
    assert all(r["Unique Key"].strip() for r in nyc_raw)
    assert report["quarantined"] == {"closed_before_requested": len(early)}
    q = sum(report["quarantined"].values())
    assert report["read"] == report["inserted"] + report["updated"] + report["unchanged"] + q
    assert report["inserted"] == 4_999 - 2 == len(cases)
    assert not early & set(cases)


def test_nyc_quarantine_table(nyc_loaded):
    """The two closed-before-created rows are kept with their reason, line and raw text."""
    with NYC_CSV.open(encoding="utf-8", newline="") as fh:
        lines = fh.read().splitlines()
    store = Store(nyc_loaded[2])
    try:
        rows = store.quarantined()
    finally:
        store.dispose()
    assert len(rows) == 2
    for row in rows:
        assert row["reason"] == "closed_before_requested"
        key = row["raw"].split(",", 1)[0]
        line = next(i + 1 for i, text in enumerate(lines) if text.startswith(key + ","))
        assert row["line_number"] == line
        assert next(csv.reader([row["raw"]])) == next(csv.reader([lines[line - 1]]))


def test_nyc_every_row_mapped(nyc_raw, nyc_loaded):
    _, cases, _ = nyc_loaded
    early = nyc_closed_early(nyc_raw)
    mismatches: Counter[str] = Counter()
    for row in nyc_raw:
        if row["Unique Key"] in early:
            continue
        case = cases[row["Unique Key"]]
        i1, i2 = row["Intersection Street 1"].strip(), row["Intersection Street 2"].strip()
        address = row["Incident Address"].strip() or (f"{i1} & {i2}" if i1 and i2 else None)
        address = " ".join(address.split()) if address else None  # stored single-spaced
        checks = {
            "department": case["department"] == row["Agency"],
            "service_name": case["service_name"] == row["Complaint Type"],
            "service_group": case["service_group"] == row["Agency Name"],
            "description": case["description"] == (row["Descriptor"].strip() or None),
            "status_raw": case["status_raw"] == row["Status"],
            "status": case["status"] == ("closed" if row["Status"] == "Closed" else "open"),
            "channel": case["channel"] == NYC_CHANNELS[row["Open Data Channel Type"]],
            "requested_at": same_time(
                case["requested_at"], local_to_utc(row["Created Date"], NYC_FMT)
            ),
            "closed_at": same_time(case["closed_at"], local_to_utc(row["Closed Date"], NYC_FMT)),
            "due_at": same_time(case["due_at"], local_to_utc(row["Due Date"], NYC_FMT)),
            "updated_at": same_time(
                case["updated_at"], local_to_utc(row["Resolution Action Updated Date"], NYC_FMT)
            ),
            "zipcode": case["zipcode"] == (row["Incident Zip"].strip() or None),
            "address": case["address"] == address,
        }
        mismatches.update(name for name, ok in checks.items() if not ok)
    assert not mismatches, mismatches


def test_nyc_rows_field_by_field(nyc_loaded):
    _, cases, _ = nyc_loaded
    # February (EST, UTC-5): 09:13:39 PM local is 02:13:39 UTC the next day. Has a Due Date.
    graffiti = cases["56924350"]
    assert graffiti["requested_at"] == datetime(2023, 3, 1, 2, 13, 39)
    assert graffiti["due_at"] == datetime(2023, 3, 31, 1, 13, 39)  # 03/30 09:13:39 PM EDT (-4)
    assert graffiti["closed_at"] is None
    assert graffiti["department"] == "DSNY" and graffiti["service_name"] == "Graffiti"
    assert graffiti["status"] == "open" and graffiti["channel"] == "unknown"
    assert graffiti["address"] == "160 HAVEMEYER STREET" and graffiti["zipcode"] == "11211"
    assert graffiti["location_quality"] == "exact"
    assert graffiti["lat"] == pytest.approx(40.711360152665364, abs=1e-12)
    # "In Progress" is open; ONLINE -> web.
    food = cases["56919422"]
    assert food["status"] == "open" and food["status_raw"] == "In Progress"
    assert food["channel"] == "web"
    assert food["requested_at"] == datetime(2023, 3, 1, 4, 25, 18)  # 11:25:18 PM EST
    assert food["updated_at"] == datetime(2023, 3, 2, 19, 0, 16)  # 03/02 02:00:16 PM EST
    # No coordinates -> missing; closed the next day.
    street = cases["56926734"]
    assert street["location_quality"] == "missing" and street["lat"] is None
    assert street["status"] == "closed"
    assert street["closed_at"] == datetime(2023, 3, 2, 3, 50)  # 03/01 10:50:00 PM EST


def test_nyc_channel_status_and_location_counts(nyc_raw, nyc_loaded):
    _, cases, _ = nyc_loaded
    early = nyc_closed_early(nyc_raw)
    kept = [r for r in nyc_raw if r["Unique Key"] not in early]
    expected = Counter(NYC_CHANNELS[r["Open Data Channel Type"]] for r in kept)
    assert counts(cases, "channel") == dict(expected)
    expected_status = Counter("closed" if r["Status"] == "Closed" else "open" for r in kept)
    assert counts(cases, "status") == dict(expected_status)
    missing = sum(1 for r in kept if not r["Latitude"].strip() or not r["Longitude"].strip())
    assert missing == 87  # "2% without coordinates"
    assert counts(cases, "location_quality") == {
        "exact": len(kept) - missing,
        "missing": missing,
    }
    assert (
        sum(1 for r in kept if r["Due Date"])
        == sum(c["due_at"] is not None for c in cases.values())
        > 0
    )


# -- synthetic current Boston schema and older NYC schema ---------------------------------------------
BOSTON_CURRENT = [
    "case_enquiry_id",
    "open_dt",
    "sla_target_dt",
    "closed_dt",
    "on_time",
    "case_status",
    "closure_reason",
    "case_title",
    "subject",
    "reason",
    "type",
    "queue",
    "department",
    "submitted_photo",
    "closed_photo",
    "location",
    "fire_district",
    "pwd_district",
    "city_council_district",
    "police_district",
    "neighborhood",
    "neighborhood_services_district",
    "ward",
    "precinct",
    "location_street_name",
    "location_zipcode",
    "latitude",
    "longitude",
    "geom_4326",
    "source",
]
NYC_OLD = [
    "Unique Key",
    "Created Date",
    "Closed Date",
    "Agency",
    "Agency Name",
    "Complaint Type",
    "Descriptor",
    "Location Type",
    "Incident Zip",
    "Incident Address",
    "Street Name",
    "Cross Street 1",
    "Cross Street 2",
    "Intersection Street 1",
    "Intersection Street 2",
    "Address Type",
    "City",
    "Landmark",
    "Facility Type",
    "Status",
    "Due Date",
    "Resolution Action Updated Date",
    "Community Board",
    "Borough",
    "X Coordinate (State Plane)",
    "Y Coordinate (State Plane)",
    "Park Facility Name",
    "Park Borough",
    "School Name",
    "School Number",
    "School Region",
    "School Code",
    "School Phone Number",
    "School Address",
    "School City",
    "School State",
    "School Zip",
    "School Not Found",
    "School or Citywide Complaint",
    "Vehicle Type",
    "Taxi Company Borough",
    "Taxi Pick Up Location",
    "Bridge Highway Name",
    "Bridge Highway Direction",
    "Road Ramp",
    "Bridge Highway Segment",
    "Garage Lot Name",
    "Ferry Direction",
    "Ferry Terminal Name",
    "Latitude",
    "Longitude",
    "Location",
]


def boston_current_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(BOSTON_CURRENT, "")
    rows = [
        {
            "case_enquiry_id": "101004113298",
            "open_dt": "2023-07-10 09:15:00",
            "sla_target_dt": "2023-07-12 09:15:00",
            "closed_dt": "2023-07-10 12:00:30",
            "on_time": "ONTIME",
            "case_status": "Closed",
            "closure_reason": "Case Closed. Case Resolved. filled",
            "case_title": "Pothole",
            "subject": "Public Works Department",
            "reason": "Highway Maintenance",
            "type": "Request for Pothole Repair",
            "queue": "PWDx_District 1C: Downtown",
            "department": "PWDx",
            "location": "1 Beacon St, Boston, MA 02108",
            "neighborhood": "Downtown / Financial District",
            "location_zipcode": "02108",
            "latitude": "42.3580",
            "longitude": "-71.0610",
            "geom_4326": "0101000020E61000009A9999999BC351C0",
            "source": "Citizens Connect App",
        },
        {
            "case_enquiry_id": "101004700001",
            "open_dt": "2024-02-01 23:30:00",
            "sla_target_dt": "",
            "closed_dt": "",
            "on_time": "ONTIME",
            "case_status": "Open",
            "type": "Missed Trash/Recycling/Yard Waste/Bulk Item",
            "reason": "Sanitation",
            "department": "PWDx",
            "latitude": "42.3594",
            "longitude": "-71.0587",
            "source": "Constituent Call",
        },
        {
            "case_enquiry_id": "101004700002",
            "open_dt": "2024-03-05 08:00:00",
            "sla_target_dt": "2024-03-06 08:00:00",
            "closed_dt": "2024-03-05 07:00:00",  # closed before opened
            "case_status": "Closed",
            "type": "Parking Enforcement",
            "department": "BTDT",
            "source": "Self Service",
        },
        {
            "case_enquiry_id": "101004700003",
            "open_dt": "2024-03-05 08:00:00",
            "case_status": "Open",
            "type": "Graffiti Removal",
            "department": "PROP",
            "latitude": "",
            "longitude": "",
            "source": "Some New Channel",
        },
    ]
    return [{**base, **row} for row in rows]


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("leading_id", [False, True], ids=["plain", "with _id"])
def test_boston_current_schema(tmp_path, leading_id):
    header = (["_id"] if leading_id else []) + BOSTON_CURRENT
    rows = boston_current_rows()
    if leading_id:
        rows = [{"_id": str(i + 1), **row} for i, row in enumerate(rows)]
    path = write_csv(tmp_path / "boston_current.csv", header, rows)
    assert detect(header) is BOSTON
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    report = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
    cases = stored_cases(settings.database_url)
    store.dispose()
    assert report.format == "boston" and report.source == "boston"
    assert report.read == 4
    assert report.quarantined == {"closed_before_requested": 1}
    assert report.inserted == 3 == len(cases)

    pothole = cases["101004113298"]
    assert pothole["requested_at"] == datetime(2023, 7, 10, 13, 15)  # EDT +4
    assert pothole["due_at"] == datetime(2023, 7, 12, 13, 15)  # sla_target_dt
    assert pothole["closed_at"] == datetime(2023, 7, 10, 16, 0, 30)
    assert pothole["status"] == "closed" and pothole["status_raw"] == "Closed"
    assert pothole["channel"] == "app"
    assert pothole["department"] == "PWDx"
    assert pothole["service_name"] == "Request for Pothole Repair"
    assert pothole["service_group"] == "Highway Maintenance"
    assert pothole["description"] == "Pothole"
    assert pothole["resolution"] == "Case Closed. Case Resolved. filled"
    assert pothole["address"] == "1 Beacon St, Boston, MA 02108"
    assert pothole["zipcode"] == "02108"
    assert (pothole["lat"], pothole["lon"]) == (42.3580, -71.0610)
    assert pothole["location_quality"] == "exact"

    trash = cases["101004700001"]
    assert trash["requested_at"] == datetime(2024, 2, 2, 4, 30)  # EST +5, next day in UTC
    assert trash["due_at"] is None and trash["closed_at"] is None
    assert trash["status"] == "open" and trash["channel"] == "phone"
    assert trash["location_quality"] == "default_geocode"

    graffiti = cases["101004700003"]
    assert graffiti["location_quality"] == "missing"
    assert graffiti["channel"] == "other"


def nyc_old_rows() -> list[dict[str, str]]:
    base = dict.fromkeys(NYC_OLD, "")
    rows = [
        {
            "Unique Key": "23456789",
            "Created Date": "07/04/2012 03:10:00 PM",
            "Closed Date": "07/05/2012 09:00:00 AM",
            "Agency": "NYPD",
            "Agency Name": "New York City Police Department",
            "Complaint Type": "Noise - Street/Sidewalk",
            "Descriptor": "Loud Music/Party",
            "Incident Zip": "10027",
            "Incident Address": "",
            "Intersection Street 1": "WEST 125 STREET",
            "Intersection Street 2": "LENOX AVENUE",
            "Address Type": "INTERSECTION",
            "Status": "Closed",
            "Due Date": "07/05/2012 03:10:00 PM",
            "Resolution Action Updated Date": "07/05/2012 09:00:00 AM",
            "Borough": "MANHATTAN",
            "School Not Found": "N",
            "Latitude": "40.808",
            "Longitude": "-73.945",
            "Location": "(40.808, -73.945)",
        },
        {
            "Unique Key": "23456790",
            "Created Date": "01/15/2012 11:59:59 PM",
            "Agency": "DOT",
            "Agency Name": "Department of Transportation",
            "Complaint Type": "Street Light Condition",
            "Incident Address": "100 BROADWAY",
            "Status": "Assigned",
            "School Not Found": "N",
        },
        {
            "Unique Key": "",
            "Created Date": "01/15/2012 10:00:00 AM",
            "Agency": "DOT",
            "Complaint Type": "Street Condition",
            "Status": "Open",
        },
    ]
    return [{**base, **row} for row in rows]


def test_nyc_older_52_column_schema(tmp_path):
    assert len(NYC_OLD) == 52
    assert detect(NYC_OLD) is NYC
    path = write_csv(tmp_path / "nyc_old.csv", NYC_OLD, nyc_old_rows())
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    report = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
    cases = stored_cases(settings.database_url)
    store.dispose()
    assert report.format == "nyc"
    assert report.read == 3
    assert report.quarantined == {"missing_request_id": 1}
    assert report.inserted == 2 == len(cases)

    noise = cases["23456789"]
    assert noise["requested_at"] == datetime(2012, 7, 4, 19, 10)  # 3:10 PM EDT
    assert noise["closed_at"] == datetime(2012, 7, 5, 13, 0)
    assert noise["due_at"] == datetime(2012, 7, 5, 19, 10)
    assert noise["updated_at"] == datetime(2012, 7, 5, 13, 0)
    assert noise["department"] == "NYPD"
    assert noise["service_group"] == "New York City Police Department"
    assert noise["service_name"] == "Noise - Street/Sidewalk"
    assert noise["description"] == "Loud Music/Party"
    assert noise["status"] == "closed"
    assert noise["channel"] == "unknown"  # the older export has no channel column
    assert noise["address"] == "WEST 125 STREET & LENOX AVENUE"
    assert noise["zipcode"] == "10027"
    assert (noise["lat"], noise["lon"]) == (40.808, -73.945)

    light = cases["23456790"]
    assert light["requested_at"] == datetime(2012, 1, 16, 4, 59, 59)  # 11:59:59 PM EST
    assert light["status"] == "open" and light["status_raw"] == "Assigned"
    assert light["address"] == "100 BROADWAY"
    assert light["location_quality"] == "missing"


def test_detect_refuses_unknown_and_both_headers():
    with pytest.raises(InputFileError, match="matches no known format"):
        detect(["id", "opened", "closed", "kind"], path="x.csv")
    with pytest.raises(InputFileError, match="several formats"):
        detect([*BOSTON_CURRENT, *NYC_OLD], path="x.csv")
    # Header names are compared without case, spaces or underscores.
    assert detect(["CASE_ENQUIRY_ID", "Open DT", "case status"]) is BOSTON
    assert detect(["unique_key", "created_date", "complaint_type", "agency"]) is NYC
