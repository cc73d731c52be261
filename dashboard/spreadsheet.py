"""CSV files that open safely in a spreadsheet.

Text from an export (an address, an area or department name, a request type) that begins with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) would be run as a formula by Excel or
LibreOffice when a planner opens a downloaded CSV ("CSV injection"). Every CSV the dashboard
hands out passes its text through :func:`safe_text`, which prefixes such a value with ``'``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: First characters a spreadsheet reads as the start of a formula.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> Any:
    """``value`` with ``'`` in front when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name passed through
    :func:`safe_text` (numbers are left alone: ``-3`` stays a number)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name]):
            out[name] = [safe_text(v) for v in out[name]]
    out.columns = [safe_text(c) if isinstance(c, str) else c for c in out.columns]
    return out
