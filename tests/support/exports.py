"""Headers of real exports, for tests that build small files in code."""

from __future__ import annotations

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
