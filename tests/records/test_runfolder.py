"""Run folders: ids that sort by time, finding a run by id / prefix / last / folder, pruning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from runbook.errors import RunNotFoundError, RunRecordError
from runbook.records import RunFolder, find_run, list_runs, new_run_id, prune_runs
from runbook.records.runfolder import resolve_runs_dir, safe_file_name


def test_run_ids_sort_by_time() -> None:
    base = 1_796_000_000.0
    ids = [new_run_id(base + dt) for dt in (0.0, 0.001, 0.5, 0.9999, 1.0, 61.2, 86400.0)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert new_run_id(base + 0.5) == "20261130T005320Z-8000"
    assert len(ids[0]) == len("20261202T061500Z-8a3f") and ids[0][8] == "T" and ids[0][15] == "Z"


def test_create_makes_unique_folders_with_hosts_dir(tmp_path: Path) -> None:
    first = RunFolder.create(tmp_path / "runs", now=1_796_000_000.25)
    second = RunFolder.create(tmp_path / "runs", now=1_796_000_000.25)  # same instant
    assert first.run_id != second.run_id and first.run_id < second.run_id
    assert first.hosts_dir.is_dir() and first.journal.parent == first.path
    assert first.host_log("rack1/../h 1").name == "rack1_.._h_1.log"
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == [first.run_id, second.run_id]


def test_create_in_an_unusable_place_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunRecordError, match=f"cannot create a run folder in {blocker}"):
        RunFolder.create(blocker / "runs")


def test_resolve_runs_dir_precedence() -> None:
    assert resolve_runs_dir(Path("x"), {"RUNBOOK_RUNS_DIR": "y"}) == Path("x")
    assert resolve_runs_dir(None, {"RUNBOOK_RUNS_DIR": "y"}) == Path("y")
    assert resolve_runs_dir(None, {}) == Path(".runbook/runs")


def test_safe_file_name() -> None:
    assert safe_file_name("h01") == "h01"
    assert safe_file_name("..") == "_.."
    assert safe_file_name("a:b") == "a_b"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    for stamp in ("20261201T100000Z-0001", "20261201T100000Z-0a00", "20261202T090000Z-1234"):
        (folder / stamp).mkdir(parents=True)
        (folder / stamp / "journal.jsonl").write_text("")
    (folder / "notes").mkdir()  # not a run: ignored
    return folder


def test_find_run_by_last_id_prefix_and_folder(runs: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_run("last", runs).run_id == "20261202T090000Z-1234"
    assert find_run("20261201T100000Z-0a00", runs).run_id == "20261201T100000Z-0a00"
    assert find_run("20261202", runs).run_id == "20261202T090000Z-1234"
    folder = str(runs / "20261201T100000Z-0001")
    assert find_run(folder, runs).path == Path(folder)
    monkeypatch.chdir(runs)  # a bare folder name that is no id under the runs dir in use
    assert find_run("20261201T100000Z-0001", runs / "x").path == Path("20261201T100000Z-0001")


def test_find_run_unknown_or_ambiguous_says_so(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match=r"ambiguous.*20261201T100000Z-0001, "
                                               r"20261201T100000Z-0a00"):
        find_run("20261201", runs)
    with pytest.raises(RunNotFoundError, match=r"no run 'nope'.*the last is 20261202T090000Z"):
        find_run("nope", runs)
    with pytest.raises(RunNotFoundError, match="no runs recorded"):
        find_run("last", tmp_path / "empty")
    with pytest.raises(RunNotFoundError, match="not a run folder"):
        find_run(str(tmp_path), runs)


def test_prune_keeps_the_newest_and_the_protected(runs: Path) -> None:
    oldest = RunFolder(runs / "20261201T100000Z-0001")
    removed = prune_runs(runs, 2, protect=oldest)
    assert [p.name for p in removed] == ["20261201T100000Z-0a00"]
    assert [r.run_id for r in list_runs(runs)] == ["20261201T100000Z-0001",
                                                   "20261202T090000Z-1234"]
    assert (runs / "notes").is_dir()
    assert prune_runs(runs, 5) == []
    assert [p.name for p in prune_runs(runs, 1)] == ["20261201T100000Z-0001"]


class _Applies(NamedTuple):
    """A held and a quick runbook on the local host, and `runbook apply` into `runs`."""

    env: dict[str, str]
    apply: list[str]
    slow: Path
    quick: Path
    marker: Path
    runs: Path


def _applies(tmp_path: Path) -> _Applies:
    """`slow` holds its step while `marker` exists; `quick` is one `true`."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    marker = tmp_path / "hold"
    slow, quick = tmp_path / "slow.yml", tmp_path / "quick.yml"
    slow.write_text("name: slow\nsteps:\n  - name: hold\n    hosts: local\n"
                    f"    run: 'while [ -e {marker} ]; do sleep 0.05; done'\n")
    quick.write_text("name: quick\nsteps:\n  - {name: q, hosts: local, run: 'true'}\n")
    runs = tmp_path / "runs"
    apply = [sys.executable, "-m", "runbook", "apply", "--runs-dir", str(runs)]
    return _Applies(env, apply, slow, quick, marker, runs)


def test_prune_never_removes_a_run_another_process_is_recording(tmp_path: Path) -> None:
    """`apply --keep-runs 1` removed the folder of a run still going in another terminal: its
    journal lines went to a deleted file."""
    env, apply, slow, quick, marker, runs = _applies(tmp_path)
    marker.touch()
    first = subprocess.Popen([*apply, str(slow)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any("step_start" in p.read_text() for p in runs.glob("*/journal.jsonl")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.02)
        (live,) = list_runs(runs)
        listing = subprocess.run([sys.executable, "-m", "runbook", "runs", "--runs-dir",
                                  str(runs)], env=env, capture_output=True, text=True,
                                 timeout=60, check=False).stdout
        assert " running " in listing, listing
        assert subprocess.run([*apply, str(quick), "--keep-runs", "1"], env=env,
                              capture_output=True, timeout=60, check=False).returncode == 0
        assert live.path.is_dir()
        marker.unlink()
        assert first.wait(timeout=60) == 0
    finally:
        marker.unlink(missing_ok=True)
        first.kill()
        first.wait()
    assert '"run_end"' in live.journal.read_text()
    assert len(list_runs(runs)) == 2
    assert subprocess.run([*apply, str(quick), "--keep-runs", "1"], env=env,
                          capture_output=True, timeout=60, check=False).returncode == 0
    assert len(list_runs(runs)) == 1  # a finished run is pruned as before


def test_old_runs_are_pruned_while_the_new_run_goes(tmp_path: Path) -> None:
    """Pruning starts with the run (in a thread), not after it: with `--keep-runs 1` the
    earlier runs are gone while the new run's step still holds."""
    env, apply, slow, quick, marker, runs = _applies(tmp_path)
    for _ in range(2):
        subprocess.run([*apply, str(quick)], env=env, capture_output=True, timeout=60,
                       check=True)
    assert len(list_runs(runs)) == 2
    marker.touch()
    held = subprocess.Popen([*apply, str(slow), "--keep-runs", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # Until only the new run is left and its journal has its first line (the folder,
        # with an empty journal, comes a moment before that line).
        while not (len(left := list_runs(runs)) == 1 and "slow" in left[0].journal.read_text()):
            assert time.monotonic() < deadline and held.poll() is None
            time.sleep(0.02)
        assert held.poll() is None  # still holding: pruned while it runs
        marker.unlink()
        assert held.wait(timeout=60) == 0
    finally:
        marker.unlink(missing_ok=True)
        held.kill()
        held.wait()
    assert len(list_runs(runs)) == 1
