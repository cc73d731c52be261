"""Settings are declared once and every one is documented in the README."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from dashboard.errors import ConfigError
from dashboard.settings import SETTINGS, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_settings() -> dict[str, str]:
    """``{ENV: default}`` from the README's settings table."""
    text = README.read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(STAT311_[A-Z_]+)` \| (?:`([^`]*)`|\(empty\)) \|", section, flags=re.M)
    return dict(rows)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = readme_settings()
    declared = {s.env: s.default for s in SETTINGS}
    assert documented == declared


def test_declarations_match_the_dataclass() -> None:
    assert {f.name for f in fields(Settings)} - {"extra"} == {s.name for s in SETTINGS}


def test_defaults_parse_to_the_dataclass_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_parsed() -> None:
    s = Settings.from_env(
        {
            "STAT311_CITY_BOUNDS": "-71.2,42.2,-70.9,42.4",
            "STAT311_DEFAULT_GEOCODES": "42.3594,-71.0587;40.7128,-74.0060",
            "STAT311_PORT": "9000",
            "STAT311_DEBUG": "yes",
            "STAT311_TIMEZONE": "America/Chicago",
        }
    )
    assert s.city_bounds == (-71.2, 42.2, -70.9, 42.4)
    assert s.default_geocodes == ((42.3594, -71.0587), (40.7128, -74.006))
    assert s.port == 9000 and s.debug is True and s.timezone == "America/Chicago"


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("STAT311_TIMEZONE", "Mars/Olympus"),
        ("STAT311_CITY_BOUNDS", "1,2,3"),
        ("STAT311_CITY_BOUNDS", "-70,42,-71,43"),
        ("STAT311_PORT", "-1"),
        ("STAT311_DEBUG", "maybe"),
        ("STAT311_LOG_LEVEL", "LOUD"),
        ("STAT311_DATABASE_URL", "nonsense"),
        ("STAT311_DATABASE_URL", "nosuchdb://host/db"),
    ],
)
def test_invalid_values_name_the_setting(env: str, value: str) -> None:
    with pytest.raises(ConfigError, match=env):
        Settings.from_env({env: value})
