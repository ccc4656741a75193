"""`runbook apply` and the open-files limit, as real processes started with a lowered
RLIMIT_NOFILE: the soft limit is raised to the hard one at start (runbook.api.fd_limits), and
when the hard limit is too low for `--forks` the run says what bounds it and how to raise it."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from tests.power.helpers import require_tool
from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parents[2]


PRLIMIT = shutil.which("prlimit") or "/usr/bin/prlimit"


def apply(tmp_path: Path, book: str, lab: Path, *args: str,
          nofile: tuple[int, int]) -> tuple[subprocess.Popen[str], str, dict[str, object]]:
    """Run `runbook apply` with RLIMIT_NOFILE (soft, hard) = `nofile` set by `prlimit`, which
    then execs it (same pid); (the process, its output, its JSON report)."""
    require_tool(Path(PRLIMIT).is_file(), "prlimit is needed (util-linux)")
    path, report = tmp_path / "book.yml", tmp_path / "report.json"
    path.write_text(book)
    proc = subprocess.Popen(
        [PRLIMIT, f"--nofile={nofile[0]}:{nofile[1]}", "--", sys.executable, "-m", "runbook",
         "apply", str(path), "--lab", str(lab), "--no-record", "--report-json", str(report),
         *args], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    out, _ = proc.communicate(timeout=120)
    return proc, out, json.loads(report.read_text())


def test_apply_raises_its_soft_limit_to_the_hard_one(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert 128 < hard != resource.RLIM_INFINITY, "the test needs a finite hard limit > 128"
    lab = tmp_path / "lab.yml"
    lab.write_text("hosts: {}\n")
    # the local host's shell is a child of the runbook process: $PPID is runbook
    book = ('name: fds\nsteps:\n  - hosts: local\n    run: "echo $PPID; '
            'grep \\"Max open files\\" /proc/$PPID/limits"\n')
    proc, out, report = apply(tmp_path, book, lab, nofile=(128, hard))
    assert proc.returncode == 0, out
    result = report["steps"][0]["results"]["local"]  # type: ignore[index]
    ppid, limits = result["output"].splitlines()
    assert int(ppid) == proc.pid
    soft_now, hard_now = limits.split()[3:5]
    assert soft_now == hard_now != "128", limits
    assert "open-files limit" not in out  # nothing bounds a run on one host


def test_a_hard_limit_too_low_for_forks_says_what_bounds_it(
        sshd_lab: SshdLab, tmp_path: Path) -> None:
    hosts = [f"h{i:02d}" for i in range(1, 13)]
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", hosts, extra={"lock": {"ttl": 30}})
    book = 'name: wide\nsteps:\n  - hosts: "^h"\n    run: "true"\n'
    # 96 open files: (96 - 64) / 4 = 8 hosts at once
    proc, out, report = apply(tmp_path, book, lab, "--forks", "12", nofile=(96, 96))
    assert proc.returncode == 0, out
    assert ("working on 8 hosts at once, not 12 (--forks 12): the open-files limit is 96 "
            "(hard limit 96), and each busy host needs 4 with 64 kept for the process; "
            "raise the hard limit (`ulimit -Hn N` as root") in out, out
    assert len(report["steps"][0]["results"]) == 12  # type: ignore[index]
