"""Test helpers for the query cache: a dict with flask-caching's interface, and a counter of the
DuckDB queries the read model runs."""

from __future__ import annotations

import pytest

from dashboard.queries import ReadModel


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.hits = 0

    def get(self, key: str) -> object | None:
        if key in self.data:
            self.hits += 1
        return self.data.get(key)

    def set(self, key: str, value: object) -> None:
        self.data[key] = value


def count_duckdb(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = ReadModel._cursor

    def counting(self):  # noqa: ANN001, ANN202
        calls[0] += 1
        return original(self)

    monkeypatch.setattr(ReadModel, "_cursor", counting)
    return calls
