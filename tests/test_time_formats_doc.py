"""docs/FORMATS.md, "How times are read": every example in its table is read as it says.

The table is parsed from the document itself, so the documentation cannot drift from the
reader (``etl.normalise.parse_local_times``, as a load calls it with Boston's format)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from etl.adapters import ADAPTERS
from etl.normalise import parse_local_times

DOC = Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md"
ROW = re.compile(r"^\| `(?P<text>[^`]*)` \| (?:`(?P<utc>[^`]+)`|(?P<none>unreadable)) \|$")


def _examples() -> list[tuple[str, str | None]]:
    section = DOC.read_text(encoding="utf-8").split("## How times are read", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines()]
    return [(m["text"], m["utc"]) for m in rows if m]


def test_the_documented_examples_are_read_as_documented() -> None:
    examples = _examples()
    assert len(examples) >= 12
    assert sum(utc is None for _, utc in examples) >= 4
    boston = ADAPTERS["boston"]
    words = " ".join(DOC.read_text(encoding="utf-8").split())  # however the text is wrapped
    assert f"Boston's is `{boston.time_format}`" in words
    got = parse_local_times(
        pd.Series([text for text, _ in examples]),
        timezone="America/New_York",
        fmt=boston.time_format,
        more_formats=boston.time_formats,
    )
    for (text, utc), value in zip(examples, got, strict=True):
        if utc is None:
            assert pd.isna(value), (text, value)
        else:
            assert value == pd.Timestamp(utc, tz="UTC"), (text, value, utc)


def test_a_day_first_format_is_tried_before_the_month_first_fallback() -> None:
    got = parse_local_times(
        pd.Series(["03/04/2023 10:00", "03/04/2023 10:00:00"]),
        timezone="Europe/London",
        fmt="%d/%m/%Y %H:%M",
    )
    # The format reads the first as 3 April; the second, which it does not fit, falls back to
    # month first (4 March), as the document says.
    assert got.tolist() == [
        pd.Timestamp("2023-04-03 09:00", tz="UTC"),
        pd.Timestamp("2023-03-04 10:00", tz="UTC"),
    ]
