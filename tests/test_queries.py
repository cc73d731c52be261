"""The query layer (DuckDB over the snapshot) against the same numbers computed with plain pandas
from the raw Boston export."""

from __future__ import annotations

import threading
from datetime import date

import duckdb
import geopandas as gpd
import pandas as pd
import pytest

from dashboard.errors import SnapshotMissingError
from dashboard.queries import CaseFilter, QueryError, ReadModel
from tests.conftest import BOSTON_NEIGHBORHOODS, BOSTON_ZIP

CITY_HALL = (42.3594, -71.0587)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    frame = pd.read_csv(BOSTON_ZIP, dtype=str, keep_default_na=False)
    frame["opened"] = pd.to_datetime(frame["open_dt"], format="%Y-%m-%d %H:%M:%S")
    frame["status"] = frame["case_status"].str.lower().map({"closed": "closed"}).fillna("open")
    return frame


@pytest.fixture(scope="module")
def model(demo) -> ReadModel:
    settings, _ = demo
    return ReadModel(settings.snapshot_dir)


def _expected(frame: pd.DataFrame, freq: str, by: str = "department") -> pd.DataFrame:
    period = frame["opened"].dt.to_period(freq).dt.start_time.rename("period")
    out = frame.groupby([period, frame[by].rename(by)]).size().rename("count").reset_index()
    return out.sort_values(["period", by]).reset_index(drop=True)


def _compare(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(list(got.columns[:-1])).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got.astype({"count": "int64"}), want.astype({"count": "int64"}), check_dtype=False
    )


def test_total_matches_the_raw_file(model: ReadModel, raw: pd.DataFrame) -> None:
    assert model.total(CaseFilter()) == len(raw)


@pytest.mark.parametrize(("period", "freq"), [("week", "W-SUN"), ("month", "M"), ("day", "D")])
def test_counts_by_period_and_department(model, raw, period: str, freq: str) -> None:
    got = model.counts(CaseFilter(), by=("department",), period=period)
    _compare(got, _expected(raw, freq))


def test_date_range_is_inclusive_local_dates(model, raw) -> None:
    flt = CaseFilter(start=date(2011, 8, 1), end=date(2011, 8, 31))
    want = raw[(raw["opened"] >= "2011-08-01") & (raw["opened"] < "2011-09-01")]
    assert model.total(flt) == len(want)
    _compare(model.counts(flt, by=("department",), period="week"), _expected(want, "W-SUN"))


def test_department_type_status_filters(model, raw) -> None:
    flt = CaseFilter(
        departments=("ISD", "PWDx"),
        types=("Unsatisfactory Living Conditions", "Street Light Outages"),
        statuses=("open",),
    )
    want = raw[
        raw["department"].isin(["ISD", "PWDx"])
        & raw["type"].isin(["Unsatisfactory Living Conditions", "Street Light Outages"])
        & (raw["status"] == "open")
    ]
    assert len(want) > 0
    _compare(model.counts(flt, by=("department",), period="month"), _expected(want, "M"))


def test_channel_filter(model, raw) -> None:
    want = raw[raw["source"] == "Citizens Connect App"]
    assert model.total(CaseFilter(channels=("app",))) == len(want)


def test_counts_by_type_without_period(model, raw) -> None:
    got = model.counts(CaseFilter(), by=("type",), period=None).set_index("type")["count"]
    want = raw.groupby("type").size()
    pd.testing.assert_series_equal(
        got.sort_index(), want.sort_index(), check_names=False, check_dtype=False
    )


def test_area_filter_matches_a_spatial_join(model, raw) -> None:
    lat = pd.to_numeric(raw["latitude"], errors="coerce")
    lon = pd.to_numeric(raw["longitude"], errors="coerce")
    tol = 1e-4 + 1e-9  # the documented tolerance, inclusive (the file has 4 decimals)
    at_city_hall = ((lat - CITY_HALL[0]).abs() <= tol) & ((lon - CITY_HALL[1]).abs() <= tol)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")[
        lat.notna() & ~at_city_hall
    ]
    areas = gpd.read_file(BOSTON_NEIGHBORHOODS)[["name", "geometry"]]
    areas["geometry"] = areas.geometry.make_valid()
    joined = gpd.sjoin(points, areas, predicate="intersects").groupby(level=0).first()
    want = joined["name"].value_counts()
    for name in ["Roxbury", "Dorchester", "Back Bay"]:
        flt = CaseFilter(area_layer="neighborhood", areas=(name,))
        assert model.total(flt) == want[name], name
    by_area = model.counts(CaseFilter(), by=("area:neighborhood",), period=None)
    got = by_area.dropna().set_index("area:neighborhood")["count"]
    pd.testing.assert_series_equal(
        got.sort_index(), want.sort_index(), check_names=False, check_dtype=False
    )


def test_options_list_what_is_there(model, raw) -> None:
    opts = model.options()
    assert opts["departments"] == sorted(raw["department"].replace("", pd.NA).dropna().unique())
    assert opts["layers"]["neighborhood"][:2] == sorted(opts["layers"]["neighborhood"])[:2]
    assert opts["min_date"] == raw["opened"].min().date()
    assert opts["max_date"] == raw["opened"].max().date()


def test_injection_attempts_are_values_not_sql(model) -> None:
    nasty = ("x' OR '1'='1", "PWDx'); DROP TABLE cases; --", "é" * 500)
    assert model.total(CaseFilter(departments=nasty)) == 0
    assert model.total(CaseFilter()) > 0  # nothing was dropped
    with pytest.raises(QueryError):
        model.counts(CaseFilter(area_layer='neighborhood"; DROP'), by=("department",))
    with pytest.raises(QueryError):
        model.counts(CaseFilter(), by=("1; DROP TABLE cases",))
    with pytest.raises(QueryError):
        model.counts(CaseFilter(), period="epoch")


def test_missing_snapshot_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SnapshotMissingError, match="stat311 ingest"):
        ReadModel(tmp_path / "nothing").total(CaseFilter())


def test_focus_answers_as_the_snapshot_does(model, raw) -> None:
    """Questions asked through a focus (the cases read once, held in memory) get the answers the
    raw export gives, for the focus's own filter and for narrower dates inside it."""
    outer = CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30), departments=("PWDx",))
    inner = outer.with_(start=date(2011, 8, 1), end=date(2011, 8, 31))
    sql = "SELECT status, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1 ORDER BY 1"
    pwd = raw[raw["department"] == "PWDx"]
    with model.focus(outer, ["status"]) as focused:
        for flt, first, last in (
            (outer, "2011-07-01", "2011-10-01"),
            (inner, "2011-08-01", "2011-09-01"),
        ):
            want = pwd[(pwd["opened"] >= first) & (pwd["opened"] < last)]
            want = want.groupby("status").size().sort_index()
            got = focused.select(sql, flt=flt).set_index("status")["n"]
            assert len(want) and got.to_dict() == want.to_dict()
            assert got.to_dict() == model.select(sql, flt=flt).set_index("status")["n"].to_dict()


def test_focus_asks_its_questions_at_once_and_answers_as_one_by_one(model, raw) -> None:
    """``select_all`` through a focus runs the questions after the first on other threads,
    each on a cursor of its own over the same cases in memory: the answers are those of the
    raw export (and of the questions asked one by one), the other cursors were used, and they
    are closed with the focus."""
    from dashboard.queries import Question

    outer = CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30), departments=("PWDx",))
    inner = outer.with_(start=date(2011, 8, 1), end=date(2011, 8, 31))
    by_status = "SELECT status, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1 ORDER BY 1"
    total = "SELECT count(*) AS n FROM {cases} WHERE {where} AND status = ?"
    questions = [
        Question(by_status, flt=outer),
        Question(by_status, flt=inner),
        Question(total, flt=outer, after=["open"]),
        Question(total, flt=inner, after=["closed"]),
    ]
    pwd = raw[raw["department"] == "PWDx"]
    pwd_outer = pwd[(pwd["opened"] >= "2011-07-01") & (pwd["opened"] < "2011-10-01")]
    pwd_inner = pwd[(pwd["opened"] >= "2011-08-01") & (pwd["opened"] < "2011-09-01")]
    with model.focus(outer, ["status"]) as focused:
        got = focused.select_all(questions)
        assert len(focused._others) >= 1  # not all on the focus's own cursor
        one_by_one = [focused.select(q.template, flt=q.flt, after=q.after) for q in questions]
    assert focused._others == {}  # closed with the focus
    wanted = (pwd_outer.groupby("status").size(), pwd_inner.groupby("status").size())
    for frame, want in zip(got[:2], wanted, strict=True):
        assert len(want) > 1 and frame.set_index("status")["n"].to_dict() == want.to_dict()
    assert int(got[2]["n"].iloc[0]) == int((pwd_outer["status"] == "open").sum()) > 0
    assert int(got[3]["n"].iloc[0]) == int((pwd_inner["status"] == "closed").sum()) > 0
    for frame, alone in zip(got, one_by_one, strict=True):
        pd.testing.assert_frame_equal(frame, alone)


def test_focus_questions_on_other_threads_keep_the_scope_it_was_read_with(demo) -> None:
    """A focus reads its cases with the caller's scope; the questions its ``select_all`` runs
    on other threads (where a web request's scope is not known) see those cases only. The
    scope here answers in the thread that asks only, as a request's does."""
    from dashboard.queries import Question

    settings, _ = demo
    asking = threading.get_ident()
    scoped = ReadModel(
        settings.snapshot_dir,
        scope=lambda: ("ISD",) if threading.get_ident() == asking else None,
    )
    sql = "SELECT department, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1"
    every = ReadModel(settings.snapshot_dir).select(sql).set_index("department")["n"]
    assert len(every) > 1
    with scoped.focus(CaseFilter(), ["department"]) as focused:
        answers = focused.select_all([Question(sql)] * 3)
        assert len(focused._others) >= 1
    for frame in answers:
        assert frame.set_index("department")["n"].to_dict() == {"ISD": every["ISD"]}


def test_a_failing_question_of_a_focus_is_raised_after_the_others_end(model) -> None:
    """One question failing fails ``select_all``; the others' threads have ended by then, so
    the focus closes their cursors as it ends, and the read model still answers."""
    from dashboard.queries import Question

    ok = "SELECT count(*) AS n FROM {cases} WHERE {where}"
    pwd = CaseFilter(departments=("PWDx",))
    bad = Question(ok.replace("count(*)", "no_such_column"), flt=pwd)
    with model.focus(pwd, []) as focused:
        with pytest.raises(duckdb.Error, match="no_such_column"):
            focused.select_all([Question(ok, flt=pwd), bad, Question(ok, flt=pwd)])
        with pytest.raises(duckdb.Error, match="no_such_column"):
            focused.select_all([bad, Question(ok, flt=pwd)])
        assert len(focused._others) >= 1
        assert int(focused.select(ok, flt=pwd)["n"].iloc[0]) == model.total(pwd) > 0
    assert focused._others == {}


@pytest.mark.parametrize(
    "wider",
    [
        CaseFilter(start=date(2011, 6, 30), end=date(2011, 9, 30), departments=("PWDx",)),
        CaseFilter(start=date(2011, 7, 1), end=None, departments=("PWDx",)),
        CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30)),
        CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30), departments=("PWDx", "ISD")),
    ],
)
def test_focus_refuses_questions_about_other_cases(model, wider: CaseFilter) -> None:
    outer = CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30), departments=("PWDx",))
    with model.focus(outer, []) as focused, pytest.raises(QueryError, match="outside the focus"):
        focused.select("SELECT count(*) AS n FROM {cases} WHERE {where}", flt=wider)


def test_focus_keeps_the_callers_scope_and_never_serves_an_old_snapshot(demo, tmp_path) -> None:
    """A department user's focus holds only their department's cases; a cached focused answer
    is not handed out once a new snapshot is current (the focused SQL names no file)."""
    import shutil

    import pyarrow.parquet as pq

    from dashboard.snapshot import CASES_FILE, CURRENT, current_snapshot

    settings, _ = demo
    first = current_snapshot(settings.snapshot_dir)
    snaps = tmp_path / "snapshots"
    shutil.copytree(first, snaps / first.name)
    (snaps / CURRENT).write_text(first.name + "\n")

    from tests.support.caching import DictCache

    scoped = ReadModel(snaps, scope=lambda: ("ISD",))
    scoped.cache = DictCache()
    sql = "SELECT department, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1"
    every = ReadModel(snaps).select(sql).set_index("department")["n"]
    with scoped.focus(CaseFilter(), ["department"]) as focused:
        got = focused.select(sql).set_index("department")["n"].to_dict()
    assert got == {"ISD": every["ISD"]}

    # a new snapshot with the first half of the cases only
    second = snaps / (first.name + "-half")
    shutil.copytree(first, second)
    table = pq.read_table(second / CASES_FILE)
    pq.write_table(table.slice(0, table.num_rows // 2), second / CASES_FILE)
    (snaps / CURRENT).write_text(second.name + "\n")
    half = table.slice(0, table.num_rows // 2).to_pandas()
    with scoped.focus(CaseFilter(), ["department"]) as focused:
        again = focused.select(sql).set_index("department")["n"].to_dict()
    assert again == {"ISD": int((half["department"] == "ISD").sum())} != got


def test_open_at_reads_recent_cases_and_the_long_open_file_and_misses_none(model, tmp_path) -> None:
    """The backlog at an instant (requested before it, not closed before it), from the cases of
    the last LONG_OPEN_DAYS plus the long-open file, equals a count over every case in pandas;
    and equals the plain scan used for a snapshot written before that file existed."""
    import json
    import shutil
    from datetime import UTC, timedelta

    import pyarrow.parquet as pq

    from dashboard.snapshot import CASES_FILE, CURRENT, LONG_OPEN_DAYS, MANIFEST

    manifest = model.manifest()
    assert manifest["long_open"]["days"] == LONG_OPEN_DAYS
    snap = model.snapshot()
    every = pq.read_table(snap / CASES_FILE).to_pandas()
    long = pq.read_table(snap / manifest["long_open"]["file"]).to_pandas()
    lifetime = every["closed_at"] - every["requested_at"]
    assert (
        len(long)
        == manifest["long_open"]["rows"]
        == int((every["closed_at"].isna() | (lifetime >= timedelta(days=LONG_OPEN_DAYS))).sum())
    )
    # ordered by close time, the still open first (so "open at t" skips row groups by their stats)
    still_open = int(long["closed_at"].isna().sum())
    assert still_open and long["closed_at"].iloc[:still_open].isna().all()
    assert long["closed_at"].iloc[still_open:].is_monotonic_increasing
    sql = "SELECT department, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1"
    first, last = every["requested_at"].min(), every["requested_at"].max()
    cuts = [first + (last - first) * f for f in (0.25, 0.5, 0.9)] + [last + timedelta(days=1)]
    # an older snapshot: the same cases, no long-open file, a manifest that does not name one
    older = tmp_path / "snapshots" / snap.name
    shutil.copytree(snap, older)
    (older / manifest["long_open"]["file"]).unlink()
    (older / MANIFEST).write_text(
        json.dumps({k: v for k, v in manifest.items() if k != "long_open"})
    )
    (older.parent / CURRENT).write_text(snap.name + "\n")
    plain = ReadModel(older.parent)
    for cut in cuts:
        cut = cut.to_pydatetime().astimezone(UTC)
        is_open = (every["requested_at"] < cut) & (
            every["closed_at"].isna() | (every["closed_at"] >= cut)
        )
        from_long = is_open & (every["requested_at"] < cut - timedelta(days=LONG_OPEN_DAYS))
        assert from_long.sum() > 0 and (is_open & ~from_long).sum() > 0  # both halves matter
        want = every[is_open].groupby("department").size().to_dict()
        got = model.select(sql, open_at=cut).set_index("department")["n"].to_dict()
        assert got == want
        assert plain.select(sql, open_at=cut).set_index("department")["n"].to_dict() == want


def test_every_threads_cursor_caches_parquet_footers_and_is_kept(demo) -> None:
    """Each thread queries on its own cursor, kept for its next query; a plain SET would have
    held for the first connection only (found at 10M: 19.5 ms for a query that takes 6.4 ms with
    the footer cached)."""

    settings, _ = demo
    model = ReadModel(settings.snapshot_dir)
    model.total(CaseFilter())
    mine = model._cursor()
    assert model._cursor() is mine  # kept
    theirs: list = []
    worker = threading.Thread(target=lambda: theirs.append(model._cursor()))
    worker.start()
    worker.join()
    assert theirs[0] is not mine
    for cursor in (mine, theirs[0], model._new_cursor()):
        assert cursor.execute("SELECT current_setting('parquet_metadata_cache')").fetchone()[0]


def test_select_all_applies_the_callers_scope_not_the_pool_threads(demo) -> None:
    """A scope that, like the web app's, exists only in the caller's thread (its request):
    every question of select_all is limited by it."""
    from dashboard.queries import Question

    caller = threading.get_ident()

    def scope() -> tuple[str, ...] | None:
        return ("PWDx",) if threading.get_ident() == caller else None  # None: no restriction

    scoped = ReadModel(demo[0].snapshot_dir, scope=scope)
    sql = "SELECT department, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1 ORDER BY 1"
    questions = [Question(sql, flt=CaseFilter(start=date(2011, 7, 1), end=date(2011, m, 28)))
                 for m in (8, 9, 10)]  # fmt: skip
    for frame in scoped.select_all(questions):
        assert frame["department"].tolist() == ["PWDx"]


def test_select_all_answers_each_question_as_select_does(model, raw) -> None:
    from dashboard.queries import Question

    sql = "SELECT department, count(*) AS n FROM {cases} WHERE {where} GROUP BY 1 ORDER BY 1"
    questions = [
        Question(sql, flt=CaseFilter(start=date(2011, 7, d), end=date(2011, 7, d + 6)))
        for d in range(1, 25, 3)
    ]
    got = model.select_all(questions)
    assert len(got) == len(questions)
    for question, frame in zip(questions, got, strict=True):
        pd.testing.assert_frame_equal(frame, model.select(question.template, flt=question.flt))
        day = raw["opened"].dt.normalize()
        week = raw[
            (day >= pd.Timestamp(question.flt.start)) & (day <= pd.Timestamp(question.flt.end))
        ]
        assert (
            frame.set_index("department")["n"].to_dict()
            == week.groupby("department").size().to_dict()
        )
    with pytest.raises(Exception, match="no_such_column"):
        model.select_all([questions[0], Question("SELECT no_such_column FROM {cases}")])
    with model.focus(
        CaseFilter(start=date(2011, 7, 1), end=date(2011, 7, 31)), ["department"]
    ) as f:
        one, two = f.select_all(questions[:2])  # one after another on the focus's cursor
        pd.testing.assert_frame_equal(one, got[0])
        pd.testing.assert_frame_equal(two, got[1])


def test_questions_answered_as_columns_are_the_frames_values(model) -> None:
    """``Question(columns=True)``: the same answer as the frame, as ``{column: [values]}``
    (every column, also with no rows), from the snapshot and from a focus."""
    from dashboard.queries import Question

    by_status = (
        "SELECT status, department, count(*) AS n, min(requested_local) AS first "
        "FROM {cases} WHERE {where} AND status <> ? GROUP BY 1, 2 ORDER BY 1, 2"
    )
    flt = CaseFilter(start=date(2011, 7, 1), end=date(2011, 9, 30))
    questions = [
        Question(by_status, flt=flt, after=["none"]),
        Question(by_status, flt=flt, after=["none"], columns=True),
        Question(by_status.replace("<>", "="), flt=flt, after=["none"], columns=True),
    ]
    for reader in (model, None):
        if reader is None:
            with model.focus(flt, ["status", "department"]) as focused:
                frame, columns, empty = focused.select_all(questions)
        else:
            frame, columns, empty = reader.select_all(questions)
        assert len(frame) > 3
        assert list(columns) == list(frame.columns) == list(empty)
        for name in frame.columns:
            assert columns[name] == frame[name].tolist(), name
        assert all(values == [] for values in empty.values())
