"""Review 11, inputs: a zip with no CSV in it says so, naming what it holds (it said "the first
line is not a CSV header" of its README), and the Open311 base URL (``/open311/v2/``, and
``/open311/v2`` as discovery names it) redirects to ``discovery.json`` (it was a 404 that sent
you to discovery.json). The CLI runs in process on a store in tmp_path; the API is the real
app's, through Flask's test client."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pytest

from dashboard.cli import main
from tests.test_cli_errors import env, error_line, write_export  # noqa: F401 - fixture

API = "/open311/v2"


# -- A. a zip with no CSV ---------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _stored(settings) -> dict[str, int]:
    """Rows in the store's tables that a load writes (none when the store was never made)."""
    db = Path(str(settings.database_url).removeprefix("sqlite:///"))
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        wanted = tables & {"cases", "ingestion_runs", "quarantine"}
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in wanted}


README = "Boston 311 export.\nSee the city's open data portal for the licence.\n"


@pytest.mark.parametrize(
    ("members", "holds"),
    [
        ({"readme.txt": README}, "readme.txt"),
        ({"readme.txt": ""}, "readme.txt"),  # an empty README is no data file either
        (
            {"docs/readme.txt": README, "photo.jpg": b"\xff\xd8\xff\xe0" * 64},
            "docs/readme.txt, photo.jpg",
        ),
        ({"photo.jpg": b"\xff\xd8\xff\xe0" * 64, "notes.pdf": b"%PDF-1.4"}, "photo.jpg, notes.pdf"),
    ],
    ids=["readme", "empty-readme", "readme-and-photo", "no-text-at-all"],
)
def test_a_zip_without_a_csv_says_so_and_names_what_it_holds(
    env,  # noqa: F811
    tmp_path,
    capsys,
    members,
    holds,
) -> None:
    path = _zip(tmp_path / "none.zip", members)
    assert main(["ingest", str(path)]) == 2
    assert error_line(capsys) == (
        f"stat311: error: {path}: the zip holds no CSV file (it holds: {holds})"
    )
    assert not any(_stored(env).values()), _stored(env)


def test_eight_images_are_named_five_and_3_more(env, tmp_path, capsys) -> None:  # noqa: F811
    path = _zip(tmp_path / "scans.zip", {f"p{n}.png": b"\x89PNG" for n in range(8)})
    assert main(["ingest", str(path)]) == 2
    assert error_line(capsys) == (
        f"stat311: error: {path}: the zip holds no CSV file "
        "(it holds: p0.png, p1.png, p2.png, p3.png, p4.png and 3 more)"
    )


def test_the_readme_zip_loads_once_it_holds_a_csv(env, tmp_path, capsys) -> None:  # noqa: F811
    """Refused while it holds only the README (nothing stored); the same zip with the export
    beside the README loads as before, and so does a zip whose one text file is the table."""
    path = _zip(tmp_path / "export.zip", {"readme.txt": README})
    assert main(["ingest", str(path)]) == 2
    assert error_line(capsys).endswith("the zip holds no CSV file (it holds: readme.txt)")
    assert not any(_stored(env).values())

    export = write_export(tmp_path / "cases.csv", cases=3)
    with zipfile.ZipFile(path, "a") as archive:
        archive.write(export, "cases.csv")
    assert main(["ingest", str(path), "--json"]) == 0
    assert '"inserted": 3' in capsys.readouterr().out
    text_table = _zip(tmp_path / "text.zip", {"cases.txt": export.read_text(encoding="utf-8")})
    assert main(["ingest", str(text_table), "--json"]) == 0
    assert '"unchanged": 3' in capsys.readouterr().out
    assert _stored(env)["cases"] == 3 and _stored(env)["ingestion_runs"] == 2


# -- B. the Open311 base URL ------------------------------------------------------------------------
@pytest.fixture
def client(settings, store, reset_dash_registries, monkeypatch):
    """The real app on an empty store in tmp_path (as tests/test_open311.py's, on the demo)."""
    from dashboard.app_factory import create_app

    for name in ("STAT311_RATE_LIMIT", "STAT311_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings)
    client = app.server.test_client()
    client.get("/healthz")  # Dash finishes its setup now
    return client


def test_the_base_url_redirects_to_discovery(client) -> None:
    discovery = client.get(f"{API}/discovery.json")
    assert discovery.status_code == 200 and discovery.mimetype == "application/json"
    for path in (f"{API}/", f"{API}/?format=xml&jurisdiction_id=x"):
        response = client.get(path)
        assert response.status_code == 302, (path, response.get_data(as_text=True)[:300])
        assert response.headers["Location"] == f"{API}/discovery.json"  # no query string
        # As the API's other answers: rate limited, cacheable, open to other sites.
        assert int(response.headers["X-RateLimit-Limit"]) > 0
        assert response.headers["Cache-Control"] == "public, max-age=60"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        followed = client.get(response.headers["Location"])
        assert followed.status_code == 200
        assert followed.get_json()["endpoints"] == discovery.get_json()["endpoints"]
    # The URL discovery names (no slash): werkzeug's 308 to the slash, then discovery.
    url = discovery.get_json()["endpoints"][0]["url"]
    assert url.endswith(API)
    response = client.get(API, follow_redirects=True)
    assert [r.status_code for r in response.history] == [308, 302]
    assert response.request.path == f"{API}/discovery.json"
    assert response.status_code == 200 and response.get_json() == discovery.get_json()
    # Mounted under a prefix (SCRIPT_NAME), the redirect keeps it.
    response = client.get(f"{API}/", base_url="http://localhost/city")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/city{API}/discovery.json"


def test_the_other_version_message_points_at_a_useful_url(client) -> None:
    """``/open311/v3/...`` says "see /open311/v2/"; that URL now leads to discovery.json."""
    wrong = client.get("/open311/v3/services.json")
    assert wrong.status_code == 404
    assert f"see {API}/" in wrong.get_json()[0]["description"]
    response = client.get(f"{API}/", follow_redirects=True)
    assert response.status_code == 200 and "endpoints" in response.get_json()
    # Other unknown paths under the API keep their 404.
    assert client.get(f"{API}/nothing.json").status_code == 404
