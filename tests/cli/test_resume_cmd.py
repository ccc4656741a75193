"""`runbook resume`: the runs it refuses (exit 2) before anything runs, and a local resume."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli
from runbook.records import read_journal
from runbook.records.recorder import file_sha256
from runbook.records.runfolder import RunFolder


def recorded(tmp_path: Path, *, ended: bool = False, end: str = "success",
             **start: Any) -> RunFolder:
    folder = RunFolder.create(tmp_path / "runs")
    header = {"event": "run_start", "run_id": folder.run_id, "hosts": ["local"],
              "runbook_path": "book.yml", "steps": [], "extra_vars": [], "pid": None,
              "options": {"cwd": str(tmp_path)}, **start}
    lines = [header, *([{"event": "run_end", "status": end}] if ended else [])]
    folder.journal.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


def resume(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["resume", *args, "--runs-dir", str(tmp_path / "runs")])


def test_a_run_that_ended_is_not_resumed(tmp_path: Path) -> None:
    folder = recorded(tmp_path, ended=True)
    result = resume(tmp_path, "last")
    assert result.exit_code == 2
    assert f"run {folder.run_id} ended cleanly" in result.output
    assert f"--rerun-failed {folder.run_id}" in result.output


def test_an_interrupted_run_is_resumed_but_its_resume_that_completed_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run stopped by Ctrl-C / SIGTERM ends with an `interrupted` run end: resumable."""
    monkeypatch.chdir(tmp_path)  # resume goes to the run's working folder
    book = tmp_path / "book.yml"
    book.write_text(f"name: b\nsteps:\n  - name: s\n    hosts: local\n"
                    f"    run: echo x >> {tmp_path}/ran\n")
    with runbook_process() as pid:  # its pid, reused: the interrupted run's process ended
        folder = recorded(tmp_path, ended=True, end="interrupted", hosts=["local"], pid=pid,
                          runbook_sha256=file_sha256(book),
                          steps=[{"name": "s", "action": "run"}])
        result = resume(tmp_path, "last")
    assert result.exit_code == 0 and f"resuming run {folder.run_id}" in result.output, \
        result.output
    assert (tmp_path / "ran").read_text() == "x\n"
    ends = [r for r in read_journal(folder.journal) if r["event"] == "run_end"]
    assert [e["status"] for e in ends] == ["interrupted", "success"]
    again = resume(tmp_path, "last")
    assert again.exit_code == 2 and "ended cleanly (success)" in again.output


@contextlib.contextmanager
def runbook_process() -> Iterator[int]:
    """A live process whose command line says `runbook` (what a running run looks like)."""
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "runbook"])
    cmdline = Path(f"/proc/{alive.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"runbook" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # a process just started may not show its command line yet
    try:
        yield alive.pid
    finally:
        alive.kill()
        alive.wait()


def test_a_run_whose_process_still_runs_is_not_resumed(tmp_path: Path) -> None:
    with runbook_process() as pid:
        recorded(tmp_path, pid=pid)
        result = resume(tmp_path, "last")
    assert result.exit_code == 2 and f"still running (process {pid})" in result.output


def test_masked_extra_vars_cannot_be_restored(tmp_path: Path) -> None:
    recorded(tmp_path, extra_vars=["pw=***"])
    result = resume(tmp_path, "last")
    assert result.exit_code == 2 and "recorded masked" in result.output


def test_an_unknown_run_is_exit_2(tmp_path: Path) -> None:
    recorded(tmp_path)
    result = resume(tmp_path, "nosuchrun")
    assert result.exit_code == 2 and "no run 'nosuchrun'" in result.output


LOOP_BOOK = """\
name: looped
steps:
  - name: probe
    hosts: local
    loop: [a, b, c]
    run: echo {{{{ item }}}} >> {d}/ran; test {{{{ item }}}} != b -o -e {d}/fixed && echo got-{{{{ item }}}}
    register: probe
  - name: after
    hosts: local
    run: echo "{{{{ probe.results | map(attribute='output') | map('trim') | join(',') }}}}"
"""


def test_a_rerun_inside_a_loop_runs_only_the_items_not_done(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text(LOOP_BOOK.format(d=tmp_path))
    runs = ["--runs-dir", str(tmp_path / "runs")]
    first = CliRunner().invoke(cli, ["apply", str(book), *runs])
    assert first.exit_code == 1, first.output
    (tmp_path / "fixed").touch()
    again = CliRunner().invoke(cli, ["apply", str(book), "--rerun-failed", "last", *runs,
                                     "--report-json", str(tmp_path / "r.json")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "ran").read_text().split() == ["a", "b", "c", "b"]  # only b again
    report = json.loads((tmp_path / "r.json").read_text())
    probe = report["steps"][0]["results"]["local"]
    assert [i["item"] for i in probe["items"]] == ["a", "b", "c"]
    assert {i["status"] for i in probe["items"]} == {"success"}
    # the registered results: the earlier items' values merged with the new one
    assert report["steps"][1]["results"]["local"]["output"] == "got-a,got-b,got-c\n"
