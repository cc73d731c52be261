"""A small Socrata (SoQL) server side for the pull tests: the filters, order and paging that
``etl.pull.SocrataPull`` sends, applied to rows built in the test."""

from __future__ import annotations

from typing import Any


def soda_select(rows: list[dict[str, Any]], q: dict[str, str], cap: int | None = None) -> list:
    """A small SoQL: ``F >= 'v'`` or ``F > 'v' OR (F = 'v' AND :id > 'x')``, ordered by
    ``:updated_at, :id``, then ``$offset``/``$limit`` (``$limit`` capped at ``cap``)."""
    chosen = sorted(rows, key=lambda r: (r[":updated_at"], r[":id"]))
    where = q.get("$where", "")
    values = [part.split("'")[0] for part in where.split("'")[1::2]]
    if " OR " in where:
        v, _, last_id = values
        chosen = [
            r
            for r in chosen
            if r[":updated_at"] > v or (r[":updated_at"] == v and r[":id"] > last_id)
        ]
    elif where:
        chosen = [r for r in chosen if r[":updated_at"] >= values[0]]
    limit = int(q["$limit"]) if cap is None else min(int(q["$limit"]), cap)
    offset = int(q.get("$offset", 0))
    return [dict(r) for r in chosen[offset : offset + limit]]
