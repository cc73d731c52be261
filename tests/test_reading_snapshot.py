"""A reading command run with other settings never changes what the dashboard serves.

``STAT311_SLA_POLICY=what-if.yaml stat311 sla ...`` or ``STAT311_TIMEZONE=UTC stat311 sla ...``
used to rebuild the shared snapshot with those settings, so the running dashboard's pages
changed under it (found by review, on the Boston demo). Such a command now reads a private
snapshot written with its own settings and leaves the shared one as it was."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest

from dashboard.cli import main
from dashboard.snapshot import current_snapshot, read_manifest
from dashboard.store import Store
from etl.load import load_file
from tests.conftest import make_settings
from tests.support.exports import write_boston_export

#: Case 1 is due at 22:00 on 30 September in Boston, which is 02:00 on 1 October in UTC. Case 2
#: (PARK, which the default policy has no rule for) has no due time of its own; a policy of 2
#: calendar days for its type gives it one (3 Oct).
ROWS = [
    {"case_enquiry_id": "1", "open_dt": "2011-09-28 10:00:00", "target_dt": "2011-09-30 22:00:00",
     "closed_dt": "2011-09-29 10:00:00", "case_status": "Closed", "type": "Pothole"},
    {"case_enquiry_id": "2", "open_dt": "2011-10-01 10:00:00", "target_dt": "",
     "closed_dt": "2011-10-02 10:00:00", "case_status": "Closed", "type": "Graffiti",
     "department": "PARK"},
]  # fmt: skip


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A store in Boston time with its (shared) snapshot, and the environment pointing at it."""
    settings = make_settings(tmp_path / "store")
    store = Store(settings.database_url)
    store.migrate()
    load_file(write_boston_export(tmp_path / "two.csv", ROWS), store=store, settings=settings)
    store.dispose()
    monkeypatch.setenv("STAT311_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STAT311_SNAPSHOT_DIR", str(settings.snapshot_dir))
    private_parent = tmp_path / "tmp"
    private_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_parent))
    before = current_snapshot(settings.snapshot_dir)
    assert before is not None
    return settings, before, read_manifest(before), private_parent


def _october(capsys, *extra: str) -> dict[str, tuple[int, int]]:
    """``stat311 sla`` for October: (due, on time) of each department with anything due."""
    argv = ["sla", "--from", "2011-10-01", "--to", "2011-10-31", "--json", *extra]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    return {r["department"]: (r["due"], r["on_time"]) for r in rows if r["due"]}


def _unchanged(settings, before, manifest) -> None:
    after = current_snapshot(settings.snapshot_dir)
    assert after == before and read_manifest(after) == manifest


def test_sla_in_another_time_zone_reads_a_private_snapshot(
    shared, monkeypatch, capsys, caplog
) -> None:
    settings, before, manifest, private_parent = shared
    assert _october(capsys) == {}  # in Boston time case 1 is due in September
    monkeypatch.setenv("STAT311_TIMEZONE", "UTC")
    with caplog.at_level(logging.WARNING):
        rows = _october(capsys)
    assert rows == {"PWDx": (1, 1)}  # due 1 Oct 02:00 UTC
    _unchanged(settings, before, manifest)
    assert "written with the time zone America/New_York, not UTC" in caplog.text
    assert "the dashboard's figures are left as they are" in caplog.text
    assert list(private_parent.iterdir()) == []  # the private snapshot is gone
    monkeypatch.delenv("STAT311_TIMEZONE")
    assert _october(capsys) == {}  # and the shared one still answers in Boston time


def test_sla_with_a_what_if_policy_reads_a_private_snapshot(
    shared, tmp_path, monkeypatch, capsys, caplog
) -> None:
    settings, before, manifest, private_parent = shared
    policy = tmp_path / "what-if.yaml"
    policy.write_text("types:\n  Graffiti: {days: 2}\n", encoding="utf-8")
    monkeypatch.setenv("STAT311_SLA_POLICY", str(policy))
    with caplog.at_level(logging.WARNING):
        rows = _october(capsys)
    assert rows == {"PARK": (1, 1)}  # case 2, due 3 Oct
    assert "written with another SLA policy" in caplog.text
    _unchanged(settings, before, manifest)
    assert list(private_parent.iterdir()) == []


def test_hotspots_and_departments_leave_the_shared_snapshot_alone(
    shared, tmp_path, monkeypatch, capsys
) -> None:
    settings, before, manifest, _ = shared
    monkeypatch.setenv("STAT311_TIMEZONE", "UTC")
    assert main(["departments", "--json"]) == 0
    assert sorted(r["department"] for r in json.loads(capsys.readouterr().out)) == ["PARK", "PWDx"]
    out = tmp_path / "spots.csv"
    argv = ["hotspots", "--type", "Pothole", "--from", "2011-09-01", "--to", "2011-10-31"]
    assert main([*argv, "--out", str(out)]) == 0
    assert out.exists()
    _unchanged(settings, before, manifest)


def test_with_the_same_settings_a_stale_snapshot_is_still_brought_up_to_date(
    shared, tmp_path, capsys
) -> None:
    """A load that stopped before its snapshot: the reading command refreshes the shared one,
    which is what the dashboard needs too."""
    settings, before, _, private_parent = shared
    store = Store(settings.database_url)
    more = [{**ROWS[0], "case_enquiry_id": "3", "target_dt": "2011-10-05 10:00:00"}]
    load_file(
        write_boston_export(tmp_path / "more.csv", more),
        store=store,
        settings=settings,
        snapshot=False,
    )
    store.dispose()
    rows = _october(capsys)
    assert rows == {"PWDx": (1, 1)}  # case 3
    after = current_snapshot(settings.snapshot_dir)
    assert after != before and read_manifest(after)["timezone"] == settings.timezone
    assert list(private_parent.iterdir()) == []
