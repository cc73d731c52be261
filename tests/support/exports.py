"""Headers of real exports, for tests that build small files in code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

#: The legacy Boston 311 header (data.boston.gov, as in etl/samples/boston_311_2011.zip).
BOSTON_LEGACY_HEADER: list[str] = [
    "case_enquiry_id", "open_dt", "target_dt", "closed_dt", "ontime", "case_status",
    "closure_reason", "case_title", "subject", "reason", "type", "queue", "department",
    "submittedphoto", "closedphoto", "location", "fire_district", "pwd_district",
    "city_council_district", "police_district", "neighborhood", "neighborhood_services_district",
    "ward", "precinct", "location_street_name", "location_zipcode", "latitude", "longitude",
    "source",
]  # fmt: skip

#: The fewest legacy Boston columns a file needs to be read as that format (id, times, status,
#: type, department, channel, location): for tests that write tiny exports.
BOSTON_MINIMAL_HEADER: list[str] = [
    "case_enquiry_id", "open_dt", "target_dt", "closed_dt", "case_status", "type", "department",
    "source", "latitude", "longitude",
]  # fmt: skip


def write_boston_export(path: Path, rows: list[dict[str, str]]) -> Path:
    """A legacy Boston export at ``path``: each of ``rows`` over an open PWDx case of
    1 Sep 2011 at a located point, due 4 days later."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(BOSTON_LEGACY_HEADER)
        for values in rows:
            row = dict.fromkeys(BOSTON_LEGACY_HEADER, "")
            row.update(
                {
                    "open_dt": "2011-09-01 10:00:00",
                    "target_dt": "2011-09-05 10:00:00",
                    "case_status": "Open",
                    "department": "PWDx",
                    "latitude": "42.3300",
                    "longitude": "-71.0800",
                    "source": "Constituent Call",
                    **values,
                }
            )
            writer.writerow([row[h] for h in BOSTON_LEGACY_HEADER])
    return path


def write_open311_requests(path: Path, rows: list[dict], *, base: dict) -> Path:
    """An Open311 GeoReport v2 ``requests.json`` at ``path``: each of ``rows`` over ``base``."""
    path.write_text(json.dumps([{**base, **r} for r in rows]), encoding="utf-8")
    return path
