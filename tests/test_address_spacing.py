"""Addresses are stored single-spaced: Boston's `location` separates its parts with two spaces
("INTERSECTION of  Blue Hill Ave  &  Ruthven St"), which every page, CSV and the Open311 API
showed. Through the real loader; the expected text is built here with plain ``str.split``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from dashboard.store import Store
from etl.load import load_file
from tests.conftest import BOSTON_ZIP, make_settings
from tests.support.exports import write_boston_export

ADDRESSES = {
    "101000000001": "INTERSECTION of  Blue Hill Ave  &  Ruthven St",
    "101000000002": "  12   Main St\tRoxbury  MA  ",
    "101000000003": "1 City Hall Plaza",
    "101000000004": "",
}


def _stored(settings) -> dict[str, str | None]:
    with Store(settings.database_url).connect() as conn:
        rows = conn.execute(text("SELECT request_id, address FROM cases")).all()
    return dict(rows)


def test_addresses_are_stored_with_one_space_between_words(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    export = write_boston_export(
        tmp_path / "cases.csv",
        [{"case_enquiry_id": key, "location": value} for key, value in ADDRESSES.items()],
    )
    store = Store(settings.database_url)
    report = load_file(export, store=store, settings=settings, snapshot=False)
    assert report.inserted == 4
    expected = {key: " ".join(value.split()) or None for key, value in ADDRESSES.items()}
    assert _stored(settings) == expected
    again = load_file(export, store=store, settings=settings, snapshot=False)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)


def test_the_boston_sample_has_no_double_spaces_once_loaded(demo) -> None:
    settings, _ = demo
    with zipfile.ZipFile(BOSTON_ZIP) as z, z.open(z.namelist()[0]) as fh:
        raw = pd.read_csv(io.TextIOWrapper(fh, encoding="utf-8"), dtype=str, usecols=["location"])
    spaced = raw["location"].dropna().str.contains("  ", regex=False).sum()
    assert spaced > 50_000  # the export itself: nearly every address has a double space
    stored = pd.Series([a for a in _stored(settings).values() if a is not None])
    assert not stored.str.contains(r"\s\s", regex=True).any()
    assert set(stored) == {" ".join(a.split()) for a in raw["location"].dropna() if a.strip()}
