"""Reporting periods for the stat meeting: week, month, quarter or custom, and the one before.

URL keys (shared by the overview and department pages, so a card's link keeps the period):
``period`` (week|month|quarter|custom), ``date`` (YYYY-MM-DD, any day inside the period; default the
last day with data), and for custom ``from``/``to``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode

KINDS = ("week", "month", "quarter", "custom")


def local_start(day: date, timezone: str) -> datetime:
    """The first instant of the local date ``day`` in ``timezone``, in UTC.

    Where the clocks change at midnight, local midnight can be missing (America/Sao_Paulo on
    4 November 2018: the day starts at 01:00) or happen twice (then the first one counts).
    ``zoneinfo`` resolves both that way: a missing time takes the offset from before the change,
    which is the first instant after the gap, and an ambiguous one its first occurrence."""
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_end(day: date, timezone: str) -> datetime:
    """The first instant after the local date ``day`` (the next day's :func:`local_start`)."""
    return local_start(day + timedelta(days=1), timezone)


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before (the previous calendar month or quarter for
        those kinds)."""
        if self.kind == "month":
            end = self.start - timedelta(days=1)
            return Period("month", end.replace(day=1), end)
        if self.kind == "quarter":
            end = self.start - timedelta(days=1)
            return Period("quarter", _quarter_start(end), end)
        return Period(self.kind, self.start - timedelta(days=self.days), self.start - timedelta(1))

    def label(self) -> str:
        if self.kind == "week":
            return f"week of {self.start:%d %b %Y} – {self.end:%d %b %Y}"
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def to_query(self, **extra: str) -> str:
        pairs: list[tuple[str, str]] = [("period", self.kind)]
        if self.kind == "custom":
            pairs += [("from", self.start.isoformat()), ("to", self.end.isoformat())]
        else:
            pairs.append(("date", self.start.isoformat()))
        pairs += [(k, v) for k, v in extra.items() if v]
        return "?" + urlencode(pairs)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def week_start(day: date) -> date:
    """The Monday starting the week of ``day`` (weeks run Monday to Sunday, as DuckDB's
    ``date_trunc('week')``)."""
    return day - timedelta(days=day.weekday())


def period_of(kind: str, anchor: date) -> Period:
    """The week (Monday–Sunday), month or quarter containing ``anchor``."""
    if kind == "week":
        start = week_start(anchor)
        return Period("week", start, start + timedelta(days=6))
    if kind == "month":
        start = anchor.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return Period("month", start, following - timedelta(days=1))
    if kind == "quarter":
        start = _quarter_start(anchor)
        following = _quarter_start(start + timedelta(days=100))
        return Period("quarter", start, following - timedelta(days=1))
    raise ValueError(f"unknown period kind {kind!r}")


#: The first and last days a link or a date box may name. Python's dates hold years 1 to 9999,
#: and a period's arithmetic (its week's Monday, the period before it) near either end raised
#: ``OverflowError`` (a 500 for ``?period=month&date=9999-12-31``); a browser's date box lets
#: years up to 275760 be typed.
FIRST_DAY = date(1000, 1, 1)
LAST_DAY = date(8999, 12, 31)


def parse_day(value: object) -> date | None:
    """A day from a link's or a date box's text (``YYYY-MM-DD``, anything after the tenth
    character ignored; the first of a list), None when empty, malformed or outside
    :data:`FIRST_DAY`–:data:`LAST_DAY`."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    try:
        day = date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def box_day(value: object) -> str | None:
    """What a native date box (:func:`layouts.components.date_box`) sent, read as a link's day
    is (:func:`parse_day`): ``"YYYY-MM-DD"``, or None for no date. A box sends ``""`` while it
    is empty or half typed, and a crafted request can send any scalar: all are "no date". A day
    outside the data is a day (its period says it has no data, as a link to it does)."""
    day = parse_day(value) if isinstance(value, str) else None
    return day.isoformat() if day else None


def box_text(value: object) -> str:
    """A day as a native date box holds it (its ``value``, ``min`` or ``max``): ``"YYYY-MM-DD"``
    from a date, a datetime (a ``pd.Timestamp`` too) or text already in that form, and ``""``
    (an empty box) for none."""
    if value is None or value == "" or value != value:  # None, "", NaN/NaT
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()[:10]


#: The longest custom period a link may ask for (about ten years), in days.
MAX_CUSTOM_DAYS = 3660


def from_query(query: Mapping[str, object] | str | None, *, default_anchor: date) -> Period:
    """Parse ``period``/``date``/``from``/``to``; anything malformed falls back to the defaults
    (the month containing ``default_anchor``)."""
    if isinstance(query, str):
        query = dict(parse_qsl(query.lstrip("?")))
    query = query or {}
    kind = query.get("period")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    kind = str(kind or "month").lower()
    if kind not in KINDS:
        kind = "month"
    if kind == "custom":
        start, end = parse_day(query.get("from")), parse_day(query.get("to"))
        if start and end:
            if start > end:
                start, end = end, start
            if (end - start).days <= MAX_CUSTOM_DAYS:
                return Period("custom", start, end)
        kind = "month"
    anchor = parse_day(query.get("date")) or default_anchor
    return period_of(kind, anchor)
