"""Filter state <-> URL query string, so a copied link reopens exactly the same view.

Query keys (stable, used in links on meeting agendas): ``from``, ``to`` (YYYY-MM-DD, local dates),
``department``, ``type``, ``status``, ``channel`` (repeated for several values:
``?department=PWDx&department=BTDT``), ``layer`` and ``area`` (boundary layer and area names, ``area``
repeated), ``period`` (day|week|month|quarter|year).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlencode

from dashboard.periods import parse_day
from dashboard.queries import PERIODS, CaseFilter

MAX_VALUE_LENGTH = 200
MAX_VALUES = 100


@dataclass(frozen=True)
class FilterState:
    start: date | None = None
    end: date | None = None
    department: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    layer: str | None = None
    area: tuple[str, ...] = ()
    period: str = "week"

    def to_filter(self) -> CaseFilter:
        return CaseFilter(
            start=self.start,
            end=self.end,
            departments=self.department,
            types=self.type,
            statuses=self.status,
            channels=self.channel,
            area_layer=self.layer,
            areas=self.area if self.layer else (),
        )

    def to_query(self) -> str:
        """``?from=...&to=...`` with only the keys that differ from the defaults."""
        pairs: list[tuple[str, str]] = []
        if self.start:
            pairs.append(("from", self.start.isoformat()))
        if self.end:
            pairs.append(("to", self.end.isoformat()))
        for key in ("department", "type", "status", "channel"):
            values = getattr(self, key)
            pairs.extend((key, value) for value in values)
        if self.layer:
            pairs.append(("layer", self.layer))
            pairs.extend(("area", value) for value in self.area)
        if self.period != "week":
            pairs.append(("period", self.period))
        return ("?" + urlencode(pairs)) if pairs else ""


def _list(value: str | list[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = [value]
    items = [v.strip()[:MAX_VALUE_LENGTH] for v in value if v and v.strip()]
    return tuple(dict.fromkeys(items))[:MAX_VALUES]


def _one(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def from_query(query: Mapping[str, str | list[str]] | str | None) -> FilterState:
    """Parse a query (a mapping as Dash Pages passes it, or a ``?a=b`` string). Unknown keys and
    malformed values are ignored, never an error: a mistyped link still opens a page."""
    if query is None:
        query = {}
    if isinstance(query, str):
        parsed: dict[str, list[str]] = {}
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=False):
            parsed.setdefault(key, []).append(value)
        query = parsed
    period = (_one(query.get("period")) or "week").strip().lower()
    start, end = parse_day(_one(query.get("from"))), parse_day(_one(query.get("to")))
    if start and end and start > end:
        start, end = end, start
    layer = (_one(query.get("layer")) or "").strip()[:MAX_VALUE_LENGTH] or None
    return FilterState(
        start=start,
        end=end,
        department=_list(query.get("department")),
        type=_list(query.get("type")),
        status=_list(query.get("status")),
        channel=_list(query.get("channel")),
        layer=layer,
        area=_list(query.get("area")) if layer else (),
        period=period if period in PERIODS else "week",
    )
