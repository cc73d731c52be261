"""Every CSV the dashboard hands out opens safely in a spreadsheet: text from an export that
starts like a formula (=, +, -, @) is prefixed with ', in the hot-spot work list, the Requests
table and the department page's tables alike (numbers stay numbers)."""

from __future__ import annotations

import io

import pandas as pd

from dashboard import hotspots as hs
from dashboard.services import Services
from dashboard.spreadsheet import safe_frame, safe_text

FORMULA = '=HYPERLINK("http://evil.example","click")'


def test_text_that_starts_like_a_formula_is_quoted() -> None:
    frame = pd.DataFrame(
        {"address": [FORMULA, "+1 555", "@SUM(A1)", "-x", "12 Main St", None], "n": [-3] * 6}
    )
    frame.columns = ["address", "=n"]
    safe = safe_frame(frame)
    assert safe["address"].tolist()[:5] == [
        "'" + FORMULA, "'+1 555", "'@SUM(A1)", "'-x", "12 Main St"
    ]  # fmt: skip
    assert pd.isna(safe["address"].iloc[5])
    assert list(safe.columns) == ["address", "'=n"]
    assert safe["'=n"].tolist() == [-3] * 6  # a negative number is not text
    assert safe_text(-3) == -3 and safe_text("\tx") == "'\tx"
    assert frame["address"].iloc[0] == FORMULA  # the input is not changed


def test_the_hot_spot_csv_quotes_an_address_that_starts_like_a_formula(demo) -> None:
    settings, _ = demo
    services = Services.from_settings(settings)
    params = hs.HotspotParams(type="Street Light Outages")
    result = hs.analyse(services.read_model, params, database_url=settings.database_url)
    hot = result.hot().copy()
    assert len(hot) > 3
    hot["address"] = [FORMULA] + hot["address"].tolist()[1:]
    hot["area"] = ["@area"] + hot["area"].tolist()[1:]
    frame = pd.read_csv(io.StringIO(hs.to_csv(result, hot)))
    assert frame["address"].iloc[0] == "'" + FORMULA
    assert frame["area"].iloc[0] == "'@area"
    assert not frame["address"].astype(str).str.match(r"^[=+\-@]").any()
