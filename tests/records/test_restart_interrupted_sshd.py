"""`runbook resume` and `--rerun-failed` of runs cut short while lab hosts ran a command: by
Ctrl-C / SIGTERM (a run end that says `interrupted`), by an unreachable host, and by `kill -9`.
Every step appends a line to a file per host (the lab hosts share this machine's disk), so the
files say which step ran on which host, and how often."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from runbook.records import list_runs, read_journal
from tests.records.test_restart_sshd import lines, results
from tests.records.test_run_folder_sshd import only_run, report_of, runbook, start, write_book
from tests.sshlab import SshdLab
from tests.test_apply_sshd import wait_no_marker

# h15 has no step three: it is done after step two. h10/h11/h15 end step two at once; the
# first time h12/h13 run it, they hold in it (a remote command, its shell's command line
# holds the marker) until `go` exists
HELD_BOOK = """
name: held
steps:
  - name: one
    hosts: "^h1[0-5]$"
    run: echo 1 >> {d}/{{{{ host.id }}}}
  - name: two
    hosts: "^h1[0-5]$"
    run: >-
      echo 2 >> {d}/{{{{ host.id }}}};
      case {{{{ host.id }}}} in h12|h13) if [ ! -e {d}/ready-{{{{ host.id }}}} ]; then
      touch {d}/ready-{{{{ host.id }}}};
      sh -c 'while [ ! -e {d}/go ]; do sleep 0.1; done; : {marker}'; fi;; esac
  - name: three
    hosts: "^h1[0-4]$"
    run: echo 3 >> {d}/{{{{ host.id }}}}
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def held_run(sshd_lab: SshdLab, tmp_path: Path, *, h14_down: bool,
             stop: signal.Signals) -> tuple[Path, Path, Path, str]:
    """Start HELD_BOOK, wait until h10/h11/h15 finished step two and h12/h13 run it, then send
    `stop`; (book, lab file, marks folder, marker of the held remote commands)."""
    extra: dict[str, object] = {"lock": {"ttl": 3}}
    if h14_down:  # unreachable: nothing listens where the lab says its sshd is
        extra["hosts"] = {"h14": {"port": closed_port()}}
    lab_file = sshd_lab.lab_yaml(tmp_path / "lab.yml", extra=extra)
    marks, marker = tmp_path / "marks", f"held-{uuid.uuid4().hex}"
    marks.mkdir()
    book = write_book(tmp_path, HELD_BOOK.format(d=marks, marker=marker))
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not _holding(tmp_path / "runs", marks):
            assert proc.poll() is None and time.monotonic() < deadline, _out(proc)
            time.sleep(0.05)
        if stop == signal.SIGKILL:
            proc.kill()  # no handler, no report, no run end
        else:
            proc.send_signal(stop)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (-9 if stop == signal.SIGKILL else 130)
    return book, lab_file, marks, marker


def _holding(runs: Path, marks: Path) -> bool:
    """h12 and h13 are inside step two, and h10, h11 and h15 have a result for it."""
    if not all((marks / f"ready-{h}").exists() for h in ("h12", "h13")) or not list_runs(runs):
        return False
    done = {r["host"] for r in read_journal(only_run(runs) / "journal.jsonl")
            if r["event"] == "host_result" and r["step"] == 1}
    return {"h10", "h11", "h15"} <= done


def _out(proc: subprocess.Popen[str]) -> str:
    return proc.stdout.read() if proc.stdout and proc.poll() is not None else ""


def test_resume_continues_a_run_interrupted_by_sigint(sshd_lab: SshdLab,
                                                      tmp_path: Path) -> None:
    _, _, marks, marker = held_run(sshd_lab, tmp_path, h14_down=False, stop=signal.SIGINT)
    folder = only_run(tmp_path / "runs")
    assert report_of(folder)["status"] == "interrupted"
    assert wait_no_marker(marker) == []  # Ctrl-C stopped the held remote commands

    finished = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "h12 from step 2, h13 from step 2" in finished.stdout
    assert "h10 from step 3, h11 from step 3, h14 from step 3" in finished.stdout
    assert only_run(tmp_path / "runs") == folder  # the same folder, no new run
    assert "h15 from" not in finished.stdout and lines(marks, "h15") == ["1", "2"]
    for host in ("h10", "h11", "h14"):
        assert lines(marks, host) == ["1", "2", "3"], host  # nothing repeated
    for host in ("h12", "h13"):  # the step cut off by Ctrl-C runs again, the rest once
        assert lines(marks, host) == ["1", "2", "2", "3"], host
    kinds = [r["event"] for r in read_journal(folder / "journal.jsonl")]
    assert kinds.count("run_end") == 2 and kinds.count("resume") == 1
    assert kinds[-1] == "run_end"
    report = report_of(folder)
    assert report["status"] == "success"
    assert {s for s, _ in results(report, 1).values()} == {"success"}
    again = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert again.returncode == 2 and "ended cleanly" in again.stderr


def test_rerun_failed_runs_the_unreachable_and_interrupted_hosts(sshd_lab: SshdLab,
                                                                 tmp_path: Path) -> None:
    book, lab_file, marks, _ = held_run(sshd_lab, tmp_path, h14_down=True,
                                        stop=signal.SIGTERM)
    stopped = only_run(tmp_path / "runs")
    assert results(report_of(stopped), 0)["h14"][0] == "unreachable"
    assert not (marks / "h14").exists()
    sshd_lab.lab_yaml(lab_file, extra={"lock": {"ttl": 3}})  # h14's sshd is found again

    again = runbook("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs",
                    "--rerun-failed", stopped.name, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    # every host that did not finish ok, from where it stopped; h15 had: it is not touched
    assert (f"rerunning the failed hosts of run {stopped.name}: h14 from step 1, h12 from "
            "step 2, h13 from step 2, h10 from step 3, h11 from step 3\n") in again.stdout
    assert lines(marks, "h15") == ["1", "2"]
    assert lines(marks, "h10") == lines(marks, "h11") == ["1", "2", "3"]
    assert lines(marks, "h12") == lines(marks, "h13") == ["1", "2", "2", "3"]
    assert lines(marks, "h14") == ["1", "2", "3"]
    repair = list_runs(tmp_path / "runs")[-1].path
    assert sorted(p.name for p in (repair / "hosts").iterdir()) == [
        "h10.log", "h11.log", "h12.log", "h13.log", "h14.log"]
    assert report_of(repair)["status"] == "success"


def test_kill_9_while_a_host_runs_a_command_then_resume(sshd_lab: SshdLab,
                                                        tmp_path: Path) -> None:
    """The step cut off on h12/h13 runs again there; finished steps do not. `kill -9` gives
    runbook no chance to stop the held remote commands, but their shells' watchdogs see the
    SSH session end and kill them (docs/records.md, "Resume"), so the step never runs twice
    at once on a host."""
    _, _, marks, marker = held_run(sshd_lab, tmp_path, h14_down=False, stop=signal.SIGKILL)
    folder = only_run(tmp_path / "runs")
    assert not (folder / "report.json").exists()
    assert wait_no_marker(marker, 20) == []  # before resume: the watchdogs ended them
    finished = runbook("resume", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "h12 from step 2, h13 from step 2" in finished.stdout
    for host in ("h10", "h11", "h14"):
        assert lines(marks, host) == ["1", "2", "3"], host
    for host in ("h12", "h13"):
        assert lines(marks, host) == ["1", "2", "2", "3"], host
    assert report_of(folder)["status"] == "success"
