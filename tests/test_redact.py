"""Redaction of personal data, and the public side's other privacy helpers (no app needed)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import h3.api.basic_int as h3i
import pandas as pd
import pytest

from dashboard.errors import ConfigError
from dashboard.public import (
    DEFAULT_EXACT_TYPES,
    PublicConfig,
    cell_centre,
    generalise_address,
    public_point,
)
from dashboard.redact import (
    EMAIL_MARK,
    HANDLE_MARK,
    MAX_LENGTH,
    NAME_MARK,
    NUMBER_MARK,
    PHONE_MARK,
    redact,
    xml_safe,
)

PHONES = [
    "(617) 555-0142",
    "617-555-0143",
    "617.555.0144",
    "617 555 0145",
    "+1 617 555 0146",
    "1-617-555-0147",
    "6175550148",
    "617/555-0149",
    "(617)555-0150 ext. 12",
    "555-0151",
    "+44 20 7946 0958",
    "+353-1-555-0100",
    "６１７−５５５−０１５２",  # full-width digits (NFKC)
    "617\u200b555\u200b0153",  # zero-width spaces
    "617555O154",  # a letter O typed for a zero
    "6l7-555-0I55",  # l and I typed for ones
]
EMAILS = [
    "jane.doe@example.org",
    "J.Doe+311@mail.example.co.uk",
    "o'brien@example.com",
    "jane (at) example (dot) com",
    "jane at example dot org",
    "jane [at] example [dot] net",
    "jane @ example.com",  # spaces around the @
    "jane.doe at gmail",  # a big provider, no domain
    "jane_d (at) hotmail",
]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_in_many_formats_are_removed(phone: str) -> None:
    out = redact(f"Please call me on {phone} after 5pm, thanks")
    assert PHONE_MARK in out
    digits = "".join(ch for ch in out if ch.isdigit())
    assert digits in {"5"}, out  # only the "5" of "5pm" is left


@pytest.mark.parametrize("email", EMAILS)
def test_email_addresses_are_removed(email: str) -> None:
    out = redact(f"Reply to {email} please")
    assert out == f"Reply to {EMAIL_MARK} please"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("My name is Zebulon Quixby and I live here", ["Zebulon", "Quixby"], "and I live here"),
        ("my name is marigold fennimore, call back", ["marigold", "fennimore"], ", call back"),
        ("Hi, my name's Ada. Pothole on corner", ["Ada"], "Pothole on corner"),
        ("Name: Ottoline Vanterpool", ["Ottoline", "Vanterpool"], "Name:"),
        ("Please contact Brunhilde Oakenshaw for access", ["Brunhilde"], "for access"),
        ("Contact person: Ezra Pound-Smith", ["Ezra", "Pound-Smith"], "Contact person:"),
        ("Ask for Mr. Tumnus at the door", ["Tumnus"], "at the door"),
        ("Thanks, Winifred", ["Winifred"], "Thanks,"),
        ("This is Ignatius Reilly calling about trash", ["Ignatius"], "calling about trash"),
        ("Reported by Mrs O'Leary", ["O'Leary"], "Reported by"),
        ("Name - Perpetua Glossop, cell", ["Perpetua", "Glossop"], ", cell"),
    ],
)
def test_names_after_the_usual_phrases_are_removed(text: str, gone: list[str], kept: str) -> None:
    out = redact(text)
    assert NAME_MARK in out
    for word in gone:
        assert word not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "Street Light Outages",
        "Pothole in front of 39 Lorraine St, about 2 ft wide",
        "please contact the city about the tree",
        "This is a recurring problem since 2011-07-01 10:00",
        "I am concerned about the broken sign",
        "Case 101000295613 was a duplicate",
        "Dimensions 12.5-13.4 m, 3 bags",
        "meet the crew @ 5.30 pm",
        "I was yelled at by the crew at the yard",
        "one two three four bags of leaves",
        "Apollo 1100 Main",
        "Lot 10-11 of plan 2011-07",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_spelled_out_phone_numbers_and_social_security_numbers_are_removed() -> None:
    spelled = redact("cell six one seven five five five zero one four two, after five")
    assert spelled == f"cell {PHONE_MARK}, after five"
    oh = redact("Call Six-One-Seven, Five Five Five, Oh One Four Two")
    assert "Five" not in oh and PHONE_MARK in oh
    assert redact("ssn 123-45-6789 on file") == f"ssn {NUMBER_MARK} on file"


def test_handles_control_characters_and_length() -> None:
    assert redact("tweet from @planted_handle about graffiti") == (
        f"tweet from {HANDLE_MARK} about graffiti"
    )
    assert redact("a\x00b\x1bc\nd\te") == "abc d e"
    assert redact(None) is None
    assert redact("") == ""
    long = redact("x" * 5000)
    assert len(long) == MAX_LENGTH and long.endswith("…")
    # Everything redact returns can go in XML.
    cleaned = xml_safe(redact("bad \x01 \ufffe chars " + chr(0xD800)))
    assert ET.fromstring("<a>" + cleaned + "</a>").text == "bad chars"


def test_xml_safe_drops_only_what_xml_cannot_carry() -> None:
    assert xml_safe("ok\tü\n€\U0001f600\x00\x0b\ufffe") == "ok\tü\n€\U0001f600"


def test_addresses_lose_house_numbers_and_units() -> None:
    assert generalise_address("39 Lorraine St  Roslindale  MA  02131") == (
        "Lorraine St Roslindale MA 02131"
    )
    assert generalise_address("12-14 Main St Apt 3B Boston MA") == "Main St Boston MA"
    assert generalise_address("8A Elm Ave #4 Dorchester") == "Elm Ave Dorchester"
    assert generalise_address("INTERSECTION of Corey St & Lagrange St") == (
        "INTERSECTION of Corey St & Lagrange St"
    )
    assert generalise_address("") is None
    assert generalise_address(None) is None


@pytest.mark.parametrize(
    ("address", "published"),
    [
        # house numbers with letters, ranges and oddities from Boston's own exports
        ("27hf Priscilla Rd Brighton MA 02135", "Priscilla Rd Brighton MA 02135"),
        ("67-67HF Hillside St Mission Hill MA 02120", "Hillside St Mission Hill MA 02120"),
        ("45 X-47 Fulda St Roxbury MA 02119", "Fulda St Roxbury MA 02119"),
        ("Norway Maple (83 Lewiston St)", "Norway Maple (Lewiston St)"),
        # a number anywhere, not only at the start
        ("Apt 4B, 12 Elm St Roxbury MA 02119", "Elm St Roxbury MA 02119"),
        ("Roxbury, 14 Elm St, MA 02119", "Roxbury, Elm St, MA 02119"),
        ("No. 16 Elm St", "Elm St"),
        ("Elm St 18", "Elm St"),
        ("12345 Main St", "Main St"),
        ("42.35, -71.06", None),
        # what is kept: street names with numbers, road numbers, a ZIP code at the end
        ("W 4th St South Boston MA 02127", "W 4th St South Boston MA 02127"),
        ("INTERSECTION of 5th St & E 2nd St", "INTERSECTION of 5th St & E 2nd St"),
        ("Route 28 & Blue Hill Ave", "Route 28 & Blue Hill Ave"),
        ("I-93 N Boston", "I-93 N Boston"),
        ("123 Main St, 02118", "Main St, 02118"),
    ],
)
def test_addresses_lose_every_house_number_wherever_it_is(address: str, published: str) -> None:
    assert generalise_address(address) == published


def test_no_published_address_of_the_bundled_sample_keeps_a_house_number() -> None:
    """Every address of the real Boston 2011 sample, generalised: no word with a digit is left
    but street names with numbers ("4th") and the ZIP code."""
    import zipfile

    from dashboard.cli import DEMO_CASES

    with zipfile.ZipFile(DEMO_CASES) as archive:
        frame = pd.read_csv(archive.open(archive.namelist()[0]), dtype=str, usecols=["location"])
    addresses = frame["location"].dropna().unique()
    assert len(addresses) > 10_000
    with_number = [a for a in addresses if re.match(r"\s*\d", a)]
    assert len(with_number) > 5_000  # most of them start with a house number
    left = []
    for address in addresses:
        for word in (generalise_address(address) or "").split():
            core = word.strip(",.;:()[]")
            if re.search(r"\d", core) and not re.fullmatch(r"\d+(?:st|nd|rd|th)|\d{5}", core, re.I):
                left.append((address, generalise_address(address)))
    assert left == []


def test_public_points_are_cell_centres_except_exact_types() -> None:
    config = PublicConfig()
    lat, lon = 42.283110, -71.123840
    cell = h3i.latlng_to_cell(lat, lon, 9)
    exact = public_point(
        service_name="Street Light Outages",
        lat=lat,
        lon=lon,
        cell=cell,
        location_quality="exact",
        config=config,
    )
    assert exact == (lat, lon, "exact")
    snapped = public_point(
        service_name="Graffiti Removal",
        lat=lat,
        lon=lon,
        cell=cell,
        location_quality="exact",
        config=config,
    )
    assert snapped[:2] == cell_centre(cell) and snapped[2] == "cell"
    assert snapped[:2] != (lat, lon)
    # Sensitive beats exact, a default geocode has no published point.
    both = PublicConfig(
        exact_types=frozenset({"Bed Bugs"}), sensitive_types=frozenset({"Bed Bugs"})
    )
    assert not both.is_exact("Bed Bugs")
    assert public_point(
        service_name="Street Light Outages",
        lat=lat,
        lon=lon,
        cell=cell,
        location_quality="default_geocode",
        config=config,
    ) == (None, None, "none")
    assert cell_centre(12345) is None  # not a cell


def test_config_from_environment() -> None:
    config = PublicConfig.from_env({})
    assert config.exact_types == frozenset(DEFAULT_EXACT_TYPES.split(","))
    assert "Unsatisfactory Living Conditions" in config.sensitive_types
    assert config.rate_limit == "120 per minute" and config.redis_url == ""
    custom = PublicConfig.from_env(
        {
            "STAT311_PUBLIC_EXACT_TYPES": " A , B ,,",
            "STAT311_PUBLIC_SENSITIVE_TYPES": "",
            "STAT311_RATE_LIMIT": "10/second;1000/day",
            "STAT311_REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert custom.exact_types == {"A", "B"} and custom.sensitive_types == frozenset()
    with pytest.raises(ConfigError, match="STAT311_RATE_LIMIT"):
        PublicConfig.from_env({"STAT311_RATE_LIMIT": "lots"})
    with pytest.raises(ConfigError, match="STAT311_REDIS_URL"):
        PublicConfig.from_env({"STAT311_REDIS_URL": "cache:6379"})
