"""Every city format of issue 6, each from a small fixture built here from its real header, with the
real-world mess it must survive. Expected values are written by hand (times converted with
zoneinfo), never taken from the code under test."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dashboard import schema
from dashboard.errors import InputFileError
from dashboard.store import Store
from etl.adapters import ADAPTERS, detect, point_from_text
from etl.load import load_file
from etl.reader import ExportFile
from tests.conftest import make_settings

CHI = ZoneInfo("America/Chicago")
LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")

CHICAGO_HEADER = (
    "SR_NUMBER, SR_TYPE, SR_SHORT_CODE, CREATED_DEPARTMENT, OWNER_DEPARTMENT, STATUS, ORIGIN, "
    "CREATED_DATE, LAST_MODIFIED_DATE, CLOSED_DATE, STREET_ADDRESS, CITY, STATE, ZIP_CODE, "
    "STREET_NUMBER, STREET_DIRECTION, STREET_NAME, STREET_TYPE, DUPLICATE, LEGACY_RECORD, "
    "LEGACY_SR_NUMBER, PARENT_SR_NUMBER, COMMUNITY_AREA, WARD, ELECTRICAL_DISTRICT, "
    "ELECTRICITY_GRID, POLICE_SECTOR, POLICE_DISTRICT, POLICE_BEAT, PRECINCT, "
    "SANITATION_DIVISION_DAYS, CREATED_HOUR, CREATED_DAY_OF_WEEK, CREATED_MONTH, X_COORDINATE, "
    "Y_COORDINATE, LATITUDE, LONGITUDE, LOCATION"
).split(", ")
SF_CLASSIC = (
    "CaseID, Opened, Closed, Updated, Status, Status Notes, Responsible Agency, Category, "
    "Request Type, Request Details, Address, Street, Supervisor District, Neighborhood, "
    "Police District, Latitude, Longitude, Point, Source, Media URL"
).split(", ")
SF_CURRENT = (
    "service_request_id, requested_datetime, closed_date, updated_datetime, status_description, "
    "status_notes, agency_responsible, service_name, service_subtype, service_details, address, "
    "street, supervisor_district, neighborhoods_sffind_boundaries, analysis_neighborhood, "
    "police_district, lat, long, point, source, media_url"
).split(", ")
LA_HEADER = (
    "SRNumber, CreatedDate, UpdatedDate, ActionTaken, Owner, RequestType, Status, RequestSource, "
    "MobileOS, Anonymous, AssignTo, ServiceDate, ClosedDate, AddressVerified, ApproximateAddress, "
    "Address, HouseNumber, Direction, StreetName, Suffix, ZipCode, Latitude, Longitude, Location, "
    "TBMPage, TBMColumn, TBMRow, APC, CD, CDMember, NC, NCName, PolicePrecinct"
).split(", ")
PHILLY_HEADER = (
    "objectid, service_request_id, subject, status, status_notes, service_name, service_code, "
    "agency_responsible, service_notice, requested_datetime, updated_datetime, expected_datetime, "
    "closed_datetime, address, zipcode, media_url, private_case, parent_service_request_id, "
    "lat, lon"
).split(", ")
BULK_HEADER = (
    "service_request_id, requested_datetime, updated_datetime, closed_date, status_description, "
    "status_notes, source, service_name, service_subtype, description, agency_responsible, "
    "address, lat, long"
).split(", ")


# -- helpers -------------------------------------------------------------------------------------
def utc(local: str, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> datetime:
    return datetime.strptime(local, fmt).replace(tzinfo=zone).astimezone(UTC)


def write_csv(
    path: Path,
    header: list[str],
    rows: list[dict[str, str]],
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
    delimiter: str = ",",
) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline, delimiter=delimiter)
    writer.writerow(header)
    for row in rows:
        unknown = set(row) - set(header)
        assert not unknown, unknown
        writer.writerow([row.get(h, "") for h in header])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def cases_of(settings) -> dict[str, dict]:
    store = Store(settings.database_url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(schema.cases)).mappings().all()
    finally:
        store.dispose()
    out = {}
    for r in rows:
        case = dict(r)
        for name in schema.TIME_FIELDS:
            if case[name] is not None and case[name].tzinfo is None:
                case[name] = case[name].replace(tzinfo=UTC)
        out[r["request_id"]] = case
    return out


def quarantined_of(settings) -> dict[int, str]:
    store = Store(settings.database_url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(schema.quarantine)).mappings().all()
    finally:
        store.dispose()
    return {r["line_number"]: r["reason"] for r in rows}


def load(path: Path, settings, **kwargs):
    report = load_file(
        path,
        store=Store(settings.database_url),
        settings=settings,
        progress=False,
        snapshot=False,
        **kwargs,
    )
    total = report.inserted + report.updated + report.unchanged + report.quarantined_total
    assert report.read == total, report
    return report


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def check(case: dict, **expected) -> None:
    for name, value in expected.items():
        assert case[name] == value, (name, case[name], value)


# -- Chicago -------------------------------------------------------------------------------------
def chicago_row(sr: str, **kw: str) -> dict[str, str]:
    row = {
        "SR_NUMBER": sr,
        "SR_TYPE": "Pothole in Street Complaint",
        "SR_SHORT_CODE": "PHF",
        "CREATED_DEPARTMENT": "311 City Services",
        "OWNER_DEPARTMENT": "CDOT - Department of Transportation",
        "STATUS": "Completed",
        "ORIGIN": "Phone Call",
        "CREATED_DATE": "01/05/2023 10:12:33 AM",
        "LAST_MODIFIED_DATE": "01/06/2023 08:00:00 AM",
        "CLOSED_DATE": "01/06/2023 07:59:00 AM",
        "STREET_ADDRESS": "1234 N STATE ST",
        "CITY": "Chicago",
        "STATE": "Illinois",
        "ZIP_CODE": "60610",
        "DUPLICATE": "false",
        "LEGACY_RECORD": "false",
        "WARD": "2",
        "CREATED_HOUR": "10",
        "LATITUDE": "41.905",
        "LONGITUDE": "-87.628",
        "LOCATION": "(41.905, -87.628)",
    }
    row.update(kw)
    return row


def test_chicago_csv_export(tmp_path, settings):
    rows = [
        chicago_row("SR23-00000001"),
        # a duplicate of the first, read through DUPLICATE/PARENT_SR_NUMBER; 0/0 coordinates;
        # an ISO time in a file of US times (mixed formats)
        chicago_row(
            "SR23-00000002",
            STATUS="Canceled",
            ORIGIN="Internet",
            DUPLICATE="true",
            PARENT_SR_NUMBER="SR23-00000001",
            CREATED_DATE="2023-01-05 11:00:00",
            CLOSED_DATE="",
            LATITUDE="0",
            LONGITUDE="0",
            LOCATION="",
        ),
        chicago_row("SR23-00000003", CLOSED_DATE="01/04/2023 09:00:00 AM"),  # closed before opened
        chicago_row("SR23-00000004", CREATED_DATE="01/05/20"),  # truncated timestamp
        # no LATITUDE/LONGITUDE, only LOCATION; Latin-1 street name; open
        chicago_row(
            "SR23-00000005",
            STATUS="Open",
            ORIGIN="Mobile Device",
            CLOSED_DATE="",
            STREET_ADDRESS="1200 W CAFÉ AVE",
            LATITUDE="",
            LONGITUDE="",
            LOCATION="(41.88, -87.63)",
        ),
    ]
    # Latin-1 with Windows line endings, as a spreadsheet saves it
    path = write_csv(
        tmp_path / "chicago.csv", CHICAGO_HEADER, rows, encoding="cp1252", newline="\r\n"
    )
    report = load(path, settings)
    assert report.format == "chicago" and report.source == "chicago"
    assert (report.read, report.inserted, report.updated, report.unchanged) == (5, 3, 0, 0)
    assert report.quarantined == {"closed_before_requested": 1, "unparseable_requested_at": 1}
    assert quarantined_of(settings) == {4: "closed_before_requested", 5: "unparseable_requested_at"}
    cases = cases_of(settings)
    check(
        cases["SR23-00000001"],
        source="chicago",
        service_code="PHF",
        service_name="Pothole in Street Complaint",
        service_group="311 City Services",
        department="CDOT - Department of Transportation",
        status="closed",
        status_raw="Completed",
        channel="phone",
        requested_at=utc("2023-01-05 10:12:33", CHI),
        updated_at=utc("2023-01-06 08:00:00", CHI),
        closed_at=utc("2023-01-06 07:59:00", CHI),
        address="1234 N STATE ST",
        zipcode="60610",
        lat=41.905,
        lon=-87.628,
        location_quality="exact",
        is_duplicate=False,
        parent_request_id=None,
        is_private=False,
    )
    check(
        cases["SR23-00000002"],
        status="closed",
        channel="web",
        is_duplicate=True,
        parent_request_id="SR23-00000001",
        requested_at=utc("2023-01-05 11:00:00", CHI),
        closed_at=None,
        lat=None,
        lon=None,
        location_quality="missing",
    )
    check(
        cases["SR23-00000005"],
        status="open",
        channel="app",
        address="1200 W CAFÉ AVE",
        lat=41.88,
        lon=-87.63,
        location_quality="exact",
    )
    # loading it again changes nothing
    again = load(path, settings)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_chicago_api_lower_case_iso_and_location_dict(tmp_path, settings):
    header = [h.lower() for h in CHICAGO_HEADER]
    rows = [
        {
            "sr_number": "SR23-00000010",
            "sr_type": "Graffiti Removal Request",
            "sr_short_code": "GRAF",
            "owner_department": "Streets and Sanitation",
            "status": "Open",
            "origin": "Internet",
            "created_date": "2023-03-12T01:30:00.000",
            "last_modified_date": "2023-03-13T08:00:00.123",
            "duplicate": "",
            "location": "{'latitude': '41.8781', 'longitude': '-87.6298', "
            '\'human_address\': \'{"address": "", "city": "", "state": "", "zip": ""}\'}',
        },
        {
            "sr_number": "SR23-00000011",
            "sr_type": "Graffiti Removal Request",
            "sr_short_code": "GRAF",
            "owner_department": "Streets and Sanitation",
            "status": "Completed",
            "origin": "spot",
            "created_date": "2023-03-12T03:30:00.000",  # the DST gap in Chicago: 02:00-03:00
            "closed_date": "2023-03-12T04:00:00.000",
            "duplicate": "true",
            "parent_sr_number": "SR23-00000010",
            "location": '{"type": "Point", "coordinates": [-87.64, 41.9]}',
        },
    ]
    path = write_csv(tmp_path / "chicago_api.csv", header, rows)
    report = load(path, settings)
    assert report.format == "chicago" and (report.read, report.inserted) == (2, 2)
    cases = cases_of(settings)
    check(
        cases["SR23-00000010"],
        service_code="GRAF",
        requested_at=datetime(2023, 3, 12, 7, 30, tzinfo=UTC),  # CST, UTC-6
        updated_at=datetime(2023, 3, 13, 13, 0, 0, 123000, tzinfo=UTC),  # CDT, UTC-5
        lat=41.8781,
        lon=-87.6298,
        channel="web",
        is_duplicate=False,
    )
    check(
        cases["SR23-00000011"],
        requested_at=datetime(2023, 3, 12, 8, 30, tzinfo=UTC),
        status="closed",
        channel="employee",
        is_duplicate=True,
        parent_request_id="SR23-00000010",
        lat=41.9,
        lon=-87.64,
    )


def test_chicago_socrata_json_with_location_object(tmp_path, settings):
    records = [
        {
            "sr_number": "SR23-00000020",
            "sr_type": "Rodent Baiting/Rat Complaint",
            "sr_short_code": "SGA",
            "owner_department": "Streets and Sanitation",
            "status": "Completed",
            "origin": "Phone Call",
            "created_date": "2023-06-01T09:00:00.000",
            "closed_date": "2023-06-02T09:00:00.000",
            "duplicate": False,
            "location": {"latitude": "41.85", "longitude": "-87.65", "human_address": "{}"},
        }
    ]
    path = tmp_path / "chicago.json"
    path.write_text(json.dumps(records))
    report = load(path, settings)
    assert report.format == "chicago" and report.inserted == 1
    check(
        cases_of(settings)["SR23-00000020"],
        requested_at=datetime(2023, 6, 1, 14, 0, tzinfo=UTC),
        closed_at=datetime(2023, 6, 2, 14, 0, tzinfo=UTC),
        lat=41.85,
        lon=-87.65,
        is_duplicate=False,
        status="closed",
    )


# -- San Francisco -------------------------------------------------------------------------------
SF_ROW = {
    "CaseID": "4501234",
    "Opened": "01/05/2015 10:12:33 AM",
    "Closed": "01/06/2015 09:00:00 AM",
    "Updated": "01/06/2015 09:00:00 AM",
    "Status": "Closed",
    "Status Notes": "Case Resolved - pickup completed",
    "Responsible Agency": "Recology_Abandoned",
    "Category": "Street and Sidewalk Cleaning",
    "Request Type": "Bulky Items",
    "Request Details": "Couch",
    "Address": "100 MARKET ST, SAN FRANCISCO, CA, 94105",
    "Street": "MARKET ST",
    "Supervisor District": "6",
    "Neighborhood": "Financial District",
    "Latitude": "37.7936",
    "Longitude": "-122.3965",
    "Point": "(37.7936, -122.3965)",
    "Source": "Mobile/Open311",
}


def test_sf_classic_then_current_names(tmp_path, settings):
    """The same case in the classic export (BOM + CRLF) and later in the current Open311-style
    names: columns renamed between years feed the same fields, so the second load is unchanged."""
    classic = [
        SF_ROW,
        {
            **SF_ROW,
            "CaseID": "4501235",
            "Status": "Open",
            "Closed": "",
            "Source": "Phone",
            "Latitude": "",
            "Longitude": "",
            "Point": "(37.78, -122.41)",
        },
    ]
    first = tmp_path / "sf_classic.csv"
    write_csv(first, SF_CLASSIC, classic, encoding="utf-8-sig", newline="\r\n")
    report = load(first, settings)
    assert report.format == "sf" and (report.read, report.inserted) == (2, 2)
    cases = cases_of(settings)
    check(
        cases["4501234"],
        source="sf",
        service_name="Street and Sidewalk Cleaning",
        service_code="Street and Sidewalk Cleaning",
        service_group="Bulky Items",
        department="Recology_Abandoned",
        description="Couch",
        resolution="Case Resolved - pickup completed",
        status="closed",
        channel="app",
        requested_at=utc("2015-01-05 10:12:33", LA),
        closed_at=utc("2015-01-06 09:00:00", LA),
        lat=37.7936,
        lon=-122.3965,
    )
    check(cases["4501235"], status="open", channel="phone", lat=37.78, lon=-122.41)

    current = {
        "service_request_id": "4501234",
        "requested_datetime": "2015-01-05T10:12:33.000",
        "closed_date": "2015-01-06T09:00:00.000",
        "updated_datetime": "2015-01-06T09:00:00.000",
        "status_description": "Closed",
        "status_notes": "Case Resolved - pickup completed",
        "agency_responsible": "Recology_Abandoned",
        "service_name": "Street and Sidewalk Cleaning",
        "service_subtype": "Bulky Items",
        "service_details": "Couch",
        "address": "100 MARKET ST, SAN FRANCISCO, CA, 94105",
        "supervisor_district": "6",
        "lat": "37.7936",
        "long": "-122.3965",
        "point": '{"type": "Point", "coordinates": [-122.3965, 37.7936]}',
        "source": "Mobile/Open311",
    }
    second = write_csv(tmp_path / "sf_current.csv", SF_CURRENT, [current])
    assert detect(SF_CURRENT).name == "sf"  # not the generic Open311 bulk CSV
    report = load(second, settings)
    assert report.format == "sf"
    assert (report.read, report.inserted, report.updated, report.unchanged) == (1, 0, 0, 1)


# -- Los Angeles ---------------------------------------------------------------------------------
def test_la_myla311(tmp_path, settings):
    header = [*LA_HEADER, ":@computed_region_qz3q_ghft"]  # some years add computed regions
    base = {
        "SRNumber": "1-1234567891",
        "CreatedDate": "01/05/2019 10:12:33 AM",
        "UpdatedDate": "01/07/2019 08:00:00 AM",
        "ActionTaken": "SR Created",
        "Owner": "BOS",
        "RequestType": "Bulky Items",
        "Status": "Closed",
        "RequestSource": "Mobile App",
        "ServiceDate": "01/08/2019 12:00:00 AM",
        "ClosedDate": "01/07/2019 07:59:00 AM",
        "Address": "200 N SPRING ST, 90012",
        "ZipCode": "90012",
        "Latitude": "34.0537",
        "Longitude": "-118.2428",
        "Location": "(34.0537, -118.2428)",
        "CD": "14",
        "NCName": "DOWNTOWN LOS ANGELES",
    }
    rows = [
        base,
        # 0/0 coordinates; no Address but its parts; ISO dates (mixed formats in one file)
        {
            **base,
            "SRNumber": "1-1234567892",
            "Latitude": "0",
            "Longitude": "0",
            "Location": "",
            "Address": "",
            "HouseNumber": "300",
            "Direction": "W",
            "StreetName": "1ST",
            "Suffix": "ST",
            "CreatedDate": "2019-01-05T11:00:00.000",
            "ClosedDate": "",
            "Status": "Open",
            "RequestSource": "Call",
        },
    ]
    path = write_csv(tmp_path / "myla311.csv", header, rows)
    report = load(path, settings)
    assert report.format == "la" and (report.read, report.inserted) == (2, 2)
    cases = cases_of(settings)
    check(
        cases["1-1234567891"],
        service_name="Bulky Items",
        department="BOS",
        resolution="SR Created",
        status="closed",
        channel="app",
        requested_at=utc("2019-01-05 10:12:33", LA),
        updated_at=utc("2019-01-07 08:00:00", LA),
        closed_at=utc("2019-01-07 07:59:00", LA),
        due_at=utc("2019-01-08 00:00:00", LA),
        address="200 N SPRING ST, 90012",
        zipcode="90012",
        lat=34.0537,
        lon=-118.2428,
    )
    check(
        cases["1-1234567892"],
        status="open",
        channel="phone",
        requested_at=utc("2019-01-05 11:00:00", LA),
        address="300 W 1ST ST",
        lat=None,
        location_quality="missing",
    )


# -- Philadelphia --------------------------------------------------------------------------------
def test_philadelphia_private_cases_and_parents(tmp_path, settings):
    rows = [
        {
            "objectid": "1",
            "service_request_id": "15443561",
            "subject": "Pothole Repair",
            "status": "Closed",
            "status_notes": "Issue Resolved",
            "service_name": "Street Defect",
            "service_code": "SR-ST01",
            "agency_responsible": "Streets Department",
            "service_notice": "14 Business Days",
            "requested_datetime": "2023-01-05 10:12:33",
            "updated_datetime": "2023-01-09 08:00:00",
            "expected_datetime": "2023-01-25 20:00:00",
            "closed_datetime": "2023-01-09 08:00:00",
            "address": "1400 JOHN F KENNEDY BLVD",
            "zipcode": "19107",
            "private_case": "0",
            "lat": "39.9526",
            "lon": "-75.1652",
        },
        {
            "objectid": "2",
            "service_request_id": "15443562",
            "status": "Open",
            "service_name": "Police Complaint",
            "service_code": "SR-PD01",
            "agency_responsible": "Police Department",
            "requested_datetime": "2023-01-05T15:30:00Z",  # zoned UTC
            "private_case": "1",
            "parent_service_request_id": "15443561",
            "lat": "39.95",
            "lon": "-75.16",
        },
    ]
    path = write_csv(tmp_path / "philly.csv", PHILLY_HEADER, rows)
    assert detect(PHILLY_HEADER).name == "philadelphia"
    report = load(path, settings)
    assert report.format == "philadelphia" and report.inserted == 2
    cases = cases_of(settings)
    check(
        cases["15443561"],
        service_code="SR-ST01",
        service_name="Street Defect",
        department="Streets Department",
        resolution="Issue Resolved",
        status="closed",
        requested_at=utc("2023-01-05 10:12:33", NY),
        due_at=utc("2023-01-25 20:00:00", NY),
        closed_at=utc("2023-01-09 08:00:00", NY),
        zipcode="19107",
        is_private=False,
        lat=39.9526,
        lon=-75.1652,
        channel="unknown",
    )
    check(
        cases["15443562"],
        is_private=True,
        parent_request_id="15443561",
        requested_at=datetime(2023, 1, 5, 15, 30, tzinfo=UTC),
        status="open",
    )


# -- Open311 GeoReport v2 ------------------------------------------------------------------------
GEOREPORT = [
    {
        "service_request_id": "638344",
        "status": "closed",
        "status_notes": "Duplicate request.",
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": "Curb is broken",
        "agency_responsible": "Department of Public Works",
        "service_notice": "",
        "requested_datetime": "2010-04-14T06:37:38-08:00",
        "updated_datetime": "2010-04-14T06:37:38-08:00",
        "expected_datetime": "2010-04-15T06:37:38-08:00",
        "address": "8TH AVE and JUDAH ST",
        "address_id": "545483",
        "zipcode": "94122",
        "lat": 37.762221815,
        "long": -122.4651145,
        "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg",
        "notes": [{"type": "opened", "datetime": "2010-04-14T06:37:38-08:00"}],
        "extended_attributes": {"duplicate": "638300", "channel": "phone"},
    },
    {
        "service_request_id": "638349",
        "status": "open",
        "service_name": "Potholes",
        "service_code": "007",
        "requested_datetime": "2010-04-19T06:37:38-08:00",
        "lat": 0,
        "long": 0,
        "extended_attributes": {"parent_service_request_id": "638344", "duplicate": False},
    },
    {
        "service_request_id": "",
        "status": "open",
        "service_name": "x",
        "requested_datetime": "2010-04-19T06:37:38-08:00",
    },
]


def check_georeport(settings, report) -> None:
    assert report.format == "open311"
    assert (report.read, report.inserted) == (3, 2)
    assert report.quarantined == {"missing_request_id": 1}
    cases = cases_of(settings)
    check(
        cases["638344"],
        service_code="006",
        service_name="Sidewalk and Curb Issues",
        department="Department of Public Works",
        description="Curb is broken",
        resolution="Duplicate request.",
        status="closed",
        requested_at=datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC),
        closed_at=datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC),  # closed: its last update
        due_at=datetime(2010, 4, 15, 14, 37, 38, tzinfo=UTC),
        zipcode="94122",
        lat=37.762221815,
        lon=-122.4651145,
        is_duplicate=True,
        parent_request_id="638300",
    )
    check(
        cases["638349"],
        status="open",
        closed_at=None,
        is_duplicate=False,
        parent_request_id="638344",
        location_quality="missing",
    )


def test_georeport_json_list(tmp_path, settings):
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(GEOREPORT))
    check_georeport(settings, load(path, settings))


def test_georeport_json_object_with_bom_and_duplicated_keys(tmp_path, settings):
    text = json.dumps({"requests": GEOREPORT})
    # a key given twice: the first non-empty value is read
    text = text.replace(
        '"status": "open", "service_name": "Potholes"',
        '"status": "open", "status": "", "service_name": "Potholes"',
    )
    path = tmp_path / "requests.json.gz"
    path.write_bytes(gzip.compress(("\ufeff" + text).encode("utf-8")))
    check_georeport(settings, load(path, settings))
    assert cases_of(settings)["638349"]["status_raw"] == "open"


def georeport_xml(records: list[dict]) -> str:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<service_requests>']
    for record in records:
        parts.append("<request>")
        for key, value in record.items():
            if isinstance(value, dict):
                inner = "".join(
                    f"<{k}>{str(v).lower() if isinstance(v, bool) else v}</{k}>"
                    for k, v in value.items()
                )
                parts.append(f"<{key}>{inner}</{key}>")
            elif isinstance(value, list):
                inner = "".join(
                    "<note>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</note>"
                    for item in value
                )
                parts.append(f"<{key}>{inner}</{key}>")
            else:
                parts.append(f"<{key}>{value}</{key}>")
        parts.append("</request>")
    parts.append("</service_requests>\n")
    return "\r\n".join(parts)


def test_georeport_xml_in_a_zip(tmp_path, settings):
    path = tmp_path / "requests.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("requests.xml", georeport_xml(GEOREPORT))
        archive.writestr("README.txt", "GeoReport v2 dump")
    check_georeport(settings, load(path, settings))


def test_georeport_bulk_csv_as_tsv(tmp_path, settings):
    rows = [
        {
            "service_request_id": "101",
            "requested_datetime": "2023-01-05 10:12:33",
            "updated_datetime": "2023-01-06 09:00:00",
            "closed_date": "2023-01-06 09:00:00",
            "status_description": "Closed",
            "status_notes": "Done, thanks",  # a comma inside a field of a tab-separated file
            "source": "Web",
            "service_name": "Graffiti",
            "service_subtype": "Private property",
            "description": "Tag on wall",
            "agency_responsible": "DPW",
            "address": "1 MAIN ST",
            "lat": "42.36",
            "long": "-71.06",
        },
        {
            "service_request_id": "102",
            "requested_datetime": "2023-01-07 10:00:00",
            "closed_date": "2023-01-06 10:00:00",  # closed before opened
            "status_description": "Closed",
            "service_name": "Graffiti",
        },
    ]
    path = write_csv(tmp_path / "bulk.tsv", BULK_HEADER, rows, delimiter="\t")
    report = load(path, settings)
    assert report.format == "open311"
    assert (report.read, report.inserted) == (2, 1)
    assert report.quarantined == {"closed_before_requested": 1}
    check(
        cases_of(settings)["101"],
        requested_at=utc("2023-01-05 10:12:33", NY),
        closed_at=utc("2023-01-06 09:00:00", NY),
        status="closed",
        channel="web",
        service_group="Private property",
        resolution="Done, thanks",
        lat=42.36,
        lon=-71.06,
    )
    with ExportFile(path).open(batch_size=10) as (header, _batches, _progress):
        assert header == BULK_HEADER


# -- mess shared by every format -----------------------------------------------------------------
def test_outside_the_city_and_default_geocodes(tmp_path):
    settings = make_settings(
        tmp_path,
        city_bounds=(-87.95, 41.64, -87.52, 42.03),
        default_geocodes=((41.8837, -87.6321),),
    )
    rows = [
        chicago_row("SR1", LATITUDE="40.71", LONGITUDE="-74.0"),  # New York
        chicago_row("SR2", LATITUDE="41.8837", LONGITUDE="-87.6321"),  # City Hall default
        chicago_row("SR3"),
    ]
    load(write_csv(tmp_path / "c.csv", CHICAGO_HEADER, rows), settings)
    cases = cases_of(settings)
    assert cases["SR1"]["location_quality"] == "outside_bounds" and cases["SR1"]["lat"] is None
    assert cases["SR2"]["location_quality"] == "default_geocode" and cases["SR2"]["lat"] is None
    assert cases["SR3"]["location_quality"] == "exact"


def test_broken_json_and_xml_are_refused_whole(tmp_path, settings):
    truncated = tmp_path / "requests.json"
    truncated.write_text(json.dumps(GEOREPORT)[:200])
    with pytest.raises(InputFileError, match="not valid JSON"):
        load(truncated, settings)
    broken = tmp_path / "requests.xml"
    broken.write_text(georeport_xml(GEOREPORT)[:300])
    with pytest.raises(InputFileError, match="not valid XML"):
        load(broken, settings)
    nothing = tmp_path / "empty.json"
    nothing.write_text("[]")
    with pytest.raises(InputFileError, match="no requests"):
        load(nothing, settings)
    assert cases_of(settings) == {}


def test_detection_prefers_the_most_specific_format():
    assert detect(BULK_HEADER).name == "open311"
    assert detect(SF_CURRENT).name == "sf"
    assert detect(SF_CLASSIC).name == "sf"
    assert detect(PHILLY_HEADER).name == "philadelphia"
    assert detect(LA_HEADER).name == "la"
    assert detect([h.lower() for h in CHICAGO_HEADER]).name == "chicago"
    assert {"boston", "nyc", "chicago", "sf", "la", "philadelphia", "open311"} <= set(ADAPTERS)


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("(41.88, -87.63)", (41.88, -87.63)),
        ("POINT (-87.63 41.88)", (41.88, -87.63)),
        ("{'latitude': '41.88', 'longitude': '-87.63'}", (41.88, -87.63)),
        ('{"type": "Point", "coordinates": [-87.63, 41.88]}', (41.88, -87.63)),
        ("", (None, None)),
        ("{not a dict", (None, None)),
        ("somewhere", (None, None)),
    ],
)
def test_point_from_text(text, point):
    assert point_from_text(text) == point
