"""The synthetic export generator (``stat311 generate``): real formats, determinism, loadable, city
shaped, skewed, dirty in the documented ways."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import shapely

from dashboard.errors import InputFileError
from dashboard.store import Store
from etl import adapters
from etl.generate import (
    BOSTON_CITY_HALL,
    BOSTON_HEADER,
    MALFORMED_KINDS,
    NYC_HEADER,
    GenerateReport,
    add_subparser,
    generate,
)
from etl.load import load_file
from geodata.boundaries import read_layer
from tests.conftest import BOSTON_NEIGHBORHOODS, BOSTON_ZIP, NYC_CSV, NYC_DISTRICTS, make_settings

N = 10_000
#: High enough that every malformed kind shows up in N rows (the default is ~0.01%).
RATE = 0.004
TIME_FORMATS = {"boston": "%Y-%m-%d %H:%M:%S", "nyc": "%m/%d/%Y %I:%M:%S %p"}
COLUMNS = {
    "boston": ("open_dt", "closed_dt", "type", "latitude", "longitude", "case_status"),
    "nyc": ("Created Date", "Closed Date", "Complaint Type", "Latitude", "Longitude", "Status"),
}


@pytest.fixture(scope="module", params=["boston", "nyc"])
def generated(request, tmp_path_factory) -> tuple[str, Path, GenerateReport]:
    fmt = request.param
    path = tmp_path_factory.mktemp(f"gen-{fmt}") / f"{fmt}.csv"
    report = generate(N, path, format=fmt, seed=11, malformed_rate=RATE, chunk_rows=7_000)
    return fmt, path, report


def _read(path: Path) -> pd.DataFrame:
    # short (malformed) rows are padded with empty fields by pandas
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for fmt in ("boston", "nyc"):
        a, b, c = (tmp_path / f"{fmt}-{name}.csv" for name in "abc")
        generate(3_000, a, format=fmt, seed=5, chunk_rows=1_000)
        generate(3_000, b, format=fmt, seed=5, chunk_rows=1_000)
        generate(3_000, c, format=fmt, seed=6, chunk_rows=1_000)
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()


def test_gzip_output_is_the_same_csv_and_also_deterministic(tmp_path: Path) -> None:
    plain, gz1, gz2 = tmp_path / "a.csv", tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    for path in (plain, gz1, gz2):
        generate(2_000, path, seed=3)
    assert gz1.read_bytes()[:2] == b"\x1f\x8b"
    assert gz1.read_bytes() == gz2.read_bytes()
    assert gzip.decompress(gz1.read_bytes()) == plain.read_bytes()
    assert not list(tmp_path.glob(".*partial"))


def test_row_count_header_and_format_detection(generated) -> None:
    fmt, path, report = generated
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == N + 1  # the header and one line per case, nothing else
    header = _header(path)
    assert header == (BOSTON_HEADER if fmt == "boston" else NYC_HEADER)
    assert adapters.detect(header).name == fmt
    assert report.rows == N and report.bytes == path.stat().st_size


def test_headers_are_the_real_exports_headers() -> None:
    with zipfile.ZipFile(BOSTON_ZIP) as archive, archive.open(archive.namelist()[0]) as member:
        line = io.TextIOWrapper(member, encoding="utf-8").readline()
    assert next(csv.reader([line])) == BOSTON_HEADER
    assert _header(NYC_CSV) == NYC_HEADER


def test_times_are_in_the_export_format_and_in_order(generated) -> None:
    fmt, path, _ = generated
    frame = _read(path)
    opened_col, closed_col = COLUMNS[fmt][:2]
    opened = pd.to_datetime(frame[opened_col], format=TIME_FORMATS[fmt], errors="coerce")
    closed = pd.to_datetime(frame[closed_col], format=TIME_FORMATS[fmt], errors="coerce")
    assert opened.isna().sum() == 10  # only the unparseable malformed rows
    assert opened.dropna().is_monotonic_increasing
    closed_early = (closed < opened).sum()
    assert closed_early == 10  # only the closed-before-opened malformed rows
    assert (closed[closed.notna()] >= opened[closed.notna()]).mean() > 0.99


def test_generated_file_loads_and_the_report_adds_up(generated, tmp_path: Path) -> None:
    fmt, path, report = generated
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    try:
        loaded = load_file(path, store=store, settings=settings, progress=False, snapshot=False)
        assert loaded.format == fmt
        assert loaded.read == N
        total = loaded.inserted + loaded.updated + loaded.unchanged + loaded.quarantined_total
        assert loaded.read == total
        assert loaded.quarantined_total > 0
        assert loaded.quarantined == report.malformed == dict.fromkeys(MALFORMED_KINDS, 10)
        assert store.count_cases() == loaded.inserted == N - 40
    finally:
        store.dispose()


def test_default_malformed_rate_is_about_one_in_ten_thousand(tmp_path: Path) -> None:
    report = generate(40_000, tmp_path / "x.csv", seed=1)
    assert sum(report.malformed.values()) == 4
    assert set(report.malformed) == set(MALFORMED_KINDS)


def test_coordinates_are_inside_the_city_except_missing_and_default(generated) -> None:
    fmt, path, report = generated
    frame = _read(path)
    lat_col, lon_col = COLUMNS[fmt][3:5]
    lat = pd.to_numeric(frame[lat_col], errors="coerce")
    lon = pd.to_numeric(frame[lon_col], errors="coerce")
    missing = lat.isna() | lon.isna()
    default = (lat == BOSTON_CITY_HALL[0]) & (lon == BOSTON_CITY_HALL[1])
    # a truncated (wrong field count) row may lose its coordinates with its last fields
    truncated = report.malformed["wrong_field_count"]
    assert report.missing_coordinates <= missing.sum() <= report.missing_coordinates + truncated
    assert default.sum() == report.default_geocoded
    unusable = (missing | default).mean()
    assert 0.02 <= unusable <= 0.05
    if fmt == "boston":
        assert default.sum() > 0
    layer = (
        read_layer(BOSTON_NEIGHBORHOODS, name_field="name")
        if fmt == "boston"
        else read_layer(NYC_DISTRICTS, name_field="boro_cd")
    )
    city = shapely.union_all(layer.geometry.array)
    point = ~(missing | default)
    inside = shapely.contains_xy(city, lon[point].to_numpy(), lat[point].to_numpy())
    assert inside.all()


def test_cases_cluster_in_space(generated) -> None:
    fmt, path, _ = generated
    frame = _read(path)
    lat_col, lon_col = COLUMNS[fmt][3:5]
    located = frame[(frame[lat_col] != "") & (frame[lat_col] != str(BOSTON_CITY_HALL[0]))]
    # repeat locations: the busiest exact point holds far more than a uniform spread would
    per_point = located.groupby([lat_col, lon_col]).size()
    assert per_point.max() >= 10
    # and the busiest ~1 km cells hold a large share
    cells = (located[lat_col].astype(float) * 100).round().astype(int).astype(str) + (
        located[lon_col].astype(float) * 100
    ).round().astype(int).astype(str)
    share = cells.value_counts(normalize=True)
    assert share.iloc[: max(1, len(share) // 10)].sum() > 0.3


def test_type_mix_is_skewed_and_realistic(generated) -> None:
    fmt, path, _ = generated
    frame = _read(path)
    shares = frame[COLUMNS[fmt][2]].value_counts(normalize=True)
    assert 30 <= len(shares) <= 45
    assert shares.iloc[0] >= 0.08  # top type several times a uniform share (1/~40)
    assert shares.iloc[:5].sum() >= 0.35
    assert shares.iloc[-1] < 0.01
    expected = (
        {"Street Light Outages", "Request for Pothole Repair", "Graffiti Removal"}
        if fmt == "boston"
        else {"Noise - Residential", "Illegal Parking", "HEAT/HOT WATER", "Street Light Condition"}
    )
    assert expected <= set(shares.index)


def test_daily_weekly_and_seasonal_cycles_and_backlog(generated) -> None:
    fmt, path, _ = generated
    frame = _read(path)
    opened_col, _, type_col, _, _, status_col = COLUMNS[fmt]
    opened = pd.to_datetime(frame[opened_col], format=TIME_FORMATS[fmt], errors="coerce")
    hours = opened.dt.hour.value_counts()
    assert hours[10] > 4 * hours[3]
    days = opened.dt.day_of_week.value_counts()
    assert days[[0, 1, 2, 3, 4]].mean() > 1.3 * days[[5, 6]].mean()
    winter = "Request for Snow Plowing" if fmt == "boston" else "HEAT/HOT WATER"
    months = opened[frame[type_col] == winter].dt.month.value_counts()
    assert months.get(1, 0) > 5 * months.get(7, 0)
    is_open = frame[status_col] != "Closed"
    assert 0.005 < is_open.mean() < 0.2


def test_chunk_size_changes_the_bytes_not_the_city(tmp_path: Path) -> None:
    a = generate(6_000, tmp_path / "a.csv", seed=2, chunk_rows=6_000)
    b = generate(6_000, tmp_path / "b.csv", seed=2, chunk_rows=1_500)
    assert a.rows == b.rows == 6_000
    assert a.first_requested[:10] == b.first_requested[:10]
    shares_a = _read(tmp_path / "a.csv")["type"].value_counts(normalize=True)
    shares_b = _read(tmp_path / "b.csv")["type"].value_counts(normalize=True)
    diff = shares_a.sub(shares_b, fill_value=0).abs()
    assert diff.max() < 0.02
    assert shares_a.index[0] == shares_b.index[0] == "Schedule a Bulk Item Pickup"


def test_command_line(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="stat311")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "nyc.csv.gz"
    args = parser.parse_args(
        ["generate", "--cases", "1500", "--out", str(out), "--format", "nyc", "--seed", "4"]
    )
    assert args.func(args, None) == 0
    assert "1,500 nyc requests" in capsys.readouterr().out
    assert gzip.decompress(out.read_bytes()).count(b"\n") == 1501
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["generate", "--cases", "0", "--out", str(out)])
    assert exc.value.code == 2
    with pytest.raises(InputFileError):
        generate(10, tmp_path / "no" / "such" / "dir.csv")
