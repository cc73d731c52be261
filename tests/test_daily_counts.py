"""The snapshot's daily counts (``daily.parquet``): what they hold, computed again with pandas
from the snapshot's cases; and every count answered from them equal to the same count over every
case, including the public map by area."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard.public import OUTSIDE_AREAS
from dashboard.queries import CaseFilter, ReadModel
from dashboard.snapshot import (
    CASES_FILE,
    CURRENT,
    DAILY_FILE,
    DAILY_KEYS,
    MANIFEST,
    read_manifest,
    require_snapshot,
)
from tests.support.public import public_data
from tests.test_privacy_crawl import build_pii_store


@pytest.fixture(scope="module")
def snap(demo) -> Path:
    settings, _ = demo
    return require_snapshot(settings.snapshot_dir)


@pytest.fixture(scope="module")
def cases(snap: Path) -> pd.DataFrame:
    return pq.read_table(snap / CASES_FILE).to_pandas()


def _reads(model: ReadModel, monkeypatch) -> list[str]:
    """The files the model's queries read (the first bound value of each is the file)."""
    seen: list[str] = []
    query = model._query

    def recording(sql, params):
        seen.append(Path(params[0]).name)
        return query(sql, params)

    monkeypatch.setattr(model, "_query", recording)
    return seen


def test_the_daily_file_counts_the_snapshots_cases_by_day_and_keys(snap, cases) -> None:
    manifest = read_manifest(snap)
    keys = ["day", *DAILY_KEYS, "area_neighborhood"]
    assert manifest["daily"]["keys"] == keys and manifest["daily"]["file"] == DAILY_FILE
    daily = pq.read_table(snap / DAILY_FILE).to_pandas()
    assert manifest["daily"]["rows"] == len(daily)
    frame = cases.assign(day=cases["requested_local"].dt.date)
    want = frame.groupby(keys, dropna=False).size().rename("requests").reset_index()
    got = daily.assign(day=pd.to_datetime(daily["day"]).dt.date)
    assert list(got.columns) == [*keys, "requests"]
    assert got["requests"].sum() == len(cases) and (got["requests"] > 0).all()
    assert got["day"].is_monotonic_increasing  # sorted by day: a date range skips the rest

    def canon(f: pd.DataFrame) -> list[tuple]:
        return sorted(
            tuple("<NA>" if pd.isna(v) else v for v in row)
            for row in f[[*keys, "requests"]].itertuples(index=False, name=None)
        )

    assert canon(got) == canon(want)


FILTERS = [
    CaseFilter(),
    CaseFilter(start=date(2011, 8, 1), end=date(2011, 8, 31)),
    CaseFilter(start=date(2011, 7, 4), end=date(2011, 7, 4), departments=("PWDx",)),
    CaseFilter(types=("Street Light Outages", "Graffiti Removal"), statuses=("open",)),
    CaseFilter(area_layer="neighborhood", areas=("Dorchester", "Roxbury")),
    CaseFilter(end=date(2011, 9, 30), departments=("PWDx", "ISD"), statuses=("closed",)),
]
QUESTIONS = [
    {"by": ("department",), "period": "week"},
    {"by": ("type",), "period": None},
    {"by": ("area:neighborhood", "status"), "period": None, "public": True},
    {"by": (), "period": "month"},
    {"by": ("status", "department"), "period": "day"},
]


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
@pytest.mark.parametrize("question", QUESTIONS, ids=range(len(QUESTIONS)))
def test_counts_from_the_daily_file_equal_counts_over_every_case(
    demo, flt: CaseFilter, question: dict, monkeypatch
) -> None:
    settings, _ = demo
    daily, every = ReadModel(settings.snapshot_dir), ReadModel(settings.snapshot_dir, daily=False)
    read_daily, read_every = _reads(daily, monkeypatch), _reads(every, monkeypatch)
    got, want = daily.counts(flt, **question), every.counts(flt, **question)
    assert read_daily == [DAILY_FILE] and read_every == [CASES_FILE]
    assert len(want) > 0 and want["count"].sum() > 0  # each question has an answer to compare
    pd.testing.assert_frame_equal(got, want)


def test_a_scoped_model_counts_only_its_departments_from_the_daily_file(demo, cases) -> None:
    settings, _ = demo
    scoped = ReadModel(settings.snapshot_dir, scope=lambda: ("PROP",))
    got = scoped.counts(CaseFilter(), by=("department",), period=None)
    assert got.to_dict("records") == [
        {"department": "PROP", "count": int((cases["department"] == "PROP").sum())}
    ]


def test_a_filter_the_daily_file_does_not_keep_reads_every_case(demo, cases, monkeypatch) -> None:
    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    reads = _reads(model, monkeypatch)
    channel = cases["channel"].dropna().value_counts().index[0]
    got = model.counts(CaseFilter(channels=(channel,)), by=("department",), period=None)
    assert reads == [CASES_FILE]
    want = cases[cases["channel"] == channel].groupby("department").size()
    assert got.set_index("department")["count"].to_dict() == want.to_dict()
    model.counts(CaseFilter(), by=("channel",), period=None)  # a dimension it does not keep
    assert reads == [CASES_FILE, CASES_FILE]


def test_a_snapshot_written_without_daily_counts_is_answered_from_its_cases(
    snap: Path, cases, tmp_path: Path
) -> None:
    older = tmp_path / "snapshots" / snap.name
    shutil.copytree(snap, older)
    manifest = read_manifest(older)
    del manifest["daily"]
    (older / MANIFEST).write_text(json.dumps(manifest))
    (older / DAILY_FILE).unlink()
    (older.parent / CURRENT).write_text(older.name + "\n")
    got = ReadModel(older.parent).counts(CaseFilter(), by=("type",), period=None)
    want = cases.groupby("service_name").size()
    assert got.set_index("type")["count"].to_dict() == want.to_dict()


def test_the_public_map_by_area_counts_public_cases_per_area(tmp_path: Path) -> None:
    """A store with a private case: per area, the requests and the open ones among the public
    cases of the window, from pandas over the snapshot's cases; the same from every case."""
    settings = build_pii_store(tmp_path)
    with public_data(settings) as data:
        snap = require_snapshot(settings.snapshot_dir)
        frame = pq.read_table(snap / CASES_FILE).to_pandas()
        assert frame["is_private"].any()  # the private case is in the snapshot, not on the map
        end = data.catalogue()["last"]
        for days, service in ((30, None), (90, "Graffiti Removal"), (365, None)):
            result = data.map_data(service_name=service, days=days, view="area")
            start = end - timedelta(days=days - 1)
            local = frame["requested_local"].dt.date
            shown = frame[(local >= start) & (local <= end) & ~frame["is_private"]]
            if service:
                shown = shown[shown["service_name"] == service]
            area = shown["area_neighborhood"].fillna(OUTSIDE_AREAS)
            want = (
                pd.DataFrame(
                    {
                        "name": area,
                        "requests": 1,
                        "open": (shown["status"] == "open").astype(int),
                    }
                )
                .groupby("name", as_index=False)
                .sum()
            )
            # the busiest first; among equals by name, the cases outside every area last
            want = want.assign(outside=want["name"] == OUTSIDE_AREAS).sort_values(
                ["requests", "outside", "name"], ascending=[False, True, True], ignore_index=True
            )
            got = result["frame"]
            assert result["total"] == len(shown) > 0
            assert got["name"].tolist() == want["name"].tolist()
            assert got["requests"].tolist() == want["requests"].tolist()
            assert got["open"].tolist() == want["open"].tolist()
            data.read_model.daily = False
            again = data._area_counts(
                CaseFilter(start=start, end=end, types=(service,) if service else ()),
                "neighborhood",
            )
            data.read_model.daily = True
            pd.testing.assert_frame_equal(again, got)


@pytest.mark.parametrize("scope", [None, ("PWDx", "PROP")], ids=["all", "scoped"])
def test_filter_options_from_the_daily_file_equal_those_from_every_case(
    demo, scope, monkeypatch
) -> None:
    settings, _ = demo
    scoped = (lambda: scope) if scope else None
    daily = ReadModel(settings.snapshot_dir, scope=scoped)
    every = ReadModel(settings.snapshot_dir, scope=scoped, daily=False)
    got, want = daily.options(), every.options()
    assert got == want
    assert want["rows"] > 0 and want["channels"] and want["layers"]["neighborhood"]
    if scope:
        assert got["departments"] == sorted(scope)
    # the channels are the one list the daily counts do not keep
    frame = pq.read_table(require_snapshot(settings.snapshot_dir) / CASES_FILE).to_pandas()
    if scope:
        frame = frame[frame["department"].isin(scope)]
    assert got["channels"] == sorted(frame["channel"].dropna().unique())
    assert got["rows"] == len(frame)


def _pandas_filter(cases: pd.DataFrame, flt: CaseFilter) -> pd.DataFrame:
    """``flt``'s cases, picked with pandas (the local day a case was requested, and the lists)."""
    day = cases["requested_local"].dt.date
    keep = pd.Series(True, index=cases.index)
    if flt.start is not None:
        keep &= day >= flt.start
    if flt.end is not None:
        keep &= day <= flt.end
    for column, values in (
        ("department", flt.departments),
        ("service_name", flt.types),
        ("status", flt.statuses),
    ):
        if values:
            keep &= cases[column].isin(values)
    if flt.area_layer and flt.areas:
        keep &= cases[f"area_{flt.area_layer}"].isin(flt.areas)
    return cases[keep]


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
@pytest.mark.parametrize("scope", [None, ("PWDx", "PROP")], ids=["all", "scoped"])
@pytest.mark.parametrize("public", [False, True], ids=["staff", "public"])
def test_area_totals_equal_pandas_from_the_daily_file_and_from_every_case(
    demo, cases, flt: CaseFilter, scope, public: bool, monkeypatch
) -> None:
    """``ReadModel.area_totals``: (area, requests, open) per neighbourhood, the busiest first,
    among equals by name with the cases outside every area (None) last; from the daily counts
    and from every case alike, each equal to pandas over the snapshot's cases."""
    settings, _ = demo
    scoped = (lambda: scope) if scope else None
    shown = _pandas_filter(cases, flt)
    if scope:
        shown = shown[shown["department"].isin(scope)]
    if public:
        shown = shown[~shown["is_private"]]
    per_area = shown.assign(
        area=shown["area_neighborhood"], open=(shown["status"] == "open").astype(int)
    ).groupby("area", dropna=False)
    want = [
        (None if pd.isna(area) else area, int(n), int(o))
        for area, n, o in zip(
            per_area.size().index, per_area.size(), per_area["open"].sum(), strict=True
        )
    ]
    want.sort(key=lambda t: (-t[1], t[0] is None, t[0] or ""))
    assert sum(n for _, n, _ in want) == len(shown)  # (some scoped filters have no case)
    for daily, file in ((True, DAILY_FILE), (False, CASES_FILE)):
        model = ReadModel(settings.snapshot_dir, scope=scoped, daily=daily)
        reads: list[str] = []

        def recording(sql, params, rows=model._rows, reads=reads):
            reads.append(Path(params[0]).name)
            return rows(sql, params)

        monkeypatch.setattr(model, "_rows", recording)
        assert model.area_totals(flt, "neighborhood", public=public) == want
        assert reads == [file]
