"""Privacy review 8: every public output on the real Boston 2011 and NYC 2023 exports, scanned
with patterns of the review's own. What it found, each with a test that fails without its fix:

- ``status_notes`` copied the source's status text (``status_raw``, staff-only) into the public
  note: "Open (<whatever the status column held>)." Now only known status words are repeated.
- New York's numbered streets lost their number with the house number ("326 EAST 35 STREET" was
  published as "EAST STREET", which is another street); now "EAST 35 STREET".
- Redaction took words of request types and street names for people's names ("Utility Call-In",
  "Use In Resident Zone", "St Name - Attached to Pole", "Call St", "Dr. ... Way") and a house
  number range for a phone number ("155-157I").
- Text the scan looks for and redaction did not remove (none of it is in the real exports, all of
  it is in other cities' free text): flat and unit numbers, licence plates, dates of birth, ages,
  links with a query string, other systems' record numbers, a signature after the last sentence.

Test data is made up; names and numbers are invented.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard.app_factory import create_app
from dashboard.public import _public_description, generalise_address
from dashboard.redact import (
    AGE_MARK,
    DATE_MARK,
    LINK_MARK,
    NAME_MARK,
    NUMBER_MARK,
    PHONE_MARK,
    PLATE_MARK,
    redact,
    redact_address,
)
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import NYC_CSV, make_settings
from tests.support.exports import write_boston_export
from tests.support.public import public_data

API = "/open311/v2"


# -- status_notes: generated, never the source's status text ----------------------------------------
def _open_row(status_raw: str | None) -> dict[str, Any]:
    return {
        "status": "open",
        "status_raw": status_raw,
        "is_duplicate": False,
        "parent_request_id": None,
        "closed_at": None,
        "service_name": "Graffiti Removal",
        "department": "PWDx",
        "due_at": None,
        "requested_at": datetime(2011, 9, 1, tzinfo=UTC),
    }


@pytest.mark.parametrize(
    ("status_raw", "note"),
    [
        ("In Progress", "Open (In Progress)."),
        ("ASSIGNED", "Open (Assigned)."),
        ("pending", "Open (Pending)."),
        ("Open", "Open."),
        (None, "Open."),
        # a status column that holds a staff note: none of it is published
        ("Crew 9 told the Quimbly family to wait", "Open."),
        ("Pending - call Hortensia back re: gate code 4471", "Open."),
        ("Referred to inspector O. Prangle", "Open."),
    ],
)
def test_status_notes_repeat_only_known_status_words(tmp_path, status_raw, note) -> None:
    with public_data(make_settings(tmp_path)) as data:
        assert data.status_notes(_open_row(status_raw), None) == note


# -- addresses: New York's numbered streets keep their number ---------------------------------------
@pytest.mark.parametrize(
    ("address", "published"),
    [
        ("326 EAST   35 STREET", "EAST 35 STREET"),
        ("1315 48 STREET", "48 STREET"),
        ("146-20 228 STREET", "228 STREET"),
        ("3593 3 AVENUE", "3 AVENUE"),
        ("640 BEACH   69 STREET", "BEACH 69 STREET"),
        ("39 AVENUE & 48 STREET", "39 AVENUE & 48 STREET"),
        ("51 STREET & 2 AVENUE", "51 STREET & 2 AVENUE"),
        # a house number before a street word that is part of the name still goes
        ("561 COURT STREET", "COURT STREET"),
        ("9509 AVENUE B", "AVENUE B"),
        ("17 Terrace St Roxbury MA 02119", "Terrace St Roxbury MA 02119"),
        ("5 Avenue Louis Pasteur Boston MA", "Avenue Louis Pasteur Boston MA"),
        ("12 W 4th St Boston", "W 4th St Boston"),
    ],
)
def test_numbered_streets_keep_their_number_and_lose_the_house_number(address, published) -> None:
    assert generalise_address(address) == published


def test_no_address_of_the_nyc_sample_keeps_a_house_number_or_loses_its_street() -> None:
    """Every address of the real NYC sample: the house number (the first word, with "1/2" or a
    Queens range) goes, everything else -- numbered streets included -- stays."""
    frame = pd.read_csv(NYC_CSV, dtype=str, usecols=["Incident Address"])
    addresses = frame["Incident Address"].dropna().unique()
    assert len(addresses) > 3000
    street_types = {"STREET", "AVENUE", "ROAD", "PLACE", "DRIVE", "LANE", "TERRACE", "COURT"}
    wrong, numbered = [], 0
    for address in addresses:
        words = address.split()
        # "39 AVENUE & 48 STREET": the first number names a street, there is no house number
        names_street = len(words) > 1 and words[1] in street_types and words[2:3] in ([], ["&"])
        if words[1:] and not names_street and re.fullmatch(r"-?\d+[A-Z]?(-\d+[A-Z]?)?", words[0]):
            words = words[2:] if re.fullmatch(r"\d/\d", words[1]) else words[1:]
        published = generalise_address(address)
        if published != " ".join(words):
            wrong.append((address, published))
        numbered += bool(re.search(r"\d", published or ""))
    assert wrong == []
    assert numbered > 1000  # a third of New York's addresses are on numbered streets


# -- redaction: words of types and streets are not names ------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Utility Call-In",  # a Boston request type (271 cases of 2011)
        "Illegal. Commercial Use In Resident Zone",  # an NYC descriptor
        "St Name - Attached to Pole",  # an NYC descriptor (a street-name sign)
        "With License Plate",
        "Paper License Plates",
        "Police Report Not Requested",
        "APARTMENT ONLY",
        "Unit Pricing Wrong/Missing",
        "Missed Trash: District 10B",
        "graffiti tag 2 ft wide",
        "Case 101000295613 was a duplicate",
        "Details at https://www.example.gov/311/streetlights",
        "Graffiti Removal - Paint - control cabinet - Dist 10",
        "Food Alert - Confirmed",
    ],
)
def test_request_types_and_descriptors_are_left_alone(text: str) -> None:
    assert redact(text) == text
    assert _public_description(text, "cell") == text


@pytest.mark.parametrize(
    ("address", "published"),
    [
        ("71-73 Call St  Jamaica Plain  MA  02130", "Call St Jamaica Plain MA 02130"),
        ("INTERSECTION of Call St & Quince St  Jamaica Plain  MA", None),
        (
            "1 Dr. Ada Quimby Way  South Boston  MA  02127",
            "Dr. Ada Quimby Way South Boston MA 02127",
        ),
        ("15 Dr. Ora Lee Fenn Cir  Mattapan  MA  02126", "Dr. Ora Lee Fenn Cir Mattapan MA 02126"),
        ("155-157I Washington St  Dorchester  MA  02121", "Washington St Dorchester MA 02121"),
    ],
)
def test_street_names_are_not_taken_for_names_or_phone_numbers(address, published) -> None:
    cleaned = " ".join(address.split())
    assert redact_address(address) == cleaned  # an exact type's address: as stored
    assert generalise_address(address) == (published or cleaned)


def test_in_free_text_a_title_and_name_still_go_and_lookalike_digits_still_count() -> None:
    out = redact("contact Dr. Ada Quimby today")
    assert NAME_MARK in out and "Ada" not in out and "Quimby" not in out
    assert redact("call 617555O142") == f"call {PHONE_MARK}"


# -- new kinds of personal data in free text --------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "gone", "mark"),
    [
        # flat and unit numbers (also where the location is exact: they single out a household)
        ("Leak from ceiling in Apt 3B", ["3B"], NUMBER_MARK),
        ("no heat in apartment 4 since Monday", ["apartment 4"], NUMBER_MARK),
        ("Unit 2 rear door broken", ["Unit 2"], NUMBER_MARK),
        ("apt. #12C mice again", ["12C"], NUMBER_MARK),
        # licence plates (Massachusetts and New York formats)
        ("Blue sedan plate 4XKT29 blocking hydrant", ["4XKT29"], PLATE_MARK),
        ("car with MA plate 1QBZ37 parked 3 weeks", ["1QBZ37"], PLATE_MARK),
        ("NY plate HJK-4821 double parked", ["HJK-4821", "4821"], PLATE_MARK),
        ("license plate # 7ZQ 119 in the bike lane", ["7ZQ", "119"], PLATE_MARK),
        ("van, tag: 552LMV, no permit", ["552LMV"], PLATE_MARK),
        ("truck NY KXW7713 idling", ["KXW7713"], PLATE_MARK),
        # dates of birth and ages
        ("my mother DOB 03/14/1941 cannot get out", ["03/14/1941", "1941"], DATE_MARK),
        ("date of birth: 1/2/1950", ["1/2/1950"], DATE_MARK),
        ("resident born in 1938 needs help", ["1938"], DATE_MARK),
        ("elderly 87 year old neighbor fell", ["87"], AGE_MARK),
        ("he is 82 yo and alone", ["82"], AGE_MARK),
        ("my son (age 6) has asthma", ["6)"], AGE_MARK),
        # links with a query string (they carry e-mails, names and tokens)
        (
            "photo: https://photos.example.org/v?id=55&email=zed%40example.org ok",
            ["zed", "id=55"],
            LINK_MARK,
        ),
        ("see www.example.com/p?u=wilbur&t=abc", ["wilbur"], LINK_MARK),
        # other systems' record numbers
        ("police report #2023-004512 filed", ["004512"], NUMBER_MARK),
        ("ref SR-8812345 never fixed", ["8812345"], NUMBER_MARK),
        ("same as work order 5531207 from last year", ["5531207"], NUMBER_MARK),
        # a signature after the last sentence
        ("Trash not picked up again. - Wilbur", ["Wilbur"], NAME_MARK),
        ("Please fix asap! -Mabel T.", ["Mabel"], NAME_MARK),
        ("Dumping continues. \u2014 Hortense Q", ["Hortense"], NAME_MARK),
    ],
)
def test_new_kinds_of_personal_data_are_removed(text: str, gone: list[str], mark: str) -> None:
    for precision in ("exact", "cell"):
        out = _public_description(text, precision)
        assert out is not None and mark in out, out
        for word in gone:
            assert word not in out, out


def test_unit_numbers_go_from_published_addresses_too() -> None:
    assert redact_address("12 Elm St Apt 3B Boston MA") == (
        f"12 Elm St Apt {NUMBER_MARK} Boston MA"
    )
    assert generalise_address("12 Elm St Apt 3B Boston MA") == "Elm St Boston MA"


# -- end to end: what the API and the portal publish ------------------------------------------------
CASES = {
    # id: (type, status, description, address)
    "101999800001": ("Graffiti Removal", "In Progress", "Graffiti on the door of Apt 4C", ""),
    "101999800002": (
        "Graffiti Removal",
        "Crew 9 told the Quimbly family to wait",
        "Tags again. - Wilbur",
        "",
    ),
    "101999800003": (
        "Abandoned Vehicles",
        "Open",
        "Blue sedan plate 4XKT29 here since the owner (87 year old) moved",
        "326 EAST   35 STREET",
    ),
    "101999800004": (
        "Utility Call-In",
        "Open",
        "Utility Call-In",
        "71-73 Call St  Jamaica Plain  MA",
    ),
    "101999800005": (
        "Street Light Outages",
        "Open",
        "Light out, see https://photos.example.org/v?id=55&u=zed",
        "1 Dr. Ada Quimby Way  South Boston  MA  02127",
    ),
}
LEAKED = ["Crew 9", "Quimbly", "Wilbur", "Apt 4C", "4XKT29", "87 year", "id=55", "u=zed"]


@pytest.fixture
def client(tmp_path: Path, reset_dash_registries):
    settings = make_settings(tmp_path)
    rows = [
        {
            "case_enquiry_id": case_id,
            "type": type_,
            "case_status": status,
            "case_title": text,
            "location": address,
        }
        for case_id, (type_, status, text, address) in CASES.items()
    ]
    store = Store(settings.database_url)
    load_file(
        write_boston_export(tmp_path / "cases.csv", rows),
        store=store,
        settings=settings,
        progress=False,
    )
    store.dispose()
    app = create_app(replace(settings, rate_limit="1000000 per minute"))
    client = app.server.test_client()
    client.get("/healthz")
    return client


def test_the_api_and_the_portal_publish_none_of_it(client) -> None:
    ids = ",".join(CASES)
    for fmt in ("json", "xml"):
        body = client.get(
            f"{API}/requests.{fmt}?service_request_id={ids}&extensions=true"
        ).get_data(as_text=True)
        for word in LEAKED:
            assert word not in body, (fmt, word)
    items = {
        i["service_request_id"]: i
        for i in json.loads(
            client.get(f"{API}/requests.json?service_request_id={ids}").get_data(as_text=True)
        )
    }
    assert items["101999800001"]["status_notes"].startswith("Open (In Progress)")
    assert items["101999800002"]["status_notes"].startswith("Open")
    assert "(" not in items["101999800002"]["status_notes"]
    assert items["101999800003"]["address"] == "EAST 35 STREET"
    assert items["101999800004"]["description"] == "Utility Call-In"
    assert items["101999800004"]["address"] == "Call St Jamaica Plain MA"
    assert items["101999800005"]["address"] == "1 Dr. Ada Quimby Way South Boston MA 02127"
    # the portal's lookup page reads the same records
    public_app = client.application.extensions["stat311_public_app"]
    key = next(k for k in public_app.callback_map if "public-content.children" in k)
    for case_id in CASES:
        response = client.post(
            "/public/_dash-update-component",
            json={
                "output": key,
                "outputs": [
                    {"id": "public-content", "property": "children"},
                    {"id": "public-title", "property": "data"},
                ],
                "inputs": [
                    {
                        "id": "public-url",
                        "property": "pathname",
                        "value": f"/public/requests/{case_id}",
                    }
                ],
                "changedPropIds": ["public-url.pathname"],
            },
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and case_id in page
        for word in LEAKED:
            assert word not in page, (case_id, word)
