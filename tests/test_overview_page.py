"""The stat-meeting overview: periods, cards and changes, as plain functions."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from callbacks.overview import (
    NO_DATA,
    card_values,
    overview_model,
    overview_view,
    tier_changes,
)
from dashboard import periods
from dashboard.services import Services
from dashboard.sla import Tier
from layouts.overview import Ids, layout
from tests.support.components import component_ids as _ids

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("kind", "anchor", "start", "end", "prev_start", "prev_end"),
    [
        ("week", date(2011, 9, 7), date(2011, 9, 5), date(2011, 9, 11), date(2011, 8, 29),
         date(2011, 9, 4)),
        ("month", date(2011, 3, 15), date(2011, 3, 1), date(2011, 3, 31), date(2011, 2, 1),
         date(2011, 2, 28)),
        ("quarter", date(2011, 11, 30), date(2011, 10, 1), date(2011, 12, 31), date(2011, 7, 1),
         date(2011, 9, 30)),
    ],
)  # fmt: skip
def test_periods_and_the_one_before(kind, anchor, start, end, prev_start, prev_end) -> None:
    p = periods.period_of(kind, anchor)
    assert (p.start, p.end) == (start, end)
    assert (p.previous().start, p.previous().end) == (prev_start, prev_end)


def test_custom_period_and_the_same_length_before() -> None:
    p = periods.from_query(
        "?period=custom&from=2011-09-10&to=2011-09-19", default_anchor=date.today()
    )
    assert (p.start, p.end, p.days) == (date(2011, 9, 10), date(2011, 9, 19), 10)
    assert (p.previous().start, p.previous().end) == (date(2011, 8, 31), date(2011, 9, 9))
    assert p.to_query() == "?period=custom&from=2011-09-10&to=2011-09-19"


def test_bad_period_urls_fall_back_to_the_default_month() -> None:
    p = periods.from_query("?period=fortnight&date=garbage", default_anchor=date(2011, 12, 31))
    assert (p.kind, p.start, p.end) == ("month", date(2011, 12, 1), date(2011, 12, 31))
    p = periods.from_query("?period=custom&from=2011-01-01", default_anchor=date(2011, 12, 31))
    assert p.kind == "month"


def test_layout_has_every_declared_id() -> None:
    assert _ids(layout()) == {str(i) for i in Ids}


def test_cards_match_the_sla_engine_and_link_to_the_department_page(demo) -> None:
    settings, _ = demo
    services = Services.from_settings(settings)
    period = periods.period_of("month", date(2011, 9, 1))
    model = overview_model(services, period, [], as_of=AS_OF)
    report = services.sla.report(
        start=period.start, end=period.end, by="department", as_of=AS_OF
    ).set_index("group")
    assert [c["department"] for c in model["cards"]] == [
        g for g in report.index if report.loc[g, ["due", "volume", "open_backlog"]].sum() > 0
    ]
    previous = services.sla.report(
        start=date(2011, 8, 1), end=date(2011, 8, 31), by="department", as_of=AS_OF
    ).set_index("group")
    pwd = next(c for c in model["cards"] if c["department"] == "PWDx")
    assert pwd["compliance"] == pytest.approx(
        report.loc["PWDx", "on_time"] / report.loc["PWDx", "due"]
    )
    assert pwd["compliance_change"] == pytest.approx(
        100 * (report.loc["PWDx", "compliance"] - previous.loc["PWDx", "compliance"])
    )
    assert pwd["href"] == "/department/PWDx?period=month&date=2011-09-01"
    assert pwd["tier"] == report.loc["PWDx", "tier"]
    # The weekly chart covers the period and is consistent with the report.
    weeks = model["weekly"]
    assert weeks["week"].max() <= pd.Timestamp(period.end)
    assert model["totals"]["due"] == report["due"].sum()


def test_view_headline_and_url(demo) -> None:
    settings, _ = demo
    services = Services.from_settings(settings)
    view = overview_view(services, "?period=quarter&date=2011-08-15&department=PWDx", as_of=AS_OF)
    assert view["search"] == "?period=quarter&date=2011-07-01&department=PWDx"
    assert view["headline"].startswith("Q3 2011:")
    assert len(view["cards"]) == 1


def test_a_period_without_data_explains_itself(demo) -> None:
    settings, _ = demo
    view = overview_view(Services.from_settings(settings), "?period=month&date=2019-01-01")
    assert "No cases were due or opened in January 2019" in str(view["notice"].children)
    assert "2011-07-01" in str(view["notice"].children)


def test_no_data_yet(tmp_path) -> None:
    from tests.conftest import make_settings

    view = overview_view(Services.from_settings(make_settings(tmp_path)), "")
    assert view["notice"].children == NO_DATA


def test_not_enough_data_shows_no_percentage() -> None:
    row = pd.Series(
        {"group": "X", "tier": str(Tier.NOT_ENOUGH), "compliance": 0.0, "target": 0.9, "due": 1,
         "on_time": 0, "volume": 1, "open_backlog": 1, "overdue_open": 1, "median_days": None}
    )  # fmt: skip
    card = card_values(row, None, period=periods.period_of("week", date(2011, 9, 1)))
    assert card["compliance"] is None and card["compliance_change"] is None


def test_tier_changes() -> None:
    now = pd.DataFrame(
        {"group": ["A", "B", "C"], "tier": ["On Target", "Problem That Needs a Plan", "On Target"]}
    )
    before = pd.DataFrame({"group": ["A", "B"], "tier": ["On Target", "Close But Not There"]})
    assert tier_changes(now, before) == [
        {"group": "B", "from": "Close But Not There", "to": "Problem That Needs a Plan"},
        {"group": "C", "from": "Not enough data", "to": "On Target"},
    ]


def test_no_change_against_a_previous_period_with_too_few_due() -> None:
    """As the department page's heading ("no comparison"): a previous period under the minimum
    count has no judged percentage to compare with (PROP, September against August 2011)."""
    row = pd.Series(
        {"group": "X", "tier": str(Tier.ON_TARGET), "compliance": 0.99, "target": 0.9, "due": 210,
         "on_time": 208, "volume": 158, "open_backlog": 65, "overdue_open": 2, "median_days": 1.0}
    )  # fmt: skip
    thin = row.copy()
    thin.update({"tier": str(Tier.NOT_ENOUGH), "compliance": 0.75, "due": 4, "on_time": 3})
    judged = row.copy()
    judged.update({"tier": str(Tier.CLOSE), "compliance": 0.85, "due": 40, "on_time": 34})
    period = periods.period_of("month", date(2011, 9, 1))
    assert card_values(row, thin, period=period)["compliance_change"] is None
    assert round(card_values(row, judged, period=period)["compliance_change"], 6) == 14.0


def test_the_overview_asks_its_questions_in_one_round(demo) -> None:
    """The four reports and the weekly series: 7 questions at once (each period's two reports
    as grouping sets; the previous period's only as it is compared with), and the same cards,
    changes and weeks as the reports asked alone."""
    import dataclasses

    from dashboard.sla import weekly
    from tests.support.rounds import CountedRounds

    settings, _ = demo
    plain = Services.from_settings(settings)
    counted = CountedRounds(plain.read_model)
    services = dataclasses.replace(plain, read_model=counted)
    period = periods.period_of("month", date(2011, 9, 1))
    model = overview_model(services, period, [], as_of=AS_OF, first_day=date(2011, 1, 1))
    assert counted.rounds == [7]
    sla = plain.sla

    def report(p, by):
        return sla.report(start=p.start, end=p.end, by=by, as_of=AS_OF)

    previous = period.previous()
    now, before = report(period, "department"), report(previous, "department")
    assert [c["department"] for c in model["cards"]] == [
        g
        for g, d, v, b in zip(
            now["group"], now["due"], now["volume"], now["open_backlog"], strict=True
        )
        if d or v or b
    ]
    by_group = now.set_index("group")
    assert [(c["due"], c["on_time"]) for c in model["cards"]] == [
        (by_group.loc[c["department"], "due"], by_group.loc[c["department"], "on_time"])
        for c in model["cards"]
    ]
    changes = tier_changes(report(period, "department_type"), report(previous, "department_type"))
    assert len(changes) > 0
    assert [(c["department"], c["group"], c["from"], c["to"]) for c in model["type_changes"]] == [
        (c["department"], c["group"], c["from"], c["to"]) for c in changes
    ]
    assert [(c["group"], c["from"], c["to"]) for c in model["department_changes"]] == [
        (c["group"], c["from"], c["to"]) for c in tier_changes(now, before)
    ]
    weeks = weekly(sla, start=date(2011, 4, 4), end=period.end, as_of=AS_OF)
    shown = model["weekly"].set_index("week")
    for row in weeks.itertuples():
        if row.week in shown.index:
            assert shown.loc[row.week, "due"] == row.due and shown.loc[row.week, "volume"] == (
                row.volume
            )
