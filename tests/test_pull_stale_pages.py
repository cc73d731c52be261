"""A pull loads each page from a file in a temporary directory named after its process. A pull
killed with SIGKILL cannot remove its own; the next pull removes the directories of processes
that are gone, once they are an hour old, and nothing else: not a running process's, not a
recent one, not another kind of file or a symbolic link."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from etl import load, pull
from tests.test_pull import (  # noqa: F401  # noqa: F401
    FakeApi,
    _no_proxy,
    case_ids,
    env,
    open311_records,
    open311_responder,
    pull_open311,
)

OLD = time.time() - 2 * pull.STALE_PAGE_DIR_S


def _gone_pid() -> int:
    """The id of a process that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pull._running(child.pid)
    return child.pid


def _page_dir(parent: Path, name: str, *, age: float | None = OLD) -> Path:
    """A page directory as a pull leaves it: its page inside, last changed at ``age``."""
    path = parent / name
    path.mkdir()
    (path / "page.json").write_text("[]", encoding="utf-8")
    if age is not None:
        os.utime(path, (age, age))
    return path


def test_only_old_directories_of_gone_processes_are_removed(tmp_path: Path) -> None:
    gone = _gone_pid()
    prefix = pull.PAGE_DIR_PREFIX
    stale = _page_dir(tmp_path, f"{prefix}{gone}-a1b2c3d4")
    recent = _page_dir(tmp_path, f"{prefix}{gone}-recent00", age=None)
    mine = _page_dir(tmp_path, f"{prefix}{os.getpid()}-mine0000")
    running = _page_dir(tmp_path, f"{prefix}1-init0000")  # process 1 always runs
    older_name = _page_dir(tmp_path, f"{prefix}abcd1234")  # named without a process id
    other = _page_dir(tmp_path, f"other-{gone}-a1b2c3d4")
    a_file = tmp_path / f"{prefix}{gone}-file0000"
    a_file.write_text("not a directory")
    os.utime(a_file, (OLD, OLD))
    target = _page_dir(tmp_path, "elsewhere")
    link = tmp_path / f"{prefix}{gone}-link0000"
    link.symlink_to(target, target_is_directory=True)
    os.utime(link, (OLD, OLD), follow_symlinks=False)

    assert pull.remove_stale_page_dirs(tmp_path) == [stale]
    assert not stale.exists()
    for kept in (recent, mine, running, older_name, other, a_file, link, target):
        assert kept.exists(), kept
    assert (target / "page.json").is_file()
    assert pull.remove_stale_page_dirs(tmp_path) == []  # nothing more to remove


def test_the_page_directory_name_carries_the_process_id() -> None:
    prefix = pull.PAGE_DIR_PREFIX
    assert pull._page_dir_pid(f"{prefix}4242-x_y0abc9") == 4242
    for name in (f"{prefix}abc", f"{prefix}12", f"{prefix}-12-x", f"{prefix}1a-x", "x-12-y"):
        assert pull._page_dir_pid(name) is None, name


def test_a_pull_removes_what_a_killed_pull_left_and_leaves_nothing_of_its_own(
    env,  # noqa: F811
    store,
    tmp_path: Path,
    monkeypatch,
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    pull._remove_stale_page_dirs_once.cache_clear()
    left = _page_dir(temp, f"{pull.PAGE_DIR_PREFIX}{_gone_pid()}-killed00")
    seen: list[str] = []
    real = load.load_file  # (etl.pull imports it when it loads a page: record each page's path)

    def recording(path, **kwargs):
        seen.append(Path(path).parent.name)
        return real(path, **kwargs)

    monkeypatch.setattr(load, "load_file", recording)
    records = open311_records(25)
    with FakeApi(open311_responder(records)) as api:
        assert pull_open311(api) == 0
    pull._remove_stale_page_dirs_once.cache_clear()
    assert sorted(case_ids(store, "open311")) == sorted(r["service_request_id"] for r in records)
    assert not left.exists()
    assert len(seen) >= 3 and all(
        name.startswith(f"{pull.PAGE_DIR_PREFIX}{os.getpid()}-") for name in seen
    )
    assert list(temp.iterdir()) == []  # each page's directory went with its load


@pytest.fixture(autouse=True)
def _clear_once() -> None:
    pull._remove_stale_page_dirs_once.cache_clear()
