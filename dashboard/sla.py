"""Service levels: the SLA policy file, due times, compliance and the three tiers.

Definitions (DESIGN.md, "SLA and the three tiers"; shown on the pages as "how this is measured"):

- A case's **due time** is the source's own (NYC ``Due Date``, Boston ``target_dt``/``sla_target_dt``,
  Open311 ``expected_datetime``); otherwise the policy file's target for its request type, else for
  its department, in calendar or business days (weekends and the holiday calendar skipped), counted
  from the local time it was requested. A case with neither has no SLA and is left out.
- **Compliance** for a period = cases due in the period that were closed by their due time ÷ cases
  due in the period. A case still open after its due time is a miss; a case due in the period but
  not yet past due (the period reaches into the future) is not counted yet.
- **Tier**: On Target ≥ target; Close But Not There ≥ target − margin; Problem That Needs a Plan
  below that; Not enough data under the minimum count of due cases.
- Duplicates (when the source flags them) are excluded by default (``exclude_duplicates``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml

from dashboard import yamlfile
from dashboard.errors import ConfigError
from dashboard.periods import local_end

log = logging.getLogger(__name__)

EXAMPLE_POLICY = Path(__file__).with_name("sla_policy.example.yaml")


class Tier(StrEnum):
    ON_TARGET = "On Target"
    CLOSE = "Close But Not There"
    PROBLEM = "Problem That Needs a Plan"
    NOT_ENOUGH = "Not enough data"


#: Colour, Bootstrap icon and sort order of each tier (problems first).
TIER_STYLE: dict[Tier, dict[str, Any]] = {
    Tier.PROBLEM: {"color": "#b42318", "icon": "bi-exclamation-octagon-fill", "order": 0},
    Tier.CLOSE: {"color": "#b54708", "icon": "bi-exclamation-triangle-fill", "order": 1},
    Tier.ON_TARGET: {"color": "#067647", "icon": "bi-check-circle-fill", "order": 2},
    Tier.NOT_ENOUGH: {"color": "#475467", "icon": "bi-question-circle", "order": 3},
}


@dataclass(frozen=True)
class DueRule:
    days: float
    business: bool = False


@functools.lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """A country's public holidays in one year, computed once per process (the ``holidays``
    package builds a calendar anew for each call: 0.43-0.70 ms for three years, timed apart)."""
    import holidays as holidays_lib

    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=[year]))


@dataclass(frozen=True)
class SlaPolicy:
    """A parsed policy file. Percentages are stored as fractions (90 -> 0.9)."""

    target: float = 0.90
    margin: float = 0.10
    min_count: int = 20
    exclude_duplicates: bool = True
    country: str | None = "US"
    subdivision: str | None = None
    extra_holidays: tuple[date, ...] = ()
    department_due: Mapping[str, DueRule] = field(default_factory=dict)
    type_due: Mapping[str, DueRule] = field(default_factory=dict)
    department_target: Mapping[str, float] = field(default_factory=dict)
    type_target: Mapping[str, float] = field(default_factory=dict)
    source_text: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.source_text.encode()).hexdigest()[:16]

    def holidays(self, years: range) -> list[date]:
        """The policy's holidays in ``years``: the country's public holidays (each year's
        computed once per process) and the extra days."""
        days: set[date] = set(self.extra_holidays)
        if self.country:
            for year in years:
                days.update(_public_holidays(self.country, self.subdivision, year))
        return sorted(days)

    def target_for(self, *, department: str | None = None, type_: str | None = None) -> float:
        if type_ is not None and type_ in self.type_target:
            return self.type_target[type_]
        if department is not None and department in self.department_target:
            return self.department_target[department]
        return self.target

    def tier(self, *, compliance: float | None, due: int, target: float | None = None) -> Tier:
        return tier_of(
            compliance=compliance,
            due=due,
            target=self.target if target is None else target,
            margin=self.margin,
            min_count=self.min_count,
        )


def tier_of(
    *, compliance: float | None, due: int, target: float, margin: float, min_count: int
) -> Tier:
    """The tier of one group. ``compliance`` and ``target`` are fractions (0.9 = 90%)."""
    if due < min_count or compliance is None or np.isnan(compliance):
        return Tier.NOT_ENOUGH
    # Rounding guards against 0.8999999 for an exact 90% (e.g. 9/10).
    c = round(float(compliance), 9)
    if c >= round(target, 9):
        return Tier.ON_TARGET
    if c >= round(target - margin, 9):
        return Tier.CLOSE
    return Tier.PROBLEM


# -- policy file --------------------------------------------------------------------------------
class _PolicyError(ConfigError):
    pass


def _fail(path: str, node: yaml.Node | None, message: str) -> _PolicyError:
    where = f"{path}, line {node.start_mark.line + 1}" if node is not None else path
    return _PolicyError(f"SLA policy {where}: {message}")


def _mapping(path: str, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping (key: value)")
    return node.value


def _scalar(path: str, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(path, node, f"{what} must be a single value")
    return str(node.value)


def _number(path: str, node: yaml.Node, what: str, *, low: float, high: float) -> float:
    raw = _scalar(path, node, what)
    try:
        value = float(raw)
    except ValueError:
        raise _fail(path, node, f"{what} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise _fail(path, node, f"{what} must be between {low:g} and {high:g}, got {raw}")
    return value


def _bool(path: str, node: yaml.Node, what: str) -> bool:
    raw = _scalar(path, node, what).lower()
    if raw in {"true", "yes", "on"}:
        return True
    if raw in {"false", "no", "off"}:
        return False
    raise _fail(path, node, f"{what} must be true or false, got {raw!r}")


def _due_rule(path: str, node: yaml.Node, what: str) -> tuple[DueRule | None, float | None]:
    days: float | None = None
    business = False
    target: float | None = None
    for key, value in _mapping(path, node, what):
        name = _scalar(path, key, "a key")
        if name == "days":
            days = _number(path, value, f"{what}: days", low=0, high=3650)
        elif name == "business_days":
            business = _bool(path, value, f"{what}: business_days")
        elif name == "target":
            target = _number(path, value, f"{what}: target", low=0, high=100) / 100
        else:
            raise _fail(
                path, key, f"unknown key {name!r} in {what} (use days, business_days, target)"
            )
    return (DueRule(days, business) if days is not None else None), target


def parse_policy(text: str, *, path: str = "<policy>") -> SlaPolicy:
    """Parse and validate a policy file. Errors name the line and the problem."""
    root = yamlfile.compose(text, what="SLA policy", path=path, error=_PolicyError)
    if root is None:
        return SlaPolicy(source_text=text)
    values: dict[str, Any] = {"source_text": text}
    department_due: dict[str, DueRule] = {}
    type_due: dict[str, DueRule] = {}
    department_target: dict[str, float] = {}
    type_target: dict[str, float] = {}
    for key, value in _mapping(path, root, "the policy file"):
        name = _scalar(path, key, "a key")
        if name == "compliance_target":
            values["target"] = _number(path, value, name, low=0, high=100) / 100
        elif name == "tier_margin":
            values["margin"] = _number(path, value, name, low=0, high=100) / 100
        elif name == "min_count":
            values["min_count"] = int(_number(path, value, name, low=1, high=1e9))
        elif name == "exclude_duplicates":
            values["exclude_duplicates"] = _bool(path, value, name)
        elif name == "holidays":
            for hkey, hvalue in _mapping(path, value, "holidays"):
                hname = _scalar(path, hkey, "a key")
                if hname == "country":
                    # `country: null` (or empty): no public holidays, weekends only
                    null = hvalue.tag == "tag:yaml.org,2002:null"
                    values["country"] = (
                        None if null else _scalar(path, hvalue, "holidays: country") or None
                    )
                elif hname == "subdivision":
                    values["subdivision"] = _scalar(path, hvalue, "holidays: subdivision") or None
                elif hname == "extra":
                    if not isinstance(hvalue, yaml.SequenceNode):
                        raise _fail(path, hvalue, "holidays: extra must be a list of dates")
                    extra = []
                    for item in hvalue.value:
                        raw = _scalar(path, item, "a holiday")
                        try:
                            extra.append(date.fromisoformat(raw))
                        except ValueError:
                            raise _fail(
                                path, item, f"holiday {raw!r} is not a date (YYYY-MM-DD)"
                            ) from None
                    values["extra_holidays"] = tuple(extra)
                else:
                    raise _fail(
                        path,
                        hkey,
                        f"unknown key {hname!r} in holidays (country, subdivision, extra)",
                    )
        elif name in {"departments", "types"}:
            for gkey, gvalue in _mapping(path, value, name):
                group = _scalar(path, gkey, f"a {name[:-1]} name")
                rule, target = _due_rule(path, gvalue, f"{name} {group!r}")
                if name == "departments":
                    if rule:
                        department_due[group] = rule
                    if target is not None:
                        department_target[group] = target
                else:
                    if rule:
                        type_due[group] = rule
                    if target is not None:
                        type_target[group] = target
        else:
            raise _fail(
                path,
                key,
                f"unknown key {name!r} (use compliance_target, tier_margin, min_count, "
                "exclude_duplicates, holidays, departments, types)",
            )
    if values.get("country") is not None:
        import holidays as holidays_lib

        try:
            holidays_lib.country_holidays(values["country"], subdiv=values.get("subdivision"))
        except NotImplementedError as exc:
            raise _PolicyError(f"SLA policy {path}: holidays: {exc}") from None
    return SlaPolicy(
        **values,
        department_due=department_due,
        type_due=type_due,
        department_target=department_target,
        type_target=type_target,
    )


def load_policy(path: str | Path | None) -> SlaPolicy:
    """The policy at ``path``; the shipped example when ``path`` is None."""
    path = Path(path) if path else EXAMPLE_POLICY
    return parse_policy(yamlfile.read_text(path, what="SLA policy"), path=str(path))


# -- due times ----------------------------------------------------------------------------------
def policy_due(
    requested_local: pd.Series,
    *,
    types: pd.Series,
    departments: pd.Series,
    policy: SlaPolicy,
    timezone: str,
) -> pd.Series:
    """Due times (UTC) from the policy for cases requested at ``requested_local`` (naive local
    times). Calendar days add whole days to the local wall time; business days move the local
    date over weekends and holidays (a request on a weekend or holiday starts the next business
    day) and keep the time of day. NaT where neither the type nor the department has a rule."""
    out = pd.Series(pd.NaT, index=requested_local.index, dtype="datetime64[us, UTC]")
    if requested_local.empty:
        return out
    # Object dtype: with pandas' string dtype and no type rule matched, ``map`` gives float NaN,
    # which cannot then hold the departments' rules.
    rules = types.astype(object).map(policy.type_due).astype(object)
    missing = rules.isna()
    rules[missing] = departments[missing].map(policy.department_due)
    has_rule = rules.notna()
    if not has_rule.any():
        return out
    local = pd.to_datetime(requested_local[has_rule]).astype("datetime64[us]")
    chosen = rules[has_rule]
    days = chosen.map(lambda r: r.days).to_numpy(dtype=float)
    business = chosen.map(lambda r: r.business).to_numpy(dtype=bool)
    due_local = pd.Series(pd.NaT, index=local.index, dtype="datetime64[us]")
    if (~business).any():
        due_local[~business] = local[~business] + pd.to_timedelta(days[~business], unit="D")
    if business.any():
        loc = local[business]
        years = range(loc.min().year, loc.max().year + 3)
        holidays = np.array(policy.holidays(years), dtype="datetime64[D]")
        start = loc.to_numpy().astype("datetime64[D]")
        whole = np.floor(days[business]).astype(int)
        moved = np.busday_offset(start, whole, roll="forward", holidays=holidays)
        time_of_day = loc.to_numpy() - start.astype("datetime64[us]")
        fraction = pd.to_timedelta(days[business] - whole, unit="D").to_numpy()
        due_local[business] = moved.astype("datetime64[us]") + time_of_day + fraction
    due = due_local.dt.tz_localize(
        timezone, ambiguous=np.ones(len(due_local), dtype=bool), nonexistent="shift_forward"
    ).dt.tz_convert("UTC")
    out[has_rule] = due
    return out


def policy_due_one(
    requested_at: datetime,
    *,
    service_name: str | None,
    department: str | None,
    policy: SlaPolicy,
    timezone: str,
) -> datetime | None:
    """:func:`policy_due` for one case requested at ``requested_at`` (aware): the same due time
    (aware, UTC), or None without a rule, in plain Python. ``policy_due``'s pandas steps cost
    about 5 ms a call whatever the number of cases, which made the public page of a case
    without a due time of its source three to four times slower than the others'.

    A due time that falls in the hour the clocks skip (spring forward) is left to
    :func:`policy_due` (pandas moves it to the end of the gap); one in the hour they repeat is
    the first of the two, as there."""
    rule = policy.type_due.get(service_name) if service_name is not None else None
    if rule is None and department is not None:
        rule = policy.department_due.get(department)
    if rule is None:
        return None
    zone = ZoneInfo(timezone)
    local = requested_at.astimezone(zone).replace(tzinfo=None)
    if rule.business:
        whole = int(np.floor(rule.days))
        holidays = np.array(
            policy.holidays(range(local.year, local.year + 3)), dtype="datetime64[D]"
        )
        moved = np.busday_offset(
            np.datetime64(local.date(), "D"), whole, roll="forward", holidays=holidays
        ).astype(date)
        due_local = datetime.combine(moved, local.time()) + timedelta(days=rule.days - whole)
    else:
        due_local = local + timedelta(days=rule.days)
    due = due_local.replace(tzinfo=zone)  # fold 0: the first of a repeated hour
    if due.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != due_local:  # a skipped hour
        found = policy_due(
            pd.Series([local]),
            types=pd.Series([service_name], dtype=object),
            departments=pd.Series([department], dtype=object),
            policy=policy,
            timezone=timezone,
        ).iloc[0]
        return found.to_pydatetime()
    return due.astimezone(UTC)


def describe_rule(rule: DueRule | None) -> str:
    """ "3 business days", "1 calendar day", "no SLA"."""
    if rule is None:
        return "no SLA"
    days = f"{rule.days:g}"
    unit = "business day" if rule.business else "calendar day"
    return f"{days} {unit}{'' if rule.days == 1 else 's'}"


# -- compliance over the snapshot ---------------------------------------------------------------
#: The two counts of compliance, as of an instant bound to each ``?`` (pass
#: :func:`judged_values`). A case is *judged* once it was closed by then, or is still open after
#: its due time; it is *on time* when it was closed by its due time. A case closed after the
#: instant was still open at it: a report as of a past date gives what it would have then.
SLA_COUNTS = (
    "count(*) FILTER (WHERE (closed_at IS NOT NULL AND closed_at <= ?) OR sla_due_at < ?) AS due,\n"
    "       count(*) FILTER (WHERE closed_at IS NOT NULL AND closed_at <= sla_due_at "
    "AND closed_at <= ?) AS on_time"
)


def judged_values(as_of: Any) -> list[Any]:
    """The values of :data:`SLA_COUNTS`' markers: ``as_of`` (aware) for each."""
    instant = as_of.to_pydatetime() if hasattr(as_of, "to_pydatetime") else as_of
    return [instant] * 3


#: ``by`` -> the column grouped on. ``department_type`` groups on the request type within each
#: department: one row per (department, type), as each department's page judges its types.
GROUPS = {"department": "department", "type": "service_name", "department_type": "service_name"}


def _dept(by: str) -> str:
    """The department of a group: its own (``department``, ``department_type``), or for a
    request type across departments the department most of its cases belong to (ties to the
    first by code: plain mode() picks one arbitrarily)."""
    return "mode(department ORDER BY department)" if by == "type" else "department"


def _keys(by: str) -> tuple[str, str, list[str]]:
    """The extra select item, the GROUP BY list and the merge keys of ``by``."""
    if by == "department_type":
        return ", department AS dept", "grp, dept", ["grp", "dept"]
    return "", "grp", ["grp"]


_COMPLIANCE_SQL = """
SELECT {group} AS grp,
       {dept} AS dept,
       {counts},
       quantile_cont((epoch_us(closed_at) - epoch_us(requested_at)) / 86400000000.0, [0.5, 0.9])
           FILTER (WHERE closed_at IS NOT NULL AND closed_at <= ?) AS days_to_close
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
GROUP BY {group_by}
"""

_BACKLOG_SQL = """
SELECT {group} AS grp{key},
       count(*) AS open_backlog,
       count(*) FILTER (WHERE sla_due_at IS NOT NULL AND sla_due_at < ?) AS overdue_open
FROM {{cases}}
WHERE {{where}} {duplicates}
GROUP BY {group_by}
"""

_VOLUME_SQL = """
SELECT {group} AS grp{key}, count(*) AS volume, count(sla_due_at) AS timed
FROM {{cases}}
WHERE {{where}} AND requested_local >= ? AND requested_local < ?
GROUP BY {group_by}
"""

#: The three questions of :meth:`SlaEngine.department_reports_plan`: the reports by department
#: and by department and type in one pass each, as two grouping sets (``whole`` is 1 on a
#: department's own row). The counts are those of the templates above.
#: The grouping sets of each ``types`` of :meth:`SlaEngine.department_reports_plan`.
_SETS = {
    "department_type": "GROUP BY GROUPING SETS ((department), (department, service_name))",
    "type": "GROUP BY GROUPING SETS ((department), (service_name))",
}

_SETS_COMPLIANCE_SQL = """
SELECT department AS dept, service_name AS svc, grouping(service_name) AS whole,
       {counts},{mode}
       quantile_cont((epoch_us(closed_at) - epoch_us(requested_at)) / 86400000000.0, [0.5, 0.9])
           FILTER (WHERE closed_at IS NOT NULL AND closed_at <= ?) AS days_to_close
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
{sets}
"""

_SETS_BACKLOG_SQL = """
SELECT department AS dept, service_name AS svc, grouping(service_name) AS whole,
       count(*) AS open_backlog,
       count(*) FILTER (WHERE sla_due_at IS NOT NULL AND sla_due_at < ?) AS overdue_open
FROM {{cases}}
WHERE {{where}} {duplicates}
{sets}
"""

_SETS_VOLUME_SQL = """
SELECT department AS dept, service_name AS svc, grouping(service_name) AS whole,
       count(*) AS volume, count(sla_due_at) AS timed
FROM {{cases}}
WHERE {{where}} AND requested_local >= ? AND requested_local < ?
{sets}
"""


#: :meth:`SlaEngine.comparison_plan`'s questions: the due and on-time counts by department and
#: by ``types`` (as two grouping sets; no days to close), and the requests opened by department.
_SETS_COUNTS_SQL = """
SELECT department AS dept, service_name AS svc, grouping(service_name) AS whole,
       {counts}{mode}
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
{sets}
"""

_DEPARTMENT_VOLUME_SQL = """
SELECT department AS grp, count(*) AS volume
FROM {cases}
WHERE {where} AND requested_local >= ? AND requested_local < ?
GROUP BY department
"""

#: The columns of :meth:`SlaEngine.comparison_plan`'s reports (by ``department_type`` with a
#: ``department`` column first): what a period is compared with, no backlog or days to close.
COMPARISON_COLUMNS = ("group", "due", "on_time", "compliance", "target", "tier", "volume")


def answer_columns(answer: pd.DataFrame | Mapping[str, list[Any]]) -> Mapping[str, list[Any]]:
    """An answer as columns of values (see ``dashboard.queries.Question.columns``)."""
    if isinstance(answer, Mapping):
        return answer
    return {name: answer[name].tolist() for name in answer.columns}


def _split_sets(
    frame: pd.DataFrame | Mapping[str, list[Any]], *, types: str, compliance: bool
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """An answer of the grouping-set questions as the answers of two :meth:`SlaEngine.report`
    questions (as columns of values, which :func:`_rows_by_group` reads): by department
    (``grp``; and ``dept`` in the ``compliance`` answer), and by ``types``:
    ``department_type`` (``grp`` the type, ``dept``) or ``type`` (``grp``; and in the
    ``compliance`` answer ``dept``, the department most of the type's cases belong to)."""
    columns = answer_columns(frame)
    whole = [w == 1 for w in columns["whole"]]
    values = [c for c in columns if c not in ("dept", "svc", "whole", "dept_mode")]

    def part(source: str, keep: bool) -> list[Any]:
        return [v for v, w in zip(columns[source], whole, strict=True) if w == keep]

    departments = {"grp": part("dept", True)}
    if compliance:
        departments["dept"] = departments["grp"]
    departments.update({name: part(name, True) for name in values})
    types_part = {"grp": part("svc", False)}
    if types == "department_type":
        types_part["dept"] = part("dept", False)
    elif compliance:
        types_part["dept"] = part("dept_mode", False)
    types_part.update({name: part(name, False) for name in values})
    return departments, types_part


#: The columns of :meth:`SlaEngine.report`. ``timed``: the requests opened in the period that
#: have a due time. None of them (and none due) means no service level covers the group's
#: requests, so none can ever be due: not the same as too few due cases to judge.
COLUMNS = (
    "group",
    "due",
    "on_time",
    "compliance",
    "target",
    "tier",
    "median_days",
    "p90_days",
    "volume",
    "open_backlog",
    "overdue_open",
    "timed",
)


def no_service_level(row: Any) -> bool:
    """A row of :meth:`SlaEngine.report` (or its totals) with requests opened, none due and
    none with a due time (``timed``): no service level covers them, so none can ever be due --
    not the same as too few due cases to judge."""
    return int(row["volume"]) > 0 and int(row["due"]) == 0 and int(row.get("timed", 0)) == 0


@dataclass(frozen=True)
class _Window:
    """What a report's questions bind: the instant the report is as of (aware, UTC), the cut
    the backlog is counted at, and the period's local bounds (end exclusive)."""

    as_of: pd.Timestamp
    cut: pd.Timestamp
    start_local: datetime
    end_local: datetime


def _window(start: date, end: date, as_of: Any, end_instant: pd.Timestamp) -> _Window:
    """``as_of`` (default now; a naive time is UTC) and the bounds of ``start``..``end``."""
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    return _Window(
        as_of=as_of,
        cut=min(end_instant, as_of),
        start_local=pd.Timestamp(start).to_pydatetime(),
        end_local=pd.Timestamp(end + pd.Timedelta(days=1)).to_pydatetime(),
    )


@dataclass(frozen=True)
class Plan:
    """Questions for :meth:`ReadModel.select_all` and what makes their answers one result:
    a page that needs several reports asks all their questions at once (:func:`run_plans`)."""

    questions: Sequence[Any]  # dashboard.queries.Question
    finish: Any  # Callable[[list[pd.DataFrame]], Any]

    def run(self, read_model: Any) -> Any:
        return run_plans(read_model, [self])[0]


def run_plans(read_model: Any, plans: Sequence[Plan]) -> list[Any]:
    """Every plan's result, their questions answered in one :meth:`ReadModel.select_all`: the
    Overview's four reports and weekly series are 14 small queries, which take less time asked
    at the same time than one report after another."""
    answers = read_model.select_all([q for plan in plans for q in plan.questions])
    out, at = [], 0
    for plan in plans:
        n = len(plan.questions)
        out.append(plan.finish(answers[at : at + n]))
        at += n
    return out


@dataclass(frozen=True)
class SlaEngine:
    """Compliance, tiers and backlog per department or request type, over the snapshot."""

    read_model: Any  # dashboard.queries.ReadModel
    policy: SlaPolicy
    timezone: str

    def _end_instant(self, end: date) -> pd.Timestamp:
        """The first instant after the local date ``end``, in UTC. Where the clocks change at
        midnight, local midnight can be missing (then 01:00 is the day's first instant) or
        twice (then the first one)."""
        return pd.Timestamp(local_end(end, self.timezone))

    def report(
        self,
        *,
        start: date,
        end: date,
        by: str = "department",
        flt: Any = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """One row per group with :data:`COLUMNS`, problems first.

        ``start``/``end`` are local dates (inclusive). ``as_of`` (default: now) decides whether an
        open case is already past due; backlog counts are taken at the end of the period, or at
        ``as_of`` when the period has not ended yet.

        ``by="department_type"``: one row per request type *of each department*, with a
        ``department`` column (cases without a department left out). Each row is what the
        department's own page says of the type (its compliance over the department's cases of
        that type, the type's target, else the department's, else the default). ``by="type"``
        instead pools a type over every department (its target from the department most of its
        cases belong to): right for one department's filter, not for a list of departments.
        """
        return self.report_plan(start=start, end=end, by=by, flt=flt, as_of=as_of).run(
            self.read_model
        )

    def report_plan(
        self,
        *,
        start: date,
        end: date,
        by: str = "department",
        flt: Any = None,
        as_of: pd.Timestamp | None = None,
    ) -> Plan:
        """:meth:`report` as a :class:`Plan`: its questions, and how their answers make the
        report (so that a page asks its reports' questions at the same time: :func:`run_plans`)."""
        if by not in GROUPS:
            raise ConfigError(f"--by must be one of {', '.join(GROUPS)}")
        group = GROUPS[by]
        key, group_by, merge_on = _keys(by)
        w = _window(start, end, as_of, self._end_instant(end))
        as_of, cut, start_local, end_local = w.as_of, w.cut, w.start_local, w.end_local
        duplicates = "AND NOT is_duplicate" if self.policy.exclude_duplicates else ""
        from dashboard.queries import Question  # the query layer imports this module

        # The three questions at once (45 -> 35 ms for one month by department at 10M cases).
        questions = [
            Question(
                _COMPLIANCE_SQL.format(
                    group=group,
                    duplicates=duplicates,
                    counts=SLA_COUNTS,
                    dept=_dept(by),
                    group_by=group_by,
                ),
                flt=flt,
                columns=True,
                before=[*judged_values(as_of), as_of.to_pydatetime()],  # (and days to close)
                after=[start_local, end_local],
            ),
            Question(
                _BACKLOG_SQL.format(group=group, duplicates=duplicates, key=key, group_by=group_by),
                flt=flt,
                columns=True,
                before=[cut.to_pydatetime()],
                open_at=cut.to_pydatetime(),  # the backlog: the cases open at the cut
            ),
            Question(
                _VOLUME_SQL.format(group=group, key=key, group_by=group_by),
                flt=flt,
                columns=True,
                after=[start_local, end_local],
            ),
        ]
        return Plan(questions, functools.partial(self._report_from, by=by, merge_on=merge_on))

    def department_reports_plan(
        self,
        *,
        start: date,
        end: date,
        flt: Any = None,
        as_of: pd.Timestamp | None = None,
        types: str = "department_type",
    ) -> Plan:
        """:meth:`report` ``by="department"`` and ``by=types`` (``department_type`` or
        ``type``) for the same period, as one :class:`Plan` whose result is the pair: three
        questions, each answering both as two grouping sets (the department page asked 6
        questions for them before, 3 now; the Overview asks these for its period and
        :meth:`comparison_plan` for the previous one). Each report is what :meth:`report`
        returns."""
        if types not in ("department_type", "type"):
            raise ConfigError("types must be department_type or type")
        sets = _SETS[types]
        # A type's department across departments, as report(by="type") gives it.
        mode = f"\n       {_dept('type')} AS dept_mode," if types == "type" else ""
        w = _window(start, end, as_of, self._end_instant(end))
        as_of, cut, start_local, end_local = w.as_of, w.cut, w.start_local, w.end_local
        duplicates = "AND NOT is_duplicate" if self.policy.exclude_duplicates else ""
        from dashboard.queries import Question  # the query layer imports this module

        questions = [
            Question(
                _SETS_COMPLIANCE_SQL.format(
                    counts=SLA_COUNTS, duplicates=duplicates, sets=sets, mode=mode
                ),
                flt=flt,
                columns=True,
                before=[*judged_values(as_of), as_of.to_pydatetime()],
                after=[start_local, end_local],
            ),
            Question(
                _SETS_BACKLOG_SQL.format(duplicates=duplicates, sets=sets),
                flt=flt,
                columns=True,
                before=[cut.to_pydatetime()],
                open_at=cut.to_pydatetime(),
            ),
            Question(
                _SETS_VOLUME_SQL.format(sets=sets),
                flt=flt,
                columns=True,
                after=[start_local, end_local],
            ),
        ]

        def finish(answers: Sequence[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
            compliance, backlog, volume = answers
            c_dept, c_type = _split_sets(compliance, types=types, compliance=True)
            b_dept, b_type = _split_sets(backlog, types=types, compliance=False)
            v_dept, v_type = _split_sets(volume, types=types, compliance=False)
            return (
                self._report_from([c_dept, b_dept, v_dept], by="department", merge_on=["grp"]),
                self._report_from([c_type, b_type, v_type], by=types, merge_on=_keys(types)[2]),
            )

        return Plan(questions, finish)

    def comparison_plan(
        self,
        *,
        start: date,
        end: date,
        flt: Any = None,
        as_of: pd.Timestamp | None = None,
        types: str = "department_type",
    ) -> Plan:
        """What a period is compared with: :meth:`department_reports_plan`'s two reports with
        only :data:`COMPARISON_COLUMNS` (due, on time, compliance, target, tier; and the volume,
        by department only), in two questions instead of three: no open
        backlog at the period's end and no days to close, which a comparison does not show.
        The Overview's previous month: 40.5 -> 17.6 ms of questions at 1M cases (a script,
        one after another). Where a group had only open cases (none due, none opened) it has
        no row here; its tier there is "Not enough data" either way."""
        if types not in ("department_type", "type"):
            raise ConfigError("types must be department_type or type")
        mode = f",\n       {_dept('type')} AS dept_mode" if types == "type" else ""
        w = _window(start, end, as_of, self._end_instant(end))
        duplicates = "AND NOT is_duplicate" if self.policy.exclude_duplicates else ""
        from dashboard.queries import Question  # the query layer imports this module

        questions = [
            Question(
                _SETS_COUNTS_SQL.format(
                    counts=SLA_COUNTS, duplicates=duplicates, sets=_SETS[types], mode=mode
                ),
                flt=flt,
                columns=True,
                before=judged_values(w.as_of),
                after=[w.start_local, w.end_local],
            ),
            Question(
                _DEPARTMENT_VOLUME_SQL,
                flt=flt,
                columns=True,
                after=[w.start_local, w.end_local],
            ),
        ]

        def finish(answers: Sequence[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
            counts, volume = answers
            c_dept, c_type = _split_sets(counts, types=types, compliance=True)
            v_dept = answer_columns(volume)
            return (
                self._report_from(
                    [c_dept, v_dept],
                    by="department",
                    merge_on=["grp"],
                    columns=COMPARISON_COLUMNS,
                ),
                self._report_from(
                    [c_type],
                    by=types,
                    merge_on=_keys(types)[2],
                    columns=[c for c in COMPARISON_COLUMNS if c != "volume"],
                ),
            )

        return Plan(questions, finish)

    def _report_from(
        self,
        answers: Sequence[Any],
        *,
        by: str,
        merge_on: Sequence[str],
        columns: Sequence[str] = COLUMNS,
    ) -> pd.DataFrame:
        """The report from its questions' answers (compliance, backlog, volume), as frames
        or as columns of values (see :func:`_rows_by_group`), with ``columns`` (of
        :data:`COLUMNS`; ``department`` first for ``department_type``)."""
        rows = _rows_by_group(*answers, merge_on=merge_on)
        for row in rows.values():
            # The median and p90 days to close, asked in one sort (two separate aggregates
            # sorted twice: 33.2 -> 26.7 ms for one month at 10M cases); NULL where nothing
            # closed, and no row where nothing was due.
            days = row.get("days_to_close")
            missing = days is None or _none(days)
            row["median_days"] = np.nan if missing else float(days[0])
            row["p90_days"] = np.nan if missing else float(days[1])
            for name in ("due", "on_time", "volume", "open_backlog", "overdue_open", "timed"):
                row[name] = _count(row.get(name))
            row["compliance"] = row["on_time"] / row["due"] if row["due"] > 0 else np.nan
            dept = row.get("dept")
            dept = None if _missing(dept) else dept
            if by == "department":
                row["target"] = self.policy.target_for(department=row["group"])
            else:
                # A type's own target, else its department's (the department most of its
                # cases belong to), else the default.
                row["target"] = self.policy.target_for(type_=row["group"], department=dept)
            row["tier"] = str(
                self.policy.tier(compliance=row["compliance"], due=row["due"], target=row["target"])
            )
        names = ["group"]
        if by == "department_type":
            for row in rows.values():
                row["department"] = str(row["dept"])
            names = ["department", "group"]
        # In tier_order's order, sorted here over the rows (the same key) rather than as a
        # frame: a frame's take and index cost more than the sort.
        ordered = sorted(
            rows.values(),
            key=lambda r: _tier_key(
                r["tier"], r["compliance"], r["due"], r["volume"], [r[n] for n in names]
            ),
        )
        names = ["department", *columns] if by == "department_type" else list(columns)
        return _report_frame(ordered, names)


#: The dtypes of :meth:`SlaEngine.report`'s columns.
_REPORT_DTYPES = {
    "department": "str",
    "group": "str",
    "tier": "str",
    **dict.fromkeys(("compliance", "target", "median_days", "p90_days"), "float64"),
    **dict.fromkeys(("due", "on_time", "volume", "open_backlog", "overdue_open", "timed"), "int64"),
}


def _rows_by_group(
    *frames: pd.DataFrame | Mapping[str, list[Any]], merge_on: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows of the report's three answers (frames, or columns of values) joined on
    ``merge_on`` (an outer join), as one
    dict per group, with ``group`` (and ``dept``) set; groups with a missing key are left out
    (cases without a department or type). A few dozen rows: plain dicts (two pandas
    merges, the columns' fills and the sort took about 9 ms of the report's 22 at 1M cases,
    measured by a script)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for frame in frames:
        columns = answer_columns(frame)
        keys = list(zip(*(columns[k] for k in merge_on), strict=True))
        for i, key in enumerate(keys):
            if any(_missing(k) for k in key):
                continue
            row = rows.setdefault(key, {"group": key[0]})
            for name, values in columns.items():
                if name != "grp":
                    row[name] = values[i]
    return rows


def _count(value: Any) -> int:
    """A count from an answer; 0 where the group had no row (or a missing value) there."""
    return 0 if _missing(value) else int(value)


def _report_frame(rows: Any, columns: list[str]) -> pd.DataFrame:
    """The report's rows as a frame of ``columns``, typed as :data:`_REPORT_DTYPES` says (each
    column built as one array: a Series per column with its dtype cost three times as much)."""
    rows = list(rows)
    data = {}
    for name in columns:
        values = [row[name] for row in rows]
        dtype = _REPORT_DTYPES[name]
        data[name] = pd.array(values, dtype=dtype) if dtype == "str" else np.array(values, dtype)
    return pd.DataFrame(data, copy=False)


def tier_order(frame: pd.DataFrame, *, names: Sequence[str] = ("group",)) -> pd.DataFrame:
    """Rows of an SLA report in the one order every page, the pack and the CLI use.

    Problems first, then close, then on target, each the lowest compliance first; "Not enough
    data" last, the most cases due first, then the most opened (a thin row is never ordered by a
    percentage that is not shown for it); ties by ``names``. Needs the columns ``tier``,
    ``compliance``, ``due`` and ``volume``; the index is reset.

    Sorted in Python over the columns' values (a report has a few dozen rows: pandas'
    ``sort_values`` on four helper columns cost more than the sort): the same order as a stable
    sort of those keys with missing values last (``tests/test_sla.py`` compares the two)."""
    frame = frame.reset_index(drop=True)  # labels are positions (a repeated label would repeat)
    tiers = frame["tier"].tolist()
    scores = frame["compliance"].tolist()
    dues = frame["due"].tolist()
    volumes = frame["volume"].tolist()
    named = [frame[n].tolist() for n in names]
    order = sorted(
        range(len(frame)),
        key=lambda i: _tier_key(
            tiers[i], scores[i], dues[i], volumes[i], [values[i] for values in named]
        ),
    )
    return frame.take(order).reset_index(drop=True)


_TIER_RANKS = {str(t): style["order"] for t, style in TIER_STYLE.items()}


def _tier_key(
    tier: str, compliance: Any, due: Any, volume: Any, names: Sequence[Any]
) -> tuple[Any, ...]:
    """:func:`tier_order`'s sort key of one row (its tier, compliance, due, volume and names)."""
    score = compliance if tier != Tier.NOT_ENOUGH else None
    return (
        _TIER_RANKS[tier],
        *_last_if_missing(score),
        *_last_if_missing(-due),
        *_last_if_missing(-volume),
        *(part for value in names for part in _last_if_missing(value)),
    )


def _last_if_missing(value: Any) -> tuple[bool, Any]:
    """A sort key's part for ``value`` that puts missing values (None, NaN, NA) after all others."""
    if _missing(value):
        return True, 0
    return False, value


def _missing(value: Any) -> bool:
    """``pd.isna`` of one value, without its cost for the common cases (a report's few dozen
    rows ask it thousands of times)."""
    if value is None:
        return True
    if isinstance(value, str | int):
        return False
    if isinstance(value, float):
        return value != value
    return bool(pd.isna(value))


def _none(value: Any) -> bool:
    """A missing aggregate from DuckDB (None, or NaN/NA once pandas has it)."""
    return value is None or (not hasattr(value, "__len__") and pd.isna(value))


_WEEKLY_SQL = """
SELECT CAST(date_trunc('week', sla_due_local) AS DATE) AS week,
       {counts}
FROM {{cases}}
WHERE {{where}} AND sla_due_local >= ? AND sla_due_local < ? {duplicates}
GROUP BY week ORDER BY week
"""

_WEEKLY_VOLUME_SQL = """
SELECT CAST(date_trunc('week', requested_local) AS DATE) AS week, count(*) AS volume
FROM {cases}
WHERE {where} AND requested_local >= ? AND requested_local < ?
GROUP BY week ORDER BY week
"""


def weekly(
    engine: SlaEngine,
    *,
    start: date,
    end: date,
    flt: Any = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per week (Monday) from ``start`` to ``end``: due, on_time, compliance, volume.
    ``as_of`` as in :meth:`SlaEngine.report` (a naive time is UTC)."""
    return weekly_plan(engine, start=start, end=end, flt=flt, as_of=as_of).run(engine.read_model)


def weekly_plan(
    engine: SlaEngine,
    *,
    start: date,
    end: date,
    flt: Any = None,
    as_of: pd.Timestamp | None = None,
) -> Plan:
    """:func:`weekly` as a :class:`Plan` (see :func:`run_plans`)."""
    w = _window(start, end, as_of, engine._end_instant(end))
    as_of, start_local, end_local = w.as_of, w.start_local, w.end_local
    duplicates = "AND NOT is_duplicate" if engine.policy.exclude_duplicates else ""
    from dashboard.queries import Question

    questions = [
        Question(
            _WEEKLY_SQL.format(duplicates=duplicates, counts=SLA_COUNTS),
            flt=flt,
            columns=True,
            before=judged_values(as_of),
            after=[start_local, end_local],
        ),
        Question(_WEEKLY_VOLUME_SQL, flt=flt, columns=True, after=[start_local, end_local]),
    ]
    return Plan(questions, _weekly_from)


def _weekly_from(answers: Sequence[Any]) -> pd.DataFrame:
    """:func:`weekly`'s frame from its two answers (due and on time; volume): one row per week
    in either, in order. A few dozen weeks: joined over plain values (a pandas outer merge,
    its fills and sort took 3.0 ms of the Overview's callback at 1M cases)."""
    due, volume = answer_columns(answers[0]), answer_columns(answers[1])
    counts: dict[Any, list[int]] = {}
    for week, d, on_time in zip(due["week"], due["due"], due["on_time"], strict=True):
        counts[week] = [_count(d), _count(on_time), 0]
    for week, v in zip(volume["week"], volume["volume"], strict=True):
        counts.setdefault(week, [0, 0, 0])[2] = _count(v)
    weeks = sorted(counts)
    due_n = np.array([counts[w][0] for w in weeks], dtype="int64")
    on_time = np.array([counts[w][1] for w in weeks], dtype="int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        compliance = np.where(due_n > 0, on_time / np.maximum(due_n, 1), np.nan)
    return pd.DataFrame(
        {
            "week": pd.Series(weeks, dtype=_week_dtype(*answers)),
            "due": due_n,
            "on_time": on_time,
            "volume": np.array([counts[w][2] for w in weeks], dtype="int64"),
            "compliance": compliance,
        }
    )


def _week_dtype(*answers: Any) -> Any:
    """The datetime dtype of the answers' ``week`` columns, as the outer merge and
    ``pd.to_datetime`` of them gave it: DuckDB gives a DATE as ``datetime64[us]`` in a frame
    (and as a ``datetime.date`` among columns of values)."""
    for answer in answers:
        if isinstance(answer, pd.DataFrame) and answer["week"].dtype.kind == "M":
            return answer["week"].dtype
    return "datetime64[us]"
