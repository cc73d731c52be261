"""Department names (``dashboard.departments``, setting ``STAT311_DEPARTMENT_NAMES``): the pages
show each department's name beside its code; codes without a name show as codes."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace

import pandas as pd
import pytest

from callbacks.hotspots import page_options
from callbacks.overview import overview_view
from callbacks.pack import pack_model
from callbacks.requests import filter_options
from dashboard.app_factory import create_app
from dashboard.departments import EXAMPLE_NAMES, DepartmentNames, load_names, parse_names
from dashboard.errors import ConfigError
from dashboard.services import Services
from dashboard.settings import Settings
from layouts.pack import cover
from tests.conftest import BOSTON_ZIP, NYC_CSV
from tests.support.components import walk

SEPTEMBER = "?period=month&date=2011-09-01"
AS_OF = pd.Timestamp("2026-01-01", tz="UTC")


def _text(component) -> str:
    """Every string in a component tree, joined by spaces."""
    parts = []
    for node in walk(component):
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if isinstance(child, str | int | float):
                parts.append(str(child).strip())
    return " ".join(parts)


def test_a_names_file_is_read_and_checked() -> None:
    names = parse_names("PWDx: Public Works  Department\n'No Q': No queue\n")
    assert dict(names) == {"PWDx": "Public Works Department", "No Q": "No queue"}
    assert names.label("PWDx") == "Public Works Department (PWDx)"
    assert names.name("PWDx") == "Public Works Department"
    assert names.label("ZZZ") == names.name("ZZZ") == "ZZZ"  # not named: the code alone
    assert names.label(None) == ""
    assert names.options(["ZZZ", "PWDx"]) == [
        {"label": "ZZZ", "value": "ZZZ"},
        {"label": "Public Works Department (PWDx)", "value": "PWDx"},
    ]
    assert dict(parse_names("")) == {}
    for text, message in (
        ("- PWDx\n", "must be a mapping"),
        ("PWDx: [a, b]\n", "line 1: each entry must be code: name"),
        ("PWDx: Public Works\nPWDx: Again\n", "line 2: PWDx is named twice"),
        ("PWDx: ''\n", "a code and a name are both needed"),
        (f"PWDx: {'x' * 81}\n", "over 80 characters"),
        ("PWDx: a\n  b: c: d\n", "not valid YAML"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_names(text, path="names.yaml")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_names("/nonexistent/names.yaml")


def test_the_shipped_file_names_every_department_of_the_bundled_samples() -> None:
    """Read with plain pandas from the raw exports: every Boston ``department`` and NYC
    ``Agency`` code has a name; NYC's names are the export's own ``Agency Name``."""
    names = load_names(None)
    assert load_names(EXAMPLE_NAMES) == names
    with zipfile.ZipFile(BOSTON_ZIP) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        with archive.open(member) as fh:
            boston = pd.read_csv(fh, dtype=str, usecols=["department"])
    nyc = pd.read_csv(NYC_CSV, dtype=str, usecols=["Agency", "Agency Name"])
    codes = set(boston["department"].dropna()) | set(nyc["Agency"].dropna())
    assert codes - set(names) == set()
    for code, agency in nyc.drop_duplicates("Agency").itertuples(index=False):
        assert names[code].startswith(agency), (code, names[code], agency)


@pytest.fixture(scope="module")
def services(demo) -> Services:
    return Services.from_settings(demo[0])


def test_overview_cards_and_controls_name_the_departments(services) -> None:
    names = services.departments
    view = overview_view(services, SEPTEMBER + "&department=PWDx&department=BTDT", as_of=AS_OF)
    cards = view["cards"]
    assert len(cards) == 2
    headings = [n for card in cards for n in walk(card) if type(n).__name__ == "H3"]
    assert sorted(_text(h) for h in headings) == sorted(
        [f"{names['BTDT']} BTDT", f"{names['PWDx']} PWDx"]
    )
    links = [n for card in cards for n in walk(card) if type(n).__name__ == "Link"]
    assert {link.title for link in links} == {
        f"Open the {names['PWDx']} page for this period",
        f"Open the {names['BTDT']} page for this period",
    }
    options = view["controls"]["department_options"]
    assert {"label": "Public Works Department (PWDx)", "value": "PWDx"} in options
    assert all(o["label"].endswith(f"({o['value']})") or o["label"] == o["value"] for o in options)
    assert view["chart_title"] == f"{names['PWDx']}, {names['BTDT']}"


def test_a_department_without_a_name_shows_its_code(demo) -> None:
    services = replace(Services.from_settings(demo[0]), departments=DepartmentNames())
    view = overview_view(services, SEPTEMBER + "&department=PWDx", as_of=AS_OF)
    (heading,) = [n for n in walk(view["cards"]) if type(n).__name__ == "H3"]
    assert _text(heading) == "PWDx"
    assert (
        view["controls"]["department_options"][0]["label"]
        == view["controls"]["department_options"][0]["value"]
    )


def test_the_pack_and_the_filters_name_the_departments(services) -> None:
    names = services.departments
    model = pack_model(services, SEPTEMBER, as_of=AS_OF)
    text = _text(cover(model))
    for card in model["cards"]:
        assert f"{names.name(card['department'])} {card['department']}" in text
    changed = [item for item in model["department_changes"]]
    assert changed and all(item["label"] == names.label(item["group"]) for item in changed)
    for options in (
        filter_options(services.read_model, "", names=names)["department_options"],
        page_options(services.read_model, "", names=names)["department_options"],
    ):
        assert {"label": names.label("ISD"), "value": "ISD"} in options


def test_the_setting_points_at_a_file_and_a_bad_file_stops_the_app(
    demo, tmp_path, reset_dash_registries
) -> None:
    custom = tmp_path / "names.yaml"
    custom.write_text("PWDx: Streets and Sanitation\n", encoding="utf-8")
    settings = Settings.from_env(
        {"STAT311_DEPARTMENT_NAMES": str(custom)},
        database_url=demo[0].database_url,
        snapshot_dir=demo[0].snapshot_dir,
    )
    assert settings.department_names == custom
    services = Services.from_settings(settings)
    view = overview_view(services, SEPTEMBER + "&department=PWDx", as_of=AS_OF)
    assert "Streets and Sanitation PWDx" in _text(view["cards"])
    custom.write_text("PWDx: [not, a, name]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"names\.yaml, line 1"):
        create_app(settings)


def test_the_cli_lists_codes_counts_and_the_unnamed(nyc, tmp_path, monkeypatch, capsys) -> None:
    """``stat311 departments``: every code of the loaded cases with its count (checked against
    the raw NYC export with pandas, less its quarantined rows) and name; unnamed codes on stderr."""
    from dashboard import schema
    from dashboard.cli import main

    settings, store = nyc
    names = tmp_path / "names.yaml"
    names.write_text("NYPD: Police\nDSNY: Sanitation\n", encoding="utf-8")
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    monkeypatch.setenv("STAT311_DEPARTMENT_NAMES", str(names))
    assert main(["departments", "--json"]) == 0
    out, err = capsys.readouterr()
    rows = {r["department"]: r for r in json.loads(out)}
    with store.connect() as conn:
        loaded = {
            r[0]
            for r in conn.execute(
                schema.cases.select().with_only_columns(schema.cases.c.request_id)
            )
        }
    raw = pd.read_csv(NYC_CSV, dtype=str, usecols=["Unique Key", "Agency"])
    expected = raw[raw["Unique Key"].isin(loaded)].groupby("Agency").size()
    assert {k: r["cases"] for k, r in rows.items()} == expected.to_dict()
    assert rows["NYPD"]["name"] == "Police" and rows["DOT"]["name"] is None
    unnamed = sorted(set(expected.index) - {"NYPD", "DSNY"})
    assert f"{len(unnamed)} department code(s) without a name ({', '.join(unnamed)})" in err
    assert str(names) in err
    assert main(["departments"]) == 0
    text = capsys.readouterr().out
    assert "Police" in text and "(no name)" in text


def test_the_department_page_names_its_department(services) -> None:
    from callbacks.department import department_view

    view = department_view(services, "PWDx", SEPTEMBER, as_of=AS_OF)
    (h1,) = [n for n in walk(view["heading"]) if type(n).__name__ == "H1"]
    assert _text(h1) == "Public Works Department PWDx"
    assert view["announcement"].startswith("Public Works Department, September 2011: ")
    tier = next(
        t
        for t in ("On Target", "Close But", "Problem", "Not enough")
        if t in _text(view["heading"])
    )
    assert tier in view["announcement"]
    unnamed = department_view(
        replace(services, departments=DepartmentNames()), "PWDx", SEPTEMBER, as_of=AS_OF
    )
    (h1,) = [n for n in walk(unnamed["heading"]) if type(n).__name__ == "H1"]
    assert _text(h1) == "PWDx department"
    empty = department_view(services, "PWDx", "?period=month&date=2019-09-01", as_of=AS_OF)
    assert "No cases of Public Works Department (PWDx) in September 2019" in json.dumps(
        empty["notice"].to_plotly_json(), default=str
    )


def test_the_portal_names_departments(demo) -> None:
    from datetime import UTC, datetime

    from callbacks.public import route
    from tests.support.public import public_data

    names = load_names(None)
    now = datetime(2012, 1, 15, tzinfo=UTC)
    with public_data(demo[0]) as data:
        content, _ = route(data, "/public/performance", now=now, names=names)
        codes = [item["department"] for item in data.performance()["departments"]]
        card = route(data, "/public/requests/101000295613", now=now, names=names)[0]
        record = data.lookup("101000295613")
        plain, _ = route(data, "/public/performance", now=now)
    headings = [_text(n) for n in walk(content) if type(n).__name__ == "H3"]
    assert codes
    assert {f"{names[c]} {c}" if c in names else c for c in codes} <= set(headings)
    assert f"{names['PWDx']} PWDx" in headings
    assert "PWDx" in [_text(n) for n in walk(plain) if type(n).__name__ == "H3"]
    assert names.label(record["department"]) in _text(card)


def test_open311_services_say_which_department_by_name(demo) -> None:
    """``services.json``'s descriptions name the department ("handled by Public Works
    Department (PWDx)"); ``agency_responsible`` and the rest keep the codes."""
    from dashboard.open311 import spec_service
    from tests.support.public import public_data

    with public_data(demo[0]) as data:
        services = data.services()
    lights = next(s for s in services if s["service_name"] == "Street Light Outages")
    assert lights["department"] == "PWDx"
    assert "handled by Public Works Department (PWDx)." in spec_service(lights)["description"]
