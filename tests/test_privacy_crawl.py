"""Privacy, end to end: plant personal data in cases (e-mails, phone numbers in several formats,
names after "my name is"/"contact", a private case, a sensitive type, internal resolution text),
then crawl every public page and API endpoint -- every Flask rule under ``/public`` and
``/open311``, in every format, and every output of the public Dash app's callbacks -- and check
that none of it appears anywhere."""

from __future__ import annotations

import contextlib
import csv
import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import update

from dashboard import schema
from dashboard.app_factory import create_app
from dashboard.settings import Settings
from dashboard.snapshot import write_for
from dashboard.store import Store
from etl.boundaries import add_layer
from etl.load import load_file
from tests.conftest import BOSTON_NEIGHBORHOODS, make_settings
from tests.support.exports import BOSTON_LEGACY_HEADER

HEADER = BOSTON_LEGACY_HEADER

#: Points inside Boston neighbourhoods (Roslindale, South End, Charlestown, North End...).
POINTS = [
    (42.28311, -71.12384),
    (42.34011, -71.07227),
    (42.37953, -71.06329),
    (42.36530, -71.05392),
    (42.31000, -71.08500),
    (42.35000, -71.06000),
]
PRIVATE_ID = "101999000009"
UNKNOWN_ID = "101999999999"
SENSITIVE_ID = "101999000008"

#: (id, type, department, description, resolution, address)
PLANTED_CASES = [
    (
        "101999000001",
        "Street Light Outages",
        "PWDx",
        "Light out. Email jane.planted@example.org or call (617) 555-0142",
        "Fixed. Spoke to Zebulon Quixby on 617-555-0143, internal note Xylophant",
        "INTERSECTION of Planted Ave & Main St Roslindale MA",
    ),
    (
        "101999000002",
        "Graffiti Removal",
        "PROP",
        "my name is Zebulon Quixby, phone 617.555.0144 or +1 617 555 0145",
        "Removed; caller J.Doe+311@mail.example.com",
        "4817 Zyxwv St Roslindale MA 02131",
    ),
    (
        "101999000003",
        "Request for Pothole Repair",
        "PWDx",
        "My name is marigold fennimore. Call 6175550146 or (617)555-0150 ext. 12",
        "Patched",
        "12 Pothole Rd South End MA 02118",
    ),
    (
        "101999000004",
        "Schedule a Bulk Item Pickup",
        "PWDx",
        "Please contact Ottoline Vanterpool at zqreporter (at) zqmail dot com",
        "Scheduled",
        "9 Bulk St Boston MA 02118",
    ),
    (
        "101999000005",
        "Graffiti Removal",
        "PROP",
        "Thanks, Brunhilde Oakenshaw - 555-0147. Also tweeted @planted_handle",
        "Done",
        "31 Wall St Charlestown MA 02129",
    ),
    (
        "101999000006",
        "Missed Trash/Recycling/Yard Waste/Bulk Item",
        "PWDx",
        "Missed pickup, visiting from UK: +44 20 7946 0958",
        "Collected",
        "5 Trash Ln North End MA 02113",
    ),
    (
        "101999000007",
        "Abandoned Vehicles",
        "BTDT",
        "Car parked for weeks",
        "Towed; owner Mortimer Snodgrass notified at snodgrass@example.net",
        "77 Car St Boston MA 02118",
    ),
    (
        SENSITIVE_ID,
        "Unsatisfactory Living Conditions",
        "ISD",
        "Landlord Fizzlewick ignores the heat in unit 3",
        "Inspector visited tenant",
        "12 Sensitivelane Rd Dorchester MA 02124",
    ),
    (
        PRIVATE_ID,
        "Graffiti Removal",
        "PROP",
        "Private Gorblesnatch matter",
        "Handled quietly",
        "77 Hushhush Way Boston MA 02118",
    ),
]

#: Strings that must appear nowhere on the public side (compared without case).
PLANTED = [
    "jane.planted@example.org",
    "jane.planted",
    "(617) 555-0142",
    "617-555-0143",
    "617.555.0144",
    "617 555 0145",
    "6175550146",
    "555-0150",
    "555-0147",
    "7946 0958",
    "J.Doe+311",
    "zqreporter",
    "zqmail",
    "Zebulon",
    "Quixby",
    "marigold",
    "fennimore",
    "Ottoline",
    "Vanterpool",
    "Brunhilde",
    "Oakenshaw",
    "planted_handle",
    "Mortimer",
    "Snodgrass",
    "Xylophant",
    "Fizzlewick",
    "Sensitivelane",
    "Gorblesnatch",
    "Hushhush",
    PRIVATE_ID,
    "4817 Zyxwv",
    "Spoke to",
    "Handled quietly",
]
#: Phone numbers also checked as bare digits (any separators removed).
PLANTED_DIGITS = ["6175550142", "6175550143", "6175550144", "6175550145", "6175550146"]


def _row(case_id: str, day: int, point: tuple[float, float] | None, **values: str) -> dict:
    row = dict.fromkeys(HEADER, "")
    lat, lon = point if point else ("", "")
    row.update(
        case_enquiry_id=case_id,
        open_dt=f"2024-03-{day:02d} 09:15:00",
        target_dt=f"2024-03-{day + 3:02d} 09:15:00",
        case_status="Open",
        subject="Public Works Department",
        reason="Street Cleaning",
        type="Graffiti Removal",
        department="PWDx",
        location="1 Filler St Boston MA",
        latitude=str(lat),
        longitude=str(lon),
        source="Constituent Call",
    )
    row.update(values)
    return row


def build_pii_store(tmp: Path) -> Settings:
    """A small Boston-format store with personal data planted, one private case, the Boston
    neighbourhoods layer and a snapshot. Returns its settings."""
    settings = make_settings(tmp)
    store = Store(settings.database_url)
    store.migrate()
    add_layer(
        BOSTON_NEIGHBORHOODS,
        layer="neighborhood",
        name_field="name",
        store=store,
        settings=settings,
        snapshot=False,
    )
    rows = []
    for i, (case_id, type_, dept, text, resolution, address) in enumerate(PLANTED_CASES):
        closed = i % 2 == 0
        rows.append(
            _row(
                case_id,
                2 + i,
                POINTS[i % len(POINTS)],
                type=type_,
                department=dept,
                case_title=text,
                closure_reason=resolution,
                location=address,
                location_zipcode="02118",
                case_status="Closed" if closed else "Open",
                closed_dt=f"2024-03-{3 + i:02d} 10:00:00" if closed else "",
            )
        )
    types = ["Street Light Outages", "Graffiti Removal", "Request for Pothole Repair"]
    for i in range(30):  # ordinary cases, so maps and tiers have something to show
        rows.append(
            _row(
                f"1019990001{i:02d}",
                1 + i % 25,
                POINTS[i % len(POINTS)] if i % 7 else None,
                type=types[i % 3],
                department="PWDx" if i % 3 != 1 else "PROP",
                case_title=types[i % 3],
                closure_reason="Case closed",
                case_status="Closed" if i % 4 else "Open",
                closed_dt=f"2024-03-{2 + i % 25:02d} 11:00:00" if i % 4 else "",
            )
        )
    path = tmp / "planted.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    load_file(path, store=store, settings=settings, progress=False, snapshot=False)
    cases = schema.cases.c
    with store.transaction() as conn:  # the Boston export has no private flag: set it here
        conn.execute(
            update(schema.cases).where(cases.request_id == PRIVATE_ID).values(is_private=True)
        )
        # Duplicates (Boston has no parent column either): one of the private case, whose
        # number must not be named, and one of a public case.
        for child, parent in (("101999000003", PRIVATE_ID), ("101999000005", "101999000001")):
            conn.execute(
                update(schema.cases)
                .where(cases.request_id == child)
                .values(is_duplicate=True, parent_request_id=parent, status="closed")
            )
    write_for(store, settings, full=True)  # edited by hand, not by a load: read every case
    store.dispose()
    return settings


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Settings:
    return build_pii_store(tmp_path_factory.mktemp("planted"))


@pytest.fixture
def app(planted, reset_dash_registries, monkeypatch):
    app = create_app(replace(planted, rate_limit="1000000 per minute"))
    app.server.test_client().get("/healthz")
    return app


# -- the crawl -------------------------------------------------------------------------------------
def _texts(body: bytes, mimetype: str) -> list[str]:
    """The body as sent, and decoded the ways a reader would see it (JSON escapes undone, HTML
    entities resolved, XML text joined), lower-cased."""
    raw = body.decode("utf-8", errors="replace")
    texts = [raw, html.unescape(raw)]
    if "json" in mimetype:
        with contextlib.suppress(ValueError):
            texts.append(json.dumps(json.loads(raw), ensure_ascii=False))
    if "xml" in mimetype:
        texts.append(" ".join(ET.fromstring(body).itertext()))
    return [t.lower() for t in texts]


def _leaks(texts: list[str]) -> list[str]:
    found = [p for p in PLANTED if any(p.lower() in t for t in texts)]
    for digits in PLANTED_DIGITS:
        if any(digits in re.sub(r"[\s().\-+/]", "", t) for t in texts):
            found.append(digits)
    return found


def _get_urls(server, ids: list[str], codes: list[str]) -> tuple[list[str], set[str]]:
    """URLs for every GET rule under /public and /open311, and the rules they cover."""
    urls: list[str] = []
    covered: set[str] = set()
    window = "start_date=2024-02-20T00:00:00Z&end_date=2024-04-01T00:00:00Z"
    list_queries = [
        "",
        window,
        f"{window}&extensions=true",
        f"{window}&status=open",
        f"{window}&status=closed&extensions=true",
        f"{window}&bbox=-71.2,42.2,-70.9,42.45&extensions=true",
        f"service_request_id={','.join(ids)}&extensions=true",
        f"{window}&service_code={quote(','.join(codes))}",
        "updated_after=2024-02-01T00:00:00Z&extensions=true",
    ]
    for rule in server.url_map.iter_rules():
        path = rule.rule
        if not path.startswith(("/public", "/open311")) or "GET" not in rule.methods:
            continue
        covered.add(path)
        if "<path:fingerprinted_path>" in path:  # Dash's JavaScript bundles: code, not data
            continue
        if path.startswith("/public/assets"):
            urls.append("/public/assets/stat311.css")
        elif path == "/public/<path:path>":
            urls += [f"/public/requests/{quote(i)}" for i in ids]
            urls += ["/public/map", "/public/performance", "/public/nothing"]
        elif path.endswith(".<fmt>"):
            for fmt in ("json", "xml"):
                base = path.replace("<fmt>", fmt)
                queries = list_queries if "requests" in path else [""]
                urls += [base + ("?" + q if q else "") for q in queries]
        elif path == "/open311/v2/requests/<path:name>":
            for fmt in ("json", "xml"):
                urls += [f"/open311/v2/requests/{quote(i)}.{fmt}?extensions=true" for i in ids]
                urls += [f"/open311/v2/requests/{quote(i)}.{fmt}" for i in ids]
        elif path == "/open311/v2/services/<path:name>":
            urls += [f"/open311/v2/services/{quote(c)}.{f}" for c in codes for f in ("json", "xml")]
        elif "<" in path:
            urls.append(re.sub(r"<[^>]+>", "x", path))
        else:
            urls.append(path)
    return urls, covered


def _callback_payloads(public_app, ids: list[str], types: list[str]) -> list[dict[str, Any]]:
    """A ``/public/_dash-update-component`` body for every server-side callback, with the inputs
    a visitor can produce (every page, every request, every map setting)."""
    paths = ["/public/", "/public/map", "/public/performance", "/public/x"]
    paths += [f"/public/requests/{quote(i)}" for i in ids]
    values: dict[str, list[Any]] = {
        "public-url.pathname": paths,
        "public-track-number.value": [*ids, "", "<b>x</b>"],
        "public-map-type.value": [None, *types],
        "public-map-days.value": ["30", "90", "365"],
        "public-map-view.value": ["area", "cell", "points"],
        "public-viewport.data": [390],
        "public-map-graph.clickData": [
            {"points": [{"customdata": [i, "x", "y", "z"]}]} for i in ids
        ],
    }
    payloads = []
    for key, spec in public_app.callback_map.items():
        if "callback" not in spec:  # clientside: runs in the browser only
            continue
        outputs = spec["output"] if isinstance(spec["output"], list | tuple) else [spec["output"]]
        out_specs = [{"id": str(o.component_id), "property": o.component_property} for o in outputs]
        deps = [*spec["inputs"], *spec.get("state", [])]
        names = [f"{d['id']}.{d['property']}" for d in deps]
        # One request per value of each input in turn (the others at their first value).
        variants = [{n: values.get(n, [None])[0] for n in names}]
        for name in names:
            for value in values.get(name, [None])[1:]:
                variants.append({**variants[0], name: value})
        for chosen in variants:

            def item(dep: dict[str, Any], chosen: dict[str, Any] = chosen) -> dict[str, Any]:
                name = f"{dep['id']}.{dep['property']}"
                return {"id": dep["id"], "property": dep["property"], "value": chosen[name]}

            payloads.append(
                {
                    "output": key,
                    "outputs": out_specs if len(out_specs) > 1 else out_specs[0],
                    "inputs": [item(d) for d in spec["inputs"]],
                    "state": [item(d) for d in spec.get("state", [])],
                    "changedPropIds": [names[0]],
                }
            )
    return payloads


def _echo_only(body: bytes, unknown_body: bytes, texts: list[str], what: str) -> list[str]:
    """A request that names the private case may echo the number the visitor typed, nothing
    more: its answer must be the answer for an unknown number, with the number swapped."""

    def same(data: bytes) -> bytes:  # Dash's page carries a fresh token per request
        return re.sub(rb'"end_id":"[^"]*"', b"", data)

    assert same(body.replace(PRIVATE_ID.encode(), UNKNOWN_ID.encode())) == same(unknown_body), what
    return [t.replace(PRIVATE_ID, "") for t in texts]


def crawl(app) -> tuple[dict[str, list[str]], dict[str, int], str]:
    """GET every public URL and POST every public callback; returns (leaks by request, counts,
    all the text seen)."""
    server = app.server
    client = server.test_client()
    public_app = server.extensions["stat311_public_app"]
    ids = [c[0] for c in PLANTED_CASES] + ["1019990001" + f"{i:02d}" for i in range(0, 30, 5)]
    types = sorted({c[1] for c in PLANTED_CASES})
    urls, covered = _get_urls(server, ids, types)
    assert {
        "/public/",
        "/public/<path:path>",
        "/public/_dash-layout",
        "/public/_dash-dependencies",
        "/open311/v2/requests.<fmt>",
        "/open311/v2/requests/<path:name>",
        "/open311/v2/services.<fmt>",
        "/open311/v2/services/<path:name>",
        "/open311/v2/discovery.<fmt>",
        "/open311/v2/openapi.json",
    } <= covered
    leaks: dict[str, list[str]] = {}
    seen = {"requests": 0, "callbacks": 0, "bytes": 0}
    corpus: list[str] = []
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        texts = _texts(response.data, response.mimetype)
        if PRIVATE_ID in url:
            twin = client.get(url.replace(PRIVATE_ID, UNKNOWN_ID))
            texts = _echo_only(response.data, twin.data, texts, url)
        seen["requests"] += 1
        seen["bytes"] += len(response.data)
        corpus.append(texts[-1])
        if found := _leaks(texts):
            leaks[url] = found
    for payload in _callback_payloads(public_app, ids, types):
        response = client.post("/public/_dash-update-component", json=payload)
        assert response.status_code in (200, 204), (payload["output"], response.data[:300])
        texts = _texts(response.data, "application/json")
        sent = json.dumps(payload, default=str)
        if PRIVATE_ID in sent:
            twin = json.loads(sent.replace(PRIVATE_ID, UNKNOWN_ID))
            other = client.post("/public/_dash-update-component", json=twin)
            texts = _echo_only(response.data, other.data, texts, sent)
        seen["callbacks"] += 1
        seen["bytes"] += len(response.data)
        corpus.append(texts[-1])
        if found := _leaks(texts):
            leaks[f"callback {payload['output']} {payload['inputs']}"] = found
    return leaks, seen, "\n".join(corpus)


def test_no_planted_personal_data_appears_anywhere_public(app) -> None:
    leaks, seen, everything = crawl(app)
    print(f"privacy crawl: {seen}")
    assert not leaks, json.dumps(leaks, indent=1)[:5000]
    # The crawl did reach the planted cases: their redacted text and markers are there.
    assert "[e-mail removed]" in everything and "[phone removed]" in everything
    assert "[name removed]" in everything and "[handle removed]" in everything
    assert "101999000002" in everything and SENSITIVE_ID in everything
    assert "closed as a duplicate of request 101999000001." in everything
    assert "closed as a duplicate of another request." in everything
    assert seen["callbacks"] > 40 and seen["requests"] > 60


def test_the_crawl_would_see_a_leak(planted, reset_dash_registries, monkeypatch) -> None:
    """The same crawl with redaction switched off and no sensitive types finds the planted text
    (so a green crawl means something)."""
    monkeypatch.setattr("dashboard.public.redact", lambda text: text)
    unsafe = replace(planted, rate_limit="1000000 per minute", public_sensitive_types="")
    leaks, _, _ = crawl(create_app(unsafe))
    found = {word for words in leaks.values() for word in words}
    assert {"Zebulon", "jane.planted@example.org", "(617) 555-0142", "Fizzlewick"} <= found
    assert "Xylophant" not in found and "Gorblesnatch" not in found  # never read at all


def test_private_case_answers_exactly_like_an_unknown_one(app) -> None:
    client = app.server.test_client()
    for fmt in ("json", "xml"):
        private = client.get(f"/open311/v2/requests/{PRIVATE_ID}.{fmt}")
        unknown = client.get(f"/open311/v2/requests/101999999999.{fmt}")
        assert private.status_code == unknown.status_code == 404
        assert private.data.replace(PRIVATE_ID.encode(), b"ID") == unknown.data.replace(
            b"101999999999", b"ID"
        )
    listed = client.get(f"/open311/v2/requests.json?service_request_id={PRIVATE_ID},101999000002")
    assert [r["service_request_id"] for r in listed.get_json()] == ["101999000002"]
