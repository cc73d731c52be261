"""axe-core (Deque's accessibility engine, bundled by ``axe-playwright-python``) on every page,
in real headless Chromium, against WCAG 2.0/2.1 levels A and AA.

The public portal and the sign-in page must have no violation at all. The staff pages may have
only the ones Dash's own widgets bring, listed in :data:`DASH_WIDGETS` (Dash draws their markup;
see README.md, "Accessibility"); any other violation, or one of those rules on another
element, fails: what we write ourselves stays clean. The hot-spot page's request type,
department, measure, hexagon size and time step, and the Requests page's period and boundary
layer, are native selects (they were Dash dropdowns): none of them may be flagged, and axe must
have checked each one's name (:func:`_assert_native_selects_clean`). The hot-spot page has no
Dash dropdown left: no ``aria-hidden-focus`` there at all. Every date box of the staff pages is
a native ``<input type="date">`` named by its label (they were Dash date pickers, which axe
flagged ``aria-allowed-attr`` and ``aria-prohibited-attr``): :func:`_assert_date_boxes_clean`.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import chromium_browser
from tests.support.signin import A11Y_USER, browser_sign_in

pytestmark = pytest.mark.browser

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}

#: Violations Dash 4's widgets bring (rule -> the widget's class on the flagged element): the
#: multi-choice dropdowns' hidden focus box (``aria-hidden`` yet focusable). Dash draws it for
#: Safari, which skips buttons when tabbing; on focus it hands the focus to the dropdown's
#: button at once (:func:`test_tab_lands_on_the_dropdowns_button_not_its_hidden_box`).
DASH_WIDGETS = {
    "aria-hidden-focus": "dash-dropdown-focus-target",
}

PUBLIC = [
    ("/public/", "#public-track-number"),
    ("/public/map?type=Street+Light+Outages&days=90&view=area", "#public-map-summary"),
    ("/public/map?type=Street+Light+Outages&days=90&view=cell", "#public-map-summary"),
    ("/public/map?type=Street+Light+Outages&days=90&view=points", "#public-map-summary"),
    ("/public/map", "#public-map-summary"),
    ("/public/performance", ".dash-graph"),
    ("/public/requests/101000295613", "#public-track-result"),
    ("/public/requests/doesnotexist", "#public-track-result"),
    ("/sign-in", "form"),
]
STAFF = [
    ("/?period=month&date=2011-09-01", ".dash-graph"),
    # The custom dates' From and To boxes are shown for a custom period only.
    ("/?period=custom&from=2011-09-01&to=2011-09-30", ".dash-graph"),
    ("/requests?from=2011-08-01&to=2011-10-31&period=month", ".dash-graph"),
    ("/department/PWDx?period=month&date=2011-09-01", ".ag-root"),
    ("/hotspots", "#hotspots-table tbody tr"),
    # Emerging hot spots: the time step's select is shown too.
    ("/hotspots?mode=emerging", "#hotspots-table tbody tr"),
    ("/pack?period=month&date=2011-09-01", "table"),
]


#: The native selects (``dbc.Select``, which replaced Dash dropdowns there) of the pages whose
#: path starts with the key, and their labels: they must bring no violation of their own.
NATIVE_SELECTS = {
    "/hotspots": {
        "hotspots-type": "Request type",
        "hotspots-department": "Department",
        "hotspots-mode": "Measure",
        "hotspots-resolution": "Hexagon size",
        "hotspots-step": "Time step",
    },
    "/requests": {"requests-period": "Period", "requests-layer": "Boundary layer"},
    "/department": {"department-layer": "Boundary layer"},
}


def _run(page: Page, url: str, ready: str) -> dict[str, Any]:
    """axe's results on ``url`` once Dash has drawn it (``ready`` visible, nothing loading)."""
    from axe_playwright_python.sync_playwright import Axe

    page.goto(url)
    expect(page.locator(ready).first).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=30_000
    )
    page.wait_for_load_state("networkidle")
    return Axe().run(page, options=WCAG_AA).response


def _audit(page: Page, url: str, ready: str) -> list[dict[str, Any]]:
    """axe's violations on ``url`` once Dash has drawn it."""
    return _run(page, url, ready)["violations"]


def _targets(results: list[dict[str, Any]], rule: str | None = None) -> list[str]:
    """Every selector axe names (a node's target, and its HTML) in ``results``."""
    return [
        str(part)
        for r in results
        if rule is None or r["id"] == rule
        for n in r["nodes"]
        for part in (*n["target"], n["html"])
    ]


def _assert_native_selects_clean(page: Page, response: dict[str, Any], path: str) -> None:
    """The page's selects are native ``<select>``s named by their visible labels, axe checked
    their names (``select-name`` passes on each one shown) and no violation is on them."""
    flagged = _targets(response["violations"])
    named = _targets(response["passes"], "select-name")
    selects = next(v for k, v in NATIVE_SELECTS.items() if path.startswith(k))
    for id_, label in selects.items():
        expect(page.locator(f"select#{id_}")).to_have_count(1)
        # axe names a node by its id, or through the group its label names (as it named the
        # dropdowns' focus boxes: 'div[aria-label="Measure"] > .dash-dropdown-wrapper > ...').
        assert not [t for t in flagged if id_ in t or f'"{label}"' in t], (path, id_, flagged)
        if id_ == "hotspots-step" and "mode=emerging" not in path:
            expect(page.locator(f"#{id_}")).to_be_hidden()  # shown for emerging hot spots only
            continue
        expect(page.get_by_role("combobox", name=label, exact=True)).to_be_visible()
        assert any(f"#{id_}" in t for t in named), (path, id_, named)


#: The date boxes (native ``<input type="date">``) of the pages whose path starts with the key,
#: and their labels; the custom From and To boxes only where the period is custom.
DATE_BOXES = {
    "/?period=custom": {
        "overview-date": "Containing the day",
        "overview-range-start": "From",
        "overview-range-end": "To",
    },
    "/?": {"overview-date": "Containing the day"},
    "/requests": {"requests-dates-start": "From", "requests-dates-end": "To"},
    "/department": {"department-date": "Containing the day"},
    "/hotspots": {"hotspots-dates-start": "From", "hotspots-dates-end": "To"},
}


def _assert_date_boxes_clean(page: Page, response: dict[str, Any], path: str) -> None:
    """The page's date boxes are native date inputs, visible, named by their labels (axe's
    ``label`` check passes on each) and flagged by nothing; no Dash date picker is left."""
    flagged = _targets(response["violations"])
    named = _targets(response["passes"], "label")
    boxes = next((v for k, v in DATE_BOXES.items() if path.startswith(k)), None)
    if boxes is None:
        return
    expect(page.locator(".dash-datepicker-input-wrapper, .dash-datepicker")).to_have_count(0)
    for id_, label in boxes.items():
        box = page.locator(f"input#{id_}")
        expect(box).to_have_attribute("type", "date")
        expect(box).to_be_visible()
        expect(page.get_by_label(label, exact=True).and_(box)).to_have_count(1)
        assert not [t for t in flagged if id_ in t], (path, id_, flagged)
        assert any(f"#{id_}" in t for t in named), (path, id_, named)


def _nodes(violations: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(v["id"], v["impact"], n["html"][:160]) for v in violations for n in v["nodes"]]


def test_public_pages_have_no_wcag_violation(served_demo) -> None:
    url, _ = served_demo
    with chromium_browser() as browser:
        for width, height in ((1366, 900), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            for path, ready in PUBLIC:
                found = _nodes(_audit(page, url + path, ready))
                assert not found, (path, width, found)
            page.close()


def test_staff_pages_have_only_the_dash_widgets_violations(served_demo) -> None:
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        seen: set[str] = set()
        for path, ready in STAFF:
            response = _run(page, url + path, ready)
            for rule, impact, html in _nodes(response["violations"]):
                widget = DASH_WIDGETS.get(rule)
                assert widget is not None and widget in html, (path, rule, impact, html)
                seen.add(rule)
            if path.startswith(tuple(NATIVE_SELECTS)):
                _assert_native_selects_clean(page, response, path)
            _assert_date_boxes_clean(page, response, path)
            if path.startswith("/hotspots"):  # no Dash dropdown left there
                assert not _targets(response["violations"], "aria-hidden-focus"), path
        # The list is kept honest: a rule Dash no longer brings is taken off it.
        assert seen == set(DASH_WIDGETS), seen


def test_tab_lands_on_the_dropdowns_button_not_its_hidden_box(served_demo) -> None:
    """The one violation left on the staff pages (``aria-hidden-focus``) is Dash's focus box in
    front of each multi-choice dropdown. Tabbing into it must move the focus on to the
    dropdown's own button at once, which screen readers see, named by its value in a group
    named by the label; Enter then opens the list of options."""
    url, password = served_demo
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        browser_sign_in(page, url, A11Y_USER, password)
        page.goto(url + "/requests?from=2011-08-01&to=2011-10-31&period=month")
        expect(page.locator(".dash-graph").first).to_be_visible(timeout=30_000)
        # The dropdowns are drawn once the page's first callback has filled them.
        page.wait_for_function(
            "() => document.querySelectorAll('.dash-dropdown-focus-target + button').length >= 4"
            " && !document.querySelector('[data-dash-is-loading=\"true\"]')",
            timeout=30_000,
        )
        buttons = page.locator(".dash-dropdown-focus-target + button").evaluate_all(
            "els => els.map(e => e.id)"
        )
        assert len(buttons) >= 4, buttons
        # Tab through the page from its first control, as a keyboard user does.
        page.locator("#requests-period").focus()
        reached: list[str] = []
        for _ in range(60):
            page.keyboard.press("Tab")
            tag, id_, hidden, cls = page.evaluate(
                "() => { const e = document.activeElement; return [e.tagName, e.id, "
                "e.getAttribute('aria-hidden'), e.className]; }"
            )
            assert hidden is None and "dash-dropdown-focus-target" not in str(cls), (tag, id_)
            reached.append(id_)
        missed = [b for b in buttons if b not in reached]
        assert not missed, (missed, reached)
        # Enter on the focused button opens its options.
        page.locator("#requests-status").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#requests-status")).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Escape")
        expect(page.locator("#requests-status")).to_have_attribute("aria-expanded", "false")
