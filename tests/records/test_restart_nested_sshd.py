"""`--rerun-failed` and `runbook resume` inside blocks, loops and rolling batches, as real
subprocesses against the OpenSSH lab. Every step (and every loop item) appends a word to a
file per host (the lab hosts share this machine's disk), so the files say what ran on which
host, and how often."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbook.records import list_runs, read_journal
from tests.records.test_restart_sshd import lines, results
from tests.records.test_run_folder_sshd import only_run, report_of, runbook, start, write_book
from tests.sshlab import SshdLab

# h07 fails in the block and its rescue fails too; h08 fails one loop item; h09 fails in the
# block but its rescue recovers it (it finished ok); h06 passes. `fixed` repairs h07 and h08.
NESTED_BOOK = """
name: nested repair
steps:
  - name: prep
    hosts: "^h0[6-9]$"
    run: echo prep >> {d}/{{{{ host.id }}}}; echo v-{{{{ host.id }}}}
    register: first
  - name: upgrade
    hosts: "^h0[6-9]$"
    block:
      - name: b1
        run: echo b1 >> {d}/{{{{ host.id }}}}
      - name: b2
        run: echo b2 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h07 -o -e {d}/fixed
      - name: b3
        run: echo b3 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h09
    rescue:
      - name: mend
        run: echo mend >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h07 -o -e {d}/fixed
    always:
      - name: tidy
        run: echo tidy >> {d}/{{{{ host.id }}}}
  - name: each
    hosts: "^h0[6-9]$"
    loop: [x, y, z]
    register: each
    run: >-
      echo each-{{{{ item }}}} >> {d}/{{{{ host.id }}}};
      test {{{{ host.id }}}}-{{{{ item }}}} != h08-y -o -e {d}/fixed
      && echo {{{{ item }}}}-{{{{ first.output | trim }}}}
  - name: last
    hosts: "^h0[6-9]$"
    run: >-
      echo last >> {d}/{{{{ host.id }}}};
      echo "{{{{ each.results | map(attribute='output') | map('trim') | join(',') }}}}"
"""

DONE = ["prep", "b1", "b2", "b3", "tidy", "each-x", "each-y", "each-z", "last"]


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def test_rerun_restarts_inside_the_block_and_the_loop(lab_file: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    book = write_book(tmp_path, NESTED_BOOK.format(d=marks))
    args = ("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs")
    first = runbook(*args, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    failed_run = only_run(tmp_path / "runs").name
    assert lines(marks, "h07") == ["prep", "b1", "b2", "mend", "tidy"]
    (marks / "fixed").touch()

    again = runbook(*args, "--rerun-failed", failed_run, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "h07 from step 3, h08 from step 7" in again.stdout
    assert "4 host(s) ok, 0 not ok in the end" in again.stdout  # h09's rescue counts
    assert lines(marks, "h06") == DONE  # untouched
    assert lines(marks, "h09") == ["prep", "b1", "b2", "b3", "mend", "tidy", "each-x",
                                   "each-y", "each-z", "last"]  # rescued: finished ok
    # h07 again from its failing step in the block; no rescue needed now; always runs again
    assert lines(marks, "h07") == ["prep", "b1", "b2", "mend", "tidy",
                                   "b2", "b3", "tidy", "each-x", "each-y", "each-z", "last"]
    # h08 again from the loop, only the item that failed
    assert lines(marks, "h08") == [*DONE[:-1], "each-y", "last"]

    repair = list_runs(tmp_path / "runs")[-1].path
    report = report_of(repair)
    assert report["status"] == "success" and report["locks"]["hosts"] == ["h07", "h08"]
    # registered values: `first` from the first run, `each` merges old and new items
    assert results(report, 7)["h08"] == ("success", "x-v-h08,y-v-h08,z-v-h08\n")
    assert results(report, 7)["h07"] == ("success", "x-v-h07,y-v-h07,z-v-h07\n")
    items = report["steps"][6]["results"]["h08"]["items"]
    assert [(i["item"], i["status"]) for i in items] == [("x", "success"), ("y", "success"),
                                                         ("z", "success")]
    assert results(report, 2)["h07"][0] == "success"
    assert results(report, 4)["h07"][0] == "skipped"  # nothing to rescue any more
    assert report["steps"][3]["results"]["h09"].get("rescued") is True  # merged, still shown
    journal = read_journal(repair / "journal.jsonl")
    assert sorted((r["host"], r["item"]) for r in journal if r["event"] == "item_result") == [
        ("h07", 0), ("h07", 1), ("h07", 2), ("h08", 1)]
    transcript = (repair / "hosts" / "h08.log").read_text()
    assert "item 'x': done ok in the earlier run, not run again" in transcript
    nothing = runbook(*args, "--rerun-failed", "last", cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to repair" in nothing.stdout, nothing.stdout


# Two batches of two hosts; h10's second loop item holds the run (first run only) until the
# test has killed runbook; the held command then exits without a trace.
BATCHED_BOOK = """
name: resumable nested
batch: 2
steps:
  - name: one
    hosts: "^h1[0-3]$"
    run: echo one >> {d}/{{{{ host.id }}}}; echo v-{{{{ host.id }}}}
    register: first
  - name: work
    hosts: "^h1[0-3]$"
    block:
      - name: inner
        run: echo inner >> {d}/{{{{ host.id }}}}
    always:
      - name: tidy
        run: echo tidy >> {d}/{{{{ host.id }}}}
  - name: each
    hosts: "^h1[0-3]$"
    loop: [p, q, r]
    register: each
    run: >-
      if [ {{{{ host.id }}}}-{{{{ item }}}} = h10-q ] && [ ! -e {d}/go ]; then
      touch {d}/ready; while [ ! -e {d}/go ]; do sleep 0.1; done; exit 3; fi;
      echo each-{{{{ item }}}} >> {d}/{{{{ host.id }}}}; echo {{{{ item }}}}-{{{{ first.output | trim }}}}
  - name: end
    hosts: "^h1[0-3]$"
    run: >-
      echo end >> {d}/{{{{ host.id }}}};
      echo "{{{{ each.results | map(attribute='output') | map('trim') | join(',') }}}}"
"""


def test_kill_9_then_resume_finishes_blocks_loops_and_unstarted_batches_once(
        sshd_lab: SshdLab, tmp_path: Path) -> None:
    lab_file = sshd_lab.lab_yaml(tmp_path / "lab.yml", extra={"lock": {"ttl": 3}})
    marks = tmp_path / "marks"
    marks.mkdir()
    book = write_book(tmp_path, BATCHED_BOOK.format(d=marks))
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not ((marks / "ready").exists() and "each-r" in _text(marks / "h11")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.kill()  # no handler, no report, no run end
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = only_run(tmp_path / "runs")
    assert not (marks / "h12").exists()  # the second batch had not started
    assert lines(marks, "h10") == ["one", "inner", "tidy", "each-p"]
    (marks / "go").touch()

    finished = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "h10 from step 4" in finished.stdout and "h12 from step 1" in finished.stdout
    for host in ("h10", "h11", "h12", "h13"):  # every host done once
        assert lines(marks, host) == ["one", "inner", "tidy", "each-p", "each-q", "each-r",
                                      "end"], host
    report = report_of(folder)
    assert report["status"] == "success"
    assert [b["hosts"] for b in report["batches"]] == [["h10", "h11"], ["h12", "h13"]]
    assert results(report, 4)["h10"] == ("success", "p-v-h10,q-v-h10,r-v-h10\n")
    assert results(report, 4)["h13"] == ("success", "p-v-h13,q-v-h13,r-v-h13\n")
    records = read_journal(folder / "journal.jsonl")
    resumed = [r for r in records[[r["event"] for r in records].index("resume"):]
               if r["event"] == "host_result"]
    # the first batch's hosts finished before the second batch's began
    assert max(r["result"]["ended"] for r in resumed if r["host"] in ("h10", "h11")) <= min(
        r["result"]["started"] for r in resumed if r["host"] in ("h12", "h13"))


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# h14 fails in the block; its rescue holds (first run only) until the test has killed runbook.
RESCUE_BOOK = """
name: resumable rescue
steps:
  - name: work
    hosts: "^h1[45]$"
    block:
      - name: m1
        run: echo m1 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h14
    rescue:
      - name: r1
        run: echo r1 >> {d}/{{{{ host.id }}}}
      - name: r2
        run: >-
          if [ ! -e {d}/go ]; then touch {d}/ready;
          while [ ! -e {d}/go ]; do sleep 0.1; done; exit 3; fi;
          echo r2 >> {d}/{{{{ host.id }}}}; echo "after {{{{ failed_step }}}}"
    always:
      - name: a1
        run: echo a1 >> {d}/{{{{ host.id }}}}
  - name: after
    hosts: "^h1[45]$"
    run: echo after >> {d}/{{{{ host.id }}}}
"""


def test_resume_inside_a_rescue_goes_on_with_it_and_counts_the_host_rescued(
        sshd_lab: SshdLab, tmp_path: Path) -> None:
    lab_file = sshd_lab.lab_yaml(tmp_path / "lab.yml", extra={"lock": {"ttl": 3}})
    marks = tmp_path / "marks"
    marks.mkdir()
    book = write_book(tmp_path, RESCUE_BOOK.format(d=marks))
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (marks / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.kill()
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = only_run(tmp_path / "runs")
    (marks / "go").touch()

    finished = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "h14 from step 3, h15 from step 4" in finished.stdout
    assert lines(marks, "h14") == ["m1", "r1", "r2", "a1", "after"]
    assert lines(marks, "h15") == ["m1", "a1", "after"]
    report = report_of(folder)
    assert report["status"] == "success"  # the failure before the kill was rescued after it
    assert report["steps"][0]["results"]["h14"].get("rescued") is True
    assert results(report, 2)["h14"] == ("success", "after m1\n")  # failed_step restored
