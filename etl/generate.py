"""Synthetic 311 exports in the real export formats: ``stat311 generate``.

``stat311 generate --cases N --out PATH [--format boston|nyc] [--seed S]`` writes N requests as a
Boston (legacy data.boston.gov schema) or NYC (NYC Open Data, 41 + 5 columns) CSV, gzip-compressed
when PATH ends with ``.gz``. What makes the cases look like a city's:

- **Where**: city-shaped spatial clusters over the bundled boundaries (Boston neighbourhoods, NYC
  community districts). Cluster centres are sampled uniformly inside the polygons, weighted by a
  Zipf law, and every request type reweights them (each type has its own hotspots); cases spread
  around a centre with a Gaussian (a share sits exactly on the centre's address: repeat
  locations); the rest is a uniform background inside the polygons. Every point is drawn by
  vectorised rejection sampling (:func:`shapely.contains_xy` on prepared polygons), so it lies
  inside an area, and the area fills the export's district columns.
- **What**: ~40 realistic request types with their departments, a skewed (Zipf-like) mix that moves
  with the season (heat and snow in winter, noise and fireworks in summer) and with the time of day.
- **When**: daily, weekly and seasonal cycles, holidays, a slow growth trend, day-to-day noise and a
  few storm days; close times drawn per type from a lognormal; due (target) times per type; an
  open backlog (cases still open at the export time, and a share per type that is never closed).
- **How**: intake channels per city (call, web, app, employee...).
- **Dirt**: 2-5% of cases without usable coordinates (Boston: City Hall's default geocode or empty;
  NYC: empty) and ~0.01% malformed rows, spread evenly over missing id, unparseable open date,
  closed before opened and wrong field count (the loader's four quarantine reasons).

The output is deterministic: the same arguments give the same bytes. Rows are generated and written
in chunks of :data:`CHUNK_ROWS` (each with its own random stream derived from the seed and the
chunk number), so 10M rows never sit in memory; every global ingredient (clusters, the time
intensity, where the malformed rows go) is small and computed once. Rows are in time order.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from dashboard.argtypes import positive_count
from dashboard.errors import InputFileError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
BOSTON_BOUNDARIES = ROOT / "geodata" / "samples" / "boston_neighborhoods.geojson"
NYC_BOUNDARIES = ROOT / "tests" / "data" / "community_districts.geojson"

FORMATS = ("boston", "nyc")
#: Rows per chunk: generated, serialised and written together. Part of what fixes the bytes.
CHUNK_ROWS = 100_000
#: Share of malformed rows (quarantined by the loader), spread over the four kinds.
MALFORMED_RATE = 1e-4
#: The loader's quarantine reasons, in the order malformed rows cycle through them.
MALFORMED_KINDS = (
    "missing_request_id",
    "unparseable_requested_at",
    "closed_before_requested",
    "wrong_field_count",
)
BOSTON_CITY_HALL = (42.3594, -71.0587)

BOSTON_HEADER = [
    "case_enquiry_id", "open_dt", "target_dt", "closed_dt", "ontime", "case_status",
    "closure_reason", "case_title", "subject", "reason", "type", "queue", "department",
    "submittedphoto", "closedphoto", "location", "fire_district", "pwd_district",
    "city_council_district", "police_district", "neighborhood", "neighborhood_services_district",
    "ward", "precinct", "location_street_name", "location_zipcode", "latitude", "longitude",
    "source",
]  # fmt: skip

NYC_HEADER = [
    "Unique Key", "Created Date", "Closed Date", "Agency", "Agency Name", "Complaint Type",
    "Descriptor", "Location Type", "Incident Zip", "Incident Address", "Street Name",
    "Cross Street 1", "Cross Street 2", "Intersection Street 1", "Intersection Street 2",
    "Address Type", "City", "Landmark", "Facility Type", "Status", "Due Date",
    "Resolution Description", "Resolution Action Updated Date", "Community Board", "BBL",
    "Borough", "X Coordinate (State Plane)", "Y Coordinate (State Plane)",
    "Open Data Channel Type", "Park Facility Name", "Park Borough", "Vehicle Type",
    "Taxi Company Borough", "Taxi Pick Up Location", "Bridge Highway Name",
    "Bridge Highway Direction", "Road Ramp", "Bridge Highway Segment", "Latitude", "Longitude",
    "Location", "Zip Codes", "Community Districts", "Borough Boundaries", "City Council Districts",
    "Police Precincts",
]  # fmt: skip


# -- request types ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestType:
    """One request type and how it behaves."""

    name: str
    department: str
    group: str  # Boston ``reason``; NYC descriptors joined with "|"
    weight: float  # relative volume
    close_median_h: float  # median hours to close (lognormal)
    close_sigma: float  # lognormal sigma of the hours to close
    target_h: float | None  # due time after opening (None: no due time)
    peak_month: int  # the month of most requests
    seasonality: float  # amplitude of the seasonal cycle (>1: only in season)
    profile: str  # time-of-day profile, a key of _PROFILES
    never_closed: float  # share never closed (the stale backlog)
    employee: bool = False  # mostly employee generated (internal work orders)
    location_type: str = ""  # NYC ``Location Type``


# (daypart factors for 0-6h, 6-12h, 12-18h, 18-24h; weekend factor)
_PROFILES: dict[str, tuple[tuple[float, float, float, float], float]] = {
    "office": ((0.15, 1.3, 1.1, 0.45), 0.6),
    "street": ((0.4, 1.1, 1.1, 0.9), 0.9),
    "always": ((0.7, 1.0, 1.0, 1.0), 1.0),
    "night": ((2.5, 0.35, 0.6, 1.8), 1.8),
}

_T = RequestType
BOSTON_TYPES: tuple[RequestType, ...] = (
    _T("Schedule a Bulk Item Pickup", "PWDx", "Sanitation", 120, 60, 0.6, 96, 9, 0.3, "office", 0.005),
    _T("Street Light Outages", "PWDx", "Street Lights", 50, 96, 1.2, 336, 11, 0.25, "office", 0.02),
    _T("Request for Pothole Repair", "PWDx", "Highway Maintenance", 40, 40, 1.1, 72, 3, 0.7, "street", 0.01),
    _T("Missed Trash/Recycling/Yard Waste/Bulk Item", "PWDx", "Sanitation", 35, 20, 0.9, 48, 7, 0.2, "office", 0.005),
    _T("Parking Enforcement", "BTDT", "Enforcement & Abandoned Vehicles", 34, 2.5, 1.0, 12, 6, 0.1, "street", 0.002),
    _T("Pothole Repair (Internal)", "PWDx", "Highway Maintenance", 30, 6, 1.0, 72, 3, 0.7, "office", 0.0, True),
    _T("Unsatisfactory Living Conditions", "ISD", "Housing", 24, 300, 1.2, 720, 1, 0.15, "office", 0.04),
    _T("Improper Storage of Trash (Barrels)", "PWDx", "Code Enforcement", 22, 72, 1.0, 168, 7, 0.3, "office", 0.01),
    _T("Requests for Street Cleaning", "PWDx", "Street Cleaning", 20, 24, 1.0, 72, 5, 0.3, "street", 0.005),
    _T("Tree Emergencies", "PARK", "Trees", 18, 30, 1.3, 72, 8, 0.6, "always", 0.01),
    _T("Tree Maintenance Requests", "PARK", "Trees", 17, 800, 1.1, 2160, 6, 0.3, "office", 0.06),
    _T("Graffiti Removal", "PROP", "Graffiti", 17, 200, 1.3, 168, 7, 0.3, "office", 0.03),
    _T("Highway Maintenance", "PWDx", "Highway Maintenance", 16, 96, 1.4, 336, 4, 0.3, "office", 0.02, True),
    _T("Needle Pickup", "PWDx", "Street Cleaning", 15, 3, 1.0, 24, 8, 0.3, "always", 0.0),
    _T("General Comments For a Program or Policy", "INFO", "Employee & General Comments", 14, 60, 1.5, 240, 6, 0.0, "office", 0.02),
    _T("Request for Snow Plowing", "PWDx", "Snow Removal", 12, 18, 1.0, 48, 1, 3.0, "always", 0.005),
    _T("Sidewalk Repair (Make Safe)", "PWDx", "Highway Maintenance", 12, 150, 1.2, 336, 4, 0.3, "office", 0.03),
    _T("Request for Recycling Cart", "PWDx", "Recycling", 12, 170, 0.9, 336, 4, 0.2, "office", 0.01),
    _T("Sticker Request", "PWDx", "Recycling", 11, 120, 0.8, 336, 9, 0.2, "office", 0.005),
    _T("Traffic Signal Repair", "BTDT", "Signs & Signals", 10, 8, 1.2, 48, 7, 0.1, "always", 0.005),
    _T("Abandoned Vehicles", "BTDT", "Enforcement & Abandoned Vehicles", 10, 100, 1.1, 168, 5, 0.2, "street", 0.02),
    _T("Pick up Dead Animal", "PWDx", "Street Cleaning", 8, 6, 1.0, 48, 7, 0.4, "always", 0.0),
    _T("Rodent Activity", "ISD", "Environmental Services", 8, 180, 1.1, 336, 7, 0.6, "office", 0.02),
    _T("Sidewalk Repair", "PWDx", "Highway Maintenance", 7, 500, 1.2, 1440, 5, 0.3, "office", 0.05),
    _T("Heat - Excessive  Insufficient", "ISD", "Housing", 7, 40, 1.0, 72, 1, 1.5, "always", 0.01),
    _T("Sign Repair", "BTDT", "Signs & Signals", 5, 240, 1.2, 720, 4, 0.2, "office", 0.02),
    _T("Building Inspection Request", "ISD", "Building", 5, 340, 1.1, 720, 5, 0.2, "office", 0.03),
    _T("New Tree Requests", "PARK", "Trees", 4, 1500, 1.0, 4320, 4, 0.5, "office", 0.08),
    _T("New Sign  Crosswalk or Pavement Marking", "BTDT", "Signs & Signals", 4, 500, 1.1, 1080, 5, 0.2, "office", 0.04),
    _T("Work w/out Permit", "ISD", "Building", 4, 240, 1.1, 720, 6, 0.2, "office", 0.02),
    _T("Unsafe Dangerous Conditions", "ISD", "Building", 4, 120, 1.2, 336, 3, 0.2, "always", 0.02),
    _T("Missing Sign", "BTDT", "Signs & Signals", 3, 200, 1.1, 720, 4, 0.2, "office", 0.02),
    _T("Street Light Knock Downs", "PWDx", "Street Lights", 3, 240, 1.1, 720, 1, 0.3, "always", 0.03),
    _T("Bed Bugs", "ISD", "Housing", 3, 200, 1.0, 720, 8, 0.5, "office", 0.02),
    _T("Unsanitary Conditions - Establishment", "ISD", "Health", 2, 100, 1.0, 336, 7, 0.3, "office", 0.01),
    _T("Mice Infestation - Residential", "ISD", "Housing", 2, 200, 1.0, 720, 11, 0.4, "office", 0.02),
    _T("Electrical", "ISD", "Building", 2, 240, 1.1, 720, 6, 0.1, "office", 0.02),
    _T("Public Works General Request", "PWDx", "Administrative & General Requests", 2, 100, 1.4, None, 6, 0.1, "office", 0.03),
    _T("Notification", "INFO", "Notification", 2, 1, 1.0, None, 6, 0.0, "office", 0.0, True),
)  # fmt: skip

NYC_TYPES: tuple[RequestType, ...] = (
    _T("Illegal Parking", "NYPD", "Blocked Hydrant|Posted Parking Sign Violation|Commercial Overnight Parking|Blocked Bike Lane|Blocked Sidewalk|Double Parked Blocking Traffic|Blocked Crosswalk", 60, 3, 1.0, None, 6, 0.1, "street", 0.0, location_type="Street/Sidewalk"),
    _T("Noise - Residential", "NYPD", "Banging/Pounding|Loud Music/Party|Loud Talking", 55, 2, 0.9, None, 7, 0.5, "night", 0.0, location_type="Residential Building/House"),
    _T("HEAT/HOT WATER", "HPD", "ENTIRE BUILDING|APARTMENT ONLY", 45, 70, 1.0, None, 1, 2.0, "always", 0.005, location_type="RESIDENTIAL BUILDING"),
    _T("Blocked Driveway", "NYPD", "No Access|Partial Access", 25, 3, 1.0, None, 6, 0.1, "street", 0.0, location_type="Street/Sidewalk"),
    _T("Request Large Bulky Item Collection", "DSNY", "Request Large Bulky Item Collection", 25, 70, 0.5, 120, 9, 0.2, "office", 0.005, location_type="Sidewalk"),
    _T("Noise - Street/Sidewalk", "NYPD", "Loud Music/Party|Loud Talking", 18, 2, 0.9, None, 7, 0.9, "night", 0.0, location_type="Street/Sidewalk"),
    _T("Street Condition", "DOT", "Pothole|Cave-in|Defective Hardware|Rough, Pitted or Cracked Roads", 18, 60, 1.2, 240, 3, 0.6, "street", 0.02),
    _T("UNSANITARY CONDITION", "HPD", "PESTS|MOLD|GARBAGE/RECYCLING STORAGE", 16, 300, 1.0, None, 8, 0.2, "office", 0.03, location_type="RESIDENTIAL BUILDING"),
    _T("Water System", "DEP", "Hydrant Running (WC3)|No Water (WNW)|Leak (Use Comments) (WA2)", 15, 12, 1.3, 48, 7, 0.3, "always", 0.01),
    _T("Noise - Commercial", "NYPD", "Loud Music/Party|Banging/Pounding", 12, 2, 0.9, None, 7, 0.4, "night", 0.0, location_type="Club/Bar/Restaurant"),
    _T("Noise - Vehicle", "NYPD", "Car/Truck Music|Engine Idling|Car/Truck Horn", 10, 2, 0.9, None, 7, 0.6, "night", 0.0, location_type="Street/Sidewalk"),
    _T("PAINT/PLASTER", "HPD", "WALL|CEILING", 10, 400, 1.0, None, 2, 0.3, "office", 0.04, location_type="RESIDENTIAL BUILDING"),
    _T("PLUMBING", "HPD", "BASIN/SINK|WATER SUPPLY|TOILET", 10, 300, 1.0, None, 1, 0.3, "office", 0.03, location_type="RESIDENTIAL BUILDING"),
    _T("Dirty Condition", "DSNY", "Trash|Dumping|Litter", 9, 90, 1.1, 168, 7, 0.3, "street", 0.02, location_type="Sidewalk"),
    _T("Abandoned Vehicle", "NYPD", "With License Plate|No License Plates", 9, 48, 1.2, None, 6, 0.2, "street", 0.01, location_type="Street/Sidewalk"),
    _T("Sewer", "DEP", "Catch Basin Clogged/Flooding (Use Comments) (SC)|Sewer Backup (Use Comments) (SA)", 8, 20, 1.2, 72, 8, 0.4, "always", 0.01),
    _T("Traffic Signal Condition", "DOT", "Controller|LED Lense|Ped Multiple Lamps", 8, 6, 1.2, 48, 7, 0.1, "always", 0.005),
    _T("Street Light Condition", "DOT", "Street Light Out|Lamppost Damaged|Street Light Cycling", 8, 200, 1.2, 720, 11, 0.3, "office", 0.03),
    _T("Noise", "DEP", "Noise: Construction Before/After Hours (NM1)|Noise: Jack Hammering (NC2)", 7, 150, 1.0, 240, 6, 0.3, "office", 0.02),
    _T("Sidewalk Condition", "DOT", "Sidewalk Violation|Broken Sidewalk", 6, 400, 1.2, 1440, 5, 0.3, "office", 0.04),
    _T("Rodent", "DOHMH", "Rat Sighting|Mouse Sighting|Condition Attracting Rodents", 6, 300, 1.1, 720, 7, 0.5, "office", 0.03),
    _T("Damaged Tree", "DPR", "Branch Cracked and Will Fall|Tree Leaning/Uprooted|Entire Tree Has Fallen Down", 6, 120, 1.3, 240, 8, 0.6, "always", 0.02, location_type="Street"),
    _T("DOOR/WINDOW", "HPD", "DOOR|WINDOW FRAME|WINDOW GUARD BROKEN/MISSING", 6, 400, 1.0, None, 1, 0.2, "office", 0.04, location_type="RESIDENTIAL BUILDING"),
    _T("WATER LEAK", "HPD", "HEAVY FLOW|SLOW LEAK", 6, 300, 1.0, None, 2, 0.2, "always", 0.03, location_type="RESIDENTIAL BUILDING"),
    _T("Graffiti", "DSNY", "Graffiti", 5, 500, 1.2, 1440, 7, 0.3, "office", 0.05),
    _T("Derelict Vehicles", "DSNY", "Derelict Vehicles", 5, 300, 1.0, 720, 6, 0.2, "street", 0.03, location_type="Street"),
    _T("General Construction/Plumbing", "DOB", "Building Permit - None|Plumbing Work - Illegal/No Permit", 5, 700, 1.2, None, 6, 0.2, "office", 0.05),
    _T("Encampment", "NYPD", "N/A", 4, 4, 1.0, None, 7, 0.3, "always", 0.0, location_type="Street/Sidewalk"),
    _T("Homeless Person Assistance", "DHS", "Chronic|Non-Chronic", 4, 3, 1.0, None, 1, 0.5, "always", 0.0, location_type="Street/Sidewalk"),
    _T("Non-Emergency Police Matter", "NYPD", "Trespassing|Other (complaint)|Panhandling", 4, 3, 1.0, None, 7, 0.2, "always", 0.0),
    _T("ELECTRIC", "HPD", "POWER OUTAGE|WIRING|OUTLET/SWITCH", 4, 250, 1.0, None, 7, 0.2, "office", 0.03, location_type="RESIDENTIAL BUILDING"),
    _T("Elevator", "DOB", "Elevator - Defective/Not Working", 3, 500, 1.1, None, 6, 0.1, "office", 0.04),
    _T("Building/Use", "DOB", "Illegal Conversion Of Residential Bldg/Space", 3, 900, 1.2, None, 6, 0.1, "office", 0.06),
    _T("Consumer Complaint", "DCWP", "Non-Delivery Goods/Services|False Advertising|Price Gouging", 3, 600, 1.0, None, 12, 0.2, "office", 0.03),
    _T("For Hire Vehicle Complaint", "TLC", "Driver Complaint - Non Passenger|Driver Complaint - Passenger", 3, 900, 0.8, None, 6, 0.1, "office", 0.02),
    _T("Illegal Fireworks", "NYPD", "N/A", 3, 2, 0.8, None, 7, 4.0, "night", 0.0, location_type="Street/Sidewalk"),
    _T("Snow or Ice", "DSNY", "Snow/Ice|Icy Sidewalk", 3, 40, 1.0, 72, 1, 4.0, "always", 0.01, location_type="Sidewalk"),
    _T("Air Quality", "DEP", "Air: Odor/Fumes, Vehicle Idling (AD3)|Air: Smoke, Residential (AA1)", 2, 200, 1.0, 240, 7, 0.3, "office", 0.02),
    _T("New Tree Request", "DPR", "For One Address", 2, 3000, 0.8, 8760, 4, 0.5, "office", 0.1, location_type="Street"),
)  # fmt: skip
del _T

BOSTON_SUBJECTS = {
    "PWDx": "Public Works Department",
    "BTDT": "Transportation - Traffic Division",
    "ISD": "Inspectional Services",
    "PARK": "Parks & Recreation Department",
    "PROP": "Property Management",
    "INFO": "Mayor's 24 Hour Hotline",
}
NYC_AGENCIES = {
    "NYPD": "New York City Police Department",
    "HPD": "Department of Housing Preservation and Development",
    "DOT": "Department of Transportation",
    "DSNY": "Department of Sanitation",
    "DEP": "Department of Environmental Protection",
    "DOHMH": "Department of Health and Mental Hygiene",
    "DPR": "Department of Parks and Recreation",
    "DOB": "Department of Buildings",
    "DCWP": "Department of Consumer and Worker Protection",
    "TLC": "Taxi and Limousine Commission",
    "DHS": "Department of Homeless Services",
}
NYC_RESOLUTIONS = {
    "NYPD": "The Police Department responded to the complaint and took action to fix the condition.",
    "HPD": "The Department of Housing Preservation and Development inspected the following "
    "conditions. No violations were issued. The complaint has been closed.",
    "DOT": "The Department of Transportation inspected this complaint and repaired the problem.",
    "DSNY": "The Department of Sanitation investigated this complaint and found no violation at "
    "the location.",
    "DEP": "The Department of Environmental Protection investigated this complaint and shut the "
    "running hydrant.",
    "DOHMH": "The Department of Health and Mental Hygiene will review your complaint to determine "
    "appropriate action.",
    "DPR": "NYC Parks visited the site and completed the requested work.",
    "DOB": "The Department of Buildings reviewed this complaint and closed it.",
    "DCWP": "The Department of Consumer and Worker Protection mediated your complaint.",
    "TLC": "The TLC has reviewed your complaint and taken appropriate action.",
    "DHS": "The Department of Homeless Services sent an outreach team to the location.",
}

BOSTON_CHANNELS = {
    "Constituent Call": 0.42,
    "Citizens Connect App": 0.2,
    "Self Service": 0.15,
    "Employee Generated": 0.18,
    "City Worker App": 0.04,
    "Twitter": 0.01,
}
NYC_CHANNELS = {"ONLINE": 0.4, "PHONE": 0.32, "MOBILE": 0.15, "UNKNOWN": 0.12, "OTHER": 0.01}

BOSTON_ZIPS = {
    "Allston": "02134",
    "Back Bay": "02116",
    "Bay Village": "02116",
    "Beacon Hill": "02108",
    "Brighton": "02135",
    "Charlestown": "02129",
    "Chinatown": "02111",
    "Dorchester": "02122 02124 02125 02121",
    "Downtown": "02109 02110",
    "East Boston": "02128",
    "Fenway": "02215",
    "Harbor Islands": "02109",
    "Hyde Park": "02136",
    "Jamaica Plain": "02130",
    "Leather District": "02111",
    "Longwood Medical Area": "02115",
    "Mattapan": "02126",
    "Mission Hill": "02120",
    "North End": "02113",
    "Roslindale": "02131",
    "Roxbury": "02119",
    "South Boston": "02127",
    "South Boston Waterfront": "02210",
    "South End": "02118",
    "West End": "02114",
    "West Roxbury": "02132",
}
BOSTON_STREETS = (
    "Washington St", "Blue Hill Ave", "Dorchester Ave", "Commonwealth Ave", "Tremont St",
    "Centre St", "Hyde Park Ave", "Massachusetts Ave", "Columbia Rd", "Boylston St",
    "Beacon St", "Cambridge St", "Adams St", "Harrison Ave", "River St", "Hancock St",
    "Bennington St", "Saratoga St", "Meridian St", "Broadway", "E Broadway", "W Broadway",
    "Dudley St", "Warren St", "Geneva Ave", "Bowdoin St", "Norfolk St", "Talbot Ave",
    "Morton St", "American Legion Hwy", "Cummins Hwy", "South St", "Belgrade Ave", "Lagrange St",
    "Corey St", "Brighton Ave", "Harvard Ave", "Chestnut Hill Ave", "Market St", "Shawmut Ave",
    "Columbus Ave", "Huntington Ave", "Boylston St", "Newbury St", "Charles St", "Hanover St",
    "Salem St", "Main St", "Bunker Hill St", "Medford St", "Summer St", "Congress St",
    "Seaport Blvd", "Fairmount Ave", "Cummins Hwy", "Lorraine St", "Walk Hill St", "Canterbury St",
    "Ashmont St", "Neponset Ave", "Gallivan Blvd", "Quincy St", "Glenway St", "Heath St",
    "Parker Hill Ave", "Tremont St", "Lamartine St", "Boylston St", "Green St", "Orchard Rd",
)  # fmt: skip
NYC_STREETS = (
    "BROADWAY", "AMSTERDAM AVENUE", "WEST 181 STREET", "EAST 156 STREET", "GRAND CONCOURSE",
    "FLATBUSH AVENUE", "ATLANTIC AVENUE", "NOSTRAND AVENUE", "FULTON STREET", "EASTERN PARKWAY",
    "OCEAN AVENUE", "KINGS HIGHWAY", "ROCKAWAY BOULEVARD", "QUEENS BOULEVARD", "NORTHERN BOULEVARD",
    "ROOSEVELT AVENUE", "JAMAICA AVENUE", "HILLSIDE AVENUE", "MAIN STREET", "31 AVENUE",
    "37 AVENUE", "STEINWAY STREET", "VICTORY BOULEVARD", "HYLAN BOULEVARD", "RICHMOND AVENUE",
    "FOREST AVENUE", "WESTCHESTER AVENUE", "SOUTHERN BOULEVARD", "FORDHAM ROAD", "JEROME AVENUE",
    "WEBSTER AVENUE", "BOSTON ROAD", "WHITE PLAINS ROAD", "CAULDWELL AVENUE", "LEXINGTON AVENUE",
    "3 AVENUE", "2 AVENUE", "1 AVENUE", "PARK AVENUE", "MADISON AVENUE", "5 AVENUE",
    "8 AVENUE", "10 AVENUE", "11 AVENUE", "WEST 22 STREET", "EAST 14 STREET", "WEST 42 STREET",
    "ST NICHOLAS AVENUE", "FT WASHINGTON AVENUE", "DYCKMAN STREET", "BEDFORD AVENUE",
    "MYRTLE AVENUE", "DEKALB AVENUE", "UTICA AVENUE", "CHURCH AVENUE", "CONEY ISLAND AVENUE",
    "BAY PARKWAY", "86 STREET", "LIBERTY AVENUE", "SUTPHIN BOULEVARD", "MERRICK BOULEVARD",
    "BEACH 101 STREET", "SHORE FRONT PARKWAY", "UNION TURNPIKE", "FRANCIS LEWIS BOULEVARD",
)  # fmt: skip
NYC_BOROUGHS = {1: "MANHATTAN", 2: "BRONX", 3: "BROOKLYN", 4: "QUEENS", 5: "STATEN ISLAND"}
NYC_CITIES = {1: "NEW YORK", 2: "BRONX", 3: "BROOKLYN", 5: "STATEN ISLAND"}
NYC_QUEENS_CITIES = (
    "ASTORIA", "LONG ISLAND CITY", "JACKSON HEIGHTS", "ELMHURST", "RIDGEWOOD", "FOREST HILLS",
    "FLUSHING", "FRESH MEADOWS", "RICHMOND HILL", "OZONE PARK", "BAYSIDE", "JAMAICA",
    "QUEENS VILLAGE", "FAR ROCKAWAY",
)  # fmt: skip
NYC_ZIP_RANGES = {
    1: list(range(10001, 10041)),
    2: list(range(10451, 10476)),
    3: list(range(11201, 11240)),
    4: list(range(11354, 11437)),
    5: list(range(10301, 10315)),
}
BOSTON_POLICE = ("A1", "A7", "B2", "B3", "C6", "C11", "D4", "D14", "E5", "E13", "E18")
BOSTON_CLOSURES = (
    ("Case Closed Case Resolved ", 0.6),
    ("Case Closed Case Noted ", 0.2),
    ("Case Closed Case Scheduled Items have been scheduled for pickup. ", 0.08),
    ("Case Closed Case Invalid ", 0.05),
    ("Case Closed Case Resolved completed ", 0.04),
    ("Case Closed. Case Resolved. Duplicate of Existing Case. ", 0.03),
)
NYC_OPEN_STATUSES = {
    "Open": 0.5,
    "In Progress": 0.35,
    "Assigned": 0.1,
    "Pending": 0.04,
    "Started": 0.01,
}
HOLIDAYS = ((1, 1), (7, 4), (11, 25), (12, 25))  # month, day (Thanksgiving approximated)
#: Volume by hour of day (local), before the day's and the season's factors.
HOURLY = (
    0.25, 0.18, 0.14, 0.12, 0.13, 0.2, 0.45, 0.8, 1.2, 1.5, 1.6, 1.6,
    1.5, 1.5, 1.45, 1.35, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.35,
)  # fmt: skip
WEEKLY = (1.15, 1.1, 1.05, 1.0, 0.95, 0.65, 0.6)  # Monday..Sunday


@dataclass(frozen=True)
class CitySpec:
    """What differs between the two export formats."""

    name: str
    header: tuple[str, ...]
    boundaries: Path
    name_field: str
    types: tuple[RequestType, ...]
    channels: dict[str, float]
    per_day: float  # requests per day (sets the time span: N / per_day days)
    end: str  # export time (exclusive end of the span), local
    first_id: int
    time_format: str
    clusters: int
    cluster_sigma_m: float
    round_digits: int | None  # coordinates as written (Boston: 4 decimals)
    default_share: float  # default-geocoded (Boston City Hall)
    missing_share: float  # no coordinates
    bad_times: tuple[str, ...]
    streets: tuple[str, ...] = field(default=())


SPECS: dict[str, CitySpec] = {
    "boston": CitySpec(
        name="boston",
        header=tuple(BOSTON_HEADER),
        boundaries=BOSTON_BOUNDARIES,
        name_field="name",
        types=BOSTON_TYPES,
        channels=BOSTON_CHANNELS,
        per_day=750.0,
        end="2019-01-01T00:00:00",
        first_id=101000000001,
        time_format="%Y-%m-%d %H:%M:%S",
        clusters=400,
        cluster_sigma_m=250.0,
        round_digits=4,
        default_share=0.025,
        missing_share=0.01,
        bad_times=("", "N/A", "2016-02-30 25:61:00", "#VALUE!"),
        streets=BOSTON_STREETS,
    ),
    "nyc": CitySpec(
        name="nyc",
        header=tuple(NYC_HEADER),
        boundaries=NYC_BOUNDARIES,
        name_field="boro_cd",
        types=NYC_TYPES,
        channels=NYC_CHANNELS,
        per_day=8500.0,
        end="2025-01-01T00:00:00",
        first_id=50000001,
        time_format="%m/%d/%Y %I:%M:%S %p",
        clusters=2500,
        cluster_sigma_m=200.0,
        round_digits=None,
        default_share=0.0,
        missing_share=0.03,
        bad_times=("", "N/A", "02/30/2023 13:61:00 PM", "#VALUE!"),
        streets=NYC_STREETS,
    ),
}

MIN_SPAN_DAYS = 365
MAX_SPAN_DAYS = 15 * 365
BACKGROUND_SHARE = 0.35  # cases uniform inside the city, not in a cluster
ANCHOR_SHARE = 0.1  # cluster cases exactly at the cluster's address (repeat locations)
_M_PER_DEG = 111_320.0
ZIPF_EXPONENT = 0.8  # cluster weights: 1 / rank ** ZIPF_EXPONENT


@dataclass
class GenerateReport:
    """What :func:`generate` wrote."""

    path: str
    format: str
    rows: int
    bytes: int
    seconds: float
    seed: int
    first_requested: str = ""
    last_requested: str = ""
    malformed: dict[str, int] = field(default_factory=dict)
    default_geocoded: int = 0
    missing_coordinates: int = 0
    open_cases: int = 0

    def summary(self) -> str:
        bad = ", ".join(f"{k} {v:,}" for k, v in self.malformed.items() if v) or "none"
        return (
            f"{self.path}: {self.rows:,} {self.format} requests ({self.first_requested} .. "
            f"{self.last_requested}), {self.open_cases:,} open, "
            f"{self.default_geocoded + self.missing_coordinates:,} without usable coordinates, "
            f"malformed rows: {bad}; {self.bytes / 1e6:,.1f} MB in {self.seconds:.1f} s "
            f"({self.rows / max(self.seconds, 1e-9):,.0f} rows/s)"
        )


# -- geometry ---------------------------------------------------------------------------------
class _Areas:
    """The boundary polygons, prepared, with a vectorised "which area holds this point"."""

    def __init__(self, path: Path, name_field: str) -> None:
        from geodata.boundaries import read_layer

        layer = read_layer(path, name_field=name_field)
        self.names: list[str] = [str(n) for n in layer["name"]]
        self.geoms = np.asarray(layer.geometry.array, dtype=object)
        shapely.prepare(self.geoms)
        self.bounds = shapely.bounds(self.geoms)
        self.total = (
            float(self.bounds[:, 0].min()),
            float(self.bounds[:, 1].min()),
            float(self.bounds[:, 2].max()),
            float(self.bounds[:, 3].max()),
        )

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the area holding each point (first area wins), -1 outside every area."""
        out = np.full(lon.shape[0], -1, dtype=np.int64)
        for k, geom in enumerate(self.geoms):
            x0, y0, x1, y1 = self.bounds[k]
            cand = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1) & (out < 0))
            if cand.size:
                inside = shapely.contains_xy(geom, lon[cand], lat[cand])
                out[cand[inside]] = k
        return out

    def uniform(
        self, rng: np.random.Generator, n: int, digits: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` points uniform inside the union of the areas: (lon, lat, area index)."""
        lon = np.empty(n)
        lat = np.empty(n)
        area = np.full(n, -1, dtype=np.int64)
        todo = np.arange(n)
        x0, y0, x1, y1 = self.total
        while todo.size:
            cx = _round(rng.uniform(x0, x1, todo.size), digits)
            cy = _round(rng.uniform(y0, y1, todo.size), digits)
            found = self.locate(cx, cy)
            ok = found >= 0
            lon[todo[ok]], lat[todo[ok]], area[todo[ok]] = cx[ok], cy[ok], found[ok]
            todo = todo[~ok]
        return lon, lat, area


def _round(values: np.ndarray, digits: int | None) -> np.ndarray:
    return values if digits is None else np.round(values, digits)


# -- the plan: everything global, computed once from the seed ------------------------------------
class _Plan:
    def __init__(self, spec: CitySpec, cases: int, seed: int, malformed_rate: float) -> None:
        self.spec = spec
        self.cases = cases
        self.seed = seed
        rng = np.random.default_rng(np.random.SeedSequence([seed, _city_code(spec.name), 0]))
        self._time_plan(rng)
        self._type_plan(rng)
        self.areas = _Areas(spec.boundaries, spec.name_field)
        self._cluster_plan(rng)
        self._malformed_plan(rng, malformed_rate)
        self.channel_labels = list(spec.channels)
        self.channel_cum = _cumulative(np.array(list(spec.channels.values())))
        self.streets = list(spec.streets)

    # time: an hourly intensity over the span, inverted by the (sorted) quantiles of each row
    def _time_plan(self, rng: np.random.Generator) -> None:
        spec = self.spec
        days = int(min(MAX_SPAN_DAYS, max(MIN_SPAN_DAYS, math.ceil(self.cases / spec.per_day))))
        end = np.datetime64(spec.end, "s")
        self.end_s = int(end.astype(np.int64))
        start_day = (end - np.timedelta64(days, "D")).astype("datetime64[D]")
        self.start_s = int(start_day.astype("datetime64[s]").astype(np.int64))
        hours = np.arange(days * 24)
        day_index = hours // 24
        dates = start_day + day_index.astype("timedelta64[D]")
        months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
        month_day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
        hour = hours % 24
        seasonal = 1 + 0.15 * np.cos(2 * np.pi * (doy - 196) / 365.25)
        trend = 1.05 ** (day_index / 365.25)
        day_noise = rng.lognormal(0.0, 0.12, days)
        storms = rng.random(days) < 0.01
        day_noise[storms] *= rng.uniform(1.5, 3.0, int(storms.sum()))
        holiday = np.zeros(days, dtype=bool)
        day_months = months[::24]
        day_mday = month_day[::24]
        for m, d in HOLIDAYS:
            holiday |= (day_months == m) & (day_mday == d)
        day_factor = day_noise * np.where(holiday, 0.45, 1.0)
        intensity = (
            np.asarray(HOURLY)[hour]
            * np.asarray(WEEKLY)[weekday]
            * seasonal
            * trend
            * day_factor[day_index]
        )
        self.hour_mass = intensity / intensity.sum()
        self.hour_cum = np.cumsum(self.hour_mass)
        self.hour_cum[-1] = 1.0
        daypart = hour // 6
        weekend = (weekday >= 5).astype(np.int64)
        #: context of each hour: (month - 1) * 8 + weekend * 4 + daypart
        self.hour_context = (months - 1) * 8 + weekend * 4 + daypart

    def _type_plan(self, rng: np.random.Generator) -> None:
        types = self.spec.types
        month = np.arange(1, 13)
        prob = np.zeros((96, len(types)))
        for t, rt in enumerate(types):
            season = np.clip(
                1 + rt.seasonality * np.cos(2 * np.pi * (month - rt.peak_month) / 12), 0.02, None
            )
            dayparts, weekend = _PROFILES[rt.profile]
            for m in range(12):
                for we in range(2):
                    for dp in range(4):
                        factor = dayparts[dp] * (weekend if we else 1.0)
                        prob[m * 8 + we * 4 + dp, t] = rt.weight * season[m] * factor
        prob /= prob.sum(axis=1, keepdims=True)
        self.type_cum = np.cumsum(prob, axis=1)
        self.type_cum[:, -1] = 1.0
        self.close_mu = np.log([rt.close_median_h for rt in types])
        self.close_sigma = np.array([rt.close_sigma for rt in types])
        self.target_h = np.array([np.nan if rt.target_h is None else rt.target_h for rt in types])
        self.never_closed = np.array([rt.never_closed for rt in types])
        self.employee = np.array([rt.employee for rt in types])

    def _cluster_plan(self, rng: np.random.Generator) -> None:
        spec = self.spec
        c = spec.clusters
        digits = spec.round_digits
        self.c_lon, self.c_lat, self.c_area = self.areas.uniform(rng, c, digits)
        zipf = 1.0 / np.arange(1, c + 1) ** ZIPF_EXPONENT
        rng.shuffle(zipf)
        per_type = zipf[None, :] * rng.lognormal(0.0, 0.7, (len(spec.types), c))
        per_type /= per_type.sum(axis=1, keepdims=True)
        self.cluster_cum = np.cumsum(per_type, axis=1)
        self.cluster_cum[:, -1] = 1.0
        sigma_m = np.clip(rng.lognormal(np.log(spec.cluster_sigma_m), 0.5, c), 60, 2000)
        self.c_sig_lat = sigma_m / _M_PER_DEG
        self.c_sig_lon = sigma_m / (_M_PER_DEG * np.cos(np.radians(self.c_lat)))
        self.c_street = rng.integers(0, len(spec.streets), c)
        self.c_number = _house_numbers(rng, c)

    def _malformed_plan(self, rng: np.random.Generator, rate: float) -> None:
        count = min(self.cases, int(round(self.cases * rate)))
        rows = np.sort(rng.choice(self.cases, size=count, replace=False)) if count else np.array([])
        kinds = rng.permutation(np.arange(count) % len(MALFORMED_KINDS))
        self.malformed_rows = rows.astype(np.int64)
        self.malformed_kinds = kinds.astype(np.int64)


def _city_code(name: str) -> int:
    return FORMATS.index(name) + 1


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights / weights.sum())
    cum[-1] = 1.0
    return cum


def _house_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(rng.zipf(1.6, n), 40) * rng.integers(1, 30, n) + rng.integers(0, 9, n)


# -- one chunk ----------------------------------------------------------------------------------
@dataclass
class _Chunk:
    """The canonical content of one chunk of rows (numpy), before it is written in a format."""

    ids: np.ndarray
    requested: np.ndarray  # int64 seconds, local wall time
    type_idx: np.ndarray
    closed: np.ndarray  # int64 seconds; valid where is_closed
    is_closed: np.ndarray
    target: np.ndarray  # int64 seconds; valid where has_target
    has_target: np.ndarray
    channel: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    area: np.ndarray  # -1 when coordinates are missing/default
    home: np.ndarray  # the area the point was drawn in (also for missing/default coordinates)
    coord_kind: np.ndarray  # 0 exact, 1 default geocode, 2 missing
    street: np.ndarray
    number: np.ndarray
    intersection: np.ndarray
    cross1: np.ndarray
    cross2: np.ndarray
    malformed: np.ndarray  # -1, or an index into MALFORMED_KINDS
    rng: np.random.Generator


def _chunk(plan: _Plan, index: int, start: int, stop: int) -> _Chunk:
    spec = plan.spec
    n = stop - start
    rng = np.random.default_rng(
        np.random.SeedSequence([plan.seed, _city_code(spec.name), 1, index])
    )
    # when: sorted, stratified quantiles through the hourly intensity
    u = (np.arange(start, stop) + rng.random(n)) / plan.cases
    hour = np.minimum(np.searchsorted(plan.hour_cum, u, side="right"), len(plan.hour_cum) - 1)
    below = np.where(hour > 0, plan.hour_cum[np.maximum(hour - 1, 0)], 0.0)
    frac = np.clip((u - below) / plan.hour_mass[hour], 0.0, 0.999999)
    requested = plan.start_s + hour * 3600 + (frac * 3600).astype(np.int64)
    # what
    context = plan.hour_context[hour]
    cum = plan.type_cum[context]
    type_idx = (rng.random(n)[:, None] > cum).sum(axis=1)
    type_idx = np.minimum(type_idx, len(spec.types) - 1)
    # how long
    hours_to_close = np.exp(
        plan.close_mu[type_idx] + plan.close_sigma[type_idx] * rng.normal(size=n)
    )
    closed = requested + np.maximum((hours_to_close * 3600).astype(np.int64), 60)
    never = rng.random(n) < plan.never_closed[type_idx]
    is_closed = ~never & (closed < plan.end_s)
    target_h = plan.target_h[type_idx]
    has_target = ~np.isnan(target_h)
    target = requested + np.where(has_target, np.nan_to_num(target_h) * 3600, 0).astype(np.int64)
    # channel
    channel = np.searchsorted(plan.channel_cum, rng.random(n), side="right")
    channel = np.minimum(channel, len(plan.channel_labels) - 1)
    if "Employee Generated" in plan.channel_labels:
        employee = plan.employee[type_idx] & (rng.random(n) < 0.85)
        channel[employee] = plan.channel_labels.index("Employee Generated")
    # where
    lon, lat, area, street, number = _places(plan, rng, type_idx)
    r = rng.random(n)
    coord_kind = np.where(
        r < spec.default_share, 1, np.where(r < spec.default_share + spec.missing_share, 2, 0)
    )
    home = area
    area = np.where(coord_kind == 0, area, -1)
    intersection = rng.random(n) < 0.12
    cross1 = rng.integers(0, len(plan.streets), n)
    cross2 = rng.integers(0, len(plan.streets), n)
    # dirt
    malformed = np.full(n, -1, dtype=np.int64)
    lo, hi = np.searchsorted(plan.malformed_rows, [start, stop])
    malformed[plan.malformed_rows[lo:hi] - start] = plan.malformed_kinds[lo:hi]
    before = malformed == MALFORMED_KINDS.index("closed_before_requested")
    closed[before] = requested[before] - rng.integers(3600, 72 * 3600, int(before.sum()))
    is_closed[before] = True
    return _Chunk(
        ids=np.arange(start, stop, dtype=np.int64) + spec.first_id,
        requested=requested,
        type_idx=type_idx,
        closed=closed,
        is_closed=is_closed,
        target=target,
        has_target=has_target,
        channel=channel,
        lon=lon,
        lat=lat,
        area=area,
        home=home,
        coord_kind=coord_kind,
        street=street,
        number=number,
        intersection=intersection,
        cross1=cross1,
        cross2=cross2,
        malformed=malformed,
        rng=rng,
    )


def _places(
    plan: _Plan, rng: np.random.Generator, type_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points (rejection-sampled inside the areas), their area, street and house number."""
    n = type_idx.shape[0]
    digits = plan.spec.round_digits
    background = rng.random(n) < BACKGROUND_SHARE
    cluster = np.empty(n, dtype=np.int64)
    for t in np.unique(type_idx):
        rows = np.flatnonzero(type_idx == t)
        cluster[rows] = np.searchsorted(plan.cluster_cum[t], rng.random(rows.size), side="right")
    cluster = np.minimum(cluster, plan.c_lon.size - 1)
    anchor = ~background & (rng.random(n) < ANCHOR_SHARE)
    lon = plan.c_lon[cluster].copy()
    lat = plan.c_lat[cluster].copy()
    area = plan.c_area[cluster].copy()
    # Gaussian spread around the centre, redrawn until inside an area (centres always are)
    todo = np.flatnonzero(~background & ~anchor)
    for _ in range(30):
        if not todo.size:
            break
        c = cluster[todo]
        x = _round(plan.c_lon[c] + rng.normal(size=todo.size) * plan.c_sig_lon[c], digits)
        y = _round(plan.c_lat[c] + rng.normal(size=todo.size) * plan.c_sig_lat[c], digits)
        found = plan.areas.locate(x, y)
        ok = found >= 0
        lon[todo[ok]], lat[todo[ok]], area[todo[ok]] = x[ok], y[ok], found[ok]
        todo = todo[~ok]
    bg = np.flatnonzero(background)
    lon[bg], lat[bg], area[bg] = plan.areas.uniform(rng, bg.size, digits)
    # addresses: a cluster's own address (anchor), its street (half of the rest), or anywhere
    street = rng.integers(0, len(plan.streets), n)
    same_street = ~background & (rng.random(n) < 0.5)
    street[same_street] = plan.c_street[cluster[same_street]]
    number = _house_numbers(rng, n)
    street[anchor] = plan.c_street[cluster[anchor]]
    number[anchor] = plan.c_number[cluster[anchor]]
    return lon, lat, area, street, number


# -- text -------------------------------------------------------------------------------------
def _strings(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _take(values: list[str] | tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return _strings(values).take(pa.array(idx, type=pa.int64()))


def _pick(rng: np.random.Generator, weighted: dict[str, float] | tuple, n: int) -> pa.Array:
    items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    cum = _cumulative(np.array([w for _, w in items]))
    idx = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(items) - 1)
    return _take([k for k, _ in items], idx)


def _null_unless(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` where ``mask``, null elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.scalar(None, type=values.type))


_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))


def _times(seconds: np.ndarray, mask: np.ndarray, fmt: str) -> pa.Array:
    """Wall times (seconds since 1970, no zone) as text in ``fmt``, null where not ``mask``.
    The two export formats are assembled from digit tables (several times faster than
    :func:`pyarrow.compute.strftime`); any other format goes through strftime."""
    stamps = seconds.astype("datetime64[s]")
    if fmt not in ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"):
        return pc.strftime(pa.array(stamps, mask=~mask, type=pa.timestamp("s")), format=fmt)
    days = stamps.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    year = _num(years.astype(np.int64) + 1970)
    month = _take(_TWO_DIGITS, (months - years).astype(np.int64) + 1)
    day = _take(_TWO_DIGITS, (days - months).astype(np.int64) + 1)
    second_of_day = (stamps - days).astype(np.int64)
    hour = second_of_day // 3600
    minute = _take(_TWO_DIGITS, second_of_day // 60 % 60)
    second = _take(_TWO_DIGITS, second_of_day % 60)
    if fmt.startswith("%Y"):
        text = _join(
            year, "-", month, "-", day, " ", _take(_TWO_DIGITS, hour), ":", minute, ":", second
        )
    else:
        hour12 = _take(_TWO_DIGITS, (hour + 11) % 12 + 1)
        noon = _take(("AM", "PM"), (hour >= 12).astype(np.int64))
        text = _join(month, "/", day, "/", year, " ", hour12, ":", minute, ":", second, " ", noon)
    return _null_unless(text, mask)


def _num(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: Any, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _boston_columns(plan: _Plan, ch: _Chunk) -> dict[str, pa.Array]:
    spec, rng, n = plan.spec, ch.rng, ch.ids.size
    types = spec.types
    t = ch.type_idx
    fmt = spec.time_format
    ontime = np.where(ch.is_closed, ch.closed <= ch.target, plan.end_s <= ch.target)
    ontime_text = _null_unless(_take(["OVERDUE", "ONTIME"], ontime.astype(np.int64)), ch.has_target)
    closure = _null_unless(_pick(rng, BOSTON_CLOSURES, n), ch.is_closed)
    located = ch.area >= 0
    area = np.maximum(ch.area, 0)
    names = plan.areas.names
    neighborhood = _take(names, area)
    zips_per_area = [BOSTON_ZIPS.get(name, "").split() or [""] for name in names]
    zip_table = [zips[j % len(zips)] for zips in zips_per_area for j in range(4)]
    zipcode = _take(zip_table, area * 4 + rng.integers(0, 4, n))
    street = _take(plan.streets, ch.street)
    cross = _take(plan.streets, ch.cross1)
    number = _num(ch.number)
    addr_street = pc.if_else(
        pa.array(ch.intersection),
        _join("INTERSECTION ", street, " & ", cross),
        _join(number, " ", street),
    )
    location = pc.if_else(
        pa.array(ch.intersection),
        _join("INTERSECTION of ", street, " & ", cross, "  ", neighborhood, "  MA  "),
        _join(number, " ", street, "  ", neighborhood, "  MA  ", zipcode),
    )
    zipcode = pc.if_else(pa.array(ch.intersection), pa.scalar(None, pa.string()), zipcode)
    ward_no = 1 + (area * 3 + rng.integers(0, 3, n)) % 22
    precinct = ward_no * 100 + rng.integers(1, 13, n)
    lat_text = pc.if_else(pa.array(ch.coord_kind == 1), str(BOSTON_CITY_HALL[0]), _num(ch.lat))
    lon_text = pc.if_else(pa.array(ch.coord_kind == 1), str(BOSTON_CITY_HALL[1]), _num(ch.lon))
    has_point = ch.coord_kind != 2
    dept = [rt.department for rt in types]
    return {
        "case_enquiry_id": _num(ch.ids),
        "open_dt": _times(ch.requested, np.ones(n, dtype=bool), fmt),
        "target_dt": _times(ch.target, ch.has_target, fmt),
        "closed_dt": _times(ch.closed, ch.is_closed, fmt),
        "ontime": ontime_text,
        "case_status": _take(["Open", "Closed"], ch.is_closed.astype(np.int64)),
        "closure_reason": closure,
        "case_title": _take([rt.name for rt in types], t),
        "subject": _take([BOSTON_SUBJECTS[d] for d in dept], t),
        "reason": _take([rt.group for rt in types], t),
        "type": _take([rt.name for rt in types], t),
        "queue": _take([f"{rt.department}_{rt.name}" for rt in types], t),
        "department": _take(dept, t),
        "location": _null_unless(location, located),
        "fire_district": _null_unless(_num(1 + area % 12), located),
        "pwd_district": _null_unless(_take([f"{k:02d}" for k in range(1, 11)], area % 10), located),
        "city_council_district": _null_unless(_num(1 + area % 9), located),
        "police_district": _null_unless(_take(BOSTON_POLICE, area % len(BOSTON_POLICE)), located),
        "neighborhood": _null_unless(neighborhood, located),
        "neighborhood_services_district": _null_unless(_num(1 + area % 15), located),
        "ward": _null_unless(_join("Ward ", _num(ward_no)), located),
        "precinct": _null_unless(_num(precinct), located),
        "location_street_name": _null_unless(addr_street, located),
        "location_zipcode": _null_unless(zipcode, located),
        "latitude": _null_unless(lat_text, has_point),
        "longitude": _null_unless(lon_text, has_point),
        "source": _take(plan.channel_labels, ch.channel),
    }


_TO_STATE_PLANE: Any = None


def _state_plane(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NY State Plane Long Island (EPSG:2263, US feet), as in the NYC export."""
    global _TO_STATE_PLANE
    if _TO_STATE_PLANE is None:
        from pyproj import Transformer

        _TO_STATE_PLANE = Transformer.from_crs("EPSG:4326", "EPSG:2263", always_xy=True)
    x, y = _TO_STATE_PLANE.transform(lon, lat)
    return np.round(x).astype(np.int64), np.round(y).astype(np.int64)


def _nyc_columns(plan: _Plan, ch: _Chunk) -> dict[str, pa.Array]:
    spec, rng, n = plan.spec, ch.rng, ch.ids.size
    types = spec.types
    t = ch.type_idx
    fmt = spec.time_format
    names = plan.areas.names
    # the area is known even when the point is not published (an address not geocoded)
    area = ch.home
    cds = np.array([int(name) for name in names])[area]
    boro = cds // 100
    district = cds % 100
    borough = _take([NYC_BOROUGHS.get(b, "Unspecified") for b in range(6)], boro)
    queens_city = _take(NYC_QUEENS_CITIES, np.maximum(district - 1, 0) % len(NYC_QUEENS_CITIES))
    city = pc.if_else(
        pa.array(boro == 4), queens_city, _take([NYC_CITIES.get(b, "") for b in range(6)], boro)
    )
    zip_table = np.array(
        [
            NYC_ZIP_RANGES[cd // 100][((cd % 100) * 3 + j) % len(NYC_ZIP_RANGES[cd // 100])]
            for cd in (int(name) for name in names)
            for j in range(3)
        ]
    )
    zips = zip_table[area * 3 + rng.integers(0, 3, n)]
    # descriptor: one of the type's descriptors
    descriptors = [rt.group.split("|") for rt in types]
    pick = rng.integers(0, 1 << 30, n)
    flat = [d for ds in descriptors for d in ds]
    offsets = np.cumsum([0] + [len(ds) for ds in descriptors])
    descriptor = _take(flat, offsets[t] + pick % np.array([len(ds) for ds in descriptors])[t])
    street = _take(plan.streets, ch.street)
    cross1 = _take(plan.streets, ch.cross1)
    cross2 = _take(plan.streets, ch.cross2)
    inter = pa.array(ch.intersection)
    address = _join(_num(ch.number), " ", street)
    status_open = _pick(rng, NYC_OPEN_STATUSES, n)
    status = pc.if_else(pa.array(ch.is_closed), "Closed", status_open)
    resolution = _take([NYC_RESOLUTIONS[rt.department] for rt in types], t)
    updated_s = np.where(
        ch.is_closed,
        ch.closed + rng.integers(0, 600, n),
        np.minimum(ch.requested + rng.integers(600, 3 * 86400, n), plan.end_s - 1),
    )
    has_update = ch.is_closed | (rng.random(n) < 0.6)
    located = ch.coord_kind == 0
    x, y = _state_plane(ch.lon, ch.lat)
    lat_text, lon_text = _num(ch.lat), _num(ch.lon)
    bbl = boro * 1_000_000_000 + rng.integers(1, 16000, n) * 10_000 + rng.integers(1, 200, n)
    has_bbl = ~ch.intersection & located & (rng.random(n) < 0.8)
    agencies = [rt.department for rt in types]
    location_types = [rt.location_type for rt in types]
    return {
        "Unique Key": _num(ch.ids),
        "Created Date": _times(ch.requested, np.ones(n, dtype=bool), fmt),
        "Closed Date": _times(ch.closed, ch.is_closed, fmt),
        "Agency": _take(agencies, t),
        "Agency Name": _take([NYC_AGENCIES[a] for a in agencies], t),
        "Complaint Type": _take([rt.name for rt in types], t),
        "Descriptor": descriptor,
        "Location Type": _null_unless(_take(location_types, t), np.array(location_types)[t] != ""),
        "Incident Zip": _num(zips),
        "Incident Address": _null_unless(address, ~ch.intersection),
        "Street Name": _null_unless(street, ~ch.intersection),
        "Cross Street 1": cross1,
        "Cross Street 2": cross2,
        "Intersection Street 1": cross1,
        "Intersection Street 2": cross2,
        "Address Type": pc.if_else(inter, "INTERSECTION", "ADDRESS"),
        "City": city,
        "Landmark": _null_unless(street, ~ch.intersection),
        "Facility Type": _null_unless(
            _take(["N/A"], np.zeros(n, dtype=np.int64)),
            np.isin(np.array(agencies)[t], ["DOT", "DSNY"]),
        ),
        "Status": status,
        "Due Date": _times(ch.target, ch.has_target, fmt),
        "Resolution Description": _null_unless(resolution, ch.is_closed),
        "Resolution Action Updated Date": _times(updated_s, has_update, fmt),
        "Community Board": _join(_take([f"{d:02d}" for d in range(100)], district), " ", borough),
        "BBL": _null_unless(_num(bbl), has_bbl),
        "Borough": borough,
        "X Coordinate (State Plane)": _null_unless(_num(x), located),
        "Y Coordinate (State Plane)": _null_unless(_num(y), located),
        "Open Data Channel Type": _take(plan.channel_labels, ch.channel),
        "Park Facility Name": _take(["Unspecified"], np.zeros(n, dtype=np.int64)),
        "Park Borough": borough,
        "Latitude": _null_unless(lat_text, located),
        "Longitude": _null_unless(lon_text, located),
        "Location": _null_unless(_join("(", lat_text, ", ", lon_text, ")"), located),
        "Zip Codes": _null_unless(_num(10000 + (zips * 7919) % 15000), located),
        "Community Districts": _null_unless(_num(area + 1), located),
        "Borough Boundaries": _null_unless(_num(boro), located),
        "City Council Districts": _null_unless(_num(1 + (area * 7) % 51), located),
        "Police Precincts": _null_unless(_num(1 + (area * 5) % 77), located),
    }


# -- serialising ------------------------------------------------------------------------------
_NEEDS_QUOTES = r'[,"\r\n]'
_JOIN = pc.JoinOptions(null_handling="replace", null_replacement="")


def _quoted(values: pa.Array) -> pa.Array:
    """CSV quoting as Python's csv module does it: only fields that need it."""
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    if not pc.any(needs).as_py():
        return values
    wrapped = _join('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.if_else(needs, wrapped, values)


def _apply_malformed(plan: _Plan, ch: _Chunk, columns: dict[str, pa.Array]) -> None:
    id_col, open_col = plan.spec.header[0], plan.spec.header[1]
    missing = ch.malformed == MALFORMED_KINDS.index("missing_request_id")
    if missing.any():
        columns[id_col] = _null_unless(columns[id_col], ~missing)
    bad_time = ch.malformed == MALFORMED_KINDS.index("unparseable_requested_at")
    if bad_time.any():
        rows = np.flatnonzero(bad_time)
        choices = plan.spec.bad_times
        replacement = pa.array([choices[i % len(choices)] for i in rows], type=pa.string())
        columns[open_col] = pc.replace_with_mask(columns[open_col], pa.array(bad_time), replacement)


def _csv_bytes(plan: _Plan, ch: _Chunk, columns: dict[str, pa.Array]) -> bytes:
    n = ch.ids.size
    empty = pa.nulls(n, type=pa.string())
    ordered = [_quoted(columns.get(name, empty)) for name in plan.spec.header]
    lines = pc.binary_join_element_wise(*ordered, ",", options=_JOIN)
    short = np.flatnonzero(ch.malformed == MALFORMED_KINDS.index("wrong_field_count"))
    if short.size:
        # a truncated line: the last few fields missing (as in a cut-off export)
        replacement = []
        for row in short:
            fields = ["" if col[row].as_py() is None else col[row].as_py() for col in ordered]
            replacement.append(",".join(fields[: len(fields) - 3]))
        mask = np.zeros(n, dtype=bool)
        mask[short] = True
        lines = pc.replace_with_mask(lines, pa.array(mask), pa.array(replacement, pa.string()))
    lines = pc.binary_join_element_wise(lines, "", "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + n + 1]
    data = lines.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])].tobytes()


def _header_bytes(header: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(header)
    return out.getvalue().encode("utf-8")


# -- entry points -----------------------------------------------------------------------------
def generate(
    cases: int,
    out: str | os.PathLike[str],
    *,
    format: str = "boston",
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    malformed_rate: float = MALFORMED_RATE,
) -> GenerateReport:
    """Write ``cases`` synthetic requests to ``out`` (gzip when it ends with ``.gz``).

    The file is written beside ``out`` and renamed into place when complete. Same arguments, same
    bytes (``chunk_rows`` included: it fixes the random streams).
    """
    if format not in SPECS:
        raise InputFileError(f"unknown format {format!r}; known formats: {', '.join(FORMATS)}")
    if cases <= 0:
        raise InputFileError(f"--cases must be a positive number of cases, not {cases}")
    if not 0 <= malformed_rate <= 1:
        raise InputFileError("the malformed rate must be between 0 and 1")
    spec = SPECS[format]
    if not spec.boundaries.exists():
        raise InputFileError(f"the {format} boundaries are missing: {spec.boundaries}")
    path = Path(out)
    if not path.parent.exists():
        raise InputFileError(f"{path.parent}: no such directory")
    started = time.perf_counter()
    plan = _Plan(spec, cases, seed, malformed_rate)
    report = GenerateReport(
        path=str(path), format=format, rows=cases, bytes=0, seconds=0, seed=seed
    )
    report.malformed = {
        kind: int((plan.malformed_kinds == k).sum()) for k, kind in enumerate(MALFORMED_KINDS)
    }
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as raw:
            sink: BinaryIO = raw
            gz = None
            if path.name.endswith(".gz"):
                # no name and no time stamp in the gzip header: the same bytes every time
                gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
                sink = gz  # type: ignore[assignment]
            sink.write(_header_bytes(spec.header))
            columns_for = _boston_columns if format == "boston" else _nyc_columns
            for index, start in enumerate(range(0, cases, chunk_rows)):
                stop = min(cases, start + chunk_rows)
                ch = _chunk(plan, index, start, stop)
                columns = columns_for(plan, ch)
                _apply_malformed(plan, ch, columns)
                sink.write(_csv_bytes(plan, ch, columns))
                report.default_geocoded += int((ch.coord_kind == 1).sum())
                report.missing_coordinates += int((ch.coord_kind == 2).sum())
                report.open_cases += int((~ch.is_closed).sum())
                if index == 0:
                    report.first_requested = str(ch.requested[0].astype("datetime64[s]"))
                report.last_requested = str(ch.requested[-1].astype("datetime64[s]"))
                elapsed = time.perf_counter() - started
                log.info(
                    "generate: %s of %s rows (%d%%), %.1f s, %s rows/s",
                    f"{stop:,}",
                    f"{cases:,}",
                    100 * stop // cases,
                    elapsed,
                    f"{stop / max(elapsed, 1e-9):,.0f}",
                )
            if gz is not None:
                gz.close()
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report.bytes = path.stat().st_size
    report.seconds = time.perf_counter() - started
    return report


def add_subparser(subparsers: Any) -> None:
    """Add ``generate`` to the ``stat311`` command line."""
    p = subparsers.add_parser(
        "generate",
        help="write a synthetic 311 export (realistic, deterministic) for benchmarks and tests",
        description="Write N synthetic 311 requests in a real export format (Boston legacy or "
        "NYC Open Data): city-shaped clusters over the bundled boundaries, a skewed type mix, "
        "daily/weekly/seasonal cycles, lognormal close times, an open backlog, 2-5% of cases "
        "without usable coordinates and ~0.01% malformed rows. The same arguments always give "
        "the same bytes; gzip when PATH ends with .gz. PATH's folder must exist; PATH must not "
        "be a directory.",
    )
    p.add_argument("--cases", type=positive_count, required=True, help="number of requests (rows)")
    p.add_argument(
        "--out", required=True, metavar="PATH", help="output CSV path (.gz: gzip-compressed)"
    )
    p.add_argument("--format", choices=FORMATS, default="boston", help="export format")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace, settings: Any) -> int:
    report = generate(args.cases, args.out, format=args.format, seed=args.seed)
    print(report.summary())
    return 0
