"""The department page's questions (``/department/<code>``), over the snapshot.

Every query runs through :meth:`dashboard.queries.ReadModel.select` with bound parameters; the
department code and the boundary layer come from URLs, so they are checked against the data
first (:func:`resolve_department`, :func:`resolve_layer`) and only ever reach SQL as values (the
layer's column name comes from the snapshot's manifest via ``ReadModel.area_column``).

Definitions are those of :mod:`dashboard.sla`. In addition:

- **As of**: open cases (backlog, aging, overdue list) are counted at the end of the period, or
  now when the period has not ended (the same cut as ``SlaEngine.report``).
- **Age** of an open case = whole days from its request to the cut (0–2, 3–7, 8–30, 31–90,
  over 90). It is **overdue** when its due time is before the cut, **not yet due** otherwise;
  a case with no due time (no source due time, no policy rule) is shown as such.
- **Days overdue** = time from the due time to the cut, in days.
- A request type's target is its own in the policy, else its department's, else the default.
- Duplicates are left out when the policy says so, as in the SLA engine.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import unquote

import numpy as np
import pandas as pd

from dashboard.periods import Period, local_end, week_start
from dashboard.queries import CaseFilter, QueryError, Question, ReadModel
from dashboard.settings import Settings
from dashboard.sla import (
    SLA_COUNTS,
    Plan,
    Tier,
    answer_columns,
    judged_values,
    run_plans,
    tier_order,
)
from geodata.geojson import geojson_bbox

log = logging.getLogger(__name__)

MAX_CODE_LENGTH = 200
TOP_TYPES = 5

#: Age buckets of open cases: label, lowest and highest whole day (None = no upper bound).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–2 days", 0, 2),
    ("3–7 days", 3, 7),
    ("8–30 days", 8, 30),
    ("31–90 days", 31, 90),
    ("over 90 days", 91, None),
)
OVERDUE = "Overdue"
NOT_YET_DUE = "Not yet due"
NO_DUE_TIME = "No due time"
AGE_STATES = (OVERDUE, NOT_YET_DUE, NO_DUE_TIME)

#: Overdue list columns (the table's column ids) -> the SQL expression to sort by.
OVERDUE_COLUMNS: dict[str, str] = {
    "request_id": "request_id",
    "type": "service_name",
    "address": "address",
    "opened": "requested_local",
    "due": "sla_due_local",
    "days_overdue": "days_overdue",
}
DEFAULT_OVERDUE_SORT: tuple[tuple[str, str], ...] = (("days_overdue", "desc"),)


@dataclass(frozen=True)
class Scope:
    """One department over one period, with the instants that decide what is late."""

    department: str
    period: Period
    as_of: pd.Timestamp  # UTC: is an open case past due yet?
    cut: pd.Timestamp  # UTC: open cases are counted at this instant (end of period or as_of)
    exclude_duplicates: bool = True

    @property
    def flt(self) -> CaseFilter:
        return CaseFilter(departments=(self.department,))

    @property
    def start_local(self) -> Any:
        return pd.Timestamp(self.period.start).to_pydatetime()

    @property
    def end_local(self) -> Any:
        return pd.Timestamp(self.period.end + timedelta(days=1)).to_pydatetime()

    @property
    def duplicates(self) -> str:
        return "AND NOT is_duplicate" if self.exclude_duplicates else ""


def end_instant(day: date, timezone: str) -> pd.Timestamp:
    """The first instant after the local date ``day``, in UTC (:func:`dashboard.periods.local_end`:
    a missing or repeated local midnight is resolved, not an error)."""
    return pd.Timestamp(local_end(day, timezone))


def make_scope(
    services: Any, department: str, period: Period, *, as_of: pd.Timestamp | None = None
) -> Scope:
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    as_of = as_of.tz_convert("UTC")
    cut = min(end_instant(period.end, services.settings.timezone), as_of)
    return Scope(
        department=department,
        period=period,
        as_of=as_of,
        cut=cut,
        exclude_duplicates=services.policy.exclude_duplicates,
    )


# -- validating URL input ---------------------------------------------------------------------
_CATALOGUE_SQL = """
SELECT list(DISTINCT department ORDER BY department) FILTER (WHERE department IS NOT NULL)
           AS departments,
       CAST(min(requested_local) AS DATE) AS first,
       CAST(max(requested_local) AS DATE) AS last
FROM {cases} WHERE {where}
"""


@functools.lru_cache(maxsize=64)
def _catalogue(
    read_model: ReadModel, version: str, scope: tuple[str, ...] | None
) -> tuple[tuple[str, ...], Any, Any]:
    # ``scope`` is in the key only: the read model applies it to the query itself.
    row = read_model.select(_CATALOGUE_SQL).iloc[0]
    values = row["departments"]
    # No case in the caller's scope: the list aggregate is NULL (NA once pandas has it).
    names = tuple(str(v) for v in values) if isinstance(values, list | np.ndarray) else ()
    first = None if pd.isna(row["first"]) else pd.Timestamp(row["first"]).date()
    last = None if pd.isna(row["last"]) else pd.Timestamp(row["last"]).date()
    return names, first, last


def catalogue(read_model: ReadModel) -> dict[str, Any]:
    """Departments and the first/last local dates with data the caller may see, cached per
    snapshot version and department scope. Raises ``SnapshotMissingError`` when nothing is
    loaded."""
    names, first, last = _catalogue(read_model, read_model.version(), viewer_scope(read_model))
    return {"departments": list(names), "min_date": first, "max_date": last}


def viewer_scope(read_model: ReadModel) -> tuple[str, ...] | None:
    """The departments the current caller may see (None: all), as the read model applies it."""
    scope = getattr(read_model, "scope", None)
    if scope is None:
        return None
    allowed = scope()
    return None if allowed is None else tuple(allowed)


def departments(read_model: ReadModel) -> list[str]:
    return catalogue(read_model)["departments"]


def clean_code(raw: str | None) -> str:
    """The department code as written in a URL path (percent-decoded, bounded)."""
    return unquote(str(raw or "")).strip()[:MAX_CODE_LENGTH]


def resolve_department(read_model: ReadModel, raw: str | None) -> tuple[str | None, list[str]]:
    """``(code, known)``: ``code`` is None when the data has no such department."""
    known = departments(read_model)
    code = clean_code(raw)
    return (code if code in known else None), known


def layers(read_model: ReadModel) -> list[str]:
    return list(read_model.manifest()["layers"])


def resolve_layer(read_model: ReadModel, raw: str | None) -> str | None:
    """``raw`` if the snapshot has that boundary layer, else None."""
    return raw if raw and raw in layers(read_model) else None


def last_date(read_model: ReadModel) -> date | None:
    """The last local date with a request (the default period anchor)."""
    return catalogue(read_model)["max_date"]


# -- summary and request types ----------------------------------------------------------------
def _retier(frame: pd.DataFrame, policy: Any, *, department: str, by: str) -> pd.DataFrame:
    """Targets and tiers of a report again (a type falls back to its department's target)."""
    frame = frame.copy()
    if by == "type":
        frame["target"] = [
            policy.target_for(department=department, type_=g) for g in frame["group"]
        ]
    else:
        frame["target"] = [policy.target_for(department=g) for g in frame["group"]]
    frame["tier"] = [
        str(policy.tier(compliance=c, due=int(d), target=t))
        for c, d, t in zip(frame["compliance"], frame["due"], frame["target"], strict=True)
    ]
    return tier_order(frame)


def types_report(services: Any, scope: Scope) -> pd.DataFrame:
    """The SLA report per request type of the department (``dashboard.sla.COLUMNS``)."""
    frame = services.sla.report(
        start=scope.period.start, end=scope.period.end, by="type", flt=scope.flt, as_of=scope.as_of
    )
    # Types that only had backlog or volume are kept: the department still owns them.
    return _retier(frame, services.policy, department=scope.department, by="type")


_PERIOD_COMPLIANCE_SQL = """
SELECT {counts}
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
"""


def summary(services: Any, scope: Scope) -> dict[str, Any]:
    """The department's own report line for the period (None when it had nothing), and the
    due / on-time counts, compliance and tier of the previous period (for the change)."""
    return summary_plan(services, scope).run(services.read_model)


def summary_plan(services: Any, scope: Scope) -> Plan:
    """:func:`summary` as a :class:`~dashboard.sla.Plan`: the period's report by department
    and the previous period's counts, four questions."""
    report = services.sla.report_plan(
        start=scope.period.start,
        end=scope.period.end,
        by="department",
        flt=scope.flt,
        as_of=scope.as_of,
    )
    n = len(report.questions)

    def finish(answers: list[pd.DataFrame]) -> dict[str, Any]:
        return _summary_from(services, scope, report.finish(answers[:n]), answers[n])

    return Plan([*report.questions, _previous_counts(scope)], finish)


def _previous_counts(scope: Scope) -> Question:
    """The due and on-time counts of the period before the scope's."""
    previous_period = scope.period.previous()
    return Question(
        _PERIOD_COMPLIANCE_SQL.format(duplicates=scope.duplicates, counts=SLA_COUNTS),
        flt=scope.flt,
        before=judged_values(scope.as_of),
        after=[
            pd.Timestamp(previous_period.start).to_pydatetime(),
            pd.Timestamp(previous_period.end + timedelta(days=1)).to_pydatetime(),
        ],
    )


def _summary_from(
    services: Any, scope: Scope, report: pd.DataFrame, counts: pd.DataFrame
) -> dict[str, Any]:
    """:func:`summary` from the period's report by department and the previous counts."""
    policy, department = services.policy, scope.department
    frame = report[report["group"] == department]
    current = None
    if not frame.empty:
        row = frame.iloc[0]
        current = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()
        }
    row = counts.iloc[0]
    due, on_time = int(row["due"]), int(row["on_time"])
    compliance = on_time / due if due else None
    target = policy.target_for(department=department)
    previous = {
        "due": due,
        "on_time": on_time,
        "compliance": compliance,
        "tier": str(policy.tier(compliance=compliance, due=due, target=target)),
    }
    return {"current": current, "previous": previous}


# -- weekly series per type -------------------------------------------------------------------
_WEEKLY_DUE_SQL = """
SELECT service_name AS type,
       CAST(date_trunc('week', sla_due_local) AS DATE) AS week,
       {counts}
FROM {{cases}}
WHERE {{where}} {types}
  AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
GROUP BY 1, 2
"""

_WEEKLY_VOLUME_SQL = """
SELECT service_name AS type,
       CAST(date_trunc('week', requested_local) AS DATE) AS week,
       count(*) AS volume
FROM {{cases}}
WHERE {{where}} {types}
  AND requested_local >= ? AND requested_local < ?
GROUP BY 1, 2
"""


def top_types(types: pd.DataFrame, limit: int = TOP_TYPES) -> list[str]:
    """The ``limit`` request types opened most in the period (then most due), busiest first."""
    ranked = types[(types["volume"] > 0) | (types["due"] > 0)].sort_values(
        ["volume", "due", "group"], ascending=[False, False, True]
    )
    return ranked["group"].head(limit).astype(str).tolist()


def weekly_by_type(services: Any, scope: Scope, types: list[str]) -> pd.DataFrame:
    """Per type and week (Monday) of the period: due, on_time, compliance, volume, days.

    Every (type, week) of the period is present (zeros where nothing happened). ``compliance``
    is NaN where fewer than the policy's minimum count were due that week. Only the period's
    days are counted, so the weeks add up to the period; ``days`` is how many of a week's seven
    are in the period (under 7 for a first or last week cut by the period: a partial week,
    which the page marks so that its smaller counts do not read as a change). Weeks wholly
    before the data's first day are left out: nothing was loaded for them, so they are not
    weeks of zero requests (a month the data starts in starts at the data's first week)."""
    if not types:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    due, volume = services.read_model.select_all(_weekly_questions(scope, types))
    return _weekly_frame(services, scope, types, due, volume)


WEEKLY_COLUMNS = ["type", "week", "due", "on_time", "compliance", "volume", "days"]


def _weekly_questions(scope: Scope, types: list[str] | None) -> list[Question]:
    """The weekly series' two questions (due and on time; opened) for ``types``, or for every
    type of the scope when None (the caller keeps the ones it wants)."""
    chosen = "AND list_contains(?, service_name)" if types is not None else ""
    lead: list[Any] = [types] if types is not None else []
    return [
        Question(
            _WEEKLY_DUE_SQL.format(duplicates=scope.duplicates, counts=SLA_COUNTS, types=chosen),
            flt=scope.flt,
            columns=True,
            before=judged_values(scope.as_of),
            after=[*lead, scope.start_local, scope.end_local],
        ),
        Question(
            _WEEKLY_VOLUME_SQL.format(types=chosen),
            flt=scope.flt,
            columns=True,
            after=[*lead, scope.start_local, scope.end_local],
        ),
    ]


def _weekly_frame(
    services: Any, scope: Scope, types: list[str], due: Any, volume: Any
) -> pd.DataFrame:
    """:func:`weekly_by_type`'s frame from its questions' answers, frames or columns of values
    (any other type in them is left out)."""
    columns = WEEKLY_COLUMNS
    first = week_start(scope.period.start)
    # The first day the caller may see, kept per snapshot (``first_day`` asks the filter
    # options, which a worker without a results cache asks again every time: 12 ms at 1M).
    data_first = catalogue(services.read_model)["min_date"]
    if data_first is not None and data_first > first:
        first = week_start(data_first)
    # Weeks in microseconds, whatever the answers hold (the unit the frame has had since it
    # was made by merges on the week); looked up in the answers as dates.
    weeks = pd.date_range(first, scope.period.end, freq="7D").astype("datetime64[us]")
    week_days = weeks.to_numpy().astype("datetime64[D]").tolist()  # as datetime.date
    # The answers' counts looked up per (type, week), types as given, then weeks (pandas
    # merges, their fills and a sort into that order cost more than the lookups; a grid
    # built as a frame and filled column by column, 9.8 ms of the page at 1M cases).
    due_cols, volume_cols = answer_columns(due), answer_columns(volume)
    due_of = {
        (t, w): (d, o)
        for t, w, d, o in zip(
            due_cols["type"],
            _as_days(due_cols["week"]),
            due_cols["due"],
            due_cols["on_time"],
            strict=True,
        )
    }
    volume_of = dict(
        zip(
            zip(volume_cols["type"], _as_days(volume_cols["week"]), strict=True),
            volume_cols["volume"],
            strict=True,
        )
    )
    keys = [(t, w) for t in types for w in week_days]
    counted = [due_of.get(k, (0, 0)) for k in keys]
    due_n = np.array([int(c[0]) for c in counted], dtype=np.int64)
    on_time = np.array([int(c[1]) for c in counted], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        compliance = np.where(
            due_n >= services.policy.min_count, on_time / np.maximum(due_n, 1), np.nan
        )
    # How many of each week's days are in the period (under 7 for a week it cuts).
    start, end = pd.Timestamp(scope.period.start), pd.Timestamp(scope.period.end)
    days = [(min(w + pd.Timedelta(days=6), end) - max(w, start)).days + 1 for w in weeks]
    frame = pd.DataFrame(
        {
            "type": pd.array([t for t in types for _ in week_days], dtype="str"),
            "week": np.tile(weeks.to_numpy(), len(types)),
            "due": due_n,
            "on_time": on_time,
            "compliance": compliance,
            "volume": np.array([int(volume_of.get(k, 0)) for k in keys], dtype=np.int64),
            "days": np.tile(np.array(days, dtype=np.int64), len(types)),
        }
    )
    return frame[columns]


def _as_days(weeks: list[Any]) -> list[date]:
    """An answer's weeks as dates (from a frame's timestamps or DuckDB's dates)."""
    return [w.date() if isinstance(w, datetime) else w for w in weeks]


# -- open cases: aging and the overdue list ---------------------------------------------------
_AGING_SQL = """
SELECT CAST(floor(date_diff('second', requested_at, ?) / 86400.0) AS BIGINT) AS age_days,
       CASE WHEN sla_due_at IS NULL THEN 'none'
            WHEN sla_due_at < ? THEN 'overdue' ELSE 'later' END AS state,
       count(*) AS n
FROM {{cases}}
WHERE {{where}} {duplicates}
GROUP BY 1, 2
"""

_OVERDUE_FROM = """
FROM (
    SELECT request_id, service_name, address, requested_local, sla_due_local,
           date_diff('second', sla_due_at, ?) / 86400.0 AS days_overdue
    FROM {{cases}}
    WHERE {{where}} AND sla_due_at < ? {duplicates}
) AS late
"""

_OVERDUE_SQL = """
SELECT request_id, service_name AS type, address, requested_local AS opened,
       sla_due_local AS due, days_overdue
{source}
ORDER BY {order}
{limit}
"""


def bucket_of(age_days: int) -> str:
    for label, low, high in AGE_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return label
    return AGE_BUCKETS[0][0]  # negative ages cannot happen (requested before the cut)


def aging(services: Any, scope: Scope) -> pd.DataFrame:
    """Open cases at the cut per age bucket and state: columns bucket, state, count.

    Every bucket x state is present, in order; the counts sum to the department's open
    backlog (``SlaEngine.report``'s ``open_backlog``)."""
    return aging_plan(scope).run(services.read_model)


def aging_plan(scope: Scope) -> Plan:
    """:func:`aging` as a :class:`~dashboard.sla.Plan`."""
    cut = scope.cut.to_pydatetime()
    question = Question(
        _AGING_SQL.format(duplicates=scope.duplicates),
        flt=scope.flt,
        columns=True,
        before=[cut, cut],
        open_at=cut,
    )
    return Plan([question], lambda answers: _aging_from(answers[0]))


def _aging_from(raw: Any) -> pd.DataFrame:
    """The ageing frame from the answer (counts per age in days and state; a frame or columns
    of values), summed per bucket in Python (a pandas groupby per call cost more than the
    sum)."""
    states = {"overdue": OVERDUE, "later": NOT_YET_DUE, "none": NO_DUE_TIME}
    counts: dict[tuple[str, str], int] = {}
    columns = answer_columns(raw)
    for age, state, n in zip(columns["age_days"], columns["state"], columns["n"], strict=True):
        if state in states:  # as the map and groupby did: no other state is counted
            key = (bucket_of(int(age)), states[state])
            counts[key] = counts.get(key, 0) + int(n)
    rows = [
        {"bucket": label, "state": state, "count": int(counts.get((label, state), 0))}
        for label, _, _ in AGE_BUCKETS
        for state in AGE_STATES
    ]
    return pd.DataFrame(rows, columns=["bucket", "state", "count"])


def _order_by(sort_by: list[dict[str, str]] | tuple | None) -> str:
    """ORDER BY from a ``sort_by`` (``[{"column_id": ..., "direction": "asc"|"desc"}]``, as
    ``callbacks.department.sort_by_from_model`` makes from the grid's sort; unknown columns are
    ignored), then a stable key."""
    parts = []
    for item in sort_by or DEFAULT_OVERDUE_SORT:
        if isinstance(item, dict):
            column, direction = item.get("column_id"), item.get("direction")
        else:
            column, direction = item
        if column in OVERDUE_COLUMNS and direction in {"asc", "desc"}:
            parts.append(f"{OVERDUE_COLUMNS[column]} {direction.upper()} NULLS LAST")
    if not parts:
        parts = [f"{OVERDUE_COLUMNS[c]} {d.upper()}" for c, d in DEFAULT_OVERDUE_SORT]
    return ", ".join([*parts, "request_id ASC"])


def overdue_count(services: Any, scope: Scope) -> int:
    return overdue_count_plan(scope).run(services.read_model)


def overdue_count_plan(scope: Scope) -> Plan:
    """:func:`overdue_count` as a :class:`~dashboard.sla.Plan`."""
    cut = scope.cut.to_pydatetime()
    source = _OVERDUE_FROM.format(duplicates=scope.duplicates)
    question = Question(
        "SELECT count(*) AS n " + source, flt=scope.flt, before=[cut], after=[cut], open_at=cut
    )
    return Plan([question], lambda answers: int(answers[0]["n"].iloc[0]))


class PageAnswers(NamedTuple):
    """What :func:`page_answers` gives the department page."""

    summary: dict[str, Any]
    types: pd.DataFrame  # types_report
    top: list[str]  # top_types of it
    weekly: pd.DataFrame  # weekly_by_type of the top types
    aging: pd.DataFrame
    overdue: int


def page_answers(services: Any, scope: Scope) -> PageAnswers:
    """:func:`summary`, :func:`types_report`, the :func:`weekly_by_type` of its busiest types,
    :func:`aging` and :func:`overdue_count`, in one round of seven questions: the period's
    reports by department and by type answered together as two grouping sets
    (``SlaEngine.department_reports_plan``), the previous period's counts, the weekly series
    of every type of the department (the busiest are kept: which they are is only known from
    the types report) and the ageing, whose overdue cases are the overdue count. (One
    function after another, they were eleven questions in nine rounds.)"""
    reports = services.sla.department_reports_plan(
        start=scope.period.start,
        end=scope.period.end,
        flt=scope.flt,
        as_of=scope.as_of,
        types="type",
    )
    (by_department, by_type), counts, (due, volume), ages = run_plans(
        services.read_model,
        [
            reports,
            Plan([_previous_counts(scope)], lambda answers: answers[0]),
            Plan(_weekly_questions(scope, None), tuple),
            aging_plan(scope),
        ],
    )
    # The overdue count is the ageing's overdue cases (open at the cut and past their due
    # time, duplicates as the policy says): overdue_count asks the same of the store.
    late = int(ages.loc[ages["state"] == OVERDUE, "count"].sum())
    report = _retier(by_type, services.policy, department=scope.department, by="type")
    top = top_types(report)
    weekly = (
        _weekly_frame(services, scope, top, due, volume)
        if top
        else pd.DataFrame(columns=WEEKLY_COLUMNS)
    )
    return PageAnswers(
        summary=_summary_from(services, scope, by_department, counts),
        types=report,
        top=top,
        weekly=weekly,
        aging=ages,
        overdue=late,
    )


def overdue_cases(
    services: Any,
    scope: Scope,
    *,
    sort_by: list[dict[str, str]] | None = None,
    page: int | None = None,
    page_size: int = 15,
) -> pd.DataFrame:
    """Cases open at the cut and past their due time: request_id, type, address, opened, due
    (local times), days_overdue. ``page`` (from 0) returns one page; None returns them all."""
    cut = scope.cut.to_pydatetime()
    source = _OVERDUE_FROM.format(duplicates=scope.duplicates)
    after: list[Any] = [cut]
    limit = ""
    if page is not None:
        size = max(1, min(int(page_size), 500))
        limit = "LIMIT ? OFFSET ?"
        after += [size, max(0, int(page)) * size]
    sql = _OVERDUE_SQL.format(source=source, order=_order_by(sort_by), limit=limit)
    return services.read_model.select(sql, flt=scope.flt, before=[cut], after=after, open_at=cut)


# -- repeat locations --------------------------------------------------------------------------
#: A place is a repeat location with at least this many of the department's requests in the
#: period; the page lists the busiest :data:`REPEAT_ROWS`.
REPEAT_MIN = 3
REPEAT_ROWS = 25

# The place is the address as written, ignoring case and runs of spaces (geocodes are not used:
# a default geocode puts many different places on one point). Shown as first written. Cases
# whose location is the city's default geocode are left out: their address is often the
# default's too ("1 City Hall Plz"), not where the problem is.
_REPEAT_SQL = r"""
SELECT address, requests, still_open, types, first, last, count(*) OVER () AS places
FROM (
    SELECT regexp_replace(upper(trim(address)), '\s+', ' ', 'g') AS place,
           arg_min(trim(address), requested_local) AS address,
           count(*) AS requests,
           count(*) FILTER (WHERE closed_at IS NULL OR closed_at > ?) AS still_open,
           string_agg(DISTINCT service_name, '; ' ORDER BY service_name) AS types,
           min(requested_local) AS first,
           max(requested_local) AS last
    FROM {{cases}}
    WHERE {{where}} AND requested_local >= ? AND requested_local < ?
      AND address IS NOT NULL AND trim(address) <> ''
      AND location_quality <> 'default_geocode' {duplicates}
    GROUP BY 1
) AS places
WHERE requests >= ?
ORDER BY requests DESC, still_open DESC, place
LIMIT ?
"""


def repeat_locations(
    services: Any, scope: Scope, *, min_requests: int = REPEAT_MIN, limit: int = REPEAT_ROWS
) -> pd.DataFrame:
    """Places (addresses) with at least ``min_requests`` of the department's requests made in
    the period (duplicates left out when the policy says so), busiest first: address (as first
    written), requests, still_open (at the cut), types (``"; "``-joined), first and last
    (local request times), places (how many such places in all, before ``limit``)."""
    start = pd.Timestamp(scope.period.start).to_pydatetime()
    end = pd.Timestamp(scope.period.end + timedelta(days=1)).to_pydatetime()
    return services.read_model.select(
        _REPEAT_SQL.format(duplicates=scope.duplicates),
        flt=scope.flt,
        before=[scope.cut.to_pydatetime()],
        after=[start, end, int(min_requests), int(limit)],
    )


# -- where are we late ------------------------------------------------------------------------
_AREA_SQL = """
SELECT "{column}" AS area,
       {counts}
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
GROUP BY 1
"""


def area_compliance(
    services: Any, scope: Scope, layer: str, areas: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Compliance per area of ``layer``: area, due, on_time, compliance, target, tier.

    ``areas`` (the layer's area names) are all listed, with zeros where nothing was due. An
    area under the minimum count has tier "Not enough data" and no compliance (NaN). The second
    value counts the due cases outside every area (``due``, ``on_time``)."""
    column = services.read_model.area_column(layer)  # QueryError for an unknown layer
    raw = services.read_model.select(
        _AREA_SQL.format(column=column, duplicates=scope.duplicates, counts=SLA_COUNTS),
        flt=scope.flt,
        before=judged_values(scope.as_of),
        after=[scope.start_local, scope.end_local],
    )
    outside = raw[raw["area"].isna()]
    unplaced = {
        "due": int(outside["due"].sum()),
        "on_time": int(outside["on_time"].sum()),
    }
    raw = raw[raw["area"].notna()]
    names = list(dict.fromkeys([*(areas or []), *raw["area"].astype(str)]))
    frame = pd.DataFrame({"area": names}).merge(raw, on="area", how="left")
    for name in ("due", "on_time"):
        frame[name] = frame[name].fillna(0).astype("int64")
    policy = services.policy
    target = policy.target_for(department=scope.department)
    frame["target"] = target
    ratio = frame["on_time"] / frame["due"].clip(lower=1)
    frame["tier"] = [
        str(policy.tier(compliance=(r if d > 0 else None), due=int(d), target=target))
        for r, d in zip(ratio, frame["due"], strict=True)
    ]
    frame["compliance"] = np.where(frame["tier"] == str(Tier.NOT_ENOUGH), np.nan, ratio)
    frame = frame.sort_values(["compliance", "area"], na_position="last").reset_index(drop=True)
    return frame[["area", "due", "on_time", "compliance", "target", "tier"]], unplaced


def _round_coords(value: Any, digits: int = 5) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list | tuple):
        return [_round_coords(v, digits) for v in value]
    return value


@functools.lru_cache(maxsize=16)
def _layer_geojson(database_url: str, layer: str, version: str) -> dict[str, Any]:
    """The layer's areas as a GeoJSON FeatureCollection, simplified for display (~10 m) and
    cached per (store, layer, snapshot version). Shared: see :func:`area_geojson`."""
    from shapely.geometry import mapping, shape

    from dashboard.store import Store

    store = Store(database_url)
    try:
        areas = store.boundary_areas(layer)
    finally:
        store.dispose()
    features = []
    for area in areas:
        try:
            geom = shape(area["geometry"]).simplify(0.0001, preserve_topology=True)
            geometry = {**mapping(geom)}
            geometry["coordinates"] = _round_coords(geometry["coordinates"])
        except (ValueError, TypeError, KeyError):  # pragma: no cover - kept as stored
            geometry = area["geometry"]
        features.append(
            {
                "type": "Feature",
                "id": area["name"],
                "properties": {"name": area["name"]},
                "geometry": geometry,
            }
        )
    # The bbox (GeoJSON's own member) spares the map a walk over every vertex to frame the view.
    return {"type": "FeatureCollection", "features": features, "bbox": geojson_bbox(features)}


def area_geojson(settings: Settings, read_model: ReadModel, layer: str) -> dict[str, Any]:
    """The areas of a known boundary layer as GeoJSON (``properties.name`` = area name).

    The collection is a copy, but its features are the cache's own (parsing them again from
    text cost 0.4 ms of the public map's 5): callers read them and must not change them."""
    if layer not in layers(read_model):
        raise QueryError(f"unknown boundary layer {layer!r}")
    return {**_layer_geojson(str(settings.database_url), layer, read_model.version())}
