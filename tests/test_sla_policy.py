"""SLA policy file, due times and tiers on small hand-built cases."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard.errors import ConfigError
from dashboard.sla import (
    EXAMPLE_POLICY,
    DueRule,
    SlaPolicy,
    Tier,
    describe_rule,
    load_policy,
    parse_policy,
    policy_due,
    tier_of,
)

TZ = "America/New_York"


@pytest.mark.parametrize(
    ("compliance", "due", "tier"),
    [
        (0.90, 20, Tier.ON_TARGET),  # exactly on the target
        (9 / 10 * 1.0, 20, Tier.ON_TARGET),
        (0.8999, 20, Tier.CLOSE),
        (0.80, 20, Tier.CLOSE),  # exactly target - margin
        (0.7999, 20, Tier.PROBLEM),
        (0.0, 20, Tier.PROBLEM),
        (1.0, 19, Tier.NOT_ENOUGH),  # under the minimum count
        (None, 0, Tier.NOT_ENOUGH),
    ],
)
def test_tier_edges(compliance, due, tier) -> None:
    assert tier_of(compliance=compliance, due=due, target=0.9, margin=0.1, min_count=20) is tier


def test_tier_of_exact_fractions() -> None:
    # 18/20 = 0.9 exactly, 16/20 = 0.8 exactly, despite binary floating point.
    assert (
        tier_of(compliance=18 / 20, due=20, target=0.9, margin=0.1, min_count=20) is Tier.ON_TARGET
    )
    assert tier_of(compliance=16 / 20, due=20, target=0.9, margin=0.1, min_count=20) is Tier.CLOSE
    assert tier_of(compliance=0.7, due=20, target=0.8, margin=0.1, min_count=20) is Tier.CLOSE


def _due(times: list[str], rule: DueRule, **policy) -> list[pd.Timestamp]:
    p = SlaPolicy(type_due={"T": rule}, **policy)
    local = pd.Series(pd.to_datetime(times))
    types = pd.Series(["T"] * len(times))
    departments = pd.Series(["D"] * len(times))
    out = policy_due(local, types=types, departments=departments, policy=p, timezone=TZ)
    return [t.tz_convert(TZ).tz_localize(None) for t in out]


def test_business_days_skip_weekend_and_holiday() -> None:
    # Thu 2011-11-23 10:00 + 2 business days: Thanksgiving (Thu 24) and the extra holiday (Fri 25)
    # and the weekend are skipped -> Tue 2011-11-29 10:00 local.
    got = _due(
        ["2011-11-23 10:00"],
        DueRule(2, business=True),
        country="US",
        subdivision="MA",
        extra_holidays=(date(2011, 11, 25),),
    )
    assert got == [pd.Timestamp("2011-11-29 10:00")]


def test_request_on_a_weekend_starts_on_monday() -> None:
    got = _due(["2011-07-09 15:30"], DueRule(1, business=True), country=None)  # a Saturday
    assert got == [pd.Timestamp("2011-07-12 15:30")]  # Mon is day 0, due Tue


def test_calendar_days_keep_the_wall_time_across_dst() -> None:
    # DST ended 2011-11-06 at 02:00: 3 calendar days from Fri 9:00 is Mon 9:00 local, which is
    # 3 days + 1 hour later in UTC.
    p = SlaPolicy(type_due={"T": DueRule(3)})
    local = pd.Series(pd.to_datetime(["2011-11-04 09:00"]))
    due = policy_due(
        local, types=pd.Series(["T"]), departments=pd.Series(["D"]), policy=p, timezone=TZ
    )
    assert due.iloc[0] == pd.Timestamp("2011-11-07 14:00", tz="UTC")
    requested_utc = pd.Timestamp("2011-11-04 13:00", tz="UTC")
    assert due.iloc[0] - requested_utc == pd.Timedelta(days=3, hours=1)


def test_department_rule_when_the_type_has_none_and_no_rule_means_no_sla() -> None:
    p = SlaPolicy(type_due={"T": DueRule(1)}, department_due={"D": DueRule(10)})
    local = pd.Series(pd.to_datetime(["2011-07-01 09:00"] * 3))
    due = policy_due(
        local,
        types=pd.Series(["T", "other", "other"]),
        departments=pd.Series(["D", "D", "X"]),
        policy=p,
        timezone=TZ,
    )
    assert due.iloc[0] == pd.Timestamp("2011-07-02 13:00", tz="UTC")
    assert due.iloc[1] == pd.Timestamp("2011-07-11 13:00", tz="UTC")
    assert pd.isna(due.iloc[2])


def test_example_policy_parses() -> None:
    policy = load_policy(EXAMPLE_POLICY)
    assert policy.target == 0.9 and policy.margin == 0.1 and policy.min_count == 20
    assert policy.type_due["Schedule a Bulk Item Pickup"] == DueRule(2, business=True)
    assert policy.target_for(department="INFO") == 0.85
    assert date(2011, 11, 25) in policy.holidays(range(2011, 2012))
    assert date(2011, 11, 24) in policy.holidays(range(2011, 2012))  # Thanksgiving


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("compliance_target: ninety\n", 1, "must be a number"),
        ("min_count: 20\ntier_margn: 10\n", 2, "unknown key 'tier_margn'"),
        ("types:\n  Pothole: {days: -1}\n", 2, "between 0 and 3650"),
        ("types:\n  Pothole: {dayz: 2}\n", 2, "unknown key 'dayz'"),
        ("holidays:\n  extra:\n    - 2011-13-01\n", 3, "not a date"),
        ("departments:\n  PWDx: {days: 2, business_days: perhaps}\n", 2, "true or false"),
        ("types: [a, b]\n", 1, "must be a mapping"),
        ("compliance_target: 90\n  bad: indent\n", 2, "not valid YAML"),
    ],
)
def test_invalid_policy_names_the_line_and_the_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_policy(text, path="policy.yaml")
    message = str(err.value)
    assert f"policy.yaml, line {line}" in message and words in message, message


def test_unknown_holiday_country_is_reported() -> None:
    with pytest.raises(ConfigError, match="holidays"):
        parse_policy("holidays:\n  country: XX\n")


def test_missing_policy_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_policy(tmp_path / "nope.yaml")


def test_describe_rule() -> None:
    assert describe_rule(DueRule(3, business=True)) == "3 business days"
    assert describe_rule(DueRule(1)) == "1 calendar day"
    assert describe_rule(None) == "no SLA"


@pytest.mark.parametrize("spelling", ["null", "~", "", "Null"])
def test_holidays_country_null_means_weekends_only(spelling: str) -> None:
    """`country: null` is YAML's "no value": no public holidays (it was read as the text "null"
    and refused as an unknown country). A business day rule then skips weekends only."""
    policy = parse_policy(f"holidays:\n  country: {spelling}\n", path="policy.yaml")
    assert policy.country is None
    assert not policy.holidays(range(2011, 2012))
    with pytest.raises(ConfigError, match="holidays"):
        parse_policy("holidays:\n  country: 'null'\n")  # quoted: the text, an unknown country


@pytest.mark.parametrize(("country", "subdiv"), [("US", None), ("US", "MA"), ("BR", None)])
def test_holidays_are_the_holidays_packages_and_computed_once(
    country: str, subdiv: str | None
) -> None:
    """The calendar a policy gives is the ``holidays`` package's own (plus the extra days),
    whatever was asked before; asking again for the same years does not build it again."""
    import holidays as holidays_lib

    from dashboard import sla

    extra = (date(2011, 3, 17), date(2013, 8, 1))
    policy = sla.SlaPolicy(country=country, subdivision=subdiv, extra_holidays=extra)
    for years in (range(2011, 2014), range(2012, 2013), range(2020, 2024), range(2011, 2014)):
        expected = set(holidays_lib.country_holidays(country, subdiv=subdiv, years=list(years)))
        expected |= set(extra)
        assert policy.holidays(years) == sorted(expected)
    before = sla._public_holidays.cache_info()
    policy.holidays(range(2011, 2014))
    after = sla._public_holidays.cache_info()
    assert (after.hits, after.misses) == (before.hits + 3, before.misses)
    assert policy.holidays(range(2011, 2011)) == sorted(extra)  # no years: the extra days
