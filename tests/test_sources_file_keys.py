"""``stat311 refresh --sources FILE``: a key the sources file does not know (a typo such as
``sinse:``, ``service_code:`` for ``service_codes:``, a key of the other kind) is refused with one
line naming the file, the line and the key, with the closest known key when there is one; exit
code 2, before anything is fetched or written. ``--dry-run`` shows the service codes it would ask
for. The CLI runs in process (``main([...])``) with settings in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import main
from dashboard.settings import Settings
from etl.pull import Http
from tests.test_cli_errors import env, error_line  # noqa: F401 - fixture

URL = "https://example.org/open311/v2/requests.json"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, url, params):  # pragma: no cover - the test fails if it is called
        raise AssertionError(f"fetched {url}")

    monkeypatch.setattr(Http, "get_json", refuse)


def _db(settings: Settings) -> Path:
    return Path(str(settings.database_url).removeprefix("sqlite:///"))


def _sources(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_key_stops_refresh_before_anything_is_fetched(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
) -> None:
    path = _sources(
        tmp_path,
        f"sources:\n  - kind: open311\n    url: {URL}\n    colour: red\n",
    )
    assert main(["refresh", "--sources", str(path)]) == 2
    assert error_line(capsys) == (f"stat311: error: {path}: source 1, line 4: unknown key 'colour'")
    assert not _db(env).exists()  # nothing written: not even the store was created


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("service_code: POT", "line 4: unknown key 'service_code' (did you mean 'service_codes'?)"),
        ("sinse: 2011-01-01", "line 4: unknown key 'sinse' (did you mean 'since'?)"),
        ("pagesize: 3", "line 4: unknown key 'pagesize' (did you mean 'page_size'?)"),
        ("knd: socrata", "line 4: unknown key 'knd' (did you mean 'kind'?)"),
        # a key of the other kind is not an open311 key
        ("limit: 5", "line 4: unknown key 'limit'"),
    ],
)
def test_a_typo_names_the_line_and_the_closest_key(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
    line: str,
    message: str,
) -> None:
    path = _sources(
        tmp_path,
        "sources:\n"
        f"  - kind: socrata\n    domain: data.cityofnewyork.us\n    dataset: erm2-nwe9\n"
        "    format: nyc\n"
        f"  - kind: open311\n    url: {URL}\n    {line}\n",
    )
    # the second source: its key is on line 8 of the file
    message = message.replace("line 4", "line 8")
    assert main(["refresh", "--dry-run", "--sources", str(path)]) == 2
    assert error_line(capsys) == f"stat311: error: {path}: source 2, {message}"
    assert not _db(env).exists()


def test_the_reported_example_is_refused_at_its_first_unknown_key(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
) -> None:
    path = _sources(
        tmp_path,
        f"sources:\n  - kind: open311\n    url: {URL}\n"
        "    service_code: POT\n    sinse: 2011-01-01\n    pagesize: 3\n",
    )
    assert main(["refresh", "--dry-run", "--sources", str(path)]) == 2
    assert error_line(capsys) == (
        f"stat311: error: {path}: source 1, line 4: unknown key 'service_code' "
        "(did you mean 'service_codes'?)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"source:\n  - kind: open311\n    url: {URL}\n",
            "line 1: unknown key 'source' (did you mean 'sources'?)",
        ),
        (
            f"sources:\n  - kind: open311\n    url: {URL}\nwindow_days: 30\n",
            "line 4: unknown key 'window_days'",
        ),
    ],
)
def test_an_unknown_top_level_key_is_refused(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
    text: str,
    message: str,
) -> None:
    path = _sources(tmp_path, text)
    assert main(["refresh", "--sources", str(path)]) == 2
    assert error_line(capsys) == f"stat311: error: {path}, {message}"
    assert not _db(env).exists()


def test_a_valid_file_still_works_and_dry_run_shows_the_service_codes(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
) -> None:
    path = _sources(
        tmp_path,
        "sources:\n"
        "  - &boston\n"
        "    kind: open311\n"
        f"    url: {URL}\n"
        "    source: boston\n"
        "    jurisdiction: cityofboston.gov\n"
        "    service_codes: [POT, SLO]\n"
        "    since: 2011-01-01\n"
        "    page_size: 50\n"
        "    window_days: 30\n"
        "  - <<: *boston  # merge keys are checked, not refused\n"
        "    url: https://example.net/open311/v2\n"
        "    service_codes: [GRAF]\n"
        "  - kind: socrata\n"
        "    domain: data.cityofnewyork.us\n"
        "    dataset: erm2-nwe9\n"
        "    format: nyc\n"
        "    since: 2025-06-01T00:00:00\n"
        "    source: nyc\n"
        "    updated_field: ':updated_at'\n"
        "    limit: 1000\n"
        "    base_url: http://127.0.0.1:9\n"
        "  - kind: open311\n"
        f"    url: {URL}\n",
    )
    assert main(["refresh", "--dry-run", "--sources", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[:5] == [
        f"would fetch {URL} in 30-day windows, starting at 2011-01-01T00:00:00Z",
        "  service codes: POT,SLO",
        "would fetch https://example.net/open311/v2/requests.json in 30-day windows, "
        "starting at 2011-01-01T00:00:00Z",
        "  service codes: GRAF",
        "would fetch http://127.0.0.1:9/resource/erm2-nwe9.json as nyc, "
        "since :updated_at >= 2025-06-01T00:00:00",
    ]
    # a source without service codes: its one line, as before
    assert len(lines) == 6
    assert lines[5].startswith(f"would fetch {URL} in 90-day windows, starting at ")


def test_service_codes_written_as_one_string_are_split_on_commas(
    env: Settings,  # noqa: F811
    no_network,
    tmp_path: Path,
    capsys,
) -> None:
    """``service_codes: POT, SLO`` (as ``--service-code POT,SLO`` is written) asks for two
    codes, not for the letters P, O, T."""
    path = _sources(
        tmp_path,
        f"sources:\n  - kind: open311\n    url: {URL}\n    service_codes: POT, SLO\n",
    )
    assert main(["refresh", "--dry-run", "--sources", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "  service codes: POT,SLO"
