"""``policy_due_one`` (one case, plain Python) gives exactly ``policy_due``'s due times (pandas,
many cases at once), and the public request page uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dashboard.sla import DueRule, SlaPolicy, policy_due, policy_due_one

RULES = {
    "calendar 1": DueRule(1),
    "calendar 2.5": DueRule(2.5),
    "calendar 0.25": DueRule(0.25),
    "business 1": DueRule(1, business=True),
    "business 3": DueRule(3, business=True),
    "business 5.5": DueRule(5.5, business=True),
    "business 0.5": DueRule(0.5, business=True),
    "business 30": DueRule(30, business=True),
}
POLICIES = {
    "US": SlaPolicy(
        type_due=RULES, department_due={"DPT": DueRule(2, business=True)}, country="US"
    ),
    "US-MA and an extra day": SlaPolicy(
        type_due=RULES,
        department_due={"DPT": DueRule(4)},
        country="US",
        subdivision="MA",
        extra_holidays=(date(2024, 12, 24), date(2025, 1, 2)),
    ),
    "no country": SlaPolicy(type_due=RULES, country=None),
}
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "UTC")


def _instants(rng: np.random.Generator, n: int) -> list[datetime]:
    """Random instants over 2009-2026, and instants around every clock change of those years
    in the zones (due times in and next to the skipped and the repeated hours)."""
    start = datetime(2009, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 12, 31, tzinfo=UTC) - start).total_seconds()
    out = [start + timedelta(seconds=float(s)) for s in rng.uniform(0, span, n)]
    for year in range(2009, 2027):
        for month, day in ((3, 8), (3, 25), (4, 1), (10, 1), (10, 25), (11, 1)):
            base = datetime(year, month, day, tzinfo=UTC)
            out += [base + timedelta(hours=h, minutes=m) for h in range(0, 240, 7) for m in (0, 30)]
    return out


def _vectorised(
    times: list[datetime], names: list[str | None], depts: list[str | None], policy, zone
) -> list[datetime | None]:
    local = pd.Series(pd.to_datetime(times, utc=True).tz_convert(zone).tz_localize(None))
    due = policy_due(
        local,
        types=pd.Series(names, dtype=object),
        departments=pd.Series(depts, dtype=object),
        policy=policy,
        timezone=zone,
    )
    return [None if pd.isna(v) else v.to_pydatetime() for v in due]


@pytest.mark.parametrize("policy_name", sorted(POLICIES))
@pytest.mark.parametrize("zone", ZONES)
def test_one_case_at_a_time_gives_the_same_due_times_as_pandas(policy_name, zone) -> None:
    policy = POLICIES[policy_name]
    rng = np.random.default_rng(len(policy_name) * 31 + len(zone))
    times = _instants(rng, 400)
    choices = [*RULES, None, "unknown type"]
    names = [choices[i] for i in rng.integers(0, len(choices), len(times))]
    depts = [("DPT", None, "OTHER")[i] for i in rng.integers(0, 3, len(times))]
    expected = _vectorised(times, names, depts, policy, zone)
    got = [
        policy_due_one(t, service_name=n, department=d, policy=policy, timezone=zone)
        for t, n, d in zip(times, names, depts, strict=True)
    ]
    assert sum(v is not None for v in expected) > len(times) // 2  # most have a rule
    mismatches = [
        (t, n, d, e, g)
        for t, n, d, e, g in zip(times, names, depts, expected, got, strict=True)
        if e != g
    ]
    assert mismatches == []
    assert all(g is None or g.utcoffset() == timedelta(0) for g in got)


def test_a_due_time_in_the_skipped_hour_moves_to_its_end_as_with_pandas() -> None:
    # Requested Friday 2024-03-08 02:30 New York; one business day later is Monday 03-11
    # 02:30... which exists. A calendar day after Saturday 03-09 02:30 is 03-10 02:30: skipped.
    policy = SlaPolicy(type_due={"T": DueRule(1)}, country=None)
    zone = "America/New_York"
    requested = datetime(2024, 3, 9, 7, 30, tzinfo=UTC)  # 02:30 EST
    due = policy_due_one(requested, service_name="T", department=None, policy=policy, timezone=zone)
    assert due == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, the end of the gap
    assert due == _vectorised([requested], ["T"], [None], policy, zone)[0]


def test_the_type_rule_wins_over_the_department_rule_and_none_without_either() -> None:
    policy = SlaPolicy(type_due={"T": DueRule(1)}, department_due={"D": DueRule(10)}, country=None)
    at = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
    kw = {"policy": policy, "timezone": "UTC"}
    assert policy_due_one(at, service_name="T", department="D", **kw) == at + timedelta(days=1)
    assert policy_due_one(at, service_name="X", department="D", **kw) == at + timedelta(days=10)
    assert policy_due_one(at, service_name=None, department=None, **kw) is None
    assert policy_due_one(at, service_name="X", department="Y", **kw) is None
