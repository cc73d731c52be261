"""Components shared by several pages (layout only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash_bootstrap_components as dbc
from dash import Output, html

from dashboard.auth import BUSY_MESSAGE
from dashboard.periods import KINDS, box_text


def labelled(
    label: str, component: Any, *, className: str = "small fw-semibold mb-1", role: str = "group"
) -> list[Any]:
    """A visible label and its control, tied together for screen readers.

    ``label for`` names an ``<input>``, but not the controls Dash draws itself: a dropdown is a
    button named by its value ("All departments"), a date box is named by its placeholder
    ("Select Date", "from") and a set of radio buttons is a ``<div>``. So the control also sits
    in a group (``role``: "group", or "radiogroup" for radio buttons) named with the label's
    words: a screen reader says "Departments, group" before "All departments, button". (No new
    component id: each page declares its ids once.)

    A native ``<select>`` (``dbc.Select``) or ``<input>`` (``dbc.Input``, such as
    :func:`date_box`) is named by its ``<label for>`` alone: a group named the same around it
    would make a screen reader say the name twice."""
    if isinstance(component, dbc.Select | dbc.Input):
        return [dbc.Label(label, className=className, html_for=component.id), component]
    for_ = {} if role == "radiogroup" else {"html_for": component.id}
    return [
        dbc.Label(label, className=className, **for_),
        html.Div(component, role=role, **{"aria-label": label}),
    ]


#: Milliseconds a date box waits after the last key before its value is sent: a date typed
#: digit by digit is sent once, not as each partial year ("0002", "0020", "0201").
DATE_DEBOUNCE_MS = 600


def date_box(id_: str, **props: Any) -> dbc.Input:
    """A native date box (``<input type="date">``): the browser's own calendar and keyboard
    entry, named by a ``<label for>`` (see :func:`labelled`, :func:`date_range`). Its
    ``value`` is ``"YYYY-MM-DD"``, or ``""`` while empty or incomplete; ``min`` and ``max``
    (the same form) bound the browser's calendar, not what a link or a request can send.

    Dash's own date pickers (``dcc.DatePickerSingle``/``Range``) fail axe-core's
    ``aria-allowed-attr`` check (critical) in Dash 4.4.1; a native box has nothing to fail."""
    return dbc.Input(id=id_, type="date", debounce=DATE_DEBOUNCE_MS, size="sm", **props)


def date_range(
    label: str, *, start_id: str, end_id: str, className: str = "small fw-semibold mb-1"
) -> html.Fieldset:
    """Two date boxes, "From" and "To", in a fieldset whose legend is ``label``: a screen
    reader says "Custom dates, group" then "From, date" (each box named by its own label)."""
    return html.Fieldset(
        [
            html.Legend(label, className=f"{className} float-none"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("From", html_for=start_id, className="small mb-0"),
                            date_box(start_id),
                        ],
                        xs=6,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("To", html_for=end_id, className="small mb-0"),
                            date_box(end_id),
                        ],
                        xs=6,
                    ),
                ],
                className="g-2",
            ),
        ],
        className="mb-0",
    )


def requested_between(*, start_id: str, end_id: str) -> dbc.Col:
    """The Requests and Hot spots pages' "Requested between" dates (the URL's ``from`` and
    ``to``) as a grid column: :func:`date_range`. An empty box is no bound."""
    return dbc.Col(
        date_range("Requested between", start_id=start_id, end_id=end_id),
        xs=12,
        md=6,
        lg=3,
        className="mb-2",
    )


def date_range_outputs(start_id: str, end_id: str) -> list[Output]:
    """The outputs a page's first callback fills a :func:`date_range` through, in the order of
    :func:`date_range_values`: each box's ``min`` and ``max``, then each box's ``value``."""
    return [
        Output(start_id, "min"),
        Output(start_id, "max"),
        Output(end_id, "min"),
        Output(end_id, "max"),
        Output(start_id, "value"),
        Output(end_id, "value"),
    ]


def date_range_values(first: object, last: object, start: object, end: object) -> tuple:
    """The values for :func:`date_range_outputs`: both calendars span ``first``–``last`` (the
    data's days; None without data), and the boxes hold ``start`` and ``end`` (``""``, an
    empty box, for no bound); all as ``"YYYY-MM-DD"`` text (:func:`dashboard.periods.box_text`)."""
    bounds = (box_text(first) or None, box_text(last) or None)
    return (*bounds, *bounds, box_text(start), box_text(end))


def period_columns(
    *,
    kind_id: str,
    date_id: str,
    range_start_id: str,
    range_end_id: str,
    range_box_id: str,
    kind: str | None = None,
    widths: tuple[int, int, int] = (4, 3, 5),
    range_hidden: bool = False,
) -> list[dbc.Col]:
    """The stat-meeting period picker (week, month, quarter, custom), as three grid columns:
    the kind, a day inside the period (a native date box), and the custom dates ("From" and
    "To" date boxes, shown for "custom" by a callback)."""
    box: dict[str, Any] = {"style": {"display": "none"}} if range_hidden else {}
    return [
        dbc.Col(
            labelled(
                "Period",
                dbc.RadioItems(
                    id=kind_id,
                    options=[{"label": k.title(), "value": k} for k in KINDS],
                    value=kind,
                    inline=True,
                ),
                role="radiogroup",
            ),
            xs=12,
            md=widths[0],
        ),
        dbc.Col(
            labelled("Containing the day", date_box(date_id), className="small mb-1"),
            xs=12,
            md=widths[1],
        ),
        dbc.Col(
            html.Div(
                date_range(
                    "Custom dates",
                    start_id=range_start_id,
                    end_id=range_end_id,
                    className="small mb-1",
                ),
                id=range_box_id,
                **box,
            ),
            xs=12,
            md=widths[2],
        ),
    ]


def download_status(id_: str) -> html.Div:
    """Under a download button: empty, or why the download was refused (:func:`busy_notice`).
    A ``role="status"`` region, there from the start, so what appears in it is read out."""
    return html.Div(id=id_, role="status", **{"aria-live": "polite", "aria-atomic": "true"})


def busy_notice() -> html.Div:
    """The download was refused while a load holds the store's write lock (its audit row could
    not be written). Styled as an alert, without a second ``alert`` role inside the status."""
    return html.Div(
        [html.I(className="bi bi-hourglass-split me-2", **{"aria-hidden": "true"}), BUSY_MESSAGE],
        className="alert alert-warning small py-2 mb-2",
    )


def department_title(values: Mapping[str, Any]) -> list[Any]:
    """A department as a heading or a cell shows it: its name with its code after it (small and
    muted), or the code alone when it has no name. ``values`` holds ``department`` (the code)
    and ``department_name`` (see :mod:`dashboard.departments`)."""
    code = values["department"]
    name = values.get("department_name") or code
    return [name, html.Small(code, className="ms-2 text-muted")] if name != code else [code]


#: The words where no service level covers a department's requests (none has a due time, so
#: none can ever be due): not "too few due cases to judge". Overview cards, the department
#: page's heading and the pack.
NO_SERVICE_LEVEL = (
    "No service level is set for these requests (no due times): add one to the SLA policy"
)


def download_button(id_: str, label: str, *, class_name: str = "mb-2") -> dbc.Button:
    """A small outlined button with a download icon (the icon hidden from screen readers)."""
    return dbc.Button(
        [html.I(className="bi bi-download me-1", **{"aria-hidden": "true"}), label],
        id=id_,
        color="secondary",
        outline=True,
        size="sm",
        className=class_name,
        n_clicks=0,
    )


def target_text(value: float | None) -> str:
    """A compliance target as every page writes it: "90%", or "92.5%" for a target with a
    decimal (a target of 92.5% is never shown rounded to 92% or 93%)."""
    if value is None:
        return "–"
    points = round(100 * float(value), 1)
    return f"{points:.0f}%" if points == int(points) else f"{points:.1f}%"
