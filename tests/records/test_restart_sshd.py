"""`apply --rerun-failed RUN` and `runbook resume RUN` as real subprocesses against the OpenSSH
lab. Every step appends a line to a file per host (the lab hosts share this machine's disk),
so the files say which step ran on which host, and how often."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runbook.records import list_runs, read_journal
from tests.records.test_run_folder_sshd import only_run, report_of, runbook, start, write_book
from tests.sshlab import SshdLab


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def lines(folder: Path, host: str) -> list[str]:
    return (folder / host).read_text().split()


def results(report: dict[str, object], step: int) -> dict[str, tuple[str, str]]:
    steps = report["steps"]
    assert isinstance(steps, list)
    return {h: (r["status"], r["output"]) for h, r in steps[step]["results"].items()}


REPAIR_BOOK = """
name: repair
steps:
  - name: one
    hosts: "^h0[6-9]$"
    run: echo 1 >> {d}/{{{{ host.id }}}}; echo v-{{{{ host.id }}}}
    register: first
  - name: two
    hosts: "^h0[6-9]$"
    run: echo 2 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h07 -o -e {d}/fixed
  - name: three
    hosts: "^h0[6-9]$"
    run: echo 3 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h08 -o -e {d}/fixed
  - name: four
    hosts: "^h0[6-9]$"
    run: echo 4 >> {d}/{{{{ host.id }}}}; echo "got {{{{ first.output | trim }}}}"
"""


def test_rerun_failed_touches_only_the_failed_hosts_from_their_failing_step(
        lab_file: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    book = write_book(tmp_path, REPAIR_BOOK.format(d=marks))
    args = ("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs")
    first = runbook(*args, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    failed_run = only_run(tmp_path / "runs").name
    (marks / "fixed").touch()

    again = runbook(*args, "--rerun-failed", failed_run, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"rerunning the failed hosts of run {failed_run}: h07 from step 2, h08 from step 3" \
        in again.stdout
    assert lines(marks, "h06") == lines(marks, "h09") == ["1", "2", "3", "4"]  # untouched
    assert lines(marks, "h07") == ["1", "2", "2", "3", "4"]  # again from step 2
    assert lines(marks, "h08") == ["1", "2", "3", "3", "4"]  # again from step 3

    repair = list_runs(tmp_path / "runs")[-1].path
    report = report_of(repair)
    assert report["repairs"] == failed_run and report["status"] == "success"
    assert report["locks"]["hosts"] == ["h07", "h08"]  # the hosts that finished ok: untouched
    for step in range(4):  # the merged report: every host's final state
        assert {s for s, _ in results(report, step).values()} == {"success"}, step
    # registered values restored from the journal: step 4 saw step 1's output of the first run
    assert results(report, 3)["h07"] == ("success", "got v-h07\n")
    assert results(report, 3)["h08"] == ("success", "got v-h08\n")
    journal = read_journal(repair / "journal.jsonl")
    assert journal[0]["repairs"] == failed_run
    assert {(r["host"], r["step"]) for r in journal if r["event"] == "host_result"} == {
        ("h07", 1), ("h07", 2), ("h07", 3), ("h08", 2), ("h08", 3)}
    assert (repair / "hosts").exists() and sorted(p.name for p in (repair / "hosts").iterdir()) \
        == ["h07.log", "h08.log"]

    shown = runbook("show", repair.name, "--runs-dir", "runs", cwd=tmp_path)
    assert shown.returncode == 0 and "success" in shown.stdout, shown.stderr
    assert f"repairs  run {failed_run} (this report merges its results)" in shown.stdout
    log = runbook("show", repair.name, "--runs-dir", "runs", "--host", "h08", "--transcript",
                  cwd=tmp_path)
    assert log.returncode == 0 and "step 3 'three' (run)" in log.stdout
    assert "step 2 'two'" not in log.stdout  # h08 was rerun from step 3 only
    listing = runbook("runs", "--runs-dir", "runs", cwd=tmp_path).stdout.splitlines()
    assert listing[1].split()[-2:] == ["failed", "2/2"]
    assert listing[2].split()[-2:] == ["success", "4/0"]

    nothing = runbook(*args, "--rerun-failed", "last", cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to repair" in nothing.stdout
    assert len(list_runs(tmp_path / "runs")) == 2

    book.write_text(book.read_text().replace("name: three", "name: third"))
    changed = runbook(*args, "--rerun-failed", failed_run, cwd=tmp_path)
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "changed since run" in changed.stderr
    assert "step 3: 'three' (run) -> 'third' (run)" in changed.stderr
    forced = runbook(*args, "--rerun-failed", failed_run, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr


RESUME_BOOK = """
name: resumable
steps:
  - name: one
    hosts: "^h1[0-3]$"
    run: echo 1 >> {d}/{{{{ host.id }}}}; echo v-{{{{ host.id }}}}
    register: first
  - name: two
    hosts: "^h1[0-3]$"
    run: echo 2 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h11
  - name: hold
    hosts: local
    run: touch {d}/ready; while [ ! -e {d}/go ]; do sleep 0.1; done
  - name: three
    hosts: "^h1[0-3]$"
    run: echo 3 >> {d}/{{{{ host.id }}}}; echo "got {{{{ first.output | trim }}}}"
"""


def test_kill_9_then_resume_runs_every_step_once_per_host(sshd_lab: SshdLab,
                                                          tmp_path: Path) -> None:
    # short leases: the killed run's locks lapse quickly, and resume waits for them
    lab_file = sshd_lab.lab_yaml(tmp_path / "lab.yml", extra={"lock": {"ttl": 3}})
    marks = tmp_path / "marks"
    marks.mkdir()
    book = write_book(tmp_path, RESUME_BOOK.format(d=marks))
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (marks / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.kill()  # no handler, no report, no run end
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = only_run(tmp_path / "runs")
    assert not (folder / "report.json").exists()
    (marks / "go").touch()  # the held step (in flight at the kill) may now end

    finished = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert finished.returncode == 1, finished.stdout + finished.stderr  # h11 failed in step 2
    assert "resuming run" in finished.stdout
    assert only_run(tmp_path / "runs") == folder  # the same folder, no new run
    for host in ("h10", "h12", "h13"):
        assert lines(marks, host) == ["1", "2", "3"], host  # nothing repeated
    assert lines(marks, "h11") == ["1", "2"]  # it failed before the kill: not run again
    records = read_journal(folder / "journal.jsonl")
    kinds = [r["event"] for r in records]
    assert kinds.count("run_start") == 1 and kinds.count("resume") == 1
    assert kinds[-1] == "run_end"
    report = report_of(folder)
    assert report["status"] == "failed" and report["run_id"] == folder.name
    assert results(report, 0)["h12"] == ("success", "v-h12\n")  # from before the kill
    assert results(report, 3)["h12"] == ("success", "got v-h12\n")  # registered value restored
    assert results(report, 3)["h11"][0] == "skipped"
    assert results(report, 2)["local"][0] == "success"
    shown = json.loads(runbook("show", "last", "--runs-dir", "runs", "--format", "json",
                               cwd=tmp_path).stdout)
    assert shown["status"] == "failed"

    again = runbook("resume", folder.name, "--runs-dir", "runs", cwd=tmp_path)
    assert again.returncode == 2 and "ended cleanly" in again.stderr
