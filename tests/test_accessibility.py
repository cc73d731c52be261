"""Accessibility (WCAG 2.1 AA) of the staff pages and the public portal: controls named by their
labels, landmarks, tiers in colour and words, readable chart labels (component trees), and in
real headless Chromium the computed contrast and the keyboard focus."""

from __future__ import annotations

import re
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import dcc, html

from dashboard.sla import TIER_STYLE, Tier
from layouts import department, hotspots, overview, public, requests, shell
from layouts.department_figures import STATE_COLOURS, STATE_TEXT_COLOURS, aging_histogram
from tests.support.components import parents as _parents
from tests.support.components import walk


# -- helpers -----------------------------------------------------------------------------------
def luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


#: Controls Dash draws itself, which ``<label for>`` does not name.
DRAWN = (dcc.Dropdown, dcc.DatePickerSingle, dcc.DatePickerRange)


def _pages() -> dict[str, Any]:
    return {
        "overview": overview.layout(),
        "requests": requests.layout(),
        "department": department.layout("PWDx"),
        "hotspots": hotspots.layout(),
    }


def test_the_public_map_has_native_selects_named_by_their_labels() -> None:
    """The public map draws no Dash dropdown (its hidden focus box is an axe-core violation,
    tests/test_accessibility_axe.py): three native selects, each named by ``label for``; the
    type box offers every type after "All request types" (value "")."""
    import dash_bootstrap_components as dbc

    root = public.map_page(["Street Light Outages", "Pothole"], default_days=30)
    nodes = walk(root)
    assert not [n for n in nodes if isinstance(n, DRAWN)]
    selects = [n for n in nodes if isinstance(n, dbc.Select)]
    labels = {n.html_for: n.children for n in nodes if isinstance(n, dbc.Label)}
    assert [labels[s.id] for s in selects] == ["Request type", "Period", "Show"]
    kind = selects[0]
    assert kind.value == "" and kind.options[0] == {"label": "All request types", "value": ""}
    assert [o["value"] for o in kind.options[1:]] == ["Street Light Outages", "Pothole"]
    # No group named like the label around them: a screen reader would say the name twice.
    parents = _parents(root)
    assert not [s.id for s in selects if getattr(parents[id(s)], "role", None) == "group"]


# -- component trees ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(_pages()))
def test_every_drawn_control_is_in_a_group_named_by_its_visible_label(name: str) -> None:
    """A Dash dropdown is a button named by its value ("All departments"), a date box by its
    placeholder ("from"), radio buttons a <div>: each sits in a group (radiogroup) named with
    the words of the visible label just before it, so a screen reader names the field."""
    root = _pages()[name]
    nodes = walk(root)
    parents = _parents(root)
    controls = [
        n
        for n in nodes
        if isinstance(n, DRAWN) or type(n).__name__ == "RadioItems"  # dbc.RadioItems
    ]
    assert controls
    for control in controls:
        group = parents[id(control)]
        role = "radiogroup" if type(control).__name__ == "RadioItems" else "group"
        assert isinstance(group, html.Div) and group.role == role, control.id
        siblings = parents[id(group)].children
        label = siblings[siblings.index(group) - 1]
        assert type(label).__name__ == "Label", control.id
        assert getattr(group, "aria-label") == label.children, control.id


def test_staff_frame_has_banner_navigation_and_a_focusable_main(reset_dash_registries) -> None:
    dash.Dash(__name__, use_pages=True, pages_folder="")
    frame = shell.layout()
    nodes = walk(frame)
    skip = nodes[1]
    assert isinstance(skip, html.A) and skip.href == "#main"
    (header,) = [n for n in nodes if isinstance(n, html.Header)]
    assert type(header.children).__name__ == "Navbar"
    (main,) = [n for n in nodes if isinstance(n, html.Main)]
    assert main.id == "main" and main.tabIndex == "-1"


def test_public_page_has_one_footer_landmark() -> None:
    """Dash's scripts are not wrapped in a second, empty <footer> (contentinfo)."""
    assert public.INDEX_STRING.count("<footer") == 0
    assert '<html lang="en">' in public.INDEX_STRING
    assert sum(isinstance(n, html.Footer) for n in walk(public.layout())) == 1


@pytest.mark.parametrize("tier", list(Tier))
def test_tiers_are_colour_icon_and_words_with_white_text_readable(tier: Tier) -> None:
    style = TIER_STYLE[tier]
    assert contrast(style["color"], "#ffffff") >= 4.5
    assert style["icon"].startswith("bi-")
    badge = department.tier_badge(tier)
    assert str(tier) in badge.children and badge.children[0].className.startswith("bi ")
    look = public.TIER_LOOK[str(tier)]
    assert look["color"] == style["color"] and look["icon"] == style["icon"]
    assert department.tier_label(tier).endswith(str(tier))


def test_aging_counts_are_readable_on_their_bars() -> None:
    """Counts inside the bars: >= 4.5:1 on each bar colour, the overdue hatching drawn on the
    red (not on a transparent ground behind white text), counts that do not fit left out
    rather than shrunk or turned."""
    ages = pd.DataFrame(
        {
            "bucket": ["0–2 days", "0–2 days", "3–7 days", "3–7 days", "3–7 days"],
            "state": ["Overdue", "Not yet due", "Overdue", "Not yet due", "No due time"],
            "count": [3, 250, 99, 400, 12],
        }
    )
    fig = go.Figure(aging_histogram(ages, as_of_label="now")).to_plotly_json()  # validates it
    for trace in fig["data"]:
        state = trace["name"]
        text = trace["insidetextfont"]["color"]
        assert text == STATE_TEXT_COLOURS[state]
        assert contrast(text, STATE_COLOURS[state]) >= 4.5, state
        assert trace["textangle"] == 0
        if state == "Overdue":
            pattern = trace["marker"]["pattern"]
            assert pattern["fillmode"] == "overlay"
            assert contrast(text, pattern["fgcolor"]) >= 4.5
    assert fig["layout"]["uniformtext"] == {"minsize": 11, "mode": "hide"}


# -- in Chromium -------------------------------------------------------------------------------
browser = pytest.mark.browser

CONTRAST_JS = """sel => { const el = document.querySelector(sel); if (!el) return null;
  const rgba = c => c.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = rgba(c).slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = el;  // the nearest ancestor with an opaque background
  while (bg.parentElement && (rgba(getComputedStyle(bg).backgroundColor)[3] ?? 1) < 1)
    bg = bg.parentElement;
  const [a, b] = [lum(getComputedStyle(el).color), lum(getComputedStyle(bg).backgroundColor)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }"""

FOCUS_RING_JS = """() => { const s = getComputedStyle(document.activeElement);
  return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; }"""


@pytest.fixture
def served(served_demo):
    return served_demo


@browser
def test_public_portal_contrast_and_focus_in_chromium(served) -> None:
    """On the portal's light grey page: links and the error text >= 4.5:1; keyboard focus is a
    solid ring (white on the dark header)."""
    from playwright.sync_api import expect

    from tests.support.browser import chromium_browser

    url, _ = served
    with chromium_browser() as chromium:
        page = chromium.new_page()
        page.goto(url + "/public/")
        expect(page.get_by_role("heading", name="Track a request")).to_be_visible(timeout=20_000)
        page.keyboard.press("Tab")  # the skip link, then the portal's name in the dark header
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('header') !== null")
        assert page.evaluate(FOCUS_RING_JS) == ["solid", 2.0, "rgb(255, 255, 255)"]
        page.get_by_label("Tracking number").focus()
        page.keyboard.press("Tab")  # the Track button, on the page
        assert page.evaluate(FOCUS_RING_JS) == ["solid", 2.0, "rgb(29, 78, 216)"]

        assert page.evaluate(CONTRAST_JS, "footer a") >= 4.5
        page.keyboard.press("Enter")  # no number: the error, in red
        expect(page.locator("#public-track-feedback")).not_to_be_empty(timeout=20_000)
        assert page.evaluate(CONTRAST_JS, "#public-track-feedback") >= 4.5


@browser
def test_staff_skip_link_and_dropdown_name_in_chromium(served) -> None:
    """Tab, Enter on "Skip to content" puts the focus on <main>; the next Tab is the page's
    first control. The department dropdown reads as "Departments" (its group) in the
    accessibility tree, and opens and closes from the keyboard."""
    from playwright.sync_api import expect

    from tests.support.browser import chromium_browser
    from tests.support.signin import A11Y_USER, browser_sign_in

    url, password = served
    with chromium_browser() as chromium:
        page = chromium.new_page()
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/?period=month&date=2011-09-01")
        expect(page.locator("#overview-cards .overview-card").first).to_be_visible(timeout=20_000)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('[role=radiogroup]') !== null")
        assert page.evaluate(FOCUS_RING_JS)[:2] == ["solid", 2.0]

        button = page.get_by_role("group", name="Departments").get_by_role(
            "button", name="All departments"
        )
        expect(button).to_have_id("overview-department")
        button = page.locator("#overview-department")  # its name changes with its value
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Escape")
        expect(button).to_have_attribute("aria-expanded", "false")
        expect(page).to_have_title(re.compile("Overview"))


# -- the page template -----------------------------------------------------------------------------
def test_staff_and_public_pages_declare_their_language_and_one_footer(
    demo, reset_dash_registries
) -> None:
    """WCAG 3.1.1: ``<html lang>`` on every page; Dash's default template also added an empty
    ``<footer>`` (a second footer landmark on the portal). The 404 page has its own title, and the
    sign-in page loads the stylesheet that darkens its link (4.27:1 with Bootstrap's blue)."""
    from dashboard.app_factory import create_app
    from tests.support.signin import client_sign_in, make_user

    settings = demo[0]
    app = create_app(settings)
    client = app.server.test_client()
    password = make_user(settings, "a11y-lang@city.test", role="executive")
    assert client_sign_in(client, "a11y-lang@city.test", password).status_code == 302
    for path in ("/", "/requests", "/pack", "/no-such-page", "/public/", "/public/map"):
        page = client.get(path).get_data(as_text=True)
        assert re.search(r'<html lang="en">', page), path
        assert page.count("<footer") <= 1, path
    assert dash.page_registry[shell.NOT_FOUND_MODULE]["title"] == shell.NOT_FOUND_TITLE
    sign_in = app.server.test_client().get("/sign-in").get_data(as_text=True)
    assert '<html lang="en">' in sign_in and "/assets/stat311.css" in sign_in


def test_the_department_page_title_names_the_department(demo, reset_dash_registries) -> None:
    """WCAG 2.4.2: a tab per department reads "Public Works Department (PWDx) · Department ·
    stat311" (its code alone when it has no name), not the same title for every department; Dash
    Pages calls the title with the address's variables."""
    from dashboard.app_factory import create_app

    create_app(demo[0])
    page = next(
        p for p in dash.page_registry.values() if p["path_template"] == "/department/<code>"
    )
    assert callable(page["title"])
    assert page["title"](code="PWDx") == "Public Works Department (PWDx) · Department · stat311"
    assert page["title"](code="BTDT%20x") == "BTDT x · Department · stat311"  # decoded, no name
    assert page["title"](code="") == "Department · stat311"
