"""The hot-spot page's measure, hexagon size and time step are native selects (``dbc.Select``,
not Dash's dropdown, whose hidden focus box axe-core reports: ``aria-hidden-focus``), each named
by a visible ``<label for>``; their ids, the callbacks' inputs and outputs, and the URL's
parameters and values are those of the dropdowns they replace, so earlier links open the same
view. The request type (a long, searchable list) and the department stay Dash dropdowns."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
import pytest
from dash import dcc

from dashboard import hotspots as hs
from dashboard.queries import ReadModel
from tests.support.signin import signed_in_staff_app
from tests.test_auth import payload

SELECTS = {
    "hotspots-mode": "Measure",
    "hotspots-resolution": "Hexagon size",
    "hotspots-step": "Time step",
}
#: Links as earlier versions of the page wrote them (the canonical order of ``to_query``).
LINKS = [
    "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31",
    "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31&res=8&mode=late",
    "?type=Request+for+Pothole+Repair&from=2011-07-01&to=2011-12-31&res=10&mode=emerging",
    "?type=Request+for+Pothole+Repair&from=2011-07-01&to=2011-12-31&res=7&mode=emerging"
    "&step=month&view=density",
    "?type=Street+Light+Outages&department=PWDx&from=2011-09-01&to=2011-10-31&res=9"
    "&mode=share&step=week",
]


def _walk(node: Any) -> list[Any]:
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif hasattr(item, "to_plotly_json"):
            found.append(item)
            stack.append(getattr(item, "children", None))
    return found


def test_the_short_lists_are_native_selects_with_visible_labels() -> None:
    from layouts.hotspots import Ids, layout

    nodes = _walk(layout())
    by_id = {str(n.id): n for n in nodes if getattr(n, "id", None) is not None}
    labels = {
        str(n.html_for): n.children
        for n in nodes
        if isinstance(n, dbc.Label) and getattr(n, "html_for", None)
    }
    for id_, label in SELECTS.items():
        select = by_id[id_]
        assert isinstance(select, dbc.Select), id_
        assert labels[id_] == label, id_
        values = [o["value"] for o in select.options]
        # Text values (a native select's value is text), one of them chosen from the start.
        assert all(isinstance(v, str) and v for v in values), (id_, values)
        assert select.value in values, id_
    # No ``role="group"`` named like the label around a native select: its label names it.
    groups = [n for n in nodes if getattr(n, "role", None) in ("group", "radiogroup")]
    for group in groups:
        inside = {str(getattr(n, "id", "")) for n in _walk(group.children)}
        assert not inside & set(SELECTS), group
    assert isinstance(by_id[Ids.TYPE], dcc.Dropdown)
    assert isinstance(by_id[Ids.DEPARTMENT], dcc.Dropdown)
    assert isinstance(by_id[Ids.DATES], dcc.DatePickerRange)


@pytest.fixture(scope="module")
def read_model(demo) -> ReadModel:
    return ReadModel(demo[0].snapshot_dir)


@pytest.mark.parametrize("link", LINKS)
def test_a_link_round_trips_through_the_selects(read_model, link: str) -> None:
    """The link -> the values the page puts in the controls (``page_options``, as the page's
    first callback does) -> each an option of its select -> the parameters the controls give
    -> the same link, character for character."""
    from callbacks.hotspots import page_options, params_from_controls
    from layouts.hotspots import MODE_OPTIONS, RESOLUTION_OPTIONS, STEP_OPTIONS

    o = page_options(read_model, link)
    for key, options in (
        ("mode", MODE_OPTIONS),
        ("resolution", RESOLUTION_OPTIONS),
        ("step", STEP_OPTIONS),
    ):
        assert o[key] in [opt["value"] for opt in options], (link, key, o[key])
    params = params_from_controls(
        type_=o["type"],
        department=o["department"],
        start=o["start"],
        end=o["end"],
        resolution=o["resolution"],
        mode=o["mode"],
        step=o["step"],
        view=o["view"],
    )
    assert params == hs.HotspotParams.from_query(link)
    assert params.to_query() == link


def test_the_resolution_is_a_number_whatever_the_select_sends() -> None:
    """A select's "8" (or a number 8, or "auto"/"" for automatic) gives the same question as
    the URL's ``res=8``, and the URL keeps ``res=8``."""
    from callbacks.hotspots import params_from_controls

    def params(resolution: Any, step: Any = "auto") -> hs.HotspotParams:
        return params_from_controls(
            type_="Street Light Outages",
            department=None,
            start="2011-07-01",
            end="2011-12-31",
            resolution=resolution,
            mode="emerging",
            step=step,
            view="map",
        )

    assert params("8").resolution == 8
    assert params(8).resolution == 8
    assert "res=8" in params("8").to_query()
    for automatic in ("auto", "", None):
        assert params(automatic).resolution is None
        assert "res=" not in params(automatic).to_query()
    assert params("99").resolution is None  # not a resolution offered: automatic
    assert params("8", "month").step == "month"
    assert params("8", "").step is None and params("8", "auto").step is None


@pytest.fixture
def staff(demo, reset_dash_registries):
    return signed_in_staff_app(demo[0], "selects@city.test")


def test_the_selects_values_reach_the_callback_and_the_url(staff) -> None:
    """Through the real server: the text the native selects send gives the same address the
    dropdowns' did; a value no select can hold (an object, a list) is refused before the
    callback."""
    app, client = staff
    key, spec = next((k, v) for k, v in app.callback_map.items() if "hotspots-map.figure" in k)
    values = {
        "hotspots-type.value": "Street Light Outages",
        "hotspots-dates.start_date": "2011-07-01",
        "hotspots-dates.end_date": "2011-12-31",
        "hotspots-resolution.value": "8",
        "hotspots-mode.value": "late",
        "hotspots-step.value": "auto",
        "hotspots-view.value": "map",
    }
    response = client.post("/_dash-update-component", json=payload(key, spec, values))
    assert response.status_code == 200
    search = json.loads(response.data)["response"]["hotspots-url"]["search"]
    assert search == "?type=Street+Light+Outages&from=2011-07-01&to=2011-12-31&res=8&mode=late"
    for id_ in SELECTS:
        for bad in ({"a": 1}, [["8"]]):
            body = payload(key, spec, {**values, f"{id_}.value": bad})
            response = client.post("/_dash-update-component", json=body)
            assert response.status_code == 400, (id_, bad)
            assert "cannot hold that value" in json.loads(response.data)["error"]
