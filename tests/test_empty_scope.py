"""A signed-in user whose departments have no case in the data (a department code that no
longer appears in the exports, or an anonymous request reaching a page's layout): the Overview
and the stat-meeting pack say there is nothing to show instead of failing. Real demo store."""

from __future__ import annotations

from dataclasses import replace

from callbacks.overview import NO_CASES_IN_SCOPE, overview_view
from callbacks.pack import pack_model, pack_view
from dashboard.queries import ReadModel
from dashboard.services import Services


def _scoped(settings, departments: tuple[str, ...]) -> Services:
    services = Services.from_settings(settings)
    return replace(services, read_model=ReadModel(settings.snapshot_dir, scope=lambda: departments))


def test_the_overview_of_a_scope_without_cases_says_so(demo) -> None:
    services = _scoped(demo[0], ("NOPE",))
    assert services.read_model.options()["max_date"] is None  # what the page is given
    view = overview_view(services, "?period=month&date=2011-09-01")
    assert view["cards"] == []
    assert view["notice"].children == NO_CASES_IN_SCOPE
    view = overview_view(services, "")
    assert view["cards"] == [] and view["notice"].children == NO_CASES_IN_SCOPE


def test_the_pack_of_a_scope_without_cases_says_so(demo) -> None:
    services = _scoped(demo[0], ("NOPE",))
    assert pack_model(services, "")["status"] == "no-cases-in-scope"
    assert pack_model(services, "?period=month&date=2011-09-01")["status"] == "no-cases-in-scope"
    assert NO_CASES_IN_SCOPE in str(pack_view(services, ""))
